"""What a forecast is made of, series by series: the network's forecast blended with Theta's, or the seasonal naive
forecast where the held-out windows showed it better.

Everything here works in the network's units (each series deseasonalised
and scaled by its preparation), where every step of the preparation is
linear in the forecast: a blend there is the same blend in the data's units,
and the seasonal naive forecast is the last season's prepared values
repeated (a value and the one a season later share their seasonal index).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecaster.model.theta import Theta


def baseline_name(season: int) -> str:
    """The baseline a series falls back to, in words."""
    return "seasonal naive" if season > 1 else "naive"


@dataclass(frozen=True, eq=False)
class Blend:
    """``weight`` of Theta's forecast, one minus it of the network's (chosen by :mod:`forecaster.training.blending`);
    ``theta`` the states at the series' ends (None: fitted on the histories a forecast is given); ``baseline`` per
    series, True where the forecast is the (seasonal) naive one instead, because the held-out windows showed it
    better (None: no series)."""

    weight: float
    theta: Theta | None = None
    baseline: np.ndarray | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Blend):
            return NotImplemented
        series = max(len(self.falls_back(0)), len(other.falls_back(0)))  # no baseline: none of them falls back
        return (
            self.weight == other.weight
            and self.theta == other.theta
            and np.array_equal(self.falls_back(series), other.falls_back(series))
        )

    __hash__ = None  # type: ignore[assignment]  # arrays inside

    def falls_back(self, series: int) -> np.ndarray:
        """Per series, whether its forecast is the baseline's; ``series`` is their count when no series does."""
        return np.zeros(series, dtype=bool) if self.baseline is None else self.baseline

    def select(self, rows: np.ndarray) -> Blend:
        """The blend of the series ``rows`` picks (positions), Theta fitted anew on the histories it is given."""
        return Blend(self.weight, None, None if self.baseline is None else self.baseline[rows])

    def mix(self, network: np.ndarray, theta: Theta) -> np.ndarray:
        """``network``'s (series, horizon) forecasts blended with those of ``theta``."""
        return (1 - self.weight) * network + self.weight * theta.forecast(network.shape[1])


@dataclass(frozen=True)
class Baseline:
    """Per series (in the table's order): whether its forecast falls back to the baseline, and the mean held-out
    errors (in each window's unit) of the model and the baseline it was decided by (NaN without held-out windows);
    ``together``: the series that decided together, on their pooled windows."""

    chosen: np.ndarray
    model_error: np.ndarray
    baseline_error: np.ndarray
    together: np.ndarray


def seasonal_naive(recent: np.ndarray, season: int, horizon: int) -> np.ndarray:
    """(series, horizon): each row of ``recent`` (series, at least ``season`` values, the last on the right; NaN where a
    short series has none) forecast by its last season repeated, or by its last value where it has less than a season
    or ``season`` is 1."""
    if recent.shape[1] < season:  # no history holds a season
        return np.repeat(recent[:, -1:], horizon, axis=1)
    last_season = recent[:, -season:]
    tiled = last_season[:, np.arange(horizon) % season]
    last = recent[:, -1:]
    short = np.isnan(last_season).any(axis=1)
    return np.where(short[:, None], np.repeat(last, horizon, axis=1), tiled)
