"""The report of a backtest: its metrics and coverage, then every series' folds, forecasts against actual values.

Its figures are those `forecaster backtest` prints (``Backtest.format_table``:
four significant digits, MASE ``n/a`` where it cannot be computed, coverage
to a tenth of a percent). A series' drawing has a panel a fold: the actual
values before and over the fold's first forecast, the model's forecast and
intervals, and the three baselines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from forecaster.data.table import time_label
from forecaster.model.fit_result import figure, percent
from forecaster.model.forecast import MODEL
from forecaster.model.intervals import bound_columns
from forecaster.report.drawing import panel
from forecaster.report.fitted import LISTED, ratio, ratio_text
from forecaster.report.page import (
    Column,
    Html,
    Page,
    Panel,
    Row,
    element,
    exceptions,
    facts,
    name_column,
    ranked,
    row_link,
)
from forecaster.report.page import table as html_table
from forecaster.training.backtest import ACTUAL, CUTOFF, FOLD, ID, TIME, UNSCALED

if TYPE_CHECKING:
    from forecaster.training.backtest import Backtest, Scores

#: the actual values a fold's panel shows before its forecast, in horizons: folds side by side share a row's width
HORIZONS_BEFORE = 2
#: each baseline's line in a drawing (forecaster.report.page.LINES)
BASELINE_LINES = {"naive": "n", "seasonal-naive": "s", "drift": "d"}


def _mase(score: float | None) -> str:
    return UNSCALED if score is None else figure(score)


def backtest_page(backtest: Backtest, source: str) -> Page:
    """The page of ``backtest``, of the data ``source``."""
    levels = sorted(float(level) for level in backtest.coverage)
    forecasts = backtest.forecasts
    coverage = _coverage(forecasts, levels)
    rows = []
    grouped = dict(tuple(forecasts.groupby(ID, sort=False))) if len(forecasts) else {}
    for name, methods in backtest.series.items():
        model, seasonal = methods[MODEL], methods["seasonal-naive"]
        relative = ratio(model.mase, seasonal.mase)
        best = min(methods, key=lambda method: _rank(methods[method]))
        shares = [coverage.get((name, level)) for level in levels]
        rows.append(
            Row(
                [name, model.mase, seasonal.mase, relative, model.smape, best, *shares],
                [
                    name,
                    _mase(model.mase),
                    _mase(seasonal.mase),
                    ratio_text(relative),
                    percent(model.smape),
                    f"{MODEL} ({backtest.cell})" if best == MODEL else best,
                    *("" if share is None else f"{share:.1%}" for share in shares),
                ],
                _panels(backtest.actual[name], grouped.get(name), levels),
            )
        )
    columns = [
        name_column(),
        Column("MASE", help="the model's mean absolute scaled error over every fold (n/a: a constant series)"),
        Column("Seasonal naive MASE", help="the seasonal naive forecast's, on the same forecasts"),
        Column(
            "MASE ÷ seasonal naive's",
            help="above 1, seasonal naive did better: the series to look at first, sorted worst first at the start",
        ),
        Column("sMAPE", help="the model's symmetric mean absolute percentage error"),
        Column("Best", numeric=False, first="ascending", up="A to Z", down="Z to A", help="the method of least MASE"),
        *(
            Column(
                f"{level:g}% coverage",
                first="ascending",
                help=f"the share of actual values inside the {level:g}% interval",
            )
            for level in levels
        ),
    ]
    return Page(
        title=f"forecaster: backtest of {source}",
        lead=(
            f"{len(backtest.series):,} series, {len(backtest.origins)} folds from {backtest.origins[0]}, season "
            f"{backtest.season}, the {backtest.cell} cell against naive, seasonal naive and drift."
        ),
        sections=[_summary(backtest, levels), _exceptions(backtest, rows, levels)],
        columns=columns,
        rows=rows,
        sort=(3, True),
        levels=tuple(levels),
        lines=("a", "f", "n", "s", "d"),
    )


def _rank(scores: Scores) -> tuple[int, float]:
    """A method's place: by MASE where it has one, else by sMAPE after those that have."""
    return (0, scores.mase) if scores.mase is not None else (1, scores.smape)


def _coverage(forecasts: pd.DataFrame, levels: list[float]) -> dict[tuple[str, float], float]:
    """Per series and level, the share of its actual values inside the model's interval."""
    found: dict[tuple[str, float], float] = {}
    if not len(forecasts):
        return found
    actual = forecasts[ACTUAL].to_numpy()
    for level in levels:
        lower, upper = (forecasts[column].to_numpy() for column in bound_columns(MODEL, level))
        inside = pd.Series((lower <= actual) & (actual <= upper)).groupby(forecasts[ID].to_numpy(), sort=False).mean()
        found |= {(str(name), level): float(share) for name, share in inside.items()}
    return found


