"""`forecaster batch` as cron runs it: real processes, real (tiny) training, real signals."""

from __future__ import annotations

import base64
import collections
import datetime
import fcntl
import http.server
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pandas as pd
import pytest

from conftest import DATA, FORECASTER, ROOT, assert_clean_error, invoke, jobs_file, parse_prometheus, run
from forecaster.batch.jobs_file import Decision, read_jobs
from forecaster.batch.runner import STOP_GRACE_SECONDS, decided_again
from forecaster.batch.selection import in_shard
from forecaster.batch.summary import JobResult

TODAY = datetime.date.today().isoformat()
NOW = datetime.datetime.now().astimezone()
#: what a refused level says would give it (forecaster.model.intervals.too_few)
FIT_MORE = "(a fit holds out up to a fifth of each series' values, at least a horizon, and calibrates on every one)"
#: what every job of these tests trains with unless it says otherwise; the base model is fitted with the same. One
#: member, trained in the job's own process: no fork server importing Lightning anew for each job (8 s of CPU)
DEFAULTS = {"window": 8, "horizon": 3, "hidden_size": 4, "epochs": 2, "seed": 7, "members": 1}
#: the default ensemble, its members trained on processes forked by the job's fork server, which a stop ends too
ENSEMBLE = {"members": 3}
#: a job that trains until it is stopped: the moment to send a signal "mid-job"
ENDLESS = {"refit": "always", "epochs": 1_000_000, "patience": 1_000_000, **ENSEMBLE}
TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} (INFO|WARNING|ERROR) ")


def write_jobs(directory: Path, *jobs: dict, defaults: dict = DEFAULTS, top: dict | None = None) -> Path:
    return jobs_file(directory, *jobs, defaults=defaults, top=top)


def job(name: str, **settings: object) -> dict:
    """A job reading ``<name>.csv`` beside the jobs file, writing models/<name> and out/<name>-<date>.csv."""
    return {
        "name": name,
        "input": f"{name}.csv",
        "model": f"models/{name}",
        "output": f"out/{name}-{{date}}.csv",
        **settings,
    }


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory) -> Path:
    """60 trading days of two real series: enough windows for a validation split and 80% intervals.

    Made once on each worker that runs a test of this file (scope session): the tests, each a batch run of its own,
    then spread over the workers rather than sharing one (tests/conftest.py groups those of module fixtures)."""
    path = tmp_path_factory.mktemp("data") / "tiny.csv"
    pd.read_csv(DATA / "stock.csv", usecols=["date", "AAPL", "MSFT"]).tail(60).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def base_model(tiny_csv, tmp_path_factory) -> Path:
    """One real fit with DEFAULTS on tiny.csv, copied into place wherever a test needs a saved model (once on each
    worker, as tiny_csv)."""
    out = tmp_path_factory.mktemp("base") / "model"
    options = [item for key, value in DEFAULTS.items() for item in (f"--{key.replace('_', '-')}", value)]
    result = invoke("fit", tiny_csv, "--out", out, *options)
    assert result.returncode == 0, result.stderr
    return out


def place_data(directory: Path, tiny_csv: Path, *names: str) -> None:
    for name in names:
        shutil.copy(tiny_csv, directory / f"{name}.csv")


def place_model(base_model: Path, target: Path, age: datetime.timedelta | None = None) -> None:
    """A copy of the base model; ``age`` back-dates its creation time."""
    shutil.copytree(base_model, target)
    if age is not None:
        metadata = json.loads((target / "model.json").read_text())
        metadata["created"] = (datetime.datetime.now(datetime.UTC) - age).isoformat(timespec="seconds")
        (target / "model.json").write_text(json.dumps(metadata))


def created(model: Path) -> str:
    return json.loads((model / "model.json").read_text())["created"]


def snapshot(*paths: Path) -> dict[str, bytes]:
    """Every file's bytes under ``paths``: compared before and after a run is killed."""
    files = [file for path in paths for file in ([path] if path.is_file() else sorted(path.rglob("*")))]
    return {str(file): file.read_bytes() for file in files if file.is_file()}


def leftovers(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if ".tmp-" in path.name or ".old-" in path.name]


def summary_of(path: Path) -> dict[str, dict]:
    return {entry["name"]: entry for entry in json.loads(path.read_text())["jobs"]}


def log_lines(stderr: str) -> tuple[list[str], list[str]]:
    """(timestamped log lines, other lines): the other lines are the CLI's final one-line error, if any."""
    lines = [line for line in stderr.splitlines() if line]
    return [line for line in lines if TIMESTAMPED.match(line)], [line for line in lines if not TIMESTAMPED.match(line)]


class Background:
    """A batch run in the background, its stderr in a file the test can watch."""

    def __init__(self, jobs: Path, *args: object) -> None:
        self.stderr_path = jobs.parent / f"stderr-{time.monotonic_ns()}.txt"
        with open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen(
                [str(FORECASTER), "batch", str(jobs), *map(str, args)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_for(self, pattern: str, timeout: float = 120) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.stderr)
            if match:
                return match
            assert self.process.poll() is None, f"the run ended before {pattern!r}:\n{self.stderr}"
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} within {timeout}s:\n{self.stderr}")

    def job_pid(self, name: str) -> int:
        return int(self.wait_for(rf"job {re.escape(name)}: started in process (\d+)")[1])

    def finish(self, timeout: float = 120) -> int:
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def background():
    """Start runs in the background; whatever the test's outcome, none outlives it (their jobs die with them)."""
    runs: list[Background] = []

    def start(jobs: Path, *args: object) -> Background:
        runs.append(Background(jobs, *args))
        return runs[-1]

    yield start
    for each in runs:
        each.kill()


def gone(pid: int, timeout: float = 10) -> bool:
    """True once ``pid`` has ended (a zombie awaiting its reaper has ended too)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_good_and_bad_jobs_in_parallel_workers(tmp_path, tiny_csv):
    """Bad jobs are recorded and the others still run, two at a time; exit 1; every line of the log is timestamped."""
    place_data(tmp_path, tiny_csv, "good", "diverges")
    (tmp_path / "regions").mkdir()
    place_data(tmp_path / "regions", tiny_csv, "north", "south")
    (tmp_path / "bad.csv").write_text(tiny_csv.read_text().replace("\n", "\nnot-a-date,1,2\n", 1))
    jobs = write_jobs(
        tmp_path,
        job("good", levels=[80], **ENSEMBLE),
        {
            "name": "regions",
            "input": "regions/*.csv",
            "model": "models/{stem}",
            "output": "out/{name}/{stem}-{date}.csv",
        },
        job("bad"),
        job("diverges", lr=1e30, refit="always"),
        {"name": "absent", "input": "absent-*.csv", "model": "models/absent-{stem}", "output": "out/absent-{stem}.csv"},
        top={"summary": "runs/summary-{date}.json"},
    )
    result = run("batch", jobs, "--workers", 2)
    assert result.returncode == 1, result.stderr

    logged, other = log_lines(result.stderr)
    assert other == [
        f"forecaster: error: 3 of 6 jobs failed: bad, diverges, absent; see {tmp_path}/runs/summary-{TODAY}.json"
    ]
    assert "\x1b" not in result.stderr and "\r" not in result.stderr, (
        "no colours or progress bars when stderr is not a terminal"
    )
    starts = [number for number, line in enumerate(logged) if "started in process" in line]
    ends = [
        number
        for number, line in enumerate(logged)
        if re.search(r"job \S+: (ok in|failed)", line) and number > starts[0]
    ]
    assert starts[1] < ends[0], f"--workers 2 starts a second job before the first ends: {logged}"
    pids = {int(pid) for pid in re.findall(r"started in process (\d+)", result.stderr)}
    assert len(pids) == 5 and os.getpid() not in pids, "one process per job that runs (absent fails before it starts)"

    summary = summary_of(tmp_path / "runs" / f"summary-{TODAY}.json")
    assert {name: entry["status"] for name, entry in summary.items()} == {
        "good": "ok",
        "regions/north": "ok",
        "regions/south": "ok",
        "bad": "failed",
        "diverges": "failed",
        "absent": "late",  # its feed not there yet: retryable, though the other two failures are not
    }
    assert "line 2" in summary["bad"]["error"] and "not-a-date" in summary["bad"]["error"]
    assert "diverged" in summary["diverges"]["error"]
    assert "no file matches" in summary["absent"]["error"]
    good = summary["good"]
    assert good["refitted"] is True and good["reason"] == "no saved model yet" and good["input_rows"] == 60
    assert (
        good["output"] == str(tmp_path / "out" / f"good-{TODAY}.csv") and good["seconds"] > 0 and good["error"] is None
    )
    assert all(entry["output"] is None for name, entry in summary.items() if entry["status"] != "ok")

    forecast = pd.read_csv(good["output"])
    assert list(forecast.columns) == [
        "date",
        "AAPL",
        "AAPL_lower_80",
        "AAPL_upper_80",
        "MSFT",
        "MSFT_lower_80",
        "MSFT_upper_80",
    ]
    assert len(forecast) == 3 and (forecast["AAPL_lower_80"] < forecast["AAPL"]).all()
    for region in ("north", "south"):
        assert len(pd.read_csv(tmp_path / "out" / "regions" / f"{region}-{TODAY}.csv")) == 3
        assert (tmp_path / "models" / region / "model.json").is_file()
    assert not (tmp_path / "models" / "diverges").exists() and not (tmp_path / "out" / f"bad-{TODAY}.csv").exists()
    assert leftovers(tmp_path) == []
    umask = os.umask(0o022)
    os.umask(umask)
    for path, mode in (
        (Path(good["output"]), 0o666),
        (tmp_path / "runs" / f"summary-{TODAY}.json", 0o666),
        (tmp_path / "models" / "good", 0o777),
        (tmp_path / "models" / "good" / "weights.safetensors", 0o666),
    ):
        assert stat.S_IMODE(path.stat().st_mode) == mode & ~umask, f"{path}: as readable as a file written directly"


def test_a_corrupt_model_json_fails_its_job_alone_and_an_unwritable_summary_is_retryable(
    tmp_path, tiny_csv, base_model
):
    place_data(tmp_path, tiny_csv, "corrupt", "fine")
    place_model(base_model, tmp_path / "models" / "fine")
    place_model(base_model, tmp_path / "models" / "corrupt")
    metadata = json.loads((tmp_path / "models" / "corrupt" / "model.json").read_text())
    (tmp_path / "models" / "corrupt" / "model.json").write_text(json.dumps({**metadata, "training": "x"}))
    jobs = write_jobs(
        tmp_path, job("corrupt", refit="never"), job("fine", refit="never"), top={"summary": "summary.json"}
    )
    result = invoke("batch", jobs)  # in this process: its subject is the records, not the process
    assert result.returncode == 1, result.stderr
    summary = summary_of(tmp_path / "summary.json")
    assert summary["fine"]["status"] == "ok" and summary["corrupt"]["status"] == "failed"
    assert "model.json: training: must be an object with source, rows" in summary["corrupt"]["error"]

    (tmp_path / "a-file").write_text("")
    result = invoke(
        "batch", write_jobs(tmp_path, job("fine", refit="never")), "--summary", tmp_path / "a-file" / "summary.json"
    )
    # the jobs are done: a rerun reuses their models and may write it (issue 38: every resource failure is 75)
    assert result.returncode == 75 and "summary" in result.stderr.splitlines()[-1], result.stderr
    assert (tmp_path / "out" / f"fine-{TODAY}.csv").is_file()


def test_a_reused_model_s_job_checks_its_input_before_the_model(tmp_path, tiny_csv, base_model):
    """The input's header is the cheaper check: a job whose input names a column twice fails on it, not on its
    model's weights (here corrupt), which loading the model reads."""
    place_data(tmp_path, tiny_csv, "twice")
    lines = (tmp_path / "twice.csv").read_text().splitlines()
    (tmp_path / "twice.csv").write_text("\n".join([lines[0] + ",x,x", *(line + ",1,2" for line in lines[1:])]) + "\n")
    place_model(base_model, tmp_path / "models" / "twice")
    (tmp_path / "models" / "twice" / "weights.safetensors").write_bytes(b"not weights")
    jobs = write_jobs(tmp_path, job("twice", refit="never"), top={"summary": "summary.json"})
    assert invoke("batch", jobs).returncode == 1
    error = summary_of(tmp_path / "summary.json")["twice"]["error"]
    assert "twice.csv: line 1: two columns are named 'x'" in error and "weights" not in error, error


