"""The batch log: one timestamped line per event, as text or as JSON for log shippers, on stderr and in a file.

The job processes inherit the handlers, so their lines go to the same
stderr and the same file (opened for appending: lines do not interleave,
and logrotate may move the file between runs).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from forecaster.errors import BadInput
from forecaster.runtime.files import append_stream

log = logging.getLogger("forecaster.batch.runner")
#: the run's id and shard once it has started (:func:`start_run`): in every JSON log line; its summary and its
#: metrics carry them too
RUN: dict[str, str | None] = {"id": None, "shard": None}
#: the variables a scheduler sets that name its run, the same for every shard of it, in the order they are taken:
#: Airflow's DAG run (its tasks' environment has it), then a SLURM job array's own job id (each of its tasks')
RUN_ID_VARIABLES = ("AIRFLOW_CTX_DAG_RUN_ID", "SLURM_ARRAY_JOB_ID")
MAX_RUN_ID = 200
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
FORMATS = ("text", "json")


class _OneLine(logging.Formatter):
    """Timestamped lines only: a warning's multi-line text is joined, so every line can be grepped by time."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(line.strip() for line in super().format(record).splitlines() if line.strip())


class _JsonLines(logging.Formatter):
    """One JSON object a line: time, level, message, and the job's name when the line is about one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            # RFC 3339, which log shippers parse: the offset with its colon (+01:00, not strftime's +0100)
            "time": datetime.datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="seconds"),
            "level": record.levelname,
            "message": " ".join(line.strip() for line in record.getMessage().splitlines() if line.strip()),
        }
        job = getattr(record, "job", None)  # set by job_log's extra
        if job is not None:
            entry["job"] = job
        if RUN["id"] is not None:  # the job processes, forked, have it too
            entry["run"] = RUN["id"]
        if RUN["shard"] is not None:
            entry["shard"] = RUN["shard"]
        return json.dumps(entry, ensure_ascii=False)


class _JobLog(logging.LoggerAdapter):
    def __init__(self, logger: logging.Logger, job: str) -> None:
        super().__init__(logger, {"job": job})
        self.job = job

    def process(self, msg: object, kwargs: MutableMapping[str, Any]) -> tuple[str, MutableMapping[str, Any]]:
        return f"job {self.job}: {msg}", {**kwargs, "extra": {"job": self.job}}


def run_id_of(
    started: datetime.datetime, given: str | None = None, environ: Mapping[str, str] = os.environ
) -> tuple[str, str | None]:
    """The run's id and where it came from: ``given`` (--run-id), else the first of :data:`RUN_ID_VARIABLES` the
    scheduler set, which every shard of its night shares, else (None) the run's own: its start, to the second, and
    its PID (unique on this host; a shard's files also carry the shard). An id that is not one line of printable
    text is refused, naming where it came from."""
    source = "--run-id" if given is not None else next((name for name in RUN_ID_VARIABLES if environ.get(name)), None)
    if source is None:
        return f"{started:%Y%m%dT%H%M%S}-{os.getpid()}", None
    run_id = given if given is not None else environ[source]
    if not (0 < len(run_id) <= MAX_RUN_ID and run_id.isprintable() and run_id.strip() == run_id):
        raise BadInput(
            f"{source}: {run_id!r} is not a run id: give one line of printable text, without spaces around it, "
            f"{MAX_RUN_ID} characters at most"
        )
    return run_id, source


def start_run(run_id: str, shard: str | None) -> None:
    """The run has started: its id (:func:`run_id_of`) and shard are in every JSON log line from now on, the job
    processes' too."""
    RUN["id"], RUN["shard"] = run_id, shard


def job_log(name: str) -> logging.LoggerAdapter:
    """The log of one job: its lines start "job <name>: " and carry the name as a field in JSON."""
    return _JobLog(log, name)


def configure(quiet: bool = False, form: str = "text", log_file: str | None = None) -> None:
    """Every log line, Python warnings (Lightning's) included, as one line on stderr and in ``log_file``.

    ``quiet``: errors only on stderr; the file always gets everything.
    """
    formatter = _JsonLines() if form == "json" else _OneLine("%(asctime)s %(levelname)s %(message)s", TIME_FORMAT)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.ERROR if quiet else logging.INFO)
    handlers: list[logging.Handler] = [stderr]
    if log_file is not None:
        try:
            handlers.append(logging.StreamHandler(append_stream(Path(log_file))))
        except OSError as exc:
            raise BadInput(f"{log_file}: cannot open the log file ({exc.strerror}) (--log-file)") from None
    for handler in handlers:
        handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = handlers
    root.setLevel(logging.WARNING)
    log.setLevel(logging.INFO)
    logging.captureWarnings(True)
