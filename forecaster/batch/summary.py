"""What a batch run leaves for people and monitors: a JSON summary per run, and Prometheus metrics.

A summary never replaces an earlier run's: a second run that would write
the same name numbers its own (``summary-2026-03-01.1.json``). The metrics
file follows the Prometheus text exposition format, as node_exporter's
textfile collector reads it, and is replaced atomically; the times of the
last success, of the run and of each job, carry over from the file a failed
run replaces.
"""

from __future__ import annotations

import datetime
import http.client
import json
import math
import os
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from forecaster.errors import BadInput, ForecasterError
from forecaster.model import jsonread
from forecaster.model.card import Card
from forecaster.runtime import files

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

#: how long a push to a Pushgateway may take before the run says it could not
PUSH_SECONDS = 10.0
#: the summary's format: 1 since it says so (summaries written before then are read as 1)
FORMAT_VERSION = 1
#: how much of a summary is read, and how deep: a run writes 4 levels (jobs[].training.mae)
SUMMARY_BYTES = 64 * 2**20
SUMMARY_DEPTH = 8
#: the metrics file's first line: a comment, which Prometheus passes over
METRICS_HEADER = "# forecaster batch metrics, format {}"
METRICS_VERSION = re.compile(r"# forecaster batch metrics, format (\d{1,9})\n")
STATUSES = ("ok", "failed", "timed out", "crashed", "interrupted", "not started")
PREFIX = "forecaster_batch_"
#: the label naming a job's series: not "job", which Prometheus gives every scraped or pushed series (a scrape
#: renames a series' own to exported_job, a Pushgateway overwrites it with the push's)
JOB_LABEL = "batch_job"
#: a sample of the file a run replaces: its name, its job label if any (a shard label before it aside; "job" as
#: earlier versions wrote it), its value
SAMPLE = re.compile(
    r'(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?:shard="[^"]*",?)?(?:(?:batch_job|job)="(?P<job>(?:[^"\\]|\\.)*)")?\})?'
    r" (?P<value>\S+)"
)


@dataclass
class JobResult:
    """One job's entry in the summary; filled in as the job gets along, so a failure keeps what was done."""

    name: str
    input: str
    model: str
    status: str = "not started"  #: one of STATUSES
    refitted: bool | None = None  #: the decision: refit (True) or reuse the saved model (False); None before one
    reason: str | None = None  #: why
    checks: list[str] = field(default_factory=list)  #: what the input guards found
    input_rows: int | None = None
    training: dict | None = None  #: epochs and validation MAE beside the naive forecast's, of the model that forecast
    output: str | None = None  #: the forecast written; None when nothing was
    latest: str | None = None  #: the link to it
    previous_model: str | None = None  #: where the model this job replaced is kept
    #: a refit's backtest: where its forecasts went, its folds, and each method's overall scores
    backtest: dict | None = None
    removed: list[str] = field(default_factory=list)  #: older forecasts deleted under the job's ``keep``
    timeout: float | None = None  #: seconds
    seconds: float = 0.0
    error: str | None = None
    #: a failure the same job may not meet if run again (timed out, not started, crashed, interrupted, disk full);
    #: False for one it will (its data or options refused, training diverged): retry or fix
    retryable: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """How the run as a whole ended."""

    started: datetime.datetime
    finished: datetime.datetime
    status: str  #: ok, failed or interrupted
    exit_code: int
    time_limit_reached: bool = False
    run_id: str | None = None  #: batch.log.start_run's: in the run's JSON log lines, summary and metrics

    @property
    def seconds(self) -> float:
        return round((self.finished - self.started).total_seconds(), 3)


def training_figures(card: Card) -> dict:
    """Epochs and validation MAE (and the naive forecast's) of a model, from its card."""
    training = card.training
    return {
        "created": card.created.isoformat(),
        "epochs_run": training.epochs_run,
        "best_epoch": training.best_epoch,
        "metrics_on": "validation" if training.validation_windows else "training",
        "mae": card.metrics.model.mae,
        "naive_mae": card.metrics.naive.mae,
    }


def write_summary(path: Path, suffix: str, document: dict) -> Path:
    """Write the summary ``document`` at ``path``, or numbered before ``suffix`` when a file is there (never over an
    earlier run's, nor anything else); returns where it went."""
    return files.write_new(path, suffix, json.dumps(document, indent=2) + "\n", "it (the summary)")


def rewrite_summary(path: Path, document: dict) -> None:
    """Replace the summary this run wrote at ``path`` with ``document``."""
    files.write_atomic(path, json.dumps(document, indent=2) + "\n", "the summary")


