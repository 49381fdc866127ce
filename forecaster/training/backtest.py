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
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TypeVar

import numpy as np
import pandas as pd

from forecaster.data.seasons import natural_season
from forecaster.data.spreadsheet import safe_csv
from forecaster.data.table import Data, Table, fill_gaps, time_label
from forecaster.errors import BadInput, listed
from forecaster.model.blend import Blend
from forecaster.model.covariates import CovariateSpec
from forecaster.model.ets import Ets
from forecaster.model.ets import at_rows as ets_at_rows
from forecaster.model.fit_result import MIN_OBSERVED, html_table, percent
from forecaster.model.forecast import FLOAT_FORMAT, MODEL, project
from forecaster.model.intervals import bound_columns, check_levels, half_widths
from forecaster.model.preparation import Preparation
from forecaster.model.theta import Theta
from forecaster.model.theta import at_rows as theta_at_rows
from forecaster.nn.registry import RegisteredCell, Registry
from forecaster.options import FitOptions
from forecaster.runtime import progress
from forecaster.training import members
from forecaster.training.defaults import check_season
from forecaster.training.metrics import BASELINES, baseline_forecasts, errors, mase, mase_scale
from forecaster.training.pipeline import read_table, train_on

#: the one --fill policy that reads the value after a gap: backtest reads the file with its gaps and fills each origin's
#: past alone
FILLED_PER_ORIGIN = "interpolate"


#: a partner's per-series state: forecaster.model.theta.Theta or forecaster.model.ets.Ets
State = TypeVar("State", Theta, Ets)

