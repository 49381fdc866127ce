"""Cutting windows (make_windows): positions into the series, left-padded where a series is short."""

from __future__ import annotations

import numpy as np

from forecaster.training.windows import make_windows


def test_windows_over_thousands_of_series_are_positions_not_copies():
    """5,000 series of 400 rows: 1.8 million windows, held as two integers each over one array of the values."""
    values = np.random.default_rng(0).standard_normal((400, 5000))
    windows = make_windows(values, window=32, horizon=7, min_observed=32)

    assert len(windows) == 5000 * (400 - 39 + 1)
    assert windows.values.shape == (32 + 400, 5000)  # the series once, below the rows of padding
    np.testing.assert_array_equal(windows.values[32:], values)
    assert windows.series.nbytes + windows.start.nbytes <= 16 * len(
        windows
    )  # copied out, a window of float64 takes 312 bytes
    batch = windows.select(np.array([0, 362, len(windows) - 1]))  # 362 windows a series
    np.testing.assert_array_equal(batch.inputs, [values[0:32, 0], values[0:32, 1], values[361:393, 4999]])


def test_make_windows_shapes_and_contents():
    values = np.arange(20, dtype=float).reshape(2, 10).T  # column 0: 0..9, column 1: 10..19
    windows = make_windows(values, window=3, horizon=2, min_observed=3)

    assert len(windows) == 12  # 10 - (3 + 2) + 1 = 6 per series
    assert windows.inputs.shape == (12, 3)
    assert windows.targets.shape == (12, 2)
    assert windows.series.tolist() == [0] * 6 + [1] * 6
    assert windows.first_target.tolist() == list(range(3, 9)) * 2
    for k in range(len(windows)):
        column, start = values[:, windows.series[k]], windows.first_target[k]
        np.testing.assert_array_equal(windows.inputs[k], column[start - 3 : start])
        np.testing.assert_array_equal(windows.targets[k], column[start : start + 2])


def test_a_late_series_gives_fewer_windows_starting_at_its_first_value():
    values = np.column_stack([np.arange(10.0), [np.nan] * 4 + list(range(6))])
    windows = make_windows(values, window=3, horizon=2, min_observed=3)

    late = windows.series == 1
    assert late.sum() == 2 and (~late).sum() == 6
    assert windows.first_target[late].tolist() == [7, 8]  # 4 missing rows + 3 inputs
    assert not np.isnan(windows.inputs).any()
    np.testing.assert_array_equal(windows.targets[:, 0], values[windows.first_target, windows.series])


def test_a_series_shorter_than_a_window_is_read_left_padded():
    """A series reads as many values as it has before its targets, NaN-padded, down to ``min_observed``; a long one a
    full window."""
    values = np.full((10, 3), np.nan)
    values[6:, 0], values[7:, 1], values[:, 2] = np.arange(4.0), [10, 11, 12], np.arange(20.0, 30.0)
    windows = make_windows(values, window=3, horizon=2, min_observed=1, positions=np.arange(100, 110))

    assert windows.series.tolist() == [0, 1] + [2] * 6
    np.testing.assert_array_equal(windows.inputs[:2], [[np.nan, 0, 1], [np.nan, np.nan, 10]])
    np.testing.assert_array_equal(windows.targets[:2], [[2, 3], [11, 12]])
    assert not np.isnan(windows.inputs[2:]).any()  # ten values: full windows only
    np.testing.assert_array_equal(
        windows.input_positions()[1], [105, 106, 107]
    )  # the padding continues the time axis backwards
    np.testing.assert_array_equal(windows.target_positions()[0], [108, 109])
    assert len(make_windows(values[:, :2], window=3, horizon=2, min_observed=2)) == 1  # [nan, 0, 1] -> [2, 3]
    assert len(make_windows(values[:, :2], window=3, horizon=2, min_observed=3)) == 0


def test_select_keeps_the_fields_aligned():
    windows = make_windows(np.arange(10.0).reshape(10, 1), window=2, horizon=1, min_observed=2)
    chosen = windows.select(windows.first_target % 2 == 0)
    assert chosen.first_target.tolist() == [2, 4, 6, 8]
    np.testing.assert_array_equal(chosen.targets[:, 0], chosen.first_target.astype(float))
    np.testing.assert_array_equal(chosen.inputs[:, -1], chosen.first_target - 1.0)


# --- the shipped data files ---
