"""Each series' preparation exactly: which reading and scaler it gets, its season, the way there and back, and the
JSON it is saved as and read back from (every malformed field refused by name)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from forecaster.data.seasons import Season
from forecaster.errors import BadInput
from forecaster.model.jsonread import At
from forecaster.model.preparation import Preparation, fit_preparations, restore
from forecaster.model.scaling import Scaler

STEPS = np.arange(48)


def series() -> np.ndarray:
    """Three series: positive and seasonal, of both signs and seasonal, positive and flat with noise."""
    wave = np.sin(2 * np.pi * STEPS / 12)
    noise = np.random.default_rng(2).normal(0, 0.01, 48)
    return np.column_stack([100 + 30 * wave + 0.2 * STEPS, 10 * wave + 0.1 * STEPS - 3, 5 + noise])


def test_positive_series_are_ratios_scaled_by_their_largest_value_others_differences_by_the_asked_scaler():
    values = series()
    prepared = fit_preparations("standard", values, np.array([True, False, True]), STEPS, 12, ["a", "b", "c"])
    assert [p.ratio for p in prepared] == [True, False, True]
    assert [p.scaler.kind for p in prepared] == ["maxabs", "standard", "maxabs"]
    assert [p.season.kind if p.season else None for p in prepared] == ["multiplicative", "additive", None]
    for k, preparation in enumerate(prepared):
        network = preparation.to_network(values[:, k], STEPS)
        np.testing.assert_allclose(preparation.from_network(network, STEPS), values[:, k], rtol=1e-12, atol=1e-12)
    assert np.nanmax(np.abs(prepared[0].to_network(values[:, 0], STEPS))) == pytest.approx(1.0)
    assert abs(np.mean(prepared[1].to_network(values[:, 1], STEPS))) < 1e-12  # standardised: mean zero


def test_only_the_training_rows_are_read_and_no_season_below_two():
    values = series()
    held_out = values.copy()
    held_out[40:] = np.nan  # the held-out rows, as a validated fit passes them
    one = fit_preparations("standard", held_out, np.array([True, False, True]), STEPS, 12, ["a", "b", "c"])
    changed = held_out.copy()
    changed[40:] = 1e6
    assert [p.to_json() for p in one] != [
        p.to_json() for p in fit_preparations("standard", changed, np.array([True, False, True]), STEPS, 12, "abc")
    ]
    flat = fit_preparations("standard", values, np.array([True, False, True]), STEPS, 1, ["a", "b", "c"])
    assert all(p.season is None for p in flat)
    empty = fit_preparations("standard", np.full((48, 1), np.nan), np.array([False]), STEPS, 12, ["a"])
    assert empty[0].season is None


def test_restore_puts_each_window_back_in_its_own_series_units():
    """Windows of several series, in no order: each restored by its own series' preparation, at its own steps."""
    preparations = [
        Preparation(True, Scaler("maxabs", 0.0, 10.0), Season("multiplicative", (0.5, 1.5))),
        Preparation(False, Scaler("standard", 3.0, 2.0), None),
        Preparation(False, Scaler("standard", -1.0, 4.0), Season("additive", (1.0, -1.0))),
    ]
    values = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])
    series = np.array([2, 0, 2, 1])
    positions = np.array([[0, 1], [1, 2], [1, 2], [5, 6]])
    expected = np.array(
        [
            [1 * 4 - 1 + 1, 2 * 4 - 1 - 1],  # series 2: additive indices at steps 0, 1
            [1 * 10 * 1.5, 2 * 10 * 0.5],  # series 0: multiplicative at steps 1, 2
            [1 * 4 - 1 - 1, 2 * 4 - 1 + 1],  # series 2 at steps 1, 2
            [1 * 2 + 3, 2 * 2 + 3],  # series 1
        ]
    )
    np.testing.assert_array_equal(restore(preparations, values, series, positions), expected)
    assert restore(preparations, np.empty((0, 2)), np.array([], dtype=int), np.empty((0, 2), dtype=int)).shape == (0, 2)


