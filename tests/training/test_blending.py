"""The weight of Theta's forecast beside the network's: chosen on the held-out windows, never from their targets
alone."""

from __future__ import annotations

import warnings

import numpy as np

from forecaster.model.theta import fit
from forecaster.training.blending import choose, fall_back, seasonal_naive_forecasts, theta_forecasts
from forecaster.training.windows import make_windows


def test_the_weight_with_the_least_held_out_error_is_chosen():
    targets = np.zeros((4, 3))
    unit = np.ones((4, 1))
    assert choose(targets, targets + 1, targets, unit).weight == 0  # the network is right
    assert choose(targets + 1, targets, targets, unit).weight == 1  # Theta is right
    chosen = choose(targets + 1, targets - 1, targets, unit)  # opposite errors cancel half and half
    assert chosen.weight == 0.5 and chosen.blend_error == 0 and chosen.network_error == chosen.theta_error == 1


def test_errors_are_weighed_in_each_windows_units():
    """A window in large units does not outweigh the others: errors are divided by each window's unit."""
    targets = np.zeros((2, 1))
    network, theta = np.array([[0.0], [1.0]]), np.array([[50.0], [0.0]])  # in the data's units the network is closer
    assert choose(network, theta, targets, np.array([[100.0], [1.0]])).weight == 1


def test_a_held_out_windows_theta_forecast_reads_its_inputs_and_never_its_targets():
    """Smoothed up to the window's origin, alpha and drift from the training rows: changing the held-out targets
    changes nothing, and the forecast is Theta's fitted on the rows before the origin with the training rows'
    alpha."""
    rng = np.random.default_rng(1)
    values = np.cumsum(rng.normal(0.5, 1, (30, 1)), axis=0)
    cut = 24
    training_rows = np.arange(30)[:, None] < cut
    windows = make_windows(values, 5, 3)
    held_out = windows.select(windows.first_target >= cut)
    forecasts = theta_forecasts(held_out, values, training_rows)
    changed = values.copy()
    changed[27:] += 100  # the last windows' targets, never an input of the first held-out window
    first = held_out.first_target == cut
    np.testing.assert_array_equal(theta_forecasts(held_out, changed, training_rows)[first], forecasts[first])
    trained = fit(np.where(training_rows, values, np.nan))
    assert held_out.first_target[0] == cut
    before_origin = fit(values[:cut])
    expected = before_origin.level + trained.drift * (np.arange(3) + (1 - (1 - trained.alpha) ** cut) / trained.alpha)
    np.testing.assert_allclose(forecasts[0], expected)


def test_a_series_with_enough_held_out_windows_decides_alone_the_others_together():
    """Series 0 (12 windows) is worse than its baseline and falls back alone; series 1 and 2 (one window each) decide
    together: series 1's baseline wins by a little, series 2's model by more, so neither falls back."""
    series = np.array([0] * 12 + [1, 2])
    targets = np.zeros((14, 2))
    unit = np.ones((14, 1))
    model = np.where(series[:, None] == 0, 1.0, np.where(series[:, None] == 1, 1.0, 0.0))
    baseline = np.where(series[:, None] == 0, 0.5, np.where(series[:, None] == 1, 0.8, 2.0))
    decided = fall_back(model, baseline, targets, unit, series, 4)
    assert decided.chosen.tolist() == [True, False, False, False]  # series 3 has no held-out window
    assert decided.together.tolist() == [False, True, True, False]
    assert decided.model_error[:3].tolist() == [1.0, 1.0, 0.0] and decided.baseline_error[:3].tolist() == [0.5, 0.8, 2]
    baseline[series == 2] = 0.0  # now the pooled baseline is better: both fall back
    assert fall_back(model, baseline, targets, unit, series, 4).chosen.tolist() == [True, True, True, False]


def test_a_series_without_held_out_windows_has_no_errors_and_raises_no_warning():
    """A series too short to hold out a window (one of a single value, forecast by its last) has no errors to compare:
    NaN, never chosen, and no numpy warning of 0 / 0, which a fit would say as its own."""
    series = np.array([0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decided = fall_back(np.ones((2, 1)), np.zeros((2, 1)), np.zeros((2, 1)), np.ones((2, 1)), series, 2)
    assert np.isnan(decided.model_error[1]) and np.isnan(decided.baseline_error[1])
    assert decided.chosen.tolist() == [True, False]


def test_held_out_seasonal_naive_repeats_the_last_season_before_each_origin():
    values = np.arange(20, dtype=float)[:, None]
    windows = make_windows(values, 4, 3)
    held_out = windows.select(windows.first_target >= 15)
    forecasts = seasonal_naive_forecasts(held_out, values, 2)
    origins = held_out.first_target - 1
    np.testing.assert_array_equal(forecasts, np.stack([[o - 1, o, o - 1] for o in origins]))
    assert (seasonal_naive_forecasts(held_out, values, 1) == origins[:, None]).all()  # naive: the last value


def test_errors_are_distances_from_the_targets_whatever_their_sign():
    """Targets far from zero: the network one above them, Theta three above; the network wins, by distance."""
    targets = np.full((3, 2), 100.0)
    choice = choose(targets + 1, targets + 3, targets, np.ones((3, 1)))
    assert choice.weight == 0 and choice.network_error == 1 and choice.theta_error == 3
    assert choice.to_json() == {"theta_weight": 0.0, "network_error": 1.0, "theta_error": 3.0, "blend_error": 1.0}


def test_a_series_falls_back_only_when_its_baseline_is_strictly_better_in_its_own_units():
    """Ten windows decide alone (OWN_WINDOWS); a tie keeps the model; errors are divided by each window's unit."""
    series = np.array([0] * 10 + [1] * 10)
    targets = np.full((20, 1), 50.0)
    unit = np.where(series[:, None] == 0, 10.0, 1.0)
    model = targets + np.where(series[:, None] == 0, 20.0, 1.0)  # 2 units off for series 0, 1 for series 1
    baseline = targets - np.where(series[:, None] == 0, 10.0, 1.0)  # 1 unit off, and a tie
    decided = fall_back(model, baseline, targets, unit, series, 2)
    assert decided.together.tolist() == [False, False]
    assert decided.model_error.tolist() == [2.0, 1.0] and decided.baseline_error.tolist() == [1.0, 1.0]
    assert decided.chosen.tolist() == [True, False]


def test_pooled_series_fall_back_only_when_the_pooled_baseline_is_strictly_better():
    series = np.array([0, 1])
    targets = np.zeros((2, 1))
    model, baseline = np.array([[1.0], [0.0]]), np.array([[0.0], [1.0]])  # a tie in all: the model stays
    assert fall_back(model, baseline, targets, np.ones((2, 1)), series, 2).chosen.tolist() == [False, False]


def test_held_out_seasonal_naive_reads_the_first_row_and_nothing_before_it():
    """A window whose season reaches back to row 0 reads it; one reaching before the series starts reads naive."""
    values = np.arange(10.0, 20.0)[:, None]
    windows = make_windows(values, 2, 2)
    early = windows.select(windows.first_target == 3)  # origin row 2: rows 0, 1, 2 are its season of 3
    np.testing.assert_array_equal(seasonal_naive_forecasts(early, values, 3), [[10.0, 11.0]])
    earlier = windows.select(windows.first_target == 2)  # the season would start at row -1
    np.testing.assert_array_equal(seasonal_naive_forecasts(earlier, values, 3), [[11.0, 11.0]])
