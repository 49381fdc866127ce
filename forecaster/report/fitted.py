"""The report of a model: how its fit went, then every series' forecast beside its held-out errors.

Its figures are the fit's summary's (``FitReport``, as `forecaster fit`
prints it, rounded by the same :func:`~forecaster.model.fit_result.figure`),
whether the model was fitted in this process or read from model.json.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from forecaster.model.fit_result import figure, percent
from forecaster.report.drawing import forecast_panel
from forecaster.report.page import (
    Column,
    Html,
    Page,
    Row,
    element,
    exceptions,
    facts,
    name_column,
    ranked,
    row_link,
    table,
)

if TYPE_CHECKING:
    from forecaster.model.card import Card
    from forecaster.model.fit_result import FitReport
    from forecaster.model.forecast import Forecast

#: the exceptions a list names before it says how many more there are (the table holds them all)
LISTED = 10
#: the fallback column's sort values: fallen back to the baseline first, then forecast by the last value
BASELINE, LAST_VALUE, NONE = 2, 1, 0
#: the columns of the error over seasonal naive's and of the fallback
RELATIVE, FALLBACK = 4, 6
#: what the exceptions say of a model.json written before the seasonal naive forecast's errors were kept
UNKEPT = (
    "Not known: this model.json was written by a forecaster that kept only the naive forecast's errors; fit the "
    "model again to rank its series against seasonal naive."
)


def ratio(model: float | None, naive: float | None) -> float | None:
    """The model's error over the naive forecast's: below 1, the model did better; None where either is unknown."""
    if model is None or naive is None or not naive > 0 or model != model:
        return None
    return model / naive


def ratio_text(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def error_text(value: float | None) -> str:
    """An error as the table shows it: as the summary says it, or nothing where the fit kept none."""
    return "" if value is None else figure(value)


def series_errors(report: FitReport, name: str) -> tuple[float | None, float | None, float | None]:
    """The model's, the naive forecast's and the seasonal naive forecast's MAE on the series' held-out windows, as
    the fit's summary says them (seasonal naive's None in a model.json written before it was kept)."""
    scores = report.metrics["series"].get(name)
    if scores is None:
        return None, None, None
    seasonal = scores.get("seasonal_naive")
    return scores["model"]["mae"], scores["naive"]["mae"], seasonal["mae"] if seasonal else None


def fallback_of(report: FitReport, name: str) -> tuple[int, str]:
    """Whether (and how) the series' forecast falls back: its sort value and its words."""
    if name in report.baseline:
        model, baseline = report.baseline[name]
        return BASELINE, f"{report.baseline_method} ({figure(baseline)} against {figure(model)})"
    if name in report.fallback:
        return LAST_VALUE, "last value (too short)"
    return NONE, ""


COLUMNS = [
    name_column(),
    Column("Held-out MAE", help="the model's mean absolute error on the series' held-out windows"),
    Column("Naive MAE", help="the naive forecast's (the last value) on the same windows"),
    Column(
        "Seasonal naive MAE",
        help="the seasonal naive forecast's (the last season repeated; the last value where the data has no season) "
        "on the same windows",
    ),
    Column(
        "Error ÷ seasonal naive",
        help="held-out MAE over seasonal naive MAE: above 1, the seasonal naive forecast did better; sorted worst "
        "first at the start",
    ),
    Column("sMAPE", help="the model's symmetric mean absolute percentage error on those windows"),
    Column(
        "Fallback",
        numeric=False,
        up="none first",
        down="fallen back first",
        help="the baseline forecasting the series where it did better on its held-out windows (its error and the "
        "model's, in units of each window's level), or its last value where it is too short to learn from",
    ),
]


def model_page(card: Card, report: FitReport, forecast: Forecast, where: str) -> Page:
    """The report of the model ``card`` describes, its fit's ``report``, and ``forecast``, its forecast of every
    series; ``where``: the model's directory, or what it was fitted on."""
    levels = sorted({level for bounds in forecast.bounds.values() for level in bounds})
    rows = []
    for name in card.series:
        model_mae, naive_mae, seasonal_mae = series_errors(report, name)
        scores = report.metrics["series"].get(name)
        relative = ratio(model_mae, seasonal_mae)
        fell, fallback = fallback_of(report, name)
        rows.append(
            Row(
                [
                    name,
                    model_mae,
                    naive_mae,
                    seasonal_mae,
                    relative,
                    scores["model"]["smape"] if scores else None,
                    fell,
                ],
                [
                    name,
                    error_text(model_mae),
                    error_text(naive_mae),
                    error_text(seasonal_mae),
                    ratio_text(relative),
                    percent(scores["model"]["smape"]) if scores else "",
                    fallback,
                ],
                [
                    forecast_panel(
                        forecast.history[name],
                        forecast.times[name],
                        forecast.values[name],
                        forecast.bounds[name],
                        levels,
                    )
                ],
            )
        )
    return Page(
        title=f"forecaster: the model {where}",
        lead=(
            f"{len(card.series):,} series, forecast {card.hyperparameters.horizon} steps ahead by the "
            f"{card.cell.name} cell; fitted on {card.training.source}, {card.created.isoformat(timespec='seconds')}."
        ),
        sections=[_summary(card, report, levels), _exceptions(card, report, rows)],
        columns=COLUMNS,
        rows=rows,
        sort=(RELATIVE, True),
        levels=tuple(levels),
        lines=("h", "f"),
    )


