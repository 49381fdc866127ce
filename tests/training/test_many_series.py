"""Many series in one model: wide files with hundreds of columns, long files, and gap policies."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from conftest import invoke
from forecaster.data.table import load_csv
from forecaster.errors import BadInput

SMALL = ("--window", 8, "--horizon", 2, "--hidden-size", 4, "--epochs", 1, "--members", 1)


def test_hundreds_of_series_train_one_model_and_all_are_forecast(tmp_path):
    rng = np.random.default_rng(0)
    days = pd.date_range("2021-01-01", periods=60, freq="D")
    columns = {}
    for k in range(300):
        series = 10 * (k + 1) + (k + 1) * np.sin(np.arange(60) / 5 + k) + rng.normal(size=60)
        series[: k % 20] = np.nan  # a fifth of them start late
        columns[f"s{k:03d}"] = series
    csv = tmp_path / "wide.csv"
    pd.DataFrame(columns, index=pd.Index(days, name="date")).to_csv(csv)
    model = tmp_path / "wide"
    fitted = invoke("fit", csv, "--out", model, *SMALL)
    assert fitted.returncode == 0, fitted.stderr
    metadata = json.loads((model / "model.json").read_text())
    assert len(metadata["series"]) == 300 and len(metadata["preparations"]) == 300
    predicted = invoke("predict", model)
    assert predicted.returncode == 0, predicted.stderr
    forecast = pd.read_csv(io.StringIO(predicted.stdout))
    assert forecast.shape == (2, 301)
    assert np.isfinite(forecast.drop(columns="date").to_numpy()).all()
    # each forecast is in its own series' units
    assert forecast["s299"][0] == pytest.approx(columns["s299"][-1], rel=0.5)


def long_csv(tmp_path) -> str:
    rows = [("a", day, 100 + i) for i, day in enumerate(pd.date_range("2020-01-01", periods=40, freq="D"))]
    rows += [("b", day, 5 + (i % 3)) for i, day in enumerate(pd.date_range("2020-01-11", periods=25, freq="D"))]
    path = tmp_path / "long.csv"
    pd.DataFrame(rows, columns=["store", "day", "sales"]).sample(frac=1, random_state=0).to_csv(path, index=False)
    return path


def test_long_format_series_with_their_own_start_and_end(tmp_path):
    csv = long_csv(tmp_path)
    table = load_csv(csv, "day", id_col="store", value_col="sales")
    assert table.columns == ["a", "b"] or table.columns == ["b", "a"]
    assert str(table.ends["a"].date()) == "2020-02-09" and str(table.ends["b"].date()) == "2020-02-04"
    model = tmp_path / "long"
    assert (
        invoke(
            "fit", csv, "--id-col", "store", "--time-col", "day", "--value-col", "sales", "--out", model, *SMALL
        ).returncode
        == 0
    )
    result = invoke("predict", model)
    assert result.returncode == 0, result.stderr
    forecast = pd.read_csv(io.StringIO(result.stdout))
    assert list(forecast.columns) == ["store", "day", "sales"]
    firsts = forecast.groupby("store")["day"].first().to_dict()
    assert firsts == {"a": "2020-02-10", "b": "2020-02-05"}  # each continues from its own last day


def test_long_format_errors_name_the_column(tmp_path):
    csv = long_csv(tmp_path)
    with pytest.raises(BadInput, match="--id-col"):
        load_csv(csv, "day", id_col="shop")
    with pytest.raises(BadInput, match="two rows for"):
        path = tmp_path / "dup.csv"
        path.write_text("store,day,sales\na,2020-01-01,1\na,2020-01-01,2\n")
        load_csv(path, id_col="store")


GAPPY = "date,a,b\n2020-01-01,,1\n2020-01-02,1,\n2020-01-03,,3\n2020-01-04,3,4\n2020-01-05,4,\n"


@pytest.fixture
def gappy(tmp_path):
    path = tmp_path / "gappy.csv"
    path.write_text(GAPPY)
    return path


def test_gaps_are_errors_by_default_naming_column_and_lines(gappy):
    with pytest.raises(
        BadInput, match=r"gappy.csv: column 'a' has missing values after its first value \(lines 4\).*--fill"
    ):
        load_csv(gappy)


@pytest.mark.parametrize(
    "policy, a, b",
    [
        ("interpolate", [np.nan, 1, 2, 3, 4], [1, 2, 3, 4, 4]),
        ("ffill", [np.nan, 1, 1, 3, 4], [1, 1, 3, 4, 4]),
    ],
)
def test_fill_policies_leave_leading_gaps_alone(gappy, policy, a, b):
    table = load_csv(gappy, fill=policy)
    np.testing.assert_array_equal(table.values["a"].to_numpy(), a)
    np.testing.assert_array_equal(table.values["b"].to_numpy(), b)


def test_drop_removes_the_rows_with_gaps(gappy):
    table = load_csv(gappy, fill="drop")
    assert [str(t.date()) for t in table.values.index] == ["2020-01-01", "2020-01-04"]
