"""Split-conformal prediction intervals, one width per horizon step.

At fit time the absolute errors of the model on held-out values (in scaled
units) are summarised, per horizon step, by their conformal quantiles at
levels 1..99%. At predict time a level's half-width is read off
(interpolated between whole levels) and multiplied by each series' scale.
With n errors at a step the level-a quantile is the ceil((n+1)a)-th smallest
(Vovk et al., "Algorithmic Learning in a Random World", 2005; Angelopoulos &
Bates, "A Gentle Introduction to Conformal Prediction", 2021), which covers
at least a of new forecasts when errors are exchangeable; a level too high
for n errors has no finite width and is refused, saying how many it needs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import cast

import numpy as np

from forecaster.errors import BadInput, shown
from forecaster.model.scaling import FLOAT32_MAX
from forecaster.options import typed

GRID = tuple(range(1, 100))  #: whole-percent levels stored in model.json
#: the widest half-width a fit can calibrate, in scaled units: the network computes in float32, and no error it
#: makes on values scaled below scaling.MAX_SCALED (1e18) is larger; anything wider was not written by a fit
MAX_HALF_WIDTH = FLOAT32_MAX


def calibrate(errors: np.ndarray) -> list[list[float | None]]:
    """Per horizon step (a column of ``errors``, NaN where a forecast has no held-out value at that step), the
    conformal quantile of |error| at each level of :data:`GRID` (None: too few errors)."""
    table = []
    for step in np.abs(errors.T):
        held_out = np.sort(step[~np.isnan(step)])
        ranks = [_rank(len(held_out), level) for level in GRID]
        table.append([float(held_out[rank - 1]) if rank <= len(held_out) else None for rank in ranks])
    return table


def errors_per_step(errors: np.ndarray) -> int:
    """The fewest errors any horizon step of ``errors`` (as :func:`calibrate` takes them) has: what its table's
    levels rest on."""
    return int((~np.isnan(errors)).sum(axis=0).min(initial=len(errors)))


def check_quantiles(table: object, where: str) -> None:
    """Check the calibration table of model.json; else a :class:`BadInput` naming the step and the level.

    Per horizon step, one half-width per level of :data:`GRID`: finite, from
    0 to :data:`MAX_HALF_WIDTH`, rising with the level; None (too few
    windows) only above the highest level calibrated.
    """
    if not isinstance(table, list) or not table:
        raise BadInput(f"{where}: intervals.quantiles must be a list with one row per horizon step")
    for step, row in enumerate(table):
        field = f"intervals.quantiles[{step}]"
        if not isinstance(row, list) or len(row) != len(GRID):
            raise BadInput(
                f"{where}: {field} must hold {len(GRID)} numbers, one per level from {GRID[0]} to {GRID[-1]}%"
            )
        previous = 0.0
        for index, (level, width) in enumerate(zip(GRID, row, strict=True)):
            if width is None and all(later is None for later in row[index:]):
                break
            if not (
                isinstance(width, (int, float)) and not isinstance(width, bool) and previous <= width <= MAX_HALF_WIDTH
            ):
                raise BadInput(
                    f"{where}: {field}, level {level}%: {shown(width)} is not a half-width: they are finite, none "
                    f"negative, at most {MAX_HALF_WIDTH:.3g} and rise with the level"
                )
            previous = width


def _rank(windows: int, level: int) -> int:
    """Which smallest error, of ``windows``, is the conformal quantile at ``level`` percent."""
    return math.ceil((windows + 1) * level / 100)


def windows_needed(level: float) -> int:
    """The fewest errors a step needs to give a ``level``% interval (its grid level above, as :func:`half_widths`
    reads)."""
    above = math.ceil(level)
    return next(windows for windows in range(1, 10_000) if _rank(windows, above) <= windows)


def highest_level(windows: int) -> int | None:
    """The highest whole level that ``windows`` errors a step calibrate; None for none."""
    return max((level for level in GRID if _rank(windows, level) <= windows), default=None)


def too_few(level: float, windows: int, had: str = "the fit had") -> str:
    """Why ``level`` percent has no width, with ``windows`` errors a step (``had``: whose they are), and what would
    give it one."""
    highest = highest_level(windows)
    lower = f"ask for at most {highest}% (--level), or " if highest is not None else ""
    return (
        f"too few held-out forecasts to calibrate a {level:g}% interval: it needs {windows_needed(level)} a forecast "
        f"step, and {had} {windows}; {lower}fit on more data (a fit holds out up to a fifth of each series' values, "
        "at least a horizon, and calibrates on every one)"
    )


def check_levels(levels: float | Iterable[float]) -> tuple[float, ...]:
    """The levels asked for (one number, or several; numpy's too) as floats, each once and in range."""
    given = levels if isinstance(levels, Iterable) and not isinstance(levels, str) else [levels]
    checked = tuple(cast(float, typed(level, float, "--level")) for level in given)
    for level in checked:
        if checked.count(level) > 1:  # its columns would be written twice
            raise BadInput(f"level {level:g} is given twice (--level): give each level once")
        if not GRID[0] <= level <= GRID[-1]:
            raise BadInput(
                f"level {level:g} is out of range (--level): choose a coverage between {GRID[0]} and {GRID[-1]} percent"
            )
    return checked


def calibrated(table: Sequence[Sequence[float | None]], level: float) -> bool:
    """Whether the held-out windows gave ``table`` a width for ``level`` percent at every step."""
    below, above = math.floor(level), math.ceil(level)
    return all(row[below - 1] is not None and row[above - 1] is not None for row in table)


#: the intervals a picture draws unless asked for others (a plot, a report), where the model calibrates them
COMMON_LEVELS = (80, 95)


def common_levels(table: Sequence[Sequence[float | None]]) -> list[float]:
    """The levels of :data:`COMMON_LEVELS` that ``table`` calibrates at every step."""
    return [level for level in COMMON_LEVELS if calibrated(table, level)]


def half_widths(
    table: Sequence[Sequence[float | None]], level: float, horizon: int, source: str, windows: int
) -> np.ndarray:
    """Scaled half-widths for ``horizon`` steps; beyond the calibrated steps they grow like sqrt(step). ``windows``:
    the errors a step the table rests on, for the refusal of a level it cannot give."""
    if not calibrated(table, level):
        raise BadInput(f"{source}: {too_few(level, windows)}")
    below, above = math.floor(level), math.ceil(level)
    widths = []
    for step in range(horizon):
        row = table[min(step, len(table) - 1)]
        low, high = row[below - 1], row[above - 1]
        assert low is not None and high is not None  # calibrated
        width = low + (high - low) * (level - below)
        if step >= len(table):
            width *= math.sqrt((step + 1) / len(table))
        widths.append(width)
    return np.array(widths)


def label(level: float) -> str:
    """80 -> "80", 97.5 -> "97.5": the suffix of interval column names."""
    return f"{level:g}"


def bound_columns(point: str, level: float) -> tuple[str, str]:
    """The columns of the lower and upper bounds at ``level`` percent of the forecast in column ``point``, as Nixtla's
    tools name them (statsforecast's ``<model>-lo-<level>``): ``model-lo-80``, ``model-hi-80``."""
    return f"{point}-lo-{label(level)}", f"{point}-hi-{label(level)}"
