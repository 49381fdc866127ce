"""The command line's choice among a jobs file's jobs, for one run: ``--job``, a shard (``--shard``, ``--shard-plan``)
and what replaces the file's settings (``--summary``, ``--metrics``, ``--report``, ``--time-limit``).

:func:`forecaster.batch.jobs_file.read_jobs` reads what the file says;
:func:`select` applies the command line to it and gives the run's
:class:`Batch`. Each mistake is one :class:`BadInput` line naming the option.
"""

from __future__ import annotations

import datetime
import fnmatch
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from forecaster.batch.balance import read_plan
from forecaster.batch.jobs_file import PLACEHOLDERS, Job, JobsFile, path_in
from forecaster.batch.retention import Dated, Keep
from forecaster.batch.templates import SHARD_TAG, Template
from forecaster.errors import BadInput
from forecaster.options import parse_duration
from forecaster.runtime.files import refuse_foreign


@dataclass(frozen=True)
class Selection:
    """What the command line chooses of a jobs file for one run, or replaces of its settings."""

    summary: str | None = None  #: relative to the working directory
    metrics: str | None = None
    report: str | None = None  #: the run's HTML page; relative to the working directory
    shard: str | None = None  #: "K/N", or "auto": from the scheduler's variables
    shard_plan: str | None = None  #: a plan `batch plan-shards` wrote: each job's shard
    time_limit: str | None = None  #: a duration: "2h"
    jobs: tuple[str, ...] = ()  #: --job: only the jobs these names or globs select


@dataclass(frozen=True)
class Batch:
    """One run's jobs and files: the jobs file as the command line chose of it."""

    path: Path
    jobs: list[Job]  #: the shard's jobs only
    summary: Path | None
    lock: Path
    #: the summary's path on the day before the run's start, where a night that began before midnight wrote; None
    #: when the path holds no {date}
    summary_day_before: Path | None = None
    metrics: Path | None = None
    report: Path | None = None  #: the run's HTML page (forecaster.report.night), written after its summary
    time_limit: datetime.timedelta | None = None
    keep: Keep | None = None  #: which summaries of other runs to keep
    summaries: Dated | None = None  #: the summaries of every run, for ``keep``
    shard: str | None = None  #: "K/N"
    shard_source: str | None = None  #: the scheduler's variables --shard auto read it from
    selected: bool = False  #: --job chose the jobs: the run is not the whole batch's
    suffix: str = ""  #: the summary's suffix, before which a second summary of the same name is numbered
    project: str | None = None  #: the file's 'project': the identity of its metrics (summary.project_identity)
    names: tuple[str, ...] = ()  #: the shard's jobs' names, --job aside: the batch a --job run's success completes


def select(jobs_file: JobsFile, choice: Selection = Selection()) -> Batch:
    """The run ``choice`` makes of ``jobs_file``: the jobs --job selects, of the shard (a shard's lock, summary,
    metrics and report are its own); --summary, --metrics, --report (relative to the working directory) and
    --time-limit replace the file's settings."""
    chosen = _chosen(jobs_file, choice.jobs)
    share, source = _share(choice.shard)
    shard = _of_share(jobs_file.jobs, share, choice.shard_plan)
    chosen_names = {job.name for job in chosen}
    jobs = [job for job in shard if job.name in chosen_names]
    tag = SHARD_TAG.format(*share) if share else None
    summary, day_before, summaries, suffix = _summary(jobs_file, choice.summary, tag)
    return Batch(
        jobs_file.path,
        jobs,
        summary=summary,
        summary_day_before=day_before,
        lock=_tagged(jobs_file.lock, tag),
        metrics=_tagged(Path(choice.metrics).absolute(), tag) if choice.metrics else None,
        report=_report(jobs_file, choice.report, tag),
        time_limit=(
            parse_duration(choice.time_limit, "--time-limit") if choice.time_limit is not None else jobs_file.time_limit
        ),
        keep=jobs_file.keep if summaries is not None else None,
        summaries=summaries,
        shard=f"{share[0]}/{share[1]}" if share else None,
        shard_source=source,
        selected=bool(choice.jobs),
        suffix=suffix,
        project=jobs_file.project,
        names=tuple(job.name for job in shard),
    )


def _chosen(jobs_file: JobsFile, patterns: tuple[str, ...]) -> list[Job]:
    """The jobs --job's names or globs select (:func:`selects`), every job without any; a pattern that selects no
    job is refused."""
    unmatched = [pattern for pattern in patterns if not any(selects(pattern, job) for job in jobs_file.jobs)]
    if unmatched:
        raise BadInput(
            f"{jobs_file.path}: --job {unmatched[0]!r} selects no job; its jobs are "
            f"{', '.join(job.name for job in jobs_file.jobs)}"
        )
    return [job for job in jobs_file.jobs if not patterns or any(selects(pattern, job) for pattern in patterns)]


def _share(shard: str | None) -> tuple[tuple[int, int] | None, str | None]:
    """--shard's (K, N), and the scheduler's variables --shard auto took them from."""
    if shard is None:
        return None, None
    source = None
    if shard == "auto":
        shard, source = scheduler_shard(os.environ)
    return parse_shard(shard), source


def _of_share(jobs: list[Job], share: tuple[int, int] | None, plan: str | None) -> list[Job]:
    """The jobs of the K-th of N shares: each job's as --shard-plan's plan gives it, else by its name."""
    if plan is not None and share is None:
        raise BadInput("--shard-plan gives the jobs of each shard: give --shard K/N too")
    if share is None:
        return jobs
    planned = read_plan(Path(plan), share[1]) if plan is not None else {}
    return [job for job in jobs if _shard_of(job.name, share[1], planned) == share[0]]


