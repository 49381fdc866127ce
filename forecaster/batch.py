"""`forecaster batch`: run the jobs of a TOML file unattended, as cron needs.

One run at a time (:mod:`forecaster.runlock`). Each job runs in its own
process forked from this one after torch and Lightning are imported, so the
import is paid once per run, not once per job, while a crash or the
out-of-memory killer takes down one job only. Every file is written to a
temporary file beside its target and renamed into place. The JSON summary
and the exit code say truthfully what happened: 0 only when every job worked.
"""

from __future__ import annotations

import collections
import ctypes
import datetime
import json
import logging
import multiprocessing
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path

from forecaster.artifact import write_file
from forecaster.errors import ForecasterError, Interrupted
from forecaster.interrupts import raising_on_signals
from forecaster.jobs import Decision, Job, decide, load_jobs
from forecaster.plugins import Registry
from forecaster.runlock import run_lock

log = logging.getLogger("forecaster.batch")
#: how long stopped jobs get to remove their temporary files before they are killed
STOP_GRACE_SECONDS = 10
PR_SET_PDEATHSIG = 1  #: from <linux/prctl.h>


@dataclass
class JobResult:
    """One job's line of the summary; filled in as the job gets along, so a failure keeps what was done."""

    name: str
    input: str
    model: str
    status: str = "not started"  #: ok, failed, crashed, interrupted or not started
    refitted: bool | None = None  #: None until the model was fitted or loaded
    reason: str | None = None  #: why the model was refitted or reused
    input_rows: int | None = None
    output: str | None = None  #: the file written; None when nothing was
    seconds: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class _Running:
    job: Job
    result: JobResult
    process: multiprocessing.process.BaseProcess
    receiver: Connection
    started: float


def dry_run(jobs_file: str | os.PathLike, summary: str | os.PathLike | None = None) -> str:
    """What a run would do, job by job, without taking the lock or writing anything."""
    now = datetime.datetime.now().astimezone()
    batch = load_jobs(Path(jobs_file), now.date(), None if summary is None else str(summary))
    target = batch.summary
    lines = [f"{batch.path}: {len(batch.jobs)} jobs; lock {batch.lock}; summary {target or '(none)'}"]
    from forecaster.plugins import load_registry

    registry = load_registry()  # lists the cells without importing torch
    for job in batch.jobs:
        try:
            registry.get(job.options.cell)
            decision = decide(job, now)
            plan = f"{'refit' if decision.refit else 'reuse'} {job.model} ({decision.reason})"
        except ForecasterError as exc:
            plan = f"would fail: {exc}"
        levels = f", levels {', '.join(f'{level:g}' for level in job.levels)}" if job.levels else ""
        lines.append(f"{job.name}: {job.input} -> {plan} -> {job.output} (horizon {job.options.horizon}{levels})")
    return "\n".join(lines)


def run(jobs_file: str | os.PathLike, workers: int = 1, summary: str | os.PathLike | None = None, quiet: bool = False) -> None:
    """Run every job; raise :class:`ForecasterError` (exit 1) after the summary when any failed.

    Raises :class:`BadInput` for an invalid jobs file before anything is
    touched, :class:`Busy` when another run holds the lock, and
    :class:`Interrupted` after a clean stop on SIGINT or SIGTERM.
    """
    _log_to_stderr(quiet)
    now = datetime.datetime.now().astimezone()
    batch = load_jobs(Path(jobs_file), now.date(), None if summary is None else str(summary))
    target = batch.summary
    results = {job.name: JobResult(job.name, str(job.input), str(job.model)) for job in batch.jobs}
    interruption = None
    with run_lock(batch.lock) as left_by_dead_run:
        if left_by_dead_run:
            log.warning("%s: taking over the lock from a run that ended without releasing it (%s)", batch.lock, left_by_dead_run)
        log.info("%s: %d jobs, %d at a time", batch.path, len(batch.jobs), workers)
        try:
            with raising_on_signals():  # inherited by the jobs' processes: they stop through their finally blocks too
                _run_jobs(batch.jobs, results, workers, now)
        except Interrupted as exc:
            interruption = exc
        summary_written = _write_summary(target, batch.path, now, workers, list(results.values()), interruption) if target else True
    failed = [result.name for result in results.values() if result.status != "ok"]
    where = f"; see {target}" if target and summary_written else ""
    if interruption:
        raise Interrupted(interruption.signum, f"{interruption}: {len(batch.jobs) - len(failed)} of {len(batch.jobs)} jobs had succeeded; "
                                               f"the unfinished ones left their previous outputs as they were{where}")
    if failed:
        raise ForecasterError(f"{len(failed)} of {len(batch.jobs)} jobs failed: {', '.join(failed[:5])}{', ...' if len(failed) > 5 else ''}{where}")
    if not summary_written:  # whoever reads the summary to check the night's run would find none: that is a failure
        raise ForecasterError(f"all {len(batch.jobs)} jobs succeeded, but the summary {target} could not be written")
    log.info("all %d jobs succeeded", len(batch.jobs))


