"""`forecaster backtest` through main() in this process: no leakage, every metric and baseline, outputs."""

from __future__ import annotations

import io
import json
import re
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import DATA, Terminal, assert_a_drawn_plot, assert_clean_error, invoke, redraws
from forecaster.errors import BadInput

SMALL = (
    "--window", 12, "--horizon", 3, "--hidden-size", 4, "--epochs", 3, "--members", 1,
    "--folds", 2, "--step", 3, "--seed", 1,
)  # fmt: skip


def backtest_json(csv, tmp_path, *extra) -> dict:
    out = tmp_path / f"{csv.stem}.json"
    result = invoke("backtest", csv, *SMALL, "--out", out, *extra)
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
    for before, after in zip(clean["folds"], poisoned["folds"], strict=True):
        assert after["forecasts"]["passengers"]["values"] == before["forecasts"]["passengers"]["values"]
    assert poisoned["overall"]["model"]["mae"] > 1000 * clean["overall"]["model"]["mae"]


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
    assert report["cell"] == "lstm"
    for methods in (report["overall"], report["series"]["passengers"]):
        assert set(methods) == {"model", "naive", "seasonal-naive", "drift"}
        for scores in methods.values():
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
    errors = [
        abs(values[t + k] - values[t + k - 12])
        for origin in origins
        for t in range(origin, origin + 3)
        for k in range(3)
    ]
    assert report["series"]["passengers"]["seasonal-naive"]["mae"] == pytest.approx(np.mean(errors))


def test_coverage_counts_the_forecast_values_inside_each_interval(tmp_path):
    """2 folds x 3 origins x 3 steps = 18 values: each coverage is a count of them, wider levels cover more."""
    coverage = backtest_json(DATA / "airline.csv", tmp_path, "--level", 5, "--level", 95)["coverage"]
    assert set(coverage) == {"5", "95"}
    for share in coverage.values():
        assert share * 18 == pytest.approx(round(share * 18))
    assert coverage["5"] < coverage["95"]


def test_table_on_stderr_and_csv_output(tmp_path):
    out = tmp_path / "metrics.csv"
    result = invoke(
        "backtest",
        DATA / "statquest.csv",
        "--window",
        2,
        "--horizon",
        1,
        "--hidden-size",
        2,
        "--epochs",
        2,
        "--folds",
        2,
        "--step",
        1,
        "--out",
        out,
    )
    assert result.returncode == 0, result.stderr
    assert "MASE".lower() in result.stderr and "seasonal-naive" in result.stderr and "drift" in result.stderr
    table = pd.read_csv(out)
    assert list(table.columns) == ["scope", "series", "method", "mae", "rmse", "smape", "mase"]
    assert set(table["scope"]) == {"overall", "series"} and set(table["series"].dropna()) == {"company_a", "company_b"}


def test_backtest_plot_is_a_real_picture(airline):
    _, plot = airline
    assert_a_drawn_plot(plot)


def test_a_short_series_is_backtested_on_as_many_folds_as_it_allows(tmp_path):
    """Five days give two folds of one step: a fold needs two values and a horizon before its origin."""
    out = tmp_path / "short.json"
    result = invoke(
        "backtest",
        DATA / "statquest.csv",
        "--horizon",
        1,
        "--folds",
        5,
        "--step",
        1,
        "--hidden-size",
        2,
        "--epochs",
        2,
        "--out",
        out,
    )
    assert result.returncode == 0, result.stderr
    assert "2 series too short for 5 folds are backtested on fewer: 'company_a' 2, 'company_b' 2" in result.stderr
    assert json.loads(out.read_text())["origins"] == ["4", "5"]


def test_too_short_for_any_fold():
    assert_clean_error(
        invoke("backtest", DATA / "statquest.csv", "--horizon", 3, "--folds", 2),
        "statquest.csv",
        "--horizon 3",
        "too few rows",
    )


def test_a_cell_named_like_a_baseline_and_a_series_named_overall_keep_their_own_scores(tmp_path):
    """Methods and series are data, not reserved keys: nothing collides in the result, its JSON or its CSV."""
    from forecaster.nn.registry import RegisteredCell, Registry
    from forecaster.options import FitOptions
    from forecaster.training.backtest import backtest_data

    frame = pd.read_csv(DATA / "airline.csv").rename(columns={"passengers": "overall"})
    frame["naive"] = frame["overall"] * 2.0
    csv = tmp_path / "named.csv"
    frame.to_csv(csv, index=False)
    naive = RegisteredCell(
        "naive", "the lstm cell under a baseline's name", "forecaster.nn.lstm:StageLSTM", "someone", "1.0"
    )
    options = FitOptions(cell="naive", horizon=3, hidden_size=2, members=1, epochs=1, seed=1)
    result, _ = backtest_data(csv, options, Registry(cells={"naive": naive}), folds=1, step=3)

    assert result.cell == "naive" and result.methods == ["model", "naive", "seasonal-naive", "drift"]
    assert set(result.series) == {"overall", "naive"}
    assert result.series["naive"]["naive"].mae == pytest.approx(
        2 * result.series["overall"]["naive"].mae
    )  # the baseline, doubled
    assert result.series["overall"]["model"] != result.series["overall"]["naive"]
    rows = pd.read_csv(io.StringIO(result.to_csv()), keep_default_na=False)
    assert len(rows) == 4 + 2 * 4 and not rows.duplicated(["scope", "series", "method"]).any()
    assert "model (naive)" in result.format_table()


