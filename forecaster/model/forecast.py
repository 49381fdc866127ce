"""A trained model and recent values -> the next values of every series, with their intervals.

Pure torch: nothing here imports Lightning or scikit-learn, so a forecast
starts quickly. Shared by predict, batch jobs, the Python API and the backtest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from forecaster.data.seasons import steps_between
from forecaster.data.table import Table, future_times
from forecaster.errors import BadInput
from forecaster.model.blend import Blend, seasonal_naive
from forecaster.model.card import Card, Layout
from forecaster.model.fit_result import listed
from forecaster.model.intervals import check_levels, half_widths, label
from forecaster.model.preparation import Preparation
from forecaster.model.theta import fit as fit_theta
from forecaster.runtime.threads import one_thread

#: forecasts are written with seven significant digits: float32's precision, which the network computes in
FLOAT_FORMAT = "%.7g"

if TYPE_CHECKING:
    from forecaster.nn.network import Network


#: a time axis in words, for a newer CSV whose times differ from the model's
AXIS_WORDS = {"datetime": "dates", "integer": "integers", "row": "row numbers (no time column)"}


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

    def to_csv(self) -> str:
        """The forecast as `forecaster predict` and batch jobs write it: :meth:`to_frame`, seven significant digits."""
        return self.to_frame().to_csv(index=False, float_format=FLOAT_FORMAT)

    def to_frame(self) -> pd.DataFrame:
        """Wide: a time column, then per series its value and bounds. Long: one row per series and time."""
        columns: dict[str, object] = {}
        if self.layout is None:
            first = next(iter(self.times))
            columns[self.time_name] = self.times[first]
            for name in self.values:
                columns[name] = self.values[name]
                for level, (lower, upper) in self.bounds[name].items():
                    columns[f"{name}_lower_{label(level)}"] = lower
                    columns[f"{name}_upper_{label(level)}"] = upper
            return pd.DataFrame(columns)
        frames = []
        for name in self.values:
            part = {
                self.layout.id_col: name,
                self.time_name: self.times[name],
                self.layout.value_col: self.values[name],
            }
            for level, (lower, upper) in self.bounds[name].items():
                part[f"lower_{label(level)}"], part[f"upper_{label(level)}"] = lower, upper
            frames.append(pd.DataFrame(part))
        return pd.concat(frames, ignore_index=True)


def run_network(
    network: Network, values: np.ndarray, positions: np.ndarray, ratio: np.ndarray, horizon: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prepared (n, window) inputs (NaN-padded) at ``positions`` -> (n, horizon) forecasts, and each window's (n, 1)
    level and unit (see Network). The one way the network is run without gradients: for forecasts, backtests and
    scoring.

    Recursive past the trained horizon: forecasts are read back as inputs.
    In chunks of windows, so that a fit's validation windows (200,000 for a
    million rows) never need their per-step outputs in memory at once.
    """
    import torch

    from forecaster.nn.network import NO_GRAD_BATCH

    window = values.shape[1]
    forecasts, levels, units = [], [], []
    network.eval()
    with torch.no_grad(), one_thread():
        for start in range(0, len(values), NO_GRAD_BATCH):
            chunk = slice(start, start + NO_GRAD_BATCH)
            current = torch.as_tensor(values[chunk], dtype=torch.float32)
            where = torch.as_tensor(positions[chunk], dtype=torch.int64)
            flags = torch.as_tensor(ratio[chunk], dtype=torch.bool)
            level, unit = network.reference(current, flags)
            steps: list = []
            while sum(step.shape[1] for step in steps) < horizon:
                predicted = network(current, where, flags)
                steps.append(predicted)
                current = torch.cat([current, predicted], dim=1)[:, -window:]
                where = torch.cat([where, where[:, -1:] + torch.arange(1, predicted.shape[1] + 1)], dim=1)[:, -window:]
            forecasts.append(torch.cat(steps, dim=1)[:, :horizon].double().numpy())
            levels.append(level.double().numpy())
            units.append(unit.double().numpy())
    if not forecasts:
        return np.empty((0, horizon)), np.empty((0, 1)), np.empty((0, 1))
    return np.concatenate(forecasts), np.concatenate(levels), np.concatenate(units)


