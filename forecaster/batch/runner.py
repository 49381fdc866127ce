"""`forecaster batch`: run the jobs of a TOML file unattended, as cron needs.

One run at a time (:mod:`forecaster.batch.lock`). Each job runs in its own
process forked from this one after torch and Lightning are imported, so the
import is paid once per run, not once per job, while a crash, the
out-of-memory killer or a job's time limit takes down that job only. A job
changes nothing until it has wholly worked (:mod:`forecaster.batch.staging`). The
summary, the metrics and the exit code say truthfully what happened: 0
only when every job worked.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime
import glob
import math
import multiprocessing
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import NoReturn

from forecaster.batch.balance import FORMAT_VERSION as PLAN_FORMAT
from forecaster.batch.balance import costs_of, deal, recorded_seconds
from forecaster.batch.job import clean_up, run_job
from forecaster.batch.jobs_file import KEYS, Decision, Job, decide, read_jobs
from forecaster.batch.lock import run_lock
from forecaster.batch.log import job_log, log, run_id_of, start_run
from forecaster.batch.retention import prune
from forecaster.batch.selection import MAX_SHARDS, Batch, Selection, select, selects
from forecaster.batch.staging import Staging
from forecaster.batch.summary import (
    JobResult,
    Outcome,
    Scope,
    check_push_url,
    finished_at,
    metrics_text,
    project_identity,
    push_metrics,
    read_summary,
    rewrite_summary,
    summary_document,
    write_metrics,
    write_summary,
)
from forecaster.batch.templates import SHARD_TAG_PATTERN
from forecaster.data import limits
from forecaster.errors import (
    BadInput,
    Busy,
    FeedLate,
    ForecasterError,
    Interrupted,
    RetryLater,
    WriteFailed,
    render,
)
from forecaster.model.directory import previous_model, restore, writing
from forecaster.nn.registry import Registry
from forecaster.options import format_duration
from forecaster.runtime import files
from forecaster.runtime.interrupts import raising_on_signals
from forecaster.runtime.processes import end_with
from forecaster.runtime.threads import one_thread

#: how long stopped jobs get to remove their temporary files before they are killed
STOP_GRACE_SECONDS = 10
#: what makes a run's HTML page: its summary's document and where that was written (None: nowhere) -> the page
Page = Callable[[dict, Path | None], str]


@dataclass(frozen=True)
class RunOptions(Selection):
    """What the command line adds to the jobs file, or replaces in it: its choice of jobs and files, and how to run."""

    workers: int = 1
    metrics_push: str | None = None  #: a Prometheus Pushgateway's URL
    run_id: str | None = None  #: --run-id: the run's id, which every shard of a night may share
    retry: bool = False  #: --retry: only the jobs the night's summaries leave to retry, and exit as the night stands


@dataclass
class _Running:
    job: Job
    result: JobResult
    process: multiprocessing.process.BaseProcess
    receiver: Connection
    started: float  #: time.monotonic()
    stopped_for: str | None = None  #: why it was stopped, once it was
    kill_at: float | None = None  #: when a stopped job that has not ended is killed

    def stop(self, why: str) -> None:
        """SIGTERM: the job removes its temporary files and ends; the previous outputs stay."""
        if self.stopped_for is None:
            self.stopped_for = why
            self.process.terminate()
            self.kill_at = time.monotonic() + STOP_GRACE_SECONDS

    @property
    def next_deadline(self) -> float | None:
        if self.stopped_for is not None:
            return self.kill_at
        return self.started + self.job.timeout.total_seconds() if self.job.timeout else None

    def enforce(self, now: float) -> None:
        """Stop the job past its timeout; kill it when it has not ended within the grace after that."""
        deadline = self.next_deadline
        if deadline is None or now < deadline:
            return
        if self.stopped_for is None:
            assert self.job.timeout is not None  # before a stop, only a timeout sets a deadline
            self.stop(f"its timeout of {format_duration(self.job.timeout)}")
        else:
            self.process.kill()
            self.kill_at = None


class _Late:
    """The jobs whose input is late (missing, or its newest row older than max_age), each looked for again until its
    wait_for_input, counted from the run's start, has passed."""

    def __init__(self, started: float) -> None:
        self.started = started  #: time.monotonic() at the run's start
        self.jobs: dict[str, tuple[float, Job]] = {}  #: by name: when to look again, and the job

    def waits(self, job: Job) -> bool:
        """Whether the run still waits for ``job``'s input: its wait_for_input has not passed."""
        return job.wait_for_input is not None and time.monotonic() < self._until(job)

    def waited(self, job: Job) -> str:
        """What a late job's error adds: how long its input was waited for."""
        return f"; waited for it {format_duration(job.wait_for_input)} (wait_for_input)" if job.wait_for_input else ""

    def look_again(self, job: Job, results: dict[str, JobResult], why: str | None) -> None:
        """Look for ``job``'s input again in a while (a twentieth of its wait, between 1 s and a minute)."""
        assert job.wait_for_input is not None  # only a job that waits
        wait = job.wait_for_input.total_seconds()
        look = min(time.monotonic() + min(60.0, max(1.0, wait / 20)), self._until(job))
        self.jobs[job.name] = (look, job)
        results[job.name] = JobResult(job.name, str(job.input), str(job.model), timeout=results[job.name].timeout)
        job_log(job.name).info("input late (%s): looking again in %.0fs", why, look - time.monotonic())

    def after(self, job: Job, results: dict[str, JobResult]) -> None:
        """``job``'s process has ended: its input found late (stale), it is looked at again while it is waited for."""
        result = results[job.name]
        if result.status != "late":
            return
        if self.waits(job):
            self.look_again(job, results, result.error)
        else:
            result.error = f"{result.error}{self.waited(job)}"

    def due(self, now: float) -> list[Job]:
        """The jobs to look at again now, no longer waiting."""
        due = [job for look, job in self.jobs.values() if look <= now]
        for job in due:
            del self.jobs[job.name]
        return due

    @property
    def next_look(self) -> float | None:
        return min((look for look, _ in self.jobs.values()), default=None)

    def give_up(self, results: dict[str, JobResult], why: str) -> None:
        """The run is ending: every job still waited for is late."""
        for _, job in self.jobs.values():
            _finish(results[job.name], "late", why)
        self.jobs.clear()

    def _until(self, job: Job) -> float:
        assert job.wait_for_input is not None  # only a job that waits
        return self.started + job.wait_for_input.total_seconds()


