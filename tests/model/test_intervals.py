"""The conformal intervals' arithmetic, exactly: which error is a level's quantile, which table is a calibration,
how many errors a level needs (and what a refusal says), and how a half-width is read off, interpolated and
widened."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forecaster.errors import BadInput
from forecaster.model.intervals import (
    GRID,
    MAX_HALF_WIDTH,
    bound_columns,
    calibrate,
    calibrated,
    check_levels,
    check_quantiles,
    errors_per_step,
    half_widths,
    highest_level,
    windows_needed,
)


def test_a_level_s_width_is_the_ceil_n_plus_1_times_level_smallest_error_of_its_step():
    """Nine windows, two steps whose errors come in other orders and signs: each step ranks its own."""
    first = -np.arange(1.0, 10.0)  # |errors| 1..9
    second = np.array([30.0, -10, 90, 50, -20, 70, 40, -80, 60])  # |errors| 10..90, shuffled
    table = calibrate(np.column_stack([first, second]))
    assert len(table) == 2 and all(len(row) == len(GRID) for row in table)
    assert table[0][49] == 5.0 and table[1][49] == 50.0  # 50%: the ceil(10 * 0.5) = 5th smallest
    assert table[0][0] == 1.0 and table[1][9] == 10.0  # 1% and 10%: the 1st
    assert table[0][89] == 9.0 and table[1][89] == 90.0  # 90%: the 9th, the largest
    assert table[0][90] is None and table[1][98] is None  # 91%: a 10th of nine: no finite width


def test_each_step_ranks_the_errors_it_has_nan_being_none():
    """A held-out value is forecast at every step from its own origin: a step's errors are those that are not NaN,
    and their count is its n."""
    errors = np.array([[1.0, np.nan], [-2.0, 20.0], [3.0, -30.0], [np.nan, 40.0], [5.0, np.nan]])
    table = calibrate(errors)  # four errors at the first step, three at the second
    assert table[0][49] == 3.0 and table[1][49] == 30.0  # 50%: the ceil(5 * 0.5) = 3rd of four, ceil(4 * 0.5) = 2nd
    assert table[0][79] == 5.0 and table[1][74] == 40.0  # 80% of four, 75% of three: the largest
    assert table[0][80] is None and table[1][75] is None  # 81% of four, 76% of three: none
    assert errors_per_step(errors) == 3
    assert errors_per_step(np.array([[1.0, np.nan], [2.0, np.nan]])) == 0


@pytest.mark.parametrize("level, windows", [(1, 1), (50, 1), (80, 4), (95, 19), (97.5, 49), (99, 99)])
def test_the_windows_a_level_needs(level, windows):
    assert windows_needed(level) == windows
    errors = np.arange(1.0, windows + 1)[:, None]
    assert calibrated(calibrate(errors), level)
    assert windows == 1 or not calibrated(calibrate(errors[:-1]), level)


def test_levels_are_whole_or_fractional_percents_from_1_to_99_each_once():
    assert check_levels([1, 80, 97.5, 99]) == (1, 80, 97.5, 99)
    assert check_levels(()) == ()
    for outside in (0.5, 99.5, 0, 100):
        with pytest.raises(
            BadInput,
            match=rf"^level {outside:g} is out of range \(--level\): choose a coverage between 1 and 99 percent$",
        ):
            check_levels([80, outside])
    with pytest.raises(BadInput, match=r"^level 80 is given twice \(--level\): give each level once$"):
        check_levels([80, 95, 80])


def table_up_to(level: int, steps: int = 2) -> list[list[float | None]]:
    """Widths rising with the level, None above ``level``, the same at every step but scaled by it."""
    return [[float(g * (step + 1)) if g <= level else None for g in GRID] for step in range(steps)]


def test_a_level_is_calibrated_when_both_whole_levels_around_it_have_widths_at_every_step():
    table = table_up_to(90)
    assert calibrated(table, 90) and calibrated(table, 89.5) and calibrated(table, 1)
    assert not calibrated(table, 90.5) and not calibrated(table, 91)
    table[1][89] = None  # the second step lacks 90%
    assert not calibrated(table, 90) and calibrated(table, 89)
    odd = table_up_to(99)
    odd[0][49] = None  # a hole below a width: each of the two levels around 50.5 must have one
    assert not calibrated(odd, 50.5) and not calibrated(odd, 49.5) and calibrated(odd, 51)


def test_half_widths_interpolate_between_levels_and_grow_as_sqrt_beyond_the_calibrated_steps():
    table = table_up_to(99)  # step 1: the level itself, step 2: twice it
    widths = half_widths(table, 80.25, 5, "m", 200)
    assert widths[0] == pytest.approx(80.25) and widths[1] == pytest.approx(160.5)
    for step in (2, 3, 4):  # past the two calibrated steps: the last one's, times sqrt((step + 1) / 2)
        assert widths[step] == pytest.approx(160.5 * math.sqrt((step + 1) / 2))
    with pytest.raises(BadInput, match=r"^m: too few held-out forecasts to calibrate a 92.5% interval"):
        half_widths(table_up_to(92), 92.5, 3, "m", 12)


def test_a_level_refused_says_the_errors_it_needs_those_there_are_and_what_would_give_it():
    """18 errors a step (airline's 18 windows of 12 months before every held-out value calibrated each step)."""
    table = calibrate(np.tile(np.arange(1.0, 19.0)[:, None], (1, 2)))
    assert highest_level(18) == 94 and calibrated(table, 94) and not calibrated(table, 94.5)
    with pytest.raises(BadInput) as refused:
        half_widths(table, 95, 2, "the model fitted on a Series", 18)
    assert str(refused.value) == (
        "the model fitted on a Series: too few held-out forecasts to calibrate a 95% interval: it needs 19 a forecast "
        "step, and the fit had 18; ask for at most 94% (--level), or fit on more data (a fit holds out up to a fifth "
        "of each series' values, at least a horizon, and calibrates on every one)"
    )
    assert highest_level(1) == 50 and highest_level(0) is None
    with pytest.raises(BadInput, match=r"the fit had 0; fit on more data \("):
        half_widths([[None] * len(GRID)], 50, 1, "m", 0)


def test_a_calibration_table_is_refused_naming_its_step_and_level():
    good = table_up_to(90)
    check_quantiles(good, "m.json")
    check_quantiles([[0.0] * len(GRID)], "m.json")  # zero widths: a perfect fit on held-out windows
    check_quantiles([[MAX_HALF_WIDTH] * len(GRID)], "m.json")
    cases = {
        "not a list": ("wide", "intervals.quantiles must be a list with one row per horizon step"),
        "empty": ([], "intervals.quantiles must be a list with one row per horizon step"),
        "a short row": ([[1.0] * 98], "intervals.quantiles[0] must hold 99 numbers, one per level from 1 to 99%"),
        "a row not a list": ([good[0], "x"], "intervals.quantiles[1] must hold 99 numbers"),
    }
    for name, (table, message) in cases.items():
        with pytest.raises(BadInput) as refused:
            check_quantiles(table, "m.json")
        assert str(refused.value).startswith(f"m.json: {message}"), name
    widths = {
        "falling": (10, 5.0),
        "negative": (0, -1.0),
        "a flag": (3, True),
        "text": (3, "5"),
        "beyond float32": (98, MAX_HALF_WIDTH * 2),
        "infinite": (98, math.inf),
        "not a number": (50, math.nan),
        "a gap below a width": (20, None),
    }
    for name, (index, width) in widths.items():
        row = [float(g) for g in GRID]
        row[index] = width
        with pytest.raises(BadInput) as refused:
            check_quantiles([good[0], row], "m.json")
        shown = repr(width)
        assert str(refused.value).startswith(f"m.json: intervals.quantiles[1], level {index + 1}%: "), name
        assert shown.lower() in str(refused.value).lower(), (name, str(refused.value))
        assert "is not a half-width: they are finite, none negative, at most 3.4e+38 and rise with the level" in str(
            refused.value
        ), name


def test_levels_are_one_number_or_several_and_a_text_is_no_level():
    """check_levels reads one level as a tuple of one, numpy's numbers as floats, and refuses a text naming --level
    (a text is iterable: read as several, '80' would be refused for its '8')."""
    assert (
        check_levels(80) == (80.0,)
        and check_levels(np.float32(97.5)) == (97.5,)
        and check_levels([80, 95])
        == (
            80.0,
            95.0,
        )
    )
    with pytest.raises(BadInput) as refused:
        check_levels("80")
    assert str(refused.value) == "--level must be a number, not '80'"


def test_the_bounds_are_named_as_nixtla_s_tools_name_them():
    assert bound_columns("model", 80) == ("model-lo-80", "model-hi-80")
    assert bound_columns("AAPL", 97.5) == ("AAPL-lo-97.5", "AAPL-hi-97.5")
