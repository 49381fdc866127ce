"""A trained model and recent values -> the next values of every series, with their intervals.

Pure torch: nothing here imports Lightning or scikit-learn, so a forecast
starts quickly. Shared by predict, batch jobs, the Python API and the backtest.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from forecaster.data.covariates import Covariates
from forecaster.data.seasons import steps_between
from forecaster.data.spreadsheet import safe_csv
from forecaster.data.table import Table, future_times
from forecaster.errors import BadInput, HorizonWarning, listed
from forecaster.model.blend import Blend, seasonal_naive
from forecaster.model.card import Card, Layout
from forecaster.model.covariates import refuse_missing_future
from forecaster.model.ets import Ets
from forecaster.model.intervals import bound_columns, check_levels, half_widths, label
from forecaster.model.preparation import Preparation
from forecaster.model.theta import Theta
from forecaster.model.theta import fit as fit_theta
from forecaster.runtime.threads import one_thread
from forecaster.runtime.warned import warn

#: forecasts are written with seven significant digits: float32's precision, which the network computes in
FLOAT_FORMAT = "%.7g"

if TYPE_CHECKING:
    from forecaster.nn.network import Network


#: a time axis in words, for a newer CSV whose times differ from the model's
AXIS_WORDS = {"datetime": "dates", "integer": "integers", "row": "row numbers (no time column)"}


#: the network's forecast's column in Python's frames, and its method in a backtest's (a plugin cell may be named like a
#: baseline): a forecast and a backtest's cross-validation frame name it alike
MODEL = "model"


@dataclass
class Forecast:
    """Future values of every series, their intervals, and the recent history they follow."""

    times: dict[str, list]  #: per series, the future timestamps
    values: dict[str, np.ndarray]
    bounds: dict[str, dict[float, tuple[np.ndarray, np.ndarray]]]  #: per series and level: (lower, upper)
    history: dict[str, pd.Series]  #: per series, the values the forecast starts from
    time_name: str
    layout: Layout | None  #: None for wide output, else the long file's id and value columns
    notes: list[str]
    #: per series, its time-varying covariates over the window and the horizon, as the data gave them
    covariates: dict[str, pd.DataFrame] = field(default_factory=dict)
    id_type: str = "text"  #: a long forecast's ids as the data gave them (forecaster.model.card.ID_TYPES)

    def __repr__(self) -> str:
        """A few lines, however many series: what is forecast, from when, at which levels, and how to read it."""
        head = f"<Forecast: {len(self.values)} series"
        if self.times:
            name, times = next(iter(self.times.items()))  # the first series stands for the others
            levels = ", ".join(f"{label(level)}%" for level in self.bounds.get(name, {}))
            head += f", {len(times)} steps from {times[0]}" if times else ""
            head += f", intervals {levels}" if levels else ""
        lines = [f"{head}>"]
        if self.notes:
            lines.append(f"  {len(self.notes)} note{'s' * (len(self.notes) > 1)}: .notes")
        lines.append("  .to_frame(): the values, as predict gives them")
        return "\n".join(lines)

    def to_csv(self) -> str:
        """The forecast as `forecaster predict` and batch jobs write it, a layout kept for the scripts that read it:
        wide, a time column, then per series its value and bounds (``AAPL``, ``AAPL_lower_80``, ``AAPL_upper_80``);
        long, the file's id, time and value columns, then ``lower_80``, ``upper_80``. Seven significant digits, a name
        that a spreadsheet would run as a formula quoted (:mod:`forecaster.data.spreadsheet`)."""
        if self.layout is None:
            columns: dict[str, Any] = {self.time_name: self.times[next(iter(self.times))]}
            for name in self.values:
                columns.update(self._columns(name, name, _csv_bounds(f"{name}_")))
            frame = pd.DataFrame(columns)
        else:
            frame = self._long(self.layout.value_col, _csv_bounds(""))
        return safe_csv(frame, float_format=FLOAT_FORMAT)

    def to_frame(self) -> pd.DataFrame:
        """The forecast for Python, in the columns Nixtla's tools give, so that it merges with the data. Long: the
        data's id and time columns (its ids of their type: a DataFrame's integers stay integers), then ``model`` and
        its bounds ``model-lo-80``, ``model-hi-80``: the columns of a backtest's ``forecasts``. Wide: indexed by
        time, as the data was, each series' column and its bounds (``AAPL``, ``AAPL-lo-80``...), so that
        ``pd.concat([data, forecast])`` continues every series."""
        if self.layout is None:
            columns: dict[str, Any] = {}
            for name in self.values:
                columns.update(self._columns(name, name, functools.partial(bound_columns, name)))
            return pd.DataFrame(columns, index=pd.Index(self.times[next(iter(self.times))], name=self.time_name))
        frame = self._long(MODEL, functools.partial(bound_columns, MODEL))
        return with_ids(frame, self.layout.id_col, self.id_type)

    def _long(self, point: str, bounds: Callable[[float], tuple[str, str]]) -> pd.DataFrame:
        """One row per series and time: the id, the time, the forecast as ``point`` and each level's bounds as
        ``bounds(level)`` names them."""
        assert self.layout is not None
        id_col = self.layout.id_col
        return pd.concat(
            [
                pd.DataFrame({id_col: name, self.time_name: self.times[name], **self._columns(name, point, bounds)})
                for name in self.values
            ],
            ignore_index=True,
        )

    def _columns(self, name: str, point: str, bounds: Callable[[float], tuple[str, str]]) -> dict[str, np.ndarray]:
        """Series ``name``'s forecast as the column ``point``, and each level's lower and upper bounds in the columns
        ``bounds(level)`` names."""
        columns = {point: self.values[name]}
        for level, pair in self.bounds[name].items():
            columns.update(zip(bounds(level), pair, strict=True))
        return columns


def _csv_bounds(prefix: str) -> Callable[[float], tuple[str, str]]:
    """The bound columns of the command line's CSV: ``<prefix>lower_80``, ``<prefix>upper_80``."""
    return lambda level: (f"{prefix}lower_{label(level)}", f"{prefix}upper_{label(level)}")