#: a MASE that cannot be computed, as the table shows it
UNSCALED = "n/a"
#: the columns of a backtest's forecasts, as statsforecast's cross_validation names them
ID, TIME, CUTOFF, FOLD, ACTUAL = "unique_id", "ds", "cutoff", "fold", "y"


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
    #: every forecast, one row per series, cutoff and time (:func:`cross_validation`)
    forecasts: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)

    @property
    def methods(self) -> list[str]:
        return list(self.overall)

    def to_json(self) -> dict:
        return {
            "cell": self.cell,
            "season": self.season,
            "origins": self.origins,
            "notes": self.notes,
            "overall": _plain_scores(self.overall),
            "series": {name: _plain_scores(methods) for name, methods in self.series.items()},
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

    def headline(self) -> dict:
        """The backtest in brief, as a batch job's summary gives it: its folds, and each method's scores over every
        forecast, MASE null where it cannot be computed."""
        return {"folds": len(self.origins), "overall": _plain_scores(self.overall)}

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    @property
    def metrics(self) -> pd.DataFrame:
        """One row per scope (overall, or a series) and method: the table printed and written as CSV."""
        return _metrics_table(self.overall, self.series)

    def score(self, forecasts: pd.DataFrame) -> pd.DataFrame:
        """The metrics table, as :attr:`metrics`, of ``forecasts``: rows of :attr:`forecasts` (some series, folds,
        cutoffs or steps of it), scored as the backtest scores its own, MASE over each forecast's in-sample scale."""
        missing = [column for column in (ID, CUTOFF, ACTUAL, MODEL, *BASELINES) if column not in forecasts.columns]
        if missing:
            raise BadInput(f"forecasts: no column {missing[0]!r}; score rows of this backtest's forecasts")
        if forecasts.empty:
            raise BadInput("forecasts: no rows to score")
        named = forecasts.assign(**{ID: forecasts[ID].map(str)})  # by the series' names: a frame's integer ids too
        unknown = sorted(set(named[ID]) - set(self.actual.columns))
        if unknown:
            raise BadInput(f"forecasts: {unknown[0]!r} is not a series of this backtest")
        return _metrics_table(*evaluate(named, self.actual, self.season))

    def to_csv(self) -> str:
        """:attr:`metrics` as `backtest --out x.csv` writes it, a series name a spreadsheet would run quoted."""
        return safe_csv(self.metrics, float_format="%.6g")

    def forecasts_csv(self) -> str:
        """:attr:`forecasts` as `backtest --forecasts x.csv` writes them, numbers as a forecast's CSV gives them."""
        return safe_csv(self.forecasts, float_format=FLOAT_FORMAT)

    def __repr__(self) -> str:
        """A few lines, however many series and forecasts: the folds, each method's sMAPE and MASE over every
        forecast, the intervals' coverage; :attr:`metrics` and :attr:`forecasts` hold the rest."""
        named = {method: f"{MODEL} ({self.cell})" if method == MODEL else method for method in self.overall}
        lines = [
            (
                f"<Backtest: {len(self.origins)} folds from {self.origins[0]}, season {self.season}, "
                f"{len(self.series)} series>"
            ),
            "  sMAPE " + ", ".join(f"{named[method]} {percent(s.smape)}" for method, s in self.overall.items()),
            "  MASE " + ", ".join(f"{named[method]} {_mase_text(s.mase)}" for method, s in self.overall.items()),
        ]
        if self.coverage:
            lines.append(
                "  interval coverage " + ", ".join(f"{level}%: {share:.1%}" for level, share in self.coverage.items())
            )
        lines.append(
            f"  .metrics: every score; .forecasts: its {len(self.forecasts)} rows, each forecast beside its actual"
        )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """In a notebook: the folds, then :attr:`metrics` as a table (its first and last rows)."""
        head = f"backtest: {len(self.origins)} folds from {self.origins[0]}, season {self.season}"
        return f"<p>{html.escape(head)}</p>{html_table(self.metrics, na_rep=UNSCALED)}"

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


def _metrics_table(overall: dict[str, Scores], series: dict[str, dict[str, Scores]]) -> pd.DataFrame:
    rows = [{"scope": "overall", "series": "", "method": method, **asdict(score)} for method, score in overall.items()]
    rows += [
        {"scope": "series", "series": name, "method": method, **asdict(score)}
        for name, methods in series.items()
        for method, score in methods.items()
    ]
    return pd.DataFrame(rows)


def _mase_text(score: float | None) -> str:
    return UNSCALED if score is None else f"{score:.4g}"


def _plain_scores(methods: dict[str, Scores]) -> dict:
    return {method: asdict(score) for method, score in methods.items()}


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
    members.start_workers(members.workers(options))  # its imports run while the data is read, as fit's do
    cell = registry.get(options.cell)
    table = read_table(data, options, keep_gaps=options.fill == FILLED_PER_ORIGIN)
    season = options.season or natural_season(table.time_kind, table.frequency)
    check_season(options.season, int(table.values.notna().sum().max()))  # of the whole series, not of a fold's rows
    return backtest(table, options, cell, folds, step, season, levels), table


def fold_origins(table: Table, horizon: int, folds: int, step: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Each series' first observed row, and each fold's first origin per series (:func:`origins_of`); ``step`` None:
    the horizon."""
    present = table.values.notna().to_numpy()
    first, ends = np.argmax(present, axis=0), len(present) - np.argmax(present[::-1], axis=0)
    return first, origins_of(first, ends, horizon, folds, horizon if step is None else step, table.path)


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
    return spec.features(names, table.covariates.columns, table.covariates.statics, (), table.path, times)


def backtest(
    table: Table,
    options: FitOptions,
    cell: RegisteredCell,
    folds: int,
    step: int | None,
    season: int,
    levels: Sequence[float] = (),
) -> Backtest:
    """The backtest of ``table``: its forecasts (:func:`cross_validation`), then their scores (:func:`evaluate`)."""
    levels = check_levels(levels)
    step = options.horizon if step is None else step
    first, origins = fold_origins(table, options.horizon, folds, step)
    with progress.one_bar():
        forecasts = cross_validation(table, options, cell, first, origins, step, season, levels)
    overall, series = evaluate(forecasts, table.values, season)
    folds_of = dict(zip(table.columns, (origins >= 0).sum(axis=0).tolist(), strict=True))
    return Backtest(
        cell.name,
        season,
        [time_label(table.values.index[int(fold[fold >= 0].max())]) for fold in origins],
        overall,
        series,
        coverage(forecasts, levels),
        fold_records(forecasts, table.values.index, origins, levels),
        _short_note(folds_of, folds) + _unscaled_note(series, season),
        table.values,
        forecasts,
    )


def cross_validation(
    table: Table,
    options: FitOptions,
    cell: RegisteredCell,
    first: np.ndarray,
    origins: np.ndarray,
    step: int,
    season: int,
    levels: Sequence[float],
) -> pd.DataFrame:
    """Every forecast of the backtest, one row per series, cutoff and time, as statsforecast's cross_validation gives
    them: the series (unique_id), the time (ds), the last time the forecast read (cutoff), its fold, the actual value
    (y), the model's forecast and its bounds at each level, and each baseline's forecast.

    Fold i refits on each series' rows from its ``first`` to before its origin ``origins[i]`` (-1: the series sits
    the fold out), then forecasts from every row t in [origin, origin + step) whose horizon is observed, reading the
    values before t.
    """
    blocks = []
    for number, fold in enumerate(origins):
        progress.stage(f"fold {number + 1} of {len(origins)}")
        blocks += _fold_forecasts(table, options, cell, first, number, fold, step, season, levels)
    if not blocks:
        raise BadInput(
            f"{table.path}: no series has enough values before and after any backtest origin; use fewer --folds"
        )
    return pd.concat(blocks, ignore_index=True)


def _fold_forecasts(
    table: Table,
    options: FitOptions,
    cell: RegisteredCell,
    first: np.ndarray,
    number: int,
    fold: np.ndarray,
    step: int,
    season: int,
    levels: Sequence[float],
) -> list[pd.DataFrame]:
    """Fold ``number``'s forecasts: the model refitted on each series' rows before its origin in ``fold``, then a block
    of rows per origin offset."""
    values, horizon = table.values.to_numpy(), options.horizon
    scored = np.flatnonzero(fold >= 0)
    past, read = np.full_like(values, np.nan), np.full_like(values, np.nan)
    for k in scored:
        past[first[k] : fold[k], k] = _observed(table, options.fill, first[k], int(k), fold[k])
        last = fold[k] + step - 1  # the fold's last origin: the histories read reach the row before it
        read[first[k] : last, k] = _observed(table, options.fill, first[k], int(k), last)
    fitted = train_on(
        replace(table, values=pd.DataFrame(past, index=table.values.index, columns=table.values.columns)),
        options,
        cell,
        read=read,
    )
    window = fitted.options.window
    assert window is not None  # train_on decides it
    calibration = fitted.calibration
    widths = {
        level: half_widths(calibration["quantiles"], level, horizon, table.path, calibration["windows"])
        for level in levels
    }
    positions, index, blocks = table.positions(), table.values.index, []
    prepared = _prepared_rows(table, fitted.preparations, first, scored, fold + step - 1, positions)
    # the partners' states after each origin of the fold, (offset, series) pairs one offset after another: one pass
    # over the fold's rows, not one an offset (48 passes over 4,000 rows, 16 s, for a day of half-hours)
    partners = _blend_at(
        fitted.blend, prepared, (fold[scored][None, :] + np.arange(step)[:, None]).ravel() - 1, np.tile(scored, step)
    )
    for offset in range(step):
        starts = fold[scored] + offset
        actual = values[starts[:, None] + np.arange(horizon), scored[:, None]]  # origins_of keeps it within the rows
        keep = ~np.isnan(actual).any(axis=1)
        if not keep.any():
            continue
        series, starts, actual = scored[keep], starts[keep], actual[keep]
        histories = [_observed(table, options.fill, first[k], k, t) for k, t in zip(series, starts, strict=True)]
        preparations = [fitted.preparations[k] for k in series]
        projection = project(
            fitted.network,
            [table.columns[k] for k in series],
            preparations,
            histories,
            positions[starts - 1],
            window,
            MIN_OBSERVED,
            horizon,
            table.path,
            _taken(partners, offset * len(scored) + np.flatnonzero(keep)),
            fitted.baseline.chosen[series],
            _features(fitted.covariates, table, series, starts, window, horizon),
            positions[starts[:, None] + np.arange(horizon)],
        )
        rows = range(len(series))
        block = {
            ID: np.repeat([table.columns[k] for k in series], horizon),
            TIME: index[(starts[:, None] + np.arange(horizon)).ravel()],
            CUTOFF: np.repeat(index[starts - 1], horizon),
            FOLD: number,
            ACTUAL: actual.ravel(),
            MODEL: np.concatenate([projection.restore(preparations[row], row) for row in rows]),
        }
        for level, width in widths.items():
            bounds = [projection.bounds(preparations[row], row, width) for row in rows]
            lower, upper = bound_columns(MODEL, level)
            block[lower] = np.concatenate([low for low, _ in bounds])
            block[upper] = np.concatenate([high for _, high in bounds])
        baselines = [baseline_forecasts(history, horizon, season) for history in histories]
        for method in BASELINES:
            block[method] = np.concatenate([forecast[method] for forecast in baselines])
        blocks.append(pd.DataFrame(block))
    return blocks


def _prepared_rows(
    table: Table,
    preparations: Sequence[Preparation],
    first: np.ndarray,
    scored: np.ndarray,
    ends: np.ndarray,
    positions: np.ndarray,
) -> np.ndarray:
    """(rows, series): each scored series' values from its ``first`` row to before its row ``ends`` as the fold's
    network reads them (its gaps left as gaps); NaN elsewhere."""
    values = table.values.to_numpy()
    prepared = np.full(values.shape, np.nan)
    for k in scored:
        rows = slice(first[k], ends[k])
        prepared[rows, k] = preparations[k].to_network(values[rows, k], positions[rows])
    return prepared


def _blend_at(blend: Blend, prepared: np.ndarray, rows: np.ndarray, series: np.ndarray) -> Blend:
    """The fold's blend for forecasts of ``series`` from after ``rows``: its weights, and Theta's and exponential
    smoothing's states smoothed up to each origin with the fold's parameters, from one pass over ``prepared``
    (:func:`_prepared_rows`) rather than a fit on each history."""
    theta, smoothing = blend.theta, blend.ets
    assert theta is not None and smoothing is not None  # a fit keeps the states
    return replace(
        blend,
        theta=theta_at_rows(prepared, theta, rows, series),
        ets=ets_at_rows(prepared, smoothing, rows, series),
    )


def _taken(blend: Blend, pairs: np.ndarray) -> Blend:
    """``blend`` with its partners' states of ``pairs`` (indices into those :func:`_blend_at` gave) only."""
    theta, smoothing = blend.theta, blend.ets
    assert theta is not None and smoothing is not None  # _blend_at's
    return replace(blend, theta=_picked(theta, pairs), ets=_picked(smoothing, pairs))


def _picked(state: State, pairs: np.ndarray) -> State:
    """A partner's per-series state (Theta, Ets: an array a field) at ``pairs`` only."""
    return replace(state, **{part.name: getattr(state, part.name)[pairs] for part in fields(state)})


def _observed(table: Table, fill: str, first: int, k: int, end: int) -> np.ndarray:
    """Series ``k``'s values from its ``first`` row to before row ``end``, gaps filled from those rows alone."""
    column = table.values.iloc[first:end, [k]]
    if fill == FILLED_PER_ORIGIN:
        column = fill_gaps(column, fill, table.time_kind, table.id_col is None, table.path)
    return column.to_numpy()[:, 0]


def evaluate(
    forecasts: pd.DataFrame, history: pd.DataFrame, season: int
) -> tuple[dict[str, Scores], dict[str, dict[str, Scores]]]:
    """Each method's scores over every forecast, and per series (in ``history``'s order): MAE, RMSE and sMAPE, and MASE
    over the mean seasonal difference of the values each forecast read (``history``'s rows up to its cutoff)."""
    scale = _mase_scales(forecasts, history, season)
    methods = [MODEL, *BASELINES]

    def scores(rows: np.ndarray) -> dict[str, Scores]:
        actual = forecasts[ACTUAL].to_numpy()[rows]
        return {
            method: Scores(**errors(actual, predicted), mase=mase(actual, predicted, scale[rows]))
            for method, predicted in ((method, forecasts[method].to_numpy()[rows]) for method in methods)
        }

    ids = forecasts[ID].to_numpy()
    forecast = set(ids)
    named = [name for name in history.columns if name in forecast]
    return scores(np.arange(len(forecasts))), {name: scores(np.flatnonzero(ids == name)) for name in named}


def _mase_scales(forecasts: pd.DataFrame, history: pd.DataFrame, season: int) -> np.ndarray:
    """Each forecast row's MASE scale: the mean seasonal difference of its series' values up to its cutoff."""
    keys = forecasts[[ID, CUTOFF]]
    pairs = keys.drop_duplicates()
    positions = history.index.get_indexer(pd.Index(pairs[CUTOFF]))
    scales = [
        mase_scale(history[name].to_numpy()[: end + 1], season) for name, end in zip(pairs[ID], positions, strict=True)
    ]
    found = pd.Series(scales, index=pd.MultiIndex.from_frame(pairs))
    return found.reindex(pd.MultiIndex.from_frame(keys)).to_numpy()


def coverage(forecasts: pd.DataFrame, levels: Sequence[float]) -> dict[str, float]:
    """Per level, the share of actual values inside the model's interval, bounds included."""
    actual = forecasts[ACTUAL].to_numpy()
    shares = {}
    for level in levels:
        lower, upper = (forecasts[column].to_numpy() for column in bound_columns(MODEL, level))
        if len(actual):
            shares[f"{level:g}"] = float(np.mean((lower <= actual) & (actual <= upper)))
    return shares


def fold_records(forecasts: pd.DataFrame, index: pd.Index, origins: np.ndarray, levels: Sequence[float]) -> list[Fold]:
    """Per fold, each series' first forecast (from its earliest cutoff in the fold), for plots and audits."""
    records = []
    for number, fold in enumerate(origins):
        record = Fold(str(index[int(fold[fold >= 0].max())]), {})
        rows = forecasts[forecasts[FOLD] == number]
        for name, own in rows.groupby(ID, sort=False):
            earliest = own[own[CUTOFF] == own[CUTOFF].min()]
            record.forecasts[str(name)] = FoldForecast(
                list(earliest[TIME]),
                earliest[MODEL].to_numpy(),
                {
                    level: tuple(earliest[column].to_numpy() for column in bound_columns(MODEL, level))
                    for level in levels
                },
            )
        records.append(record)
    return records


def _short_note(folds_of: dict[str, int], folds: int) -> list[str]:
    """The series too short for every fold, with the folds each was backtested on."""
    short = {name: count for name, count in folds_of.items() if count < folds}
    if not short:
        return []
    shown = ", ".join(f"{name!r} {count}" for name, count in list(short.items())[:5])
    return [
        f"{len(short)} series too short for {folds} folds are backtested on fewer: {shown}"
        + (" ..." if len(short) > 5 else "")
    ]


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
