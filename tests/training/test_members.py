"""The members of an ensemble: trained one by one from seeds of their own, on forked processes, within a time limit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import forecaster
from conftest import FORECASTER, descendants, wait_for_descendants
from forecaster.errors import BadInput
from forecaster.options import FitOptions
from forecaster.runtime.processes import alive
from forecaster.training.members import cores, processes, workers

SMALL = {"window": 8, "horizon": 3, "hidden_size": 4, "epochs": 4, "seed": 7}


@pytest.fixture(scope="module")
def fits(recent_stocks) -> dict[int, forecaster.Model]:
    """The same small fit of three members on one process and on two, with a known covariate (the holiday flag) that
    each member's decoder reads over the horizon."""
    return {
        threads: forecaster.fit(recent_stocks, members=3, threads=threads, holidays="US", **SMALL) for threads in (1, 2)
    }


def test_the_model_is_the_same_whatever_the_number_of_processes(fits):
    one, two = (fits[threads].network.state_dict() for threads in (1, 2))
    assert one.keys() == two.keys()
    for part in ("cells.2.", "heads.2.", "decoders.2."):  # every member's parts, joined from both processes
        assert any(name.startswith(part) for name in one), part
    for name in one:
        assert one[name].equal(two[name]), name


def test_members_start_from_seeds_of_their_own_and_say_how_they_trained(fits):
    network = fits[2].network
    first, second = (network.heads[k].weight for k in (0, 1))
    assert not first.equal(second)  # seeds 7 and 8, not one seed drawn twice
    notes = " ".join(fits[2].report.notes)
    assert "3 members trained one by one on 3 processes" in notes, notes
    assert "3 members trained one by one: epochs" in " ".join(fits[1].report.notes)


def test_the_final_fit_trains_on_warm_and_scores_stay_the_validated_members(fits):
    report = fits[2].report
    assert report.validation_windows > 0 and report.final_epochs >= 1
    assert report.metrics_on == "validation"


def test_a_time_limit_too_short_for_every_member_trains_fewer_and_says_so(recent_stocks):
    model = forecaster.fit(recent_stocks, members=3, threads=1, time_limit=3, **SMALL)
    assert len(model.network.cells) == 1
    assert any("1 of 3 members trained" in note for note in model.report.notes), model.report.notes


def test_a_time_limit_stops_training_and_keeps_the_best_epoch(recent_stocks):
    options = {**SMALL, "epochs": 100000, "patience": 100000}
    model = forecaster.fit(recent_stocks, members=1, threads=1, time_limit=3, **options)
    assert model.report.epochs_run < options["epochs"]
    assert any("stopped by it" in note for note in model.report.notes), model.report.notes


@pytest.mark.parametrize(
    "members, cores, expected",
    [(3, 2, 3), (2, 2, 2), (5, 2, 4), (3, 1, 1), (1, 4, 1), (8, 4, 8)],
)
def test_members_share_the_cores_so_that_none_is_left_idle(members, cores, expected):
    """A process a member, at most two a core: three members on two cores train at once, not two and then one."""
    assert processes(members, cores) == expected


def test_threads_chooses_which_cores_the_members_train_on():
    allowed = sorted(os.sched_getaffinity(0))
    assert cores(FitOptions(threads=1)) == {allowed[0]}
    assert cores(FitOptions()) == set(allowed)
    assert workers(FitOptions(threads=1)) == 1


@pytest.mark.parametrize("keyword, value", [("threads", 0), ("time_limit", 0), ("time_limit", float("nan"))])
def test_threads_and_time_limit_are_checked(recent_stocks, keyword, value):
    with pytest.raises(BadInput, match=keyword):
        forecaster.fit(recent_stocks, **{keyword: value})


