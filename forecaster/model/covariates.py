"""What a model reads beside its series, and how: each covariate's kind and scaling, the calendar, the holidays.

The network reads the features laid out as :meth:`CovariateSpec.counts`
says: past-observed columns first (read over the window only), then the
known ones, the future-known columns and the holiday flag (read over the
window and, by the decoders, over the horizon), then the others, read over
the window only: the calendar's cycles (over the horizon the decoders read
the place in the season alone) and the static columns (constant over a window).
Time-varying columns are standardised per series on its training rows;
numeric static ones across the series; categorical static ones one-hot over
the categories seen in training (an unseen one reads as none of them,
and the forecast says so). Missing values (a window's padding) read as 0,
each column's training mean.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecaster.data import calendar
from forecaster.data.table import time_label, time_text
from forecaster.errors import BadInput
from forecaster.model.scaling import FLOAT32_MAX

Scale = tuple[float, float]  #: (mean, standard deviation)


@dataclass(frozen=True)
class Static:
    """A static column: its categories (None: numeric, scaled by ``scale``), and each series' value."""

    categories: tuple[str, ...] | None
    scale: Scale
    values: Mapping[str, float | str]

    @property
    def width(self) -> int:
        return 1 if self.categories is None else len(self.categories)

    def encode(self, value: float | str, where: str) -> np.ndarray:
        """The value's features: scaled (numeric), or one-hot over the categories (none for an unseen one)."""
        if self.categories is None:
            number = _number(value)
            if number is None:
                raise BadInput(f"{where}: {value!r} is not a number, and the model read this column as numbers")
            return np.array([(number - self.scale[0]) / self.scale[1]])
        return (np.array(self.categories) == str(value)).astype(float)


class Unreadable(Exception):
    """A covariate's value beyond what the network reads once scaled; its message names the column, series and
    time."""


def _scaled(raw: np.ndarray, scaling: Scale, times: Sequence | pd.Index, which: str) -> np.ndarray:
    """``raw`` values of one covariate and series scaled as the fit scaled them; :class:`Unreadable` where one is
    beyond float32, the network's type, once scaled (a value of 1e308 beside a deviation of 0.4)."""
    mean, deviation = scaling
    with np.errstate(all="ignore"):
        scaled = (raw - mean) / deviation
    beyond = np.flatnonzero(np.abs(scaled) > FLOAT32_MAX)
    if len(beyond):
        raise Unreadable(
            f"{which}, at {time_label(times[beyond[0]])}: {raw[beyond[0]]:g} is beyond what the network reads once "
            f"scaled by the fit's mean {mean:g} and deviation {deviation:g} (float32's largest, {FLOAT32_MAX:.4g})"
        )
    return scaled


