"""Sliding windows over the prepared series, held as positions into them: what training and validation read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Windows:
    """Sliding windows over the columns of ``values``, held as positions rather than as copies.

    Window k reads the ``window`` values of column ``series[k]`` before row
    ``start[k]`` and forecasts the ``horizon`` values from that row. A window
    may begin before its series does: ``values`` carries ``window`` rows of NaN
    above the data, so a short series is read left-padded, its padding marked
    NaN (as neuralforecast's start padding does), and ``start`` counts those
    rows. Copied out, every window would hold ``window + horizon`` values:
    5,000 series of 400 rows gave 1.8 million windows, 550 MB of float64 each
    time they were cut (bench/scaling.md). As positions they are two
    integers a window, the series are held once, and values are gathered when
    asked for: by training a batch at a time, by scoring for the validation
    windows.
    """

    values: np.ndarray  #: (window + rows, series) the values read, NaN where a series has none
    positions: np.ndarray  #: (window + rows,) each row's step on the time axis, for its place in the season
    ratio: np.ndarray  #: (series,) True where a series is read as ratios to its level (see forecaster.nn.network)
    window: int
    horizon: int
    series: np.ndarray  #: (n,) column position of each window's series
    start: np.ndarray  #: (n,) row position in ``values`` of each window's first target
    #: (series, window + rows, C) the covariate features of each row (forecaster.model.covariates), 0 in the padding
    extra: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.start)

    def select(self, rows: np.ndarray | slice) -> Windows:
        """The windows a mask, positions or a slice picks, reading the same values."""
        return replace(self, series=self.series[rows], start=self.start[rows])

    @property
    def first_target(self) -> np.ndarray:
        """(n,) each window's first target as a row of the data, without the padding above it."""
        return self.start - self.window

    @property
    def inputs(self) -> np.ndarray:
        """(n, window) values, NaN where a window reads before its series begins; gathered anew at each use."""
        return self._gather(-self.window, 0)

    @property
    def targets(self) -> np.ndarray:
        """(n, horizon) values, gathered anew at each use."""
        return self._gather(0, self.horizon)

    def features(self) -> np.ndarray | None:
        """(n, window + horizon, C) each window's covariate features over its inputs and targets; None without any."""
        if self.extra is None:
            return None
        return self.extra[self.series[:, None], self.start[:, None] + np.arange(-self.window, self.horizon)]

    def input_positions(self) -> np.ndarray:
        return self.positions[self.start[:, None] + np.arange(-self.window, 0)]

    def target_positions(self) -> np.ndarray:
        return self.positions[self.start[:, None] + np.arange(self.horizon)]

    def _gather(self, first: int, stop: int) -> np.ndarray:
        return self.values[self.start[:, None] + np.arange(first, stop), self.series[:, None]]


def make_windows(
    values: np.ndarray,
    window: int,
    horizon: int,
    positions: np.ndarray | None = None,
    ratio: np.ndarray | Sequence[bool] | None = None,
    min_observed: int = 1,
    extra: np.ndarray | None = None,
    past_end: int = 0,
) -> Windows:
    """Every window of a series that reads ``window`` of its values, followed by ``horizon`` targets.

    A series too short for that reads as many as it has, left-padded, down to
    ``min_observed`` values: it is trained on and forecast like the others.
    ``values`` is (rows, series) without gaps inside a series; the NaN rows
    before a series starts and after it ends are skipped, except as padding.
    ``positions`` are the rows' steps on the time axis (default: the row
    numbers), ``ratio`` which series are read as ratios (default: none),
    ``extra`` the (series, rows, C) covariate features of each row (default: none).
    ``past_end``: windows whose horizon runs up to this many steps past their
    series' last value too, their targets there NaN (for calibration, which
    scores every held-out value at every step ahead): the rows after the data
    are NaN, one step apart on the time axis, without features.
    """
    rows, count = values.shape
    positions = np.arange(rows) if positions is None else np.asarray(positions)
    padded = np.vstack([np.full((window, count), np.nan), values, np.full((past_end, count), np.nan)])
    first_position = positions[0] if rows else 0
    last_position = positions[-1] if rows else -1
    padded_positions = np.concatenate(
        [first_position - np.arange(window, 0, -1), positions, last_position + np.arange(1, past_end + 1)]
    )
    ratio = np.zeros(count, bool) if ratio is None else np.asarray(ratio, bool)
    if extra is not None:  # none where a window reads before its series begins, as predict reads a short history
        features = extra.shape[2]
        extra = np.concatenate(
            [np.zeros((count, window, features)), extra, np.zeros((count, past_end, features))], axis=1
        ).astype(np.float32)
        extra[np.isnan(padded.T)] = 0
    series, start = [], []
    for position in range(count):
        present = np.flatnonzero(~np.isnan(values[:, position]))
        if not len(present):
            continue
        first, end = int(present[0]), int(present[-1]) + 1
        observed = max(min_observed, min(window, end - first - horizon))
        starts = np.arange(first + observed, end - horizon + 1 + past_end) + window
        series.append(np.full(len(starts), position))
        start.append(starts)
    if not start:
        return Windows(padded, padded_positions, ratio, window, horizon, np.empty(0, int), np.empty(0, int), extra)
    return Windows(
        padded, padded_positions, ratio, window, horizon, np.concatenate(series), np.concatenate(start), extra
    )
