"""A statsforecast user's first day (issue 37): a forecast that merges with the data and reads like a backtest's
cross-validation frame, the command line's CSV as it was, and DataFrames, numpy's numbers and misspelt keywords taken
as a Python user gives them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import forecaster
from conftest import DATA, invoke, polars_frame
from forecaster.api import options_from
from forecaster.data.table import load_frame

TINY = {"members": 1, "hidden_size": 4, "epochs": 2, "seed": 3, "progress": False}
#: a month no row has: the step is not to be inferred from the rows, and freq= gives it
MISSING = pd.Timestamp("1955-06-01")


@pytest.fixture(scope="module")
def monthly() -> pd.DataFrame:
    """Two monthly series in statsforecast's columns, their ids integers, a column no one asked to read, a month
    missing."""
    airline = pd.read_csv(DATA / "airline.csv", parse_dates=["date"])
    frame = pd.concat(
        [
            pd.DataFrame({"unique_id": k, "ds": airline["date"], "y": airline["passengers"] * k, "promo": 0.0})
            for k in (1, 2)
        ],
        ignore_index=True,
    )
    return frame[frame["ds"] != MISSING].reset_index(drop=True)


@pytest.fixture(scope="module")
def model(monthly) -> forecaster.Model:
    return forecaster.fit(monthly, horizon=3, freq="MS", **TINY)


def test_a_forecast_merges_with_the_data_on_its_ids_and_times(monthly, model):
    """The forecast is named after the model, not the actuals' column (a merge gave y_x and y_y), its ids of the
    frame's type (integers came back as text, and the merge raised), its bounds as Nixtla's tools name them."""
    forecast = model.predict(levels=[80, 95])
    assert list(forecast.columns) == [
        "unique_id",
        "ds",
        "model",
        "model-lo-80",
        "model-hi-80",
        "model-lo-95",
        "model-hi-95",
    ]
    assert forecast["unique_id"].dtype == monthly["unique_id"].dtype == np.int64
    merged = monthly.merge(forecast, on=["unique_id", "ds"], how="outer")
    assert {"y", "model"} <= set(merged.columns) and len(merged) == len(monthly) + 2 * 3
    assert list(forecast["ds"].unique()) == list(pd.date_range("1961-01-01", periods=3, freq="MS"))
    assert (forecast["model-lo-95"] < forecast["model-lo-80"]).all() and (
        forecast["model-hi-80"] < forecast["model-hi-95"]
    ).all()


def test_a_forecast_and_a_backtests_frame_name_the_model_alike(monthly, model):
    result = forecaster.backtest(monthly, horizon=3, folds=1, freq="MS", levels=80, **TINY)
    folds, forecast = result.forecasts, model.predict(levels=80)
    assert list(forecast.columns) == ["unique_id", "ds", *(column for column in folds if column.startswith("model"))]
    assert folds["unique_id"].dtype == np.int64  # the frame's ids there too, and scored by them
    pd.testing.assert_frame_equal(result.score(folds), result.metrics)
    assert result.score(folds[folds["unique_id"] == 2])["series"].tolist()[-1] == "2"
    with pytest.raises(forecaster.BadInput, match=r"^unknown option forecast= \(did you mean forecasts=\?\)"):
        result.score(forecast=folds)


def test_a_wide_forecast_is_indexed_by_time_and_continues_the_data():
    airline = pd.read_csv(DATA / "airline.csv", parse_dates=["date"], index_col="date")
    forecast = forecaster.fit(airline, horizon=2, **TINY).predict(levels=80)
    assert isinstance(forecast.index, pd.DatetimeIndex) and forecast.index.name == "date"
    assert list(forecast.columns) == ["passengers", "passengers-lo-80", "passengers-hi-80"]
    continued = pd.concat([airline, forecast])["passengers"]
    assert continued.index.is_monotonic_increasing and len(continued) == len(airline) + 2


def test_the_command_line_writes_the_csv_layout_it_always_wrote(model, tmp_path):
    """Batch jobs and cron scripts read the columns by name: the CSV keeps them (README, "Prediction intervals")."""
    model.save(tmp_path / "m")
    printed = invoke("predict", tmp_path / "m", "--level", 80)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines()[0] == "unique_id,ds,y,lower_80,upper_80"


def test_ids_keep_their_type_saved_and_loaded_and_model_load_reads_a_directory(model, tmp_path):
    model.save(tmp_path / "m")
    card = json.loads((tmp_path / "m" / "model.json").read_text())
    assert card["layout"] == {"id_col": "unique_id", "value_col": "y", "id_type": "integer"}
    loaded = forecaster.Model.load(tmp_path / "m")  # as forecaster.load: "missing 'registry'" no more
    assert isinstance(loaded, forecaster.Model) and loaded.predict()["unique_id"].dtype == np.int64
    del card["layout"]["id_type"]  # a model written before the field: its ids were text
    (tmp_path / "m" / "model.json").write_text(json.dumps(card))
    assert list(forecaster.load(tmp_path / "m").predict()["unique_id"].unique()) == ["1", "2"]


def test_a_loaded_model_reports_its_fit_as_model_json_records_it(model, tmp_path):
    model.save(tmp_path / "m")
    report = forecaster.load(tmp_path / "m").report
    assert report.metrics == model.report.metrics and report.chosen == model.report.chosen
    assert report.summary().splitlines()[:3] == model.report.summary().splitlines()[:3]


def test_columns_not_read_are_named_in_a_note(model):
    assert "not read: column 'promo'; a column is read as a covariate when named as one" in " ".join(model.report.notes)


def test_freq_gives_the_step_the_rows_do_not_show(monthly, model):
    assert load_frame(monthly).frequency != "MS"  # a month missing: inferred otherwise
    assert model.card.time.frequency == "MS" and load_frame(monthly, freq="MS").frequency == "MS"
    with pytest.raises(forecaster.BadInput, match=r"^DataFrame: the time 1949-02-01T00:00:00 is not on a step of "):
        load_frame(monthly, freq="QS")
    with pytest.raises(forecaster.BadInput, match=r"^freq= 'XYZ' is neither a frequency pandas knows"):
        forecaster.fit(monthly, freq="XYZ")


def test_the_command_line_takes_freq_too(tmp_path):
    csv = tmp_path / "monthly.csv"
    csv.write_text("date,sales\n" + "".join(f"2020-{month:02d}-01,{month}\n" for month in range(1, 13)))
    refused = invoke("fit", csv, "--freq", "QS", "--out", tmp_path / "m")
    assert refused.returncode == 2 and refused.stderr == (
        f"forecaster: error: {csv}: the time 2020-02-01T00:00:00 is not on a step of --freq QS-JAN counted from the "
        "first time, 2020-01-01T00:00:00\n"
    )
    assert not (tmp_path / "m").exists()


def test_numpy_numbers_are_taken_where_pythons_are(model):
    options = options_from({"horizon": np.int64(12), "lr": np.float32(0.5), "epochs": np.int32(3), "past": "promo"})
    assert (options.horizon, options.lr, options.epochs, options.past) == (12, 0.5, 3, ("promo",))
    assert type(options.horizon) is int and type(options.lr) is float  # model.json writes them as JSON numbers
    one = model.predict(horizon=np.int64(2), levels=80)
    pd.testing.assert_frame_equal(one, model.predict(horizon=2, levels=np.array([80.0])))
    for call, message in (
        (lambda: model.predict(horizon=2.5), "horizon= must be an integer, not 2.5"),
        (lambda: model.predict(levels="80"), "levels= must be a number, not '80'"),
        (lambda: options_from({"horizon": np.float64(12)}), "horizon= must be an integer, not "),
    ):
        with pytest.raises(forecaster.BadInput, match=f"^{message}"):
            call()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda model, path: model.predict(level=80), "unknown option level= (did you mean levels=?)"),
        (lambda model, path: model.forecast(horizn=2), "unknown option horizn= (did you mean horizon=?)"),
        (lambda model, path: model.plot(serie=[1]), "unknown option serie= (did you mean series=?)"),
        (lambda model, path: forecaster.load(path, limit={}), "unknown option limit= (did you mean limits=?)"),
        (lambda model, path: forecaster.backtest(path, fold=2), "unknown option fold= (did you mean folds=?)"),
        (lambda model, path: model.predict(epochs=3), "epochs= is an option of a fit, not of Model.predict"),
    ],
    ids=["predict", "forecast", "plot", "load", "backtest", "a fit option"],
)
def test_a_misspelt_keyword_anywhere_is_named_with_the_one_meant(model, tmp_path, call, message):
    with pytest.raises(forecaster.BadInput) as refused:
        call(model, tmp_path)
    assert str(refused.value).startswith(message) and refused.value.exit_code == 2


def test_a_polars_frame_is_refused_in_one_line_saying_to_pandas():
    with pytest.raises(forecaster.BadInput, match=r"^DataFrame: a polars DataFrame is not read; .* \.to_pandas\(\)$"):
        forecaster.fit(polars_frame())
