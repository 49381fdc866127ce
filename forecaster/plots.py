"""PNG pictures of forecasts and backtests: matplotlib with the Agg backend, no screen needed."""

from __future__ import annotations

import io
import math
import os
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from forecaster.model.directory import write_file

if TYPE_CHECKING:
    from forecaster.training.backtest import Fold

MAX_PANELS = 12


def _figure(names: list[str]):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    shown = names[:MAX_PANELS]
    columns = 1 if len(shown) <= 3 else 2 if len(shown) <= 8 else 3
    rows = math.ceil(len(shown) / columns)
    figure, axes = pyplot.subplots(rows, columns, figsize=(6 * columns, 2.6 * rows), squeeze=False)
    for axis in axes.flat[len(shown) :]:
        axis.set_visible(False)
    if len(names) > len(shown):
        figure.suptitle(f"first {len(shown)} of {len(names)} series")
    return figure, dict(zip(shown, axes.flat, strict=False))  # the grid's last row may have axes to spare


def _save(figure, path: str | os.PathLike) -> None:
    from matplotlib import pyplot

    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    pyplot.close(figure)
    write_file(path, buffer.getvalue(), "--plot")


def band_colours(levels) -> dict[float, tuple]:
    """Each level its own shade of orange, the widest interval the palest; none as dark as the forecast line."""
    from matplotlib import colormaps

    ordered = sorted(levels, reverse=True)
    shades = np.linspace(0.12, 0.42, len(ordered)) if len(ordered) > 1 else [0.3]
    # no levels: the one default shade goes unused
    return {level: colormaps["Oranges"](shade) for level, shade in zip(ordered, shades, strict=False)}


def _bands(axis, times, bounds: dict[float, tuple[np.ndarray, np.ndarray]]) -> None:
    """Opaque bands, widest first so each narrower one shows on top of it, and under the lines."""
    colours = band_colours(bounds)
    for level, (lower, upper) in sorted(bounds.items(), reverse=True):
        axis.fill_between(
            times, lower, upper, color=colours[level], linewidth=0, zorder=1, label=f"{level:g}% interval"
        )


def plot_forecast(result, path: str | os.PathLike, history_points: int = 100, covariates: bool = False) -> None:
    """One panel per series: its recent history, the forecast and its intervals; ``covariates``: under it, the
    time-varying covariates over the window and the horizon."""
    figure, panels = _figure(list(result.values))
    for name, axis in panels.items():
        if covariates and name in result.covariates:
            _covariates_under(axis, result.covariates[name])
        history = result.history[name].iloc[-history_points:]
        axis.plot(history.index, history.to_numpy(), color="tab:blue", label="history")
        times = list(result.times[name])
        _bands(axis, times, result.bounds[name])
        axis.plot(
            [history.index[-1], *times], [history.iloc[-1], *result.values[name]], color="tab:orange", label="forecast"
        )
        axis.set_title(name)
    next(iter(panels.values())).legend(loc="upper left", fontsize="small")
    _save(figure, path)


def _covariates_under(axis, frame: pd.DataFrame) -> None:
    """The covariates in a strip of their own under ``axis``, on the same time axis."""
    from mpl_toolkits.axes_grid1 import make_axes_locatable  # type: ignore[import-untyped]

    strip = make_axes_locatable(axis).append_axes("bottom", size="40%", pad=0.25, sharex=axis)
    for column in frame.columns:
        strip.plot(frame.index, frame[column].to_numpy(), linewidth=1, label=column)
    strip.legend(loc="upper left", fontsize="x-small")
    axis.tick_params(labelbottom=False)


def plot_backtest(actual: pd.DataFrame, folds: list[Fold], path: str | os.PathLike, history_points: int = 200) -> None:
    """One panel per series: the actual values around the test period and each fold's first forecast."""
    figure, panels = _figure([str(column) for column in actual.columns])
    for name, axis in panels.items():
        series = actual[name].dropna().iloc[-history_points:]
        axis.plot(series.index, series.to_numpy(), color="tab:blue", label="actual")
        for number, fold in enumerate(folds):
            first = fold.forecasts.get(name)
            if first is None:
                continue
            if number == 0:  # one fold's bands: more would hide the actual values
                _bands(axis, first.times, first.bounds)
            axis.plot(first.times, first.values, color="tab:orange", label="forecast" if number == 0 else None)
        axis.set_title(name)
    next(iter(panels.values())).legend(loc="upper left", fontsize="small")
    _save(figure, path)