@dataclass(frozen=True)
class Rehearsal:
    """A dry run's plan, a line a job, and the error the run would end with (None: it would succeed)."""

    lines: list[str]
    problem: ForecasterError | None
    document: dict = field(default_factory=dict)  #: --dry-run --json's: the run's files, per job its paths and plan


def _shard_said(batch: Batch) -> str:
    """ " (shard 2/4)", with the scheduler's variables it came from, and whether it holds no job."""
    if not batch.shard:
        return ""
    source = f", from {batch.shard_source}" if batch.shard_source else ""
    empty = ": it holds no job, so there is nothing to run" if not batch.jobs else ""
    return f" (shard {batch.shard}{source}{empty})"


def _load(jobs_file: str | os.PathLike, options: RunOptions, now: datetime.datetime) -> Batch:
    return select(read_jobs(Path(jobs_file), now), options)


def dry_run(jobs_file: str | os.PathLike, options: RunOptions = RunOptions()) -> Rehearsal:
    """What a run would do, job by job, and how it would end, without training, writing or taking the lock.

    Each job is checked as far as it can be without training: its input read
    and guarded, its levels against the windows the data gives, and a reused
    model's forecast made (and thrown away).
    """
    now = datetime.datetime.now().astimezone()
    batch = _load(jobs_file, options, now)
    run_id_of(now, options.run_id)  # refused as the run would refuse it
    holder = files.lock_holder(batch.lock)
    shard = _shard_said(batch)
    held = f" (held: {holder})" if holder else ""
    lines = [
        f"{batch.path}: {len(batch.jobs)} jobs{shard}; lock {batch.lock}{held}; summary {batch.summary or '(none)'}"
    ]
    from forecaster.nn.registry import load_registry

    registry = load_registry()
    failing, retryable = [], []
    entries = []
    for job in batch.jobs:
        entry: dict[str, str | bool] = {
            "name": job.name,
            "input": str(job.input),
            "model": str(job.model),
            "output": str(job.output),
        }
        try:
            decision = decide(job, now)
            run_job(job, decision, JobResult(job.name, str(job.input), str(job.model)), registry, now, staging=None)
            plan = f"{'refit' if decision.refit else 'reuse'} {job.model} ({decision.reason})"
            entry |= {"plan": "refit" if decision.refit else "reuse", "reason": decision.reason}
        except Exception as exc:  # whatever one job's files hold, the others are checked
            plan = f"would fail: {_failure(exc)}"
            failing.append(job.name)
            retryable.append(getattr(exc, "retryable", False))
            entry |= {"plan": "fail", "reason": _failure(exc), "retryable": retryable[-1]}
        entries.append(entry)
        extras = [
            f"horizon {job.options.horizon}",
            *([f"levels {', '.join(f'{level:g}' for level in job.levels)}"] if job.levels else []),
            *([f"timeout {format_duration(job.timeout)}"] if job.timeout else []),
            *([f"a refit's backtest of {job.folds} folds -> {job.backtest}"] if job.backtest else []),
        ]
        lines.append(f"{job.name}: {job.input} -> {plan} -> {job.output} ({', '.join(extras)})")
    problem = (
        Busy(f"{batch.lock}: another batch run holds the lock ({holder}); a run now would not start")
        if holder
        else RetryLater(f"{_count(failing, batch.jobs)} would fail: {_names(failing)}; each may succeed later")
        if failing and all(retryable)
        else ForecasterError(f"{_count(failing, batch.jobs)} would fail: {_names(failing)}")
        if failing
        else None
    )
    document = {
        "jobs_file": str(batch.path),
        "shard": batch.shard,
        "shard_source": batch.shard_source,
        "lock": str(batch.lock),
        "lock_holder": holder or None,
        "summary": str(batch.summary) if batch.summary else None,
        "metrics": str(batch.metrics) if batch.metrics else None,
        "report": str(batch.report) if batch.report else None,
        "jobs": entries,
        "problem": str(problem) if problem else None,
    }
    return Rehearsal(lines, problem, document)


