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

#: values to draw: a list or an array of numbers; their times: a list, or an index
Values = Sequence[float] | np.ndarray
Times = Sequence | pd.Index
#: the history a drawing shows before its forecast: HORIZONS_BEFORE horizons of it, at least MIN_HISTORY values (a
#: season or two of the common frequencies), so that the forecast takes a fifth of the drawing or more
HORIZONS_BEFORE = 4
MIN_HISTORY = 24


def _keys(times: Times) -> np.ndarray:
    """Sortable integers of times of one axis: nanoseconds for timestamps (their instants: UTC for times with an
    offset), the steps for integers."""
    if isinstance(times, pd.DatetimeIndex):
        return np.asarray(times.as_unit("ns").asi8, dtype=np.int64)  # as Timestamp.value counts, whatever its unit
    if len(times) and isinstance(times[0], pd.Timestamp):
        return np.fromiter((time.value for time in times), dtype=np.int64, count=len(times))
    return np.asarray(times, dtype=np.int64)


def panel(
    lines: Sequence[tuple[str, Times, Values]],
    bands: Sequence[tuple[int, Times, Values, Values]],
    origin: object,
    caption: str = "",
) -> Panel:
    """A panel of ``lines`` (a LINES code, times, values) and ``bands`` (a level's place, narrowest 0, times, lower,
    upper), its forecast starting at the time ``origin``."""
    keyed = [(code, _keys(times), times, values) for code, times, values in lines if len(times)]
    banded = [(level, _keys(times), times, lower, upper) for level, times, lower, upper in bands if len(times)]
    timed = [(keys, times) for _, keys, times, _ in keyed] + [(keys, times) for _, keys, times, _, _ in banded]
    axis = np.unique(np.concatenate([keys for keys, _ in timed])) if timed else np.zeros(0, dtype=np.int64)
    ends = {int(keys[at]): times[at] for keys, times in timed for at in (0, -1)}  # the times the labels name

    arrays = [values for *_, values in keyed] + [part for *_, lower, upper in banded for part in (lower, upper)]
    lengths = [len(values) for values in arrays]
    rounded = drawn(np.concatenate([np.asarray(values, dtype=float) for values in arrays]) if arrays else [])
    pieces = iter(np.split(np.asarray(rounded, dtype=object), np.cumsum(lengths)[:-1]) if arrays else [])

    def placed(keys: np.ndarray) -> tuple[int, list[float | None]]:
        """The next of the values, rounded once for the whole panel, at the positions of ``keys`` on the axis."""
        positions = np.searchsorted(axis, keys)
        start = int(positions[0])
        out: list[float | None] = [None] * (int(positions[-1]) - start + 1)
        for position, value in zip((positions - start).tolist(), next(pieces).tolist(), strict=True):
            out[position] = value
        return start, out

    found = Panel(
        (
            time_label(ends[int(axis[0])]) if len(axis) else "",
            time_label(origin),
            time_label(ends[int(axis[-1])]) if len(axis) else "",
        ),
        int(np.searchsorted(axis, _keys([origin])[0])),
        len(axis),
        caption=caption,
    )
    found.lines = [(code, *placed(keys)) for code, keys, _, _ in keyed]
    for level, keys, *_ in banded:
        start, low = placed(keys)
        found.bands.append((level, start, low, placed(keys)[1]))
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
    lines: list[tuple[str, Times, Values]] = [
        ("h", recent.index, recent.to_numpy()),
        ("f", joined_times, [*recent.to_numpy()[-1:], *values]),
    ]
    if previous is not None and len(previous):
        lines.insert(1, ("p", previous.index, previous.to_numpy()))
    bands: list[tuple[int, Times, Values, Values]] = [
        (k, list(times), *bounds[level]) for k, level in enumerate(levels) if level in bounds
    ]
    return panel(lines, bands, times[0])
