"""A batch job's input guards: a feed cut short, one gone back in time, a stale one, levels it cannot calibrate.

They run on the input as read, before a model is trained or anything is
replaced, so a job that fails one keeps its previous model and forecast.
Each returns what it found in words for the summary, or raises
:class:`GuardFailed` (the job fails, the run exits 1) saying what to set if
the input is as intended, or, for a stale feed, :class:`FeedLate` (the job is
late: it may pass on another run, exit 75).
"""

from __future__ import annotations

import datetime

from forecaster.batch.jobs_file import Job, describe_age
from forecaster.data.table import Table, time_label
from forecaster.errors import FeedLate, ForecasterError
from forecaster.model.card import Card
from forecaster.model.intervals import too_few, windows_needed
from forecaster.options import format_duration
from forecaster.training.pipeline import calibration_windows


class GuardFailed(ForecasterError):
    """An input guard refused the job's input (exit 1 for the run)."""


def check_feed(job: Job, table: Table, saved: Card | None, now: datetime.datetime, refit: bool) -> list[str]:
    """The guards on ``table``, the job's input, against ``saved`` (the card of the model in place, if any).

    Refitting, every series needs at least the rows the saved model was
    trained on; refitting or not, no series may end before the saved model's
    data did, and with ``max_age`` the newest row must be recent.
    """
    checks = []
    if saved is not None:
        shrunk = _shrunk(table, saved) if refit else []
        shrunk += _ended_earlier(table, saved)
        if shrunk and not job.allow_shrink:
            raise GuardFailed(
                f"{table.path}: {shrunk[0]}: a feed cut short? The previous model and forecast are kept; "
                f"set allow_shrink = true on the job if the input is as intended"
            )
        checks.append(
            f"allowed by allow_shrink: {'; '.join(shrunk)}"
            if shrunk
            else "no series has fewer rows or ends earlier than the saved model's"
            if refit
            else "no series ends earlier than the saved model's"
        )
    if job.max_age is not None:
        checks.append(_fresh(job.max_age, table, now))
    return checks


def check_calibration(job: Job, table: Table) -> list[str]:
    """Refitting: whether the windows ``table`` gives can calibrate the job's highest level, as the fit will."""
    if not job.levels:
        return []
    held_out = calibration_windows(table, job.options)
    if held_out == 0:
        return []  # the fit says why, naming the rows and the horizon
    level = max(job.levels)
    if held_out < windows_needed(level):
        raise GuardFailed(
            f"{table.path}: {too_few(level, held_out, f'this input with horizon {job.options.horizon} gives')}"
        )
    return [f"{held_out} held-out forecasts a step calibrate the {level:g}% interval"]


def _shrunk(table: Table, saved: Card) -> list[str]:
    rows = table.values.notna().sum()
    return [
        f"series {name!r} has {int(rows.get(name, 0))} rows, fewer than the {before} the saved model was trained on"
        for name, before in saved.training.series_rows.items()
        if rows.get(name, 0) < before
    ]


def _ended_earlier(table: Table, saved: Card) -> list[str]:
    """Series that end before the saved model's data did. Times of another kind of axis (integers for dates), or with a
    UTC offset where the model's had none or the other way round, are not compared: the forecast refuses the first."""
    earlier = []
    for name, end in table.ends.items():
        before = saved.ends.get(name)
        try:
            ended_earlier = (
                table.time_kind == saved.time.kind and before is not None and end is not None and end < before
            )
        except TypeError:
            ended_earlier = False
        if ended_earlier:
            earlier.append(
                f"series {name!r} ends at {time_label(end)}, before {time_label(before)}, where the saved model's data "
                "ended"
            )
    return earlier


def _fresh(max_age: datetime.timedelta, table: Table, now: datetime.datetime) -> str:
    if table.time_kind != "datetime":
        raise GuardFailed(f"{table.path}: max_age needs dates in the time column, and this input's rows are numbered")
    newest = table.values.index.max()
    reference = now if newest.tzinfo else now.replace(tzinfo=None)  # times without a zone are local, as {date} is
    age = reference - newest.to_pydatetime()
    if age > max_age:
        raise FeedLate(
            f"{table.path}: stale feed: the newest row, {time_label(newest)}, is {describe_age(age)} old, "
            f"older than max_age {format_duration(max_age)}"
        )
    return f"the newest row, {time_label(newest)}, is {describe_age(age)} old (max_age {format_duration(max_age)})"
