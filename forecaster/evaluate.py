"""Error metrics and the naive baseline a model must beat."""

from __future__ import annotations

import numpy as np


def naive_forecast(inputs: np.ndarray, horizon: int) -> np.ndarray:
    """The last value of each window, repeated over the horizon."""
    return np.repeat(inputs[:, -1:], horizon, axis=1)


def errors(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    difference = predicted - actual
    return {"mae": float(np.mean(np.abs(difference))), "rmse": float(np.sqrt(np.mean(difference**2)))}


def compare(actual: np.ndarray, model: np.ndarray, naive: np.ndarray, series: np.ndarray, columns: list[str]) -> dict:
    """MAE and RMSE of the model and of the naive forecast, overall and per series."""
    per_series = {
        column: {"model": errors(actual[series == k], model[series == k]), "naive": errors(actual[series == k], naive[series == k])}
        for k, column in enumerate(columns)
        if (series == k).any()
    }
    return {"model": errors(actual, model), "naive": errors(actual, naive), "windows": int(len(actual)), "series": per_series}