def test_mase_divides_by_the_seasonal_difference_of_the_values_each_forecast_read(airline):
    """MASE by hand: each error of a forecast from row t over the mean |x[s] - x[s-12]| of the values before t, the
    in-sample of that forecast."""
    report, _ = airline
    values = pd.read_csv(DATA / "airline.csv")["passengers"].to_numpy(dtype=float)
    rows = len(values)
    scaled = []
    for origin in (rows - 3 - 3 + 1 - 3, rows - 3 - 3 + 1):
        for t in range(origin, origin + 3):
            scale = np.mean(np.abs(values[12:t] - values[: t - 12]))
            scaled += [abs(values[t + k] - values[t + k - 12]) / scale for k in range(3)]
    assert report["series"]["passengers"]["seasonal-naive"]["mase"] == pytest.approx(np.mean(scaled))
    assert report["overall"]["naive"]["mase"] != pytest.approx(report["overall"]["seasonal-naive"]["mase"])


def test_origins_count_back_from_each_series_own_end_and_mark_the_too_short():
    """Two series ending at rows 99 and 59, horizon 3, step 2, three folds: each fold's origin per series, oldest
    first, -1 where a series has fewer than MIN_OBSERVED + horizon values before it (the second starts at row 50)."""
    from forecaster.model.fit_result import MIN_OBSERVED
    from forecaster.training.backtest import origins_of

    origins = origins_of(np.array([0, 50]), np.array([99, 59]), 3, 3, 2)
    assert origins.tolist() == [[91, -1], [93, -1], [95, 55]] and MIN_OBSERVED + 3 == 5  # 55 - 50: just enough
    assert origins_of(np.array([0, 52]), np.array([99, 59]), 3, 3, 2).tolist() == [[91, -1], [93, -1], [95, -1]]
    assert origins_of(np.array([90]), np.array([99]), 3, 3, 2).tolist() == [[95]]  # folds of no series: left out


def test_folds_without_a_step_are_a_horizon_apart():
    """As a batch job's dry run checks a backtest's folds against its data, before any training: 144 rows, a horizon
    of 3, two folds, the last forecast ending on the last row."""
    from forecaster.options import FitOptions
    from forecaster.training.backtest import fold_origins
    from forecaster.training.pipeline import read_table

    first, origins = fold_origins(read_table(DATA / "airline.csv", FitOptions(horizon=3)), 3, 2, None)
    assert first.tolist() == [0] and origins.tolist() == [[136], [139]]


@pytest.mark.parametrize("folds, step, flag, value", [(0, 1, "--folds", 0), (2, 0, "--step", 0)])
def test_folds_and_step_are_at_least_one(folds, step, flag, value):
    from forecaster.training.backtest import origins_of

    with pytest.raises(BadInput, match=rf"^{flag} must be at least 1, not {value}$"):
        origins_of(np.array([0]), np.array([99]), 3, folds, step)


def test_data_too_short_for_any_fold_is_refused_saying_what_a_fold_needs():
    from forecaster.training.backtest import origins_of

    with pytest.raises(BadInput) as refused:
        origins_of(np.array([10, 0]), np.array([16, 5]), 3, 1, 2)
    assert str(refused.value) == (
        "data: too few rows for a backtest with --horizon 3 and --step 2: the longest series has 6 values, and a fold "
        "needs 5 before its origin and 4 from it on"
    )


def a_backtest():
    from forecaster.training.backtest import Backtest, Fold, FoldForecast, Scores

    times = [pd.Timestamp("2026-03-02"), pd.Timestamp("2026-03-03")]
    return Backtest(
        cell="lstm",
        season=5,
        origins=["2026-03-01", "2026-03-08"],
        overall={"model": Scores(1.0, 2.0, 3.0, 0.5), "naive": Scores(2.0, 3.0, 4.0, 1.0)},
        series={"=A": {"model": Scores(1.0, 2.0, 3.0, 0.5), "naive": Scores(2.0, 3.0, 4.0, 1.0)}},
        coverage={"80": 0.75},
        folds=[Fold("2026-03-01", {"=A": FoldForecast(times, np.array([1.5, 2.5]), {})})],
        notes=["a note"],
    )