def read_summary(path: Path) -> list[dict]:
    """The job records of the summary at ``path``, each with its name and status; a file that is not a summary is
    one :class:`BadInput` naming it."""
    return read_run(path)["jobs"]


def read_run(path: Path) -> dict:
    """The whole summary at ``path``, its jobs checked as :func:`read_summary` checks them (a night's report reads the
    rest)."""
    document = jsonread.record(path, "summary", FORMAT_VERSION, SUMMARY_BYTES, SUMMARY_DEPTH)
    jobs = document.get("jobs")
    if not isinstance(jobs, list) or not all(
        isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry.get("status") in STATUSES
        for entry in jobs
    ):
        raise BadInput(f"{path}: not a summary forecaster batch wrote (its jobs, each with a name and a status)")
    return document


def summary_document(
    jobs_file: Path,
    shard: str | None,
    workers: int,
    time_limit: datetime.timedelta | None,
    outcome: Outcome,
    results: list[JobResult],
    removed: list[str] | None = None,
) -> dict:
    """The run's summary; ``removed``: the older summaries its ``keep`` deleted."""
    return {
        "format_version": FORMAT_VERSION,
        "run_id": outcome.run_id,
        "jobs_file": str(jobs_file),
        "working_directory": os.getcwd(),
        "shard": shard,
        "started": outcome.started.isoformat(timespec="seconds"),
        "finished": outcome.finished.isoformat(timespec="seconds"),
        "seconds": outcome.seconds,
        "workers": workers,
        "time_limit": time_limit.total_seconds() if time_limit else None,
        "time_limit_reached": outcome.time_limit_reached,
        "status": outcome.status,
        "exit_code": outcome.exit_code,
        "removed": removed or [],
        "jobs": [result.__dict__ for result in results],
    }


def metrics_text(
    outcome: Outcome, results: list[JobResult], earlier: str = "", shard: str | None = None, some: bool = False
) -> str:
    """The run as Prometheus metrics; ``earlier``, the file this replaces, gives the success times this run does not
    renew; ``shard`` ("K/N") labels the run-level series, which every shard's file holds, as ``shard="K-of-N"``;
    ``some``: the run ran the jobs --job selected, so the other jobs' series stay as ``earlier`` has them, and
    its success is not the batch's."""
    run = shard_label(shard)
    carried = {
        (match["name"], _unescape(match["job"]) if match["job"] is not None else None): match["value"]
        for match in map(SAMPLE.fullmatch, earlier.splitlines())
        if match
    }
    finished = outcome.finished.timestamp()
    counts = {status: sum(result.status == status for result in results) for status in STATUSES}
    #: (name, help, samples: (labels, value: a number, the text of one carried from earlier, or None: no sample))
    families: list[tuple[str, str, list[tuple[dict[str, str], float | str | None]]]] = [
        (
            "run_start_timestamp_seconds",
            "When the last run started, in seconds since the epoch.",
            [(run, outcome.started.timestamp())],
        ),
        ("run_duration_seconds", "How long the last run took.", [(run, outcome.seconds)]),
        (
            "run_info",
            "The last run's id, as its summary and JSON log lines give it.",
            [({**run, "run_id": outcome.run_id}, 1)] if outcome.run_id else [],
        ),
        (
            "run_exit_code",
            "The last run's exit code: 0 ok, 1 a job failed, 75 only retryable failures, 130 or 143 interrupted.",
            [(run, outcome.exit_code)],
        ),
        (
            "last_success_timestamp_seconds",
            "When a run last ended with every job ok, in seconds since the epoch.",
            [
                (
                    run,
                    finished
                    if outcome.exit_code == 0 and not some
                    else carried.get((PREFIX + "last_success_timestamp_seconds", None)),
                )
            ],
        ),
        (
            "jobs",
            "The last run's jobs by status.",
            # label values without spaces: timed_out, not_started
            [({**run, "status": status.replace(" ", "_")}, count) for status, count in counts.items()],
        ),
        (
            "job_success",
            "1 when the job succeeded in the last run, else 0.",
            [({JOB_LABEL: r.name}, int(r.status == "ok")) for r in results],
        ),
        (
            "job_refitted",
            "1 when the last run refitted the job's model and put it in place, else 0.",
            [({JOB_LABEL: r.name}, int(r.status == "ok" and bool(r.refitted))) for r in results],
        ),
        (
            "job_duration_seconds",
            "How long the job took in the last run.",
            [({JOB_LABEL: r.name}, r.seconds) for r in results],
        ),
        (
            "job_last_success_timestamp_seconds",
            "When the job last succeeded, in seconds since the epoch.",
            [
                (
                    {JOB_LABEL: r.name},
                    finished
                    if r.status == "ok"
                    else carried.get((PREFIX + "job_last_success_timestamp_seconds", r.name)),
                )
                for r in results
            ],
        ),
    ]
    ran = {result.name for result in results}
    lines = [METRICS_HEADER.format(FORMAT_VERSION)]
    for name, help_text, family in families:
        left = [  # the jobs this run left alone (--job), as the last run left them
            ({JOB_LABEL: job}, value)
            for (carried_name, job), value in carried.items()
            if some and carried_name == PREFIX + name and job is not None and job not in ran
        ]
        samples = [(labels, value) for labels, value in family + left if value is not None]
        if not samples:
            continue
        lines += [f"# HELP {PREFIX}{name} {help_text}", f"# TYPE {PREFIX}{name} gauge"]
        lines += [f"{PREFIX}{name}{_labels(labels)} {_number(value)}" for labels, value in samples]
    return "\n".join(lines) + "\n"


