"""Pictures of forecasts and backtests: matplotlib Figures, drawn without pyplot or a screen.

:func:`forecast_figure` and :func:`backtest_figure` return a Figure, which a
notebook shows inline (``Model.plot``, ``Backtest.plot``); the command line's
``--plot`` saves the same Figure as a PNG file (:func:`save_png`). No backend
is chosen here: a notebook's stays as it is, and :class:`InlineFigure` draws
itself there as a PNG.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from forecaster.errors import BadInput, shown
from forecaster.runtime.files import write_atomic

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from forecaster.model.forecast import Forecast
    from forecaster.training.backtest import Fold

MAX_PANELS = 12


class InlineFigure(Figure):
    """matplotlib's Figure, which IPython draws as a PNG (``_repr_png_``) whatever backend the notebook has loaded:
    one made without pyplot would otherwise show as its repr until ``%matplotlib inline``."""

    def _repr_png_(self) -> bytes:
        return _png(self)


def _figure(names: list[str], asked: Sequence[str] | None) -> tuple[Figure, dict[str, Axes]]:
    """A panel each for the ``asked`` series (all by default, at most MAX_PANELS)."""
    if asked is not None:
        asked = [asked] if isinstance(asked, str) else list(asked)  # series="AAPL" is one series, not four letters
        if not asked:
            raise BadInput("series= names no series: give one or more, or leave it out for all")
        unknown = [name for name in asked if name not in names]
        if unknown:
            raise BadInput(f"series={shown(unknown[0])} is not one of the series: {', '.join(names[:10])}")
        names = list(asked)
    picked = names[:MAX_PANELS]
    columns = 1 if len(picked) <= 3 else 2 if len(picked) <= 8 else 3
    rows = math.ceil(len(picked) / columns)
    figure = InlineFigure(figsize=(6 * columns, 2.6 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis in axes.flat[len(picked) :]:
        axis.set_visible(False)
    if len(names) > len(picked):
        figure.suptitle(f"first {len(picked)} of {len(names)} series")
    return figure, dict(zip(picked, axes.flat, strict=False))  # the grid's last row may have axes to spare


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _finished(figure: Figure) -> Figure:
    figure.autofmt_xdate()
    figure.tight_layout()
    return figure


def save_png(figure: Figure, path: str | os.PathLike) -> None:
    """``figure`` as a PNG file at ``path``, written whole or not at all."""
    write_atomic(path, _png(figure), "--plot")


def band_colours(levels) -> dict[float, tuple]:
    """Each level its own shade of orange, the widest interval the palest; none as dark as the forecast line."""
    from matplotlib import colormaps

    ordered = sorted(levels, reverse=True)
    shades = np.linspace(0.12, 0.42, len(ordered)) if len(ordered) > 1 else [0.3]
    # no levels: the one default shade goes unused
    return {level: colormaps["Oranges"](shade) for level, shade in zip(ordered, shades, strict=False)}


def _bands(axis: Axes, times: list, bounds: dict[float, tuple[np.ndarray, np.ndarray]]) -> None:
    """Opaque bands, widest first so each narrower one shows on top of it, and under the lines."""
    colours = band_colours(bounds)
    for level, (lower, upper) in sorted(bounds.items(), reverse=True):
        axis.fill_between(
            times, lower, upper, color=colours[level], linewidth=0, zorder=1, label=f"{level:g}% interval"
        )


def forecast_figure(
    result: Forecast, series: Sequence[str] | None = None, history_points: int = 100, covariates: bool = False
) -> Figure:
    """One panel per series (``series``: these only): its recent history, the forecast and its intervals;
    ``covariates``: under it, the time-varying covariates over the window and the horizon."""
    figure, panels = _figure(list(result.values), series)
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
    return _finished(figure)


def _covariates_under(axis: Axes, frame: pd.DataFrame) -> None:
    """The covariates in a strip of their own under ``axis``, on the same time axis."""
    from mpl_toolkits.axes_grid1 import make_axes_locatable  # type: ignore[import-untyped]

    strip = make_axes_locatable(axis).append_axes("bottom", size="40%", pad=0.25, sharex=axis)
    for column in frame.columns:
        strip.plot(frame.index, frame[column].to_numpy(), linewidth=1, label=column)
    strip.legend(loc="upper left", fontsize="x-small")
    axis.tick_params(labelbottom=False)


def backtest_figure(
    actual: pd.DataFrame, folds: list[Fold], series: Sequence[str] | None = None, history_points: int = 200
) -> Figure:
    """One panel per series (``series``: these only): the actual values around the test period and each fold's first
    forecast."""
    figure, panels = _figure([str(column) for column in actual.columns], series)
    for name, axis in panels.items():
        values = actual[name].dropna().iloc[-history_points:]
        axis.plot(values.index, values.to_numpy(), color="tab:blue", label="actual")
        for number, fold in enumerate(folds):
            first = fold.forecasts.get(name)
            if first is None:
                continue
            if number == 0:  # one fold's bands: more would hide the actual values
                _bands(axis, first.times, first.bounds)
            axis.plot(first.times, first.values, color="tab:orange", label="forecast" if number == 0 else None)
        axis.set_title(name)
    next(iter(panels.values())).legend(loc="upper left", fontsize="small")
    return _finished(figure)