def test_a_backtest_reads_in_a_few_lines_and_its_notebook_table_is_bounded():
    """As text, a backtest of 20 series was 92 KB: its folds, scores and forecasts field by field."""
    from forecaster.model.fit_result import HTML_ROWS
    from forecaster.training.backtest import Scores

    result = a_backtest()
    result.overall["model"] = Scores(1.0, 2.0, 3.0, None)
    result.series = {f"S{k}": result.series["=A"] for k in range(1000)}
    result.forecasts = pd.DataFrame({"y": np.zeros(24_000)})
    result.coverage = {"80": 0.75, "95": 0.9}
    assert str(result) == repr(result)
    assert repr(result).splitlines() == [
        "<Backtest: 2 folds from 2026-03-01, season 5, 1000 series>",
        "  sMAPE model (lstm) 3%, naive 4%",
        "  MASE model (lstm) n/a, naive 1",
        "  interval coverage 80%: 75.0%, 95%: 90.0%",
        "  .metrics: every score; .forecasts: its 24000 rows, each forecast beside its actual",
    ]
    shown = result._repr_html_()
    assert shown.count("<tr") == 1 + HTML_ROWS + 1 and "2002 rows \N{MULTIPLICATION SIGN} 7 columns" in shown
    assert shown.count("<td>overall</td>") == 2, "the overall scores come first"


def test_scoring_rows_that_are_not_this_backtest_s_forecasts_is_refused_by_name():
    result = a_backtest()
    frame = pd.DataFrame({"unique_id": ["=A"], "cutoff": ["2026-03-01"], "y": [1.0], "model": [1.0]})
    with pytest.raises(
        BadInput, match=re.escape("forecasts: no column 'naive'; score rows of this backtest's forecasts")
    ):
        result.score(frame)
    frame = frame.assign(**{"naive": 1.0, "seasonal-naive": 1.0, "drift": 1.0})
    with pytest.raises(BadInput, match=rf"^{re.escape('forecasts: no rows to score')}$"):
        result.score(frame.iloc[:0])
    with pytest.raises(BadInput, match=re.escape("forecasts: '=A' is not a series of this backtest")):
        result.score(frame)


def test_a_backtest_s_record_reads_as_it_was_made():
    """The JSON of --out x.json, a batch job's summary, the CSV of --out x.csv and the table on stderr, field by
    field."""
    result = a_backtest()
    assert result.to_json() == {
        "cell": "lstm",
        "season": 5,
        "origins": ["2026-03-01", "2026-03-08"],
        "notes": ["a note"],
        "overall": {
            "model": {"mae": 1.0, "rmse": 2.0, "smape": 3.0, "mase": 0.5},
            "naive": {"mae": 2.0, "rmse": 3.0, "smape": 4.0, "mase": 1.0},
        },
        "series": {
            "=A": {
                "model": {"mae": 1.0, "rmse": 2.0, "smape": 3.0, "mase": 0.5},
                "naive": {"mae": 2.0, "rmse": 3.0, "smape": 4.0, "mase": 1.0},
            }
        },
        "coverage": {"80": 0.75},
        "folds": [
            {
                "origin": "2026-03-01",
                "forecasts": {"=A": {"times": ["2026-03-02 00:00:00", "2026-03-03 00:00:00"], "values": [1.5, 2.5]}},
            }
        ],
    }
    assert json.loads(result.to_json_text()) == result.to_json() and result.to_json_text().endswith("}\n")
    assert result.headline() == {
        "folds": 2,
        "overall": {
            "model": {"mae": 1.0, "rmse": 2.0, "smape": 3.0, "mase": 0.5},
            "naive": {"mae": 2.0, "rmse": 3.0, "smape": 4.0, "mase": 1.0},
        },
    }  # what a batch job's summary says of its backtest
    assert result.to_csv().splitlines() == [
        "scope,series,method,mae,rmse,smape,mase",
        "overall,,model,1,2,3,0.5",
        "overall,,naive,2,3,4,1",
        "series,'=A,model,1,2,3,0.5",
        "series,'=A,naive,2,3,4,1",
    ]
    lines = result.format_table().splitlines()
    assert lines[0] == "backtest: 2 folds from 2026-03-01, season 5" and lines[1] == "note: a note"
    assert lines[2].split() == ["series", "method", "mae", "rmse", "smape", "mase"]
    assert lines[3].split() == ["(all", "series)", "model", "(lstm)", "1", "2", "3", "0.5"]
    assert lines[5].split() == ["=A", "model", "(lstm)", "1", "2", "3", "0.5"]
    assert lines[-1] == "interval coverage: 80%: 75.0%"
    html_text = result._repr_html_()
    assert html_text.startswith("<p>backtest: 2 folds from 2026-03-01, season 5</p><table")
    assert "<td>0.5</td>" in html_text and "<td>=A</td>" in html_text


def test_a_mase_that_cannot_be_computed_is_said_so_in_each_record_never_nan():
    """MASE divides by the in-sample naive error, 0 for a constant series: null in JSON, an empty CSV cell, n/a in
    the table and the notebook's."""
    from forecaster.training.backtest import Scores

    result = a_backtest()
    result.series["=A"] = {"model": Scores(1.0, 2.0, 3.0, None), "naive": Scores(0.0, 0.0, 0.0, None)}
    assert result.to_json()["series"]["=A"]["model"] == {"mae": 1.0, "rmse": 2.0, "smape": 3.0, "mase": None}
    assert '"mase": null' in result.to_json_text()
    assert result.to_csv().splitlines()[3:] == ["series,'=A,model,1,2,3,", "series,'=A,naive,0,0,0,"]
    lines = result.format_table().splitlines()
    assert lines[5].split() == ["=A", "model", "(lstm)", "1", "2", "3", "n/a"]
    assert "<td>n/a</td>" in result._repr_html_()
    for text in (result.to_json_text(), result.to_csv(), result.format_table(), result._repr_html_()):
        assert "nan" not in text.lower()