def _started_fit(recent_stocks: Path, out: Path) -> tuple[subprocess.Popen, set[int]]:
    """A fit of two members on two processes, once both workers exist (the event, not a time)."""
    process = subprocess.Popen(
        [str(FORECASTER), "fit", recent_stocks, "--out", out, "--members", "2", "--threads", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, wait_for_descendants(process, depth=2, count=2)


def _assert_ended_soon(processes: set[int], seconds: float = 2) -> None:
    """Every one of ``processes`` ends within ``seconds``, a second or two of the command's end."""
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in processes) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not [pid for pid in processes if alive(pid)], "a process outlived its fit"


def test_a_signalled_fit_leaves_no_worker_behind(recent_stocks, tmp_path):
    process, workers = _started_fit(recent_stocks, tmp_path / "m")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    _assert_ended_soon(workers)
    assert not (tmp_path / "m").exists()


#: a fit as it starts: the fork server started, its imports of torch and Lightning under way, and then (the test) a
#: signal; run as a script, so that it starts the server on one core as on many
STARTING_FIT = (
    "import time\n"
    "from forecaster.training.members import start_workers\n"
    "start_workers(2)\n"
    "print('started', flush=True)\n"
    "time.sleep(600)\n"
)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_the_fork_server_of_a_fit_stopped_as_it_starts_ends_with_it(signum):
    """Stopped while its fork server imports Lightning, the fit ended at once, and the server (280-400 MB) ran on
    until its imports were done: 25-80 s on a busy machine. It ends within a second of the fit, whatever signal
    ended the fit (SIGKILL too, which leaves the fit no chance to say so)."""
    process = subprocess.Popen(
        [sys.executable, "-c", STARTING_FIT], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None and process.stdout.readline() == "started\n"
    servers = {pid for pid in descendants(process.pid, 1) if b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes()}
    assert len(servers) == 1
    process.send_signal(signum)
    process.wait(timeout=60)
    _assert_ended_soon(servers, seconds=1)
    process.stdout.close()


#: `forecaster ARGS`, its members trained on two worker processes whatever the cores it may use (the rule of
#: :func:`processes` replaced, nothing else): how workers end is the same on one core as on many
ON_TWO_WORKERS = (
    "import sys\n"
    "from forecaster.training import members\n"
    "members.processes = lambda members, cores: 2\n"
    "from forecaster.cli import command\n"
    "sys.argv[0] = 'forecaster'\n"
    "command()\n"
)


def test_a_fit_killed_while_its_workers_train_leaves_no_process_and_no_library_warning(recent_stocks, tmp_path):
    """SIGKILL, which the fit cannot act on: its fork server and workers end within a second or two, and nothing
    else is printed. Its pool's queues held named semaphores, which multiprocessing's resource tracker removed after
    such a kill, printing "There appear to be 5 leaked semaphore objects" under its own file's path."""
    fit = ("fit", recent_stocks, "--out", tmp_path / "m", "--members", 2, "--epochs", 5000, "--patience", 5000)
    process = subprocess.Popen(
        [sys.executable, "-c", ON_TWO_WORKERS, *map(str, fit)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    workers = wait_for_descendants(process, depth=2, count=2)
    started = descendants(process.pid, 1)  # the fork server and the resource tracker
    process.kill()
    _assert_ended_soon(workers | started)
    _, stderr = process.communicate(timeout=60)  # until every process holding its stderr has ended
    assert stderr.decode() == ""


def test_a_worker_killed_while_it_trains_is_said_in_one_line_and_the_fit_leaves_nothing_behind(recent_stocks, tmp_path):
    """A worker killed from outside (the kernel's OOM killer, say): the fit says which members it lost and how, in
    its own words, not the executor's "A process in the process pool was terminated abruptly"; the other worker and
    the fork server end with it."""
    fit = ("fit", recent_stocks, "--out", tmp_path / "m", "--members", 2, "--epochs", 5000, "--patience", 5000)
    process = subprocess.Popen(
        [sys.executable, "-c", ON_TWO_WORKERS, *map(str, fit)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    workers = wait_for_descendants(process, depth=2, count=2)
    started = descendants(process.pid, 1)
    os.kill(max(workers), signal.SIGKILL)  # the one forked last
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    assert stderr.decode().splitlines() == [
        "forecaster: error: the process training member 2 was killed by SIGKILL before sending its weights"
    ]
    _assert_ended_soon(workers | started)
    assert not (tmp_path / "m").exists()


def test_a_script_s_fit_trains_on_workers_that_import_neither_the_script_nor_a_folder_named_forecaster(
    recent_stocks, tmp_path
):
    """A user's script calling fit at its top level, without ``if __name__ == "__main__"``, run from a directory with
    a folder named forecaster: multiprocessing would import the script again in each worker (a fit in every worker:
    a broken pool), and the fork server is `python -c`, whose sys.path starts with the working directory."""
    marker = tmp_path / "decoy-imported"
    (tmp_path / "forecaster").mkdir()
    (tmp_path / "forecaster" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "nightly.py").write_text(
        "import forecaster\n"
        "print('top level ran')\n"
        f"model = forecaster.fit({str(recent_stocks)!r}, members=2, threads=2, **{SMALL!r})\n"
        "print(*model.report.notes, sep='\\n')\n"
    )
    result = subprocess.run(
        [sys.executable, tmp_path / "user" / "nightly.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("top level ran") == 1 and "on 2 processes" in result.stdout, result.stdout
    assert not marker.exists()


def test_a_worker_that_cannot_start_because_its_fit_went_away_ends_quietly_any_other_failure_is_printed():
    """The fork server's hook (training/fork_server.py), loaded here without keeping it as this process's."""
    import pickle
    import sys

    kept = sys.excepthook
    try:
        from forecaster.training import fork_server
    finally:
        sys.excepthook = kept
    gone = [BrokenPipeError(32, "Broken pipe"), pickle.UnpicklingError("pickle data was truncated"), EOFError()]
    assert all(fork_server._fit_went_away(type(error), error) for error in gone)
    assert not fork_server._fit_went_away(AttributeError, AttributeError("no attribute 'Plan'"))
    assert not fork_server._fit_went_away(pickle.UnpicklingError, pickle.UnpicklingError("invalid load key"))


def test_a_fit_started_from_another_thread_may_start_the_workers():
    """Only the main thread may set a signal's handler: from another thread the fork server starts as it is."""
    from forecaster.training.members import start_workers

    failures: list[BaseException] = []

    def start() -> None:
        try:
            start_workers(2)
        except BaseException as exc:  # the thread's failure, for this test to say
            failures.append(exc)

    thread = threading.Thread(target=start)
    thread.start()
    thread.join(timeout=120)
    assert not failures, failures