def run(jobs_file: str | os.PathLike, options: RunOptions = RunOptions(), page: Page | None = None) -> None:
    """Run every job; raise :class:`ForecasterError` (exit 1) after the summary when any failed. ``page`` makes the
    run's report from its summary, where the run has one to write (the command line's forecaster.report).

    Raises :class:`BadInput` for an invalid jobs file before anything is
    touched, :class:`Busy` when another run holds the lock, and
    :class:`Interrupted` after a clean stop on SIGINT or SIGTERM.
    """
    now = datetime.datetime.now().astimezone()
    started = time.monotonic()
    if options.metrics_push:
        check_push_url(options.metrics_push)
    batch = _load(jobs_file, options, now)
    run_id, run_id_from = run_id_of(now, options.run_id)
    # the night is the scheduler's run when it names one, else today
    batch, for_good = _left_to_retry(batch, run_id if run_id_from else None) if options.retry else (batch, [])
    start_run(run_id, batch.shard)
    results = {
        job.name: JobResult(
            job.name, str(job.input), str(job.model), timeout=job.timeout.total_seconds() if job.timeout else None
        )
        for job in batch.jobs
    }
    interruption, limit_reached = None, False
    with contextlib.ExitStack() as held:
        try:
            left_by_dead_run = held.enter_context(run_lock(batch.lock))
        except WriteFailed as exc:
            _lock_unwritable(batch, options, results, now, (run_id, run_id_from), exc)
        if left_by_dead_run:
            log.warning(
                "%s: taking over the lock from a run that ended without releasing it (%s)", batch.lock, left_by_dead_run
            )
        log.info(
            "%s: %d jobs%s, %d at a time%s; run %s%s",
            batch.path,
            len(batch.jobs),
            _shard_said(batch),
            options.workers,
            f", within {format_duration(batch.time_limit)}" if batch.time_limit else "",
            run_id,
            f" (from {run_id_from})" if run_id_from else "",
        )
        try:
            with raising_on_signals():  # inherited by the jobs' processes: they stop through their finally blocks too
                limit_reached = _run_jobs(batch, results, options.workers, now, started)
        except Interrupted as exc:
            interruption = exc
        failed = [result.name for result in results.values() if result.status != "ok"]
        retryable = [name for name in failed if results[name].retryable]
        # a --retry run answers for the night: 75 while a job may pass on another try, 1 once only failures for good
        # are left (tonight's too); a run, for its own jobs: 75 when every failure may pass on another try
        retry = bool(retryable) if options.retry else bool(failed) and retryable == failed
        outcome = Outcome(
            now,
            datetime.datetime.now().astimezone(),
            "interrupted" if interruption else "failed" if failed or for_good else "ok",
            interruption.exit_code
            if interruption
            else RetryLater.exit_code
            if retry
            else int(bool(failed or for_good)),
            limit_reached,
            run_id,
            run_id_from,
        )
        summary, unwritten = _write_records(batch, options, outcome, list(results.values()), page)
    where = f"; see {summary}" if summary else ""
    if interruption:
        raise Interrupted(
            interruption.signum,
            f"{interruption}: {len(batch.jobs) - len(failed)} of {len(batch.jobs)} jobs had succeeded; "
            f"the unfinished ones left their previous outputs as they were{where}",
        )
    earlier = f"failed for good earlier today, not run again: {_names(for_good)}" if for_good else ""
    if failed:
        limit = (
            f" (the run's time limit of {format_duration(batch.time_limit)} was reached)"
            if limit_reached and batch.time_limit
            else ""
        )
        failure = RetryLater if retry else ForecasterError
        again = "; each may succeed if the run is tried again" if retry and not options.retry else ""
        again = f"; {_names(retryable)} may succeed if tried again" if retry and options.retry else again
        also = f"; {earlier}" if earlier else ""
        raise failure(f"{_count(failed, batch.jobs)} failed{limit}: {_names(failed)}{again}{also}{where}")
    if for_good:
        raise ForecasterError(f"every job run succeeded; {earlier}{where}")
    if unwritten:  # whoever reads them to check the night's run would find none: a rerun reuses the models and may
        raise RetryLater(f"all {len(batch.jobs)} jobs succeeded, but {' and '.join(unwritten)} could not be written")
    log.info("all %d jobs succeeded%s", len(batch.jobs), where)


