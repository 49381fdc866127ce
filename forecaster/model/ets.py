"""Exponential smoothing with a trend that may be damped, each series' form chosen as AutoETS chooses it: Theta's
partner beside the network, where steady trends need more than Theta's straight line.

Holt's linear trend damped by Gardner & McKenzie (1985), in the error form of
Hyndman et al., "Forecasting with Exponential Smoothing" (2008), 2.3:

    level[t] = level[t-1] + phi * trend[t-1] + alpha * error[t]
    trend[t] = phi * trend[t-1] + beta * error[t]
    forecast(h) = level + (phi + phi^2 + ... + phi^h) * trend

Each series takes the form (no trend, a trend, a damped trend) and smoothing
parameters of the grid below with the least AICc of its one-step errors, as
AutoETS selects among models (Hyndman & Khandakar, 2008): the damped trend,
the steadiest performer of the M3 competition's series without a season,
wins where the data bear out its extra parameter. It runs, like Theta, on
values as the network reads them, deseasonalised and scaled (see
forecaster.model.theta), so a blend in those units is the same blend in the
data's. Pure numpy, a column a series (NaN where it has no value).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

#: the smoothing parameters tried: the level's, the trend's as a share of the level's, and the damping
ALPHAS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
BETA_SHARES = (0.02, 0.1, 0.3)
PHIS = (0.8, 0.9, 0.95, 0.98)
ETS_FIELDS = ("level", "trend", "alpha", "beta", "phi")


def _grid() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The candidates' alpha, beta, phi and parameter count (AICc's k: the smoothing parameters and initial states):
    no trend, a linear trend, a damped one."""
    rows = [(alpha, 0.0, 0.0, 2) for alpha in ALPHAS]
    rows += [(alpha, alpha * share, 1.0, 4) for alpha, share in itertools.product(ALPHAS, BETA_SHARES)]
    rows += [(a, a * s, phi, 5) for a, s, phi in itertools.product(ALPHAS, BETA_SHARES, PHIS)]
    return tuple(np.array(column, dtype=float) for column in zip(*rows, strict=True))  # type: ignore[return-value]


ALPHA, BETA, PHI, PARAMETERS = _grid()
#: the first values that set a trend's initial slope (their mean step)
INITIAL_STEPS = 4