def test_a_refit_decided_at_the_start_is_decided_again_once_the_job_s_model_is_ours(tmp_path, tiny_csv, base_model):
    """Issue 38: a run beside this one (a shard, a --job run) may refit the job between this run's start and the
    moment its process takes the model's lock; a second refit would make tonight's model the one kept as .previous."""
    place_data(tmp_path, tiny_csv, "twice", "always")
    batch = read_jobs(write_jobs(tmp_path, job("twice"), job("always", refit="always")), NOW)
    twice, always = batch.jobs
    stale = Decision(True, "no saved model yet")
    result = JobResult("twice", str(twice.input), str(twice.model))
    assert decided_again(twice, stale, result, NOW) is stale  # still no model: the refit stands
    place_model(base_model, twice.model)  # fitted on the same input, as the other run would
    place_model(base_model, always.model)
    reused = decided_again(twice, stale, result, NOW)
    assert reused == Decision(
        False, "refitted meanwhile by another run on this input (no saved model yet at the run's start)"
    )
    assert (result.refitted, result.reason) == (False, reused.reason)
    assert decided_again(always, stale, JobResult("always", "", ""), NOW) is stale  # "always" refits whatever was done


CROSS_VALIDATION = ["unique_id", "ds", "cutoff", "fold", "y", "model", "model-lo-80", "model-hi-80"]


def test_a_refit_writes_its_backtest_with_its_forecast_and_a_reuse_leaves_it(tmp_path, tiny_csv, base_model):
    """A job with a backtest key writes the cross-validation frame of its refit beside its forecast, all or nothing:
    a backtest the data is too short for fails the job before anything is put in place, and a dry run says so."""
    place_data(tmp_path, tiny_csv, "cv", "short")
    backtests = {"backtest": "cv/{name}-{date}.csv", "folds": 2, "levels": [80]}
    jobs = write_jobs(
        tmp_path, job("cv", **backtests), job("short", **backtests, step=57), top={"summary": "summary.json"}
    )
    rehearsal = invoke("batch", jobs, "--dry-run").stdout
    assert "short.csv -> would fail: " in rehearsal, rehearsal
    assert "too few rows for a backtest with key 'horizon' 3 and key 'step' 57" in rehearsal, rehearsal
    assert f"a refit's backtest of 2 folds -> {tmp_path / 'cv' / f'cv-{TODAY}.csv'})" in rehearsal, rehearsal

    assert invoke("batch", jobs).returncode == 1
    summary = summary_of(tmp_path / "summary.json")
    written = tmp_path / "cv" / f"cv-{TODAY}.csv"
    assert summary["cv"]["backtest"]["forecasts"] == str(written) and summary["cv"]["backtest"]["folds"] == 2
    assert set(summary["cv"]["backtest"]["overall"]) == {"model", "naive", "seasonal-naive", "drift"}
    frame = pd.read_csv(written, parse_dates=["ds", "cutoff"])
    assert list(frame.columns[: len(CROSS_VALIDATION)]) == CROSS_VALIDATION
    horizon = DEFAULTS["horizon"]  # two folds, each forecasting from `step` (the horizon) origins, two series
    assert len(frame) == 2 * 2 * horizon * horizon and set(frame["unique_id"]) == {"AAPL", "MSFT"}
    actual = pd.read_csv(tiny_csv, parse_dates=["date"]).melt("date", var_name="unique_id", value_name="value")
    merged = frame.merge(actual, left_on=["unique_id", "ds"], right_on=["unique_id", "date"], validate="many_to_one")
    assert (merged["y"] == merged["value"]).all() and (frame["cutoff"] < frame["ds"]).all()
    assert summary["short"]["status"] == "failed" and "too few rows for a backtest" in summary["short"]["error"]
    assert not (tmp_path / "models" / "short").exists() and not (tmp_path / "out" / f"short-{TODAY}.csv").exists()

    before = written.read_bytes()
    reuse = write_jobs(tmp_path, job("cv", refit="never", **backtests), top={"summary": "reused.json"})
    assert invoke("batch", reuse).returncode == 0
    assert summary_of(tmp_path / "reused.json")["cv"]["backtest"] is None and written.read_bytes() == before


def test_a_reused_model_s_horizon_past_the_trained_one_is_a_note_of_the_job(tmp_path, tiny_csv, base_model):
    """A batch reports what a forecast should be known by as the job's notes (in its log line and the summary), a
    horizon past the trained one included: not Python's warning line with a file path."""
    place_data(tmp_path, tiny_csv, "further")
    place_model(base_model, tmp_path / "models" / "further")
    jobs = write_jobs(tmp_path, job("further", refit="never", horizon=5), top={"summary": "summary.json"})
    result = invoke("batch", jobs)
    assert result.returncode == 0, result.stderr
    said = "horizon 5 is beyond the trained 3: steps 4-5 are forecast recursively from earlier forecasts"
    assert any(note.startswith(said) for note in summary_of(tmp_path / "summary.json")["further"]["notes"])
    logged, _ = log_lines(result.stderr)
    assert next(line for line in logged if said in line).endswith(
        f"INFO job further: note: {said}; a model fitted for 5 steps forecasts each directly"
    )
    assert "HorizonWarning" not in result.stderr and "WARNING" not in result.stderr


def test_refit_policies_then_an_idempotent_rerun(tmp_path, tiny_csv, base_model):
    """Each policy reuses or refits as it says, judged by the model's creation time; the same day's rerun changes
    nothing."""
    two_hours = datetime.timedelta(hours=2)
    place_data(tmp_path, tiny_csv, "always", "never", "same", "changed", "young", "old", "options")
    (tmp_path / "changed.csv").write_text(tiny_csv.read_text().rstrip("\n") + "0\n")  # the last value, times ten
    for name in ("always", "never", "same", "changed", "young", "old", "options"):
        place_model(base_model, tmp_path / "models" / name, age=two_hours)
    jobs = write_jobs(
        tmp_path,
        job("always", refit="always"),
        job("never", refit="never"),
        job("same"),
        job("changed"),
        job("young", refit="older-than:1d"),
        job("old", refit="older-than:1h"),
        job("options", hidden_size=5),
        defaults={**DEFAULTS, "refit": "if-data-changed"},
        top={"summary": "summary.json"},
    )
    before = {
        name: created(tmp_path / "models" / name)
        for name in ("always", "never", "same", "changed", "young", "old", "options")
    }

    first = invoke("batch", jobs, "--workers", 2)  # in this process, where Lightning is imported already
    assert first.returncode == 0, first.stderr
    after = {name: created(tmp_path / "models" / name) for name in before}
    refitted = {name for name in before if after[name] != before[name]}
    assert refitted == {"always", "changed", "old", "options"}, first.stderr
    summary = summary_of(tmp_path / "summary.json")
    assert {name for name, entry in summary.items() if entry["refitted"]} == refitted
    assert summary["same"]["reason"] == "the input is unchanged" and summary["changed"]["reason"] == "the input changed"
    assert summary["young"]["reason"] == "the model is 2.0 hours old (older-than:1d)"
    assert summary["options"]["reason"] == "the fit options changed (hidden_size 4 -> 5)"
    outputs = snapshot(tmp_path / "out")
    assert len(outputs) == 7

    first_summary = (tmp_path / "summary.json").read_bytes()
    second = run("batch", jobs, "--workers", 2, "--quiet")
    assert second.returncode == 0 and second.stderr == "", "--quiet: nothing on stderr when every job worked"
    assert (tmp_path / "summary.json").read_bytes() == first_summary, "a second run keeps the first run's summary..."
    again = {name: created(tmp_path / "models" / name) for name in before}
    assert {name for name in before if again[name] != after[name]} <= {"always"}
    assert {name for name, entry in summary_of(tmp_path / "summary.1.json").items() if entry["refitted"]} == {
        "always"
    }, "...and writes its own beside it"
    assert snapshot(tmp_path / "out") == outputs, "the same day, the same data: the same files"