@pytest.mark.parametrize(
    "preparation",
    [
        Preparation(True, Scaler("maxabs", 0.0, 10.0), Season("multiplicative", (0.5, 1.5))),
        Preparation(False, Scaler("robust", 1.5, 2.0), Season("additive", (1.0, -1.0))),
        Preparation(False, Scaler("none", 0.0, 1.0), None),
        Preparation(True, Scaler("maxabs", 0.0, 4.0), None),
    ],
)
def test_a_preparation_is_saved_as_json_and_read_back_as_it_was(preparation):
    data = preparation.to_json()
    assert set(data) == {"reading", "scaler", "season"}
    assert data["reading"] == ("ratio" if preparation.ratio else "difference")
    scaler = preparation.scaler
    assert data["scaler"] == {"kind": scaler.kind, "center": scaler.center, "scale": scaler.scale}
    assert data["season"] == (None if preparation.season is None else preparation.season.to_json())
    assert Preparation.from_json(data, 2, scaler.kind, At("m.json") / "preparations" / "x") == preparation


GOOD = {"reading": "difference", "scaler": {"kind": "standard", "center": 0.0, "scale": 1.0}, "season": None}
SEASON = {"kind": "additive", "indices": [1.0, -1.0]}


RATIO = {"kind": "maxabs", "center": 0.0, "scale": 4.0}


@pytest.mark.parametrize(
    "data, refusal",
    [
        ("text", ": must be an object with reading, scaler, season, not 'text'"),
        ({**GOOD, "extra": 1}, ".extra: not a field forecaster"),
        ({**GOOD, "reading": "level"}, ".reading: 'level' is not one of ratio, difference"),
        ({key: value for key, value in GOOD.items() if key != "season"}, ".season: missing"),
        ({**GOOD, "season": "weekly"}, ".season: must be an object with kind, indices, not 'weekly'"),
        ({**GOOD, "season": {**SEASON, "extra": 1}}, ".season.extra: not a field forecaster"),
        ({**GOOD, "season": {**SEASON, "indices": "12"}}, ".season.indices: must be a list, not '12'"),
        ({**GOOD, "season": {**SEASON, "indices": [1.0]}}, ".season.indices: holds 1 values, and 2 to 2 belong there"),
        ({**GOOD, "season": {**SEASON, "indices": [1.0, True]}}, ".season.indices[1]: must be a number, not True"),
        ({**GOOD, "season": {**SEASON, "indices": [1.0, "2"]}}, ".season.indices[1]: must be a number, not '2'"),
        ({**GOOD, "season": {**SEASON, "indices": [1.0, float("nan")]}}, ".season.indices[1]: nan is not a finite"),
        ({**GOOD, "season": {**SEASON, "kind": "weekly"}}, ".season.kind: 'weekly' is not one of multiplicative"),
        ({**GOOD, "season": {"indices": [1.0, -1.0]}}, ".season.kind: missing"),
        (
            {**GOOD, "season": {"kind": "multiplicative", "indices": [1.0, 1.0]}},
            ".season.kind: 'multiplicative' is not the kind of season a series read as differences has",
        ),
        (
            {**GOOD, "reading": "ratio", "scaler": RATIO, "season": {"kind": "multiplicative", "indices": [1.0, 0.0]}},
            ".season.indices[1]: 0 is not a multiplicative seasonal index",
        ),
        (
            {**GOOD, "reading": "ratio", "scaler": RATIO, "season": {"kind": "multiplicative", "indices": [2, -1.0]}},
            ".season.indices[1]: -1 is not a multiplicative seasonal index",
        ),
        ({**GOOD, "scaler": {"kind": "standard", "center": 0.0}}, ".scaler.scale: missing"),
        (
            {**GOOD, "season": {**SEASON, "indices": [1.0, -0.5]}},
            ".season.indices: average 0.25, and a decomposition's",
        ),
        (
            {**GOOD, "reading": "ratio", "scaler": RATIO, "season": {"kind": "multiplicative", "indices": [1e308, 1]}},
            ".season.indices: average 5e+307, and a decomposition's multiplicative indices average 1",
        ),
        ({**GOOD, "scaler": RATIO}, ".scaler.kind: 'maxabs' is not the 'standard' scaler a series read as differences"),
        ({**GOOD, "reading": "ratio"}, ".scaler.kind: 'standard' is not the 'maxabs' scaler a series read as ratios"),
    ],
)
def test_a_malformed_preparation_is_refused_naming_its_field(data, refusal):
    with pytest.raises(BadInput) as refused:
        Preparation.from_json(data, 2, "standard", At("m.json") / "preparations" / "x")
    assert str(refused.value).startswith("m.json: preparations.x") and refusal in str(refused.value), refused.value