def test_a_constant_series_backtests_with_its_mase_said_not_computable(tmp_path):
    days = pd.date_range("2024-01-01", periods=60, freq="D")
    frame = pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "flat": 5.0, "wave": np.sin(np.arange(60) / 3) + 10})
    frame.to_csv(tmp_path / "flat.csv", index=False)
    report = backtest_json(tmp_path / "flat.csv", tmp_path, "--members", 1)
    assert {scores["mase"] for scores in report["series"]["flat"].values()} == {None}
    assert all(scores["mase"] > 0 for scores in report["series"]["wave"].values())
    assert report["overall"]["model"]["mase"] == report["series"]["wave"]["model"]["mase"]  # flat's points left out
    [note] = report["notes"]
    assert note == (
        "MASE cannot be computed for 1 series, constant before every origin (n/a here, empty in a CSV, null in JSON): "
        "its scale, the mean absolute change 7 steps apart (the in-sample naive forecast's error), is 0: 'flat'"
    )


def ragged(rows: int = 40) -> pd.DataFrame:
    """Three monthly series on one axis: 'long' whole, 'late' starting 14 months in with two one-month gaps, 'early'
    ending 2 months before the others with one; each a trend, a season of 4 and a little noise, so no two baselines
    agree; and a promotion known ahead, which the network reads."""
    rng = np.random.default_rng(7)
    t = np.arange(rows, dtype=float)
    frame = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=rows, freq="MS").strftime("%Y-%m-%d")})
    for k, name in enumerate(("long", "late", "early")):
        frame[name] = (50 + 10 * k + 0.7 * t + 4 * np.sin(2 * np.pi * t / 4) + rng.normal(0, 0.5, rows)).round(3)
    frame.loc[:13, "late"] = np.nan
    frame.loc[32, "late"] = np.nan  # a gap inside the last season before 'late''s first origins, interpolated in time
    frame.loc[38, "late"] = np.nan  # a gap in the horizons from rows 36 and 37: no forecast from them
    frame.loc[33, "early"] = np.nan  # a gap that ends the history of the forecast from row 34: filled forward
    frame.loc[rows - 2 :, "early"] = np.nan
    frame["promo"] = (rng.random(rows) < 0.3).astype(int)
    return frame


def expected_rows(data: pd.DataFrame, horizon: int = 3, folds: int = 2, step: int = 2) -> list[tuple[str, int, int]]:
    """(series, fold, first forecast row) of every forecast, by the backtest's rules worked by hand: a series' last
    forecast ends on its last row; a fold needs 5 values and a horizon before its origin; a forecast needs its whole
    horizon observed."""
    rows = []
    for name in ("long", "late", "early"):
        present = np.flatnonzero(data[name].notna().to_numpy())
        first, end = present[0], present[-1] + 1
        for fold in range(folds):
            origin = end - horizon - step + 1 - (folds - 1 - fold) * step
            if origin - first < 5 + horizon:
                continue
            rows += [
                (name, fold, t) for t in range(origin, origin + step) if data[name].iloc[t : t + horizon].notna().all()
            ]
    return rows


def test_a_backtest_cross_validates_as_worked_by_hand(tmp_path, monkeypatch):
    """ragged() backtested with --fill interpolate, --step 2, two folds, an 80% interval and a future covariate,
    every part of the result checked against the data by hand, and the one progress bar it draws at a terminal. One
    test, one backtest: what each check covers is what mutation testing credits to it (bench/mutation.md)."""
    from forecaster.nn.registry import load_registry
    from forecaster.options import FitOptions
    from forecaster.training.backtest import backtest_data

    data = ragged()
    data.to_csv(tmp_path / "ragged.csv", index=False)
    options = FitOptions(
        horizon=3, window=6, season=4, hidden_size=3, members=1, epochs=1, seed=1, fill="interpolate", future=("promo",)
    )
    screen = Terminal()
    with monkeypatch.context() as patched:
        patched.setattr(sys, "stderr", screen)
        result, _ = backtest_data(tmp_path / "ragged.csv", options, load_registry(), folds=2, step=2, levels=(80,))
    dates = pd.to_datetime(data["date"])
    check_the_forecasts_frame(result.forecasts, data, dates)
    check_the_baselines(result.forecasts, data, dates)
    check_the_scores(result, data, dates)
    check_the_fold_records(result, data)
    said = [line.split(":")[0] for line in redraws(screen)]
    assert said[0] == "fold 1 of 2" and set(said) == {"fold 1 of 2", "fold 2 of 2"}, "both folds' fits on one bar"


