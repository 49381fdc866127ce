"""The Theta method, the network's companion in a forecast: simple exponential smoothing plus half the linear trend.

The M3 competition's best method (Assimakopoulos & Nikolopoulos, 2000), in
the form Hyndman & Billah (2003) showed it to be: exponential smoothing with
a drift of half the slope of the series' least-squares line,

    forecast(h) = level + drift * (h - 1 + 1/alpha - (1 - alpha)^n / alpha)

for a series of n values smoothed with ``alpha`` (chosen by the squared
one-step errors, as the M3 code does). It runs on values as the network reads
them, deseasonalised by the same classical decomposition and scaled
(:mod:`forecaster.model.preparation`): every step of that preparation is
linear in the forecast, so a blend of the two forecasts in the network's units
is the same blend in the data's.

Pure numpy, a column a series (NaN where a series has no value), so that
predict, backtests and fits share it without torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: the smoothing parameters tried, each on every series at once
ALPHAS = np.linspace(0.02, 0.98, 49)
THETA_FIELDS = ("level", "drift", "alpha", "count")


@dataclass(frozen=True, eq=False)
class Theta:
    """Per series (arrays of one value a series): the state a forecast starts from."""

    level: np.ndarray  #: the smoothed level after the last value
    drift: np.ndarray  #: half the slope of the least-squares line, per step
    alpha: np.ndarray
    count: np.ndarray  #: the values smoothed

    def forecast(self, horizon: int) -> np.ndarray:
        """(series, horizon) forecasts."""
        steps = np.arange(horizon)[None, :]
        alpha, count = self.alpha[:, None], self.count[:, None]
        return self.level[:, None] + self.drift[:, None] * (steps + (1 - (1 - alpha) ** count) / alpha)

    def __eq__(self, other: object) -> bool:
        """The same states, series by series (arrays compare element by element otherwise)."""
        if not isinstance(other, Theta):
            return NotImplemented
        return all(np.array_equal(getattr(self, name), getattr(other, name)) for name in THETA_FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside

    def row(self, k: int) -> tuple[float, float, float, int]:
        """Series ``k``'s state as plain numbers, for model.json."""
        return float(self.level[k]), float(self.drift[k]), float(self.alpha[k]), int(self.count[k])

    @classmethod
    def of_rows(cls, rows: list[tuple[float, float, float, int]]) -> Theta:
        level, drift, alpha, count = (np.array(column, dtype=float) for column in zip(*rows, strict=True))
        return cls(level, drift, alpha, count.astype(np.int64))


def fit(values: np.ndarray) -> Theta:
    """The state of each column of ``values`` (rows, series) after its last value; NaN rows are skipped.

    A column without values gets a level of NaN (its forecast is NaN).
    """
    observed = ~np.isnan(values)
    count = observed.sum(axis=0)
    errors, levels = _smoothed_with_every_alpha(values, observed)
    best = np.argmin(errors, axis=1)
    level = levels[np.arange(len(best)), best]
    return Theta(level, _half_slope(values, observed, count), ALPHAS[best], count)


