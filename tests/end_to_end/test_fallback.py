"""Never worse than the simple answer: a series whose held-out windows seasonal naive forecasts better is forecast by
it, in fit, predict and backtest, and said; --no-fallback keeps the model's forecast."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from conftest import invoke

SMALL = ("--horizon", 4, "--hidden-size", 4, "--epochs", 2, "--members", 1, "--threads", 1)
SEASON = np.array([10.0, 14.0, 9.0, 17.0, 12.0, 11.0])  #: the last 70 days' season; the first 50 days' is reversed


@pytest.fixture(scope="module")
def periodic(tmp_path_factory):
    """A series that repeats a season of 6 exactly since it changed shape on day 51, and one that drifts without a
    season: seasonal naive is exact for the first's held-out windows (the last fifth), while seasonal indices averaged
    over both shapes leave the model a pattern to learn; it is far off for the second."""
    tmp = tmp_path_factory.mktemp("fallback")
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "day": pd.date_range("2024-01-01", periods=120, freq="D").strftime("%Y-%m-%d"),
            "periodic": np.concatenate([np.tile(SEASON[::-1], 20)[:50], np.tile(SEASON, 20)[50 % 6 : 50 % 6 + 70]]),
            "drifting": 100 + np.cumsum(rng.normal(1.0, 0.2, 120)),
        }
    )
    csv = tmp / "periodic.csv"
    frame.to_csv(csv, index=False)
    return csv, frame


def fit(csv, out, *extra):
    result = invoke("fit", csv, *SMALL, "--season", 6, "--out", out, *extra)
    assert result.returncode == 0, result.stderr
    return result, json.loads((out / "model.json").read_text())


def test_the_series_seasonal_naive_forecasts_better_falls_back_and_the_summary_and_model_say_so(periodic, tmp_path):
    csv, frame = periodic
    result, model = fit(csv, tmp_path / "m")
    assert "fallback: 1 of 2 series forecast by seasonal naive, better on their held-out windows" in result.stderr
    assert "'periodic' (0 against the model's" in result.stderr
    # 24 values held out each, six horizons of 4: each series judged on its own
    assert "fallback to seasonal naive judged: 2 series each on its own (48 held-out values in all)" in result.stderr
    assert list(model["fallback"]["baseline"]) == ["periodic"]
    model_error, baseline_error = model["fallback"]["baseline"]["periodic"]
    assert baseline_error == 0 < model_error
    forecast = pd.read_csv(io.StringIO(invoke("predict", tmp_path / "m", "--level", 80).stdout))
    next_season = np.tile(SEASON, 2)[120 % 6 : 120 % 6 + 4]
    np.testing.assert_allclose(forecast["periodic"], next_season, rtol=1e-6)
    # the intervals follow the chosen forecast: the held-out errors they are calibrated on include its zeros
    assert (forecast["periodic_upper_80"] >= forecast["periodic"]).all()
    assert not np.allclose(forecast["drifting"], frame["drifting"].iloc[-6:-2])


def test_no_fallback_keeps_the_models_forecast(periodic, tmp_path):
    csv, _ = periodic
    result, model = fit(csv, tmp_path / "m", "--no-fallback")
    assert "fallback:" not in result.stderr and model["fallback"]["baseline"] == {}
    assert model["requested"]["fallback"] is False
    forecast = pd.read_csv(io.StringIO(invoke("predict", tmp_path / "m").stdout))
    assert not np.allclose(forecast["periodic"], np.tile(SEASON, 2)[120 % 6 : 120 % 6 + 4], rtol=1e-3)


def test_a_backtest_falls_back_within_each_fold_from_its_training_rows(periodic, tmp_path):
    """Each fold's fit decides: the periodic series' backtest forecasts are seasonal naive's, to the last digit."""
    csv, _ = periodic
    out = tmp_path / "metrics.json"
    result = invoke("backtest", csv, *SMALL, "--season", 6, "--folds", 2, "--out", out)
    assert result.returncode == 0, result.stderr
    scores = json.loads(out.read_text())["series"]["periodic"]
    assert scores["model"]["mae"] == pytest.approx(0, abs=1e-4)
    assert scores["model"]["mae"] == pytest.approx(scores["seasonal-naive"]["mae"], abs=1e-4)