def _lock_unwritable(
    batch: Batch,
    options: RunOptions,
    results: dict[str, JobResult],
    now: datetime.datetime,
    run_id: tuple[str, str | None],
    exc: WriteFailed,
) -> NoReturn:
    """The run's lock file cannot be written (a full or read-only disk): no job runs; the summary and the metrics say
    so where they can be written, and the run exits 75, as the disk may be freed before a retry."""
    why = f"the run's lock could not be taken ({exc})"
    for result in results.values():
        result.status, result.error, result.retryable = "not started", why, True
    outcome = Outcome(
        now,
        datetime.datetime.now().astimezone(),
        "failed",
        RetryLater.exit_code,
        run_id=run_id[0],
        run_id_from=run_id[1],
    )
    summary, _ = _write_records(batch, options, outcome, list(results.values()))
    raise RetryLater(f"{exc}; no job ran" + (f"; see {summary}" if summary else ""))


def roll_back_jobs(
    jobs_file: str | os.PathLike, names: tuple[str, ...], options: RunOptions = RunOptions(), dry_run: bool = False
) -> list[str]:
    """Put back, for each job named (or each of a glob job's), the model its last refit replaced; under the run's
    lock. ``dry_run``: check each swap and say it, change nothing, take no lock. Returns what was (or would be)
    done, a line a job."""
    batch = _load(jobs_file, options, datetime.datetime.now().astimezone())

    chosen = [job for job in batch.jobs if any(selects(name, job) for name in names)]
    unknown = [name for name in names if not any(selects(name, job) for job in batch.jobs)]
    if unknown:
        raise BadInput(
            f"{batch.path}: no job {unknown[0]!r}{' in this shard' if batch.shard else ''}; "
            f"its jobs are {', '.join(job.name for job in batch.jobs)}"
        )
    if dry_run:
        planned = []
        for job in chosen:
            with limits.applied(job.limits):
                created = restore(job.model, rehearse=True).created.isoformat()
            planned.append(
                f"{job.name}: would put back {previous_model(job.model)} (created {created}) as {job.model}, and keep "
                f"the model now there as {previous_model(job.model)}"
            )
        return planned
    done = []
    with run_lock(batch.lock):
        for job in chosen:
            with limits.applied(job.limits):
                created = restore(job.model).created.isoformat()
            done.append(
                f"rolled back: {job.model} is again the model created {created}, and the one it replaced is "
                f'{previous_model(job.model)}; set refit = "never" on the job to keep it until the input is fixed'
            )
            job_log(job.name).info("%s", done[-1])
    return done


def _run_jobs(
    batch: Batch, results: dict[str, JobResult], workers: int, now: datetime.datetime, started: float
) -> bool:
    """Decide, then run up to ``workers`` jobs at a time, each in a process of its own, and look again for late inputs
    a job waits for; True if the time limit stopped any."""
    queue: collections.deque[tuple[Job, Decision]] = collections.deque()
    late = _Late(started)
    for job in batch.jobs:
        _decide(job, results, now, queue, late)
    if not queue and not late.jobs:
        return False
    registry = preload(any(decision.refit for _, decision in queue) or bool(late.jobs))
    context = multiprocessing.get_context("fork")  # the children inherit the imports: no 6 s of Lightning per job
    end = started + batch.time_limit.total_seconds() if batch.time_limit else math.inf
    running: dict[int, _Running] = {}
    limit_reached = False
    try:
        while queue or running or late.jobs:
            if not limit_reached and batch.time_limit and time.monotonic() >= end:
                limit_reached = True
                why = f"the run's time limit of {format_duration(batch.time_limit)}"
                for entry in running.values():
                    entry.stop(why)
                for job, _ in queue:
                    _finish(results[job.name], "not started", f"{why} was reached before it started")
                queue.clear()
                late.give_up(results, f"{why} was reached while its input was waited for")
            for job in late.due(time.monotonic()):
                _decide(job, results, now, queue, late)
            while queue and len(running) < workers:
                job, decision = queue.popleft()
                running_job = _start(context, job, decision, results[job.name], registry, now)
                running[running_job.process.sentinel] = running_job
            deadlines = [
                deadline
                for deadline in (end, late.next_look, *(entry.next_deadline for entry in running.values()))
                if deadline is not None and deadline < math.inf
            ]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            for sentinel in wait(list(running), timeout):
                assert isinstance(sentinel, int)  # wait returns the sentinels it was given
                entry = running.pop(sentinel)
                _collect(entry, results)
                late.after(entry.job, results)
            for entry in running.values():
                entry.enforce(time.monotonic())
    except Interrupted:
        _stop(list(running.values()), results)
        raise
    return limit_reached