def _run_jobs(jobs: list[Job], results: dict[str, JobResult], workers: int, now: datetime.datetime) -> None:
    """Decide, then run up to ``workers`` jobs at a time, each in a process of its own."""
    queue: collections.deque[tuple[Job, Decision]] = collections.deque()
    for job in jobs:
        try:
            queue.append((job, decide(job, now)))
        except ForecasterError as exc:
            _finish(results[job.name], "failed", str(exc))
        except Exception as exc:  # whatever one job's files hold, the other jobs run
            _finish(results[job.name], "failed", f"internal error: {type(exc).__name__}: {exc}")
    if not queue:
        return
    registry = preload(any(decision.refit for _, decision in queue))
    context = multiprocessing.get_context("fork")  # the children inherit the imports: no 6 s of Lightning per job
    running: dict[int, _Running] = {}
    try:
        while queue or running:
            while queue and len(running) < workers:
                job, decision = queue.popleft()
                receiver, sender = context.Pipe(duplex=False)
                process = context.Process(target=_child, args=(job, decision, results[job.name], registry, sender, os.getpid()))
                process.start()
                sender.close()
                log.info("job %s: started in process %d (%s %s: %s)", job.name, process.pid,
                         "refit" if decision.refit else "reuse", job.model, decision.reason)
                running[process.sentinel] = _Running(job, results[job.name], process, receiver, time.monotonic())
            for sentinel in wait(list(running)):
                _collect(running.pop(sentinel), results)
    except Interrupted:
        _stop(list(running.values()), results)
        raise


def preload(fitting: bool) -> Registry:
    """Import what the jobs need once, here, before forking; load the plugins once.

    Import only: this process must never compute with torch, since a process
    forked after torch's thread pool has started can hang in it (GNU OpenMP
    is not fork-safe).
    """
    import torch  # noqa: F401  every job forecasts (forecaster.forecast imports torch only when called)

    import forecaster.forecast  # noqa: F401
    import forecaster.network  # noqa: F401
    from forecaster.plugins import load_registry

    if fitting:
        import sklearn.preprocessing  # noqa: F401  forecaster.scaling imports it when it fits: 0.4 s a job
        import forecaster.train  # noqa: F401  Lightning, the slow one

    registry = load_registry()
    for problem in registry.problems:
        log.warning("%s", problem)
    return registry


def _collect(entry: _Running, results: dict[str, JobResult], stopped: bool = False) -> None:
    """Record what the job's process sent back; without a word from it, it crashed (or, ``stopped``, was stopped)."""
    entry.process.join()
    code = entry.process.exitcode
    try:
        reported = entry.receiver.recv() if entry.receiver.poll() else None
    except EOFError:  # the process ended without a word: poll() also says yes to a closed pipe
        reported = None
    entry.receiver.close()
    entry.process.close()
    if reported is None:
        how = (f"was killed by {signal.Signals(-code).name}" if code < 0
               else f"was stopped by {signal.Signals(code - 128).name}" if code - 128 in (signal.SIGINT, signal.SIGTERM)
               else f"exited with code {code}")
        status, error = (("interrupted", "stopped before it finished; its previous outputs are as they were") if stopped
                         else ("crashed", f"its process {how} before the job finished"))
        _finish(entry.result, status, error, time.monotonic() - entry.started)
        return
    results[entry.job.name] = reported
    if reported.status == "ok":
        log.info("job %s: ok in %.1fs: %d rows in, %s written", reported.name, reported.seconds, reported.input_rows, reported.output)
    else:
        log.error("job %s: %s: %s", reported.name, reported.status, reported.error)
    for note in reported.notes:
        log.info("job %s: note: %s", reported.name, note)


