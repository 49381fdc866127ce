"""The notebook user's data as they hold it (issue 22): statsforecast's long frame (unique_id, ds, y), a pandas
Series, a wide frame on a DatetimeIndex or PeriodIndex."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import forecaster
from conftest import DATA, invoke
from forecaster.data.table import load_frame

TINY = {"members": 1, "hidden_size": 4, "epochs": 2, "seed": 3}


@pytest.fixture(scope="module")
def airline() -> pd.Series:
    return pd.read_csv(DATA / "airline.csv", parse_dates=["date"]).set_index("date")["passengers"]


@pytest.fixture(scope="module")
def nixtla(airline) -> pd.DataFrame:
    """Two series in the columns statsforecast, neuralforecast and mlforecast use: unique_id, ds, y."""
    return pd.concat(
        [
            pd.DataFrame({"unique_id": name, "ds": airline.index, "y": airline.to_numpy() * k})
            for name, k in (("a", 1), ("b", 3))
        ]
    )


def test_a_frame_of_unique_id_ds_and_y_is_read_as_long_and_said(nixtla):
    model = forecaster.fit(nixtla, horizon=3, **TINY)
    assert model.series == ("a", "b") and model.card.time.frequency == "MS"
    assert any("series in 'unique_id', times in 'ds', values in 'y'" in note for note in model.report.notes)
    frame = model.predict()
    assert list(frame.columns) == ["unique_id", "ds", "model"]  # the convention in, the convention out
    assert frame["ds"].iloc[0] == pd.Timestamp("1961-01-01")
    b, a = (frame.loc[frame["unique_id"] == name, "model"].to_numpy() for name in ("b", "a"))
    assert np.all(b > 2 * a)


def test_the_same_csv_file_is_read_the_same_way_by_the_command(nixtla, tmp_path):
    path = tmp_path / "nixtla.csv"
    nixtla.to_csv(path, index=False)
    result = invoke("fit", path, "--horizon", 3, "--members", 1, "--epochs", 1, "--out", tmp_path / "m")
    assert result.returncode == 0, result.stderr
    assert "note: read as a long file: series in 'unique_id'" in result.stderr


def test_naming_a_column_wins_over_the_convention(nixtla):
    """A user who names a column is never second-guessed: the time column named, the frame is read as wide."""
    with pytest.raises(forecaster.BadInput, match=r"duplicated timestamp .* in column 'ds'.*name its series column"):
        forecaster.fit(nixtla, time_col="ds", horizon=3, **TINY)


def test_a_series_is_one_series_named_by_its_name(airline):
    model = forecaster.fit(airline.to_period("M"), horizon=2, **TINY)
    assert model.series == ("passengers",) and model.card.time.frequency == "MS"
    frame = model.predict()
    assert list(frame.columns) == ["passengers"] and frame.index[0] == pd.Timestamp("1961-01-01")


@pytest.mark.parametrize(
    "data, series",
    [
        (lambda airline: airline, ["passengers"]),
        (lambda airline: airline.rename(None), ["value"]),
        (lambda airline: airline.rename(0), ["value"]),  # a name that is not text would read as a row of data
        (lambda airline: pd.DataFrame({"x": airline, "y2": airline / 2}).to_period("M"), ["x", "y2"]),
    ],
    ids=["datetime index", "unnamed", "named 0", "wide on a period index"],
)
def test_series_and_period_indexes_are_read_as_their_csv_would_be(airline, data, series):
    table = load_frame(data(airline))
    assert table.columns == series and table.frequency == "MS" and table.time_kind == "datetime"
    assert table.values.index[0] == pd.Timestamp("1949-01-01")
    assert np.array_equal(table.values.iloc[:, 0].to_numpy(), airline.to_numpy())


def test_a_long_frame_read_as_wide_suggests_id_col(nixtla):
    renamed = nixtla.rename(columns={"unique_id": "store", "ds": "date", "y": "sales"})
    with pytest.raises(
        forecaster.BadInput,
        match=r"duplicated timestamp .* it is a long file: name its series column "
        r"with id_col=",
    ):
        forecaster.fit(renamed, horizon=3, **TINY)


def test_what_is_not_data_is_refused_naming_what_is():
    with pytest.raises(forecaster.BadInput, match="a CSV file's path, a pandas DataFrame or Series, not list"):
        forecaster.fit([1.0, 2.0, 3.0], horizon=1)


def test_a_period_time_column_is_read_by_each_period_s_start(nixtla):
    periods = nixtla.assign(ds=nixtla["ds"].dt.to_period("M"))
    table = load_frame(periods)
    assert table.frequency == "MS" and table.values.index[0] == pd.Timestamp("1949-01-01")