def _decide(
    job: Job,
    results: dict[str, JobResult],
    now: datetime.datetime,
    queue: collections.deque[tuple[Job, Decision]],
    late: _Late,
) -> None:
    """Queue ``job`` with its decision; a late input is waited for while the job's wait_for_input lasts."""
    try:
        decision = decide(job, now)
    except FeedLate as exc:
        if late.waits(job):
            late.look_again(job, results, _failure(exc))
        else:
            _finish(results[job.name], "late", _failure(exc) + late.waited(job))
        return
    except Exception as exc:  # whatever one job's files hold, the other jobs run
        _finish(results[job.name], "failed", _failure(exc), retryable=getattr(exc, "retryable", False))
        return
    results[job.name].refitted, results[job.name].reason = decision.refit, decision.reason
    queue.append((job, decision))


def _start(
    context: multiprocessing.context.ForkContext,
    job: Job,
    decision: Decision,
    result: JobResult,
    registry: Registry,
    now: datetime.datetime,
) -> _Running:
    """Start ``job`` in a process of its own."""
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(job, decision, result, registry, sender, os.getpid(), now))
    process.start()
    sender.close()
    plan = "refit" if decision.refit else "reuse"
    job_log(job.name).info("started in process %d (%s %s: %s)", process.pid, plan, job.model, decision.reason)
    return _Running(job, result, process, receiver, time.monotonic())


def preload(fitting: bool) -> Registry:
    """Import what the jobs need once, here, before forking; load the plugins once.

    Import only: this process must never compute with torch, since a process
    forked after torch's thread pool has started can hang in it (GNU OpenMP
    is not fork-safe).
    """
    import torch  # noqa: F401  every job forecasts (forecaster.model.forecast imports torch only when called)

    import forecaster.model.forecast
    import forecaster.nn.network
    from forecaster.nn.registry import load_registry

    if fitting:
        import sklearn.preprocessing  # noqa: F401  forecaster.model.scaling imports it when it fits: 0.4 s a job

        import forecaster.training.trainer  # noqa: F401  Lightning, the slow one

    registry = load_registry()
    for problem in registry.problems:
        log.warning("%s", problem)
    return registry


def _collect(entry: _Running, results: dict[str, JobResult], interrupted: bool = False) -> None:
    """Record what the job's process sent back; a job that was stopped, unless it had just succeeded, was stopped.

    A stopped job's own report, if any, is a consequence of the stop (a
    signal landing inside code that turns any exception into its own error).
    Without a word from its process, a job that was not stopped crashed.
    """
    entry.process.join()
    code = entry.process.exitcode
    assert code is not None  # joined
    try:
        reported = entry.receiver.recv() if entry.receiver.poll() else None
    except EOFError:  # the process ended without a word: poll() also says yes to a closed pipe
        reported = None
    entry.receiver.close()
    entry.process.close()
    if reported is not None and (reported.status == "ok" or not (interrupted or entry.stopped_for)):
        _record(reported, results)
        return
    result = reported or entry.result
    if interrupted:
        _finish(
            result,
            "interrupted",
            "stopped before it finished; its previous outputs are as they were",
            time.monotonic() - entry.started,
        )
    elif entry.stopped_for:
        _finish(
            result,
            "timed out",
            f"stopped after {entry.stopped_for}; its previous outputs are as they were",
            time.monotonic() - entry.started,
        )
    else:
        how = (
            f"was killed by {signal.Signals(-code).name}"
            if code < 0
            else f"was stopped by {signal.Signals(code - 128).name}"
            if code - 128 in (signal.SIGINT.value, signal.SIGTERM.value)
            else f"exited with code {code}"
        )
        _finish(result, "crashed", f"its process {how} before the job finished", time.monotonic() - entry.started)
    results[entry.job.name] = result


def _record(reported: JobResult, results: dict[str, JobResult]) -> None:
    """Keep and log the result a job's process sent."""
    results[reported.name] = reported
    logger = job_log(reported.name)
    for check in reported.checks:
        logger.info("check: %s", check)
    if reported.status == "ok":
        logger.info(
            "ok in %.1fs: %d rows in, %s%s written",
            reported.seconds,
            reported.input_rows,
            _training_text(reported),
            reported.output,
        )
        if reported.previous_model:
            logger.info("the model it replaced is kept as %s", reported.previous_model)
        if reported.removed:
            logger.info("deleted %d older forecasts: %s", len(reported.removed), ", ".join(reported.removed))
    else:
        logger.error("%s: %s", reported.status, reported.error)
    for note in reported.notes:
        logger.info("note: %s", note)


def _training_text(result: JobResult) -> str:
    """ "refitted: validation MAE 1.2 (naive 1.5), 37 epochs; " when the figures are numbers."""
    figures = result.training or {}
    if not all(isinstance(figures.get(key), (int, float)) for key in ("mae", "naive_mae", "epochs_run")):
        return ""
    return (
        f"{'refitted' if result.refitted else 'reused'} model: {figures['metrics_on']} MAE {figures['mae']:.4g} "
        f"(naive {figures['naive_mae']:.4g}), {figures['epochs_run']} epochs; "
    )