def with_ids(frame: pd.DataFrame, id_col: str, id_type: str) -> pd.DataFrame:
    """``frame`` with its ids (held as text) of the type the data gave them: integers as int64."""
    if id_type == "integer":
        return frame.assign(**{id_col: frame[id_col].astype("int64")})
    return frame


def run_network(
    network: Network,
    values: np.ndarray,
    positions: np.ndarray,
    ratio: np.ndarray,
    horizon: int,
    extra: np.ndarray | None = None,
    ahead: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prepared (n, window) inputs (NaN-padded) at ``positions`` -> (n, horizon) forecasts, and each window's (n, 1)
    level and unit (see Network). The one way the network is run without gradients: for forecasts, backtests and
    scoring. ``extra``: (n, window + horizon, C) covariate features, for a network that reads them. ``ahead``: the
    (n, horizon) forecast steps' positions, where they do not simply follow the window's last (held-out windows and
    backtests whose targets lie beyond a gap in the rows).

    Recursive past the trained horizon: forecasts are read back as inputs,
    and past-observed covariates, unknown after the origin, held at their
    last values. In chunks of windows, so that a fit's validation windows
    (200,000 for a million rows) never need their per-step outputs in memory
    at once.
    """
    import torch

    from forecaster.nn.network import NO_GRAD_BATCH

    window = values.shape[1]
    extra = _for_recursion(network, extra, window, horizon)
    ahead = _steps_ahead(positions, ahead, -(-horizon // network.horizon) * network.horizon)
    extra_steps = window + network.horizon
    forecasts, levels, units = [], [], []
    network.eval()
    with torch.no_grad(), one_thread():
        for start in range(0, len(values), NO_GRAD_BATCH):
            chunk = slice(start, start + NO_GRAD_BATCH)
            current = torch.as_tensor(values[chunk], dtype=torch.float32)
            where = torch.as_tensor(positions[chunk], dtype=torch.int64)
            future = torch.as_tensor(ahead[chunk], dtype=torch.int64)
            flags = torch.as_tensor(ratio[chunk], dtype=torch.bool)
            features = torch.as_tensor(extra[chunk], dtype=torch.float32) if extra is not None else None
            level, unit = network.reference(current, flags)
            steps: list = []
            while (done := sum(step.shape[1] for step in steps)) < horizon:
                reading = features[:, done : done + extra_steps] if features is not None else None
                passing = future[:, done : done + network.horizon]
                predicted = network(current, torch.cat([where, passing], dim=1), flags, reading)
                steps.append(predicted)
                current = torch.cat([current, predicted], dim=1)[:, -window:]
                where = torch.cat([where, passing], dim=1)[:, -window:]
            forecasts.append(torch.cat(steps, dim=1)[:, :horizon].double().numpy())
            levels.append(level.double().numpy())
            units.append(unit.double().numpy())
    if not forecasts:
        return np.empty((0, horizon)), np.empty((0, 1)), np.empty((0, 1))
    return np.concatenate(forecasts), np.concatenate(levels), np.concatenate(units)


def _steps_ahead(positions: np.ndarray, ahead: np.ndarray | None, steps: int) -> np.ndarray:
    """(n, steps) positions of the forecast steps: ``ahead``'s, continued one step at a time past its last (every
    recursive pass reads a whole trained horizon), or the steps after each window's last."""
    last = positions[:, -1:] if ahead is None else ahead[:, -1:]
    given = np.empty((len(positions), 0), np.int64) if ahead is None else ahead[:, :steps]
    return np.concatenate([given, last + np.arange(1, steps - given.shape[1] + 1)], axis=1)


