"""The report of a night's batch run: every job's status, reason and time, then the series that need a look.

Read from files alone, with neither torch nor the models' weights: the run's
summary, and for each job that succeeded its model's model.json (held-out
errors, fallbacks), its input (the recent history) and the forecast it wrote.
The last run's forecast of a job is the one the newest earlier summary beside
this one names for it, while that file is still there (a job's ``keep``
deletes old forecasts): "moved since the last run" compares the two over the
times both forecast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.batch.summary import STATUSES, read_summary
from forecaster.data import header
from forecaster.data.spreadsheet import neutral
from forecaster.errors import BadInput, ForecasterError
from forecaster.model.card import Card
from forecaster.model.directory import read_card
from forecaster.model.trained import read_recent, recorded_report
from forecaster.report.drawing import forecast_panel
from forecaster.report.fitted import LISTED, NONE, fallback_of, ratio, ratio_text, series_errors
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

#: the change, in percent, below which a forecast has not moved as the page says it (+0.0%)
MOVED = 0.05
#: the earlier summaries looked at for the last run's forecasts, newest first
EARLIER_SUMMARIES = 20
#: per series: its times, its values and its bounds per level
Forecasted = tuple[list, np.ndarray, dict[float, tuple[np.ndarray, np.ndarray]]]


@dataclass
class JobSeries:
    """What the page shows of one job's series, read from its files; ``problem``: why some could not be read."""

    card: Card | None = None
    forecast: dict[str, Forecasted] = field(default_factory=dict)
    previous: dict[str, Forecasted] = field(default_factory=dict)
    history: pd.DataFrame | None = None
    levels: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def night_page(document: dict, summary: Path | None) -> Page:
    """The page of the run ``document`` summarises, written at ``summary`` (None: not written, no earlier runs)."""
    jobs = document["jobs"]
    earlier = last_forecasts(summary, document) if summary is not None else {}
    rows: list[Row] = []
    problems: list[str] = []
    levels: set[float] = set()
    for job in jobs:
        if job["status"] != "ok" or not job.get("output"):
            continue
        found = read_job(job, earlier.get(job["name"]))
        problems += [f"{job['name']}: {problem}" for problem in found.problems]
        levels |= set(found.levels)
        rows += _rows(job["name"], found)
    compared = bool(earlier)
    columns = [
        name_column("Job"),
        name_column(),
        Column(
            "Change",
            help="how far tonight's forecast moved from the last run's, over the times both forecast: the difference "
            "of their means, in percent of the last run's level; sorted by its size, largest first at the start",
        ),
        Column(
            "Error ÷ seasonal naive",
            help="the model's held-out MAE over the seasonal naive forecast's (the last value's where the data has "
            "no season): above 1, seasonal naive did better",
        ),
        Column(
            "Fallback",
            numeric=False,
            up="none first",
            down="fallen back first",
            help="the baseline forecasting the series where it did better on its held-out windows",
        ),
    ]
    return Page(
        title=f"forecaster: the night's batch, {document.get('started', '')}",
        lead=f"{document.get('jobs_file', '')}: {len(jobs):,} jobs, {len(rows):,} series forecast; the run "
        f"{document.get('status', '')} (exit {document.get('exit_code', '')}).",
        sections=[
            _exceptions(jobs, rows, compared),
            _run(document, summary, problems, compared),
        ],
        columns=columns,
        rows=rows,
        sort=(2, True) if compared else (3, True),
        header=1,
        searched=(0, 1),
        levels=tuple(sorted(levels)),
        lines=("h", "p", "f") if compared else ("h", "f"),
    )


def read_job(job: dict, previous: Path | None) -> JobSeries:
    """The files of a job that succeeded: its model's card, tonight's forecast, the last run's, its input's history."""
    found = JobSeries()
    try:
        found.card = read_card(job["model"])
        found.forecast, found.levels = read_forecast(Path(job["output"]), found.card)
    except (ForecasterError, OSError, ValueError, KeyError) as exc:
        found.problems.append(f"not drawn: {exc}")
        return found
    if previous is not None:
        try:
            found.previous, _ = read_forecast(previous, found.card)
        except (ForecasterError, OSError, ValueError, KeyError) as exc:
            found.problems.append(f"the last run's forecast {previous} could not be read: {exc}")
    try:
        found.history = read_recent(found.card, job["input"]).values
    except (ForecasterError, OSError, ValueError) as exc:
        found.problems.append(f"its input could not be read for the history: {exc}")
    return found