def _stop(running: list[_Running], results: dict[str, JobResult]) -> None:
    """SIGTERM the running jobs and wait: each removes its temporary files, the previous outputs stay."""
    for entry in running:
        entry.process.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for entry in running:
        entry.process.join(max(0.0, deadline - time.monotonic()))
        if entry.process.exitcode is None:
            entry.process.kill()
        _collect(entry, results, interrupted=True)  # a job that ended just before the stop keeps its result


def _finish(result: JobResult, status: str, error: str, seconds: float = 0.0, retryable: bool = True) -> None:
    """``result`` ended as ``status``: a job stopped, crashed or not started may succeed on another run, unless
    ``retryable`` says otherwise (a failure of its own)."""
    result.status, result.error, result.seconds, result.retryable = status, error, round(seconds, 3), retryable
    job_log(result.name).error("%s: %s", status, error)


def _failure(exc: Exception) -> str:
    """A job's error in the jobs file's terms; anything else is a bug, or a plugin's, named as one."""
    return (
        render(str(exc), "jobs", KEYS)
        if isinstance(exc, ForecasterError)
        else f"internal error: {type(exc).__name__}: {exc}"
    )


def status(jobs_file: str | os.PathLike, options: RunOptions = RunOptions()) -> Rehearsal:
    """One status for the night's runs of the jobs file, however they were split (shards, --job runs, reruns) and
    wherever they ran (hosts sharing the summaries' folder, or whose summaries were copied into its folders): a
    table of each job as the summary that finished last records it, the jobs left to retry (failures that may
    pass on a rerun, and jobs not run) and those to fix. The night is the run id a scheduler gives (as --retry's:
    :func:`_night_summaries`), else today. Raises nothing; the plan's problem is the exit it stands for: 0, 75 when
    every job not ok may pass on a rerun, else 1."""
    now = datetime.datetime.now().astimezone()
    batch = _load(jobs_file, RunOptions(summary=options.summary), now)
    if batch.summary is None:
        raise BadInput(
            f"{batch.path}: --status reads the runs' summaries: set 'summary' in the jobs file, or --summary"
        )
    run_id, run_id_from = run_id_of(now, options.run_id)
    night = run_id if run_id_from else None
    folder = batch.summary.parent
    found, newest = _newest_records(batch, night)
    hosts = sorted({str(summary["host"]) for _, summary in found if summary.get("host")})
    rows = [["job", "status", "shard", "host", "run", "summary"]]
    failed: list[str] = []
    retry: list[str] = []
    fix: list[str] = []
    when = f"in the night {night}" if night else "today"
    for job in batch.jobs:
        entry = newest.get(job.name, {"status": "not run", "error": f"not run {when}", "retryable": True})
        rows.append(
            [job.name, *(str(entry.get(key) or "-") for key in ("status", "shard", "host", "run_id", "summary"))]
        )
        if entry.get("error"):
            rows[-1].append(entry["error"])
        if entry["status"] != "ok":
            failed.append(job.name)
            (retry if entry.get("retryable") else fix).append(job.name)
    lines = [
        f"{batch.path}: {len(batch.jobs)} jobs, {len(found)} summaries of "
        + (f"the night {night}" if night else "today's runs")
        + f" in {folder}"
        + (f" from {', '.join(hosts)}" if hosts else ""),
        *_table(rows),
        *([f"to retry (each may pass on a rerun): {', '.join(retry)}"] if retry else []),
        *([f"to fix (a rerun would fail again): {', '.join(fix)}"] if fix else []),
    ]
    problem = None
    if failed:
        failure = ForecasterError if fix else RetryLater
        problem = failure(f"{_count(failed, batch.jobs)} not ok {when}: {_names(failed)}")
    return Rehearsal(lines, problem)


def _newest_records(batch: Batch, run_id: str | None) -> tuple[list[tuple[Path, dict]], dict[str, dict]]:
    """The night's summaries (:func:`_night_summaries`) and each job's record in the one that finished last, with
    where it came from: the summary's path in the folder of ``batch``'s summary, its shard, host and run id."""
    summary = batch.summary
    assert summary is not None  # checked by the callers, in their words
    found = _night_summaries(summary, batch.summary_day_before, batch.suffix, run_id)
    newest: dict[str, dict] = {}
    for path, document in found:  # in the order they finished: a later summary's record of a job replaces the earlier
        run = {
            "summary": os.path.relpath(path, summary.parent),  # the day before's may lie in a folder beside
            **{key: document.get(key) for key in ("shard", "host", "run_id")},
        }
        newest |= {entry["name"]: {**entry, **run} for entry in document["jobs"]}
    return found, newest


