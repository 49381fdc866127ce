"""Seasons: the natural season of every frequency, steps on the calendar, the 90% test and classical decomposition."""

from __future__ import annotations

import datetime
import math

import numpy as np
import pandas as pd
import pytest

from forecaster.data.seasons import (
    Season,
    _centred_moving_average,
    decompose,
    is_seasonal,
    natural_season,
    sparse_axis,
    steps_between,
)
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


# Exactly as the rules say: each branch's counts and decisions at their edges (the mutation run's survivors)


@pytest.mark.parametrize(
    "kind, frequency, start, times, expected",
    [
        ("integer", "3", 10, [10, 11, 12, 13, 19, 4], [0, 0, 0, 1, 3, -2]),  # whole steps, rounded down
        ("integer", None, 10, [10, 12], [0, 2]),  # no frequency: a step of one
        ("datetime", None, "2020-01-01", ["2020-01-01", "2020-01-01"], [0, 0]),  # one timestamp: nothing to count
        ("datetime", "2B", "2026-03-02", ["2026-03-04", "2026-03-05", "2026-03-09"], [1, 1, 2]),  # Mon to Wed, Thu, Mon
        ("datetime", "QS", "2020-01-01", ["2020-07-01", "2020-08-01", "2021-01-01"], [2, 2, 4]),
        ("datetime", "YS", "2020-01-01", ["2033-01-01", "2033-06-01"], [13, 13]),
        ("datetime", "SME", "2020-01-15", ["2020-01-31"], [16]),  # semi-monthly: not a month, counted in days
        ("datetime", "3D", "2020-01-01", ["2020-01-07", "2020-01-10"], [2, 3]),
        ("datetime", "D", "2020-01-01", ["2020-01-11"], [10]),
        ("datetime", "2W-SUN", "2020-01-05", ["2020-02-02", "2020-02-16"], [2, 3]),
        ("datetime", "6h", "2020-01-01", ["2020-01-01 18:00", "2020-01-02 00:00"], [3, 4]),
    ],
)
def test_steps_are_whole_numbers_of_the_frequency(kind, frequency, start, times, expected):
    if kind == "datetime":
        start, times = pd.Timestamp(start), pd.DatetimeIndex(times)
    steps = steps_between(kind, frequency, start, times)
    assert steps.dtype == np.int64 and steps.tolist() == expected


def test_times_with_an_offset_count_on_their_wall_clock():
    """Across the change to summer time, three wall-clock hours after midnight are three steps, not two."""
    times = pd.DatetimeIndex(["2026-03-29 00:00", "2026-03-29 03:00"]).tz_localize("Europe/London")
    assert steps_between("datetime", "h", times[0], times).tolist() == [0, 3]


SPARSE = "fewer than one row in 100 steps is not a series at that frequency"


@pytest.mark.parametrize(
    "kind, frequency, first, at_most, past",
    [
        ("datetime", "D", "2024-01-01", "2024-07-18", "2024-07-19"),  # 200 days from the first to the last, then 201
        ("integer", "5", 3, 998, 1003),  # 200 steps of 5, then 201
    ],
)
def test_rows_that_fill_a_step_in_a_hundred_are_a_series_and_fewer_are_refused_saying_the_steps(
    kind, frequency, first, at_most, past
):
    """Two rows may span 200 steps of their frequency, counted from the first to the last, both included; at 201,
    the answer says why, with the count."""
    if kind == "datetime":
        first, at_most, past = pd.Timestamp(first), pd.Timestamp(at_most), pd.Timestamp(past)
    assert sparse_axis(kind, frequency, first, at_most, 2) is None
    assert sparse_axis(kind, frequency, first, past, 2) == f"2 rows span 201 steps of {frequency}: {SPARSE}"
    assert sparse_axis(kind, frequency, first, past, 3) is None  # 300 steps for three


def test_a_time_axis_of_more_steps_than_64_bits_count_is_refused_saying_so():
    """Nanoseconds from 1700 to 2200 overflow 64 bits: refused as more steps than can be counted, not as a count."""
    first, last = pd.Timestamp("1700-01-01").as_unit("ns"), pd.Timestamp("2200-01-01").as_unit("ns")
    refused = sparse_axis("datetime", "ns", first, last, 4)
    assert refused == f"4 rows span more steps than can be counted of ns: {SPARSE}"
    # the last time pandas holds in nanoseconds, 2**63 - 1 after 1970: a count of 2**63 once a float, still too many
    assert sparse_axis("datetime", "ns", pd.Timestamp(0), pd.Timestamp.max, 4) == refused
    assert sparse_axis("datetime", None, first, first, 1) is None  # a single time: no frequency to count by


def test_steps_of_times_read_as_microseconds_are_counted_in_them_however_many_centuries_apart():
    """A model.json's times read as microseconds: 400 years of seconds are 12,622,780,800 steps. Divided by a length
    in nanoseconds they wrapped past 292 years, to a negative count, and a sparse axis was let through."""
    first, last = pd.Timestamp("1000-01-01T00:00:00"), pd.Timestamp("1400-01-01T00:00:00")
    assert first.unit == last.unit == "us"
    seconds = (datetime.date(1400, 1, 1) - datetime.date(1000, 1, 1)).days * 86_400
    assert steps_between("datetime", "s", first, [last]).tolist() == [seconds]
    assert steps_between("datetime", "500ms", first, [first, last]).tolist() == [0, 2 * seconds]
    assert sparse_axis("datetime", "s", first, last, 4) == f"4 rows span {seconds + 1:,} steps of s: {SPARSE}"
    uncounted = sparse_axis("datetime", "ns", first, last, 4)
    assert uncounted == f"4 rows span more steps than can be counted of ns: {SPARSE}"