AVERAGE = "and a decomposition's {} indices average {}: they move values within a season, not the series"


@pytest.mark.parametrize(
    "kind, indices, average",
    [
        ("additive", [1e-9, 1e-9], None),  # off its centre by INDEX_ROUNDING to the bit: rounding, read
        ("additive", [0.5 + 3e-9, -0.5], "1.5e-09"),  # by 1.5 times it, indices below 1: refused
        ("additive", [4.0, -4.0 + 4e-9], None),  # by 2e-9 where the largest index is 4: within 4 times it, read
        ("additive", [4.0, -4.0 + 1e-8], "5e-09"),  # by 5e-9 there: refused
        ("multiplicative", [1e308, 1e308], "inf"),  # an average past float64: refused, not a numpy warning
    ],
)
def test_indices_may_average_off_their_centre_by_rounding_of_their_largest_and_no_more(kind, indices, average):
    ratio = kind == "multiplicative"
    data = {
        "reading": "ratio" if ratio else "difference",
        "scaler": RATIO if ratio else GOOD["scaler"],
        "season": {"kind": kind, "indices": indices},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if average is None:
            read = Preparation.from_json(data, 2, "standard", At("m.json") / "preparations" / "x")
            assert read.season == Season(kind, tuple(indices))
            return
        with pytest.raises(BadInput) as refused:
            Preparation.from_json(data, 2, "standard", At("m.json") / "preparations" / "x")
    assert str(refused.value) == (
        f"m.json: preparations.x.season.indices: average {average}, {AVERAGE.format(kind, 1 if ratio else 0)}"
    )


def test_a_forecast_restored_beyond_float64_is_infinite_without_a_warning():
    """from_network leaves a value past float64's range infinite, for its caller to refuse in its words: numpy's
    warning would be a second line, in a library's words."""
    preparation = Preparation(True, Scaler("maxabs", 0.0, 1e300), Season("multiplicative", (0.5, 1.5)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        restored = preparation.from_network(np.array([1e10, 1.0]), np.array([0, 1]))
    assert restored.tolist() == [np.inf, 1.5e300]


def test_a_season_read_back_keeps_its_kind_and_indices_as_floats():
    read = Preparation.from_json(
        {**GOOD, "reading": "ratio", "scaler": RATIO, "season": {"kind": "multiplicative", "indices": [1, 1]}},
        2,
        "standard",
        At("m"),
    )
    assert read.ratio and read.season == Season("multiplicative", (1.0, 1.0))
    assert all(type(index) is float for index in read.season.indices)


def test_the_reading_decides_the_season_s_kind_and_a_season_of_two_is_one():
    """A series positive in its training rows but not in all (a zero held out) is read as differences: its season is
    additive too. A season of two is decomposed like any other."""
    alternating = np.tile([2.0, 6.0], 24)[:, None]
    [additive] = fit_preparations("standard", alternating, np.array([False]), STEPS, 2, ["a"])
    assert additive.season is not None and additive.season.kind == "additive"
    [ratio] = fit_preparations("standard", alternating, np.array([True]), STEPS, 2, ["a"])
    assert ratio.season is not None and ratio.season.kind == "multiplicative"


def test_a_series_too_large_to_scale_is_refused_by_its_name():
    values = np.column_stack([np.arange(1.0, 49.0), np.where(STEPS % 2 == 0, 1e308, -1e308)])
    with pytest.raises(BadInput, match=r"^f\.csv: column 'b': values too large to scale with the standard scaler"):
        fit_preparations(
            "standard", values, np.array([True, False]), STEPS, 1, ["f.csv: column 'a'", "f.csv: column 'b'"]
        )