def test_a_second_run_gets_75_and_a_crashed_job_does_not_stop_the_others(tmp_path, tiny_csv, base_model, background):
    place_data(tmp_path, tiny_csv, "slow", "quick")
    place_model(base_model, tmp_path / "models" / "quick")
    jobs = write_jobs(tmp_path, job("slow", **ENDLESS), job("quick", refit="never"), top={"summary": "summary.json"})
    first = background(jobs)
    slow = first.job_pid("slow")

    try:  # the lock refuses at once; without it the second run would start the endless job too
        second = run("batch", jobs, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("a second run beside a running batch did not stop at the lock within 20 s")
    assert_clean_error(second, f"{jobs}.lock", f"pid {first.process.pid}, started {TODAY}T", code=75)
    assert first.process.poll() is None, "the second run left the first alone"

    os.kill(slow, signal.SIGKILL)  # as the out-of-memory killer would
    assert first.finish() == 75, first.stderr  # its one failure may not recur: EX_TEMPFAIL, as for the lock
    summary = summary_of(tmp_path / "summary.json")
    assert summary["slow"]["status"] == "crashed" and "killed by SIGKILL" in summary["slow"]["error"]
    assert summary["slow"]["retryable"] is True
    assert summary["quick"]["status"] == "ok" and summary["quick"]["refitted"] is False
    assert (tmp_path / "out" / f"quick-{TODAY}.csv").is_file()
    assert not (tmp_path / "jobs.toml.lock").exists(), "a run that ends releases the lock and removes the file it made"


def test_guards_and_late_failures_change_nothing_a_success_replaces_all_and_a_rollback_undoes_it(
    tmp_path, tiny_csv, base_model
):
    """A shrunk feed, a stale one, a job failing after training and one stopped by its timeout keep their previous
    model and forecast; the good jobs replace theirs whole, keep the model replaced, prune their older forecasts and
    link the latest; the records say so, and --rollback puts a replaced model back."""
    place_data(tmp_path, tiny_csv, "stale", "broken", "good")
    pd.read_csv(tiny_csv).head(40).to_csv(tmp_path / "cut.csv", index=False)
    (tmp_path / "out").mkdir()
    (tmp_path / "blocked").write_text("a file where the broken job wants a directory\n")
    for name in ("shrunk", "allowed", "stale", "broken", "brief"):
        place_model(base_model, tmp_path / "models" / name)
    for name in ("shrunk", "stale"):
        (tmp_path / "out" / f"{name}-{TODAY}.csv").write_text("last night's forecast\n")
    ours, look_alikes = (
        ["good-2026-01-01.csv", "good-2026-01-02.csv"],
        ["good-2026-01-01.csv.bak", "goods-2026-01-01.csv", "good-latest.txt"],
    )
    for name in ours + look_alikes:
        (tmp_path / "out" / name).write_text(name)
    jobs = write_jobs(
        tmp_path,
        {**job("shrunk"), "input": "cut.csv"},
        {**job("allowed", allow_shrink=True), "input": "cut.csv"},
        job("stale", refit="never", max_age="1d"),
        {**job("broken", refit="always"), "output": "blocked/broken.csv"},
        {**job("brief", timeout="1s", **ENDLESS), "input": "good.csv"},
        job("good", levels=[80], keep=2, latest="out/good-latest.csv"),
        top={"summary": "runs/summary-{date}.json"},
    )
    protected = snapshot(
        *(tmp_path / "models" / name for name in ("shrunk", "stale", "broken", "brief")),
        tmp_path / "out" / f"shrunk-{TODAY}.csv",
        tmp_path / "out" / f"stale-{TODAY}.csv",
        tmp_path / "blocked",
    )
    allowed_before = snapshot(tmp_path / "models" / "allowed")

    result = run(
        "batch",
        jobs,
        "--workers",
        2,
        "--metrics",
        tmp_path / "metrics.prom",
        "--log-format",
        "json",
        cwd=tmp_path / "out",
    )
    assert result.returncode == 1, result.stderr  # guards and a blocked output will fail again: no use retrying
    *logged, last = result.stderr.splitlines()
    assert last == (
        f"forecaster: error: 4 of 6 jobs failed: shrunk, stale, broken, brief; see {tmp_path}/runs/summary-{TODAY}.json"
    )
    entries = [json.loads(line) for line in logged]
    assert all(set(entry) >= {"time", "level", "message"} for entry in entries)
    # RFC 3339, as log shippers parse it: the offset with its colon (issue 24)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", entry["time"]) for entry in entries)
    assert {entry["job"] for entry in entries if "job" in entry} == {
        "shrunk",
        "allowed",
        "stale",
        "broken",
        "brief",
        "good",
    }
    assert all(entry["message"].startswith(f"job {entry['job']}: ") for entry in entries if "job" in entry)

    assert (
        snapshot(
            *(tmp_path / "models" / name for name in ("shrunk", "stale", "broken", "brief")),
            tmp_path / "out" / f"shrunk-{TODAY}.csv",
            tmp_path / "out" / f"stale-{TODAY}.csv",
            tmp_path / "blocked",
        )
        == protected
    ), "failed jobs change nothing"
    assert not any(
        (tmp_path / "models" / f"{name}.previous").exists() for name in ("shrunk", "stale", "broken", "brief", "good")
    )
    assert leftovers(tmp_path) == []

    document = json.loads((tmp_path / "runs" / f"summary-{TODAY}.json").read_text())
    assert document["working_directory"] == str(tmp_path / "out") and document["jobs_file"] == str(jobs)
    summary = {entry["name"]: entry for entry in document["jobs"]}
    assert {name: entry["status"] for name, entry in summary.items()} == {
        "shrunk": "failed",
        "allowed": "ok",
        "stale": "late",
        "broken": "failed",
        "brief": "timed out",
        "good": "ok",
    }
    assert (summary["brief"]["error"], summary["brief"]["timeout"]) == (
        "stopped after its timeout of 1s; its previous outputs are as they were",
        1,
    )
    # stopped by its SIGTERM about a second after it started, however busy the machine, not by the SIGKILL that
    # would follow STOP_GRACE_SECONDS (10 s) later
    assert summary["brief"]["seconds"] < 1 + STOP_GRACE_SECONDS, "stopped by SIGTERM after its timeout of 1 s"
    assert {name for name, entry in summary.items() if entry["retryable"]} == {"brief", "stale"}, (
        "a timeout may not recur, a stale feed may be refreshed"
    )
    assert (
        "cut.csv: series 'AAPL' has 40 rows, fewer than the 60 the saved model was trained on"
        in summary["shrunk"]["error"]
    )
    assert summary["shrunk"]["refitted"] is True and summary["shrunk"]["reason"] == "the input changed", (
        "the decision, though it failed"
    )
    assert summary["allowed"]["checks"][0].startswith("allowed by allow_shrink: series 'AAPL' has 40 rows")
    assert re.search(
        r"stale.csv: stale feed: the newest row, 20\d\d-\d\d-\d\d, is \d+\.\d days old, older than max_age 1d",
        summary["stale"]["error"],
    )
    assert summary["broken"]["error"] == f"{tmp_path}/blocked/broken.csv: cannot write it (key 'output'): File exists"
    good = summary["good"]
    metadata = json.loads((tmp_path / "models" / "good" / "model.json").read_text())
    assert good["training"] == {
        "created": metadata["created"],
        "epochs_run": 2,
        "best_epoch": metadata["training"]["best_epoch"],
        "metrics_on": "validation",
        "mae": metadata["metrics"]["model"]["mae"],
        "naive_mae": metadata["metrics"]["naive"]["mae"],
    }
    assert good["checks"] == [
        f"{metadata['intervals']['windows']} held-out forecasts a step calibrate the 80% interval"
    ], "the dry-run's count of held-out forecasts is the fit's"
    assert all(Path(good[key]).is_absolute() for key in ("input", "model", "output", "latest"))

    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == sorted(
        [
            "good-2026-01-02.csv",
            f"good-{TODAY}.csv",
            "good-latest.csv",
            *look_alikes,
            f"allowed-{TODAY}.csv",
            f"shrunk-{TODAY}.csv",
            f"stale-{TODAY}.csv",
        ]
    )
    assert good["removed"] == [str(tmp_path / "out" / "good-2026-01-01.csv")]
    assert os.readlink(tmp_path / "out" / "good-latest.csv") == f"good-{TODAY}.csv", (
        "a relative link to today's forecast"
    )

    samples = parse_prometheus((tmp_path / "metrics.prom").read_text())
    whole = (("project", f"{socket.gethostname()}:{jobs}"), ("shard", "none"))  # the host and jobs file: issue 38
    assert samples[("forecaster_batch_run_exit_code", whole)] == 1
    # one run id ties its log lines (the jobs' processes' too), its summary and its metrics together (issue 24)
    run_id = json.loads((tmp_path / "runs" / f"summary-{TODAY}.json").read_text())["run_id"]
    assert re.fullmatch(r"\d{8}T\d{6}-\d+", run_id) and {entry["run"] for entry in entries} == {run_id}
    assert samples[("forecaster_batch_run_info", (*whole, ("run_id", run_id), ("host", socket.gethostname())))] == 1
    assert {
        labels[2][1]: value for (name, labels), value in samples.items() if name == "forecaster_batch_job_success"
    } == {"shrunk": 0, "allowed": 1, "stale": 0, "broken": 0, "brief": 0, "good": 1}
    assert samples[("forecaster_batch_jobs", (*whole, ("status", "timed_out")))] == 1

    refitted = snapshot(tmp_path / "models" / "allowed")
    assert summary["allowed"]["previous_model"] == str(tmp_path / "models" / "allowed.previous")
    assert renamed(snapshot(tmp_path / "models" / "allowed.previous"), "allowed.previous", "allowed") == allowed_before
    rollback = invoke("batch", jobs, "--rollback", "allowed")  # renames only: no job process
    assert rollback.returncode == 0 and "job allowed: rolled back" in rollback.stderr, rollback.stderr
    assert snapshot(tmp_path / "models" / "allowed") == allowed_before
    assert renamed(snapshot(tmp_path / "models" / "allowed.previous"), "allowed.previous", "allowed") == refitted, (
        "a rollback is undone by another"
    )
    assert_clean_error(invoke("batch", jobs, "--rollback", "good"), "models/good: no previous model to roll back to")


def renamed(files: dict[str, bytes], old: str, new: str) -> dict[str, bytes]:
    return {name.replace(f"/{old}/", f"/{new}/"): data for name, data in files.items()}


def test_jobs_past_the_runs_time_limit_are_stopped_or_not_started_and_the_others_finish(tmp_path, tiny_csv, base_model):
    """One worker: quick runs, unbounded is stopped by the run's limit, and late never starts.

    The limit counts from the run's start, which spends some seconds importing Lightning before any job starts;
    how far the run got by then depends on how busy the machine is. Each job is checked against what the run's log
    says happened to it (the events), not against how long things should take: a job it shows started and
    finished is ok with a new forecast, one started and not finished is stopped with its outputs as they were, one
    never started is not started; unbounded never finishes, and late waits behind it on the one worker.
    """
    place_data(tmp_path, tiny_csv, "quick", "unbounded", "late")
    (tmp_path / "out").mkdir()
    for name in ("quick", "unbounded", "late"):
        place_model(base_model, tmp_path / "models" / name)
        (tmp_path / "out" / f"{name}-{TODAY}.csv").write_text("last night's forecast\n")
    before = snapshot(tmp_path / "models", tmp_path / "out")
    jobs = write_jobs(
        tmp_path,
        job("quick", refit="never"),
        job("unbounded", **ENDLESS),
        job("late", refit="never"),
        top={"summary": "summary-{date}.json", "time_limit": "1h"},
    )
    result = run("batch", jobs, "--time-limit", "6s")
    assert result.returncode == 75, result.stderr  # stopped and not started: all may succeed on another run
    document = json.loads((tmp_path / f"summary-{TODAY}.json").read_text())
    assert (document["time_limit"], document["time_limit_reached"]) == (6, True), (
        "--time-limit replaces the file's time_limit"
    )
    assert document["seconds"] >= 6
    summary = {entry["name"]: (entry["status"], entry["error"]) for entry in document["jobs"]}
    started = set(re.findall(r"job (\w+): started in process", result.stderr))
    stopped = ("timed out", "stopped after the run's time limit of 6s; its previous outputs are as they were")
    not_started = ("not started", "the run's time limit of 6s was reached before it started")
    assert summary["late"] == not_started
    assert summary["unbounded"] == (stopped if "unbounded" in started else not_started)
    if "unbounded" in started:  # the one worker took it once quick had finished
        assert summary["quick"] == ("ok", None)
    else:
        assert summary["quick"] == (stopped if "quick" in started else not_started)
    failed = [name for name in ("quick", "unbounded", "late") if summary[name][0] != "ok"]
    assert result.stderr.splitlines()[-1].startswith(
        f"forecaster: error: {len(failed)} of 3 jobs failed (the run's time limit of 6s was reached): "
        f"{', '.join(failed)}; each may succeed if the run is tried again; see "
    )
    assert all(entry["retryable"] for entry in document["jobs"] if entry["status"] != "ok")
    after = snapshot(tmp_path / "models", tmp_path / "out")
    kept = [name for name, data in before.items() if any(f"{job}" in name for job in failed)]
    assert {name: after.get(name) for name in kept} == {name: before[name] for name in kept}
    if summary["quick"][0] == "ok":
        assert (tmp_path / "out" / f"quick-{TODAY}.csv").read_text() != "last night's forecast\n"
    assert leftovers(tmp_path) == []


@pytest.fixture
def old_outputs(tmp_path, tiny_csv, base_model) -> tuple[Path, dict[str, bytes]]:
    """A job with last night's model and forecast in place, about to be refitted forever; and their bytes."""
    place_data(tmp_path, tiny_csv, "nightly")
    place_model(base_model, tmp_path / "models" / "nightly")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / f"nightly-{TODAY}.csv").write_text("date,AAPL,MSFT\nlast night's forecast,1,2\n")
    jobs = write_jobs(tmp_path, job("nightly", **ENDLESS), top={"summary": "summary.json"})
    return jobs, snapshot(tmp_path / "models" / "nightly", tmp_path / "out")


