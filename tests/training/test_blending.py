"""The weights of Theta's and exponential smoothing's forecasts beside the network's, and the fallback: chosen on the
held-out values, never from their targets alone."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from forecaster.model import ets
from forecaster.model.theta import fit
from forecaster.training import blending
from forecaster.training.blending import ets_forecasts, seasonal_naive_forecasts, theta_forecasts
from forecaster.training.windows import make_windows


def choose(network, theta, targets, unit, smoothing=None, held=None):
    """blending.choose, exponential smoothing far off unless given, every target held out unless said."""
    smoothing = targets + 1e6 if smoothing is None else smoothing
    return blending.choose(
        network, theta, smoothing, targets, unit, np.ones(targets.shape, bool) if held is None else held
    )


def fall_back(model, baseline, targets, unit, series, count, held=None, horizon=1):
    """blending.fall_back, every target held out unless said, each series' held-out values counted from them."""
    held = np.ones(targets.shape, bool) if held is None else held
    values = np.bincount(series, held.sum(axis=1), minlength=count)
    return blending.fall_back(model, baseline, targets, unit, held, series, values, horizon)


def test_the_weight_with_the_least_held_out_error_is_chosen():
    targets = np.zeros((4, 3))
    unit = np.ones((4, 1))
    assert choose(targets, targets + 1, targets, unit).weight == 0  # the network is right
    assert choose(targets + 1, targets, targets, unit).weight == 1  # Theta is right
    chosen = choose(targets + 1, targets - 1, targets, unit)  # opposite errors cancel half and half
    assert chosen.weight == 0.5 and chosen.blend_error == 0 and chosen.network_error == chosen.theta_error == 1


def test_exponential_smoothing_takes_the_share_its_held_out_errors_earn():
    """The network two above, Theta far above, exponential smoothing one below: two thirds of it beside the network
    would cancel them, and the tenths nearest (0.7 of it) is chosen; alone it errs by 1."""
    targets = np.zeros((4, 3))
    unit = np.ones((4, 1))
    chosen = choose(targets + 2, targets + 20, targets, unit, smoothing=targets - 1)
    assert (chosen.weight, chosen.ets_weight) == (0.0, 0.7) and chosen.ets_error == 1
    assert choose(targets + 1, targets + 3, targets, unit, smoothing=targets).ets_weight == 1  # it is right


def test_only_the_held_out_values_weigh():
    """The targets not held out (a calibrating window's steps before the cut) weigh nothing: there Theta is right,
    on the held-out ones the network; the evidence counted is the held-out values and their windows."""
    targets = np.zeros((3, 2))
    held = np.array([[False, True], [True, True], [False, False]])
    network = np.where(held, 0.0, 5.0)
    chosen = choose(network, np.where(held, 1.0, 0.0), targets, np.ones((3, 1)), held=held)
    assert chosen.weight == 0 and chosen.values == 3 and chosen.windows == 2


def test_errors_are_weighed_in_each_windows_units():
    """A window in large units does not outweigh the others: errors are divided by each window's unit."""
    targets = np.zeros((2, 1))
    network, theta = np.array([[0.0], [1.0]]), np.array([[50.0], [0.0]])  # in the data's units the network is closer
    assert choose(network, theta, targets, np.array([[100.0], [1.0]])).weight == 1


def _held_out_walk(seed: int, drift: float, rows: int, cut: int):
    """A random walk of ``rows`` values with a ``drift``, its training rows those before ``cut``, and its windows
    (window 5, horizon 3) whose first target is at or after the cut."""
    values = np.cumsum(np.random.default_rng(seed).normal(drift, 1, (rows, 1)), axis=0)
    windows = make_windows(values, 5, 3)
    return values, np.arange(rows)[:, None] < cut, windows.select(windows.first_target >= cut)


def test_a_held_out_windows_theta_forecast_reads_its_inputs_and_never_its_targets():
    """Smoothed up to the window's origin, alpha and drift from the training rows: changing the held-out targets
    changes nothing, and the forecast is Theta's fitted on the rows before the origin with the training rows'
    alpha."""
    cut = 24
    values, training_rows, held_out = _held_out_walk(seed=1, drift=0.5, rows=30, cut=cut)
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


def test_a_series_with_enough_held_out_horizons_decides_alone_the_others_together():
    """Series 0 (three horizons of two values held out: OWN_HORIZONS) is worse than its baseline and falls back alone;
    series 1 and 2 (one horizon each) decide together: series 1's baseline wins by a little, series 2's model by
    more, so neither falls back. The evidence says so."""
    assert blending.OWN_HORIZONS == 3
    series = np.array([0] * 3 + [1, 2])
    targets = np.zeros((5, 2))
    unit = np.ones((5, 1))
    model = np.where(series[:, None] == 0, 1.0, np.where(series[:, None] == 1, 1.0, 0.0))
    baseline = np.where(series[:, None] == 0, 0.5, np.where(series[:, None] == 1, 0.8, 2.0))
    decided = fall_back(model, baseline, targets, unit, series, 4, horizon=2)
    assert decided.chosen.tolist() == [True, False, False, False]  # series 3 has no held-out window
    assert decided.together.tolist() == [False, True, True, False]
    assert decided.model_error[:3].tolist() == [1.0, 1.0, 0.0] and decided.baseline_error[:3].tolist() == [0.5, 0.8, 2]
    assert decided.evidence() == {"alone": 1, "together": 2, "alone_values": 6, "together_values": 4}
    baseline[series == 2] = 0.0  # now the pooled baseline is better: both fall back
    assert fall_back(model, baseline, targets, unit, series, 4, horizon=2).chosen.tolist() == [True, True, True, False]
    fewer = fall_back(model[1:], baseline[1:], targets[1:], unit[1:], series[1:], 4, horizon=2)
    assert fewer.together.tolist() == [True, True, True, False]  # two horizons of series 0: together with the others


