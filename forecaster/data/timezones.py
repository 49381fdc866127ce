"""Time columns whose timestamps carry UTC offsets: when several offsets are read in UTC, and when they are refused.

Daylight saving time gives a column two offsets (Paris: +01:00 in winter,
+02:00 in summer). Each row is then an exact instant, and hourly rows stay
evenly spaced in UTC: such a column is read in UTC, and the user told so, as
the forecast's times are in UTC too. Daily or monthly rows at local midnight
are not evenly spaced in UTC across a change (23 or 25 hours), nor are rows
written in several zones (steps of 18 and 30 hours): a frequency inferred
from them would be invented ("30h"), and every row after a change would seem
missing, so they are refused with a line saying how to write them. So is a
column in which some times have an offset and others none: a time without
one is no instant.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.errors import BadInput

#: an offset after a time of day: 10:00Z, 10:00:00+01:00, 10:00:00.5 -0500
OFFSET = r"\d:\d\d(?::\d\d(?:[.,]\d+)?)?\s*(Z|[+-]\d\d(?::?\d\d)?)$"


def written_offsets(column: pd.Series) -> pd.Series:
    """Each row's UTC offset as written ("+01:00", "Z"), NaN where a time has none."""
    return column.str.strip().str.extract(OFFSET, expand=False).str.upper()


def refuse_some_without_offset(column: pd.Series, offsets: pd.Series, name: str, label: str) -> None:
    """A :class:`BadInput` naming two lines when some times have a UTC offset and others none."""
    written = offsets.notna().to_numpy()
    if written.any() and not written.all():
        with_offset, without = int(np.argmax(written)), int(np.argmin(written))
        raise BadInput(
            f"{name}: line {without + 2}: {column.iloc[without]!r} in column {label!r} has no UTC offset, unlike line "
            f"{with_offset + 2} ({column.iloc[with_offset]!r}); give every time an offset, or none"
        )


def read_in_utc(column: pd.Series, times: pd.Series, name: str, label: str) -> str:
    """Check that ``column``'s several offsets (its times, parsed in UTC, are ``times``) give evenly spaced instants;
    the note to give."""
    offsets = written_offsets(column)
    refuse_some_without_offset(column, offsets, name, label)
    order = np.argsort(times.to_numpy(), kind="stable")
    instants = pd.DatetimeIndex(times.iloc[order])
    steps = instants[1:] - instants[:-1]
    usual = pd.Series(steps[steps > pd.Timedelta(0)]).mode()
    shown = ", ".join(sorted(set(offsets)))
    uneven = np.flatnonzero((steps % usual[0]) != pd.Timedelta(0)) if len(usual) else np.array([], dtype=int)
    if len(uneven):
        row = int(uneven[0])
        raise BadInput(
            f"{name}: column {label!r} mixes the UTC offsets {shown}, and in UTC its rows are unevenly spaced (line "
            f"{order[row + 1] + 2} comes {_duration(steps[row])} after line {order[row] + 2}; most steps are "
            f"{_duration(usual[0])}); "
            f"write the times in one zone, or without offsets as local times"
        )
    return f"column {label!r} holds the UTC offsets {shown}: its times are read in UTC, and the forecast's are in UTC"


def _duration(step: pd.Timedelta) -> str:
    day = pd.Timedelta(days=1)
    return f"{step // day} days" if step % day == pd.Timedelta(0) else f"{step / pd.Timedelta(hours=1):g} hours"