def _summary(card: Card, report: FitReport, levels: list[float]) -> Html:
    hyper, model, naive = card.hyperparameters, report.metrics["model"], report.metrics["naive"]
    errors = table(
        ["", "MAE", "RMSE", "sMAPE"],
        [
            [f"model ({report.cell})", figure(model["mae"]), figure(model["rmse"]), percent(model["smape"])],
            ["naive (last value)", figure(naive["mae"]), figure(naive["rmse"]), percent(naive["smape"])],
            *(
                [["seasonal naive", figure(seasonal["mae"]), figure(seasonal["rmse"]), percent(seasonal["smape"])]]
                if (seasonal := report.metrics.get("seasonal_naive"))
                else []
            ),
        ],
        numeric=[False, True, True, True],
        caption=f"On the {report.metrics_on} windows ({report.metrics['windows']:,} of them), in the data's units",
    )
    intervals = card.intervals
    calibration = (
        f"conformal, from {intervals.windows:,} held-out errors a forecast step (on the {intervals.on} windows); "
        "drawn: " + (", ".join(f"{level:g}%" for level in levels) if levels else "none (too few errors for 80%)")
    )
    fallen = len(report.baseline) + len(report.fallback)
    return element(
        "section",
        element("h2", "Summary", id="summary"),
        facts(
            [
                ("Cell", f"{card.cell.name} ({card.cell.distribution} {card.cell.version})"),
                ("Series", f"{len(card.series):,}"),
                (
                    "Chosen",
                    (
                        f"horizon {hyper.horizon}, season {hyper.season}, window {hyper.window}, hidden size "
                        f"{hyper.hidden_size}, members {hyper.members}"
                    ),
                ),
                ("Training", report.summary().splitlines()[0]),
                ("Forecast", report.blend_line().removeprefix("forecast: ")),
                (
                    "Fallbacks",
                    f"{len(report.baseline):,} series forecast by {report.baseline_method}, "
                    f"{len(report.fallback):,} by their last value" + ("" if fallen else ": none"),
                ),
                ("Intervals", calibration),
            ]
        ),
        errors,
        element("h3", "Why these choices") if report.chosen else Html(""),
        element("ul", *(element("li", reason) for reason in report.chosen)) if report.chosen else Html(""),
        element("ul", *(element("li", "note: ", note) for note in report.notes)) if report.notes else Html(""),
        element(
            "details",
            element("summary", "The fit's summary, as forecaster fit prints it"),
            element("pre", report.summary()),
        ),
        aria_labelledby="summary",
    )


def _exceptions(card: Card, report: FitReport, rows: list[Row]) -> Html:
    """The series a reviewer looks at first: the worst against the seasonal naive forecast, and those that fell
    back."""
    above = ranked(rows, RELATIVE, beyond=1)
    worse = [
        element(
            "li", row_link(k, card.series[k]), f": {rows[k].texts[RELATIVE]} times the seasonal naive forecast's error"
        )
        for k in above[:LISTED]
    ]
    fell = [k for k, row in enumerate(rows) if row.values[FALLBACK] != NONE]
    fallen = [element("li", row_link(k, card.series[k]), f": {rows[k].texts[FALLBACK]}") for k in fell[:LISTED]]
    return element(
        "section",
        element("h2", "Exceptions", id="exceptions"),
        exceptions(
            "Worse than the seasonal naive forecast on their held-out windows",
            worse,
            "None: the model did at least as well as the seasonal naive forecast on every series."
            if "seasonal_naive" in report.metrics
            else UNKEPT,
            _more(len(above), "sort the table by Error ÷ seasonal naive"),
        ),
        exceptions(
            "Fallen back",
            fallen,
            "None: the model forecasts every series.",
            _more(len(fell), "sort the table by Fallback"),
        ),
        aria_labelledby="exceptions",
    )


def _more(count: int, how: str) -> str:
    return f"… and {count - LISTED:,} more ({how})." if count > LISTED else ""
