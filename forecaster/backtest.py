"""Rolling-origin backtests: how good the model is, next to simple baselines, on data it never saw.

Fold i refits the scalers and the model on the rows before its origin o_i,
then forecasts from every origin t in [o_i, o_i + step): each forecast reads
the ``window`` observed values before t, as it would in use. The last
fold's last forecast ends on the last row. Nothing at or after o_i reaches
the fold's scalers or weights.
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
from forecaster.evaluate import BASELINES, accuracy, baseline_forecasts, mase_scale, season_of
from forecaster.fitting import read_table, train_on
from forecaster.forecast import run_network
from forecaster.intervals import check_levels, half_widths
from forecaster.options import FitOptions
from forecaster.plugins import Cell, Registry

#: the one --fill policy that reads the value after a gap: backtest reads the file with its gaps and fills each origin's past alone
FILLED_PER_ORIGIN = "interpolate"


@dataclass
class Backtest:
    season: int
    origins: list[str]  #: each fold's first origin
    metrics: dict  #: "overall" and per series: method -> {mae, rmse, smape, mase}
    coverage: dict[str, float]  #: level -> share of actual values inside the interval
    folds: list[dict]  #: per fold: origin and the first forecast of each series (for plots and audits)

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
        lines += self.rows().to_string(index=False, float_format=lambda x: f"{x:.4g}").splitlines()
        if self.coverage:
            lines.append("interval coverage: " + ", ".join(f"{level}%: {share:.1%}" for level, share in self.coverage.items()))
        return "\n".join(lines)


def backtest_csv(csv: str | os.PathLike, options: FitOptions, registry: Registry, folds: int, step: int | None,
                 season: int | None, levels: Sequence[float] = ()) -> tuple[Backtest, Table]:
    """Read ``csv`` as `fit` would and backtest it; the season defaults to the frequency's."""
    options.check()
    cell = registry.get(options.cell)
    table = read_table(csv, replace(options, fill=None) if options.fill == FILLED_PER_ORIGIN else options)
    if season is not None and season < 1:
        raise BadInput(f"--season must be at least 1, not {season}")
    return backtest(table, options, cell, folds, step, season or season_of(table.time_kind, table.frequency), levels), table


def origins_of(rows: int, horizon: int, folds: int, step: int, window: int, source: str = "data") -> list[int]:
    """Each fold's first origin (row position), oldest first; the last forecast ends on the last row."""
    if folds < 1 or step < 1:
        raise BadInput(f"--folds and --step must be at least 1 (got {folds}, {step})")
    last = rows - horizon - step + 1
    origins = [last - (folds - 1 - i) * step for i in range(folds)]
    if origins[0] < window + horizon:
        raise BadInput(f"{source}: too few rows ({rows}) for --folds {folds} of --step {step} with --window {window} and --horizon {horizon}: "
                       f"the first fold would have {max(origins[0], 0)} rows to train on")
    return origins


def backtest(table: Table, options: FitOptions, cell: Cell, folds: int, step: int | None, season: int, levels: Sequence[float] = ()) -> Backtest:
    levels = check_levels(levels)
    horizon, window = options.horizon, options.window
    step = step or horizon
    values = table.values.to_numpy()
    origins = origins_of(len(values), horizon, folds, step, window, table.path)
    names = table.columns
    methods = [cell.name, *BASELINES]
    collected = {name: {"actual": [], "scale": [], **{method: [] for method in methods}} for name in names}
    hits = {level: [] for level in levels}
    fold_records = []

    def observed(end: int) -> np.ndarray:
        """The rows before ``end``, their gaps filled from those rows alone."""
        if options.fill != FILLED_PER_ORIGIN:  # filled on reading, from earlier values only: a view will do
            return values[:end]
        return fill_gaps(table.values.iloc[:end], options.fill, table.time_kind, table.id_col is None, table.path).to_numpy()

    for origin in origins:
        past = replace(table, values=pd.DataFrame(observed(origin), index=table.values.index[:origin], columns=table.values.columns))
        fitted = train_on(past, options, cell)
        known = {t: observed(t) for t in range(origin, origin + step)}
        widths = {level: half_widths(fitted.calibration["quantiles"], level, horizon, table.path) for level in levels}
        record = {"origin": str(table.values.index[origin]), "forecasts": {}}
        for k, name in enumerate(names):
            scaler = fitted.scalers[name]
            column = values[:, k]  # unfilled under --fill interpolate: forecasts are scored on observed values only
            starts = [t for t in range(origin, origin + step)
                      if not (np.isnan(known[t][t - window:, k]).any() or np.isnan(column[t:t + horizon]).any())]
            if not starts:
                continue
            inputs = np.stack([scaler.transform(known[t][t - window:, k]) for t in starts])
            predicted = scaler.inverse(run_network(fitted.network, inputs, window, horizon))
            scale = mase_scale(past.values.iloc[:, k].to_numpy(), season)
            for row, t in enumerate(starts):
                actual = column[t:t + horizon]
                collected[name]["actual"].append(actual)
                collected[name]["scale"].append(np.full(horizon, scale))
                collected[name][cell.name].append(predicted[row])
                for method, baseline in baseline_forecasts(known[t][:, k], horizon, season).items():
                    collected[name][method].append(baseline)
                for level, width in widths.items():
                    hits[level].append(np.abs(actual - predicted[row]) <= width * scaler.scale)
            record["forecasts"][name] = {
                "times": list(table.values.index[starts[0]:starts[0] + horizon]),
                "values": predicted[0],
                "bounds": {level: (predicted[0] - w * scaler.scale, predicted[0] + w * scaler.scale) for level, w in widths.items()},
            }
        fold_records.append(record)
    metrics = _metrics(collected, methods, table.path)
    coverage = {f"{level:g}": float(np.mean(np.concatenate(hit))) for level, hit in hits.items() if hit}
    return Backtest(season, [time_label(table.values.index[o]) for o in origins], metrics, coverage, fold_records)


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


