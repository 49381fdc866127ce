"""What a batch run leaves for people and monitors: a JSON summary per run, and Prometheus metrics.

A summary never replaces an earlier run's: a second run that would write
the same name numbers its own (``summary-2026-03-01.1.json``). The metrics
file follows the Prometheus text exposition format, as node_exporter's
textfile collector reads it, and is replaced atomically. Every series is
labelled with the project's identity and the shard, so that no two runs'
files or pushes hold the same series; each job's last success carries over
from the files the project's runs wrote beside it (a night's success is the
union of its runs).
"""

from __future__ import annotations

import datetime
import http.client
import json
import math
import os
import re
import socket
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from forecaster.batch.log import log
from forecaster.batch.templates import SHARD_TAG_PATTERN
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
#: the metrics file's format: 2 since every series carries the project and the shard (format 1 is read as the earlier
#: text all the same: its samples, without a project, are taken as the project's)
METRICS_FORMAT = 2
METRICS_VERSION = re.compile(r"# forecaster batch metrics, format (\d{1,9})\n")
STATUSES = ("ok", "failed", "late", "timed out", "crashed", "interrupted", "not started")
PREFIX = "forecaster_batch_"
#: the label naming a job's series: not "job", which Prometheus gives every scraped or pushed series (a scrape
#: renames a series' own to exported_job, a Pushgateway overwrites it with the push's)
JOB_LABEL = "batch_job"
#: a sample of the file a run replaces: its name, its labels, its value
SAMPLE = re.compile(
    r'(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>(?:[^"}]|"(?:[^"\\]|\\.)*")*)\})? (?P<value>\S+)'
)
#: one label of a sample: its name and its value as the text format escapes it
LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')
#: the Prometheus job label of every push (a Pushgateway's groups are the job's, then the project's and shard's)
PUSH_JOB = "forecaster_batch"


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
    run_id: str | None = None  #: batch.log.run_id_of's: in the run's JSON log lines, summary and metrics
    run_id_from: str | None = None  #: --run-id or the scheduler's variable it came from; None: the run's own

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


def read_summary(path: Path) -> dict:
    """The summary at ``path``, whose job records (``jobs``) each have a name and a status; a file that is not a
    summary is one :class:`BadInput` naming it."""
    document = jsonread.record(path, "summary", FORMAT_VERSION, SUMMARY_BYTES, SUMMARY_DEPTH)
    jobs = document.get("jobs")
    if not isinstance(jobs, list) or not all(
        isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry.get("status") in STATUSES
        for entry in jobs
    ):
        raise BadInput(f"{path}: not a summary forecaster batch wrote (its jobs, each with a name and a status)")
    return document


def finished_at(path: Path, document: dict) -> datetime.datetime:
    """When the run of the summary ``document`` at ``path`` finished, as it records (in any time zone; a time
    without one is local), else its file's modification time: a copy from another host may have the copy's."""
    try:
        finished = datetime.datetime.fromisoformat(document["finished"])
    except (KeyError, TypeError, ValueError):
        return datetime.datetime.fromtimestamp(path.stat().st_mtime).astimezone()
    return finished if finished.tzinfo else finished.astimezone()


