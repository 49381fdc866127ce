"""Exponential smoothing beside Theta: each series' form (no trend, a trend, a damped one) chosen by AICc, its states
smoothed with its parameters, its forecast the damped trend's formula."""

from __future__ import annotations

import numpy as np
import pytest

from forecaster.model import ets


def series_of(*columns: np.ndarray) -> np.ndarray:
    return np.column_stack(columns)


def test_each_series_takes_the_form_its_data_bear_out():
    """Noise about a level: no trend; a straight line: an undamped trend; a trend that levels off: a damped one."""
    rng = np.random.default_rng(0)
    steps = np.arange(120.0)
    values = series_of(
        10 + rng.normal(0, 1, 120),
        10 + 0.5 * steps + rng.normal(0, 0.3, 120),
        20 + 3 * (1 - 0.95**steps) / 0.05 + rng.normal(0, 0.3, 120),
    )
    assert ets.fit(values).phi.tolist() == [0.0, 1.0, 0.95]


def test_the_forecast_is_the_damped_trends_formula():
    model = ets.Ets(np.array([2.0, 1.0]), np.array([1.0, 3.0]), np.full(2, 0.5), np.full(2, 0.1), np.array([0.5, 1.0]))
    np.testing.assert_allclose(model.forecast(3), [[2.5, 2.75, 2.875], [4.0, 7.0, 10.0]])


def test_states_are_smoothed_by_the_error_form_and_a_gap_leaves_them_where_they_were():
    """level = level + phi trend + alpha error, trend = phi trend + beta error, from the first value and the mean step
    of the first ones; a NaN row changes nothing."""
    values = np.array([[1.0], [2.0], [np.nan], [4.0], [4.0], [6.0]])
    model = ets.Ets(np.zeros(1), np.zeros(1), np.array([0.5]), np.array([0.2]), np.array([0.9]))
    level, trend = 1.0, (6.0 - 1.0) / 4  # the mean step of its first five values
    for value in (2.0, 4.0, 4.0, 6.0):
        error = value - (level + 0.9 * trend)
        level, trend = level + 0.9 * trend + 0.5 * error, 0.9 * trend + 0.2 * error
    smoothed = model.refiltered(values)
    assert smoothed.level[0] == pytest.approx(level) and smoothed.trend[0] == pytest.approx(trend)


def test_states_at_rows_are_those_of_the_rows_before():
    rng = np.random.default_rng(3)
    values = np.cumsum(rng.normal(0.2, 1, (30, 2)), axis=0)
    values[:5, 1] = np.nan  # a series that starts late
    model = ets.fit(values)
    rows, series = np.array([9, 29, 12]), np.array([0, 1, 1])
    found = ets.at_rows(values, model, rows, series)
    for k, (row, column) in enumerate(zip(rows, series, strict=True)):
        before = model.refiltered(values[: row + 1])
        assert found.level[k] == pytest.approx(before.level[column])
        assert found.trend[k] == pytest.approx(before.trend[column])


def test_a_series_of_one_value_is_forecast_as_itself_and_one_without_values_as_nan():
    values = np.array([[np.nan, 5.0], [np.nan, np.nan]])
    forecast = ets.fit(values).forecast(2)
    assert np.isnan(forecast[0]).all() and forecast[1].tolist() == [5.0, 5.0]


def test_the_states_round_trip_as_plain_numbers():
    model = ets.fit(np.cumsum(np.ones((12, 2)), axis=0))
    assert ets.Ets.of_rows([model.row(k) for k in range(2)]) == model


@pytest.mark.parametrize(
    ("state", "field", "problem"),
    [
        ((0.0, 0.0, 0.99, 0.0, 0.0), 2, "is not a smoothing parameter a fit chooses"),
        ((0.0, 0.0, 0.5, 0.6, 1.0), 3, "is not a trend's smoothing parameter"),
        ((0.0, 0.0, 0.5, 0.1, 1.2), 4, "is not a damping a fit chooses"),
        ((5e3, 0.0, 0.5, 0.1, 1.0), 0, "is not a level smoothed from this series"),
        ((0.0, 2e3, 0.5, 0.1, 1.0), 1, "is not a trend smoothed from this series"),
        ((0.0, 0.5, 0.5, 0.0, 0.0), 1, "is not a trend smoothed from this series"),
    ],
)
def test_a_state_no_fit_could_have_written_is_named(state, field, problem):
    found = ets.implausible(state, np.array([1.0, 2.0, 3.0, 4.0]))
    assert found is not None and found[0] == field and problem in found[1]


def test_every_state_a_fit_writes_is_plausible():
    rng = np.random.default_rng(5)
    values = np.cumsum(rng.normal(0, 1, (50, 6)), axis=0) + rng.normal(0, 5, 6)
    model = ets.fit(values)
    assert all(ets.implausible(model.row(k), values[-10:, k]) is None for k in range(6))


def test_a_blend_weighs_the_three_forecasts():
    from forecaster.model.blend import Blend
    from forecaster.model.theta import Theta

    theta = Theta(np.array([10.0]), np.array([0.0]), np.array([0.5]), np.array([4]))
    smoothing = ets.Ets(np.array([0.0]), np.array([1.0]), np.array([0.5]), np.array([0.1]), np.array([1.0]))
    network = np.array([[20.0, 30.0]])
    np.testing.assert_allclose(Blend(0.5, None, 0.25).mix(network, theta, smoothing), [[10.25, 13.0]])


def test_predict_forecasts_the_blend_the_card_says_and_reads_a_model_written_before_exponential_smoothing(
    tiny_model, tmp_path
):
    """From the saved history with the card's states; from a newer file smoothed anew with the card's parameters; a
    model.json without the ets fields forecasts as the network and Theta alone did."""
    import json
    import shutil

    import pandas as pd

    from conftest import DATA, invoke

    model = tmp_path / "blended"
    shutil.copytree(tiny_model, model)
    metadata = json.loads((model / "model.json").read_text())
    assert metadata["blend"]["ets_weight"] == 0
    before = invoke("predict", model).stdout
    older = json.loads(json.dumps(metadata))
    del older["blend"]["ets_weight"], older["blend"]["ets"]
    (model / "model.json").write_text(json.dumps(older))
    assert invoke("predict", model).stdout == before
    metadata["blend"].update(theta_weight=0.0, ets_weight=1.0)
    metadata["blend"]["ets"] = {name: [0.5, 0.01, 0.5, 0.1, 1.0] for name in metadata["series"]}
    (model / "model.json").write_text(json.dumps(metadata))
    alone = pd.read_csv(pd.io.common.StringIO(invoke("predict", model).stdout))
    for name, preparation in metadata["preparations"].items():
        scaler = preparation["scaler"]
        assert alone[name].iloc[0] == pytest.approx(scaler["center"] + 0.51 * scaler["scale"], rel=1e-6)
    newer = pd.read_csv(DATA / "statquest.csv")
    refitted = pd.read_csv(pd.io.common.StringIO(invoke("predict", model, "--csv", DATA / "statquest.csv").stdout))
    for name in metadata["series"]:
        scaler = metadata["preparations"][name]["scaler"]
        prepared = ((newer[name].to_numpy() - scaler["center"]) / scaler["scale"])[:, None]
        saved = ets.Ets(*(np.array([value]) for value in metadata["blend"]["ets"][name]))
        expected = saved.refiltered(prepared).forecast(1)[0, 0]
        assert refitted[name].iloc[0] == pytest.approx(scaler["center"] + expected * scaler["scale"], rel=1e-6)
