"""Defaults that follow the data: the season, window, batch size, epochs and patience a fit uses when the options leave
them open.

Chosen from the frequency, its natural season, the horizon and the series'
lengths, never from a data set's name; every explicit option overrides them,
and the fit summary and model.json say what was chosen and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from forecaster.errors import BadInput
from forecaster.options import FitOptions

#: the shortest default window: yearly data, whose season is 1, still reads several years (the probe of issue 12: 8)
MIN_WINDOW = 8
#: seasons a default window covers: the pattern of the last season, and the one before it to compare
WINDOW_SEASONS = 2
#: the longest default window: a season of a day of minutes would be unrolled over thousands of steps
MAX_WINDOW = 200
#: the default batch: windows per optimiser step, fewer on small data so that an epoch still takes several steps
MAX_BATCH, MIN_BATCH = 256, 16
BATCHES_WANTED = 20
#: an epoch is a pass over the training windows, or this many batches of them when there are more
MAX_BATCHES_PER_EPOCH = 100
#: the default epochs: at most this many, or as many as MIN_STEPS optimiser steps take on tiny data
DEFAULT_EPOCHS, MIN_STEPS = 100, 2000
#: the default patience: about this many optimiser steps without improvement, counted in epochs between the bounds
#: (10 epochs stopped too early on the small validation sets of single monthly series: bench/accuracy.md;
#: 1,000 steps and at most 30 epochs scored the six competition collections the same, in twice the epochs:
#: bench/competitions.md; 5 epochs stopped m1 monthly's members at their first)
PATIENCE_STEPS, MIN_PATIENCE, MAX_PATIENCE = 500, 10, 15


@dataclass(frozen=True)
class Chosen:
    """The options a fit runs with, every open one decided, and a line for each decision."""

    options: FitOptions
    reasons: tuple[str, ...]
    #: the decided values of the options that may be open, typed as set
    season: int
    window: int
    batch_size: int


def check_season(season: int | None, longest: int) -> None:
    """Refuse a --season longer than the longest series (``longest`` values): a cycle it never shows once."""
    if season is not None and season > longest:
        raise BadInput(
            f"--season {season} is longer than the longest series ({longest} values): a cycle the data never shows "
            "once cannot be learnt or repeated"
        )


def choose(options: FitOptions, natural_season: int, lengths: np.ndarray, data: str) -> Chosen:
    """Decide the open options: ``lengths`` are the series' numbers of values, ``natural_season`` the frequency's,
    ``data`` says what the time axis is ("MS data") for the reasons."""
    reasons = []
    season = options.season
    check_season(season, int(lengths.max()))
    if season is None:
        season = natural_season
        reasons.append(
            f"season {season}: " + (f"the natural cycle of {data}" if season > 1 else f"no cycle known for {data}")
        )
    window = options.window
    if window is None:
        longest = int(lengths.max()) - options.horizon
        wanted = min(max(WINDOW_SEASONS * season, MIN_WINDOW), MAX_WINDOW)
        window = max(1, min(wanted, longest))
        why = f"{WINDOW_SEASONS} seasons" if WINDOW_SEASONS * season >= MIN_WINDOW else f"at least {MIN_WINDOW} values"
        if window < wanted:
            why = f"{why} would be {wanted}, more than the longest series has before its horizon"
        reasons.append(f"window {window}: {why}")
    windows = int(np.maximum(lengths - options.horizon, 0).sum())
    batch_size = options.batch_size
    if batch_size is None:
        wanted = int(min(MAX_BATCH, max(MIN_BATCH, 2 ** math.floor(math.log2(max(windows // BATCHES_WANTED, 1))))))
        batch_size = min(wanted, max(windows, 1))
        reasons.append(
            f"batch size {batch_size}: about {windows} windows"
            if batch_size < MAX_BATCH
            else f"batch size {batch_size}"
        )
    elif batch_size > max(windows, 1):  # model.json's batch size is checked against the series' rows the same way
        batch_size = max(windows, 1)
        reasons.append(
            f"batch size {batch_size}: every window at once (--batch-size {options.batch_size} asks for more)"
        )
    steps = batches_per_epoch(windows, batch_size)
    epochs, patience = options.epochs, options.patience
    if epochs is None:
        epochs = max(DEFAULT_EPOCHS, math.ceil(MIN_STEPS / steps))
        reasons.append(f"at most {epochs} epochs of {steps} batches")
    if patience is None:
        patience = min(MAX_PATIENCE, max(MIN_PATIENCE, math.ceil(PATIENCE_STEPS / steps)))
        reasons.append(f"patience {patience} epochs")
    return Chosen(
        replace(options, season=season, window=window, batch_size=batch_size, epochs=epochs, patience=patience),
        tuple(reasons),
        season,
        window,
        batch_size,
    )


def batches_per_epoch(windows: int, batch_size: int) -> int:
    """The optimiser steps an epoch over ``windows`` takes."""
    return max(1, min(math.ceil(windows / batch_size), MAX_BATCHES_PER_EPOCH))
