"""Numeric extremes: values whose squares or sums overflow float64, constant and all-zero series, values spanning
twenty orders of magnitude. Each is a model with finite figures or one line naming the file and column; no warning
text of numpy or torch and no file path of the package reaches the user."""

from __future__ import annotations

import json
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from conftest import assert_clean_error, invoke
from forecaster.runtime import warned

TINY = ("--horizon", 3, "--epochs", 2, "--members", 1, "--threads", 1, "--hidden-size", 4)
ROWS = 60
EXTREMES = {
    "near 1e300": np.linspace(1e299, 1.2e300, ROWS),
    "at 1e308": np.full(ROWS, 1e308),
    "constant": np.full(ROWS, 5.0),
    "all zero": np.zeros(ROWS),
    "1e-10 to 1e10": 10.0 ** np.linspace(-10, 10, ROWS),
}


def csv_with(tmp_path, values: np.ndarray):
    """Column a holds the extreme values, column b an ordinary series beside them."""
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2020-01-01", periods=ROWS, freq="D").strftime("%Y-%m-%d"),
            "a": values,
            "b": np.random.default_rng(0).normal(10, 1, ROWS),
        }
    )
    path = tmp_path / "extreme.csv"
    frame.to_csv(path, index=False, float_format="%.17g")
    return path


def figures(text: str) -> list[float]:
    return [float(number) for number in re.findall(r"(?:MAE|RMSE|sMAPE) (\S+)", text)]


@pytest.mark.parametrize("name", EXTREMES)
def test_a_fit_gives_finite_figures_and_no_warning_text(name, tmp_path):
    result = invoke("fit", csv_with(tmp_path, EXTREMES[name]), *TINY, "--out", tmp_path / "m")
    assert result.returncode == 0, result.stderr
    shown = figures(result.stderr)
    assert len(shown) >= 6 and all(math.isfinite(figure) for figure in shown), result.stderr
    assert "Warning" not in result.stderr and "forecaster/" not in result.stderr and ".py" not in result.stderr
    metrics = json.loads((tmp_path / "m" / "model.json").read_text())["metrics"]
    assert all(math.isfinite(value) for value in metrics["model"].values())
    forecast = invoke("predict", tmp_path / "m")
    assert forecast.returncode == 0 and "inf" not in forecast.stdout and "nan" not in forecast.stdout.lower()


def test_values_whose_sums_overflow_under_the_standard_scaler_are_one_line_naming_the_column(tmp_path):
    signed = np.where(np.arange(ROWS) % 2, 1e300, -1e300) * np.linspace(1, 1.7, ROWS)
    path = csv_with(tmp_path, signed)
    assert_clean_error(invoke("fit", path, *TINY, "--out", tmp_path / "m"), "extreme.csv", "column 'a'")
    assert not (tmp_path / "m").exists()


def test_warnings_are_said_once_each_in_words_without_a_path():
    huge = np.float64(1e300)
    with warned.recorded() as cautions, np.errstate(over="warn"):
        _ = huge * huge  # the overflow is the point, here and on the next line
        _ = huge * huge * 1.0
        warnings.warn("a library's remark", UserWarning, stacklevel=1)
        warnings.warn("old API", DeprecationWarning, stacklevel=1)  # for developers: unsaid
    assert warned.said(cautions) == [
        (
            "numpy: overflow encountered in scalar multiply (values too large or too small for floating-point "
            "arithmetic) (2 times)"
        ),
        "python: a library's remark",
    ]


def test_a_workers_warnings_are_replayed_in_the_fit_and_said_there():
    with warned.recorded() as cautions:
        warned.replay([warned.Caution("RuntimeWarning", "numpy", "overflow encountered in matmul")] * 2)
    assert warned.said(cautions) == [
        "numpy: overflow encountered in matmul (values too large or too small for floating-point arithmetic) (2 times)"
    ]


def test_a_replayed_warning_keeps_the_library_it_came_from():
    with warned.recorded() as cautions:
        warned.replay([warned.Caution("UserWarning", "lightning", "a remark of Lightning's")])
    assert warned.said(cautions) == ["lightning: a remark of Lightning's"]