def read_forecast(path: Path, card: Card) -> tuple[dict[str, Forecasted], list[float]]:
    """A forecast CSV as `forecaster predict` and batch jobs write it, of the model ``card`` describes: per series its
    times, values and bounds, and the levels of those bounds."""
    header.check(path)  # measured within its limits before pandas reads it, as every CSV forecaster reads
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if card.layout is None:
        times = _times(frame.iloc[:, 0], card)
        point = {name: neutral(name) for name in card.series}
        levels = _levels(frame.columns, neutral(card.series[0]) + "_")
        return {
            name: (
                times,
                _numbers(frame[column]),
                {
                    level: (
                        _numbers(frame[f"{column}_lower_{level:g}"]),
                        _numbers(frame[f"{column}_upper_{level:g}"]),
                    )
                    for level in levels
                },
            )
            for name, column in point.items()
            if column in frame.columns
        }, levels
    layout = card.layout
    levels = _levels(frame.columns, "")
    names = {neutral(name): name for name in card.series}
    found: dict[str, Forecasted] = {}
    for shown, rows in frame.groupby(neutral(layout.id_col), sort=False):
        name = names.get(str(shown))
        if name is None:
            continue
        found[name] = (
            _times(rows.iloc[:, 1], card),  # the time column, after the id column
            _numbers(rows[neutral(layout.value_col)]),
            {level: (_numbers(rows[f"lower_{level:g}"]), _numbers(rows[f"upper_{level:g}"])) for level in levels},
        )
    return found, levels


def _levels(columns: pd.Index, prefix: str) -> list[float]:
    pattern = re.compile(re.escape(prefix) + r"lower_(\d+(?:\.\d+)?)")
    return sorted(float(match[1]) for match in map(pattern.fullmatch, map(str, columns)) if match)


def _numbers(column: pd.Series) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)


def _times(column: pd.Series, card: Card) -> list:
    if card.time.kind != "datetime":
        return [int(value) for value in column]
    parsed = pd.to_datetime(column, format="ISO8601")
    return list(parsed)


def last_forecasts(summary: Path, document: dict) -> dict[str, Path]:
    """Each job's forecast written by the last run before this one that succeeded with it: from the newest earlier
    summaries of the same jobs file beside ``summary`` (at most EARLIER_SUMMARIES), where its file is still there and
    is not tonight's own (an output without ``{date}`` is replaced each night)."""
    tonight = {job["name"]: job.get("output") for job in document["jobs"] if job["status"] == "ok"}
    try:
        written = summary.stat().st_mtime_ns
        candidates = sorted(
            (path for path in summary.parent.glob(f"*{summary.suffix}") if path != summary and path.is_file()),
            key=lambda path: path.stat().st_mtime_ns,
            reverse=True,
        )
    except OSError:
        return {}
    found: dict[str, Path] = {}
    for path in [path for path in candidates if path.stat().st_mtime_ns < written][:EARLIER_SUMMARIES]:
        try:
            earlier = read_summary(path)
        except (BadInput, OSError):
            continue  # not a summary, or not one this forecaster reads
        if earlier.get("jobs_file") != document.get("jobs_file"):
            continue
        for job in earlier["jobs"]:
            output = job.get("output")
            name = job["name"]
            wanted = name in tonight and name not in found and job["status"] == "ok"
            if wanted and output and output != tonight[name] and Path(output).is_file():
                found[name] = Path(output)
        if len(found) == len(tonight):
            break
    return found


def change(now: np.ndarray, now_times: list, before: pd.Series) -> float | None:
    """How far a forecast moved from the one ``before`` it: the difference of their means over the times both
    forecast (all of each where none is shared), in percent of the earlier one's mean absolute value."""
    tonight = pd.Series(now, index=now_times)
    shared = tonight.index.intersection(before.index)
    a, b = (tonight[shared], before[shared]) if len(shared) else (tonight, before)
    level = float(np.nanmean(np.abs(b.to_numpy()))) if len(b) else float("nan")
    if not level > 0:
        return None
    moved = 100 * (float(np.nanmean(a.to_numpy())) - float(np.nanmean(b.to_numpy()))) / level
    return moved if np.isfinite(moved) else None


def _rows(job: str, found: JobSeries) -> list[Row]:
    if found.card is None:
        return []
    report = recorded_report(found.card, None)
    rows = []
    for name, (times, values, bounds) in found.forecast.items():
        model_mae, _, seasonal_mae = series_errors(report, name)
        relative = ratio(model_mae, seasonal_mae)
        fell, fallback = fallback_of(report, name)
        previous = found.previous.get(name)
        before = pd.Series(previous[1], index=previous[0]) if previous is not None else None
        moved = change(values, times, before) if before is not None else None
        history = _history(found.history, name, times[0] if times else None)
        rows.append(
            Row(
                [job, name, None if moved is None else abs(moved), relative, fell],
                [job, name, "" if moved is None else f"{moved:+.1f}%", ratio_text(relative), fallback],
                [forecast_panel(history, times, values, bounds, found.levels, before)] if times else [],
            )
        )
    return rows


def _history(values: pd.DataFrame | None, name: str, origin: object) -> pd.Series:
    """The series' observed values before the forecast's first time (none where its input could not be read)."""
    if values is None or name not in values.columns:
        return pd.Series([], dtype=float)
    observed = values[name].dropna()
    return observed[observed.index < origin] if origin is not None else observed