def check_the_forecasts_frame(frame, data, dates):
    """One row per series, cutoff and time, as statsforecast's cross_validation: the cutoff is the last time the
    forecast read, the actual is the data's, the bounds hold the forecast."""
    assert list(frame.columns) == [
        "unique_id", "ds", "cutoff", "fold", "y", "model", "model-lo-80", "model-hi-80", "naive", "seasonal-naive",
        "drift",
    ]  # fmt: skip
    assert frame.index.equals(pd.RangeIndex(len(frame)))
    want = expected_rows(data)
    assert ("late", 0, 34) in want and ("late", 1, 36) not in want and ("late", 1, 37) not in want  # the gap at 38
    assert ("early", 1, 34) in want and ("early", 0, 32) not in want  # the gap at 33
    got = [
        (name, int(fold), int(dates.searchsorted(cutoff)) + 1)
        for (name, fold, cutoff), _ in frame.groupby(["unique_id", "fold", "cutoff"], sort=False)
    ]
    assert sorted(got) == sorted(want)
    for (name, _, cutoff), rows in frame.groupby(["unique_id", "fold", "cutoff"]):
        t = int(dates.searchsorted(cutoff)) + 1
        assert list(rows["ds"]) == list(dates.iloc[t : t + 3])
        assert rows["y"].tolist() == data[name].iloc[t : t + 3].tolist()
    assert (frame["model-lo-80"] <= frame["model"]).all() and (frame["model"] <= frame["model-hi-80"]).all()
    assert frame[["model", "model-lo-80", "model-hi-80"]].notna().all().all()


def check_the_baselines(frame, data, dates):
    """Naive, seasonal naive and drift by hand from the values before each forecast's first time, a gap interpolated
    in time between its neighbours (a month of 31 days weighs more than one of 30), one at the end filled forward."""
    for (name, cutoff), rows in frame.groupby(["unique_id", "cutoff"]):
        t = int(dates.searchsorted(cutoff)) + 1
        past = data[name].iloc[:t].dropna().index
        history = data[name].iloc[past[0] : t].set_axis(dates.iloc[past[0] : t])
        history = history.interpolate(method="time", limit_area="inside").ffill().to_numpy()
        steps = np.arange(1, 4)
        assert rows["naive"].tolist() == [history[-1]] * 3
        assert rows["seasonal-naive"].tolist() == history[len(history) - 4 + (steps - 1) % 4].tolist()
        drift = history[-1] + steps * (history[-1] - history[0]) / (len(history) - 1)
        assert rows["drift"].to_numpy() == pytest.approx(drift)


def check_the_scores(result, data, dates):
    """Every score, overall and per series, from the frame by hand; MASE over the mean seasonal difference of the
    values up to each cutoff; coverage the share of actual values within the bounds."""
    frame = result.forecasts

    def scale(name, cutoff):
        history = data[name].iloc[: int(dates.searchsorted(cutoff)) + 1].dropna().to_numpy()
        return np.mean(np.abs(history[4:] - history[:-4]))

    methods = ("model", "naive", "seasonal-naive", "drift")

    def by_hand(rows):
        y = rows["y"].to_numpy()
        scales = np.array([scale(n, c) for n, c in zip(rows["unique_id"], rows["cutoff"], strict=True)])
        scores = []
        for method in methods:
            error = rows[method].to_numpy() - y
            smape = np.mean(200 * np.abs(error) / (np.abs(y) + np.abs(rows[method].to_numpy())))
            scores += [np.mean(np.abs(error)), np.sqrt(np.mean(error**2)), smape, np.mean(np.abs(error) / scales)]
        return scores

    def of(scores):
        assert list(scores) == list(methods)
        return [value for s in scores.values() for value in (s.mae, s.rmse, s.smape, s.mase)]

    assert of(result.overall) == pytest.approx(by_hand(frame))
    assert list(result.series) == ["long", "late", "early"]
    for name, scores in result.series.items():
        assert of(scores) == pytest.approx(by_hand(frame[frame["unique_id"] == name]))
    inside = (frame["model-lo-80"] <= frame["y"]) & (frame["y"] <= frame["model-hi-80"])
    assert result.coverage == {"80": pytest.approx(inside.mean())}
    part = frame[frame["unique_id"] != "long"]  # a part of the frame, scored in one call
    table = result.score(part)
    overall = table[table["scope"] == "overall"]
    named = [name for name in result.series if name in set(part["unique_id"])]
    assert list(overall["method"]) == list(methods) and len(named) == 2
    assert list(table["series"].drop(overall.index)) == [name for name in named for _ in methods]
    assert overall[["mae", "rmse", "smape", "mase"]].to_numpy().ravel().tolist() == pytest.approx(by_hand(part))
    assert result.score(frame).equals(result.metrics)


