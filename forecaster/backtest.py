"""Rolling-origin backtests: how good the model is, next to simple baselines, on data it never saw.

Each series has its own origins, counted back from its own last row, as the
competitions hold out each series' last values: fold i refits the
preparations and the model on every series' rows before its origin o_i, then
forecasts from every origin t in [o_i, o_i + step): each forecast reads the
observed values before t, as it would in use. Each series' last forecast
ends on its last row. Nothing at or after a series' o_i reaches the fold's
preparations or weights. A series too short for the first folds is scored
in the later ones it can learn from, and the report says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import pandas as pd

from forecaster.data import Table, fill_gaps, time_label
from forecaster.errors import BadInput
from forecaster.evaluate import BASELINES, accuracy, baseline_forecasts, mase_scale
from forecaster.fitting import MIN_OBSERVED, read_table, train_on
from forecaster.forecast import project
from forecaster.intervals import check_levels, half_widths
from forecaster.options import FitOptions
from forecaster.plugins import Cell, Registry
from forecaster.seasonality import natural_season

#: the one --fill policy that reads the value after a gap: backtest reads the file with its gaps and fills each origin's past alone
FILLED_PER_ORIGIN = "interpolate"


@dataclass
class Backtest:
    season: int
    origins: list[str]  #: each fold's first origin
    metrics: dict  #: "overall" and per series: method -> {mae, rmse, smape, mase}
    coverage: dict[str, float]  #: level -> share of actual values inside the interval
    folds: list[dict]  #: per fold: origin and the first forecast of each series (for plots and audits)
    notes: list[str]  #: what to know, such as series too short for every fold

    def to_json(self) -> dict:
        return {"season": self.season, "origins": self.origins, "metrics": self.metrics, "coverage": self.coverage,
                "folds": [{"origin": fold["origin"], "forecasts": {name: {"times": [str(t) for t in f["times"]], "values": list(map(float, f["values"]))}
                                                                   for name, f in fold["forecasts"].items()}} for fold in self.folds]}

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    def rows(self) -> pd.DataFrame:
        """One row per series and method: the table printed and written as CSV."""
        return pd.DataFrame([{"series": series, "method": method, **scores}
                             for series, methods in self.metrics.items() for method, scores in methods.items()])

    def to_csv(self) -> str:
        return self.rows().to_csv(index=False, float_format="%.6g")

    def format_table(self) -> str:
        """The human table: per series and overall, each method's MAE, RMSE, sMAPE and MASE."""
        lines = [f"backtest: {len(self.origins)} folds from {self.origins[0]}, season {self.season}"]
        lines += [f"note: {note}" for note in self.notes]
        lines += self.rows().to_string(index=False, float_format=lambda x: f"{x:.4g}").splitlines()
        if self.coverage:
            lines.append("interval coverage: " + ", ".join(f"{level}%: {share:.1%}" for level, share in self.coverage.items()))
        return "\n".join(lines)


def backtest_csv(csv: str | os.PathLike, options: FitOptions, registry: Registry, folds: int, step: int | None,
                 levels: Sequence[float] = ()) -> tuple[Backtest, Table]:
    """Read ``csv`` as `fit` would and backtest it; seasonal naive and MASE use fit's season (--season, or the frequency's)."""
    options.check()
    cell = registry.get(options.cell)
    table = read_table(csv, replace(options, fill=None) if options.fill == FILLED_PER_ORIGIN else options)
    season = options.season or natural_season(table.time_kind, table.frequency)
    return backtest(table, options, cell, folds, step, season, levels), table


def origins_of(first: np.ndarray, ends: np.ndarray, horizon: int, folds: int, step: int, source: str = "data") -> np.ndarray:
    """(folds, series) each fold's first origin per series, oldest fold first: a series' last forecast ends on its last row.

    -1 where a series is too short for a fold: it needs MIN_OBSERVED values and a horizon before the origin to learn
    from. Folds no series is long enough for are left out; data too short for any fold is refused.
    """
    if folds < 1 or step < 1:
        raise BadInput(f"--folds and --step must be at least 1 (got {folds}, {step})")
    last = ends - horizon - step + 1
    origins = last[None, :] - (folds - 1 - np.arange(folds))[:, None] * step
    usable = origins - first[None, :] >= MIN_OBSERVED + horizon
    if not usable.any():
        raise BadInput(f"{source}: too few rows for a backtest with --horizon {horizon} and --step {step}: the longest series has "
                       f"{int((ends - first).max())} values, and a fold needs {MIN_OBSERVED + horizon} before its origin and "
                       f"{horizon + step - 1} from it on")
    return np.where(usable, origins, -1)[usable.any(axis=1)]


