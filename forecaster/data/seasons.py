"""Seasons: how long a frequency's natural cycle is, where each timestamp falls in it, and the seasonal indices
removed before the network reads a series and restored after it forecasts.

Classical decomposition as the M3 and M4 competitions' Theta and Naive2 use it
(Assimakopoulos & Nikolopoulos, 2000; Makridakis et al., 2020, the M4 code):
a series is deseasonalised only when its autocorrelation at lag m passes a 90%
test, and then by the mean ratio (or difference) of each position in the
season to a centred moving average. A series with zero or negative values is
decomposed additively, any other multiplicatively.

Pure numpy and pandas: predict restores seasons without torch's help.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import SupportsInt

import numpy as np
import pandas as pd

#: the 90% one-sided normal quantile of the autocorrelation test
TEST_QUANTILE = 1.645
#: a series shorter than this many seasons is not tested: too few cycles to tell a season from noise
MIN_SEASONS_TESTED = 3
#: seconds in a day: sub-daily data repeats daily
DAY = 86_400


def natural_season(time_kind: str, frequency: str | None) -> int:
    """The number of steps in the cycle a frequency repeats: a day for hourly and finer data
    (24 hourly, 48 half-hourly), a week for daily data (7, or 5 trading days), a year for weekly (52), monthly (12)
    and quarterly (4) data; 1 (no season) for yearly data, integer time and multiples that do not divide the cycle.
    """
    if time_kind != "datetime" or not frequency:
        return 1
    offset = pd.tseries.frequencies.to_offset(frequency)
    n = offset.n
    if isinstance(offset, pd.offsets.Tick):
        seconds = offset.nanos / 1e9
        per_day = DAY / seconds
        return int(per_day) if per_day > 1 and per_day == int(per_day) else 1
    cycles = {pd.offsets.Day: 7, pd.offsets.BusinessDay: 5, pd.offsets.Week: 52}
    for kind, cycle in cycles.items():
        if isinstance(offset, kind):
            return _divided(cycle, n)
    months = _months_per_step(offset)
    return _divided(12, months) if months else 1


def _divided(cycle: int, step: int) -> int:
    return cycle // step if cycle % step == 0 and cycle // step > 1 else 1


def _months_per_step(offset: pd.offsets.BaseOffset) -> int | None:
    """Calendar months a step of ``offset`` spans (1 monthly, 3 quarterly, 12 yearly, times its multiple); else None."""
    names = {"Month": 1, "Quarter": 3, "Year": 12}
    kind = type(offset).__name__
    for name, months in names.items():
        if name in kind and "Semi" not in kind:
            return months * offset.n
    return None


def steps_between(time_kind: str, frequency: str | None, start: object, times: pd.Index | list) -> np.ndarray:
    """How many steps of the frequency each of ``times`` lies after ``start`` (negative before it).

    Counted on the calendar, not on rows: trading days count the weekdays
    between two dates, months the calendar months, so that a row missing
    (a holiday) does not shift where later rows fall in their season.
    """
    if time_kind != "datetime":
        step = int(frequency or 1)
        assert isinstance(start, SupportsInt)  # an integer axis starts at an integer step
        return (np.asarray(times, dtype=np.int64) - int(start)) // step
    index, start = _naive(pd.DatetimeIndex(times)), _naive(pd.DatetimeIndex([start]))[0]
    if not frequency:  # a single timestamp: nothing to count by
        return np.zeros(len(index), dtype=np.int64)
    offset = pd.tseries.frequencies.to_offset(frequency)
    if isinstance(offset, pd.offsets.BusinessDay):
        days = np.busday_count(np.datetime64(start.date()), index.normalize().to_numpy().astype("datetime64[D]"))
        return days // offset.n
    months = _months_per_step(offset)
    if months:
        return np.asarray((index.year - start.year) * 12 + (index.month - start.month), dtype=np.int64) // months
    if isinstance(offset, pd.offsets.Tick):
        length = offset.nanos
    else:  # days and weeks: whole days, so that a change to or from daylight saving time does not shift them
        length = (7 if isinstance(offset, pd.offsets.Week) else 1) * offset.n * DAY_NANOS
        index, start = index.normalize(), start.normalize()
    return _whole_steps(index - start, length)


DAY_NANOS = 24 * 3600 * 10**9


def _whole_steps(elapsed: pd.TimedeltaIndex, length: int) -> np.ndarray:
    """``elapsed`` in steps of ``length`` nanoseconds, to the nearest whole step, counted in the times' own unit:
    divided by a Timedelta of nanoseconds, times of seconds or microseconds (which a model.json's times read as) were
    cast to nanoseconds, which wrap past 292 years."""
    steps = np.round(elapsed.asi8 / (length / pd.Timedelta(1, elapsed.unit).value))
    if not np.all(np.abs(steps) < 2**63):
        raise OverflowError("more steps than 64 bits count")
    return steps.astype(np.int64)


#: the most steps of its frequency a time axis may span per row: rows that fill less than 1% of the steps between the
#: first and the last are not a series at that frequency (a fit refuses them; model.json's time axis is read within it)
MAX_STEPS_PER_ROW = 100


def sparse_axis(time_kind: str, frequency: str | None, first: object, last: object, rows: int) -> str | None:
    """Why ``rows`` rows from ``first`` to ``last`` are too few for steps of ``frequency``, in words; None when they
    fill at least one step in :data:`MAX_STEPS_PER_ROW`."""
    if frequency is None:
        return None
    try:
        steps = int(steps_between(time_kind, frequency, first, [last])[0]) + 1
    except (OverflowError, ValueError):  # more nanoseconds than 64 bits count
        steps = None
    if steps is not None and steps <= MAX_STEPS_PER_ROW * rows:
        return None
    spanned = f"{steps:,} steps" if steps is not None else "more steps than can be counted"
    return (
        f"{rows:,} rows span {spanned} of {frequency}: fewer than one row in {MAX_STEPS_PER_ROW} steps is not a series "
        "at that frequency"
    )


def _naive(times: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Times with an offset as the wall-clock times they name: steps are counted on the local calendar."""
    return times.tz_localize(None) if times.tz is not None else times


def is_seasonal(values: np.ndarray, season: int) -> bool:
    """The 90% autocorrelation test at lag ``season``, with Bartlett's standard error of the lags below it."""
    if season < 2 or len(values) < MIN_SEASONS_TESTED * season:
        return False
    largest = float(np.max(np.abs(values)))
    if not 0 < largest < np.inf:
        return False
    values = values / largest  # the same correlations, without overflow for values near 1e300
    centred = values - values.mean()
    denominator = float(centred @ centred)
    if denominator == 0:
        return False
    acf = np.array([float(centred[lag:] @ centred[: len(centred) - lag]) / denominator for lag in range(1, season + 1)])
    limit = TEST_QUANTILE * math.sqrt((1 + 2 * float(np.sum(acf[:-1] ** 2))) / len(values))
    return abs(acf[-1]) > limit


@dataclass(frozen=True)
class Season:
    """One series' seasonal indices, by position in the season (position 0: the model's first timestamp)."""

    kind: str  #: "multiplicative" (values divided by the index) or "additive" (the index subtracted)
    indices: tuple[float, ...]

    def remove(self, values: np.ndarray, positions: np.ndarray) -> np.ndarray:
        index = np.asarray(self.indices)[positions % len(self.indices)]
        return values / index if self.kind == "multiplicative" else values - index

    def restore(self, values: np.ndarray, positions: np.ndarray) -> np.ndarray:
        index = np.asarray(self.indices)[positions % len(self.indices)]
        return values * index if self.kind == "multiplicative" else values + index

    def to_json(self) -> dict:
        return {"kind": self.kind, "indices": list(self.indices)}


def decompose(
    values: np.ndarray, positions: np.ndarray, season: int, multiplicative: bool | None = None
) -> Season | None:
    """The seasonal indices of one series' values (no gaps) at steps ``positions``; None when it has no season.

    Multiplicative when asked, or by default when every value is positive; additive otherwise.
    """
    if not is_seasonal(values, season):
        return None
    multiplicative = bool((values > 0).all()) if multiplicative is None else multiplicative
    trend = _centred_moving_average(values, season)
    detrended = values / trend if multiplicative else values - trend
    phases = positions % season
    known = ~np.isnan(detrended)
    indices = np.array([detrended[known & (phases == phase)].mean() for phase in range(season)])
    indices = indices / indices.mean() if multiplicative else indices - indices.mean()
    if not np.isfinite(indices).all() or (multiplicative and (indices <= 0).any()):
        return None
    return Season("multiplicative" if multiplicative else "additive", tuple(float(index) for index in indices))


def _centred_moving_average(values: np.ndarray, season: int) -> np.ndarray:
    """The mean of the season around each value (a 2 x m average for an even m), NaN where it does not fit."""
    weights = np.ones(season + 1 - season % 2)
    if season % 2 == 0:
        weights[0] = weights[-1] = 0.5
    weights /= season
    averaged = np.convolve(values, weights, mode="valid")
    half = len(weights) // 2
    return np.concatenate([np.full(half, np.nan), averaged, np.full(half, np.nan)])