def _left_to_retry(batch: Batch, run_id: str | None) -> tuple[Batch, list[str]]:
    """``batch`` with only the jobs that the night's summaries (:func:`_night_summaries`: of the run ``run_id`` a
    scheduler gave, if any, else today's) leave to retry (a failure that may pass on another try, or no record yet),
    and the jobs they record as failed for good, which are not run again until they are run by name (``--job``) or
    without ``--retry``."""
    if batch.summary is None:
        raise BadInput(f"{batch.path}: --retry reads today's summaries: set 'summary' in the jobs file, or --summary")
    _, newest = _newest_records(batch, run_id)
    done = {name for name, entry in newest.items() if entry["status"] == "ok"}
    for_good = [
        job.name
        for job in batch.jobs
        if job.name in newest and job.name not in done and not newest[job.name].get("retryable")
    ]
    left = [job for job in batch.jobs if job.name not in done and job.name not in for_good]
    if len(left) < len(batch.jobs):
        log.info(
            "--retry: %d of %d jobs left to retry; %d ok today%s",
            len(left),
            len(batch.jobs),
            len(done & {job.name for job in batch.jobs}),
            f", {len(for_good)} failed for good ({_names(for_good)})" if for_good else "",
        )
    return dataclasses.replace(batch, jobs=left, selected=batch.selected or len(left) < len(batch.jobs)), for_good


def _table(rows: list[list[str]]) -> list[str]:
    """Rows as lines of columns aligned by their widest cell; a row's cell past the header's (an error) as it is."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), *row[len(widths) :]]
        ).rstrip()
        for row in rows
    ]


def _night_summaries(
    summary: Path, day_before: Path | None, suffix: str, run_id: str | None
) -> list[tuple[Path, dict]]:
    """The summaries of the runs given ``summary``'s path today (:func:`_summaries`), or with ``run_id`` those of that
    run, by today's path and the day before's (``day_before``, when the path holds a date): a night that began
    before midnight wrote its first summaries under the day before's date."""
    if run_id is None:
        return _summaries(summary, suffix=suffix)
    days = [day_before] if day_before is not None else []
    return [
        (path, document)
        for path, document in _summaries(*days, summary, suffix=suffix)
        if document.get("run_id") == run_id
    ]


def _summaries(*summaries: Path, suffix: str) -> list[tuple[Path, dict]]:
    """Every summary of the runs given each of ``summaries``' paths, in its folder and the folders in it (one a host,
    where copies are gathered), in the order they finished: the run's own path, a shard's, a rerun's (numbered)."""
    paths = {path for summary in summaries for path in _summary_files(summary, suffix)}
    read = [(path, read_summary(path)) for path in paths]
    # the times summaries record are to the second: within one, the files' own order
    return sorted(read, key=lambda found: (finished_at(*found), found[0].stat().st_mtime_ns, str(found[0])))


def _summary_files(summary: Path, suffix: str) -> list[Path]:
    """The summaries of the runs given ``summary``'s path: its own, a shard's and a rerun's, beside it or in a folder
    beside it."""
    stem = summary.name[: len(summary.name) - len(suffix)] if suffix else summary.name
    pattern = re.compile(re.escape(stem) + rf"(\.{SHARD_TAG_PATTERN})?(\.\d+)?" + re.escape(suffix))
    return [
        path
        for found in (summary.parent.glob(f"{glob.escape(stem)}*"), summary.parent.glob(f"*/{glob.escape(stem)}*"))
        for path in found
        if pattern.fullmatch(path.name) and path.is_file()
    ]


def plan_shards(jobs_file: str | os.PathLike, shares: int, options: RunOptions = RunOptions()) -> dict:
    """A plan of ``shares`` shards of even cost (:mod:`forecaster.batch.balance`), from today's summaries: each job's
    shard, what each cost, and each shard's total. Refused without a summary of today's runs to plan from."""
    if not 1 <= shares <= MAX_SHARDS:
        raise BadInput(f"--plan-shards must be between 1 and {MAX_SHARDS:,}, not {shares}")
    batch = _load(jobs_file, RunOptions(summary=options.summary), datetime.datetime.now().astimezone())
    if batch.summary is None:
        raise BadInput(f"{batch.path}: --plan-shards reads today's summaries: set 'summary' in the jobs file")
    summaries = _summaries(batch.summary, suffix=batch.suffix)
    if not summaries:
        raise BadInput(
            f"{batch.path}: no summary of today's runs ({batch.summary}, a shard's or a rerun's) to plan from; "
            "plan after a run, or give --summary the path of the night's"
        )
    costs = costs_of([job.name for job in batch.jobs], recorded_seconds(summary for _, summary in summaries))
    shard_of = deal(costs, shares)
    return {
        "format_version": PLAN_FORMAT,
        "jobs_file": str(batch.path),
        "shards": shares,
        "summaries": [str(path) for path, _ in summaries],
        "seconds": [
            round(sum(cost for name, cost in costs.items() if shard_of[name] == k), 1) for k in range(1, shares + 1)
        ],
        "jobs": shard_of,
    }


def _count(names: list[str], jobs: list[Job]) -> str:
    return f"{len(names)} of {len(jobs)} jobs"


