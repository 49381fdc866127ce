"""Metrics, baselines and conformal intervals, checked against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from forecaster.errors import BadInput
from forecaster.model.intervals import GRID, calibrate, check_levels, half_widths
from forecaster.training.metrics import baseline_forecasts, errors, mase, mase_scale


def test_baselines_on_a_known_history():
    history = np.array([np.nan, 1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14])  # a late start is ignored
    got = baseline_forecasts(history, horizon=5, season=7)
    np.testing.assert_array_equal(got["naive"], [14, 14, 14, 14, 14])
    np.testing.assert_array_equal(got["seasonal-naive"], [8, 9, 10, 11, 12])  # y[t-7] for t = 15..19
    np.testing.assert_array_equal(got["drift"], [15, 16, 17, 18, 19])  # slope (14-1)/13 = 1


def test_seasonal_naive_repeats_the_last_season_beyond_one_season():
    got = baseline_forecasts(np.array([1.0, 2, 3, 10, 20, 30]), horizon=5, season=3)
    np.testing.assert_array_equal(got["seasonal-naive"], [10, 20, 30, 10, 20])


def test_accuracy_metrics():
    actual, predicted = np.array([1.0, 2, 4]), np.array([2.0, 2, 1])
    got = errors(actual, predicted)
    assert got["mae"] == pytest.approx(4 / 3)
    assert got["rmse"] == pytest.approx(np.sqrt(10 / 3))
    assert got["smape"] == pytest.approx(np.mean([200 * 1 / 3, 0, 200 * 3 / 5]))
    assert mase(actual, predicted, scale=np.full(3, 2.0)) == pytest.approx(2 / 3)


def test_mase_leaves_out_points_without_a_scale_and_is_none_without_any():
    """A constant history's scale is 0 (mase_scale says NaN): its points cannot be measured in it."""
    actual, predicted = np.array([1.0, 2, 4]), np.array([2.0, 2, 1])
    assert mase(actual, predicted, np.array([2.0, np.nan, np.nan])) == pytest.approx(1 / 2)
    assert mase(actual, predicted, np.full(3, np.nan)) is None


def test_errors_of_values_whose_squares_overflow_are_finite():
    """Values near 1e300: the squares of their errors overflow float64, the figures must not."""
    actual, predicted = np.array([1e300, 2e300]), np.array([1.5e300, 1e300])
    got = errors(actual, predicted)
    assert got["mae"] == pytest.approx(0.75e300)
    assert got["rmse"] == pytest.approx(np.sqrt((0.25 + 1.0) / 2) * 1e300)
    assert got["smape"] == pytest.approx(np.mean([200 * 0.5 / 2.5, 200 * 1 / 3]))


def test_smape_of_zero_against_zero_is_zero():
    assert errors(np.zeros(2), np.zeros(2))["smape"] == 0


def test_mase_scale_is_the_mean_seasonal_difference():
    assert mase_scale(np.array([1.0, 5, 2, 8, 3]), season=2) == pytest.approx((1 + 3 + 1) / 3)
    assert mase_scale(np.array([1.0, 2, 4]), season=12) == pytest.approx(1.5)  # too short for a season: lag 1
    assert np.isnan(mase_scale(np.array([3.0, 3, 3]), season=1))  # constant: no scale


def test_conformal_quantile_is_the_ceil_n_plus_one_rank():
    errors = np.arange(1.0, 20.0).reshape(-1, 1)  # 19 windows, one step: |e| = 1..19
    table = calibrate(errors)
    assert len(table) == 1 and len(table[0]) == len(GRID)
    assert table[0][GRID.index(50)] == 10  # ceil(20 * 0.5) = 10th smallest
    assert table[0][GRID.index(90)] == 18
    assert table[0][GRID.index(95)] == 19
    assert table[0][GRID.index(99)] is None  # needs the 20th of 19: no finite width


def test_conformal_rank_is_rounded_up_where_rounding_matters():
    """With 10 windows, (n+1)a is not whole: floor((n+1)a) and ceil(na) would both give a narrower interval."""
    table = calibrate(np.arange(1.0, 11.0).reshape(-1, 1))  # |e| = 1..10
    assert table[0][GRID.index(80)] == 9  # ceil(11 * 0.80) = ceil(8.8); floor gives 8, ceil(10 * 0.8) gives 8
    assert table[0][GRID.index(85)] == 10  # ceil(9.35); floor gives 9
    assert table[0][GRID.index(33)] == 4  # ceil(3.63); floor gives 3
    assert table[0][GRID.index(91)] is None  # ceil(10.01) = 11 of 10: no finite width


def test_half_widths_interpolate_between_levels_and_grow_past_the_horizon():
    table = calibrate(np.tile(np.arange(1.0, 200.0), (2, 1)).T * np.array([1.0, 2.0]))
    widths = half_widths(table, 80.5, horizon=4, source="m", windows=199)
    low, high = table[0][79], table[0][80]
    assert widths[0] == pytest.approx((low + high) / 2)
    assert widths[1] == pytest.approx(2 * widths[0])
    assert widths[3] == pytest.approx(widths[1] * np.sqrt(4 / 2))


def test_levels_out_of_range_and_too_high_for_the_data():
    with pytest.raises(BadInput, match=r"level 100 is out of range \(--level\)"):
        check_levels([80, 100])
    with pytest.raises(BadInput, match="too few held-out forecasts"):
        half_widths(calibrate(np.ones((10, 1))), 95, 1, "m", 10)


def test_small_errors_beside_values_near_1e308_keep_their_rmse():
    """Squares of errors in units of 1e308 underflow to 0: the RMSE is taken in units of the largest error."""
    scores = errors(np.array([1e308, 1.0]), np.array([1e308, 1.5]))
    assert scores["mae"] == pytest.approx(0.25) and scores["rmse"] == pytest.approx(np.sqrt(0.125))