def test_a_series_decides_on_its_held_out_values_from_every_origin():
    """Only the held-out targets count: series 0's windows reaching back before its cut (the first step of each) are
    where its model errs, and they weigh nothing."""
    series = np.zeros(6, dtype=int)
    targets = np.zeros((6, 2))
    held = np.array([[False, True]] * 3 + [[True, True]] * 3)
    model = np.where(held, 0.1, 9.0)
    decided = fall_back(model, np.full((6, 2), 0.2), targets, np.ones((6, 1)), series, 1, held=held, horizon=2)
    assert not decided.chosen[0] and decided.model_error[0] == pytest.approx(0.1) and decided.values.tolist() == [9]


def test_a_series_without_held_out_windows_has_no_errors_and_raises_no_warning():
    """A series too short to hold out a window (one of a single value, forecast by its last) has no errors to compare:
    NaN, never chosen, and no numpy warning of 0 / 0, which a fit would say as its own."""
    series = np.array([0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decided = fall_back(np.ones((2, 1)), np.zeros((2, 1)), np.zeros((2, 1)), np.ones((2, 1)), series, 2, horizon=1)
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
    choice = choose(targets + 1, targets + 3, targets, np.ones((3, 1)), smoothing=targets + 2)
    assert choice.weight == 0 and choice.network_error == 1 and choice.theta_error == 3
    assert choice.to_json() == {
        "theta_weight": 0.0,
        "ets_weight": 0.0,
        "network_error": 1.0,
        "theta_error": 3.0,
        "ets_error": 2.0,
        "blend_error": 1.0,
        "windows": 3,
        "values": 6,
    }


def test_a_series_falls_back_only_when_its_baseline_is_strictly_better_in_its_own_units():
    """Three horizons decide alone (OWN_HORIZONS); a tie keeps the model; errors are divided by each window's unit."""
    series = np.array([0] * 3 + [1] * 3)
    targets = np.full((6, 1), 50.0)
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


def test_a_held_out_windows_exponential_smoothing_is_smoothed_to_its_origin_with_the_training_rows_parameters():
    """Its form and parameters chosen on the training rows, its states smoothed up to each window's origin: changing
    the held-out targets after the first window's origin changes nothing of its forecast, which is the training
    rows' model run over the rows before that origin."""
    cut = 32
    values, training_rows, held_out = _held_out_walk(seed=2, drift=0.3, rows=40, cut=cut)
    forecasts = ets_forecasts(held_out, values, training_rows)
    changed = values.copy()
    changed[cut:] += 100
    first = held_out.first_target == cut
    np.testing.assert_allclose(ets_forecasts(held_out, changed, training_rows)[first], forecasts[first], rtol=1e-12)
    trained = ets.fit(np.where(training_rows, values, np.nan))
    np.testing.assert_allclose(forecasts[0], trained.refiltered(values[:cut]).forecast(3)[0])


def test_held_out_seasonal_naive_reads_the_first_row_and_nothing_before_it():
    """A window whose season reaches back to row 0 reads it; one reaching before the series starts reads naive."""
    values = np.arange(10.0, 20.0)[:, None]
    windows = make_windows(values, 2, 2)
    early = windows.select(windows.first_target == 3)  # origin row 2: rows 0, 1, 2 are its season of 3
    np.testing.assert_array_equal(seasonal_naive_forecasts(early, values, 3), [[10.0, 11.0]])
    earlier = windows.select(windows.first_target == 2)  # the season would start at row -1
    np.testing.assert_array_equal(seasonal_naive_forecasts(earlier, values, 3), [[11.0, 11.0]])


def test_exponential_smoothing_joins_the_blend_only_on_evidence_over_the_groups():
    """Six windows, two a group. Exponential smoothing is right on most and far off on one group: its gain over
    Theta's blend is within the noise of three groups, and Theta's weight alone is kept; right everywhere, it joins."""
    targets = np.zeros((6, 2))
    unit = np.ones((6, 1))
    network = theta = targets + 1.0
    noisy = np.where(np.arange(6)[:, None] < 4, 0.0, 1.4)
    groups = np.array([0, 0, 1, 1, 2, 2])
    kept = blending.choose(network, theta, noisy, targets, unit, np.ones((6, 2), bool), groups)
    assert (kept.weight, kept.ets_weight) == (0.0, 0.0) and kept.ets_error < kept.network_error
    assert not blending.proven(np.array([1.0, 1.0, 1.0, 1.0, -0.8, -0.8]), np.full(6, 2), groups)
    assert blending.proven(np.array([1.0, 1.0, 1.0, 1.0, 0.8, 0.8]), np.full(6, 2), groups)
    right = blending.choose(network, theta, targets, targets, unit, np.ones((6, 2), bool), groups)
    assert right.ets_weight == 1.0
    assert not blending.proven(np.array([5.0]), np.array([2]), np.array([0]))  # one group: no spread to judge by
