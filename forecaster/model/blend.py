"""What a forecast is made of, series by series: the network's forecast blended with Theta's and exponential
smoothing's (:mod:`forecaster.model.ets`), or the seasonal naive forecast where the held-out values showed it better
(``Baseline``; a card keeps those series in ``fallback.baseline``).

Everything here works in the network's units (each series deseasonalised
and scaled by its preparation), where every step of the preparation is
linear in the forecast: a blend there is the same blend in the data's units,
and the seasonal naive forecast is the last season's prepared values
repeated (a value and the one a season later share their seasonal index).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecaster.model.ets import Ets
from forecaster.model.theta import Theta


def baseline_name(season: int) -> str:
    """The baseline a series falls back to, in words."""
    return "seasonal naive" if season > 1 else "naive"


@dataclass(frozen=True)
class Blend:
    """``weight`` of Theta's forecast and ``ets_weight`` of exponential smoothing's, the rest the network's (chosen by
    :mod:`forecaster.training.blending`); ``theta`` and ``ets`` the states at the series' ends (None: fitted on the
    histories a forecast is given; exponential smoothing's parameters are always the fit's, its states smoothed anew
    where ``anew``)."""

    weight: float
    theta: Theta | None = None
    ets_weight: float = 0.0
    ets: Ets | None = None
    anew: bool = False  #: the partners' states fitted on the histories a forecast is given, not these

    def mix(self, network: np.ndarray, theta: Theta | None, ets: Ets | None) -> np.ndarray:
        """``network``'s (series, horizon) forecasts blended with those of ``theta`` and ``ets`` (each None where its
        weight is 0)."""
        used = [(weight, model) for weight, model in ((self.weight, theta), (self.ets_weight, ets)) if weight]
        return blended(
            network,
            [model.forecast(network.shape[1]) for _, model in used],  # type: ignore[union-attr]  # weighed: present
            [weight for weight, _ in used],
        )

    def for_histories(self) -> Blend:
        """The same weights, the states to be fitted on the histories a forecast is given (exponential smoothing's with
        the fit's parameters)."""
        return Blend(self.weight, None, self.ets_weight, self.ets, anew=True)


def blended(network: np.ndarray, partners: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """The forecasts ``network`` and ``partners`` (each the same shape) weighed one minus the ``weights``' sum and
    ``weights``."""
    mixed = (1 - sum(weights)) * network
    for partner, weight in zip(partners, weights, strict=True):
        mixed = mixed + weight * partner
    return mixed


@dataclass(frozen=True)
class Baseline:
    """Per series (in the table's order): whether its forecast falls back to the baseline, and the mean held-out
    errors (in each window's unit) of the model and the baseline it was decided by (NaN without held-out windows);
    ``together``: the series that decided together, on their pooled values; ``values``: each series' held-out values,
    every one forecast from each origin that reaches it."""

    chosen: np.ndarray
    model_error: np.ndarray
    baseline_error: np.ndarray
    together: np.ndarray
    values: np.ndarray

    def evidence(self) -> dict[str, int]:
        """How many series decided alone and together, and on how many held-out values."""
        alone = ~self.together & (self.values > 0)
        return {
            "alone": int(alone.sum()),
            "together": int(self.together.sum()),
            "alone_values": int(self.values[alone].sum()),
            "together_values": int(self.values[self.together].sum()),
        }

    @classmethod
    def none(cls, series: int) -> Baseline:
        """No series falls back: no held-out windows to decide by, or ``--no-fallback``."""
        unknown = np.full(series, np.nan)
        return cls(np.zeros(series, dtype=bool), unknown, unknown, np.zeros(series, dtype=bool), np.zeros(series, int))


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
