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
import datetime
import glob
import math
import multiprocessing
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path

from forecaster.batch.balance import FORMAT_VERSION as PLAN_FORMAT
from forecaster.batch.balance import costs_of, deal, recorded_seconds
from forecaster.batch.job import clean_up, run_job
from forecaster.batch.jobs_file import KEYS, MAX_SHARDS, Batch, Decision, Job, decide, load_jobs, selects
from forecaster.batch.lock import run_lock
from forecaster.batch.log import job_log, log, start_run
from forecaster.batch.retention import prune
from forecaster.batch.staging import Staging
from forecaster.batch.summary import (
    JobResult,
    Outcome,
    check_push_url,
    metrics_text,
    push_metrics,
    read_summary,
    rewrite_summary,
    summary_document,
    write_metrics,
    write_summary,
)
from forecaster.batch.templates import SHARD_TAG_PATTERN
from forecaster.data import limits
from forecaster.errors import BadInput, Busy, ForecasterError, Interrupted, RetryLater, render
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
class RunOptions:
    """What the command line adds to the jobs file, or replaces in it."""

    workers: int = 1
    summary: str | None = None  #: relative to the working directory
    metrics: str | None = None
    metrics_push: str | None = None  #: a Prometheus Pushgateway's URL
    report: str | None = None  #: the run's HTML page; relative to the working directory
    shard: str | None = None  #: "K/N"
    shard_plan: str | None = None  #: a plan --plan-shards wrote: each job's shard
    time_limit: str | None = None  #: a duration: "2h"
    jobs: tuple[str, ...] = ()  #: --job: only the jobs these names or globs select


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
    return load_jobs(
        Path(jobs_file),
        now,
        options.summary,
        metrics=options.metrics,
        report=options.report,
        shard=options.shard,
        time_limit=options.time_limit,
        only=options.jobs,
        plan=Path(options.shard_plan) if options.shard_plan else None,
    )


