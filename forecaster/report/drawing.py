"""A series' drawing as the page's script draws it: lines and bands placed on one time axis, as plain numbers.

The axis is every time any line or band holds, in order, so that a line with
gaps (a long file's missing rows) or one that starts elsewhere (the last
run's forecast) is drawn at its own times; a step without a value breaks
its line. Times reach the page only as labels (the first, the forecast's
origin, the last), values rounded as :func:`forecaster.report.page.drawn`
keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecaster.data.table import time_label
from forecaster.report.page import Panel, drawn

#: values to draw: a list or an array of numbers
Values = Sequence[float] | np.ndarray
#: the history a drawing shows before its forecast: HORIZONS_BEFORE horizons of it, at least MIN_HISTORY values (a
#: season or two of the common frequencies), so that the forecast takes a fifth of the drawing or more
HORIZONS_BEFORE = 4
MIN_HISTORY = 24


def _keys(times: Sequence) -> np.ndarray:
    """Sortable integers of times of one axis: nanoseconds for timestamps (their instants), the steps for integers."""
    if len(times) and isinstance(times[0], pd.Timestamp):
        return np.asarray(pd.DatetimeIndex(list(times)).asi8, dtype=np.int64)
    return np.asarray(times, dtype=np.int64)


def panel(
    lines: Sequence[tuple[str, Sequence, Values]],
    bands: Sequence[tuple[int, Sequence, Values, Values]],
    origin: object,
    caption: str = "",
) -> Panel:
    """A panel of ``lines`` (a LINES code, times, values) and ``bands`` (a level's place, narrowest 0, times, lower,
    upper), its forecast starting at the time ``origin``."""
    keyed = [(_keys(times), times) for _, times, _ in lines] + [(_keys(times), times) for _, times, _, _ in bands]
    axis = np.unique(np.concatenate([keys for keys, _ in keyed if len(keys)] or [np.zeros(0, dtype=np.int64)]))
    label_of = {}
    for keys, times in keyed:
        for at in (0, -1):
            if len(keys):
                label_of[int(keys[at])] = times[at]

    def placed(keys: np.ndarray, values: Values) -> tuple[int, list[float | None]]:
        positions = np.searchsorted(axis, keys)
        start = int(positions[0]) if len(positions) else 0
        out: list[float | None] = [None] * (int(positions[-1]) - start + 1 if len(positions) else 0)
        for position, value in zip(positions - start, drawn(values), strict=True):
            out[position] = value
        return start, out

    found = Panel(
        (
            time_label(label_of[int(axis[0])]) if len(axis) else "",
            time_label(origin),
            time_label(label_of[int(axis[-1])]) if len(axis) else "",
        ),
        int(np.searchsorted(axis, _keys([origin])[0])),
        len(axis),
        caption=caption,
    )
    for code, times, values in lines:
        if len(times):
            found.lines.append((code, *placed(_keys(times), values)))
    for level, times, lower, upper in bands:
        if len(times):
            start, low = placed(_keys(times), lower)
            _, high = placed(_keys(times), upper)
            found.bands.append((level, start, low, high))
    return found


def forecast_panel(
    history: pd.Series,
    times: Sequence,
    values: Values,
    bounds: dict[float, tuple[np.ndarray, np.ndarray]],
    levels: Sequence[float],
    previous: pd.Series | None = None,
) -> Panel:
    """A series' recent ``history`` (HORIZONS_BEFORE horizons of it, MIN_HISTORY values at least), its forecast at
    ``times`` joined to the last of them, its intervals at ``levels`` (narrowest first), and ``previous``, the last
    run's forecast, where given."""
    recent = history.iloc[-max(HORIZONS_BEFORE * len(times), MIN_HISTORY) :]
    joined_times = [*recent.index[-1:], *times]
    lines: list[tuple[str, Sequence, Values]] = [
        ("h", list(recent.index), recent.to_numpy()),
        ("f", joined_times, [*recent.to_numpy()[-1:], *values]),
    ]
    if previous is not None and len(previous):
        lines.insert(1, ("p", list(previous.index), previous.to_numpy()))
    bands: list[tuple[int, Sequence, Values, Values]] = [
        (k, list(times), *bounds[level]) for k, level in enumerate(levels) if level in bounds
    ]
    return panel(lines, bands, times[0])