@pytest.mark.parametrize(
    "frequency, season", [("12h", 2), ("6MS", 2), ("2QS", 2), ("5MS", 1), ("12MS", 1), ("SME", 1), ("YS", 1)]
)
def test_a_season_is_a_whole_number_of_steps_above_one(frequency, season):
    found = natural_season("datetime", frequency)
    assert found == season and type(found) is int


def seasonal(length: int, season: int, scale: float = 1.0) -> np.ndarray:
    """A strong season of ``season`` steps over a mild trend, all positive."""
    steps = np.arange(length)
    return scale * (10 + 0.05 * steps + 3 * np.sin(2 * np.pi * steps / season))


def bartlett(values: np.ndarray, season: int) -> bool:
    """The test as the literature writes it, term by term: |r_m| > 1.645 sqrt((1 + 2 sum_{k<m} r_k^2) / n)."""
    n, mean = len(values), float(np.mean(values))
    total = sum((value - mean) ** 2 for value in values)
    r = [sum((values[t] - mean) * (values[t - k] - mean) for t in range(k, n)) / total for k in range(season + 1)]
    return abs(r[season]) > 1.645 * math.sqrt((1 + 2 * sum(r[k] ** 2 for k in range(1, season))) / n)


def test_the_test_decides_as_bartlett_s_formula_does_near_its_limit():
    """Noisy seasons of every strength, many close to the limit: the same decision as the formula, every time."""
    rng = np.random.default_rng(3)
    decisions = []
    for trial in range(300):
        season = int(rng.choice([2, 4, 7, 12]))
        length = int(rng.integers(3 * season, 8 * season))
        values = 3 * rng.random() * np.sin(2 * np.pi * np.arange(length) / season) + rng.normal(size=length)
        if trial % 3 == 0:
            values = np.cumsum(values) * 0.2 + values  # some with a wandering level, whose low lags are large
        decisions.append(is_seasonal(values, season))
        assert decisions[-1] == bartlett(values, season), (trial, season, length)
    assert 0.2 < np.mean(decisions) < 0.8  # both decisions taken, many times


def test_the_test_needs_three_seasons_and_a_season_of_two_at_least():
    three = np.array([0.1, -0.1, 0.6, 0.1] * 3)
    assert is_seasonal(three, 4)  # exactly three seasons: tested, and seasonal
    assert not is_seasonal(three[:-1], 4)  # a value fewer: not tested
    assert not is_seasonal(np.arange(100.0), 1)  # a trend's lag 1 is large, but a season of one is none


@pytest.mark.parametrize("scale", [1e-3, 1e200])
def test_the_test_reads_tiny_and_huge_values_alike(scale):
    assert is_seasonal(seasonal(48, 12, scale), 12)


@pytest.mark.parametrize("values", [np.zeros(48), np.full(48, np.inf), np.full(48, 7.0)])
def test_no_season_in_zeros_infinities_or_a_constant(values):
    assert not is_seasonal(values, 12)


def test_the_kind_of_decomposition_follows_the_signs_or_the_caller():
    positive = seasonal(48, 12, 0.01)  # every value below one, all positive
    assert decompose(positive, np.arange(48), 12).kind == "multiplicative"
    assert decompose(positive, np.arange(48), 12, multiplicative=False).kind == "additive"
    with_a_zero = seasonal(48, 12) - seasonal(48, 12)[5]  # one value exactly zero, the rest of both signs
    assert decompose(with_a_zero, np.arange(48), 12).kind == "additive"
    one_zero = np.round(3 + 3 * np.sin(2 * np.pi * np.arange(48) / 12), 12)  # zero once a season, else positive
    assert one_zero.min() == 0  # still additive: a ratio to zero is none
    assert decompose(one_zero, np.arange(48), 12).kind == "additive"


@pytest.mark.parametrize("multiplicative, centre", [(True, 1.0), (False, 0.0)])
def test_indices_are_centred_on_no_change(multiplicative, centre):
    """Multiplicative indices average one, additive ones zero: removing the season leaves the level where it was."""
    noisy = seasonal(60, 12) + np.random.default_rng(7).normal(0, 0.5, 60)  # phase means that do not cancel
    season = decompose(noisy, np.arange(60), 12, multiplicative)
    assert abs(np.mean(season.indices) - centre) < 1e-12
    assert np.ptp(season.indices) > 0.1


def test_a_multiplicative_index_of_zero_is_no_season():
    """A phase whose values are all zero would divide by zero when removed: no season rather than that."""
    values = seasonal(48, 12)
    values[::12] = 0.0
    assert decompose(values, np.arange(48), 12, multiplicative=True) is None


@pytest.mark.parametrize("season", [3, 4])
def test_the_moving_average_is_the_centred_mean_of_a_season(season):
    """A 2 x m average for even m (half weight at both ends), a plain m-average for odd m, NaN where it cannot fit."""
    values = np.random.default_rng(5).normal(size=20)
    half = season // 2
    expected = np.full(20, np.nan)
    for t in range(half, 20 - half):
        window = values[t - half : t + half + 1].copy()
        if season % 2 == 0:
            window[0] *= 0.5
            window[-1] *= 0.5
        expected[t] = window.sum() / season
    np.testing.assert_allclose(_centred_moving_average(values, season), expected, rtol=1e-12)


def test_a_season_is_written_as_its_kind_and_indices():
    assert Season("additive", (1.0, -1.0)).to_json() == {"kind": "additive", "indices": [1.0, -1.0]}