def dry_run(jobs_file: str | os.PathLike, options: RunOptions = RunOptions()) -> Rehearsal:
    """What a run would do, job by job, and how it would end, without training, writing or taking the lock.

    Each job is checked as far as it can be without training: its input read
    and guarded, its levels against the windows the data gives, and a reused
    model's forecast made (and thrown away).
    """
    now = datetime.datetime.now().astimezone()
    batch = _load(jobs_file, options, now)
    holder = files.lock_holder(batch.lock)
    shard = _shard_said(batch)
    held = f" (held: {holder})" if holder else ""
    lines = [
        f"{batch.path}: {len(batch.jobs)} jobs{shard}; lock {batch.lock}{held}; summary {batch.summary or '(none)'}"
    ]
    from forecaster.nn.registry import load_registry

    registry = load_registry()
    failing = []
    entries = []
    for job in batch.jobs:
        entry = {"name": job.name, "input": str(job.input), "model": str(job.model), "output": str(job.output)}
        try:
            decision = decide(job, now)
            run_job(job, decision, JobResult(job.name, str(job.input), str(job.model)), registry, now, staging=None)
            plan = f"{'refit' if decision.refit else 'reuse'} {job.model} ({decision.reason})"
            entry |= {"plan": "refit" if decision.refit else "reuse", "reason": decision.reason}
        except Exception as exc:  # whatever one job's files hold, the others are checked
            plan = f"would fail: {_failure(exc)}"
            failing.append(job.name)
            entry |= {"plan": "fail", "reason": _failure(exc)}
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
    run_id = start_run(now)
    results = {
        job.name: JobResult(
            job.name, str(job.input), str(job.model), timeout=job.timeout.total_seconds() if job.timeout else None
        )
        for job in batch.jobs
    }
    interruption, limit_reached = None, False
    with run_lock(batch.lock) as left_by_dead_run:
        if left_by_dead_run:
            log.warning(
                "%s: taking over the lock from a run that ended without releasing it (%s)", batch.lock, left_by_dead_run
            )
        log.info(
            "%s: %d jobs%s, %d at a time%s; run %s",
            batch.path,
            len(batch.jobs),
            _shard_said(batch),
            options.workers,
            f", within {format_duration(batch.time_limit)}" if batch.time_limit else "",
            run_id,
        )
        try:
            with raising_on_signals():  # inherited by the jobs' processes: they stop through their finally blocks too
                limit_reached = _run_jobs(batch, results, options.workers, now, started)
        except Interrupted as exc:
            interruption = exc
        failed = [result.name for result in results.values() if result.status != "ok"]
        retry = bool(failed) and all(results[name].retryable for name in failed)
        outcome = Outcome(
            now,
            datetime.datetime.now().astimezone(),
            "interrupted" if interruption else "failed" if failed else "ok",
            interruption.exit_code if interruption else RetryLater.exit_code if retry else int(bool(failed)),
            limit_reached,
            run_id,
        )
        summary, unwritten = _write_records(batch, options, outcome, list(results.values()), page)
    where = f"; see {summary}" if summary else ""
    if interruption:
        raise Interrupted(
            interruption.signum,
            f"{interruption}: {len(batch.jobs) - len(failed)} of {len(batch.jobs)} jobs had succeeded; "
            f"the unfinished ones left their previous outputs as they were{where}",
        )
    if failed:
        limit = (
            f" (the run's time limit of {format_duration(batch.time_limit)} was reached)"
            if limit_reached and batch.time_limit
            else ""
        )
        failure = RetryLater if retry else ForecasterError
        again = "; each may succeed if the run is tried again" if retry else ""
        raise failure(f"{_count(failed, batch.jobs)} failed{limit}: {_names(failed)}{again}{where}")
    if unwritten:  # whoever reads them to check the night's run would find none: that is a failure
        raise ForecasterError(
            f"all {len(batch.jobs)} jobs succeeded, but {' and '.join(unwritten)} could not be written"
        )
    log.info("all %d jobs succeeded%s", len(batch.jobs), where)


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
    """Decide, then run up to ``workers`` jobs at a time, each in a process of its own; True if the time limit stopped
    any."""
    queue: collections.deque[tuple[Job, Decision]] = collections.deque()
    for job in batch.jobs:
        try:
            decision = decide(job, now)
        except Exception as exc:  # whatever one job's files hold, the other jobs run
            _finish(results[job.name], "failed", _failure(exc), retryable=getattr(exc, "retryable", False))
            continue
        results[job.name].refitted, results[job.name].reason = decision.refit, decision.reason
        queue.append((job, decision))
    if not queue:
        return False
    registry = preload(any(decision.refit for _, decision in queue))
    context = multiprocessing.get_context("fork")  # the children inherit the imports: no 6 s of Lightning per job
    end = started + batch.time_limit.total_seconds() if batch.time_limit else math.inf
    running: dict[int, _Running] = {}
    limit_reached = False
    try:
        while queue or running:
            if not limit_reached and batch.time_limit and time.monotonic() >= end:
                limit_reached = True
                why = f"the run's time limit of {format_duration(batch.time_limit)}"
                for entry in running.values():
                    entry.stop(why)
                for job, _ in queue:
                    _finish(results[job.name], "not started", f"{why} was reached before it started")
                queue.clear()
            while queue and len(running) < workers:
                job, decision = queue.popleft()
                receiver, sender = context.Pipe(duplex=False)
                process = context.Process(
                    target=_child, args=(job, decision, results[job.name], registry, sender, os.getpid(), now)
                )
                process.start()
                sender.close()
                job_log(job.name).info(
                    "started in process %d (%s %s: %s)",
                    process.pid,
                    "refit" if decision.refit else "reuse",
                    job.model,
                    decision.reason,
                )
                running[process.sentinel] = _Running(job, results[job.name], process, receiver, time.monotonic())
            deadlines = [
                deadline
                for deadline in (end, *(entry.next_deadline for entry in running.values()))
                if deadline is not None and deadline < math.inf
            ]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            for sentinel in wait(list(running), timeout):
                assert isinstance(sentinel, int)  # wait returns the sentinels it was given
                _collect(running.pop(sentinel), results)
            for entry in running.values():
                entry.enforce(time.monotonic())
    except Interrupted:
        _stop(list(running.values()), results)
        raise
    return limit_reached


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
    """One status for today's runs of the jobs file, however they were split (shards, --job runs, reruns): each job
    as the newest summary that ran it records it. Raises nothing; the plan's problem is the exit it stands for."""
    now = datetime.datetime.now().astimezone()
    batch = _load(jobs_file, RunOptions(summary=options.summary), now)
    if batch.summary is None:
        raise BadInput(
            f"{batch.path}: --status reads the runs' summaries: set 'summary' in the jobs file, or --summary"
        )
    found = _todays_summaries(batch.summary, batch.suffix)
    newest: dict[str, dict] = {}
    for path in found:  # oldest first: a later summary's record of a job replaces an earlier one's
        newest |= {entry["name"]: {**entry, "summary": str(path)} for entry in read_summary(path)}
    lines = [f"{batch.path}: {len(batch.jobs)} jobs, {len(found)} summaries of today's runs in {batch.summary.parent}"]
    failed, retryable = [], True
    for job in batch.jobs:
        entry = newest.get(job.name)
        if entry is None:
            lines.append(f"{job.name}: not run today")
            failed.append(job.name)
            continue
        lines.append(
            f"{job.name}: {entry['status']} ({entry['summary']})"
            + (f": {entry['error']}" if entry.get("error") else "")
        )
        if entry["status"] != "ok":
            failed.append(job.name)
            retryable = retryable and bool(entry.get("retryable"))
    problem = None
    if failed:
        failure = RetryLater if retryable else ForecasterError
        problem = failure(f"{_count(failed, batch.jobs)} not ok today: {_names(failed)}")
    return Rehearsal(lines, problem)