def _summary(
    jobs_file: JobsFile, option: str | None, tag: str | None
) -> tuple[Path | None, Path | None, Dated | None, str]:
    """The run's summary (--summary's, relative to the working directory, or the file's; a shard's tagged), its path on
    the day before (None without a {date}), the summaries of every run that the file's ``keep`` prunes, and the
    summary's suffix. A summary given for one run leaves the file's ``keep`` alone: it prunes the file's summaries,
    which that run does not write."""
    if option is not None:
        template, base = Template.parse(option, PLACEHOLDERS["summary"], "--summary"), Path.cwd()
    elif jobs_file.summary is not None:
        template, base = jobs_file.summary, jobs_file.path.parent
    else:
        return None, None, None, ""
    template = template.tagged(tag) if tag else template
    summaries = Dated(template, base, numbered=True) if jobs_file.keep and option is None else None
    day_before = (
        path_in(base, template.fill(jobs_file.now - datetime.timedelta(days=1))) if template.uses("date") else None
    )
    return path_in(base, template.fill(jobs_file.now)), day_before, summaries, template.suffix


def _report(jobs_file: JobsFile, option: str | None, tag: str | None) -> Path | None:
    """The run's page: --report's (relative to the working directory) or the file's ``report`` key, its {date}
    filled, a shard's its own; refused where a file cannot go."""
    if option is not None:
        template, base, named = Template.parse(option, PLACEHOLDERS["report"], "--report"), Path.cwd(), "--report"
    elif jobs_file.report is not None:
        template, base, named = jobs_file.report, jobs_file.path.parent, f"{jobs_file.path}: key 'report'"
    else:
        return None
    report = _tagged(path_in(base, template.fill(jobs_file.now)), tag)
    refuse_foreign(report, named)
    return report


def selects(pattern: str, job: Job) -> bool:
    """Whether ``pattern`` (--job, a rollback's JOB) names ``job``: its name or a glob of it (``shops/*``), or a glob
    job's name for each of its files (``shops`` for ``shops/north``)."""
    return fnmatch.fnmatchcase(job.name, pattern) or job.name.startswith(pattern + "/")


def scheduler_shard(environ: Mapping[str, str]) -> tuple[str, str]:
    """--shard auto: "K/N" from the scheduler's variables, and which they were. Kubernetes' Indexed Job gives the
    0-based JOB_COMPLETION_INDEX (and JOB_COMPLETION_COUNT, set beside it); a SLURM job array SLURM_ARRAY_TASK_ID
    with SLURM_ARRAY_TASK_COUNT, or SLURM_ARRAY_TASK_MIN and _MAX (a step of 1)."""

    def number(name: str) -> int:
        value = environ.get(name, "")
        if not re.fullmatch(r"\d{1,6}", value.strip()):
            raise BadInput(f"--shard auto: {name} must be a whole number, not {value!r}")
        return int(value)

    if "JOB_COMPLETION_INDEX" in environ:
        index, count = number("JOB_COMPLETION_INDEX"), number("JOB_COMPLETION_COUNT")
        return f"{index + 1}/{count}", f"JOB_COMPLETION_INDEX={index} of JOB_COMPLETION_COUNT={count}"
    if "SLURM_ARRAY_TASK_ID" in environ:
        task = number("SLURM_ARRAY_TASK_ID")
        if "SLURM_ARRAY_TASK_MIN" not in environ:
            count = number("SLURM_ARRAY_TASK_COUNT")
            return f"{task}/{count}", f"SLURM_ARRAY_TASK_ID={task} of SLURM_ARRAY_TASK_COUNT={count}"
        low, high = number("SLURM_ARRAY_TASK_MIN"), number("SLURM_ARRAY_TASK_MAX")
        step = number("SLURM_ARRAY_TASK_STEP") if "SLURM_ARRAY_TASK_STEP" in environ else 1
        tasks = (high - low) // max(step, 1) + 1
        counted = number("SLURM_ARRAY_TASK_COUNT") if "SLURM_ARRAY_TASK_COUNT" in environ else tasks
        if step < 1 or (task - low) % step or counted != tasks:  # a list (--array=1,3,7): no rule gives each its K
            raise BadInput(
                f"--shard auto: a SLURM array of {counted} tasks from {low} to {high} is not an even range "
                "(--array=A-B or A-B:STEP); give --shard K/N"
            )
        return f"{(task - low) // step + 1}/{tasks}", f"SLURM_ARRAY_TASK_ID={task} of {low}..{high} step {step}"
    raise BadInput(
        "--shard auto: no scheduler's index in the environment (JOB_COMPLETION_INDEX and JOB_COMPLETION_COUNT, or "
        "SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT or SLURM_ARRAY_TASK_MIN and _MAX); give --shard K/N"
    )


#: the most shards a run may be split into (--shard's N, plan-shards' N)
MAX_SHARDS = 999_999


def parse_shard(text: str) -> tuple[int, int]:
    """ "K/N" -> (K, N), 1 <= K <= N."""
    match = re.fullmatch(r"(\d{1,6})/(\d{1,6})", text.strip())
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise BadInput(f"--shard must be K/N with 1 <= K <= N (the K-th of N shares of the jobs), not {text!r}")
    return int(match[1]), int(match[2])


def in_shard(name: str, number: int, shares: int) -> bool:
    """Whether the job ``name`` is in the ``number``-th of ``shares`` shares by its name alone, so it stays there."""
    return _shard_of(name, shares, {}) == number


def _shard_of(name: str, shares: int, plan: Mapping[str, int]) -> int:
    """The job's shard: the plan's, or one by its name's hash."""
    return plan.get(name) or int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big") % shares + 1


def _tagged(path: Path, tag: str | None) -> Path:
    return path.with_name(f"{path.stem}.{tag}{path.suffix}") if tag else path
