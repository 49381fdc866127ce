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

import html
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from forecaster.data.seasons import natural_season
from forecaster.data.spreadsheet import safe_csv
from forecaster.data.table import Data, Table, fill_gaps, time_label
from forecaster.errors import BadInput
from forecaster.model.blend import Blend
from forecaster.model.covariates import CovariateSpec
from forecaster.model.fit_result import MIN_OBSERVED, listed
from forecaster.model.forecast import project
from forecaster.model.intervals import check_levels, half_widths
from forecaster.nn.registry import RegisteredCell, Registry
from forecaster.options import FitOptions
from forecaster.training.defaults import check_season
from forecaster.training.metrics import BASELINES, baseline_forecasts, errors, mase, mase_scale
from forecaster.training.pipeline import read_table, train_on

#: the one --fill policy that reads the value after a gap: backtest reads the file with its gaps and fills each origin's
#: past alone
FILLED_PER_ORIGIN = "interpolate"


#: the method name of the network in a backtest's results: a plugin cell may be named like a baseline
MODEL = "model"
#: a MASE that cannot be computed, as the table shows it
UNSCALED = "n/a"


@dataclass(frozen=True)
class Scores:
    mae: float
    rmse: float
    smape: float  #: percent, M4's definition
    #: errors over the series' in-sample mean seasonal difference; None where that is 0 (a constant series) or
    #: cannot be taken: written as null in JSON, an empty cell in CSV, n/a in the table
    mase: float | None


@dataclass
class FoldForecast:
    """One series' first forecast of a fold, for plots and audits."""

    times: list
    values: np.ndarray
    bounds: dict[float, tuple[np.ndarray, np.ndarray]]  #: level -> (lower, upper)


@dataclass
class Fold:
    origin: str  #: the latest series' first origin
    forecasts: dict[str, FoldForecast]  #: series -> its first forecast


@dataclass
class Backtest:
    """What a backtest found: scores per method, overall and per series, as data rather than reserved keys."""

    cell: str  #: the network's cell, which :data:`MODEL` stands for
    season: int
    origins: list[str]  #: each fold's first origin (the latest series')
    overall: dict[str, Scores]  #: method -> scores over every series' forecasts
    series: dict[str, dict[str, Scores]]  #: series -> method -> scores
    coverage: dict[str, float]  #: level -> share of actual values inside the interval
    folds: list[Fold]
    notes: list[str]  #: what to know, such as series too short for every fold
    #: the series' values, which the folds forecast: for plots
    actual: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)

    @property
    def methods(self) -> list[str]:
        return list(self.overall)

    def to_json(self) -> dict:
        def scores(methods: dict[str, Scores]) -> dict:
            return {method: asdict(score) for method, score in methods.items()}

        return {
            "cell": self.cell,
            "season": self.season,
            "origins": self.origins,
            "notes": self.notes,
            "overall": scores(self.overall),
            "series": {name: scores(methods) for name, methods in self.series.items()},
            "coverage": self.coverage,
            "folds": [
                {
                    "origin": fold.origin,
                    "forecasts": {
                        name: {"times": [str(t) for t in f.times], "values": list(map(float, f.values))}
                        for name, f in fold.forecasts.items()
                    },
                }
                for fold in self.folds
            ],
        }

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    @property
    def metrics(self) -> pd.DataFrame:
        """One row per scope (overall, or a series) and method: the table printed and written as CSV."""
        rows = [
            {"scope": "overall", "series": "", "method": method, **asdict(score)}
            for method, score in self.overall.items()
        ]
        rows += [
            {"scope": "series", "series": name, "method": method, **asdict(score)}
            for name, methods in self.series.items()
            for method, score in methods.items()
        ]
        return pd.DataFrame(rows)

    def to_csv(self) -> str:
        """:attr:`metrics` as `backtest --out x.csv` writes it, a series name a spreadsheet would run quoted."""
        return safe_csv(self.metrics, float_format="%.6g")

    def _repr_html_(self) -> str:
        """In a notebook: the folds, then :attr:`metrics` as a table."""
        head = f"backtest: {len(self.origins)} folds from {self.origins[0]}, season {self.season}"
        table = self.metrics.to_html(index=False, float_format=lambda x: f"{x:.4g}", na_rep=UNSCALED)
        return f"<p>{html.escape(head)}</p>{table}"

    def format_table(self) -> str:
        """The human table: overall, then per series, each method's MAE, RMSE, sMAPE and MASE; the model named by its
        cell."""
        lines = [f"backtest: {len(self.origins)} folds from {self.origins[0]}, season {self.season}"]
        lines += [f"note: {note}" for note in self.notes]
        table = self.metrics.drop(columns="scope")
        table["series"] = table["series"].where(table["series"] != "", "(all series)")
        table["method"] = table["method"].where(table["method"] != MODEL, f"{MODEL} ({self.cell})")
        lines += table.to_string(index=False, float_format=lambda x: f"{x:.4g}", na_rep=UNSCALED).splitlines()
        if self.coverage:
            lines.append(
                "interval coverage: " + ", ".join(f"{level}%: {share:.1%}" for level, share in self.coverage.items())
            )
        return "\n".join(lines)


