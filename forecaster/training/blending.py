"""How much of the forecast the Theta method gives beside the network, and which series fall back to the seasonal
naive forecast: what the held-out windows choose.

Combining forecasts of different kinds is the most reliable gain the
forecasting competitions know (Makridakis et al., "The M4 Competition", 2020:
12 of the 17 most accurate methods were combinations; the winner, Smyl's
ES-RNN, a hybrid of exponential smoothing and a recurrent network). The
network and Theta err differently: the network reads the recent window and
what the series share, Theta the whole history of one series. One weight for
every series of a fit, the one with the least error on the validation
windows, so that a weight rests on every series' held-out values rather than
on one window of one series. The network's validation windows are already
held out from its training; Theta's smoothing parameter and drift are fitted
on the same training rows, its level smoothed up to each window's origin.

A forecast that its own validation shows worse than the simple answer is
not shipped: a series whose held-out windows the seasonal naive forecast
(naive without a season) does better falls back to it, judged on its own
windows where it has enough of them, else with the other such series on all
of theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecaster.model.blend import Baseline, blended, seasonal_naive
from forecaster.model.theta import Theta, fit, smoothed
from forecaster.training.windows import Windows

#: the weights of Theta's forecast tried; the network's is one minus it
WEIGHTS = np.linspace(0, 1, 11)


@dataclass(frozen=True)
class Choice:
    """The weight chosen, and the mean absolute errors (in units of each window's level) it was chosen by."""

    weight: float
    network_error: float
    theta_error: float
    blend_error: float

    def to_json(self) -> dict:
        return {
            "theta_weight": self.weight,
            "network_error": self.network_error,
            "theta_error": self.theta_error,
            "blend_error": self.blend_error,
        }


def theta_forecasts(windows: Windows, prepared: np.ndarray, training_rows: np.ndarray) -> np.ndarray:
    """(windows, horizon): Theta's forecast of each held-out window from its series' values up to the window's origin,
    its smoothing parameter and drift fitted on ``training_rows`` (rows, series) of ``prepared`` only."""
    trained = fit(np.where(training_rows, prepared, np.nan))
    origin, series = windows.first_target - 1, windows.series
    counts = np.cumsum(~np.isnan(prepared), axis=0)[origin, series]
    levels = smoothed(prepared, trained.alpha)[origin, series]
    return Theta(levels, trained.drift[series], trained.alpha[series], counts).forecast(windows.horizon)


def choose(network: np.ndarray, theta: np.ndarray, targets: np.ndarray, unit: np.ndarray) -> Choice:
    """The weight of ``theta`` (windows, horizon) beside ``network`` with the least mean absolute error against
    ``targets``, in ``unit`` (windows, 1); the smaller weight on a tie."""
    errors = [float(np.nanmean(np.abs(blended(network, theta, w) - targets) / unit)) for w in WEIGHTS]
    best = int(np.argmin(errors))
    return Choice(float(WEIGHTS[best]), errors[0], errors[-1], errors[best])


#: a series decides for itself whether to fall back from at least this many held-out windows; series with fewer
#: decide together, on all their windows (one window of one series is too little to judge by)
OWN_WINDOWS = 10


def seasonal_naive_forecasts(windows: Windows, prepared: np.ndarray, season: int) -> np.ndarray:
    """(windows, horizon): the seasonal naive forecast (naive for a season of 1, or less than a season before the
    origin) of each held-out window, in the network's units (see forecaster.model.blend)."""
    rows = windows.first_target[:, None] - season + np.arange(season)
    recent = np.where(rows >= 0, prepared[np.maximum(rows, 0), windows.series[:, None]], np.nan)
    return seasonal_naive(recent, season, windows.horizon)


def fall_back(
    model: np.ndarray, baseline: np.ndarray, targets: np.ndarray, unit: np.ndarray, series: np.ndarray, count: int
) -> Baseline:
    """Which of ``count`` series the baseline forecasts better than the model on the held-out windows (``series``
    names each window's): each series with OWN_WINDOWS windows or more by its own, the others together."""
    windows = np.bincount(series, minlength=count)
    per_series = [
        np.bincount(series, np.mean(np.abs(forecast - targets) / unit, axis=1), minlength=count)
        for forecast in (model, baseline)
    ]
    with np.errstate(invalid="ignore", divide="ignore"):
        model_error, baseline_error = (total / windows for total in per_series)
    together = (windows > 0) & (windows < OWN_WINDOWS)
    pooled_worse = per_series[1][together].sum() < per_series[0][together].sum()
    chosen = np.where(together, pooled_worse, baseline_error < model_error) & (windows > 0)
    return Baseline(chosen, model_error, baseline_error, together)
