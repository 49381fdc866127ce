"""A fit's report and a forecast read in a few lines in a console, however many series (issue 37: as text the
report of 20 series was 21 KB, a forecast 1.6 KB a series); in a notebook the report's table stays bounded."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.model.fit_result import HTML_ROWS, FitReport
from forecaster.model.forecast import Forecast

SERIES = [f"S{k}" for k in range(1000)]


def scores(mae: float, smape: float) -> dict[str, float]:
    return {"mae": mae, "rmse": 2 * mae, "smape": smape}


def a_report() -> FitReport:
    return FitReport(
        model_dir=None,
        cell="lstm",
        epochs_run=24,
        best_epoch=9,
        stopped_early=True,
        train_windows=982,
        validation_windows=180,
        final_epochs=5,
        processes=1,
        metrics={
            "model": scores(50_120.0, 12.5),
            "naive": scores(40_000.0, 14.25),
            "windows": 180,
            "series": {name: {"model": scores(1.0, 12.5), "naive": scores(2.0, 14.25)} for name in SERIES},
        },
        metrics_on="validation",
        notes=["a note"] * 50,
    )


def test_a_report_reads_in_three_lines_with_its_scale_free_error():
    report = a_report()
    assert str(report) == repr(report)
    assert repr(report).splitlines() == [
        (
            "<FitReport: cell lstm: 24 epochs (best 9, stopped early), 982 training and 180 validation windows; "
            "then 5 epochs on every window>"
        ),
        "  validation sMAPE 12.5% against the naive forecast's 14.25%, 1000 series",
        "  .summary(): every line; .to_frame(): each series' errors",
    ]
    assert len(report.summary().splitlines()) > 50, "the whole report is a call away"


def test_a_reports_table_in_a_notebook_shows_its_first_and_last_rows_and_its_size():
    shown = a_report()._repr_html_()
    assert shown.count("<tr") == 1 + HTML_ROWS + 1, "the header, the rows shown and the '...' between them"
    assert "<td>S0</td>" in shown and "<td>S999</td>" in shown and "<td>S500</td>" not in shown
    assert "2000 rows \N{MULTIPLICATION SIGN} 5 columns" in shown and len(shown) < 6000


def test_a_forecast_reads_in_a_few_lines():
    times = list(pd.date_range("2020-01-01", periods=8, freq="QS"))
    band = (np.zeros(8), np.ones(8))
    forecast = Forecast(
        times=dict.fromkeys(SERIES, times),
        values={name: np.zeros(8) for name in SERIES},
        bounds={name: {80.0: band, 95.0: band} for name in SERIES},
        history={name: pd.Series(np.arange(100.0)) for name in SERIES},
        time_name="ds",
        layout=None,
        notes=["one", "two"],
    )
    assert repr(forecast).splitlines() == [
        "<Forecast: 1000 series, 8 steps from 2020-01-01 00:00:00, intervals 80%, 95%>",
        "  2 notes: .notes",
        "  .to_frame(): the values, as predict gives them",
    ]
