"""The Theta method: exponential smoothing with half the least-squares slope, as Hyndman & Billah (2003) write it."""

from __future__ import annotations

import numpy as np
import pytest

from forecaster.model.blend import Blend
from forecaster.model.theta import ALPHAS, Theta, fit, implausible, smoothed


def by_hand(values: list[float], alpha: float, horizon: int) -> np.ndarray:
    """The method's formula, one series, a loop: the reference the vectorised code is checked against."""
    level = values[0]
    for value in values[1:]:
        level += alpha * (value - level)
    slope = np.polyfit(np.arange(len(values)), values, 1)[0]
    n = len(values)
    return np.array([level + slope / 2 * (h - 1 + 1 / alpha - (1 - alpha) ** n / alpha) for h in range(1, horizon + 1)])


def test_the_forecast_is_the_formula_with_the_alpha_of_least_squared_one_step_errors():
    values = [3.0, 5.0, 4.0, 6.0, 8.0, 7.0, 9.0, 12.0, 11.0]
    theta = fit(np.array(values)[:, None])
    errors = []
    for alpha in ALPHAS:
        level, total = values[0], 0.0
        for value in values[1:]:
            total += (value - level) ** 2
            level += alpha * (value - level)
        errors.append(total)
    assert theta.alpha[0] == ALPHAS[int(np.argmin(errors))]
    np.testing.assert_allclose(theta.forecast(4)[0], by_hand(values, theta.alpha[0], 4))


def test_series_of_other_lengths_side_by_side_are_each_fitted_on_their_own_values():
    """Columns padded with NaN before they start and after they end, and a gap inside one: the same as alone."""
    rng = np.random.default_rng(0)
    first, second = np.cumsum(rng.normal(1, 2, 12)), np.cumsum(rng.normal(-1, 1, 7))
    both = np.full((14, 2), np.nan)
    both[:12, 0], both[5:12, 1] = first, second
    together = fit(both)
    for k, alone in enumerate((first, second)):
        single = fit(alone[:, None])
        assert together.row(k) == pytest.approx(single.row(0))
    assert together.count.tolist() == [12, 7]


def test_a_gap_leaves_the_level_where_it_was():
    levels = smoothed(np.array([[1.0], [np.nan], [3.0]]), np.array([0.5]))
    assert levels[:, 0].tolist() == [1.0, 1.0, 2.0]


def test_a_constant_series_is_forecast_as_itself_and_a_single_value_too():
    theta = fit(np.array([[4.0, np.nan], [4.0, np.nan], [4.0, 7.0]]))
    np.testing.assert_allclose(theta.forecast(3), [[4.0] * 3, [7.0] * 3])


def test_the_states_round_trip_as_plain_numbers():
    theta = fit(np.cumsum(np.ones((6, 3)), axis=0) * [1.0, 2.0, -1.0])
    again = Theta.of_rows([theta.row(k) for k in range(3)])
    np.testing.assert_array_equal(again.forecast(5), theta.forecast(5))


def test_a_blend_weighs_the_two_forecasts():
    theta = Theta(np.array([10.0]), np.array([0.0]), np.array([0.5]), np.array([4]))
    network = np.array([[20.0, 30.0]])
    np.testing.assert_allclose(Blend(0.25).mix(network, theta, None), [[17.5, 25.0]])
    np.testing.assert_allclose(Blend(0.0).mix(network, theta, None), network)


def test_predict_forecasts_the_blend_the_card_says(tiny_model, tmp_path):
    """From the saved history with the card's Theta states; from a newer file with Theta fitted on its rows."""
    import json
    import shutil

    import pandas as pd

    from conftest import DATA, invoke

    model = tmp_path / "blended"
    shutil.copytree(tiny_model, model)
    metadata = json.loads((model / "model.json").read_text())
    network_alone = pd.read_csv(pd.io.common.StringIO(invoke("predict", model).stdout))
    metadata["blend"]["theta_weight"] = 1.0
    metadata["blend"]["theta"] = {name: [0.5, 0.0, 0.5, 5] for name in metadata["series"]}
    (model / "model.json").write_text(json.dumps(metadata))
    theta_alone = pd.read_csv(pd.io.common.StringIO(invoke("predict", model).stdout))
    for name, preparation in metadata["preparations"].items():
        scaler = preparation["scaler"]
        assert theta_alone[name].iloc[0] == pytest.approx(scaler["center"] + 0.5 * scaler["scale"], rel=1e-6)
        assert network_alone[name].iloc[0] != pytest.approx(theta_alone[name].iloc[0])
    newer = pd.read_csv(DATA / "statquest.csv")
    refitted = pd.read_csv(pd.io.common.StringIO(invoke("predict", model, "--csv", DATA / "statquest.csv").stdout))
    for name in metadata["series"]:
        values = newer[name].to_numpy()
        scaler = metadata["preparations"][name]["scaler"]
        expected = fit(((values - scaler["center"]) / scaler["scale"])[:, None]).forecast(1)[0, 0]
        assert refitted[name].iloc[0] == pytest.approx(scaler["center"] + expected * scaler["scale"], rel=1e-6)


#: AAPL's last ten closes of data/stock.csv as its model reads them (over its scale, 90.6), and the state a fit wrote
AAPL = np.array([0.6619, 0.6617, 0.6458, 0.6395, 0.6421, 0.6297, 0.6282, 0.6205, 0.6209, 0.6213])
FITTED = (0.6207735482783161, 0.00010954513708149326, 0.98, 3270)


@pytest.mark.parametrize(
    "state, field, problem",
    [
        (FITTED, None, None),
        ((50.0, *FITTED[1:]), 0, "50 is not a level smoothed from this series"),  # issue 36: a forecast of 4,532.9
        ((0.9, *FITTED[1:]), 0, "0.9 is not a level smoothed"),  # beyond the recent values by more than their range
        ((0.4, 0.0, 0.02, 3270), None, None),  # slow smoothing: most of the level's weight is on earlier values
        ((1e4, 0.0, 0.02, 3270), 0, "lies within"),  # but within what a series' values could be
        ((FITTED[0], 0.6, *FITTED[2:]), 1, "0.6 is not half the slope of 3270 values within 1000 of 0"),
        ((*FITTED[:3], 10), 3, "10 is not the 3270 values the series has"),
        ((FITTED[0], FITTED[1], 1.0, 3270), 2, "1.0 is not a smoothing parameter a fit chooses"),
    ],
)
def test_a_state_no_fit_could_have_written_is_named(state, field, problem):
    found = implausible(state, AAPL, 3270)
    assert (found is None) == (problem is None), found
    if found is not None:
        assert found[0] == field and problem in found[1], found


def test_every_state_a_fit_writes_is_plausible():
    """Series of every shape, fitted here as a fit fits them: each state passes."""
    rng = np.random.default_rng(0)
    rows = np.arange(300.0)
    shapes = [
        100 + np.cumsum(rng.normal(0, 1, 300)),  # a random walk
        np.exp(rows / 40),  # exponential growth
        np.exp(-rows / 40),  # decay to nearly nothing
        np.where(rng.random(300) < 0.1, rng.integers(1, 9, 300), 0).astype(float),  # intermittent, ending in zeros
        np.sin(rows / 3) * 5 - rows,  # a falling wave
    ]
    for values in shapes:
        prepared = (values / np.abs(values).max())[:, None]
        state = fit(prepared)
        recent = prepared[-10:, 0]
        assert implausible(state.row(0), recent, 300) is None, values[-10:]
