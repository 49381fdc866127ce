"""Per-series validation: each series' own last windows are held out, whether the series end together or apart."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecaster.model.fit_result import MIN_OBSERVED
from forecaster.training.pipeline import MIN_WINDOWS_FOR_VALIDATION, VALIDATION_WINDOWS, split
from forecaster.training.windows import make_windows


def collection(rows: int, spans: list[tuple[int, int]]) -> np.ndarray:
    """One column per (first, end) row span: values there, NaN outside it."""
    values = np.full((rows, len(spans)), np.nan)
    for column, (first, end) in enumerate(spans):
        values[first:end, column] = np.arange(end - first, dtype=float) + 1
    return values


def held_out(values: np.ndarray, window: int, horizon: int):
    windows = make_windows(values, window, horizon, min_observed=MIN_OBSERVED)
    holdout = split(values, horizon)
    return windows, holdout, *holdout.windows(windows)


def assert_no_leak(holdout, training, validation, horizon: int) -> None:
    """No training target at or after its series' cut; every validation target at or after it."""
    assert (training.first_target + horizon <= holdout.cut[training.series]).all()
    assert (validation.first_target >= holdout.cut[validation.series]).all()


@pytest.mark.parametrize("layout", ["end-aligned", "start-aligned"])
def test_every_series_is_validated_on_its_own_last_windows(layout):
    """Series that start apart and end together (the competitions), or start together and end apart."""
    rows, horizon = 60, 6
    lengths = [60, 45, 30, 20, 14, 60, 33, 25] * 10
    spans = [(rows - n, rows) if layout == "end-aligned" else (0, n) for n in lengths]
    values = collection(rows, spans)
    windows, holdout, training, validation = held_out(values, window=12, horizon=horizon)

    assert_no_leak(holdout, training, validation, horizon)
    assert set(validation.series) == set(range(len(spans)))  # every series, not only those reaching the last rows
    for k, (first, end) in enumerate(spans):
        own = validation.select(validation.series == k)
        assert own.first_target.max() + horizon == end  # its last window ends on its own last value
        assert (
            horizon <= end - holdout.cut[k] <= max(horizon, round(0.2 * (end - first)))
        )  # a horizon, or at most a fifth
    straddling = (windows.first_target < holdout.cut[windows.series]) & (
        windows.first_target + horizon > holdout.cut[windows.series]
    )
    assert len(training) + len(validation) + straddling.sum() == len(windows)


def test_few_series_hold_out_more_windows_each_but_at_most_a_fifth():
    values = collection(2000, [(0, 2000), (1500, 2000)])
    _, holdout, _, validation = held_out(values, window=10, horizon=7)
    assert holdout.cut.tolist() == [2000 - 400, 2000 - 100]  # a fifth of each: 100 horizons each would be more
    assert np.bincount(validation.series).tolist() == [400 - 7 + 1, 100 - 7 + 1]  # every window in those rows


def test_windows_are_counted_without_overlap():
    """200 windows one row apart of a single series would score its last 200 + horizon - 1 values only: a long one
    holds out 200 horizons of values."""
    horizon = 48
    values = collection(60_000, [(0, 60_000)])
    _, holdout, _, validation = held_out(values, window=96, horizon=horizon)
    assert holdout.cut.tolist() == [60_000 - VALIDATION_WINDOWS * horizon]
    targets = validation.first_target[:, None] + np.arange(horizon)
    assert len(np.unique(targets)) == VALIDATION_WINDOWS * horizon


def test_a_series_too_short_to_forecast_a_horizon_holds_nothing_out():
    values = collection(30, [(0, 30)] * 20 + [(25, 30)])
    _, holdout, training, validation = held_out(values, window=8, horizon=6)
    assert holdout.cut[-1] == 30  # 5 values: fewer than 6 targets and 2 inputs
    assert 20 not in set(validation.series) and 20 not in set(training.series)


def test_tiny_data_gets_no_validation_and_trains_on_everything():
    windows, _, training, validation = held_out(collection(7, [(0, 7)]), window=3, horizon=3)
    assert len(windows) < MIN_WINDOWS_FOR_VALIDATION
    assert validation is None and training is windows


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    rows=st.integers(2, 150),
    window=st.integers(1, 12),
    horizon=st.integers(1, 12),
    spans=st.lists(st.tuples(st.integers(0, 149), st.integers(1, 150)), min_size=1, max_size=4),
)
def test_validation_never_leaks_into_training(rows, window, horizon, spans):
    spans = [(min(a, b, rows - 1), min(max(a, b), rows)) for a, b in spans]
    spans = [(first, max(end, first + 1)) for first, end in spans]
    windows, holdout, training, validation = held_out(collection(rows, spans), window, horizon)
    if validation is None:
        assert training is windows
        return
    assert_no_leak(holdout, training, validation, horizon)
    assert len(training) >= len(validation)


def test_held_out_errors_calibrate_in_the_final_fits_units():
    """A difference series' error in units of its first scaler (scale 2) is half as many units of the final one
    (scale 4), in which predict widens the forecast; a ratio series' unit is its level in both."""
    from forecaster.model.preparation import Preparation
    from forecaster.model.scaling import Scaler
    from forecaster.training.pipeline import _rescaled

    first = [
        Preparation(False, Scaler("standard", 0.0, 2.0), None),
        Preparation(True, Scaler("maxabs", 0.0, 5.0), None),
    ]
    final = [
        Preparation(False, Scaler("standard", 1.0, 4.0), None),
        Preparation(True, Scaler("maxabs", 0.0, 9.0), None),
    ]
    windows = make_windows(np.arange(40, dtype=float).reshape(20, 2), 4, 2)
    factors = _rescaled(first, final, windows)
    assert factors.shape == (len(windows), 1)
    assert set(factors[windows.series == 0, 0]) == {0.5} and set(factors[windows.series == 1, 0]) == {1.0}