@dataclass(frozen=True)
class CovariateSpec:
    """The covariates a model reads, as model.json records them under ``covariates``."""

    past: Mapping[str, Mapping[str, Scale]] = field(default_factory=dict)  #: column -> series -> scale
    future: Mapping[str, Mapping[str, Scale]] = field(default_factory=dict)
    static: Mapping[str, Static] = field(default_factory=dict)
    calendar: tuple[str, ...] = ()  #: forecaster.data.calendar.CYCLES read
    holidays: str | None = None
    #: column -> series -> its last values (as many as the series' history keeps), for predict without new data
    history: Mapping[str, Mapping[str, tuple[float, ...]]] = field(default_factory=dict)

    @property
    def counts(self) -> tuple[int, int, int]:
        """(past, known, other) features per step: past-observed columns; future-known ones and the holiday flag,
        which the decoders read over the horizon; the calendar's cycles and the static columns."""
        holiday = 1 if self.holidays else 0
        other = 2 * len(self.calendar) + sum(column.width for column in self.static.values())
        return len(self.past), len(self.future) + holiday, other

    @property
    def columns(self) -> dict[str, str]:
        """Each column read from the data -> its kind."""
        return {column: kind for kind in ("past", "future", "static") for column in getattr(self, kind)}

    def describe(self) -> str:
        """What the model reads beside its series, for the summary."""
        parts = [
            f"{kind} {', '.join(getattr(self, kind))}" for kind in ("past", "future", "static") if getattr(self, kind)
        ]
        if self.calendar:
            parts.append("calendar " + ", ".join(self.calendar))
        if self.holidays:
            parts.append(f"holidays {self.holidays}")
        return "; ".join(parts) if parts else "none"

    def features(
        self,
        names: Sequence[str],
        frames: Mapping[str, pd.DataFrame],
        statics: Mapping[str, pd.Series],
        times: Sequence | pd.Index,
        source: str,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """(series, len(times), C) features of ``names`` at ``times``: frames (times x series) give the time-varying
        columns, ``statics`` the static ones (else the card's values). ``rows``: each series' own times instead, a
        (series, steps) array of them. A value the network could not read (beyond float32 once scaled) is refused,
        naming ``source``."""
        try:
            return self._features(names, frames, statics, times, rows)
        except Unreadable as exc:
            raise BadInput(f"{source}: covariate {exc}") from None

    def refuse_unreadable(self, frames: Mapping[str, pd.DataFrame], source: str) -> None:
        """Refuse, naming ``source``, a value of the time-varying ``frames`` (times x series) that the network could
        not read once scaled: a file's own values, checked where the file is still known."""
        for column, scales in (*self.past.items(), *self.future.items()):
            for name, cells in frames.get(column, pd.DataFrame()).items():
                try:
                    _scaled(cells.to_numpy(dtype=float), scales[str(name)], cells.index, f"{column!r}, series {name!r}")
                except Unreadable as exc:
                    raise BadInput(f"{source}: covariate {exc}") from None

    def _features(
        self,
        names: Sequence[str],
        frames: Mapping[str, pd.DataFrame],
        statics: Mapping[str, pd.Series],
        times: Sequence | pd.Index,
        rows: np.ndarray | None,
    ) -> np.ndarray:
        steps = len(times) if rows is None else rows.shape[1]
        out = np.zeros((len(names), steps, sum(self.counts)))
        time_varying = [*self.past.items(), *self.future.items()]
        for c, (column, scales) in enumerate(time_varying):
            frame = frames[column]
            for k, name in enumerate(names):
                raw = (
                    frame[name].to_numpy(dtype=float)
                    if rows is None
                    else frame[name].reindex(list(rows[k])).to_numpy(dtype=float)
                )
                scaled = _scaled(raw, scales[name], times if rows is None else rows[k], f"{column!r}, series {name!r}")
                out[k, :, c] = np.nan_to_num(scaled)  # a gap reads as the mean
        first = len(time_varying)  # the holiday flag, then the cycles: as calendar.features lays them out
        column_at = first + calendar.width(self.calendar, self.holidays)
        if column_at > first:
            if rows is None:
                out[:, :, first:column_at] = _calendar(self.calendar, self.holidays, tuple(times))[None]
            else:
                for k in range(len(names)):
                    out[k, :, first:column_at] = _calendar(self.calendar, self.holidays, tuple(rows[k]))
        for column, spec in self.static.items():
            for k, name in enumerate(names):
                given = statics[column][name] if column in statics else spec.values[name]
                out[k, :, column_at : column_at + spec.width] = spec.encode(
                    given, f"static column {column!r}, series {name!r}"
                )
            column_at += spec.width
        return out

    def unseen(self, names: Sequence[str], statics: Mapping[str, pd.Series]) -> list[str]:
        """Notes on static categories a fit never saw: those series read as none of the categories."""
        notes = []
        for column, spec in self.static.items():
            if spec.categories is None or column not in statics:
                continue
            new = [name for name in names if str(statics[column][name]) not in spec.categories]
            if new:
                notes.append(
                    f"static column {column!r}: {len(new)} series have a category the fit never saw (series "
                    f"{new[0]!r}: {statics[column][new[0]]!r}); they read as none of the fitted categories"
                )
        return notes


def _number(value: object) -> float | None:
    """A static value as a finite number, or None."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


@functools.lru_cache(maxsize=64)
def _calendar(cycles: tuple[str, ...], holidays: str | None, times: tuple) -> np.ndarray:
    return calendar.features(cycles, holidays, times)


def fit_spec(
    names: Sequence[str],
    frames: Mapping[str, pd.DataFrame],
    statics: Mapping[str, pd.Series],
    kinds: Mapping[str, str],
    training: np.ndarray,
    observed: np.ndarray,
    cycles: tuple[str, ...],
    holidays: str | None,
    kept: int,
) -> CovariateSpec:
    """Each covariate's scaling, fitted on ``training`` (rows x series, a mask on the frames' first rows) only; its
    history, on the rows ``observed`` marks (where each series has a value), the last ``kept`` of each series."""
    scales: dict[str, dict[str, dict[str, Scale]]] = {"past": {}, "future": {}}
    history: dict[str, dict[str, tuple[float, ...]]] = {}
    for column, frame in frames.items():
        values = frame.to_numpy(dtype=float)[: len(training)]
        seen = np.where(training, values, np.nan)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a series without a value in its training rows
            means, deviations = np.nanmean(seen, axis=0), np.nanstd(seen, axis=0)
        per_series = {}
        for k, name in enumerate(names):
            mean = float(means[k]) if np.isfinite(means[k]) else 0.0
            deviation = float(deviations[k]) if np.isfinite(deviations[k]) and deviations[k] > 0 else 1.0
            per_series[name] = (mean, deviation)
        scales[kinds[column]][column] = per_series
        history[column] = {name: tuple(values[observed[:, k], k][-kept:].tolist()) for k, name in enumerate(names)}
    static = {}
    for column, given in statics.items():
        parsed = [_number(value) for value in given]
        if any(number is None for number in parsed):  # a category when any value is not a finite number
            static[column] = Static(
                tuple(sorted(set(map(str, given)))), (0.0, 1.0), {str(k): str(v) for k, v in given.items()}
            )
        else:
            numbers = np.array(parsed, dtype=float)
            deviation = float(numbers.std())
            static[column] = Static(
                None,
                (float(numbers.mean()), deviation if deviation > 0 else 1.0),
                {str(k): float(number) for k, number in zip(given.index, numbers, strict=True)},
            )
    return CovariateSpec(scales["past"], scales["future"], static, tuple(cycles), holidays, history)


def refuse_missing_future(
    spec: CovariateSpec,
    names: Sequence[str],
    frames: Mapping[str, pd.DataFrame],
    rows: np.ndarray,
    window: int,
    source: str,
) -> None:
    """A future-known column without a value for a step of the horizon is refused, naming it and the first such
    time."""
    for column in spec.future:
        frame = frames.get(column)
        for k, name in enumerate(names):
            horizon_times = list(rows[k, window:])
            found = (
                frame[name].reindex(horizon_times).to_numpy(dtype=float)
                if frame is not None
                else np.full(len(horizon_times), np.nan)
            )
            missing = np.flatnonzero(np.isnan(found))
            if missing.size:
                raise BadInput(
                    f"{source}: future covariate {column!r} has no value for series {name!r} at "
                    f"{time_text(horizon_times[int(missing[0])])}, a step of the horizon; give its values after the "
                    "last value, in the data's rows (--csv) or in --future FILE"
                )