def _run(document: dict, summary: Path | None, problems: list[str], compared: bool) -> Html:
    """The run and its jobs, each with its status, the refit decision and why, its time and what it wrote."""
    jobs = document["jobs"]
    counts = ", ".join(
        f"{sum(job['status'] == status for job in jobs):,} {status}"
        for status in STATUSES
        if any(job["status"] == status for job in jobs)
    )
    rows = [
        [
            element("span", job["name"], id=f"job-{k}"),
            element("span", job["status"], class_="status-ok" if job["status"] == "ok" else "status-bad"),
            ("refit" if job.get("refitted") else "reuse" if job.get("refitted") is False else "")
            + (f": {job['reason']}" if job.get("reason") else ""),
            f"{float(job.get('seconds') or 0):.1f}",
            job.get("error") or job.get("output") or "",
        ]
        for k, job in enumerate(jobs)
    ]
    return element(
        "section",
        element("h2", "The run", id="run"),
        facts(
            [
                ("Jobs file", document.get("jobs_file", "")),
                *_whose(document),
                ("Started", document.get("started", "")),
                ("Finished", f"{document.get('finished', '')} ({float(document.get('seconds') or 0):.1f} s)"),
                ("Status", f"{document.get('status', '')}, exit code {document.get('exit_code', '')}"),
                ("Jobs", counts or "none"),
                ("Summary", str(summary) if summary else "not written (no summary key or --summary)"),
                (
                    "Compared with",
                    "the last run's forecasts, named by the summaries beside this one"
                    if compared
                    else "nothing: no earlier run's forecast of these jobs was found beside this summary",
                ),
            ]
        ),
        table(
            ["Job", "Status", "Model", "Seconds", "Forecast written, or the error"],
            rows,
            numeric=[False, False, False, True, False],
            caption="Every job of the run, in the jobs file's order",
        ),
        element("ul", *(element("li", problem) for problem in problems)) if problems else Html(""),
        aria_labelledby="run",
    )


def _whose(document: dict) -> list[tuple[str, str]]:
    """The run's project, run id, shard and host, those its summary records (a night's shards and retries share the
    project and the run id)."""
    run_id = document.get("run_id")
    source = document.get("run_id_from")
    said = [
        ("Project", document.get("project")),
        ("Run id", f"{run_id} (from {source})" if run_id and source else run_id),
        ("Shard", document.get("shard")),
        ("Host", document.get("host")),
    ]
    return [(name, str(value)) for name, value in said if value]


def _again(job: dict) -> str:
    """What a job that did not succeed may do on another try, as its summary records it (a late feed may come; a
    summary written before runs said so says nothing)."""
    if "retryable" not in job:
        return ""
    return " (may pass on a retry)" if job["retryable"] else " (fails again until fixed)"


def _exceptions(jobs: list[dict], rows: list[Row], compared: bool) -> Html:
    """What needs a human this morning: failed jobs, the forecasts that moved most, the worst against seasonal naive,
    and the series that fell back, each linking to its row (a job to its line of the run's table)."""
    failed = [
        element(
            "li",
            element("a", job["name"], href=f"#job-{k}"),
            f": {job['status']}" + (f": {job['error']}" if job.get("error") else "") + _again(job),
        )
        for k, job in enumerate(jobs)
        if job["status"] != "ok"
    ]

    def linked(k: int, said: str) -> Html:
        return element("li", row_link(k, f"{rows[k].texts[0]} / {rows[k].texts[1]}"), said)

    moved = ranked(rows, 2, beyond=MOVED)
    worse = ranked(rows, 3, beyond=1)
    fell = [k for k, row in enumerate(rows) if row.values[4] != NONE]
    return element(
        "section",
        element("h2", "Exceptions", id="exceptions"),
        exceptions(
            "Jobs that failed, were late or did not run",
            failed,
            "None: every job succeeded.",
        ),
        exceptions(
            "Moved most since the last run",
            [linked(k, f": {rows[k].texts[2]}") for k in moved[:LISTED]],
            "Nothing to compare: no earlier run's forecast of these jobs was found."
            if not compared
            else f"None moved by {MOVED:g}% or more since the last run.",
        ),
        exceptions(
            "Worst against the seasonal naive forecast on their held-out windows",
            [linked(k, f": {rows[k].texts[3]} times its error") for k in worse[:LISTED]],
            "None: the models did at least as well as the seasonal naive forecast on every series (a model written "
            "before forecaster kept seasonal naive's errors is not ranked: fit it again).",
            f"… and {len(worse) - LISTED:,} more (sort the table by Error ÷ seasonal naive)."
            if len(worse) > LISTED
            else "",
        ),
        exceptions(
            "Fallen back",
            [linked(k, f": {rows[k].texts[4]}") for k in fell[:LISTED]],
            "None: the models forecast every series.",
            f"… and {len(fell) - LISTED:,} more (sort the table by Fallback)." if len(fell) > LISTED else "",
        ),
        aria_labelledby="exceptions",
    )