def stop_mid_job(start, jobs: Path, signum: int) -> tuple[Background, int]:
    """Start a run, send ``signum`` while its job trains, wait for its exit code; its job's process must end too."""
    stopped = start(jobs)
    worker = stopped.job_pid("nightly")
    stopped.wait_for("job nightly: fitting")
    stopped.process.send_signal(signum)
    code = stopped.finish()
    assert gone(worker), "the job's process ends with its run: no orphan writes on"
    return stopped, code


def test_sigkill_mid_job_leaves_old_outputs_and_the_next_run_takes_over(tmp_path, old_outputs, background):
    jobs, before = old_outputs
    killed, code = stop_mid_job(background, jobs, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert snapshot(tmp_path / "models" / "nightly", tmp_path / "out") == before
    assert not (tmp_path / "summary.json").exists()

    write_jobs(tmp_path, job("nightly", refit="never"), top={"summary": "summary.json"})
    with open(tmp_path / "out" / f"nightly-{TODAY}.csv", "rb") as reader:  # a reader that opened the old forecast...
        result = invoke("batch", jobs)  # the run that takes over: in this process, as its subject is the lock's file
        assert reader.read() == before[str(tmp_path / "out" / f"nightly-{TODAY}.csv")], (
            "...reads it whole: it was replaced, not rewritten"
        )
    assert result.returncode == 0, result.stderr
    assert (
        f"taking over the lock from a run that ended without releasing it (pid {killed.process.pid}, started {TODAY}T"
        in result.stderr
    )
    forecast = pd.read_csv(tmp_path / "out" / f"nightly-{TODAY}.csv")
    assert len(forecast) == 3 and forecast["AAPL"].notna().all()
    assert snapshot(tmp_path / "models" / "nightly") == {
        name: data for name, data in before.items() if "/models/" in name
    }


def test_sigterm_mid_job_exits_143_with_one_line_and_old_outputs(tmp_path, old_outputs, background):
    jobs, before = old_outputs
    stopped, code = stop_mid_job(background, jobs, signal.SIGTERM)
    assert code == 143
    _logged, other = log_lines(stopped.stderr)
    assert len(other) == 1 and other[0].startswith("forecaster: error: interrupted by SIGTERM"), stopped.stderr
    assert snapshot(tmp_path / "models" / "nightly", tmp_path / "out") == before
    assert leftovers(tmp_path) == []
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["exit_code"] == 143
    assert summary["jobs"][0]["status"] == "interrupted"
    assert not (tmp_path / "jobs.toml.lock").exists()


def test_dry_run_checks_each_job_as_far_as_it_can_without_training_and_exits_1(tmp_path, tiny_csv, base_model):
    """Inputs read, guards applied, levels held against the windows the data gives, a reused model's forecast made."""
    place_data(tmp_path, tiny_csv, "fresh", "kept")
    pd.read_csv(tiny_csv).head(40).to_csv(tmp_path / "cut.csv", index=False)
    for name in ("kept", "cut", "sure"):
        place_model(base_model, tmp_path / "models" / name)
    jobs = write_jobs(
        tmp_path,
        job("fresh", levels=[80, 95]),
        job("kept", refit="never", timeout="5m"),
        job("lost"),
        {**job("typo", cell="lstn"), "input": "kept.csv"},
        {**job("greedy", levels=[97.5]), "input": "kept.csv"},
        job("cut"),
        {**job("sure", refit="never", levels=[99]), "input": "kept.csv"},
        {**job("far", horizon=100_000), "input": "kept.csv"},  # refused by the fit before it trains (issue 24)
        top={"summary": "s-{date}.json"},
    )

    def files() -> list[Path]:  # every file, hidden ones too: a lock file left behind would show
        return sorted(tmp_path.rglob("*"))

    before = files()
    result = invoke("batch", jobs, "--dry-run")  # a dry run trains nothing and forks nothing: this process will do
    assert_clean_error(result, "6 of 8 jobs would fail: lost, typo, greedy, cut, sure, ...", code=1)
    out = f"{tmp_path}/out"
    assert result.stdout.splitlines() == [
        f"{jobs}: 8 jobs; lock {jobs}.lock; summary {tmp_path}/s-{TODAY}.json",
        (
            f"fresh: {tmp_path}/fresh.csv -> refit {tmp_path}/models/fresh (no saved model yet) "
            f"-> {out}/fresh-{TODAY}.csv (horizon 3, levels 80, 95)"
        ),
        (
            f"kept: {tmp_path}/kept.csv -> reuse {tmp_path}/models/kept (refit is 'never') "
            f"-> {out}/kept-{TODAY}.csv (horizon 3, timeout 5m)"
        ),
        (
            f"lost: {tmp_path}/lost.csv -> would fail: {tmp_path}/lost.csv: no such file "
            f"-> {out}/lost-{TODAY}.csv (horizon 3)"
        ),
        (
            f"typo: {tmp_path}/kept.csv -> would fail: unknown cell 'lstn' (key 'cell'); "
            f"installed cells: lstm, torch-lstm -> {out}/typo-{TODAY}.csv (horizon 3)"
        ),
        (
            f"greedy: {tmp_path}/kept.csv -> would fail: {tmp_path}/kept.csv: "
            "too few held-out forecasts to calibrate a 97.5% interval: it needs 49 a forecast step, and this input "
            f"with horizon 3 gives 24; ask for at most 96% (key 'levels'), or fit on more data {FIT_MORE} -> "
            f"{out}/greedy-{TODAY}.csv (horizon 3, levels 97.5)"
        ),
        (
            f"cut: {tmp_path}/cut.csv -> would fail: {tmp_path}/cut.csv: series 'AAPL' has 40 rows, "
            "fewer than the 60 the saved model was trained on: a feed cut short? The previous model and forecast are "
            f"kept; set allow_shrink = true on the job if the input is as intended -> {out}/cut-{TODAY}.csv (horizon 3)"
        ),
        (
            f"sure: {tmp_path}/kept.csv -> would fail: {tmp_path}/models/sure/model.json: "
            "too few held-out forecasts to calibrate a 99% interval: it needs 99 a forecast step, and the fit had "
            f"24; ask for at most 96% (key 'levels'), or fit on more data {FIT_MORE} -> "
            f"{out}/sure-{TODAY}.csv (horizon 3, levels 99)"
        ),
        (
            f"far: {tmp_path}/kept.csv -> would fail: {tmp_path}/kept.csv: too few rows: the longest series has 60 "
            f"values, fewer than 2 + key 'horizon' 100000 -> {out}/far-{TODAY}.csv (horizon 100000)"
        ),
    ]
    assert files() == before


def test_a_dry_run_of_a_rollback_says_each_swap_and_makes_none(tmp_path, tiny_csv, base_model):
    place_data(tmp_path, tiny_csv, "kept", "new")
    for name in ("kept", "kept.previous", "new"):
        place_model(base_model, tmp_path / "models" / name)
    jobs = write_jobs(tmp_path, job("kept"), job("new"))
    before = snapshot(tmp_path / "models")
    result = invoke("batch", jobs, "--rollback", "kept", "--dry-run")
    assert result.returncode == 0, result.stderr
    created = json.loads((tmp_path / "models" / "kept.previous" / "model.json").read_text())["created"]
    previous, kept = tmp_path / "models" / "kept.previous", tmp_path / "models" / "kept"
    assert result.stdout == (
        f"kept: would put back {previous} (created {datetime.datetime.fromisoformat(created).isoformat()}) as {kept}, "
        f"and keep the model now there as {previous}\n"
    )
    assert_clean_error(
        invoke("batch", jobs, "--rollback", "new", "--dry-run"), f"{tmp_path}/models/new: no previous model"
    )
    assert snapshot(tmp_path / "models") == before


@pytest.mark.parametrize("case", ["ok", "invalid", "locked"])
def test_dry_run_exits_as_the_run_would(tmp_path, tiny_csv, case):
    """0 when the run would succeed, 2 for an invalid file, 75 when the lock is held, which it names; it takes no lock
    itself."""
    place_data(tmp_path, tiny_csv, "fresh")
    jobs = write_jobs(tmp_path, job("fresh", **({"windw": 8} if case == "invalid" else {})))
    with open(tmp_path / "jobs.toml.lock", "w") as lock:
        if case == "locked":
            fcntl.flock(lock, fcntl.LOCK_EX)
            lock.write("pid 4242, started 2026-03-01T02:30:00+00:00\n")
            lock.flush()
        result = invoke("batch", jobs, "--dry-run")  # a dry run forks nothing: this process will do
    if case == "ok":
        assert result.returncode == 0 and result.stderr == "", result.stderr
        assert result.stdout.startswith(f"{jobs}: 1 jobs; lock {jobs}.lock; summary (none)\nfresh: ")
    elif case == "invalid":
        assert_clean_error(result, str(jobs), "unknown key 'windw'", code=2)
    else:
        assert_clean_error(
            result,
            f"{jobs}.lock: another batch run holds the lock (pid 4242, started 2026-03-01T02:30:00+00:00)",
            code=75,
        )
        assert "(held: pid 4242, started 2026-03-01T02:30:00+00:00)" in result.stdout.splitlines()[0]


@pytest.mark.parametrize(
    "text, fragments",
    [
        (
            "[[job]]\nname = 'a'\ninput = 'a.csv'\nmodel = 'm'\noutput = 'o.csv'\nhiden_size = 4\n",
            ["job 'a'", "unknown key 'hiden_size'", "did you mean 'hidden_size'"],
        ),
        (
            "[defaults]\nrefit = 'weekly'\n[[job]]\nname = 'a'\ninput = 'a.csv'\nmodel = 'm'\noutput = 'o.csv'\n",
            ["[defaults]", "key 'refit'", "'weekly'"],
        ),
        ("[[job]]\nname = 'a'\ninput = 'a.csv'\nmodel = 'm'\n", ["job 'a'", "missing key 'output'"]),
        (
            "[[job]]\nname = 'a'\ninput = '*.csv'\nmodel = 'm'\noutput = 'o-{stem}.csv'\n",
            ["both write the model", "{stem}"],
        ),
        ("[job]\nname = 'a'\n", ["key 'job'", "must be an array"]),
        ("[[job]\n", ["not valid TOML", "line 1"]),
        (  # the metrics' project label and Pushgateway group: one line
            'project = "retail\\nnightly"\n[[job]]\nname = "a"\ninput = "a.csv"\nmodel = "m"\noutput = "o.csv"\n',
            ["key 'project'", "one line of printable text"],
        ),
    ],
)
def test_an_invalid_jobs_file_exits_2_naming_file_job_and_key(tmp_path, text, fragments):
    (tmp_path / "x.csv").write_text("a\n1\n")
    (tmp_path / "y.csv").write_text("a\n1\n")
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(text)
    assert_clean_error(invoke("batch", jobs), str(jobs), *fragments)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["jobs.toml", "x.csv", "y.csv"], (
        "an invalid file takes no lock, writes nothing"
    )


def readme_block(language: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) == 1, f"the README has one {language} block"
    return blocks[0]


def test_readme_jobs_example_is_valid(tmp_path, tiny_csv):
    """The README's jobs file, with the sample data and two shops' fresh daily feeds: a dry run finds nothing wrong."""
    shutil.copytree(DATA, tmp_path / "data")
    (tmp_path / "incoming").mkdir()
    for shop in ("north", "south"):
        feed = pd.read_csv(tiny_csv, usecols=["AAPL"]).rename(columns={"AAPL": "sales"})
        feed.insert(0, "day", pd.date_range(end=datetime.date.today(), periods=len(feed), freq="D").date)
        feed.to_csv(tmp_path / "incoming" / f"shop-{shop}.csv", index=False)
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(readme_block("toml"))
    result = invoke("batch", jobs, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines()[1:]] == [
        "stocks",
        "shops/shop-north",
        "shops/shop-south",
    ]


def test_readme_crontab_line_works_as_written(tmp_path, tiny_csv):
    """The README's crontab line, run as cron would (/bin/sh, a bare environment, from the home directory): all of
    the log goes to batch.log; a good night prints nothing, so cron mails nothing, and a bad one prints the errors."""
    line = next(
        line
        for line in readme_block("crontab").splitlines()
        if line and not line.startswith("#") and "=" not in line.split()[0]
    )
    command = line.split(None, 5)[5].replace("\\%", "%")
    project = re.search(r"cd (\S+)", command)[1]
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "forecaster").symlink_to(FORECASTER)
    place_data(tmp_path, tiny_csv, "nightly")
    write_jobs(tmp_path, job("nightly"))
    home = tmp_path / "home"
    home.mkdir()
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(home), "SHELL": "/bin/sh", "LOGNAME": "cron"}

    def cron() -> subprocess.CompletedProcess:
        return subprocess.run(
            ["/bin/sh", "-c", command.replace(project, str(tmp_path))],
            cwd=home,
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    good = cron()
    assert (good.returncode, good.stdout, good.stderr) == (0, "", ""), (good, (tmp_path / "batch.log").read_text())
    assert (
        "job nightly: ok in" in (tmp_path / "batch.log").read_text()
        and "all 1 jobs succeeded" in (tmp_path / "batch.log").read_text()
    )
    assert len(pd.read_csv(tmp_path / "out" / f"nightly-{TODAY}.csv")) == 3
    (tmp_path / "nightly.csv").unlink()  # the feed did not arrive
    bad = cron()
    assert bad.returncode == 75 and bad.stdout == ""  # late: the next try may find it
    assert "job nightly: late: " in bad.stderr and bad.stderr.splitlines()[-1].startswith(
        "forecaster: error: 1 of 1 jobs failed"
    )
    log = (tmp_path / "batch.log").read_text()
    assert log.count("jobs.toml: 1 jobs") == 2 and "job nightly: late: " in log, (
        "the log file gets both nights, in full"
    )


def test_the_summary_lists_the_older_summaries_its_keep_deleted(tmp_path, tiny_csv, base_model):
    """As docs/operations.md promises: the deleted files are listed in the summary (removed), not in the log only."""
    place_data(tmp_path, tiny_csv, "kept")
    place_model(base_model, tmp_path / "models" / "kept")
    (tmp_path / "runs").mkdir()
    older = [tmp_path / "runs" / f"summary-2026-01-0{day}.json" for day in (1, 2)]
    for path in older:
        path.write_text("{}\n")
    jobs = write_jobs(tmp_path, job("kept", refit="never"), top={"summary": "runs/summary-{date}.json", "keep": 1})
    result = invoke("batch", jobs)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "runs" / f"summary-{TODAY}.json").read_text())
    assert summary["removed"] == [str(path) for path in reversed(older)] and summary["status"] == "ok"
    assert sorted(path.name for path in (tmp_path / "runs").iterdir()) == [f"summary-{TODAY}.json"]