def forecast(
    card: Card,
    network: Network,
    source: str,
    horizon: int | None = None,
    table: Table | None = None,
    levels: Sequence[float] = (),
) -> Forecast:
    """Forecast ``horizon`` steps of every series of a model (its card and network) from ``table`` (or the training
    data's end).

    ``source`` names the model in messages. ``levels`` (percent) adds
    conformal prediction intervals. The notes tell the user what to know,
    such as a recursive forecast beyond the trained horizon, or series too
    short for the network, forecast by their last value.
    """
    hyper, series = card.hyperparameters, card.series
    horizon = hyper.horizon if horizon is None else horizon
    if horizon < 1:
        raise BadInput(f"--horizon must be at least 1, not {horizon}")
    levels = check_levels(levels)
    time = card.time
    if table is None:
        kind, frequency = time.kind, time.frequency
        ends = dict(card.ends)
        history = {name: _history_series(card.history[name], kind, frequency, ends[name]) for name in series}
    else:
        kind, frequency, source = table.time_kind, table.frequency or time.frequency, table.path
        if kind != time.kind:
            raise BadInput(
                f"{source}: its times are {AXIS_WORDS[kind]}, and the model was fitted on {AXIS_WORDS[time.kind]}; "
                "give the times as the data the model was fitted on gave them"
            )
        ends = table.ends
        history = {name: table.values[name].dropna() for name in series}
    if card.layout is None and len({str(end) for end in ends.values()}) > 1:
        raise BadInput(
            f"{source}: the series end at different times; every column of a wide file needs a value in the last row"
        )
    ends_at = steps_between(kind, frequency, time.origin, [ends[name] for name in series])
    preparations = [card.preparations[name] for name in series]
    projection = project(
        network,
        series,
        preparations,
        [history[name].to_numpy() for name in series],
        ends_at,
        hyper.window,
        hyper.min_observed,
        horizon,
        source,
        card.blend if table is None else Blend(card.blend.weight),
        np.array([name in card.fallback.baseline for name in series]),
    )
    widths = {level: half_widths(card.intervals.quantiles, level, horizon, source) for level in levels}
    values, bounds = {}, {}
    for k, name in enumerate(series):
        values[name] = projection.restore(preparations[k], k)
        if not np.isfinite(values[name]).all():
            raise BadInput(
                f"{source}: the forecast of series {name!r} is not finite once its preparation (scaler, season) is "
                "undone: the model's numbers are beyond float64's range"
            )
        bounds[name] = {level: projection.bounds(preparations[k], k, width) for level, width in widths.items()}
    notes = list(table.notes) if table is not None else []
    if horizon > hyper.horizon:
        notes.append(
            f"horizon {horizon} is beyond the trained {hyper.horizon}: steps {hyper.horizon + 1}-{horizon} are "
            "forecast recursively from earlier forecasts"
            + (", and their intervals widened by sqrt(step)" if levels else "")
        )
    if levels and card.intervals.on == "training":
        notes.append(
            "intervals are calibrated on training windows (too little data to hold any out): expect them to be too "
            "narrow"
        )
    if projection.short.any():
        names = [name for name, too_short in zip(series, projection.short, strict=True) if too_short]
        notes.append(
            f"{len(names)} series with fewer than {hyper.min_observed} values are forecast by their last value "
            "(naive): " + listed([repr(name) for name in names])
        )
    try:
        times = {name: future_times(kind, frequency, ends[name], horizon) for name in series}
    except BadInput as exc:
        raise BadInput(f"{source}: {exc}") from None
    time_name = time.column or ("date" if kind == "datetime" else "row")
    return Forecast(times, values, bounds, history, time_name, card.layout, notes)


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
) -> Projection:
    """Forecast ``horizon`` steps after each history (values without gaps, the last at position ``ends[k]``).

    Shared by predict and the backtest. Each history's last ``window`` values
    are prepared and left-padded; one with fewer than ``min_observed`` values
    is forecast by its last value. The network's forecast is blended with
    Theta's as ``blend`` says, Theta fitted on the whole histories unless
    ``blend`` holds its states; a series ``falls_back`` marks is forecast by
    its last season repeated (its last value without a season).
    """
    inputs = np.full((len(histories), window), np.nan)
    positions = ends[:, None] - np.arange(window - 1, -1, -1)
    for k, (history, preparation) in enumerate(zip(histories, preparations, strict=True)):
        recent = history[-window:]
        inputs[k, window - len(recent) :] = preparation.to_network(recent, positions[k, window - len(recent) :])
    ratio = np.array([preparation.ratio for preparation in preparations])
    _refuse_unreadable(inputs, ratio, network.season, names, source)
    scaled, _, unit = run_network(network, inputs, positions, ratio, horizon)
    if blend.weight:
        theta = blend.theta if blend.theta is not None else fit_theta(_prepared(histories, preparations, ends))
        scaled = blend.mix(scaled, theta)
    if falls_back.any():
        season = network.season
        longest = max(len(history) for history in histories)  # a season longer than any history: naive
        naive = seasonal_naive(_prepared(histories, preparations, ends, min(season, longest)).T, season, horizon)
        scaled = np.where(falls_back[:, None], naive, scaled)
    short = np.sum(~np.isnan(inputs), axis=1) < min_observed
    last = inputs[:, -1]
    scaled[short] = last[short, None]  # in the network's units, so that it restores and takes intervals like the others
    unit[short] = np.where(ratio[short], np.abs(last[short]), 1)[:, None]
    if not np.isfinite(scaled).all():
        raise BadInput(f"{source}: values too large for this model's preparations: the forecast would not be finite")
    return Projection(scaled, unit, ends[:, None] + np.arange(1, horizon + 1), short)


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


def _history_series(values: Sequence[float], kind: str, frequency: str | None, end) -> pd.Series:
    """The saved last window, with timestamps counted back from the series' end."""
    if kind == "datetime" and frequency:
        index: pd.Index | list = pd.date_range(end=end, periods=len(values), freq=frequency)
    else:
        step = int(frequency or 1)
        index = [end - step * (len(values) - 1 - k) for k in range(len(values))]
    return pd.Series(list(values), index=index, dtype="float64")