def _todays_summaries(summary: Path, suffix: str) -> list[Path]:
    """Every summary of today's runs, oldest first: the run's own path, a shard's, a rerun's (numbered)."""
    stem = summary.name[: len(summary.name) - len(suffix)] if suffix else summary.name
    pattern = re.compile(re.escape(stem) + rf"(\.{SHARD_TAG_PATTERN})?(\.\d+)?" + re.escape(suffix))
    return sorted(
        (path for path in summary.parent.glob(f"{glob.escape(stem)}*") if pattern.fullmatch(path.name)),
        key=lambda path: path.stat().st_mtime_ns,
    )


def plan_shards(jobs_file: str | os.PathLike, shares: int, options: RunOptions = RunOptions()) -> dict:
    """A plan of ``shares`` shards of even cost (:mod:`forecaster.batch.balance`), from today's summaries: each job's
    shard, what each cost, and each shard's total. Refused without a summary of today's runs to plan from."""
    if not 1 <= shares <= MAX_SHARDS:
        raise BadInput(f"--plan-shards must be between 1 and {MAX_SHARDS:,}, not {shares}")
    batch = _load(jobs_file, RunOptions(summary=options.summary), datetime.datetime.now().astimezone())
    if batch.summary is None:
        raise BadInput(f"{batch.path}: --plan-shards reads today's summaries: set 'summary' in the jobs file")
    summaries = _todays_summaries(batch.summary, batch.suffix)
    if not summaries:
        raise BadInput(
            f"{batch.path}: no summary of today's runs ({batch.summary}, a shard's or a rerun's) to plan from; "
            "plan after a run, or give --summary the path of the night's"
        )
    costs = costs_of([job.name for job in batch.jobs], recorded_seconds(summaries))
    shard_of = deal(costs, shares)
    return {
        "format_version": PLAN_FORMAT,
        "jobs_file": str(batch.path),
        "shards": shares,
        "summaries": [str(path) for path in summaries],
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
        with writing(job.model):  # no other run (the whole batch, a shard, a --job run) on this job meanwhile
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
        result.status, result.error = "failed", _failure(exc)
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

    def document(removed: list[str] | None = None) -> dict:
        return summary_document(batch.path, batch.shard, options.workers, batch.time_limit, outcome, results, removed)

    if batch.summary:
        try:
            written = write_summary(batch.summary, batch.suffix, document())
            log.info("summary written to %s", written)
        except ForecasterError as exc:
            log.error("%s", exc)
            unwritten.append(f"the summary {batch.summary}")
    metrics = None
    if batch.metrics:
        try:
            metrics = write_metrics(batch.metrics, outcome, results, batch.shard, batch.selected)
        except ForecasterError as exc:
            log.error("%s", exc)
            unwritten.append(f"the metrics {batch.metrics}")
    if options.metrics_push:
        try:  # the file's text when there is one: it carries the success times of the jobs that failed tonight
            push_metrics(
                options.metrics_push,
                metrics or metrics_text(outcome, results, "", batch.shard, batch.selected),
                batch.path,
                batch.shard,
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
