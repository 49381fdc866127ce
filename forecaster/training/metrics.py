"""Error metrics and the baselines a model must beat."""

from __future__ import annotations

import numpy as np

#: the baselines every backtest reports next to the model
BASELINES = ("naive", "seasonal-naive", "drift")


def errors(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """MAE and RMSE in the data's units, and sMAPE (percent, M3's and M4's definition, 0 where both values are 0).

    Computed in units of the largest value, so that values near 1e300, whose
    squares and sums overflow, still give finite figures (a summary once read
    "RMSE inf" for them); only errors beyond float64's range itself are inf.
    The squares are taken in units of the largest error, so that small errors
    beside values near 1e308 do not underflow to an RMSE of 0.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        largest = max(float(np.max(np.abs(actual), initial=0.0)), float(np.max(np.abs(predicted), initial=0.0)))
        unit = largest if 0 < largest < np.inf else 1.0
        actual, predicted = actual / unit, predicted / unit
        difference = predicted - actual
        denominator = np.abs(actual) + np.abs(predicted)
        smape = np.where(denominator > 0, 200 * np.abs(difference) / np.where(denominator > 0, denominator, 1), 0.0)
        return {
            "mae": unit * float(np.mean(np.abs(difference))),
            "rmse": unit * _root_mean_square(difference),
            "smape": float(np.mean(smape)),
        }


def _root_mean_square(values: np.ndarray) -> float:
    largest = float(np.max(np.abs(values), initial=0.0))
    if not 0 < largest < np.inf:
        return largest if largest else 0.0
    return largest * float(np.sqrt(np.mean((values / largest) ** 2)))


def compare(
    actual: np.ndarray, model: np.ndarray, baselines: dict[str, np.ndarray], series: np.ndarray, columns: list[str]
) -> dict:
    """MAE, RMSE and sMAPE of the model and of each of ``baselines`` (their names and forecasts), overall and per
    series.

    The rows are grouped by series once: a mask per series costs windows x
    series, 7 s for the 370,000 validation windows of 5,000 series.
    """
    order = np.argsort(series, kind="stable")
    bounds = np.searchsorted(series[order], np.arange(len(columns) + 1))
    forecasts = {"model": model, **baselines}
    per_series = {}
    for k, column in enumerate(columns):
        rows = order[bounds[k] : bounds[k + 1]]
        if len(rows):
            per_series[column] = {
                method: errors(actual[rows], forecast[rows]) for method, forecast in forecasts.items()
            }
    return {
        **{method: errors(actual, forecast) for method, forecast in forecasts.items()},
        "windows": len(actual),
        "series": per_series,
    }


def mase(actual: np.ndarray, predicted: np.ndarray, scale: np.ndarray) -> float | None:
    """MASE: the errors over each point's in-sample scale, over the points that have one; None where none has (a
    constant series' naive error, the scale, is 0)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scaled = np.abs(predicted - actual) / scale
    finite = np.isfinite(scaled)
    return float(np.mean(scaled[finite])) if finite.any() else None


def mase_scale(history: np.ndarray, season: int) -> float:
    """Mean absolute seasonal difference of the history (Hyndman & Koehler, 2006): the MASE denominator."""
    history = history[~np.isnan(history)]
    lag = season if len(history) > season else 1
    if len(history) <= lag:
        return float("nan")
    scale = float(np.mean(np.abs(history[lag:] - history[:-lag])))
    return scale if scale > 0 else float("nan")


def baseline_forecasts(history: np.ndarray, horizon: int, season: int) -> dict[str, np.ndarray]:
    """Naive (last value), seasonal naive (the value one season back) and drift (the line from first to last value)."""
    history = history[~np.isnan(history)]
    last = history[-1]
    steps = np.arange(1, horizon + 1)
    if len(history) >= season > 1:
        seasonal = history[len(history) - season + (steps - 1) % season]
    else:
        seasonal = np.full(horizon, last)
    slope = (last - history[0]) / (len(history) - 1) if len(history) > 1 else 0.0
    return {"naive": np.full(horizon, last), "seasonal-naive": seasonal, "drift": last + slope * steps}