def _stop(running: list[_Running], results: dict[str, JobResult]) -> None:
    """SIGTERM the running jobs and wait: each removes its temporary files, the previous outputs stay."""
    for entry in running:
        entry.process.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for entry in running:
        entry.process.join(max(0.0, deadline - time.monotonic()))
        if entry.process.exitcode is None:
            entry.process.kill()
        _collect(entry, results, stopped=True)  # a job that ended just before the stop keeps its result


def _finish(result: JobResult, status: str, error: str, seconds: float = 0.0) -> None:
    result.status, result.error, result.seconds = status, error, round(seconds, 3)
    log.error("job %s: %s: %s", result.name, status, error)


def _child(job: Job, decision: Decision, result: JobResult, registry: Registry, report: Connection, parent: int) -> None:
    """A job's own process: do the job, send back its result; a signal ends it without one."""
    _die_with(parent)
    import torch

    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)  # as training does (forecaster.train.one_thread): small models, and workers share the cores
    started = time.monotonic()
    try:
        execute(job, decision, result, registry)
        result.status = "ok"
    except (Interrupted, KeyboardInterrupt) as exc:
        sys.exit(getattr(exc, "exit_code", 130))  # the parent records it; temporary files were removed on the way out
    except ForecasterError as exc:
        result.status, result.error = "failed", str(exc)
    except Exception as exc:  # a bug or a plugin's: the job failed, the run goes on
        result.status, result.error = "failed", f"internal error: {type(exc).__name__}: {exc}"
    result.seconds = round(time.monotonic() - started, 3)
    report.send(result)


def _die_with(parent: int) -> None:
    """Have Linux SIGKILL this process when the batch process dies, even by SIGKILL: no orphan job writes on."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


def execute(job: Job, decision: Decision, result: JobResult, registry: Registry) -> None:
    """Refit or load the model, forecast from the end of the input, write the forecast atomically."""
    from forecaster.fitting import fit
    from forecaster.forecast import forecast, load_model, load_recent

    if decision.refit:
        log.info("job %s: fitting %s on %s", job.name, job.model, job.input)
        fit(job.input, job.options, registry, job.model)
    result.refitted, result.reason = decision.refit, decision.reason
    model = load_model(job.model, registry)
    table = load_recent(job.input, model)
    result.input_rows = len(table.values)
    predicted = forecast(model, job.options.horizon, table, job.levels)
    result.notes = predicted.notes
    write_file(job.output, predicted.to_frame().to_csv(index=False, float_format="%.7g"), "key 'output'", make_directory=True)
    result.output = str(job.output)


def _write_summary(target: Path, jobs_file: Path, started: datetime.datetime, workers: int,
                   results: list[JobResult], interruption: Interrupted | None) -> bool:
    """Write the run summary atomically; False (and an error line) when it cannot be written."""
    failed = any(result.status != "ok" for result in results)
    summary = {
        "jobs_file": str(jobs_file),
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "workers": workers,
        "status": "interrupted" if interruption else "failed" if failed else "ok",
        "exit_code": interruption.exit_code if interruption else int(failed),
        "jobs": [asdict(result) for result in results],
    }
    try:
        write_file(target, json.dumps(summary, indent=2) + "\n", "the summary", make_directory=True)
    except ForecasterError as exc:
        log.error("%s", exc)
        return False
    log.info("summary written to %s", target)
    return True


class _OneLine(logging.Formatter):
    """Timestamped lines only: a warning's multi-line text is joined, so every stderr line can be grepped by time."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(line.strip() for line in super().format(record).splitlines() if line.strip())


def _log_to_stderr(quiet: bool) -> None:
    """Every log line, Python warnings (Lightning's) included, as one timestamped line on stderr; --quiet: errors only."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.ERROR if quiet else logging.WARNING)
    log.setLevel(logging.ERROR if quiet else logging.INFO)
    logging.captureWarnings(True)