def test_job_runs_only_the_jobs_it_selects_and_a_dry_run_lists_them_as_json(tmp_path, tiny_csv, base_model):
    """--job NAME or glob (issue 24): one job per scheduler task, under the run's lock, summary and metrics."""
    names = ("east", "west", "north")
    place_data(tmp_path, tiny_csv, *names)
    for name in names:
        place_model(base_model, tmp_path / "models" / name)
    jobs = write_jobs(tmp_path, *(job(name, refit="never") for name in names), top={"summary": "summary.json"})
    result = invoke("batch", jobs, "--job", "e*", "--job", "north")
    assert result.returncode == 0, result.stderr
    assert sorted(summary_of(tmp_path / "summary.json")) == ["east", "north"]
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [f"east-{TODAY}.csv", f"north-{TODAY}.csv"]
    assert_clean_error(invoke("batch", jobs, "--job", "south"), "--job 'south' selects no job; its jobs are east")

    listed = invoke("batch", jobs, "--dry-run", "--json", "--shard", "1/2")
    assert listed.returncode == 0, listed.stderr
    plan = json.loads(listed.stdout)
    assert plan["shard"] == "1/2" and plan["lock"] == f"{jobs}.shard-1-of-2.lock" and plan["problem"] is None
    entries = {entry["name"]: entry for entry in plan["jobs"]}
    assert set(entries) == {name for name in names if in_shard(name, 1, 2)} and entries
    for name, entry in entries.items():
        assert (entry["input"], entry["model"], entry["plan"]) == (
            str(tmp_path / f"{name}.csv"),
            str(tmp_path / "models" / name),
            "reuse",
        )
    assert_clean_error(invoke("batch", jobs, "--json"), "--json prints a dry run's plan of the jobs: give --dry-run")


def test_a_jobs_limits_apply_when_its_model_is_read_to_decide(tmp_path, tiny_csv, base_model):
    """The run's --limit is lower than the model.json; the job's own limits raise it: the model is read, and reused."""
    place_data(tmp_path, tiny_csv, "kept")
    place_model(base_model, tmp_path / "models" / "kept")
    jobs = write_jobs(tmp_path, job("kept", limits={"model_json_bytes": "1MB"}))
    result = invoke("batch", jobs, "--dry-run", "--limit", "model_json_bytes=1000")
    assert result.returncode == 0, result.stderr
    assert "reuse" in result.stdout and "unusable" not in result.stdout, result.stdout