def smoothed(values: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(rows, series): each series' level after each row, smoothed with its ``alpha`` from its first value; NaN before
    it."""
    levels = np.full_like(values, np.nan)
    level = np.full(values.shape[1], np.nan)
    for row, current in enumerate(values):
        seen = ~np.isnan(current)
        level = np.where(seen, np.where(np.isnan(level), current, level + alpha * (current - level)), level)
        levels[row] = level
    return levels


def at_rows(values: np.ndarray, model: Theta, rows: np.ndarray, series: np.ndarray) -> Theta:
    """The states of ``model``'s series after ``rows`` of ``values`` (rows, series; NaN where a series has no value),
    smoothed with its parameter, its drift kept: one per (row, series) pair of ``rows`` and ``series``."""
    counts = np.cumsum(~np.isnan(values), axis=0)[rows, series]
    levels = smoothed(values, model.alpha)[rows, series]
    return Theta(levels, model.drift[series], model.alpha[series], counts)


def _smoothed_with_every_alpha(values: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(series, len(ALPHAS)) twice, from one pass over the rows: the sum of squared one-step errors of each series
    smoothed with each alpha, in units of the series' largest value (the same choice, and no overflow for values
    near 1e300), and the level each alpha leaves after the last value, in the values' own units."""
    with np.errstate(all="ignore"):
        largest = np.nanmax(np.where(observed, np.abs(values), 0), axis=0, initial=0)
    unit = np.where(np.isfinite(largest) & (largest > 0), largest, 1)
    values = values / unit
    level = np.full((values.shape[1], len(ALPHAS)), np.nan)
    total = np.zeros_like(level)
    for current, seen in zip(values, observed, strict=True):
        error = np.where(seen[:, None] & ~np.isnan(level), current[:, None] - level, 0.0)
        total += error * error
        level = np.where(seen[:, None], np.where(np.isnan(level), current[:, None], level + ALPHAS * error), level)
    return total, level * unit[:, None]


def _half_slope(values: np.ndarray, observed: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Half the slope of each column's least-squares line through its values against their rows; 0 for fewer than
    two."""
    rows = np.where(observed, np.arange(len(values))[:, None], 0).astype(float)
    filled = np.where(observed, values, 0.0)
    n = np.maximum(count, 1)
    mean_row, mean_value = rows.sum(axis=0) / n, filled.sum(axis=0) / n
    centred = np.where(observed, rows - mean_row, 0.0)
    spread = (centred * centred).sum(axis=0)
    slope = (centred * (filled - mean_value)).sum(axis=0) / np.where(spread > 0, spread, 1)
    return np.where(spread > 0, slope / 2, 0.0)


#: how far the values before a series' saved history may lie from 0, in scale units or in units of the history's own
#: size where that is larger: a fit's scalers put a series' values within a few units (ratios' within 1), so a
#: thousand is far beyond what one writes, and a level beyond it was not smoothed from the series
EARLIER_SPAN = 1e3


def implausible(state: tuple[float, float, float, int], recent: np.ndarray, values: int) -> tuple[int, str] | None:
    """Which field of a series' saved ``state`` (level, drift, alpha, count) no fit could have written, and why; None
    when each could. ``recent``: its last values as the network reads them (prepared), ``values``: how many it has.

    A fit smooths every value of the series (the count is all of them) with
    one of :data:`ALPHAS`, so the level is a weighted mean of its values:
    ``1 - (1 - alpha)^k`` of its weight on the ``k`` recent ones, the rest on
    earlier ones, which lie within :data:`EARLIER_SPAN`. The drift is half a
    least-squares slope, which values that far apart bound, the more
    tightly the more of them there are.
    """
    level, drift, alpha, count = state
    if count != values:
        return 3, f"{count} is not the {values} values the series has (training.series_rows), which a fit smooths"
    if not ALPHAS[0] - 1e-9 <= alpha <= ALPHAS[-1] + 1e-9:
        return 2, f"{alpha} is not a smoothing parameter a fit chooses: from {ALPHAS[0]:g} to {ALPHAS[-1]:g}"
    span = EARLIER_SPAN * max(1.0, float(np.abs(recent).max()))
    rest = (1 - alpha) ** len(recent)  # the weight of the values before the recent ones
    low, high = float(recent.min()), float(recent.max())
    slack = (high - low) + 1e-9 * span  # a recent value's seasonal position may be counted a step apart
    lowest, highest = (1 - rest) * low - rest * span - slack, (1 - rest) * high + rest * span + slack
    if not lowest <= level <= highest:
        return 0, (
            f"{level:g} is not a level smoothed from this series, whose recent values are {low:.4g} to {high:.4g} as "
            f"the network reads them: with alpha {alpha:g}, its level lies within {lowest:.4g} to {highest:.4g}"
        )
    steepest = span * math.sqrt(3 / (count * count - 1)) if count > 1 else 0.0
    if abs(drift) > steepest:
        return 1, (
            f"{drift:g} is not half the slope of {count} values within {span:g} of 0: at most {steepest:.4g} per step"
        )
    return None
