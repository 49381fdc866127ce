"""How much of the forecast Theta and exponential smoothing give beside the network, and which series fall back to the
seasonal naive forecast: what the held-out values choose.

Combining forecasts of different kinds is the most reliable gain the
forecasting competitions know (Makridakis et al., "The M4 Competition", 2020:
12 of the 17 most accurate methods were combinations; the winner, Smyl's
ES-RNN, a hybrid of exponential smoothing and a recurrent network). The
network and its partners err differently: the network reads the recent
window and what the series share, Theta and exponential smoothing the whole
history of one series, Theta with a straight trend line, exponential
smoothing with a trend that may be damped (forecaster.model.ets), which
steady series without a season favour. One pair of weights for every series
of a fit, the one with the least error on the validation windows, so that a
weight rests on every series' held-out values rather than on one window of
one series. The partners' parameters are fitted on the training rows, their
states smoothed up to each window's origin.

A forecast that its own held-out values show worse than the simple answer is
not shipped: a series whose held-out values the seasonal naive forecast
(naive without a season) does better falls back to it, judged on its own
validation windows where it holds out OWN_HORIZONS horizons or more (as many
origins whose forecasts share no value), else with the other such series on
all of theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecaster.model import ets
from forecaster.model.blend import Baseline, blended, seasonal_naive
from forecaster.model.theta import at_rows, fit
from forecaster.training.windows import Windows

#: the weights of each partner's forecast tried, in tenths, summing to at most 1; the network's is one minus their sum
TENTHS = np.round(np.linspace(0, 1, 11), 1)
WEIGHTS = [
    (float(theta), float(smoothing)) for theta in TENTHS for smoothing in TENTHS if theta + smoothing <= 1 + 1e-9
]


@dataclass(frozen=True)
class Choice:
    """The weights chosen, the mean absolute errors (in units of each window's level) they were chosen by, and how
    much evidence: the windows (origins) and the forecast values they were judged on."""

    weight: float  #: Theta's
    ets_weight: float  #: exponential smoothing's
    network_error: float
    theta_error: float
    ets_error: float
    blend_error: float
    windows: int
    values: int

    def to_json(self) -> dict:
        return {
            "theta_weight": self.weight,
            "ets_weight": self.ets_weight,
            "network_error": self.network_error,
            "theta_error": self.theta_error,
            "ets_error": self.ets_error,
            "blend_error": self.blend_error,
            "windows": self.windows,
            "values": self.values,
        }

    def mix(self, network: np.ndarray, theta: np.ndarray, smoothing: np.ndarray) -> np.ndarray:
        return blended(network, [theta, smoothing], [self.weight, self.ets_weight])


def theta_forecasts(windows: Windows, prepared: np.ndarray, training_rows: np.ndarray) -> np.ndarray:
    """(windows, horizon): Theta's forecast of each held-out window from its series' values up to the window's origin,
    its smoothing parameter and drift fitted on ``training_rows`` (rows, series) of ``prepared`` only."""
    trained = fit(np.where(training_rows, prepared, np.nan))
    return at_rows(prepared, trained, windows.first_target - 1, windows.series).forecast(windows.horizon)


def ets_forecasts(windows: Windows, prepared: np.ndarray, training_rows: np.ndarray) -> np.ndarray:
    """(windows, horizon): exponential smoothing's forecast of each held-out window from its series' values up to the
    window's origin, its form and parameters chosen on ``training_rows`` (rows, series) of ``prepared`` only."""
    trained = ets.fit(np.where(training_rows, prepared, np.nan))
    return ets.at_rows(prepared, trained, windows.first_target - 1, windows.series).forecast(windows.horizon)


def choose(
    network: np.ndarray,
    theta: np.ndarray,
    smoothing: np.ndarray,
    targets: np.ndarray,
    unit: np.ndarray,
    held: np.ndarray,
    groups: np.ndarray | None = None,
) -> Choice:
    """The weights of ``theta`` and ``smoothing`` (windows, horizon) beside ``network`` with the least mean absolute
    error against the ``targets`` that ``held`` marks (the held-out ones), in ``unit`` (windows, 1); on a tie the
    first in WEIGHTS' order, the least of Theta's then of exponential smoothing's.

    Exponential smoothing joins the blend only on evidence (:func:`proven`): where the best pair with it beats the
    best without it (Theta's weight alone) by EVIDENCE_Z standard errors over ``groups`` (each window's group of
    held-out values, whose errors are taken as independent of the other groups'; every window its own where None)."""
    counted = held & ~np.isnan(targets)
    scaled = [np.where(counted, forecast / unit, 0.0) for forecast in (network, theta, smoothing)]
    goal = np.where(counted, targets / unit, 0.0)
    total = max(int(counted.sum()), 1)
    window_errors = [
        np.abs((1 - a - b) * scaled[0] + a * scaled[1] + b * scaled[2] - goal).sum(axis=1) for a, b in WEIGHTS
    ]
    errors = [float(each.sum() / total) for each in window_errors]
    without = [k for k, (_, b) in enumerate(WEIGHTS) if b == 0]
    best = int(np.argmin(errors))
    theta_only = without[int(np.argmin([errors[k] for k in without]))]
    groups = np.arange(len(network)) if groups is None else groups
    if not proven(window_errors[theta_only] - window_errors[best], counted.sum(axis=1), groups):
        best = theta_only
    alone = {pair: errors[WEIGHTS.index(pair)] for pair in ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0))}
    return Choice(
        float(WEIGHTS[best][0]),
        float(WEIGHTS[best][1]),
        alone[0.0, 0.0],
        alone[1.0, 0.0],
        alone[0.0, 1.0],
        errors[best],
        int(counted.any(axis=1).sum()),
        int(counted.sum()),
    )


