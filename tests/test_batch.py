"""`forecaster batch` as cron runs it: real processes, real (tiny) training, real signals."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import DATA, FORECASTER, ROOT, assert_clean_error, jobs_file, run

TODAY = datetime.date.today().isoformat()
#: what every job of these tests trains with unless it says otherwise; the base model is fitted with the same
DEFAULTS = {"window": 8, "horizon": 3, "hidden_size": 4, "epochs": 2, "seed": 7}
#: a job that trains until it is stopped: the moment to send a signal "mid-job"
ENDLESS = {"refit": "always", "epochs": 1_000_000, "patience": 1_000_000}
TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} (INFO|WARNING|ERROR) ")


def write_jobs(directory: Path, *jobs: dict, defaults: dict = DEFAULTS, top: dict | None = None) -> Path:
    return jobs_file(directory, *jobs, defaults=defaults, top=top)


def job(name: str, **settings: object) -> dict:
    """A job reading ``<name>.csv`` beside the jobs file, writing models/<name> and out/<name>-<date>.csv."""
    return {"name": name, "input": f"{name}.csv", "model": f"models/{name}", "output": f"out/{name}-{{date}}.csv", **settings}


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory) -> Path:
    """60 trading days of two real series: enough windows for a validation split and 80% intervals."""
    path = tmp_path_factory.mktemp("data") / "tiny.csv"
    pd.read_csv(DATA / "stock.csv", usecols=["date", "AAPL", "MSFT"]).tail(60).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def base_model(tiny_csv, tmp_path_factory) -> Path:
    """One real fit with DEFAULTS on tiny.csv, copied into place wherever a test needs a saved model."""
    out = tmp_path_factory.mktemp("base") / "model"
    options = [item for key, value in DEFAULTS.items() for item in (f"--{key.replace('_', '-')}", value)]
    result = run("fit", tiny_csv, "--out", out, *options)
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
        metadata["created"] = (datetime.datetime.now(datetime.timezone.utc) - age).isoformat(timespec="seconds")
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
            self.process = subprocess.Popen([str(FORECASTER), "batch", str(jobs), *map(str, args)], stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=stderr)

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
    jobs = write_jobs(tmp_path,
                      job("good", levels=[80]),
                      {"name": "regions", "input": "regions/*.csv", "model": "models/{stem}", "output": "out/{name}/{stem}-{date}.csv"},
                      job("bad"),
                      job("diverges", lr=1e30, refit="always"),
                      {"name": "absent", "input": "absent-*.csv", "model": "models/absent-{stem}", "output": "out/absent-{stem}.csv"},
                      top={"summary": "runs/summary-{date}.json"})
    result = run("batch", jobs, "--workers", 2)
    assert result.returncode == 1, result.stderr

    logged, other = log_lines(result.stderr)
    assert other == [f"forecaster: error: 3 of 6 jobs failed: bad, diverges, absent; see {tmp_path}/runs/summary-{TODAY}.json"]
    assert "\x1b" not in result.stderr and "\r" not in result.stderr, "no colours or progress bars when stderr is not a terminal"
    starts = [number for number, line in enumerate(logged) if "started in process" in line]
    ends = [number for number, line in enumerate(logged) if re.search(r"job \S+: (ok in|failed)", line) and number > starts[0]]
    assert starts[1] < ends[0], f"--workers 2 starts a second job before the first ends: {logged}"
    pids = {int(pid) for pid in re.findall(r"started in process (\d+)", result.stderr)}
    assert len(pids) == 5 and os.getpid() not in pids, "one process per job that runs (absent fails before it starts)"

    summary = summary_of(tmp_path / "runs" / f"summary-{TODAY}.json")
    assert {name: entry["status"] for name, entry in summary.items()} == {
        "good": "ok", "regions/north": "ok", "regions/south": "ok", "bad": "failed", "diverges": "failed", "absent": "failed"}
    assert "line 2" in summary["bad"]["error"] and "not-a-date" in summary["bad"]["error"]
    assert "diverged" in summary["diverges"]["error"]
    assert "no file matches" in summary["absent"]["error"]
    good = summary["good"]
    assert good["refitted"] is True and good["reason"] == "no saved model yet" and good["input_rows"] == 60
    assert good["output"] == str(tmp_path / "out" / f"good-{TODAY}.csv") and good["seconds"] > 0 and good["error"] is None
    assert all(entry["output"] is None for name, entry in summary.items() if entry["status"] != "ok")

    forecast = pd.read_csv(good["output"])
    assert list(forecast.columns) == ["date", "AAPL", "AAPL_lower_80", "AAPL_upper_80", "MSFT", "MSFT_lower_80", "MSFT_upper_80"]
    assert len(forecast) == 3 and (forecast["AAPL_lower_80"] < forecast["AAPL"]).all()
    for region in ("north", "south"):
        assert len(pd.read_csv(tmp_path / "out" / "regions" / f"{region}-{TODAY}.csv")) == 3
        assert (tmp_path / "models" / region / "model.json").is_file()
    assert not (tmp_path / "models" / "diverges").exists() and not (tmp_path / "out" / f"bad-{TODAY}.csv").exists()
    assert leftovers(tmp_path) == []
    umask = os.umask(0o022)
    os.umask(umask)
    for path, mode in ((Path(good["output"]), 0o666), (tmp_path / "runs" / f"summary-{TODAY}.json", 0o666), (tmp_path / "models" / "good", 0o777),
                       (tmp_path / "models" / "good" / "weights.safetensors", 0o666)):
        assert stat.S_IMODE(path.stat().st_mode) == mode & ~umask, f"{path}: as readable as a file written directly"


def test_a_corrupt_model_json_fails_its_job_alone_and_an_unwritable_summary_fails_the_run(tmp_path, tiny_csv, base_model):
    place_data(tmp_path, tiny_csv, "corrupt", "fine")
    place_model(base_model, tmp_path / "models" / "fine")
    place_model(base_model, tmp_path / "models" / "corrupt")
    metadata = json.loads((tmp_path / "models" / "corrupt" / "model.json").read_text())
    (tmp_path / "models" / "corrupt" / "model.json").write_text(json.dumps({**metadata, "training": "x"}))
    jobs = write_jobs(tmp_path, job("corrupt", refit="never"), job("fine", refit="never"), top={"summary": "summary.json"})
    result = run("batch", jobs)
    assert result.returncode == 1, result.stderr
    summary = summary_of(tmp_path / "summary.json")
    assert summary["fine"]["status"] == "ok" and summary["corrupt"]["status"] == "failed"
    assert "'training' must be a JSON object" in summary["corrupt"]["error"]

    (tmp_path / "a-file").write_text("")
    result = run("batch", write_jobs(tmp_path, job("fine", refit="never")), "--summary", tmp_path / "a-file" / "summary.json")
    assert result.returncode == 1 and "summary" in result.stderr.splitlines()[-1], result.stderr
    assert (tmp_path / "out" / f"fine-{TODAY}.csv").is_file()


def test_refit_policies_then_an_idempotent_rerun(tmp_path, tiny_csv, base_model):
    """Each policy reuses or refits as it says, judged by the model's creation time; the same day's rerun changes nothing."""
    two_hours = datetime.timedelta(hours=2)
    place_data(tmp_path, tiny_csv, "always", "never", "same", "changed", "young", "old", "options")
    (tmp_path / "changed.csv").write_text(tiny_csv.read_text().rstrip("\n") + "0\n")  # the last value, times ten
    for name in ("always", "never", "same", "changed", "young", "old", "options"):
        place_model(base_model, tmp_path / "models" / name, age=two_hours)
    jobs = write_jobs(tmp_path, job("always", refit="always"), job("never", refit="never"), job("same"), job("changed"),
                      job("young", refit="older-than:1d"), job("old", refit="older-than:1h"), job("options", hidden_size=5),
                      defaults={**DEFAULTS, "refit": "if-data-changed"}, top={"summary": "summary.json"})
    before = {name: created(tmp_path / "models" / name) for name in ("always", "never", "same", "changed", "young", "old", "options")}

    first = run("batch", jobs, "--workers", 2)
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

    with open(tmp_path / "summary.json", "rb") as reader:
        first_summary = reader.read()
        second = run("batch", jobs, "--workers", 2, "--quiet")
        reader.seek(0)
        assert reader.read() == first_summary, "the summary is replaced, not rewritten in place"
    assert second.returncode == 0 and second.stderr == "", "--quiet: nothing on stderr when every job worked"
    again = {name: created(tmp_path / "models" / name) for name in before}
    assert {name for name in before if again[name] != after[name]} <= {"always"}
    assert {name for name, entry in summary_of(tmp_path / "summary.json").items() if entry["refitted"]} == {"always"}
    assert snapshot(tmp_path / "out") == outputs, "the same day, the same data: the same files"


def test_a_second_run_gets_75_and_a_crashed_job_does_not_stop_the_others(tmp_path, tiny_csv, base_model, background):
    place_data(tmp_path, tiny_csv, "slow", "quick")
    place_model(base_model, tmp_path / "models" / "quick")
    jobs = write_jobs(tmp_path, job("slow", **ENDLESS), job("quick", refit="never"), top={"summary": "summary.json"})
    first = background(jobs)
    slow = first.job_pid("slow")

    second = run("batch", jobs)
    assert_clean_error(second, f"{jobs}.lock", f"pid {first.process.pid}, started {TODAY}T", code=75)
    assert first.process.poll() is None, "the second run left the first alone"

    os.kill(slow, signal.SIGKILL)  # as the out-of-memory killer would
    assert first.finish() == 1, first.stderr
    summary = summary_of(tmp_path / "summary.json")
    assert summary["slow"]["status"] == "crashed" and "killed by SIGKILL" in summary["slow"]["error"]
    assert summary["quick"]["status"] == "ok" and summary["quick"]["refitted"] is False
    assert (tmp_path / "out" / f"quick-{TODAY}.csv").is_file()
    assert (tmp_path / "jobs.toml.lock").read_text() == "", "a run that ends releases the lock and clears it"


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
        result = run("batch", jobs)
        assert reader.read() == before[str(tmp_path / "out" / f"nightly-{TODAY}.csv")], "...reads it whole: it was replaced, not rewritten"
    assert result.returncode == 0, result.stderr
    assert f"taking over the lock from a run that ended without releasing it (pid {killed.process.pid}, started {TODAY}T" in result.stderr
    forecast = pd.read_csv(tmp_path / "out" / f"nightly-{TODAY}.csv")
    assert len(forecast) == 3 and forecast["AAPL"].notna().all()
    assert snapshot(tmp_path / "models" / "nightly") == {name: data for name, data in before.items() if "/models/" in name}


def test_sigterm_mid_job_exits_143_with_one_line_and_old_outputs(tmp_path, old_outputs, background):
    jobs, before = old_outputs
    stopped, code = stop_mid_job(background, jobs, signal.SIGTERM)
    assert code == 143
    logged, other = log_lines(stopped.stderr)
    assert len(other) == 1 and other[0].startswith("forecaster: error: interrupted by SIGTERM"), stopped.stderr
    assert snapshot(tmp_path / "models" / "nightly", tmp_path / "out") == before
    assert leftovers(tmp_path) == []
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["exit_code"] == 143
    assert summary["jobs"][0]["status"] == "interrupted"
    assert (tmp_path / "jobs.toml.lock").read_text() == ""


def test_dry_run_prints_the_plan_and_touches_nothing(tmp_path, tiny_csv, base_model):
    place_data(tmp_path, tiny_csv, "fresh", "kept")
    place_model(base_model, tmp_path / "models" / "kept")
    jobs = write_jobs(tmp_path, job("fresh", levels=[80, 95]), job("kept", refit="never"), job("lost"), {**job("typo", cell="lstn"), "input": "kept.csv"},
                      top={"summary": "s-{date}.json"})
    def files() -> list[Path]:  # reading a model may leave an empty writers' lock beside it (artifact.recover)
        return sorted(path for path in tmp_path.rglob("*") if not (path.name.startswith(".") and path.name.endswith(".lock")))

    before = files()
    result = run("batch", jobs, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{jobs}: 4 jobs; lock {jobs}.lock; summary {tmp_path}/s-{TODAY}.json",
        f"fresh: {tmp_path}/fresh.csv -> refit {tmp_path}/models/fresh (no saved model yet) -> {tmp_path}/out/fresh-{TODAY}.csv (horizon 3, levels 80, 95)",
        f"kept: {tmp_path}/kept.csv -> reuse {tmp_path}/models/kept (refit is 'never') -> {tmp_path}/out/kept-{TODAY}.csv (horizon 3)",
        f"lost: {tmp_path}/lost.csv -> would fail: {tmp_path}/lost.csv: no such file -> {tmp_path}/out/lost-{TODAY}.csv (horizon 3)",
        f"typo: {tmp_path}/kept.csv -> would fail: unknown cell 'lstn' (--cell); installed cells: lstm, torch-lstm -> {tmp_path}/out/typo-{TODAY}.csv (horizon 3)",
    ]
    assert files() == before


@pytest.mark.parametrize("text, fragments", [
    ("[[job]]\nname = 'a'\ninput = 'a.csv'\nmodel = 'm'\noutput = 'o.csv'\nhiden_size = 4\n", ["job 'a'", "unknown key 'hiden_size'", "did you mean 'hidden_size'"]),
    ("[defaults]\nrefit = 'weekly'\n[[job]]\nname = 'a'\ninput = 'a.csv'\nmodel = 'm'\noutput = 'o.csv'\n", ["[defaults]", "key 'refit'", "'weekly'"]),
    ("[[job]]\nname = 'a'\ninput = 'a.csv'\nmodel = 'm'\n", ["job 'a'", "missing key 'output'"]),
    ("[[job]]\nname = 'a'\ninput = '*.csv'\nmodel = 'm'\noutput = 'o-{stem}.csv'\n", ["both write the model", "{stem}"]),
    ("[job]\nname = 'a'\n", ["key 'job'", "must be an array"]),
    ("[[job]\n", ["not valid TOML", "line 1"]),
])
def test_an_invalid_jobs_file_exits_2_naming_file_job_and_key(tmp_path, text, fragments):
    (tmp_path / "x.csv").write_text("a\n1\n")
    (tmp_path / "y.csv").write_text("a\n1\n")
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(text)
    assert_clean_error(run("batch", jobs), str(jobs), *fragments)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["jobs.toml", "x.csv", "y.csv"], "an invalid file takes no lock, writes nothing"


def readme_block(language: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) == 1, f"the README has one {language} block"
    return blocks[0]


def test_readme_jobs_example_is_valid(tmp_path):
    shutil.copytree(DATA, tmp_path / "data")
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(readme_block("toml"))
    result = run("batch", jobs, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "\nstocks: " in result.stdout


def test_readme_crontab_line_works_as_written(tmp_path, tiny_csv):
    """The README's crontab line, run as cron would: /bin/sh, a bare environment, from the home directory."""
    line = next(line for line in readme_block("crontab").splitlines() if line and not line.startswith("#") and "=" not in line.split()[0])
    command = line.split(None, 5)[5].replace("\\%", "%")
    project = re.search(r"cd (\S+)", command)[1]
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "forecaster").symlink_to(FORECASTER)
    place_data(tmp_path, tiny_csv, "nightly")
    write_jobs(tmp_path, job("nightly"))
    home = tmp_path / "home"
    home.mkdir()
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(home), "SHELL": "/bin/sh", "LOGNAME": "cron"}
    result = subprocess.run(["/bin/sh", "-c", command.replace(project, str(tmp_path))], cwd=home, env=environment,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout, result.stderr, (tmp_path / "batch.log").read_text())
    assert "all 1 jobs succeeded" in (tmp_path / "batch.log").read_text()
    assert len(pd.read_csv(tmp_path / "out" / f"nightly-{TODAY}.csv")) == 3