def _panels(actual: pd.Series, rows: pd.DataFrame | None, levels: list[float]) -> list[Panel]:
    """A panel a fold: the series' first forecast in it (from its earliest cutoff), with the actual values around."""
    if rows is None:
        return []
    observed = actual.dropna()
    panels = []
    for _, own in rows.groupby(FOLD, sort=True):
        first = own[own[CUTOFF] == own[CUTOFF].min()]
        cutoff, times = first[CUTOFF].iloc[0], list(first[TIME])
        end = observed.index.searchsorted(times[-1], side="right")
        start = max(0, observed.index.searchsorted(cutoff, side="right") - HORIZONS_BEFORE * len(times))
        shown = observed.iloc[start:end]
        last = observed.loc[:cutoff].iloc[-1:]
        lines = [
            ("a", list(shown.index), shown.to_numpy()),
            ("f", [*last.index, *times], np.concatenate([last.to_numpy(), first[MODEL].to_numpy()])),
            *((code, times, first[method].to_numpy()) for method, code in BASELINE_LINES.items()),
        ]
        bands = [
            (k, times, *(first[column].to_numpy() for column in bound_columns(MODEL, level)))
            for k, level in enumerate(levels)
        ]
        caption = f"fold {int(own[FOLD].iloc[0]) + 1}, from {time_label(cutoff)}"
        panels.append(panel(lines, bands, times[0], caption=caption))
    return panels


def _summary(backtest: Backtest, levels: list[float]) -> Html:
    named = {method: f"{MODEL} ({backtest.cell})" if method == MODEL else method for method in backtest.overall}
    metrics = html_table(
        ["method", "MAE", "RMSE", "sMAPE", "MASE"],
        [
            [named[method], figure(s.mae), figure(s.rmse), percent(s.smape), _mase(s.mase)]
            for method, s in backtest.overall.items()
        ],
        numeric=[False, True, True, True, True],
        caption="Every forecast of every fold and series, as forecaster backtest prints it",
    )
    coverage = (
        html_table(
            ["level", "actual values inside"],
            [
                [f"{level:g}%", f"{backtest.coverage[key]:.1%}"]
                for level, key in zip(levels, backtest.coverage, strict=True)
            ],
            numeric=[False, True],
            caption="Coverage of the model's intervals: near the level is right, below it too narrow",
        )
        if levels
        else element("p", "No interval was asked for (backtest --level 80 reports its coverage).", class_="none")
    )
    return element(
        "section",
        element("h2", "Summary", id="summary"),
        facts(
            [
                ("Cell", backtest.cell),
                ("Season", str(backtest.season)),
                ("Folds", f"{len(backtest.origins)}, from " + ", ".join(backtest.origins)),
                ("Series", f"{len(backtest.series):,}"),
                ("Forecasts", f"{len(backtest.forecasts):,} rows, each against its actual value"),
            ]
        ),
        metrics,
        coverage,
        element("ul", *(element("li", "note: ", note) for note in backtest.notes)) if backtest.notes else Html(""),
        aria_labelledby="summary",
    )


def _exceptions(backtest: Backtest, rows: list[Row], levels: list[float]) -> Html:
    names = list(backtest.series)
    worse = ranked(rows, 3, beyond=1)
    parts = [
        exceptions(
            "Worse than seasonal naive",
            [
                element("li", row_link(k, names[k]), f": MASE {rows[k].texts[1]} against {rows[k].texts[2]}")
                for k in worse[:LISTED]
            ],
            "None: the model's MASE is at most seasonal naive's on every series.",
            f"… and {len(worse) - LISTED:,} more (sort the table by MASE ÷ seasonal naive's)."
            if len(worse) > LISTED
            else "",
        )
    ]
    if levels:
        column = 6  # the first level's coverage, the narrowest interval
        below = ranked(rows, column, beyond=levels[0] / 100, descending=False)
        parts.append(
            exceptions(
                f"Least covered by the {levels[0]:g}% interval",
                [element("li", row_link(k, names[k]), f": {rows[k].texts[column]} inside") for k in below[:LISTED]],
                f"None: every series' {levels[0]:g}% interval covered at least {levels[0]:g}% of its actual values.",
            )
        )
    return element("section", element("h2", "Exceptions", id="exceptions"), *parts, aria_labelledby="exceptions")