def check_the_fold_records(result, data):
    """Each fold's origin (the latest series') and each series' first forecast of it, in the file's order."""
    frame = result.forecasts
    assert [fold.origin[:10] for fold in result.folds] == [data["date"].iloc[34], data["date"].iloc[36]]
    assert result.origins == ["2022-11-01", "2023-01-01"]
    for number, fold in enumerate(result.folds):
        assert list(fold.forecasts) == list(frame.loc[frame["fold"] == number, "unique_id"].unique())
        for name, first in fold.forecasts.items():
            rows = frame[(frame["fold"] == number) & (frame["unique_id"] == name)]
            rows = rows[rows["cutoff"] == rows["cutoff"].min()]
            assert first.times == list(rows["ds"]) and first.values.tolist() == rows["model"].tolist()
            lower, upper = first.bounds[80.0]
            assert lower.tolist() == rows["model-lo-80"].tolist() and upper.tolist() == rows["model-hi-80"].tolist()
    assert [list(fold.forecasts) for fold in result.folds] == [
        ["long", "late"],
        ["long", "early"],
    ]  # in the file's order


def test_coverage_counts_an_actual_on_a_bound_as_inside():
    from forecaster.training.backtest import coverage

    frame = pd.DataFrame(
        {"y": [1.0, 2.0, 3.0, 4.0], "model-lo-80": [1.0, 0.0, 3.5, 0.0], "model-hi-80": [2.0, 2.0, 4.0, 3.9]}
    )
    assert coverage(frame, [80.0]) == {"80": 0.5}


def test_horizons_of_gaps_alone_are_refused_naming_the_file(tmp_path):
    """Origins exist, but every horizon after them holds a gap: nothing can be scored."""
    from forecaster.nn.registry import load_registry
    from forecaster.options import FitOptions
    from forecaster.training.backtest import backtest_data

    values = np.arange(30, dtype=float)
    values[-5::2] = np.nan
    frame = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=30, freq="MS").strftime("%Y-%m-%d"), "x": values})
    frame.to_csv(tmp_path / "gappy.csv", index=False)
    options = FitOptions(horizon=3, window=4, hidden_size=2, members=1, epochs=1, seed=1, fill="interpolate")
    with pytest.raises(BadInput, match=r"gappy.csv: no series has enough values before and after any backtest"):
        backtest_data(tmp_path / "gappy.csv", options, load_registry(), folds=1, step=2)


def test_a_level_a_fold_cannot_calibrate_is_refused_naming_the_file_and_the_fold_fit_s_errors(tmp_path):
    """Thirty monthly values, one fold from row 27: its fit holds out a fifth of 27 values, 5 errors a step, which
    calibrate up to 83%; --level 95 needs 19."""
    from forecaster.nn.registry import load_registry
    from forecaster.options import FitOptions
    from forecaster.training.backtest import backtest_data

    t = np.arange(30.0)
    dates = pd.date_range("2020-01-01", periods=30, freq="MS").strftime("%Y-%m-%d")
    pd.DataFrame({"date": dates, "x": (50 + t + 4 * np.sin(t)).round(3)}).to_csv(tmp_path / "short.csv", index=False)
    options = FitOptions(horizon=3, window=4, hidden_size=2, members=1, epochs=1, seed=1)
    with pytest.raises(BadInput) as refused:
        backtest_data(tmp_path / "short.csv", options, load_registry(), folds=1, step=1, levels=(95,))
    assert str(refused.value).startswith(
        f"{tmp_path / 'short.csv'}: too few held-out forecasts to calibrate a 95% interval: it needs 19 a forecast "
        "step, and the fit had 5; ask for at most 83% (--level)"
    )


FIVE = "'s0' 1, 's1' 1, 's2' 1, 's3' 1, 's4' 1"


@pytest.mark.parametrize("short, shown", [(1, "'s0' 1"), (5, FIVE), (6, FIVE + " ...")])
def test_the_series_too_short_for_every_fold_are_named_five_at_most(short, shown):
    from forecaster.training.backtest import _short_note

    folds_of = {"whole": 3, **{f"s{k}": 1 for k in range(short)}}
    (note,) = _short_note(folds_of, 3)
    assert note == f"{short} series too short for 3 folds are backtested on fewer: {shown}"
    assert _short_note({"a": 3, "b": 3}, 3) == []


def test_a_backtest_reads_each_forecasts_covariates_as_the_fits_windows_do(tmp_path):
    """The features of a forecast from row t, past, future and static columns of a long file, are those the fit
    computes for rows t - window to t + horizon: what the network learnt from is what it is given."""
    from forecaster.options import FitOptions
    from forecaster.training.backtest import _features
    from forecaster.training.pipeline import _covariates, read_table

    rng = np.random.default_rng(3)
    rows, days = 50, pd.date_range("2024-01-01", periods=50, freq="D").strftime("%Y-%m-%d")
    frame = pd.concat(
        pd.DataFrame(
            {
                "day": days,
                "store": store,
                "sales": rng.normal(level, 1, rows).round(3),
                "measured": rng.normal(0, 1, rows).round(3),
                "promotion": (rng.random(rows) < 0.3).astype(int),
                "region": region,
            }
        )
        for store, level, region in (("a", 10, "north"), ("b", 20, "south"))
    )
    csv = tmp_path / "covariates.csv"
    frame.to_csv(csv, index=False)
    options = FitOptions(
        id_col="store", value_col="sales", past=("measured",), future=("promotion",), static=("region",), horizon=3,
        window=5,
    )  # fmt: skip
    table = read_table(csv, options)
    spec, full = _covariates(table, options, np.ones((rows, 2), dtype=bool), 7, 7)
    assert full is not None and full.shape == (2, rows, sum(spec.counts)) and sum(spec.counts) == 4
    series, starts = np.array([1, 0, 1]), np.array([5, 20, 47])
    features = _features(spec, table, series, starts, 5, 3)
    assert features.shape == (3, 8, full.shape[2])
    for row, (k, t) in enumerate(zip(series, starts, strict=True)):
        assert features[row].tolist() == full[k, t - 5 : t + 3].tolist()
    assert features[0, 0, 2:].tolist() != features[1, 0, 2:].tolist()  # the stores' regions