def test_a_job_another_run_is_working_on_waits_for_it_and_then_reuses_its_model(tmp_path, tiny_csv, base_model):
    """A shard and the whole batch, or two --job runs, never work on one job at once (issue 24): its lock beside its
    model. The second run to reach the job waits for the lock, then decides again: the model the other run refitted
    meanwhile is reused, not fitted twice in a night (issue 38), and the job's forecast written."""
    place_data(tmp_path, tiny_csv, "busy", "free")
    place_model(base_model, tmp_path / "models" / "busy", age=datetime.timedelta(hours=2))
    place_model(base_model, tmp_path / "models" / "free")
    jobs = write_jobs(
        tmp_path, job("busy", refit="older-than:1h"), job("free", refit="never"), top={"summary": "summary.json"}
    )
    models = tmp_path / "models"
    holder = subprocess.Popen(  # another run refitting the job: it holds the lock, makes the model new, lets go
        [sys.executable, "-c", REFIT_UNDER_LOCK, str(models / ".busy.lock"), str(models / "busy" / "model.json")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    result = invoke("batch", jobs, "--shard", "1/1")  # a shard's run lock is its own: only the job's lock meets
    assert holder.wait() == 0
    assert result.returncode == 0, result.stderr
    summary = summary_of(tmp_path / "summary.shard-1-of-1.json")
    assert summary["busy"]["status"] == summary["free"]["status"] == "ok"
    assert summary["busy"]["refitted"] is False
    assert summary["busy"]["reason"].startswith("refitted meanwhile by another run on this input (the model is 2.")
    assert (tmp_path / "out" / f"busy-{TODAY}.csv").is_file() and not (models / "busy.previous").exists()


#: hold the flock of the file argv[1] for a second and, as a refit would, make the model argv[2] new; say when held
REFIT_UNDER_LOCK = (
    "import datetime, fcntl, json, pathlib, sys, time\n"
    "with open(sys.argv[1], 'a') as lock:\n"
    "    fcntl.flock(lock, fcntl.LOCK_EX); print('held', flush=True); time.sleep(1)\n"
    "    card = pathlib.Path(sys.argv[2]); metadata = json.loads(card.read_text())\n"
    "    metadata['created'] = datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')\n"
    "    card.write_text(json.dumps(metadata))\n"
)


def test_three_shards_and_an_unsharded_run_started_together_fit_each_job_once_a_night(tmp_path, tiny_csv):
    """Issue 38, as an operator saw it: a sharded and an unsharded run started together refitted the same job twice,
    and .previous was then tonight's first fit. Over two nights, three shards and a whole run at once: each job is
    refitted by exactly one of them, the others reuse its model, and .previous holds the night before's."""
    names = ["north", "south", "east"]
    jobs = write_jobs(tmp_path, *(job(name) for name in names), top={"summary": "summaries/summary.json"})
    (tmp_path / "summaries").mkdir()
    table = pd.read_csv(tiny_csv)
    created_at: dict[str, str] = {}
    for night, rows in enumerate((50, 60)):  # the second night's feed has ten more rows: every job refits
        for name in names:
            table.head(rows).to_csv(tmp_path / f"{name}.csv", index=False)
        before = set((tmp_path / "summaries").iterdir())
        runs = [Background(jobs, "--shard", f"{k}/3") for k in (1, 2, 3)] + [Background(jobs)]
        try:
            assert all(run.finish() == 0 for run in runs), [run.stderr for run in runs]
        finally:
            for each in runs:
                each.kill()
        entries = [
            entry
            for path in sorted(set((tmp_path / "summaries").iterdir()) - before)
            for entry in json.loads(path.read_text())["jobs"]
        ]
        assert len(entries) == 2 * len(names), "each job in its shard's summary and the whole run's"
        assert all(entry["status"] == "ok" for entry in entries)
        refits = collections.Counter(entry["name"] for entry in entries if entry["refitted"])
        assert refits == dict.fromkeys(names, 1), f"night {night + 1}: {entries}"
        for name in names:
            model = tmp_path / "models" / name
            if night == 1:
                assert created(model.with_name(f"{name}.previous")) == created_at[name], "the night before's model"
            created_at[name] = created(model)


def test_retry_runs_only_what_today_leaves_to_retry_and_exits_as_the_night_stands(tmp_path, tiny_csv, base_model):
    """Issue 38: after a night with one failure for good and one that may pass, the scheduler's retry ran nothing,
    as the run exited 1. With --retry (what every recipe runs) the exit is the night's: 75 while a job may pass on
    another try, so the scheduler retries; a retry runs only those jobs, not the ones ok or failed for good; 1 once
    only failures for good are left."""
    place_data(tmp_path, tiny_csv, "good")
    (tmp_path / "bad.csv").write_text(tiny_csv.read_text().replace("\n", "\nnot-a-date,1,2\n", 1))
    for name in ("good", "bad", "absent"):
        place_model(base_model, tmp_path / "models" / name)
    jobs = write_jobs(
        tmp_path, *(job(name, refit="never") for name in ("good", "bad", "absent")), top={"summary": "summary.json"}
    )
    first = invoke("batch", jobs, "--retry")  # no summary yet today: every job runs
    assert first.returncode == 75, first.stderr
    assert first.stderr.splitlines()[-1] == (
        f"forecaster: error: 2 of 3 jobs failed: bad, absent; absent may succeed if tried again; "
        f"see {tmp_path}/summary.json"
    )
    shutil.copy(tiny_csv, tmp_path / "absent.csv")  # the late feed comes
    second = invoke("batch", jobs, "--retry")
    assert second.returncode == 1, second.stderr
    assert second.stderr.splitlines()[-1] == (
        f"forecaster: error: every job run succeeded; failed for good earlier today, not run again: bad; "
        f"see {tmp_path}/summary.1.json"
    )
    assert list(summary_of(tmp_path / "summary.1.json")) == ["absent"], "only the job left to retry ran"
    assert summary_of(tmp_path / "summary.1.json")["absent"]["status"] == "ok"
    status = invoke("batch", jobs, "--status")
    assert status.returncode == 1 and "to fix (a rerun would fail again): bad" in status.stdout, status.stdout
    third = invoke("batch", jobs, "--retry")  # nothing left to retry: nothing runs, the night still has bad
    assert third.returncode == 1 and "0 of 3 jobs left to retry" in third.stderr, third.stderr


def test_a_retry_after_midnight_belongs_to_the_night_its_run_id_names(tmp_path, tiny_csv, base_model):
    """docs/scaling.md promised it, the code did not keep it: a night that began before midnight wrote its summary
    under the day before's date, and a retry after midnight, given the night's run id, read only the new day's
    summaries, found none of the night's, and ran every job again. The night's summaries are read from the day
    before too: the retry runs the job left to retry alone, and status with the run id gives the night's table."""
    names = ("good", "absent", "other")
    place_data(tmp_path, tiny_csv, "good", "other")
    for name in names:
        place_model(base_model, tmp_path / "models" / name)
    jobs = write_jobs(tmp_path, *(job(name, refit="never") for name in names), top={"summary": "runs/s-{date}.json"})
    assert invoke("batch", jobs, "--run-id", "night-1").returncode == 75  # absent's feed is late
    yesterday = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
    (tmp_path / "runs" / f"s-{TODAY}.json").rename(tmp_path / "runs" / f"s-{yesterday}.json")  # the night began then
    assert invoke("batch", jobs, "--run-id", "other-night").returncode == 75  # today's summary of another run
    shutil.copy(tiny_csv, tmp_path / "absent.csv")  # the late feed comes
    retry = invoke("batch", jobs, "--retry", "--run-id", "night-1")
    assert retry.returncode == 0, retry.stderr
    assert list(summary_of(tmp_path / "runs" / f"s-{TODAY}.1.json")) == ["absent"], "only the job left to retry ran"
    night = invoke("batch", "status", jobs, "--run-id", "night-1")
    assert night.returncode == 0, night.stdout + night.stderr
    table = status_table(night.stdout)
    assert {name: (row["status"], row["run"]) for name, row in table.items()} == dict.fromkeys(names, ("ok", "night-1"))
    assert table["good"]["summary"] == f"s-{yesterday}.json" and table["absent"]["summary"] == f"s-{TODAY}.1.json"
    assert night.stdout.splitlines()[0].startswith(f"{jobs}: 3 jobs, 2 summaries of the night night-1 in ")
    assert invoke("batch", "status", jobs).returncode == 0, "today's runs: other-night's, then the retry"


def test_a_late_feed_is_waited_for_and_one_still_late_when_the_wait_ends_exits_75(
    tmp_path, tiny_csv, base_model, background
):
    """Issue 38: a missing or stale feed is more often late than wrong. The run looks for it again while the job's
    wait_for_input lasts, runs the job once it comes, and a feed still late at the end of the wait fails its job as
    late, retryable: exit 75, which every recipe retries."""
    for name in ("arrives", "refreshed", "absent"):
        place_model(base_model, tmp_path / "models" / name)
    place_data(tmp_path, tiny_csv, "refreshed")  # its newest row is years old: stale
    # a wait of 30 s looks again every 1.5 s (a twentieth of it): the feeds come at once, which 30 s leaves ample room
    # for however busy the machine, and the run then finds them within 1.5 s rather than the 6 s of a longer wait
    jobs = write_jobs(
        tmp_path,
        job("arrives", refit="never", wait_for_input="30s"),
        job("refreshed", refit="never", max_age="5d", wait_for_input="30s"),
        job("absent", refit="never", wait_for_input="1s"),
        top={"summary": "summary.json"},
    )
    running = background(jobs)
    running.wait_for(r"job arrives: input late \(.*arrives.csv: no such file\): looking again in \d+s")
    shutil.copy(tiny_csv, tmp_path / "arrives.tmp")  # each feed put in place whole, as a run looking may read it
    os.replace(tmp_path / "arrives.tmp", tmp_path / "arrives.csv")
    running.wait_for(r"job refreshed: input late \(.*refreshed.csv: stale feed: .*\): looking again in \d+s")
    fresh = pd.read_csv(tiny_csv)  # the same values, on the business days up to today
    fresh["date"] = pd.bdate_range(end=datetime.date.today(), periods=len(fresh)).strftime("%Y-%m-%d")
    fresh.to_csv(tmp_path / "refreshed.tmp", index=False)
    os.replace(tmp_path / "refreshed.tmp", tmp_path / "refreshed.csv")
    assert running.finish() == 75, running.stderr
    summary = summary_of(tmp_path / "summary.json")
    assert {name: entry["status"] for name, entry in summary.items()} == {
        "arrives": "ok",
        "refreshed": "ok",
        "absent": "late",
    }
    assert all((tmp_path / "out" / f"{name}-{TODAY}.csv").is_file() for name in ("arrives", "refreshed"))
    assert summary["absent"]["retryable"] is True
    assert summary["absent"]["error"] == f"{tmp_path}/absent.csv: no such file; waited for it 1s (wait_for_input)"
    _, other = log_lines(running.stderr)
    again = "each may succeed if the run is tried again"
    assert other == [f"forecaster: error: 1 of 3 jobs failed: absent; {again}; see {tmp_path}/summary.json"]


def test_a_missing_input_without_wait_for_input_is_late_at_once(tmp_path, tiny_csv, base_model):
    place_model(base_model, tmp_path / "models" / "absent")
    result = invoke("batch", write_jobs(tmp_path, job("absent", refit="never"), top={"summary": "summary.json"}))
    assert result.returncode == 75, result.stderr
    entry = summary_of(tmp_path / "summary.json")["absent"]
    assert (entry["status"], entry["retryable"]) == ("late", True)
    assert entry["error"] == f"{tmp_path}/absent.csv: no such file"


def status_table(stdout: str) -> dict[str, dict[str, str]]:
    """--status's table: job -> its columns (status, shard, host, run, summary) and its error, read at the offsets
    of the header's columns (a status may hold a space: timed out)."""
    header, *rows = [line for line in stdout.splitlines()[1:] if not line.startswith("to ")]
    names = header.split()
    starts = [header.index(name) for name in names]
    table = {}
    for row in rows:
        cells = [row[start:end].strip() for start, end in zip(starts, [*starts[1:], None], strict=True)]
        summary, _, error = cells[-1].partition(" ")
        table[cells[0]] = dict(zip(names[1:], [*cells[1:-1], summary], strict=True)) | {"error": error.strip()}
    return table


def test_status_merges_the_shards_summaries_into_one_exit_code(tmp_path, tiny_csv, base_model):
    """Issue 24: every shard's last summary read back, each job as the newest records it, one status and exit code."""
    names = ("east", "west", "north", "south")
    place_data(tmp_path, tiny_csv, *names)
    for name in names:
        place_model(base_model, tmp_path / "models" / name)
    jobs = write_jobs(tmp_path, *(job(name, refit="never") for name in names), top={"summary": "runs/s-{date}.json"})
    assert invoke("batch", jobs, "--shard", "1/2").returncode == 0
    waiting = invoke("batch", jobs, "--status")  # shard 2 has not run yet: its jobs may pass once it does
    assert waiting.returncode == 75, waiting.stderr
    second = sorted(name for name in names if in_shard(name, 2, 2))
    table = status_table(waiting.stdout)
    assert [name for name, row in table.items() if row["error"] == "not run today"] == [
        name for name in names if name in second
    ]
    assert waiting.stdout.splitlines()[-1] == f"to retry (each may pass on a rerun): {', '.join(second)}"
    (tmp_path / "models" / second[0] / "model.json").write_text("{}")  # a job of shard 2 will fail for good
    assert invoke("batch", jobs, "--shard", "2/2").returncode == 1
    merged = invoke("batch", jobs, "--status")
    assert_clean_error(merged, f"1 of 4 jobs not ok today: {second[0]}", code=1)
    assert merged.stdout.splitlines()[0] == (
        f"{jobs}: 4 jobs, 2 summaries of today's runs in {tmp_path}/runs from {socket.gethostname()}"
    )
    assert [row["status"] for row in status_table(merged.stdout).values()].count("ok") == 3
    assert merged.stdout.splitlines()[-1] == f"to fix (a rerun would fail again): {second[0]}"


def test_status_over_two_hosts_summaries_gives_one_table_one_exit_code_and_the_jobs_to_retry(
    tmp_path, tiny_csv, base_model
):
    """Issue 38: --status read one folder, in the order of its files' times. Two hosts (unshare's) write their
    shards' summaries on their own disks, copied afterwards into the folders of one (the copies' times are the
    copy's, in any order): --status gives one table, each job as the run that finished last records it, one exit
    code for the night, and the jobs left to retry."""
    names = ("east", "west", "north", "south")
    place_data(tmp_path, tiny_csv, *names)
    for name in names:
        place_model(base_model, tmp_path / "models" / name)
    jobs = write_jobs(tmp_path, *(job(name, refit="never") for name in names))
    broken, late = sorted(name for name in names if in_shard(name, 2, 2))  # north, south: shard 2 of 2's

    def on(host: str, *selection: str) -> subprocess.CompletedProcess:  # each host's summaries on its own disk
        return as_host(host, "batch", jobs, *selection, "--summary", f"{host}/s-{{date}}.json", cwd=tmp_path)

    assert on("alpha", "--shard", "1/2", "--run-id", "night-1").returncode == 0
    (tmp_path / "models" / broken / "model.json").write_text("{}")  # fails for good
    (tmp_path / f"{late}.csv").unlink()  # its feed is late: may pass on a rerun
    assert on("beta", "--shard", "2/2", "--run-id", "night-1").returncode == 1
    shutil.rmtree(tmp_path / "models" / broken)
    place_model(base_model, tmp_path / "models" / broken)  # fixed, and rerun alone
    ran = on("beta", "--job", broken)
    assert ran.returncode == 0, ran.stderr

    collected = tmp_path / "collected"
    rerun, shard = f"beta/s-{TODAY}.json", f"beta/s-{TODAY}.shard-2-of-2.json"
    for name in (f"alpha/s-{TODAY}.shard-1-of-2.json", rerun, shard):  # beta's rerun copied first: the older copy
        (collected / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / name, collected / name)
        time.sleep(0.01)
    assert (collected / rerun).stat().st_mtime_ns < (collected / shard).stat().st_mtime_ns
    night = invoke("batch", jobs, "--status", "--summary", collected / "s-{date}.json")  # reads files: this process
    assert_clean_error(night, f"1 of 4 jobs not ok today: {late}", code=75)
    lines = night.stdout.splitlines()
    assert lines[0] == f"{jobs}: 4 jobs, 3 summaries of today's runs in {collected} from alpha, beta"
    table = status_table(night.stdout)
    assert {name: (row["status"], row["host"]) for name, row in table.items()} == {
        name: ("late" if name == late else "ok", "alpha" if in_shard(name, 1, 2) else "beta") for name in names
    }
    assert table[broken]["summary"] == f"beta/s-{TODAY}.json" and table[broken]["shard"] == "-"
    assert {table[name]["run"] for name in names if name != broken} == {"night-1"}
    assert table[late]["shard"] == "2/2" and table[late]["error"].endswith(f"{late}.csv: no such file")
    assert lines[-1] == f"to retry (each may pass on a rerun): {late}"


def group_of(path: str) -> dict[str, str]:
    """The labels of a push's URL path, /metrics/job/J/L1/V1/...: a value with a "/" is base64url-encoded and its
    label written L@base64, as the Pushgateway's API reads it."""
    words = [urllib.parse.unquote(word) for word in path.split("/")[2:]]  # job, J, L1, V1...
    return {
        label.removesuffix("@base64"): base64.urlsafe_b64decode(value).decode() if label.endswith("@base64") else value
        for label, value in zip(words[::2], words[1::2], strict=True)
    }


class Pushgateway(http.server.BaseHTTPRequestHandler):
    """A Pushgateway's push API, on a local port: each PUT to /metrics/job/J/L1/V1/... is kept (path, content type,
    body); as the real one, it sets the path's labels on every sample (overwriting a sample's own) and refuses a push
    in which two samples are then alike (400)."""

    def do_PUT(self) -> None:
        from prometheus_client.parser import text_string_to_metric_families

        body = self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8")
        grouping = group_of(self.path)
        samples = [
            (sample.name, tuple(sorted((sample.labels | grouping).items())))
            for family in text_string_to_metric_families(body)
            for sample in family.samples
        ]
        alike = len(samples) != len(set(samples))
        if not alike:
            self.server.pushes.append((self.path, self.headers["Content-Type"], body))  # type: ignore[attr-defined]
        self.send_response(400 if alike else 200)
        self.end_headers()

    def log_message(self, *args: object) -> None:  # the test's output is not the place
        pass


@pytest.fixture
def pushgateway():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pushgateway)
    server.pushes = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_metrics_push_to_a_pushgateway_in_the_group_of_the_project_and_shard(
    tmp_path, tiny_csv, base_model, pushgateway
):
    """Issue 24: --metrics-push URL pushes the run's metrics through prometheus_client, each shard in its own group so
    that shards do not replace one another's (issue 38: of the project, named by the host and jobs file unless the
    file names it); a gateway that cannot be reached fails the run in one line."""
    place_data(tmp_path, tiny_csv, "east", "west")
    for name in ("east", "west"):
        place_model(base_model, tmp_path / "models" / name)
    jobs = write_jobs(tmp_path, job("east", refit="never"), job("west", refit="never"), top={"summary": "s.json"})
    url = f"http://127.0.0.1:{pushgateway.server_address[1]}"
    result = invoke("batch", jobs, "--metrics-push", url, "--shard", "1/1", "--metrics", tmp_path / "m.prom")
    assert result.returncode == 0, result.stderr
    ((path, kind, body),) = pushgateway.pushes
    project = f"{socket.gethostname()}:{jobs}"
    assert group_of(path) == {"job": "forecaster_batch", "project": project, "shard": "1-of-1"}
    assert kind.startswith("text/plain")
    pushed, filed = (
        {(name, tuple(sorted(labels))): value for (name, labels), value in parse_prometheus(text).items()}
        for text in (body, (tmp_path / "m.shard-1-of-1.prom").read_text())
    )
    assert pushed == filed, "the gateway gets what the textfile holds"
    group = (("project", project), ("shard", "1-of-1"))
    assert pushed[("forecaster_batch_run_exit_code", group)] == 0
    assert {labels for name, labels in pushed if name == "forecaster_batch_job_success"} == {
        (("batch_job", "east"), *group),
        (("batch_job", "west"), *group),
    }, "each job's series apart, under a label the gateway's job label does not overwrite"

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        unreachable = f"http://127.0.0.1:{closed.getsockname()[1]}"
    failed = invoke("batch", jobs, "--metrics-push", unreachable)
    assert failed.returncode == 75, failed.stderr  # usually a gateway down for a while: retryable (issue 38)
    assert f"ERROR --metrics-push {unreachable}: could not push the metrics" in failed.stderr
    assert failed.stderr.splitlines()[-1] == (
        f"forecaster: error: all 2 jobs succeeded, but the metrics to {unreachable} could not be written"
    )
    assert summary_of(tmp_path / "s.json")["east"]["status"] == "ok", "the jobs and their summary are as they were"
    for wrong in ("http://127.0.0.1:notaport", "ftp://gateway"):  # refused before the night's jobs run
        assert_clean_error(invoke("batch", jobs, "--metrics-push", wrong), f"--metrics-push {wrong!r}")


def as_host(host: str, *args: object, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """The installed command, run as on another host: in namespaces of its own (unshare: a user namespace, to be
    allowed a host name, and a UTS one) whose host name is ``host``."""
    namespaces = ["unshare", "--user", "--map-root-user", "--uts"]
    if (
        shutil.which("unshare") is None
        or subprocess.run([*namespaces, "true"], capture_output=True, check=False).returncode
    ):
        pytest.skip("unshare cannot make a user and UTS namespace here: no second host name to run as")
    rename = "import os, socket, sys; socket.sethostname(sys.argv[1]); os.execv(sys.argv[2], sys.argv[2:])"
    return subprocess.run(
        [*namespaces, sys.executable, "-c", rename, host, str(FORECASTER), *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_two_hosts_with_the_same_jobs_file_path_push_to_groups_of_their_own(
    tmp_path, tiny_csv, base_model, pushgateway
):
    """Issue 38: two hosts whose jobs files have the same path (/srv/forecaster/jobs.toml everywhere) pushed to one
    group, each replacing the other's; the group is now the project's, by default the host's name and the jobs
    file's path, or the file's 'project' for a project whose shards run on whichever host."""
    place_data(tmp_path, tiny_csv, "east")
    place_model(base_model, tmp_path / "models" / "east")
    jobs = write_jobs(tmp_path, job("east", refit="never"))
    url = f"http://127.0.0.1:{pushgateway.server_address[1]}"
    for host in ("alpha", "beta"):
        done = as_host(host, "batch", jobs, "--metrics-push", url, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    groups = [group_of(path) for path, _, _ in pushgateway.pushes]
    assert groups == [
        {"job": "forecaster_batch", "project": f"{host}:{jobs}", "shard": "none"} for host in ("alpha", "beta")
    ]
    pushed = parse_prometheus(pushgateway.pushes[1][2])
    assert pushed[("forecaster_batch_run_exit_code", (("project", f"beta:{jobs}"), ("shard", "none")))] == 0

    write_jobs(tmp_path, job("east", refit="never"), top={"project": "retail"})
    done = invoke("batch", jobs, "--metrics-push", url, "--shard", "1/1")  # a third host, this one: no host in it
    assert done.returncode == 0, done.stderr
    assert group_of(pushgateway.pushes[2][0]) == {"job": "forecaster_batch", "project": "retail", "shard": "1-of-1"}


def test_a_run_id_the_scheduler_gives_is_every_shard_s(tmp_path, monkeypatch):
    """Issue 38: each shard had a run id of its own; one night's shards now share the one --run-id gives, or the
    scheduler's (Airflow's DAG run before a SLURM job array's), in their summaries, JSON log lines and metrics.

    The runs fork no job (no input is there) and are run in this process, in the scheduler's environment each: what
    is tested is what the run makes of its options and variables, not a fresh interpreter's start (~1 s each)."""
    jobs = write_jobs(tmp_path, *(job(name) for name in ("east", "west", "north")), top={"summary": "s-{date}.json"})
    night = "scheduled__2026-03-01T02:30:00+00:00"
    given = {  # each shard's: no input is there, so each job fails at once; the records are written all the same
        "1/3": (["--run-id", night], {"AIRFLOW_CTX_DAG_RUN_ID": "", "SLURM_ARRAY_JOB_ID": "77"}, "--run-id"),
        "2/3": ([], {"AIRFLOW_CTX_DAG_RUN_ID": night, "SLURM_ARRAY_JOB_ID": "77"}, "AIRFLOW_CTX_DAG_RUN_ID"),
        "3/3": ([], {"AIRFLOW_CTX_DAG_RUN_ID": "", "SLURM_ARRAY_JOB_ID": night}, "SLURM_ARRAY_JOB_ID"),
    }
    for shard, (options, environment, source) in given.items():
        metrics = tmp_path / "m.prom"
        for variable, value in environment.items():
            monkeypatch.setenv(variable, value)
        done = invoke("batch", jobs, "--shard", shard, "--log-format", "json", "--metrics", metrics, *options)
        tag = shard.replace("/", "-of-")
        summary = json.loads((tmp_path / f"s-{TODAY}.shard-{tag}.json").read_text())
        assert (summary["run_id"], summary["run_id_from"], summary["shard"]) == (night, source, shard), done.stderr
        assert summary["host"] == socket.gethostname()
        lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
        assert lines and all(line["run"] == night and line["shard"] == shard for line in lines)
        assert any(f"; run {night} (from {source})" in line["message"] for line in lines)
        samples = parse_prometheus((tmp_path / f"m.shard-{tag}.prom").read_text())
        assert [labels for name, labels in samples if name == "forecaster_batch_run_info"] == [
            (
                ("project", f"{socket.gethostname()}:{jobs}"),
                ("shard", tag),
                ("run_id", night),
                ("host", socket.gethostname()),
            )
        ]

    for variable in ("AIRFLOW_CTX_DAG_RUN_ID", "SLURM_ARRAY_JOB_ID"):  # as before the first run
        monkeypatch.delenv(variable, raising=False)
    for wrong in ("two\nlines", " padded"):
        for mode in ([], ["--dry-run"]):  # refused before anything runs, by the run and its dry run alike
            refused = invoke("batch", jobs, "--run-id", wrong, *mode)
            assert_clean_error(refused, f"--run-id: {wrong!r} is not a run id", code=2)
    monkeypatch.setenv("AIRFLOW_CTX_DAG_RUN_ID", "a\tb")
    refused = invoke("batch", jobs)
    assert_clean_error(refused, "AIRFLOW_CTX_DAG_RUN_ID: 'a\\tb' is not a run id", code=2)
    assert not (tmp_path / f"s-{TODAY}.json").exists()


def scraped(directory: Path) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every series of the metrics files in ``directory``, their texts parsed together by prometheus_client's parser,
    as node_exporter's textfile collector gathers the folder: (name, labels), one entry a sample."""
    from prometheus_client.parser import text_string_to_metric_families

    text = "".join(path.read_text() for path in sorted(directory.glob("*.prom")))
    return [
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def test_metrics_of_two_shard_counts_and_a_rerun_hold_no_series_twice(tmp_path, tiny_csv, base_model):
    """Issue 38: after a night of two shards, a --job rerun's file held its job's series a second time, and the
    files of a shard count no longer run stayed for ever (node_exporter: "collected before with the same name and
    label values"). Every series now names its shard, and the run that changes the shard count removes the others'
    files; a job's last success carries over from the rerun's."""
    names = ("east", "west", "north", "south")
    place_data(tmp_path, tiny_csv, *names)
    for name in names:
        place_model(base_model, tmp_path / "models" / name)
    jobs = write_jobs(tmp_path, *(job(name, refit="never") for name in names))
    metrics = tmp_path / "textfiles" / "forecaster.prom"
    for selection in (["--shard", "1/2"], ["--shard", "2/2"], ["--job", "east"]):
        done = invoke("batch", jobs, "--metrics", metrics, *selection)  # its subject is the files: this process
        assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in metrics.parent.iterdir()) == [
        "forecaster.prom",
        "forecaster.shard-1-of-2.prom",
        "forecaster.shard-2-of-2.prom",
    ]
    series = scraped(metrics.parent)
    assert len(series) == len(set(series)), [found for found in series if series.count(found) > 1]
    east = {  # east's last success in each file: its shard's, and the rerun's, newer
        path.name: value
        for path in metrics.parent.iterdir()
        for (name, labels), value in parse_prometheus(path.read_text()).items()
        if name == "forecaster_batch_job_last_success_timestamp_seconds" and ("batch_job", "east") in labels
    }
    shard = "forecaster.shard-2-of-2.prom" if in_shard("east", 2, 2) else "forecaster.shard-1-of-2.prom"
    assert east.keys() == {shard, "forecaster.prom"} and east["forecaster.prom"] > east[shard]

    done = invoke("batch", jobs, "--metrics", metrics, "--shard", "1/3")
    assert done.returncode == 0, done.stderr
    assert [path.name for path in metrics.parent.iterdir()] == ["forecaster.shard-1-of-3.prom"]
    for removed in ("forecaster.prom", "forecaster.shard-1-of-2.prom", "forecaster.shard-2-of-2.prom"):
        assert f"removed {metrics.parent / removed}: the metrics of another shard count" in done.stderr
    series = scraped(metrics.parent)
    assert len(series) == len(set(series))


def test_a_plan_of_shards_evens_out_today_s_cost_and_every_shard_follows_it(tmp_path, tiny_csv):
    """Issue 24: --plan-shards N deals the jobs by the seconds today's summaries record (every shard's; a rerun's
    record replacing the first), dearest first, each to the shard with the least so far; every shard given the plan
    runs its share, and a job the plan does not name (added since) lands by its name's hash, in one shard only."""
    names = ["a", "b", "c", "d", "e"]
    place_data(tmp_path, tiny_csv, *names, "f")
    jobs = write_jobs(tmp_path, *(job(name) for name in names), top={"summary": "runs/s-{date}.json"})
    (tmp_path / "runs").mkdir()
    assert_clean_error(invoke("batch", jobs, "--plan-shards", 2), "no summary of today's runs", "to plan from")
    for number, (name, seconds) in enumerate(
        [
            (f"s-{TODAY}.shard-1-of-2.json", {"a": ("ok", 3000), "c": ("ok", 10)}),
            (f"s-{TODAY}.shard-2-of-2.json", {"b": ("ok", 5000), "d": ("ok", 10)}),  # e: not recorded
            (f"s-{TODAY}.shard-2-of-2.1.json", {"b": ("ok", 2900), "d": ("failed", 0.5)}),  # a rerun, later
        ]
    ):
        path = tmp_path / "runs" / name
        records = [{"name": job, "status": status, "seconds": taken} for job, (status, taken) in seconds.items()]
        path.write_text(json.dumps({"jobs": records}))
        os.utime(path, ns=(10**18 + number, 10**18 + number))
    planned = invoke("batch", jobs, "--plan-shards", 2)
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    # b's rerun took 2900 s; d's failed rerun says nothing of its cost (10 s); e costs the others' median, 1455 s
    assert plan["jobs"] == {"a": 1, "b": 2, "c": 1, "d": 1, "e": 2} and plan["seconds"] == [3020, 4355]
    (tmp_path / "plan.json").write_text(planned.stdout)

    write_jobs(tmp_path, *(job(name) for name in [*names, "f"]), top={"summary": "runs/s-{date}.json"})  # f: new
    shards = []
    for shard in ("1/2", "2/2"):
        listed = invoke("batch", jobs, "--dry-run", "--json", "--shard", shard, "--shard-plan", tmp_path / "plan.json")
        shards.append({entry["name"] for entry in json.loads(listed.stdout)["jobs"]})
    assert shards[0] - {"f"} == {"a", "c", "d"} and shards[1] - {"f"} == {"b", "e"}
    assert ("f" in shards[0]) != ("f" in shards[1]), "a job the plan does not name: in one shard, by its name"

    other = invoke("batch", jobs, "--dry-run", "--shard", "1/3", "--shard-plan", tmp_path / "plan.json")
    assert_clean_error(other, "a plan for 2 shards, not the 3 of --shard; plan again")
    assert_clean_error(invoke("batch", jobs, "--dry-run", "--shard-plan", tmp_path / "plan.json"), "give --shard K/N")