def summary_document(
    jobs_file: Path,
    scope: Scope,
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
        "run_id_from": outcome.run_id_from,
        "jobs_file": str(jobs_file),
        "project": scope.project,
        "host": scope.host,
        "working_directory": os.getcwd(),
        "shard": scope.shard,
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


@dataclass(frozen=True)
class Scope:
    """Whose metrics these are, as every series' labels say: ``project``, the identity of the project's runs (the
    jobs file's ``project`` key, or the host's name and the jobs file's path, :func:`project_identity`), and the
    shard ("K/N"; None for a run that is no shard, labelled ``shard="none"``); ``jobs``: the names of the shard's
    jobs, --job aside (None: those the run ran), whose every success makes the batch's; ``host``: where it ran."""

    project: str
    shard: str | None = None
    jobs: tuple[str, ...] | None = None
    host: str = ""

    @property
    def labels(self) -> dict[str, str]:
        return {"project": self.project, "shard": shard_value(self.shard)}


def project_identity(project: str | None, jobs_file: Path) -> str:
    """The project's identity in metrics and Pushgateway groups: the jobs file's ``project`` key, else
    ``<host name>:<jobs file's absolute path>``, which two hosts with the same path do not share."""
    return project or f"{socket.gethostname()}:{jobs_file}"


def shard_value(shard: str | None) -> str:
    """A shard's label value, in its series and its Pushgateway group: "2-of-4" for "2/4"; "none" for no shard."""
    return shard.replace("/", "-of-") if shard else "none"


def metrics_text(
    outcome: Outcome,
    results: list[JobResult],
    scope: Scope,
    earlier: str = "",
    others: Iterable[str] = (),
    some: bool = False,
) -> str:
    """The run as Prometheus metrics, every series labelled with ``scope``.

    ``earlier``, the file this replaces, gives the series of the jobs a run
    of ``some`` (--job) left alone; ``earlier`` and ``others`` (the files of
    the project's other shards and runs, beside it) give each job's last
    success that this run does not renew: a night's success is the union of
    its runs. The batch's last success is the oldest of its jobs' (none
    until each has one): since then, every job has succeeded.
    """
    base = scope.labels
    carried = _carried(earlier, scope.project)
    last = _last_successes([earlier, *others], scope.project)
    finished = outcome.finished.timestamp()
    last |= {result.name: finished for result in results if result.status == "ok"}
    names = scope.jobs if scope.jobs is not None else tuple(result.name for result in results)
    batch_last = min((last[name] for name in names), default=finished) if all(name in last for name in names) else None
    counts = {status: sum(result.status == status for result in results) for status in STATUSES}
    ran = [result.name for result in results]
    left = [name for name in names if some and name not in ran]  # the jobs this run left alone, as the last left them

    def per_job(name: str, value: Callable[[JobResult], float]) -> list[tuple[dict[str, str], float | None]]:
        return [({**base, JOB_LABEL: r.name}, value(r)) for r in results] + [
            ({**base, JOB_LABEL: job}, carried.get((PREFIX + name, job))) for job in left
        ]

    #: (name, help, samples: (labels, value, or None: no sample))
    families: list[tuple[str, str, list[tuple[dict[str, str], float | None]]]] = [
        (
            "run_start_timestamp_seconds",
            "When the last run started, in seconds since the epoch.",
            [(base, outcome.started.timestamp())],
        ),
        ("run_duration_seconds", "How long the last run took.", [(base, outcome.seconds)]),
        (
            "run_info",
            "The last run's id, as its summary and JSON log lines give it, and the host it ran on.",
            [({**base, "run_id": outcome.run_id, "host": scope.host}, 1)] if outcome.run_id else [],
        ),
        (
            "run_exit_code",
            "The last run's exit code: 0 ok, 1 a job failed, 75 only retryable failures, 130 or 143 interrupted.",
            [(base, outcome.exit_code)],
        ),
        (
            "last_success_timestamp_seconds",
            "Since when every job has succeeded, by any run: the oldest of the jobs' last successes.",
            [(base, batch_last)],
        ),
        (
            "jobs",
            "The last run's jobs by status.",
            # label values without spaces: timed_out, not_started
            [({**base, "status": status.replace(" ", "_")}, count) for status, count in counts.items()],
        ),
        (
            "job_success",
            "1 when the job succeeded in the last run, else 0.",
            per_job("job_success", lambda r: int(r.status == "ok")),
        ),
        (
            "job_refitted",
            "1 when the last run refitted the job's model and put it in place, else 0.",
            per_job("job_refitted", lambda r: int(r.status == "ok" and bool(r.refitted))),
        ),
        (
            "job_duration_seconds",
            "How long the job took in the last run.",
            per_job("job_duration_seconds", lambda r: r.seconds),
        ),
        (
            "job_last_success_timestamp_seconds",
            "When the job last succeeded, by any run, in seconds since the epoch.",
            [({**base, JOB_LABEL: job}, last.get(job)) for job in [*ran, *left]],
        ),
    ]
    lines = [METRICS_HEADER.format(METRICS_FORMAT)]
    for name, help_text, family in families:
        samples = [(labels, value) for labels, value in family if value is not None]
        if not samples:
            continue
        lines += [f"# HELP {PREFIX}{name} {help_text}", f"# TYPE {PREFIX}{name} gauge"]
        lines += [f"{PREFIX}{name}{_labels(labels)} {_number(value)}" for labels, value in samples]
    return "\n".join(lines) + "\n"


def _samples(text: str) -> Iterator[tuple[str, dict[str, str], str]]:
    """(name, labels, value) of each sample line of a metrics file forecaster wrote."""
    for match in map(SAMPLE.fullmatch, text.splitlines()):
        if match:
            labels = {found["key"]: _unescape(found["value"]) for found in LABEL.finditer(match["labels"] or "")}
            yield match["name"], labels, match["value"]


def _of_project(labels: dict[str, str], project: str) -> bool:
    """Whether a sample is the project's: labelled with it, or with none (a file of format 1, before the label)."""
    return labels.get("project", project) == project


def _carried(text: str, project: str) -> dict[tuple[str, str | None], float]:
    """The project's samples in ``text`` whose values are numbers: (name, job or None) -> value; the job label as
    earlier versions named it too ("job")."""
    carried = {}
    for name, labels, value in _samples(text):
        try:
            number = float(value)
        except ValueError:  # a value edited into the file: nothing to carry
            continue
        if math.isfinite(number) and _of_project(labels, project):
            carried[name, labels.get(JOB_LABEL, labels.get("job"))] = number
    return carried


def _last_successes(texts: Iterable[str], project: str) -> dict[str, float]:
    """Each job's newest last success in ``texts``, the project's samples only."""
    last: dict[str, float] = {}
    for text in texts:
        for (name, job), value in _carried(text, project).items():
            if name == PREFIX + "job_last_success_timestamp_seconds" and job is not None:
                last[job] = max(value, last.get(job, value))
    return last


def write_metrics(
    path: Path, base: Path, outcome: Outcome, results: list[JobResult], scope: Scope, some: bool = False
) -> tuple[str, list[Path]]:
    """The run's metrics written to the textfile ``path`` (``base`` tagged with the shard), after the earlier
    series of it and of the files beside it of the project's other shards; a run of every job of its shard (not
    ``some``) then removes those of another shard count, or of none, whose series would stay as they were for
    ever. Returns the text and the files removed."""
    layouts = metrics_files(base)
    others = {sibling: _readable(sibling) for sibling in layouts if sibling != path}
    earlier = read_metrics(path)
    if not _only_of(earlier, scope.project):
        log.warning(
            "%s: replacing the metrics of another project (label project); give each project its own --metrics", path
        )
    text = metrics_text(outcome, results, scope, earlier, [text for text in others.values() if text], some)
    files.write_atomic(path, text, "--metrics", make_parent=True)
    count = int(scope.shard.split("/")[1]) if scope.shard else None
    stale = [
        sibling
        for sibling, content in others.items()
        if not some and content is not None and layouts[sibling] != count and _only_of(content, scope.project)
    ]
    removed = []
    for sibling in stale:
        try:
            files.remove_file(sibling)
        except FileNotFoundError:  # another run removed it first
            continue
        except OSError as exc:
            log.warning("%s: could not remove this metrics file of another shard count (%s)", sibling, exc)
        else:
            removed.append(sibling)
    return text, removed


def metrics_files(base: Path) -> dict[Path, int | None]:
    """The metrics files of every shard count beside ``base`` (the --metrics path), each with its shard count:
    base itself (a run that is no shard: None) and base's name tagged with a shard (``forecaster.shard-2-of-4.prom``:
    4)."""
    name = re.compile(re.escape(base.stem) + rf"(?:\.{SHARD_TAG_PATTERN})?" + re.escape(base.suffix))
    try:
        found = {path: name.fullmatch(path.name) for path in base.parent.iterdir()}
    except OSError:  # no folder yet: no file either
        return {}
    return {path: int(match["count"]) if match["count"] else None for path, match in sorted(found.items()) if match}


def _readable(path: Path) -> str | None:
    """The text of a metrics file beside the run's, or None when it is not one this forecaster reads (a newer
    one's, not a file): left alone."""
    try:
        return read_metrics(path)
    except BadInput:
        return None


def _only_of(text: str, project: str) -> bool:
    """Whether every sample of ``text`` is the project's."""
    return all(_of_project(labels, project) for _, labels, _ in _samples(text))


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
    if header and int(header[1]) > METRICS_FORMAT:
        raise BadInput(
            f"{path}: metrics of format {header[1]}, of a newer forecaster, which reads format {METRICS_FORMAT}; "
            "upgrade forecaster (--metrics)"
        )
    return text


def push_metrics(url: str, text: str, scope: Scope) -> None:
    """Push the metrics ``text`` to the Prometheus Pushgateway at ``url`` (prometheus_client), in the group of the
    project and shard: a push replaces that group's metrics only, so that neither another shard's nor another
    project's (another host's with the same jobs file path) are erased."""
    from prometheus_client import CollectorRegistry, push_to_gateway
    from prometheus_client.parser import text_string_to_metric_families

    class Parsed:  # the families of the text, as a collector
        def collect(self) -> Iterable[Metric]:
            return text_string_to_metric_families(text)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Parsed())
    try:  # a value with a "/" (the default project's path) goes base64-encoded in the URL: prometheus_client does it
        push_to_gateway(url, job=PUSH_JOB, registry=registry, grouping_key=scope.labels, timeout=PUSH_SECONDS)
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


def _number(value: float) -> str:
    number = float(value)  # an int's is_integer is Python 3.12's
    if math.isnan(number):
        return "NaN"
    return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)