#: how many standard errors a gain must be to count as shown: a pair of weights that adds a partner is chosen over
#: the blend without it only when its held-out gain is at least this many (about a 2.3% chance that noise alone
#: shows as much); a gain of 1% on one window a series of tourism yearly did not hold on its test values
EVIDENCE_Z = 2.0


def proven(gains: np.ndarray, counts: np.ndarray, groups: np.ndarray) -> bool:
    """Whether ``gains`` (per window: the error removed, summed over its ``counts`` held-out values) are positive
    beyond noise: their mean per group (``groups``) at least EVIDENCE_Z standard errors above 0, over two groups or
    more."""
    used = counts > 0
    _, group = np.unique(groups[used], return_inverse=True)
    sizes = np.bincount(group, counts[used])
    if len(sizes) < 2 or not gains[used].any():
        return False
    means = np.bincount(group, gains[used]) / sizes
    spread = float(np.std(means, ddof=1)) / np.sqrt(len(means))
    return bool(means.mean() > EVIDENCE_Z * spread) if spread > 0 else bool(means.mean() > 0)


#: a series decides for itself whether to fall back where it holds out at least this many horizons of values (as many
#: origins whose forecasts share no value); series with fewer decide together, on all their values (one window of
#: one series is too little to judge by)
OWN_HORIZONS = 3


def seasonal_naive_forecasts(windows: Windows, values: np.ndarray, season: int) -> np.ndarray:
    """(windows, horizon): the seasonal naive forecast (naive for a season of 1, or less than a season before the
    origin) of each of ``windows``, in the units of ``values`` (rows, series): the network's to weigh the fallback,
    the data's to score it."""
    rows = windows.first_target[:, None] - season + np.arange(season)
    recent = np.where(rows >= 0, values[np.maximum(rows, 0), windows.series[:, None]], np.nan)
    return seasonal_naive(recent, season, windows.horizon)


def fall_back(
    model: np.ndarray,
    baseline: np.ndarray,
    targets: np.ndarray,
    unit: np.ndarray,
    held: np.ndarray,
    series: np.ndarray,
    held_values: np.ndarray,
    horizon: int,
) -> Baseline:
    """Which series the baseline forecasts better than the model on their held-out values (the targets ``held`` marks;
    ``series`` names each window's, ``held_values`` counts each series' held-out values): each series holding out
    OWN_HORIZONS horizons or more by its own, the others together."""
    count = len(held_values)
    counted = held & ~np.isnan(targets)
    forecasts = np.bincount(series, counted.sum(axis=1), minlength=count)
    per_series = [
        np.bincount(series, np.where(counted, np.abs(forecast - targets) / unit, 0.0).sum(axis=1), minlength=count)
        for forecast in (model, baseline)
    ]
    with np.errstate(invalid="ignore", divide="ignore"):
        model_error, baseline_error = (total / forecasts for total in per_series)
    together = (forecasts > 0) & (held_values < OWN_HORIZONS * horizon)
    pooled_worse = per_series[1][together].sum() < per_series[0][together].sum()
    chosen = np.where(together, pooled_worse, baseline_error < model_error) & (forecasts > 0)
    return Baseline(chosen, model_error, baseline_error, together, held_values)