def backtest(table: Table, options: FitOptions, cell: Cell, folds: int, step: int | None, season: int, levels: Sequence[float] = ()) -> Backtest:
    levels = check_levels(levels)
    horizon = options.horizon
    step = step or horizon
    values = table.values.to_numpy()
    present = ~np.isnan(values)
    first, ends = np.argmax(present, axis=0), len(values) - np.argmax(present[::-1], axis=0)
    origins = origins_of(first, ends, horizon, folds, step, table.path)
    names = table.columns
    methods = [cell.name, *BASELINES]
    collected = {name: {"actual": [], "scale": [], **{method: [] for method in methods}} for name in names}
    hits = {level: [] for level in levels}
    fold_records = []
    positions = table.positions()

    def observed(k: int, end: int) -> np.ndarray:
        """Series ``k``'s values before row ``end``, without the rows before it starts, gaps filled from those rows alone."""
        column = table.values.iloc[first[k]:end, [k]]
        if options.fill == FILLED_PER_ORIGIN:
            column = fill_gaps(column, options.fill, table.time_kind, table.id_col is None, table.path)
        return column.to_numpy()[:, 0]

    for fold in origins:
        scored = np.flatnonzero(fold >= 0)
        past_values = np.full_like(values, np.nan)
        for k in scored:
            past_values[first[k]:fold[k], k] = observed(k, fold[k])
        past = replace(table, values=pd.DataFrame(past_values, index=table.values.index, columns=table.values.columns))
        fitted = train_on(past, options, cell)
        trained = fitted.options
        widths = {level: half_widths(fitted.calibration["quantiles"], level, horizon, table.path) for level in levels}
        latest = int(fold[scored].max())
        record = {"origin": str(table.values.index[latest]), "forecasts": {}}
        for offset in range(step):
            starts = fold[scored] + offset
            keep = [i for i, (k, t) in enumerate(zip(scored, starts)) if t + horizon <= ends[k] and not np.isnan(values[t:t + horizon, k]).any()]
            if not keep:
                continue
            series, starts = scored[keep], starts[keep]
            histories = [observed(k, t) for k, t in zip(series, starts)]
            preparations = [fitted.preparations[k] for k in series]
            projection = project(fitted.network, [names[k] for k in series], preparations, histories, positions[starts - 1], trained.window,
                                 MIN_OBSERVED, horizon, table.path)
            for row, (k, t) in enumerate(zip(series, starts)):
                name, actual = names[k], values[t:t + horizon, k]
                predicted = projection.restore(preparations[row], row)
                collected[name]["actual"].append(actual)
                collected[name]["scale"].append(np.full(horizon, mase_scale(values[first[k]:fold[k], k], season)))
                collected[name][cell.name].append(predicted)
                for method, baseline in baseline_forecasts(histories[row], horizon, season).items():
                    collected[name][method].append(baseline)
                for level, width in widths.items():
                    lower, upper = projection.bounds(preparations[row], row, width)
                    hits[level].append((lower <= actual) & (actual <= upper))
                if offset == 0:
                    record["forecasts"][name] = {
                        "times": list(table.values.index[t:t + horizon]),
                        "values": predicted,
                        "bounds": {level: projection.bounds(preparations[row], row, width) for level, width in widths.items()},
                    }
        fold_records.append(record)
    metrics = _metrics(collected, methods, table.path)
    coverage = {f"{level:g}": float(np.mean(np.concatenate(hit))) for level, hit in hits.items() if hit}
    latest_origins = [time_label(table.values.index[int(fold[fold >= 0].max())]) for fold in origins]
    folds_of = (origins >= 0).sum(axis=0)
    short = [name for name, count in zip(names, folds_of) if count < folds]
    notes = [f"{len(short)} series too short for {folds} folds are backtested on fewer: "
             + ", ".join(f"{name!r} {count}" for name, count in list(zip(names, folds_of))[:5] if name in short)
             + (" ..." if len(short) > 5 else "")] if short else []
    return Backtest(season, latest_origins, metrics, coverage, fold_records, notes)


def _metrics(collected: dict, methods: list[str], source: str) -> dict:
    per_series, pooled = {}, {key: [] for key in ("actual", "scale", *methods)}
    for name, arrays in collected.items():
        if not arrays["actual"]:
            continue
        stacked = {key: np.concatenate(parts) for key, parts in arrays.items()}
        per_series[name] = {method: accuracy(stacked["actual"], stacked[method], stacked["scale"]) for method in methods}
        for key in pooled:
            pooled[key].append(stacked[key])
    if not per_series:
        raise BadInput(f"{source}: no series has enough values before and after any backtest origin; use fewer --folds or a smaller --window")
    pooled = {key: np.concatenate(parts) for key, parts in pooled.items()}
    overall = {method: accuracy(pooled["actual"], pooled[method], pooled["scale"]) for method in methods}
    return {"overall": overall, **per_series}