def _for_recursion(network: Network, extra: np.ndarray | None, window: int, horizon: int) -> np.ndarray | None:
    """Covariate features long enough for every recursive pass (its last row repeated), past-observed ones held at
    their last value in the window after it."""
    if extra is None or not sum(network.extra):
        return None
    trained = network.horizon
    needed = window + -(-horizon // trained) * trained
    extra = np.concatenate([extra, np.repeat(extra[:, -1:], max(needed - extra.shape[1], 0), axis=1)], axis=1)
    past = network.extra[0]
    extra[:, window:, :past] = extra[:, window - 1 : window, :past]
    return extra


def forecast(
    card: Card,
    network: Network,
    source: str,
    horizon: int | None = None,
    table: Table | None = None,
    levels: Sequence[float] = (),
    future: Covariates | None = None,
) -> Forecast:
    """Forecast ``horizon`` steps of every series of a model (its card and network) from ``table`` (or the training
    data's end).

    ``source`` names the model in messages. ``levels`` (percent) adds
    conformal prediction intervals. The notes tell the user what to know,
    such as series too short for the network, forecast by their last value;
    a horizon beyond the trained one, forecast recursively, is a
    :class:`~forecaster.errors.HorizonWarning`. A model that reads
    covariates takes them from ``table`` (its future rows give the future-known
    ones) or, without it, from the card's recent values; ``future`` (a file's
    values of the future-known ones) adds to either.

    predict's steps, each check where it is cheapest: the request (horizon,
    levels), the origin (each series' history and end: refused on another
    time axis or ragged ends), the covariates' inputs, the projection (the
    network, Theta, the fallbacks), each series restored to the data's
    units, the notes and the warning.
    """
    horizon = card.hyperparameters.horizon if horizon is None else horizon
    if horizon < 1:
        raise BadInput(f"--horizon must be at least 1, not {horizon}")
    levels = check_levels(levels)
    intervals = card.intervals  # the model's, whatever data the forecast starts from
    widths = {level: half_widths(intervals.quantiles, level, horizon, source, intervals.windows) for level in levels}
    origin = _origin(card, table, source)
    extra, drawn, covariate_notes = _covariate_inputs(card, table, future, origin, horizon)
    projection = _projected(card, network, origin, horizon, table is None, extra)
    values, bounds = _restored(card, projection, origin.source, widths)
    notes = [*origin.notes, *covariate_notes, *_notes(card, projection, levels)]
    try:
        times = {name: future_times(origin.kind, origin.frequency, origin.ends[name], horizon) for name in card.series}
    except BadInput as exc:
        raise BadInput(f"{origin.source}: {exc}") from None
    time_name = card.time.column or ("date" if origin.kind == "datetime" else "row")
    id_type = table.id_type if table is not None else card.layout.id_type if card.layout else "text"
    _warn_if_recursive(card.hyperparameters.horizon, horizon, bool(widths))
    return Forecast(times, values, bounds, origin.history, time_name, card.layout, notes, drawn, id_type)


@dataclass(frozen=True)
class Origin:
    """Where every series' forecast starts: its recent values and last time, on which time axis, and the name of
    what gave them (the model, or the newer data) for messages."""

    kind: str  #: the time axis: "datetime", "integer" or "row"
    frequency: str | None
    ends: Mapping[str, Any]  #: per series, its last time: a Timestamp, or an integer step
    history: dict[str, pd.Series]  #: per series, its values without gaps, the last at its end
    source: str
    notes: list[str]  #: the newer data's, as it was read


def _origin(card: Card, table: Table | None, source: str) -> Origin:
    """The card's saved history, or ``table``'s newer rows: refused on another time axis, or when a wide file's
    series end at different times."""
    time = card.time
    if table is None:
        kind, frequency, ends = time.kind, time.frequency, dict(card.ends)
        history = {name: _history_series(card.history[name], kind, frequency, ends[name]) for name in card.series}
        origin = Origin(kind, frequency, ends, history, source, [])
    else:
        if table.time_kind != time.kind:
            raise BadInput(
                f"{table.path}: its times are {AXIS_WORDS[table.time_kind]}, and the model was fitted on "
                f"{AXIS_WORDS[time.kind]}; give the times as the data the model was fitted on gave them"
            )
        history = {name: table.values[name].dropna() for name in card.series}
        origin = Origin(
            table.time_kind, table.frequency or time.frequency, table.ends, history, table.path, list(table.notes)
        )
    if card.layout is None and len({str(end) for end in origin.ends.values()}) > 1:
        raise BadInput(
            f"{origin.source}: the series end at different times; every column of a wide file needs a value in the "
            "last row"
        )
    return origin


def _covariate_inputs(
    card: Card, table: Table | None, future: Covariates | None, origin: Origin, horizon: int
) -> tuple[np.ndarray | None, dict[str, pd.DataFrame], list[str]]:
    """For a model that reads covariates: each series' (window + horizon, C) features, its time-varying covariates
    over the window and the horizon as the data gave them (for plots), and notes; a future-known one missing over
    the horizon refused."""
    spec, hyper, series = card.covariates, card.hyperparameters, card.series
    if not sum(spec.counts):
        return None, {}, []
    frames, statics = _covariate_frames(card, table, future, origin.kind, origin.frequency, origin.ends)
    rows = np.empty((len(series), hyper.window + horizon), dtype=object)
    for k, name in enumerate(series):
        seen = list(origin.history[name].index[-hyper.window :]) if table is not None else []
        rows[k] = _span_times(origin.kind, origin.frequency, origin.ends[name], hyper.window, horizon, seen)
    refuse_missing_future(spec, series, frames, rows, hyper.window, origin.source)
    drawn = {
        name: pd.DataFrame(
            {column: frames[column][name].reindex(list(rows[k])).to_numpy() for column in frames},
            index=list(rows[k]),
        )
        for k, name in enumerate(series)
    }
    return spec.features(series, frames, statics, (), origin.source, rows), drawn, spec.unseen(series, statics)


def _projected(
    card: Card, network: Network, origin: Origin, horizon: int, saved: bool, extra: np.ndarray | None
) -> Projection:
    """:func:`project` from the origin: Theta's saved states when forecasting from the ``saved`` history, else Theta
    fitted on the newer one."""
    hyper, series = card.hyperparameters, card.series
    return project(
        network,
        series,
        [card.preparations[name] for name in series],
        [origin.history[name].to_numpy() for name in series],
        steps_between(origin.kind, origin.frequency, card.time.origin, [origin.ends[name] for name in series]),
        hyper.window,
        hyper.min_observed,
        horizon,
        origin.source,
        card.blend if saved else card.blend.for_histories(),
        np.array([name in card.fallback.baseline for name in series]),
        extra,
    )


def _restored(
    card: Card, projection: Projection, source: str, widths: Mapping[float, np.ndarray]
) -> tuple[dict[str, np.ndarray], dict[str, dict[float, tuple[np.ndarray, np.ndarray]]]]:
    """Each series' forecast and its intervals of half-widths ``widths`` (per level, in scaled units) in the data's
    units, its preparation undone; refused where that is not finite."""
    values, bounds = {}, {}
    for k, name in enumerate(card.series):
        preparation = card.preparations[name]
        values[name] = projection.restore(preparation, k)
        if not np.isfinite(values[name]).all():
            raise BadInput(
                f"{source}: the forecast of series {name!r} is not finite once its preparation (scaler, season) is "
                "undone: the model's numbers are beyond float64's range"
            )
        bounds[name] = {level: projection.bounds(preparation, k, width) for level, width in widths.items()}
    return values, bounds


def _warn_if_recursive(trained: int, horizon: int, intervals: bool) -> None:
    """A horizon beyond the ``trained`` one is forecast, but less surely: a warning at the user's call."""
    if horizon > trained:
        steps = f"step {horizon} is" if horizon == trained + 1 else f"steps {trained + 1}-{horizon} are"
        warn(
            f"horizon {horizon} is beyond the trained {trained}: {steps} forecast recursively from earlier forecasts"
            + (", and their intervals widened by sqrt(step)" if intervals else "")
            + f"; a model fitted for {horizon} steps forecasts each directly",
            HorizonWarning,
        )


def _notes(card: Card, projection: Projection, levels: Sequence[float]) -> list[str]:
    """What the user should know of this forecast: intervals calibrated on training windows, series too short for
    the network."""
    hyper, notes = card.hyperparameters, []
    if levels and card.intervals.on == "training":
        notes.append(
            "intervals are calibrated on training windows (too little data to hold any out): expect them to be too "
            "narrow"
        )
    if projection.short.any():
        names = [name for name, too_short in zip(card.series, projection.short, strict=True) if too_short]
        notes.append(
            f"{len(names)} series with fewer than {hyper.min_observed} values are forecast by their last value "
            "(naive): " + listed([repr(name) for name in names])
        )
    return notes


@dataclass(frozen=True)
class Projection:
    """Forecasts in the network's units, before each series' preparation is undone (see :func:`project`)."""

    scaled: np.ndarray  #: (series, horizon)
    unit: np.ndarray  #: (series, 1) what an interval's width is measured in
    future: np.ndarray  #: (series, horizon) the forecast steps' positions on the time axis
    short: np.ndarray  #: (series,) True where a series was too short for the network: its last value, repeated

    def restore(self, preparation: Preparation, k: int) -> np.ndarray:
        return preparation.from_network(self.scaled[k], self.future[k])

    def bounds(self, preparation: Preparation, k: int, width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The interval of half-width ``width`` (per step, in units) around series ``k``'s forecast, in the data's
        units."""
        spread = width * self.unit[k]
        return (
            preparation.from_network(self.scaled[k] - spread, self.future[k]),
            preparation.from_network(self.scaled[k] + spread, self.future[k]),
        )


def project(
    network: Network,
    names: Sequence[str],
    preparations: Sequence[Preparation],
    histories: Sequence[np.ndarray],
    ends: np.ndarray,
    window: int,
    min_observed: int,
    horizon: int,
    source: str,
    blend: Blend,
    falls_back: np.ndarray,
    extra: np.ndarray | None = None,
    ahead: np.ndarray | None = None,
) -> Projection:
    """Forecast ``horizon`` steps after each history (values without gaps, the last at position ``ends[k]``).

    Shared by predict and the backtest. Each history's last ``window`` values
    are prepared and left-padded; one with fewer than ``min_observed`` values
    is forecast by its last value. The network's forecast is blended with
    Theta's as ``blend`` says, Theta fitted on the whole histories unless
    ``blend`` holds its states; a series ``falls_back`` marks is forecast by
    its last season repeated (its last value without a season). ``extra``:
    each series' (window + horizon, C) covariate features, for a network that
    reads them; none where a history is padded, as in training. ``ahead``:
    the (series, horizon) forecast steps' positions, where they are rows of
    the data (a backtest's targets) rather than the steps after ``ends``.
    """
    inputs = np.full((len(histories), window), np.nan)
    positions = ends[:, None] - np.arange(window - 1, -1, -1)
    for k, (history, preparation) in enumerate(zip(histories, preparations, strict=True)):
        recent = history[-window:]
        inputs[k, window - len(recent) :] = preparation.to_network(recent, positions[k, window - len(recent) :])
    ratio = np.array([preparation.ratio for preparation in preparations])
    _refuse_unreadable(inputs, ratio, network.season, names, source)
    if extra is not None:
        extra = extra.copy()
        extra[:, :window][np.isnan(inputs)] = 0
    future = _steps_ahead(positions, ahead, horizon)
    scaled, _, unit = run_network(network, inputs, positions, ratio, horizon, extra, future)
    short = np.sum(~np.isnan(inputs), axis=1) < min_observed
    if not np.isfinite(scaled[~short]).all():  # said before blending, where 0 x inf is numpy's "invalid value"
        raise BadInput(
            f"{source}: the network's forecast is not finite: its weights or inputs are too large for float32"
        )
    if blend.weight or blend.ets_weight:
        scaled = blend.mix(scaled, *_partners(blend, _prepared(histories, preparations, ends)))
    if falls_back.any():
        season = network.season
        longest = max(len(history) for history in histories)  # a season longer than any history: naive
        naive = seasonal_naive(_prepared(histories, preparations, ends, min(season, longest)).T, season, horizon)
        scaled = np.where(falls_back[:, None], naive, scaled)
    last = inputs[:, -1]
    scaled[short] = last[short, None]  # in the network's units, so that it restores and takes intervals like the others
    unit[short] = np.where(ratio[short], np.abs(last[short]), 1)[:, None]
    if not np.isfinite(scaled).all():
        raise BadInput(f"{source}: values too large for this model's preparations: the forecast would not be finite")
    return Projection(scaled, unit, future, short)


def _partners(blend: Blend, prepared: np.ndarray) -> tuple[Theta | None, Ets | None]:
    """The states of the partners ``blend`` weighs: its own, else fitted on the ``prepared`` histories (rows, series;
    exponential smoothing with the fit's parameters)."""
    if not blend.anew:
        return blend.theta, blend.ets
    theta = fit_theta(prepared) if blend.weight else None
    ets = blend.ets.refiltered(prepared) if blend.ets is not None and blend.ets_weight else None
    return theta, ets


def _prepared(
    histories: Sequence[np.ndarray], preparations: Sequence[Preparation], ends: np.ndarray, most: int | None = None
) -> np.ndarray:
    """(rows, series): every history (its last ``most`` values) prepared as the network reads it, aligned on its last
    value, NaN above its first."""
    histories = [history[-most:] if most else history for history in histories]
    prepared = np.full((max([*(len(history) for history in histories), most or 0]), len(histories)), np.nan)
    for k, (history, preparation) in enumerate(zip(histories, preparations, strict=True)):
        steps = ends[k] - np.arange(len(history) - 1, -1, -1)
        prepared[len(prepared) - len(history) :, k] = preparation.to_network(history, steps)
    return prepared


def _refuse_unreadable(inputs: np.ndarray, ratio: np.ndarray, season: int, names: Sequence[str], source: str) -> None:
    """A series read as ratios needs a positive level: its last season of values cannot all be zero or negative."""
    recent = inputs[:, -season:]
    observed = ~np.isnan(recent)
    level = np.where(observed, recent, 0).sum(axis=1) / np.maximum(observed.sum(axis=1), 1)
    bad = ratio & (level <= 0) & observed.any(axis=1)
    if bad.any():
        raise BadInput(
            f"{source}: series {names[int(np.flatnonzero(bad)[0])]!r} was positive when the model was fitted and is "
            f"read as ratios to its level, but its last {season} values are zero or negative; fit the model again on "
            "this data"
        )


def _span_times(kind: str, frequency: str | None, end, window: int, horizon: int, seen: list) -> list:
    """The times of a window ending at ``end`` and of the horizon after it: the rows' own times where ``seen`` gives
    them (a missing timestamp is a row less, as in training), else counted back by the frequency."""
    counted = list(_history_series([0.0] * window, kind, frequency, end).index)
    counted[window - len(seen) :] = seen
    return [*counted, *future_times(kind, frequency, end, horizon)]


def _covariate_frames(
    card: Card,
    table: Table | None,
    future: Covariates | None,
    kind: str,
    frequency: str | None,
    ends: Mapping[str, Any],
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.Series]]:
    """The time-varying covariates per series (times x series), from the newer data or the card's recent values, with
    the future file's values where those have none; and the static ones the newer data gives."""
    if table is not None:
        frames, statics = dict(table.covariates.columns), dict(table.covariates.statics)
    else:
        frames = {
            column: pd.concat(
                {name: _history_series(values, kind, frequency, ends[name]) for name, values in by_series.items()},
                axis=1,
            )
            for column, by_series in card.covariates.history.items()
        }
        statics = {}
    for column, frame in (future.columns if future is not None else {}).items():
        try:
            frames[column] = frames[column].combine_first(frame) if column in frames else frame
        except TypeError:  # times with a UTC offset and times without
            raise BadInput(
                f"the times of the --future file and of the data do not compare: give every time a UTC offset, or none "
                f"(column {column!r})"
            ) from None
    return frames, statics


def _history_series(values: Sequence[float], kind: str, frequency: str | None, end) -> pd.Series:
    """The saved last window, with timestamps counted back from the series' end."""
    if kind == "datetime" and frequency:
        index: pd.Index | list = pd.date_range(end=end, periods=len(values), freq=frequency)
    else:
        step = int(frequency or 1)
        index = [end - step * (len(values) - 1 - k) for k in range(len(values))]
    return pd.Series(list(values), index=index, dtype="float64")