@dataclass
class _Tally:
    """One series' actual values, MASE scales and each method's forecasts, point by point."""

    actual: list[np.ndarray] = field(default_factory=list)
    scale: list[np.ndarray] = field(default_factory=list)
    forecasts: dict[str, list[np.ndarray]] = field(
        default_factory=lambda: {method: [] for method in (MODEL, *BASELINES)}
    )

    def scores(self) -> dict[str, Scores]:
        actual, scale = np.concatenate(self.actual), np.concatenate(self.scale)
        return {
            method: Scores(**errors(actual, predicted), mase=mase(actual, predicted, scale))
            for method, predicted in ((method, np.concatenate(parts)) for method, parts in self.forecasts.items())
        }

    def add(self, other: _Tally) -> None:
        self.actual += other.actual
        self.scale += other.scale
        for method, parts in other.forecasts.items():
            self.forecasts[method] += parts


def backtest_data(
    data: Data,
    options: FitOptions,
    registry: Registry,
    folds: int,
    step: int | None,
    levels: Sequence[float] = (),
) -> tuple[Backtest, Table]:
    """Read ``data`` (a CSV's path or a DataFrame) as `fit` would and backtest it; seasonal naive and MASE use fit's
    season (--season, or the frequency's)."""
    options.check()
    cell = registry.get(options.cell)
    table = read_table(data, options, keep_gaps=options.fill == FILLED_PER_ORIGIN)
    season = options.season or natural_season(table.time_kind, table.frequency)
    check_season(options.season, int(table.values.notna().sum().max()))  # of the whole series, not of a fold's rows
    return backtest(table, options, cell, folds, step, season, levels), table


def origins_of(
    first: np.ndarray, ends: np.ndarray, horizon: int, folds: int, step: int, source: str = "data"
) -> np.ndarray:
    """(folds, series) each fold's first origin per series, oldest fold first: a series' last forecast ends on its last
    row.

    -1 where a series is too short for a fold: it needs MIN_OBSERVED values and a horizon before the origin to learn
    from. Folds no series is long enough for are left out; data too short for any fold is refused.
    """
    for flag, value in (("--folds", folds), ("--step", step)):
        if value < 1:
            raise BadInput(f"{flag} must be at least 1, not {value}")
    last = ends - horizon - step + 1
    origins = last[None, :] - (folds - 1 - np.arange(folds))[:, None] * step
    usable = origins - first[None, :] >= MIN_OBSERVED + horizon
    if not usable.any():
        raise BadInput(
            f"{source}: too few rows for a backtest with --horizon {horizon} and --step {step}: the longest series has "
            f"{int((ends - first).max())} values, and a fold needs {MIN_OBSERVED + horizon} before its origin and "
            f"{horizon + step - 1} from it on"
        )
    return np.where(usable, origins, -1)[usable.any(axis=1)]


def _features(
    spec: CovariateSpec, table: Table, series: np.ndarray, starts: np.ndarray, window: int, horizon: int
) -> np.ndarray | None:
    """The covariate features of windows of ``series`` forecasting from rows ``starts``, from the data itself: the
    future-known ones over the horizon too (the network reads past-observed ones over the window only)."""
    if not sum(spec.counts):
        return None
    index = table.values.index
    rows = starts[:, None] + np.arange(-window, horizon)
    times = np.empty(rows.shape, dtype=object)
    times[:] = [[index[max(row, 0)] for row in line] for line in rows]  # before the data: padding, read as none
    names = [table.columns[k] for k in series]
    return spec.features(names, table.covariates.columns, table.covariates.statics, (), times)


