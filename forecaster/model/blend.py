"""What a forecast is made of, series by series: the network's forecast blended with Theta's, or the seasonal naive
forecast where the held-out windows showed it better (``Baseline``; a card keeps those series in
``fallback.baseline``).

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


@dataclass(frozen=True)
class Blend:
    """``weight`` of Theta's forecast, one minus it of the network's (chosen by :mod:`forecaster.training.blending`);
    ``theta`` the states at the series' ends (None: fitted on the histories a forecast is given)."""

    weight: float
    theta: Theta | None = None

    def mix(self, network: np.ndarray, theta: Theta) -> np.ndarray:
        """``network``'s (series, horizon) forecasts blended with those of ``theta``."""
        return blended(network, theta.forecast(network.shape[1]), self.weight)


def blended(network: np.ndarray, theta: np.ndarray, weight: float) -> np.ndarray:
    """The forecasts ``network`` and ``theta`` (the same shape) weighed ``1 - weight`` and ``weight``."""
    return (1 - weight) * network + weight * theta


@dataclass(frozen=True)
class Baseline:
    """Per series (in the table's order): whether its forecast falls back to the baseline, and the mean held-out
    errors (in each window's unit) of the model and the baseline it was decided by (NaN without held-out windows);
    ``together``: the series that decided together, on their pooled windows."""

    chosen: np.ndarray
    model_error: np.ndarray
    baseline_error: np.ndarray
    together: np.ndarray

    @classmethod
    def none(cls, series: int) -> Baseline:
        """No series falls back: no held-out windows to decide by, or ``--no-fallback``."""
        unknown = np.full(series, np.nan)
        return cls(np.zeros(series, dtype=bool), unknown, unknown, np.zeros(series, dtype=bool))


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