def _names(names: list[str]) -> str:
    return ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")


def _child(
    job: Job,
    decision: Decision,
    result: JobResult,
    registry: Registry,
    report: Connection,
    parent: int,
    now: datetime.datetime,
) -> None:
    """A job's own process: do the job, send back its result; a signal ends it without one."""
    end_with(parent)  # no orphan job writes on
    started = time.monotonic()
    try:
        # no other run (the whole batch, a shard, a --job run) on this job meanwhile: one that is waits for it to end,
        # and reuses the model it fitted for the same input: a night fits each job once, whatever runs meet
        with writing(job.model, wait=True):
            decision = decided_again(job, decision, result, now)
            with one_thread(), Staging() as staging:  # small models, and the workers share the cores
                run_job(job, decision, result, registry, now, staging)
            clean_up(job, result, now)
        result.status = "ok"
    except (Interrupted, KeyboardInterrupt) as exc:
        # objects the signal left half-built (a Trainer's profiler) may fail in their destructors on the way out: the
        # parent says what happened, in one line, and their "Exception ignored" traces would only blur it
        sys.unraisablehook = lambda _: None
        sys.exit(getattr(exc, "exit_code", 130))  # the parent records it; temporary files were removed on the way out
    except Exception as exc:  # a bug or a plugin's: the job failed, the run goes on
        result.status, result.error = "late" if isinstance(exc, FeedLate) else "failed", _failure(exc)
        result.retryable = getattr(exc, "retryable", False)
    result.seconds = round(time.monotonic() - started, 3)
    report.send(result)


def decided_again(job: Job, decision: Decision, result: JobResult, now: datetime.datetime) -> Decision:
    """A refit decided at the run's start, decided again once the job's model is ours: another run (a shard, a
    --job run, a run started beside this one) may have refitted it meanwhile on the same input, and refitting it a
    second time would make that model, tonight's, the one kept as ``.previous``."""
    if not decision.refit or job.refit.policy == "always":
        return decision
    if decide(job, now).refit:
        return decision
    reused = Decision(False, f"refitted meanwhile by another run on this input ({decision.reason} at the run's start)")
    result.refitted, result.reason = reused.refit, reused.reason
    job_log(job.name).info("reuse %s: %s", job.model, reused.reason)
    return reused


def _write_records(
    batch: Batch, options: RunOptions, outcome: Outcome, results: list[JobResult], page: Page | None = None
) -> tuple[Path | None, list[str]]:
    """Write the summary (never over an earlier one) and the metrics, and push them; returns where the summary went
    and what could not be written."""
    written, unwritten = None, []
    scope = Scope(project_identity(batch.project, batch.path), batch.shard, batch.names, socket.gethostname())

    def document(removed: list[str] | None = None) -> dict:
        return summary_document(batch.path, scope, options.workers, batch.time_limit, outcome, results, removed)

    if batch.summary:
        try:
            written = write_summary(batch.summary, batch.suffix, document())
            log.info("summary written to %s", written)
        except ForecasterError as exc:
            log.error("%s", exc)
            unwritten.append(f"the summary {batch.summary}")
    metrics = None
    if batch.metrics and options.metrics:  # set together
        try:
            metrics, removed = write_metrics(
                batch.metrics, Path(options.metrics).absolute(), outcome, results, scope, batch.selected
            )
        except ForecasterError as exc:
            log.error("%s", exc)
            unwritten.append(f"the metrics {batch.metrics}")
        else:
            for path in removed:
                log.info("removed %s: the metrics of another shard count, which no run renews", path)
    if options.metrics_push:
        try:  # the file's text when there is one: it carries the success times of the jobs that failed tonight
            push_metrics(
                options.metrics_push, metrics or metrics_text(outcome, results, scope, some=batch.selected), scope
            )
            log.info("metrics pushed to %s", options.metrics_push)
        except ForecasterError as exc:
            log.error("%s", exc)
            unwritten.append(f"the metrics to {options.metrics_push}")
    if written and batch.keep and batch.summaries:  # set together
        try:
            removed = prune(batch.keep, batch.summaries, outcome.started, written)
        except OSError as exc:
            log.warning("could not delete an older summary (%s)", exc)
        else:
            if removed:
                log.info("deleted %d older summaries: %s", len(removed), ", ".join(map(str, removed)))
                try:  # the summary lists them, as a job's lists the forecasts its keep deleted
                    rewrite_summary(written, document([str(path) for path in removed]))
                except ForecasterError as exc:
                    log.warning("the summary does not list the summaries deleted (%s)", exc)
    if batch.report and page is not None:
        try:
            files.write_atomic(batch.report, page(document(), written), "the report", make_parent=True)
            log.info("report written to %s", batch.report)
        except Exception as exc:  # the night's page, a bug in it too, is no reason to lose the run's exit code
            log.error("%s: the report could not be made: %s", batch.report, _failure(exc))
            unwritten.append(f"the report {batch.report}")
    return written, unwritten