def backtest(
    table: Table,
    options: FitOptions,
    cell: RegisteredCell,
    folds: int,
    step: int | None,
    season: int,
    levels: Sequence[float] = (),
) -> Backtest:
    levels = check_levels(levels)
    horizon = options.horizon
    step = horizon if step is None else step
    values = table.values.to_numpy()
    present = ~np.isnan(values)
    first, ends = np.argmax(present, axis=0), len(values) - np.argmax(present[::-1], axis=0)
    origins = origins_of(first, ends, horizon, folds, step, table.path)
    names = table.columns
    tallies = {name: _Tally() for name in names}
    hits: dict[float, list[np.ndarray]] = {level: [] for level in levels}
    fold_records = []
    positions = table.positions()

    def observed(k: int, end: int) -> np.ndarray:
        """Series ``k``'s values before row ``end``, without the rows before it starts, gaps filled from those rows
        alone."""
        column = table.values.iloc[first[k] : end, [k]]
        if options.fill == FILLED_PER_ORIGIN:
            column = fill_gaps(column, options.fill, table.time_kind, table.id_col is None, table.path)
        return column.to_numpy()[:, 0]

    for fold in origins:
        scored = np.flatnonzero(fold >= 0)
        past_values = np.full_like(values, np.nan)
        for k in scored:
            past_values[first[k] : fold[k], k] = observed(int(k), int(fold[k]))
        past = replace(table, values=pd.DataFrame(past_values, index=table.values.index, columns=table.values.columns))
        fitted = train_on(past, options, cell)
        trained = fitted.options
        assert trained.window is not None  # train_on decides it
        widths = {level: half_widths(fitted.calibration["quantiles"], level, horizon, table.path) for level in levels}
        latest = int(fold[scored].max())
        record = Fold(str(table.values.index[latest]), {})
        for offset in range(step):
            starts = fold[scored] + offset
            keep = [
                i
                for i, (k, t) in enumerate(zip(scored, starts, strict=True))
                if t + horizon <= ends[k] and not np.isnan(values[t : t + horizon, k]).any()
            ]
            if not keep:
                continue
            series, starts = scored[keep], starts[keep]
            histories = [observed(k, t) for k, t in zip(series, starts, strict=True)]
            preparations = [fitted.preparations[k] for k in series]
            projection = project(
                fitted.network,
                [names[k] for k in series],
                preparations,
                histories,
                positions[starts - 1],
                trained.window,
                MIN_OBSERVED,
                horizon,
                table.path,
                Blend(fitted.blend.weight),
                fitted.baseline.chosen[series],
                _features(fitted.covariates, table, series, starts, trained.window, horizon),
                positions[starts[:, None] + np.arange(horizon)],
            )
            for row, (k, t) in enumerate(zip(series, starts, strict=True)):
                name, actual = names[k], values[t : t + horizon, k]
                predicted = projection.restore(preparations[row], row)
                tally = tallies[name]
                tally.actual.append(actual)
                tally.scale.append(np.full(horizon, mase_scale(values[first[k] : fold[k], k], season)))
                tally.forecasts[MODEL].append(predicted)
                for method, baseline in baseline_forecasts(histories[row], horizon, season).items():
                    tally.forecasts[method].append(baseline)
                for level, width in widths.items():
                    lower, upper = projection.bounds(preparations[row], row, width)
                    hits[level].append((lower <= actual) & (actual <= upper))
                if offset == 0:
                    record.forecasts[name] = FoldForecast(
                        list(table.values.index[t : t + horizon]),
                        predicted,
                        {level: projection.bounds(preparations[row], row, width) for level, width in widths.items()},
                    )
        fold_records.append(record)
    tallied = {name: tally for name, tally in tallies.items() if tally.actual}
    if not tallied:
        raise BadInput(
            f"{table.path}: no series has enough values before and after any backtest origin; use fewer --folds"
        )
    pooled = _Tally()
    for tally in tallied.values():
        pooled.add(tally)
    coverage = {f"{level:g}": float(np.mean(np.concatenate(hit))) for level, hit in hits.items() if hit}
    latest_origins = [time_label(table.values.index[int(fold[fold >= 0].max())]) for fold in origins]
    folds_of = (origins >= 0).sum(axis=0)
    short = [name for name, count in zip(names, folds_of, strict=True) if count < folds]
    notes = (
        [
            f"{len(short)} series too short for {folds} folds are backtested on fewer: "
            + ", ".join(
                f"{name!r} {count}" for name, count in list(zip(names, folds_of, strict=True))[:5] if name in short
            )
            + (" ..." if len(short) > 5 else "")
        ]
        if short
        else []
    )
    scores = {name: tally.scores() for name, tally in tallied.items()}
    notes += _unscaled_note(scores, season)
    return Backtest(
        cell.name,
        season,
        latest_origins,
        pooled.scores(),
        scores,
        coverage,
        fold_records,
        notes,
        table.values,
    )


def _unscaled_note(scores: dict[str, dict[str, Scores]], season: int) -> list[str]:
    """The series whose MASE cannot be computed, and why, rather than a NaN in every cell."""
    unscaled = [repr(name) for name, methods in scores.items() if methods[MODEL].mase is None]
    if not unscaled:
        return []
    apart = f"{season} steps apart" if season > 1 else "from one step to the next"
    return [
        f"MASE cannot be computed for {len(unscaled)} series, constant before every origin ({UNSCALED} here, empty in "
        f"a CSV, null in JSON): its scale, the mean absolute change {apart} (the in-sample naive forecast's error), "
        "is 0: " + listed(unscaled)
    ]
