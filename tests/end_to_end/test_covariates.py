"""Covariates (issue 20): past-observed, future-known and static columns, the calendar and holidays, through fit,
predict, backtest, the Python face and jobs files; and each mistake one line, exit 2, nothing written."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

import forecaster
from conftest import assert_a_drawn_plot, assert_clean_error, invoke, polars_frame
from forecaster.data.calendar import cycles_for, features, holiday_dates
from forecaster.model.forecast import _span_times
from forecaster.training.windows import make_windows

ROWS, HORIZON = 160, 4
SMALL = ("--horizon", HORIZON, "--hidden-size", 8, "--members", 1, "--threads", 1, "--epochs", 20, "--seed", 1)
#: for what needs no learning (reading, refusing, recording): two epochs
QUICK = ("--horizon", HORIZON, "--hidden-size", 4, "--members", 1, "--threads", 1, "--epochs", 2, "--seed", 1)
LIFT = 6.0  #: what a promotion adds to the day's sales


def promotions(rows: int = ROWS, future: int = 0, seed: int = 0) -> pd.DataFrame:
    """Daily sales that a promotion (random days, known ahead) lifts by LIFT, a slow wave and a little noise; a
    measured column (a random walk the sales ignore); ``future`` more days with the promotion only."""
    rng = np.random.default_rng(seed)
    total = rows + future
    promotion = (rng.random(total) < 0.3).astype(int)
    sales = 20 + 2 * np.sin(np.arange(total) / 9) + LIFT * promotion + rng.normal(0, 0.3, total)
    frame = pd.DataFrame(
        {
            "day": pd.date_range("2024-01-01", periods=total, freq="D").strftime("%Y-%m-%d"),
            "sales": sales.round(4),
            "measured": np.cumsum(rng.normal(0, 1, total)).round(4),
            "promotion": promotion,
        }
    )
    frame.loc[rows:, ["sales", "measured"]] = np.nan
    return frame


@pytest.fixture(scope="module")
def sales(tmp_path_factory):
    """A file of promotions with 4 future rows, and a model of it fitted with the promotion as future-known."""
    tmp = tmp_path_factory.mktemp("covariates")
    csv = tmp / "sales.csv"
    promotions(future=HORIZON).to_csv(csv, index=False)
    model = tmp / "model"
    result = invoke(
        "fit", csv, *SMALL, "--target", "sales", "--future", "promotion", "--past", "measured", "--out", model
    )
    assert result.returncode == 0, result.stderr
    return csv, model, result


def backtest_mae(csv, **covariates) -> float:
    """The model's MAE over a two-fold backtest, through the Python face (the command line's engine)."""
    result = forecaster.backtest(
        csv,
        folds=2,
        targets=["sales"],
        calendar=False,
        horizon=HORIZON,
        hidden_size=8,
        members=1,
        threads=1,
        epochs=10,
        seed=1,
        **covariates,
    )
    overall = result.metrics[result.metrics["scope"] == "overall"].set_index("method")
    return float(overall.loc["model", "mae"])


def test_the_summary_and_model_json_say_what_the_model_read(sales):
    _, model, result = sales
    assert "covariates: past measured; future promotion\n" in result.stderr  # 160 days: no year seen twice
    card = json.loads((model / "model.json").read_text())
    covariates = card["covariates"]
    assert list(covariates["past"]) == ["measured"] and list(covariates["future"]) == ["promotion"]
    mean, deviation = covariates["future"]["promotion"]["sales"]
    assert 0.2 < mean < 0.4 and 0.4 < deviation < 0.5  # a 0/1 flag of about 30% ones, scaled on training rows
    assert covariates["calendar"] == [] and covariates["holidays"] is None  # the season is the week
    assert len(covariates["history"]["measured"]["sales"]) == len(card["history"]["sales"])
    # 5 features of the series and its weekly season, 1 past, 1 future
    assert card["hyperparameters"]["input_size"] == 5 + 1 + 1


def test_predict_reads_the_future_rows_of_newer_data_and_the_promotion_moves_the_forecast(sales, tmp_path):
    csv, model, _ = sales
    frame = pd.read_csv(csv)
    forecast = pd.read_csv(io.StringIO(invoke("predict", model, "--csv", csv).stdout))
    assert list(forecast["day"]) == list(frame["day"].iloc[ROWS:])
    promoted = frame["promotion"].iloc[ROWS:].to_numpy().astype(bool)
    flipped = frame.copy()
    flipped.loc[ROWS:, "promotion"] = 1 - flipped.loc[ROWS:, "promotion"]
    flipped.to_csv(tmp_path / "flipped.csv", index=False)
    other = pd.read_csv(io.StringIO(invoke("predict", model, "--csv", tmp_path / "flipped.csv").stdout))
    lift = np.where(promoted, forecast["sales"] - other["sales"], other["sales"] - forecast["sales"])
    assert (lift > LIFT / 3).all(), lift  # the model learnt that a promotion lifts the day's sales


def test_predict_takes_a_future_file_and_refuses_a_short_one_naming_column_and_time(sales, tmp_path):
    csv, model, _ = sales
    frame = pd.read_csv(csv)
    future = tmp_path / "future.csv"
    frame[["day", "promotion"]].iloc[ROWS:].to_csv(future, index=False)
    from_file = invoke("predict", model, "--future", future)
    from_rows = invoke("predict", model, "--csv", csv)
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout == from_rows.stdout  # the card's recent values are the file's last rows
    frame[["day", "promotion"]].iloc[ROWS : ROWS + 2].to_csv(future, index=False)
    out = tmp_path / "forecast.csv"
    assert_clean_error(
        invoke("predict", model, "--future", future, "--out", out),
        "future covariate 'promotion'",
        "at 2024-06-11",  # the third day after 2024-06-08, the last value
    )
    assert not out.exists()
    assert_clean_error(invoke("predict", model), "future covariate 'promotion'", "at 2024-06-09")
    frame[["day", "promotion"]].iloc[[ROWS, ROWS, ROWS + 1]].to_csv(future, index=False)
    assert_clean_error(invoke("predict", model, "--future", future), "duplicated timestamp 2024-06-09", "lines 2, 3")


def test_a_covariate_value_beyond_what_the_network_reads_is_refused_naming_its_file(sales, tmp_path):
    """Issue 36: a value of 1e308 beside a deviation of about 0.5 is infinite once scaled; predict said numpy's
    "overflow encountered in divide" and blamed model.json for the non-finite forecast."""
    csv, model, _ = sales
    frame = pd.read_csv(csv)
    future = frame[["day", "promotion"]].iloc[ROWS:].astype({"promotion": float})
    future.iloc[1, 1] = 1e308
    future.to_csv(tmp_path / "future.csv", index=False)
    when = future.iloc[1, 0]
    refused = invoke("predict", model, "--future", tmp_path / "future.csv")
    assert_clean_error(refused, f"{tmp_path / 'future.csv'}: covariate 'promotion', series 'sales', at {when}: 1e+308")
    assert "numpy" not in refused.stderr and "model.json" not in refused.stderr
    recent = frame.astype({"promotion": float})
    recent.loc[ROWS - 1, "promotion"] = 1e308  # the last row a forecast reads
    recent.to_csv(tmp_path / "recent.csv", index=False)
    refused = invoke("predict", model, "--csv", tmp_path / "recent.csv")
    assert_clean_error(refused, f"{tmp_path / 'recent.csv'}: covariate 'promotion', series 'sales'")
    assert "numpy" not in refused.stderr


def test_predict_refuses_newer_data_without_one_of_the_models_covariates(sales, tmp_path):
    csv, model, _ = sales
    pd.read_csv(csv).drop(columns="measured").to_csv(tmp_path / "no_measured.csv", index=False)
    assert_clean_error(invoke("predict", model, "--csv", tmp_path / "no_measured.csv"), "no column 'measured' (--past)")


def test_covariates_are_drawn_under_the_series_when_asked(sales, tmp_path):
    csv, model, _ = sales
    plot = tmp_path / "plot.png"
    assert invoke("predict", model, "--csv", csv, "--plot", plot, "--plot-covariates").returncode == 0
    assert_a_drawn_plot(plot)
    assert_clean_error(invoke("predict", model, "--plot-covariates"), "--plot-covariates", "--plot FILE")


def test_backtests_read_future_covariates_and_never_a_past_one_after_the_origin(tmp_path):
    """The same column, the sales themselves: as future-known it gives the answer away; as past-observed it is read
    up to each origin only, where it says no more than the sales before it."""
    frame = promotions()
    frame["copy"] = frame["sales"]
    csv = tmp_path / "copied.csv"
    frame.to_csv(csv, index=False)
    alone = backtest_mae(csv)
    assert backtest_mae(csv, future=["copy"]) < 0.5 * alone
    assert backtest_mae(csv, past=["copy"]) > 0.8 * alone


def test_a_long_file_with_a_static_category_and_per_series_covariates(tmp_path):
    frames = []
    for k, region in enumerate(["north", "south", "north"]):
        part = promotions(rows=80, future=HORIZON, seed=k)
        part.insert(0, "store", f"s{k}")
        part["region"] = region
        part["sales"] += 10 * k
        frames.append(part)
    frame = pd.concat(frames, ignore_index=True)
    csv = tmp_path / "stores.csv"
    frame.drop(columns="measured").to_csv(csv, index=False)
    options = ("--id-col", "store", "--value-col", "sales", "--future", "promotion", "--static", "region")
    result = invoke("fit", csv, *QUICK, *options, "--out", tmp_path / "m")
    assert result.returncode == 0, result.stderr
    static = json.loads((tmp_path / "m" / "model.json").read_text())["covariates"]["static"]["region"]
    assert static["categories"] == ["north", "south"] and static["values"]["s1"] == "south"
    forecast = pd.read_csv(io.StringIO(invoke("predict", tmp_path / "m", "--csv", csv).stdout))
    assert len(forecast) == 3 * HORIZON and set(forecast["store"]) == {"s0", "s1", "s2"}
    frame.loc[frame["store"] == "s2", "region"] = "west"
    frame.drop(columns="measured").to_csv(csv, index=False)
    moved = invoke("predict", tmp_path / "m", "--csv", csv)
    assert moved.returncode == 0, moved.stderr
    assert "static column 'region': 1 series have a category the fit never saw (series 's2': 'west')" in moved.stderr
    frame.loc[frame.index[5], "region"] = "east"  # s0 in two regions
    frame.to_csv(csv, index=False)
    assert_clean_error(
        invoke("fit", csv, *QUICK, *options, "--out", tmp_path / "n"),
        "static column 'region' varies within series 's0'",
        "'north' on line 2, 'east' on line 7",
    )
    assert not (tmp_path / "n").exists()


def test_a_numeric_static_and_series_ending_apart_whose_future_values_are_never_made_up(tmp_path):
    """s1 ends two days before s0 and its file gives no promotion after its end: filling gaps (ffill) does not carry
    its last promotion forward into its horizon; predict refuses, naming it. A number where the fit read numbers."""
    frames = []
    for k, (rows, future) in enumerate([(60, HORIZON), (58, 0)]):
        part = promotions(rows=rows, future=future, seed=k)
        part.insert(0, "store", f"s{k}")
        part["size"] = 10 * (k + 1)
        frames.append(part)
    csv = tmp_path / "stores.csv"
    frame = pd.concat(frames, ignore_index=True).drop(columns="measured")
    frame.to_csv(csv, index=False)
    options = ("--id-col", "store", "--value-col", "sales", "--future", "promotion", "--static", "size")
    result = invoke("fit", csv, *QUICK, *options, "--fill", "ffill", "--out", tmp_path / "m")
    assert result.returncode == 0, result.stderr
    static = json.loads((tmp_path / "m" / "model.json").read_text())["covariates"]["static"]["size"]
    assert static["categories"] is None and static["values"] == {"s0": 10.0, "s1": 20.0}
    assert_clean_error(
        invoke("predict", tmp_path / "m", "--csv", csv),
        "future covariate 'promotion' has no value for series 's1' at 2024-02-28",
    )
    given = pd.DataFrame({"store": ["s1"], "day": ["2024-02-28"], "sales": [np.nan], "promotion": [0], "size": [20]})
    frame = pd.concat([frame, given], ignore_index=True)  # s1's horizon given now
    frame["size"] = frame["size"].astype(object)
    frame.loc[frame["store"] == "s0", "size"] = "big"
    frame.to_csv(csv, index=False)
    assert_clean_error(
        invoke("predict", tmp_path / "m", "--csv", csv, "--horizon", 1),
        "static column 'size', series 's0': 'big' is not a number",
    )


def test_the_python_face_takes_covariates_as_keywords_and_frames_with_future_rows():
    frame = promotions(future=HORIZON)
    model = forecaster.fit(
        frame.set_index("day"),
        targets=["sales"],
        future=["promotion"],
        horizon=HORIZON,
        hidden_size=4,
        epochs=2,
        members=1,
        threads=1,
        calendar=False,
    )
    assert model.card.covariates.future.keys() == {"promotion"} and not model.card.covariates.calendar
    predicted = model.predict(recent=frame.set_index("day"))
    assert list(predicted.index.strftime("%Y-%m-%d")) == list(frame["day"].iloc[ROWS:])
    with pytest.raises(forecaster.BadInput, match="future covariate 'promotion' has no value"):
        model.predict()
    # the horizon's values as a DataFrame, as --future takes a file: the same forecast as the frame's future rows give
    ahead = frame.iloc[ROWS:][["day", "promotion"]]
    pd.testing.assert_frame_equal(model.predict(future=ahead), predicted)
    with pytest.raises(forecaster.BadInput, match=r"^the future DataFrame: covariate 'promotion', series 'sales'"):
        model.predict(future=ahead.assign(promotion=1e300))  # named as the frame, not as its printed rows
    with pytest.raises(forecaster.BadInput, match=r"^the future DataFrame: a polars DataFrame is not read; .*pandas"):
        model.predict(future=polars_frame())


@pytest.mark.parametrize(
    ("change", "options", "message"),
    [
        (
            lambda f: f.assign(promotion=f["promotion"].astype(object).where(f.index != 4, "yes")),
            ("--future", "promotion"),
            "line 6: 'yes' in column 'promotion' is not a number",
        ),
        (lambda f: f, ("--future", "sales"), "column 'sales' is a --target and a --future covariate"),
        (lambda f: f, ("--past", "promotion", "--future", "promotion"), "given as --past and as --future"),
        (lambda f: f, ("--static", "promotion"), "--static needs a long file (--id-col)"),
        (
            lambda f: f.assign(measured=f["measured"].where(f.index != 9)),
            ("--past", "measured"),
            "column 'measured' (--past) has no value at 2024-01-10T00:00:00, where series 'sales' has one",
        ),
        (lambda f: f, ("--past", "rainfall"), "no column 'rainfall' (--past)"),
        (
            lambda f: f,
            ("--future", "promotion", "--holidays", "XX"),
            "--holidays XX: the holidays package knows no country 'XX'",
        ),
        (lambda f: f, ("--future", "promotion", "--holidays", "AU-ZZZ"), "AU has no subdivision 'ZZZ'"),
    ],
)
def test_covariate_mistakes_are_one_line_naming_them_and_write_nothing(tmp_path, change, options, message):
    csv = tmp_path / "sales.csv"
    change(promotions(rows=40)).to_csv(csv, index=False)
    out = tmp_path / "m"
    assert_clean_error(invoke("fit", csv, "--target", "sales", *QUICK, *options, "--out", out), message)
    assert not out.exists()


def test_a_covariates_gaps_follow_the_fill_policy(tmp_path):
    csv = tmp_path / "gaps.csv"
    frame = promotions(rows=60)
    frame.loc[[10, 11], "measured"] = np.nan
    frame.to_csv(csv, index=False)
    result = invoke(
        "fit", csv, "--target", "sales", *QUICK, "--past", "measured", "--fill", "interpolate", "--out", tmp_path / "m"
    )
    assert result.returncode == 0, result.stderr
    frame.loc[[10, 11], "measured"] = np.nan
    result = invoke(
        "fit", csv, "--target", "sales", *QUICK, "--past", "measured", "--fill", "drop", "--out", tmp_path / "d"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "d" / "model.json").read_text())["training"]["rows"] == 58


def test_the_calendar_gives_cycles_and_holidays():
    days = pd.date_range("2024-07-03", periods=3, freq="D")
    found = features(("day_of_week",), "US", list(days))
    np.testing.assert_allclose(found[:, 0], [0, 1, 0])  # the Fourth of July
    monday_noon = features(("hour_of_day", "day_of_week"), None, [pd.Timestamp("2024-07-01T12:00")])
    np.testing.assert_allclose(monday_noon[0, :2], [0, -1], atol=1e-12)  # half a day: sine 0, cosine -1
    assert pd.Timestamp("2014-04-18").date() in holiday_dates("AU-VIC", [2014]) == holiday_dates("au-vic", [2014])
    # the cycle a season already places each step in is not read twice; weekly and coarser data read none
    assert cycles_for("datetime", "30min", 48) == ("day_of_week", "day_of_year")
    assert cycles_for("datetime", "h", 168) == ("hour_of_day", "day_of_year")
    assert cycles_for("datetime", "D", 7) == cycles_for("datetime", "B", 5) == ("day_of_year",)
    assert cycles_for("datetime", "MS", 12) == cycles_for("integer", "1", 1) == ()
    # nor one the data does not cover twice: a year of half-hours reads the week alone
    assert cycles_for("datetime", "30min", 48, pd.Timedelta(days=364)) == ("day_of_week",)
    assert cycles_for("datetime", "D", 1, pd.Timedelta(days=10)) == ()


def test_features_read_nothing_where_a_window_reads_before_its_series_begins():
    """As predict reads a short history: a series that starts late is trained on windows whose padding has no
    covariate or calendar features."""
    values = np.full((12, 1), np.nan)
    values[8:, 0] = np.arange(4.0)  # shorter than the window and the horizon: read left-padded
    windows = make_windows(values, 4, 1, min_observed=2, extra=np.ones((1, 12, 2)))
    first = windows.select(slice(0, 1))
    assert np.isnan(first.inputs).any()
    np.testing.assert_array_equal(first.features()[0, :4][np.isnan(first.inputs[0])], 0)
    assert (first.features()[0][~np.isnan(np.append(first.inputs[0], 0))] == 1).all()


def test_predict_reads_a_windows_covariates_at_its_rows_own_times():
    """Trading days with a holiday missing: the window's rows are the file's, not the days the frequency counts."""
    seen = [pd.Timestamp(day) for day in ("2024-12-23", "2024-12-24", "2024-12-26", "2024-12-27")]
    times = _span_times("datetime", "B", seen[-1], 4, 1, seen)
    assert times == [*seen, pd.Timestamp("2024-12-30")]