def test_a_backtest_s_records_print_numbers_as_people_read_them():
    """Four significant digits in the table and the notebook's, six in the CSV with a lower-case exponent, JSON
    indented by two, every level's coverage listed, and no row numbers."""
    from forecaster.training.backtest import Scores

    result = a_backtest()
    result.overall["model"] = Scores(1.23456789, 2.0, 3.0, 1.5e-07)
    result.coverage = {"80": 0.75, "95": 0.9}
    assert result.to_json_text().splitlines()[:2] == ["{", '  "cell": "lstm",']
    assert result.to_csv().splitlines()[1] == "overall,,model,1.23457,2,3,1.5e-07"
    lines = result.format_table().splitlines()
    assert lines[3].split() == ["(all", "series)", "model", "(lstm)", "1.235", "2", "3", "1.5e-07"]
    assert lines[-1] == "interval coverage: 80%: 75.0%, 95%: 90.0%"
    html_text = result._repr_html_()
    assert "<td>1.235</td>" in html_text and "<tr>\n      <td>overall</td>" in html_text
    assert "<th></th>" not in html_text and "<th>0</th>" not in html_text


def test_a_backtest_takes_the_frequency_s_season_and_refuses_one_the_data_never_shows(tmp_path):
    """Monthly data without --season: seasonal naive reads a year back; a --season longer than the longest series
    is refused before any training. Without --step a fold forecasts from a horizon of origins: rows 139 to 141."""
    from forecaster.nn.registry import load_registry
    from forecaster.options import FitOptions
    from forecaster.training.backtest import backtest_data

    tiny = {"horizon": 3, "window": 12, "hidden_size": 2, "members": 1, "epochs": 1, "seed": 1}
    result, _ = backtest_data(DATA / "airline.csv", FitOptions(**tiny), load_registry(), folds=1, step=None)
    assert result.season == 12
    frame = result.forecasts
    values = pd.read_csv(DATA / "airline.csv")["passengers"].to_numpy(dtype=float)
    assert frame["seasonal-naive"].tolist() == [values[t + k - 12] for t in (139, 140, 141) for k in range(3)]
    with pytest.raises(BadInput, match=r"^--season 145 is longer than the longest series \(144 values\)"):
        backtest_data(DATA / "airline.csv", FitOptions(**tiny, season=145), load_registry(), folds=1, step=1)


def test_backtest_writes_every_forecast_as_a_cross_validation_csv(tmp_path):
    """`--forecasts FILE`: the rows a statsforecast user merges and scores, the actuals the file's own."""
    out = tmp_path / "cv.csv"
    result = invoke("backtest", DATA / "airline.csv", *SMALL, "--level", 80, "--forecasts", out)
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(out, parse_dates=["ds", "cutoff"])
    assert list(frame.columns) == [
        "unique_id", "ds", "cutoff", "fold", "y", "model", "model-lo-80", "model-hi-80", "naive", "seasonal-naive",
        "drift",
    ]  # fmt: skip
    assert len(frame) == 2 * 3 * 3 and set(frame["unique_id"]) == {"passengers"} and set(frame["fold"]) == {0, 1}
    airline = pd.read_csv(DATA / "airline.csv", parse_dates=["date"]).set_index("date")["passengers"]
    assert frame["y"].tolist() == airline[frame["ds"]].tolist()
    assert (frame["ds"] > frame["cutoff"]).all() and frame["cutoff"].nunique() == 6
    assert frame["naive"].tolist() == airline[frame["cutoff"]].tolist()
    numbers = out.read_text().splitlines()[1].split(",")[5:]
    assert all(len(number.replace(".", "").lstrip("0-")) <= 7 for number in numbers), numbers  # 7 digits, as predict's


@pytest.mark.parametrize(
    "season, apart", [(1, "from one step to the next"), (2, "2 steps apart"), (12, "12 steps apart")]
)
def test_the_note_of_an_incomputable_mase_says_the_difference_it_took(season, apart):
    from forecaster.training.backtest import Scores, _unscaled_note

    scores = {"flat": {"model": Scores(1.0, 1.0, 1.0, None)}, "wave": {"model": Scores(1.0, 1.0, 1.0, 0.5)}}
    (note,) = _unscaled_note(scores, season)
    assert f"its scale, the mean absolute change {apart} (the in-sample naive" in note and note.endswith(": 'flat'")


