"""How much of the forecast the Theta method gives beside the network: the weight the held-out windows choose.

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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    errors = [float(np.mean(np.abs((1 - w) * network + w * theta - targets) / unit)) for w in WEIGHTS]
    best = int(np.argmin(errors))
    return Choice(float(WEIGHTS[best]), errors[0], errors[-1], errors[best])