def write_metrics(
    path: Path, outcome: Outcome, results: list[JobResult], shard: str | None = None, some: bool = False
) -> str:
    """The run's metrics written to the textfile ``path``, after the success times its earlier text holds; the text."""
    text = metrics_text(outcome, results, read_metrics(path), shard, some)
    files.write_atomic(path, text, "--metrics", make_parent=True)
    return text


def read_metrics(path: Path) -> str:
    """The text of the metrics file a run replaces, read within SUMMARY_BYTES; "" when there is none, or it cannot
    be read. One that is not a file, or written by a newer forecaster, is refused."""
    files.refuse_foreign(path, "--metrics")
    try:
        with files.open_regular(path) as stream:
            content = stream.read(SUMMARY_BYTES + 1)
    except OSError:
        return ""
    if len(content) > SUMMARY_BYTES:
        raise BadInput(f"{path}: more than the {SUMMARY_BYTES} bytes a metrics file may have (--metrics)")
    text = content.decode("utf-8", errors="replace")
    header = METRICS_VERSION.match(text)
    if header and int(header[1]) > FORMAT_VERSION:
        raise BadInput(
            f"{path}: metrics of format {header[1]}, of a newer forecaster, which reads format {FORMAT_VERSION}; "
            "upgrade forecaster (--metrics)"
        )
    return text


def shard_label(shard: str | None) -> dict[str, str]:
    """A shard's label on the run-level series and in a push's group: ``shard="2-of-4"`` for "2/4"; none for a run."""
    return {"shard": shard.replace("/", "-of-")} if shard else {}


def push_metrics(url: str, text: str, jobs_file: Path, shard: str | None) -> None:
    """Push the metrics ``text`` to the Prometheus Pushgateway at ``url`` (prometheus_client), in the group of the
    jobs file and shard: a push replaces that group's metrics only, so shards do not erase one another's."""
    from prometheus_client import CollectorRegistry, push_to_gateway
    from prometheus_client.parser import text_string_to_metric_families

    class Parsed:  # the families of the text, as a collector
        def collect(self) -> Iterable[Metric]:
            return text_string_to_metric_families(text)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Parsed())
    grouping = {"jobs_file": jobs_file.name, **shard_label(shard)}
    try:
        push_to_gateway(url, job="forecaster_batch", registry=registry, grouping_key=grouping, timeout=PUSH_SECONDS)
    except (OSError, ValueError, http.client.HTTPException) as exc:  # urllib's URLError and HTTPError are OSErrors
        raise ForecasterError(f"--metrics-push {url}: could not push the metrics ({exc})") from None


def check_push_url(url: str) -> None:
    """Refuse a --metrics-push URL that cannot be one, before the night's jobs run rather than after."""
    try:
        parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")  # prometheus_client adds http://
        parts.port  # noqa: B018  a port that is not a number raises here
    except ValueError as exc:
        raise BadInput(f"--metrics-push {url!r}: not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(
            f"--metrics-push {url!r}: give a Pushgateway's http:// or https:// URL, such as http://host:9091"
        )


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items()) + "}" if labels else ""


def _escape(value: str) -> str:
    """A label value as the text format writes it: backslash, double quote and line feed escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda match: "\n" if match[1] == "n" else match[1], text)


def _number(value: float | str) -> str:
    number = float(value)
    if math.isnan(number):
        return "NaN"
    return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)