def test_a_fold_smooths_its_partners_states_once_for_every_origin_as_each_origin_alone_would(tmp_path, monkeypatch):
    """Theta's and exponential smoothing's states after each origin of a fold come from one pass over the fold's rows
    (48 passes over 4,000 rows were 16 s of a day-ahead half-hourly backtest), and are those a pass for that origin
    alone gives."""
    from forecaster.model import ets, theta
    from forecaster.model.blend import Blend
    from forecaster.nn.registry import load_registry
    from forecaster.options import FitOptions
    from forecaster.training import backtest

    rng = np.random.default_rng(3)
    values = 10 + np.cumsum(rng.normal(0.1, 1, (60, 3)), axis=0)
    values[:7, 1] = np.nan
    blend = Blend(0.3, theta.fit(values), 0.2, ets.fit(values))
    rows, series = np.array([20, 21, 30, 40, 59, 12]), np.array([0, 0, 1, 2, 1, 2])
    every = backtest._blend_at(blend, values, rows, series)
    for pairs in (np.array([0]), np.array([2, 4]), np.array([5, 3, 1])):
        alone = backtest._blend_at(blend, values, rows[pairs], series[pairs])
        taken = backtest._taken(every, pairs)
        assert taken.theta == alone.theta and taken.ets == alone.ets
        assert (taken.weight, taken.ets_weight) == (0.3, 0.2)

    passes = []
    smoothing = backtest.ets_at_rows
    monkeypatch.setattr(backtest, "ets_at_rows", lambda *args: passes.append(args[2]) or smoothing(*args))
    data = ragged()
    data.to_csv(tmp_path / "ragged.csv", index=False)
    options = FitOptions(horizon=3, window=6, season=4, hidden_size=3, members=1, epochs=1, seed=1, fill="interpolate")
    backtest.backtest_data(tmp_path / "ragged.csv", options, load_registry(), folds=2, step=3)
    assert len(passes) == 2, "one pass a fold, not one an origin"
    assert [len(rows) for rows in passes] == [4 * 3] * 2, "each of the four series (promo one here) from 3 origins"


def test_a_backtest_starts_its_workers_fork_server_before_it_reads_the_data(monkeypatch):
    """The fork server's imports of torch and Lightning, which the first fold's workers wait for, run while the data
    is read, as a fit's do: started after it, they kept a core idle for the first seconds (bench/single-series.md)."""
    from forecaster.api import _registry
    from forecaster.options import FitOptions
    from forecaster.training import backtest, members

    events = []
    monkeypatch.setattr(members, "start_workers", lambda workers: events.append(("workers", workers)))

    def read_table(*args, **kwargs):
        events.append(("read", None))
        raise BadInput("read")

    monkeypatch.setattr(backtest, "read_table", read_table)
    monkeypatch.setattr(members, "processes", lambda members, cores: 2)
    with pytest.raises(BadInput, match="read"):
        backtest.backtest_data(DATA / "airline.csv", FitOptions(horizon=3), _registry(), 2, None)
    assert events == [("workers", 2), ("read", None)]


def test_a_series_that_falls_to_zero_within_a_folds_step_is_forecast_from_every_origin_of_the_fold(tmp_path):
    """A product withdrawn: positive for years, then 0. A fold's fit read it as ratios to its level (positive before
    the fold's origin), and a forecast from a later origin of the same fold, whose last season was all zeros, was
    refused in predict's words ("fit the model again"), which stopped the whole backtest. A fold now decides each
    series' reading on the rows it will forecast from, as a fit decides it on its held-out rows too."""
    rows = 80
    t = np.arange(rows)
    months = pd.date_range("2018-01-01", periods=rows, freq="MS").strftime("%Y-%m-%d")
    wave = 20 + 5 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(3).normal(0, 0.3, rows)
    frame = pd.DataFrame({"date": months, "kept": wave, "withdrawn": np.where(t < 51, wave, 0.0)})
    frame.to_csv(tmp_path / "withdrawn.csv", index=False)
    out = tmp_path / "cv.csv"
    result = invoke("backtest", tmp_path / "withdrawn.csv", *SMALL, "--step", 14, "--forecasts", out)
    assert result.returncode == 0, result.stderr
    forecasts = pd.read_csv(out, parse_dates=["ds", "cutoff"])
    withdrawn = forecasts[(forecasts["unique_id"] == "withdrawn") & (forecasts["fold"] == 0)]
    assert withdrawn["cutoff"].nunique() == 14 and withdrawn["model"].notna().all(), withdrawn
    last = withdrawn[withdrawn["cutoff"] == withdrawn["cutoff"].max()]  # its last 12 values before it are all 0
    assert (frame.set_index("date").loc[: last["cutoff"].iloc[0].strftime("%Y-%m-%d"), "withdrawn"].tail(12) == 0).all()
