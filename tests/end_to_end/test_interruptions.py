"""Real signals to real processes: an interrupted fit or batch keeps every previous output intact."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import DATA, FORECASTER, invoke, jobs_file, wait_for_descendants

LONG_FIT = ("--epochs", 5000, "--patience", 5000, "--hidden-size", 4, "--window", 8, "--horizon", 2)


def quick_fit(out):
    """A small real fit into ``out``, in this process: the model the tests keep or replace."""
    return invoke(
        "fit", DATA / "airline.csv", "--epochs", 1, "--members", 1, "--hidden-size", 4, "--window", 8, "--horizon", 2,
        "--out", out,
    )  # fmt: skip


def digest(directory) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def start(*args) -> subprocess.Popen:
    """The command in a process group of its own, as a terminal or a systemd service gives it."""
    return subprocess.Popen(
        [str(FORECASTER), *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_until_training(process: subprocess.Popen, depth: int) -> None:
    """Until training has started, however busy the machine: a fit's members train in processes its fork server
    forks once the data is read (``depth`` 2), a batch's jobs in processes it forks once its imports are done (1).
    The training asked for would take minutes."""
    wait_for_descendants(process, depth)
    assert process.poll() is None, process.stderr.read()


def stop_impatiently(process: subprocess.Popen, signum: int, repeats: int = 4, every: float = 0.15) -> None:
    """The signal to the whole process group (batch's jobs too), as Ctrl-C or systemd sends it; then again while it
    cleans up and exits."""
    for _ in range(repeats + 1):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:  # every process of the group has ended
            return
        time.sleep(every)


@pytest.fixture(scope="session")
def previous(tmp_path_factory):
    """A model made once on each worker that runs a test of this file (scope session), so that these tests, each a
    real process of its own, spread over the workers rather than sharing one (tests/conftest.py groups those of
    module fixtures)."""
    root = tmp_path_factory.mktemp("previous")
    model = root / "model"
    assert quick_fit(model).returncode == 0
    return model


def test_ctrl_c_during_fit(previous):
    """SIGINT to the process group, as Ctrl-C in a terminal sends it (SIGTERM, the same handler: the batch test)."""
    signum, code = signal.SIGINT, 130
    before = digest(previous)
    process = start("fit", DATA / "stock.csv", *LONG_FIT, "--out", previous)
    wait_until_training(process, depth=2)
    stop_impatiently(process, signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code
    assert stderr.strip() == f"forecaster: error: interrupted by {signal.Signals(signum).name}"
    assert digest(previous) == before
    assert leftovers(previous.parent) == []


def test_signals_during_the_clean_up_do_not_cut_it_short(previous):
    """Ctrl-C, then SIGTERMs as fast as a supervisor's retries while the fit cleans up: the first signal decides the
    exit code and the one line, the clean-up runs to its end (no temporary files, no worker left), and the model
    in place is the previous one, whole."""
    before = digest(previous)
    process = start("fit", DATA / "stock.csv", *LONG_FIT, "--out", previous)
    workers = wait_for_descendants(process, 2)  # the members' workers, forked by the fit's fork server
    assert process.poll() is None, process.stderr.read() if process.stderr else ""
    os.killpg(process.pid, signal.SIGINT)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        time.sleep(0.002)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.strip() == "forecaster: error: interrupted by SIGINT"
    assert digest(previous) == before
    assert leftovers(previous.parent) == []
    assert not [pid for pid in workers if os.path.exists(f"/proc/{pid}")], "a worker outlived the fit"


def test_a_killed_fit_is_cleaned_up_by_the_next(previous):
    before = digest(previous)
    process = start("fit", DATA / "stock.csv", *LONG_FIT, "--out", previous)
    wait_until_training(process, depth=2)
    staging = previous.parent / f".{previous.name}.tmp-{process.pid}-x"
    staging.mkdir()  # what a writer killed in the middle of saving leaves behind
    process.kill()
    process.wait()
    assert digest(previous) == before
    assert quick_fit(previous).returncode == 0
    assert leftovers(previous.parent) == []


@pytest.mark.parametrize(
    "command", [["predict", "{model}"], ["fit", str(DATA / "airline.csv"), "--horizon", "2000", "--out", "{model}"]]
)
def test_a_model_retired_by_a_killed_writer_is_put_back(previous, tmp_path, command):
    """Killed between the two renames of a swap, a writer leaves the old model under its retired name."""
    model = tmp_path / "model"
    shutil.copytree(previous, tmp_path / ".model.old-999999999")  # no process has that PID
    invoke(
        *(arg.format(model=model) for arg in command)
    )  # predict succeeds; fit fails on its horizon, after recovering
    assert digest(model) == digest(previous)
    assert leftovers(tmp_path) == []


def test_stopping_the_service_during_batch(previous, tmp_path):
    """SIGTERM to the process group, as systemd stops a unit (its jobs get it too); SIGINT: a fit's test."""
    signum, code = signal.SIGTERM, 143
    forecast = tmp_path / "forecast.csv"
    forecast.write_text("an earlier forecast\n")
    jobs = jobs_file(
        tmp_path,
        {
            "name": "stocks",
            "input": DATA / "stock.csv",
            "model": previous,
            "output": forecast,
            "refit": "always",
            "allow_shrink": True,  # the previous model is airline's: its series is not in this input
            "epochs": 5000,
            "patience": 5000,
            "hidden_size": 4,
            "window": 8,
            "horizon": 2,
        },
        top={"lock": tmp_path / "batch.lock", "summary": tmp_path / "summary.json"},
    )
    before = digest(previous)
    process = start("batch", jobs)
    wait_until_training(process, depth=1)
    stop_impatiently(process, signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    assert digest(previous) == before
    assert forecast.read_text() == "an earlier forecast\n"
    assert leftovers(previous.parent) == [] and leftovers(tmp_path) == []


def test_a_second_fit_into_a_directory_being_written_exits_75_naming_the_first(tmp_path):
    """One writer per model directory: a fit holds the directory's lock from its start until its model is in place,
    so a second fit into it meanwhile exits 75 at once, naming the first, and changes nothing; the first ends with
    one complete model, and the one it replaced kept whole as model.previous."""
    model = tmp_path / "model"
    fit = ("fit", DATA / "airline.csv", "--window", 8, "--horizon", 2, "--members", 1, "--out", model)
    assert invoke(*fit, "--epochs", 2, "--hidden-size", 2).returncode == 0
    before = digest(model)
    first = start(*fit, "--epochs", 40, "--hidden-size", 3)
    lock = tmp_path / ".model.lock"
    deadline = time.monotonic() + 60
    while not (lock.exists() and f"pid {first.pid}," in lock.read_text()):
        assert time.monotonic() < deadline and first.poll() is None, "the first fit takes the lock as it starts"
        time.sleep(0.05)
    second = invoke(*fit, "--epochs", 2, "--hidden-size", 5)
    assert first.poll() is None, "the second fit was refused while the first was still training"
    assert second.returncode == 75, second.stderr
    [line] = second.stderr.splitlines()
    assert line.startswith(
        f"forecaster: error: {lock}: another forecaster is writing this model directory (pid {first.pid}, started "
    )
    assert digest(model) == before
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "model.previous"]  # no lock file, no leftovers
    assert digest(tmp_path / "model.previous") == before
    assert json.loads((model / "model.json").read_text())["hyperparameters"]["hidden_size"] == 3
    assert invoke("predict", model).returncode == 0  # model.json and weights belong together


#: a sitecustomize that sends the process a SIGINT as it first imports click: while the command is still importing
#: its modules, before its own handlers are in place
CTRL_C_WHILE_IMPORTING = """\
import importlib.abc, os, signal, sys

class CtrlC(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "click":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlC())
"""


def test_ctrl_c_while_the_command_starts_is_one_line_and_130(tmp_path):
    """Python's own handler, until the command's are in place, would raise KeyboardInterrupt inside an import and
    print its traceback."""
    (tmp_path / "sitecustomize.py").write_text(CTRL_C_WHILE_IMPORTING)
    result = subprocess.run(
        [str(FORECASTER), "fit", DATA / "airline.csv", "--out", tmp_path / "model"],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stderr) == (130, "forecaster: error: interrupted by SIGINT\n")
    assert not (tmp_path / "model").exists()
