"""`forecaster backtest` through the installed command: no leakage, every metric and baseline, outputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import DATA, assert_a_drawn_plot, assert_clean_error, run

SMALL = ("--window", 12, "--horizon", 3, "--hidden-size", 4, "--epochs", 3, "--folds", 2, "--step", 3, "--seed", 1)


def backtest_json(csv, tmp_path, *extra) -> dict:
    out = tmp_path / f"{csv.stem}.json"
    result = run("backtest", csv, *SMALL, "--out", out, *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def airline(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("backtest")
    plot = tmp / "backtest.png"
    return backtest_json(DATA / "airline.csv", tmp, "--level", 80, "--plot", plot), plot


def test_nothing_after_an_origin_reaches_its_fold(airline, tmp_path):
    """Poison every value from the last fold's origin on: no fold's forecast from its origin may change."""
    clean, _ = airline
    frame = pd.read_csv(DATA / "airline.csv")
    origin = frame.index[frame["date"] == clean["origins"][-1][:10]][0]
    frame.loc[origin:, "passengers"] = 1e6
    poisoned_csv = tmp_path / "poisoned.csv"
    frame.to_csv(poisoned_csv, index=False)
    poisoned = backtest_json(poisoned_csv, tmp_path, "--level", 80)
    assert poisoned["origins"] == clean["origins"]
    for before, after in zip(clean["folds"], poisoned["folds"]):
        assert after["forecasts"]["passengers"]["values"] == before["forecasts"]["passengers"]["values"]
    assert poisoned["metrics"]["overall"]["lstm"]["mae"] > 1000 * clean["metrics"]["overall"]["lstm"]["mae"]


def test_interpolating_a_gap_before_an_origin_reads_nothing_after_it(tmp_path):
    """--fill interpolate fills the gap just before the last fold's origin (1960-08) from the past alone."""
    frame = pd.read_csv(DATA / "airline.csv")
    frame.loc[frame["date"] == "1960-07-01", "passengers"] = np.nan
    forecasts = []
    for name, poison in (("gap", False), ("gap_poisoned", True)):
        if poison:
            frame.loc[frame["date"] >= "1960-08-01", "passengers"] = 1e6
        csv = tmp_path / f"{name}.csv"
        frame.to_csv(csv, index=False)
        report = backtest_json(csv, tmp_path, "--fill", "interpolate")
        assert report["origins"][-1] == "1960-08-01"
        forecasts.append(report["folds"][-1]["forecasts"]["passengers"]["values"])
    assert forecasts[0] == forecasts[1]


def test_every_metric_for_the_model_and_each_baseline(airline):
    report, _ = airline
    assert report["season"] == 12  # monthly data
    for scope in ("overall", "passengers"):
        assert set(report["metrics"][scope]) == {"lstm", "naive", "seasonal-naive", "drift"}
        for scores in report["metrics"][scope].values():
            assert set(scores) == {"mae", "rmse", "smape", "mase"}
            assert all(np.isfinite(value) and value >= 0 for value in scores.values())
    assert 0 <= report["coverage"]["80"] <= 1
    assert len(report["folds"]) == 2 and len(report["folds"][0]["forecasts"]["passengers"]["values"]) == 3


def test_baselines_match_a_hand_computation(airline):
    """Seasonal naive over the last fold: the values twelve months before each target."""
    report, _ = airline
    values = pd.read_csv(DATA / "airline.csv")["passengers"].to_numpy(dtype=float)
    rows = len(values)
    origins = [rows - 3 - 3 + 1 - 3, rows - 3 - 3 + 1]  # two folds of step 3, the last forecast ends on the last row
    errors = [abs(values[t + k] - values[t + k - 12]) for origin in origins for t in range(origin, origin + 3) for k in range(3)]
    assert report["metrics"]["passengers"]["seasonal-naive"]["mae"] == pytest.approx(np.mean(errors))


def test_coverage_counts_the_forecast_values_inside_each_interval(tmp_path):
    """2 folds x 3 origins x 3 steps = 18 values: each coverage is a count of them, wider levels cover more."""
    coverage = backtest_json(DATA / "airline.csv", tmp_path, "--level", 50, "--level", 95)["coverage"]
    assert set(coverage) == {"50", "95"}
    for share in coverage.values():
        assert share * 18 == pytest.approx(round(share * 18))
    assert coverage["50"] < coverage["95"]


def test_table_on_stderr_and_csv_output(tmp_path):
    out = tmp_path / "metrics.csv"
    result = run("backtest", DATA / "statquest.csv", "--window", 2, "--horizon", 1, "--hidden-size", 2, "--epochs", 2,
                 "--folds", 2, "--step", 1, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "MASE".lower() in result.stderr and "seasonal-naive" in result.stderr and "drift" in result.stderr
    table = pd.read_csv(out)
    assert list(table.columns) == ["series", "method", "mae", "rmse", "smape", "mase"]
    assert set(table["series"]) == {"overall", "company_a", "company_b"}


def test_backtest_plot_is_a_real_picture(airline):
    _, plot = airline
    assert_a_drawn_plot(plot)


def test_a_short_series_is_backtested_on_as_many_folds_as_it_allows(tmp_path):
    """Five days give two folds of one step: a fold needs two values and a horizon before its origin."""
    out = tmp_path / "short.json"
    result = run("backtest", DATA / "statquest.csv", "--horizon", 1, "--folds", 5, "--step", 1, "--hidden-size", 2, "--epochs", 2, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "2 series too short for 5 folds are backtested on fewer: 'company_a' 2, 'company_b' 2" in result.stderr
    assert json.loads(out.read_text())["origins"] == ["4", "5"]


def test_too_short_for_any_fold():
    assert_clean_error(run("backtest", DATA / "statquest.csv", "--horizon", 3, "--folds", 2), "statquest.csv", "--horizon 3", "too few rows")