@dataclass(frozen=True, eq=False)
class Ets:
    """Per series (arrays of one value a series): the state a forecast starts from."""

    level: np.ndarray
    trend: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    phi: np.ndarray  #: 1: an undamped trend; 0: none

    def forecast(self, horizon: int) -> np.ndarray:
        """(series, horizon) forecasts."""
        damping = np.cumsum(self.phi[:, None] ** np.arange(1, horizon + 1)[None, :], axis=1)
        return self.level[:, None] + damping * self.trend[:, None]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ets):
            return NotImplemented
        return all(np.array_equal(getattr(self, name), getattr(other, name)) for name in ETS_FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside

    def row(self, k: int) -> tuple[float, float, float, float, float]:
        """Series ``k``'s state and parameters as plain numbers, for model.json."""
        return tuple(float(getattr(self, name)[k]) for name in ETS_FIELDS)  # type: ignore[return-value]

    @classmethod
    def of_rows(cls, rows: list[tuple[float, float, float, float, float]]) -> Ets:
        return cls(*(np.array(column, dtype=float) for column in zip(*rows, strict=True)))

    def refiltered(self, values: np.ndarray) -> Ets:
        """The state after the last value of each column of ``values`` (rows, series; a history a forecast is given),
        smoothed from its first value with these parameters."""
        level, trend = _filtered(values, self.alpha[:, None], self.beta[:, None], self.phi[:, None])[:2]
        return Ets(level[:, 0], trend[:, 0], self.alpha, self.beta, self.phi)


@dataclass(frozen=True)
class Form:
    """Each series' chosen candidate (an index into the grid): its smoothing parameters."""

    chosen: np.ndarray

    @property
    def alpha(self) -> np.ndarray:
        return ALPHA[self.chosen]

    @property
    def beta(self) -> np.ndarray:
        return BETA[self.chosen]

    @property
    def phi(self) -> np.ndarray:
        return PHI[self.chosen]


def choose(values: np.ndarray) -> Form:
    """Each column's form and parameters with the least AICc of its one-step errors over ``values`` (rows, series)."""
    sse, count = _filtered(values, ALPHA[None, :], BETA[None, :], PHI[None, :])[2:]
    n = np.maximum(count - 1, 1)[:, None].astype(float)  # one-step errors: every value but the first
    k = PARAMETERS[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        aicc = (
            n * np.log(np.maximum(sse / n, 1e-300))
            + 2 * k
            + np.where(n - k - 1 > 0, 2 * k * (k + 1) / (n - k - 1), np.inf)
        )
    aicc = np.where(np.isfinite(aicc), aicc, np.inf)
    aicc[:, PARAMETERS > 2] += np.where(n < 8, np.inf, 0)  # a trend needs a few values to be told from noise
    return Form(np.argmin(aicc, axis=1))


def fit(values: np.ndarray, form: Form | None = None) -> Ets:
    """The state of each column of ``values`` (rows, series) after its last value, in its chosen ``form`` (chosen on
    these values when None); NaN rows are skipped, a column without values gets a NaN level."""
    form = choose(values) if form is None else form
    level, trend = _filtered(values, form.alpha[:, None], form.beta[:, None], form.phi[:, None])[:2]
    return Ets(level[:, 0], trend[:, 0], form.alpha, form.beta, form.phi)


def states(values: np.ndarray, alpha: np.ndarray, beta: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, series) twice: each series' level and trend after each row, smoothed with its ``alpha``, ``beta`` and
    ``phi``; NaN before its first value."""
    rows, series = values.shape
    levels, trends = np.full((rows, series), np.nan), np.full((rows, series), np.nan)
    _filtered(values, alpha[:, None], beta[:, None], phi[:, None], levels, trends)
    return levels, trends


def at_rows(values: np.ndarray, model: Ets, rows: np.ndarray, series: np.ndarray) -> Ets:
    """The states of ``model``'s series after ``rows`` of ``values`` (rows, series; NaN where a series has no value),
    smoothed with its parameters: one per (row, series) pair of ``rows`` and ``series``."""
    levels, trends = states(values, model.alpha, model.beta, model.phi)
    return Ets(levels[rows, series], trends[rows, series], model.alpha[series], model.beta[series], model.phi[series])


def _filtered(
    values: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    phi: np.ndarray,
    levels: np.ndarray | None = None,
    trends: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One pass over the rows with candidates ``alpha``, ``beta``, ``phi`` ((1 or series, candidates) each): the level
    and trend after the last value, the sum of squared one-step errors (series, candidates), in units of each series'
    largest value, and the values counted; ``levels`` and ``trends`` (rows, series), when given, receive the first
    candidate's states after each row.

    A series starts at its first value, its trend at the mean step of its first INITIAL_STEPS + 1 values."""
    observed = ~np.isnan(values)
    count = observed.sum(axis=0)
    with np.errstate(all="ignore"):
        largest = np.nanmax(np.where(observed, np.abs(values), 0), axis=0, initial=0)
    unit = np.where(np.isfinite(largest) & (largest > 0), largest, 1)
    scaled = values / unit
    shape = (values.shape[1], max(alpha.shape[1], 1))
    start = _initial_trend(scaled, observed)[:, None] * (phi > 0)
    level, trend = np.full(shape, np.nan), np.zeros(shape)
    total = np.zeros(shape)
    for row, (current, seen) in enumerate(zip(scaled, observed, strict=True)):
        started = ~np.isnan(level)
        predicted = level + phi * trend
        error = np.where(seen[:, None] & started, current[:, None] - predicted, 0.0)
        total += error * error
        new_level = np.where(started, predicted + alpha * error, current[:, None])
        new_trend = np.where(started, phi * trend + beta * error, start)
        level = np.where(seen[:, None], new_level, level)
        trend = np.where(seen[:, None], new_trend, trend)
        if levels is not None and trends is not None:
            levels[row], trends[row] = level[:, 0] * unit, trend[:, 0] * unit
    return level * unit[:, None], trend * unit[:, None], total, count


def _initial_trend(values: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Each column's mean step over its first INITIAL_STEPS + 1 values (0 with fewer than two)."""
    rank = np.cumsum(observed, axis=0)
    first = np.where(observed & (rank == 1), values, 0.0).sum(axis=0)
    last_rank = np.minimum(observed.sum(axis=0), INITIAL_STEPS + 1)
    last = np.where(observed & (rank == last_rank[None, :]), values, 0.0).sum(axis=0)
    return np.where(last_rank > 1, (last - first) / np.maximum(last_rank - 1, 1), 0.0)


#: how far a saved level or trend may lie from 0, in units of the series' recent values as the network reads them (at
#: least 1): as for Theta's states (forecaster.model.theta.EARLIER_SPAN), far beyond what smoothing this series writes
STATE_SPAN = 1e3


def implausible(state: tuple[float, ...], recent: np.ndarray) -> tuple[int, str] | None:
    """Which field of a series' saved ``state`` (level, trend, alpha, beta, phi) no fit could have written, and why;
    None when each could. ``recent``: its last values as the network reads them (prepared)."""
    level, trend, alpha, beta, phi = state
    if not min(ALPHAS) - 1e-9 <= alpha <= max(ALPHAS) + 1e-9:
        return 2, f"{alpha} is not a smoothing parameter a fit chooses: from {min(ALPHAS):g} to {max(ALPHAS):g}"
    if not 0 <= beta <= alpha:
        return 3, f"{beta} is not a trend's smoothing parameter a fit chooses: from 0 to the level's, {alpha:g}"
    if not 0 <= phi <= 1:
        return 4, f"{phi} is not a damping a fit chooses: from 0 (no trend) to 1 (an undamped trend)"
    span = STATE_SPAN * max(1.0, float(np.abs(recent).max()))
    if abs(level) > span:
        return 0, f"{level:g} is not a level smoothed from this series: beyond {span:g}, far from its recent values"
    if abs(trend) > span / max(len(recent), 1) or (phi == 0 and trend != 0):
        return 1, f"{trend:g} is not a trend smoothed from this series: at most {span / max(len(recent), 1):.4g} a step"
    return None
