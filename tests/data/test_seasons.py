"""Seasons: the natural season of every frequency, steps on the calendar, the 90% test and classical decomposition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.data.seasons import Season, decompose, is_seasonal, natural_season, steps_between
from forecaster.data.table import infer_frequency


@pytest.mark.parametrize(
    "kind, frequency, season",
    [
        ("datetime", "min", 1440),
        ("datetime", "10min", 144),
        ("datetime", "15min", 96),
        ("datetime", "30min", 48),
        ("datetime", "h", 24),
        ("datetime", "2h", 12),
        ("datetime", "7h", 1),
        ("datetime", "D", 7),
        ("datetime", "B", 5),
        ("datetime", "2D", 1),
        ("datetime", "7D", 1),
        ("datetime", "W-SUN", 52),
        ("datetime", "2W-MON", 26),
        ("datetime", "MS", 12),
        ("datetime", "ME", 12),
        ("datetime", "3MS", 4),
        ("datetime", "5MS", 1),
        ("datetime", "QS-OCT", 4),
        ("datetime", "QE-DEC", 4),
        ("datetime", "2QS-JAN", 2),
        ("datetime", "YS-JAN", 1),
        ("datetime", "YE-DEC", 1),
        ("integer", "1", 1),
        ("row", "1", 1),
        ("datetime", None, 1),
    ],
)
def test_every_frequency_has_its_natural_season(kind, frequency, season):
    assert natural_season(kind, frequency) == season


def test_frequencies_pandas_infers_from_real_timestamps_get_their_season():
    for times, season in (
        (pd.date_range("2024-01-01", periods=20, freq="30min"), 48),
        (pd.date_range("2024-01-01", periods=20, freq="MS"), 12),
        (pd.date_range("2024-01-07", periods=20, freq="W"), 52),
    ):
        assert natural_season("datetime", infer_frequency(times, "datetime")) == season


def test_steps_are_counted_on_the_calendar():
    months = pd.DatetimeIndex(["2019-11-01", "2020-01-01", "2021-02-01"])
    np.testing.assert_array_equal(steps_between("datetime", "MS", "2019-12-01", months), [-1, 1, 14])
    np.testing.assert_array_equal(
        steps_between("datetime", "QS-JAN", "2019-01-01", pd.DatetimeIndex(["2020-04-01"])), [5]
    )
    # trading days: a missing holiday row does not shift the weekdays after it
    days = pd.DatetimeIndex(["2024-01-02", "2024-01-04", "2024-01-08"])
    np.testing.assert_array_equal(steps_between("datetime", "B", "2024-01-01", days), [1, 3, 5])
    hours = pd.DatetimeIndex(["2024-01-01 00:30", "2024-01-02 00:00"])
    np.testing.assert_array_equal(steps_between("datetime", "30min", "2024-01-01", hours), [1, 48])
    np.testing.assert_array_equal(
        steps_between("datetime", "W-SUN", "2024-01-07", pd.DatetimeIndex(["2024-03-03"])), [8]
    )
    np.testing.assert_array_equal(steps_between("integer", "5", 10, [10, 25, 0]), [0, 3, -2])


def monthly(cycles: int, amplitude: float, noise: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    steps = np.arange(12 * cycles)
    return 100 * (1 + amplitude * np.sin(2 * np.pi * steps / 12)) * (1 + 0.002 * steps) + noise * rng.standard_normal(
        len(steps)
    )


def test_the_90_percent_test_finds_a_season_and_not_noise():
    assert is_seasonal(monthly(6, 0.3, 1.0), 12)
    assert not is_seasonal(np.random.default_rng(1).standard_normal(72), 12)
    assert not is_seasonal(monthly(2, 0.3, 1.0), 12)  # two cycles are too few to test
    assert not is_seasonal(np.full(72, 5.0), 12)  # constant: no autocorrelation at all


def test_multiplicative_indices_recover_the_season_whatever_the_series_starts_on():
    values = monthly(8, 0.2, 0.0)
    expected = 1 + 0.2 * np.sin(2 * np.pi * np.arange(12) / 12)
    season = decompose(values, np.arange(len(values)), 12)
    assert season.kind == "multiplicative"
    np.testing.assert_allclose(season.indices, expected / expected.mean(), atol=0.01)
    # a series that starts in April: its first value is position 3 of the model's season, and the indices still are
    late = decompose(values[3:], np.arange(3, len(values)), 12)
    np.testing.assert_allclose(late.indices, season.indices, atol=0.01)


def test_series_with_zero_or_negative_values_are_decomposed_additively():
    steps = np.arange(96)
    values = 20 * np.sin(2 * np.pi * steps / 12) + 0.1 * steps - 5
    season = decompose(values, np.arange(len(values)), 12)
    assert season.kind == "additive"
    assert sum(season.indices) == pytest.approx(0, abs=1e-9)
    np.testing.assert_allclose(season.indices, 20 * np.sin(2 * np.pi * np.arange(12) / 12), atol=1.0)


def test_no_season_without_a_passing_test():
    assert decompose(np.random.default_rng(2).standard_normal(96) + 50, np.arange(96), 12) is None


@pytest.mark.parametrize("kind", ["multiplicative", "additive"])
def test_restore_undoes_remove(kind):
    season = Season(kind, (0.5, 1.0, 1.5, 1.0))
    values, positions = np.array([3.0, 4, 5, 6, 7]), np.array([-1, 0, 1, 2, 7])
    np.testing.assert_allclose(season.restore(season.remove(values, positions), positions), values)
    assert season.remove(np.array([3.0]), np.array([-1]))[0] == (
        3.0 if kind == "multiplicative" else 2.0
    )  # position -1 is the last of the season
