"""Targets that are not forecaster's: every command refuses them, exit 2, in one line naming the path and what it is,
and every file involved is as it was, bytes and kind (issue 35).

The targets are real: character devices made with mknod (the one /dev/null
is, so that a write would do no harm), FIFOs, Unix sockets, symbolic links
to them and to a folder outside, a folder of someone's own files, and batch
jobs whose names or links lead out of the jobs file's folder. Run as root,
as a cron job often is, so that no permission would stop a write that the
code itself did not refuse.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import DATA, assert_clean_error, invoke, jobs_file, written_by_another_process

TINY_FIT = ("--window", 4, "--horizon", 1, "--hidden-size", 2, "--epochs", 1, "--members", 1)


def state(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``, hidden ones too, links not followed: its kind and device number, or its link's
    text, or its bytes' hash. A file replaced, written, added or removed shows."""
    found = {}
    for path in sorted(root.rglob("*")):
        status = path.lstat()
        if stat.S_ISREG(status.st_mode):
            found[str(path)] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
        elif stat.S_ISLNK(status.st_mode):
            found[str(path)] = ("link", os.readlink(path))
        else:
            found[str(path)] = (stat.S_IFMT(status.st_mode), status.st_rdev)
    return found


def make_device(path: Path) -> None:
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # /dev/null's numbers
    except PermissionError:
        pytest.skip("mknod needs root or CAP_MKNOD")


def make_socket(path: Path) -> None:
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.close()  # the socket file stays


def make_folder(path: Path) -> None:
    path.mkdir()
    (path / "notes.txt").write_text("precious\n")


def link_to(kind: Callable[[Path], None]) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        real = path.with_name(path.name + "-real")
        kind(real)
        path.symlink_to(real)

    return make


FILE_TARGETS = {
    "a character device": make_device,
    "a FIFO": os.mkfifo,
    "a socket": make_socket,
    "a directory": make_folder,
    "a symbolic link to a character device": link_to(make_device),
    "a symbolic link to a FIFO": link_to(os.mkfifo),
    "a symbolic link to a directory": link_to(make_folder),
}


@pytest.fixture
def place(tmp_path) -> Path:
    """A folder of the test's own beside a folder outside it, both watched."""
    (tmp_path / "place").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "theirs.txt").write_text("not forecaster's\n")
    return tmp_path / "place"


@pytest.mark.parametrize("kind", FILE_TARGETS)
@pytest.mark.parametrize("option", ["--out", "--plot"])
def test_predict_refuses_an_output_that_is_not_a_file(kind, option, place, tiny_model):
    target = place / "target"
    FILE_TARGETS[kind](target)
    before = state(place.parent)
    result = invoke("predict", tiny_model, option, target)
    assert_clean_error(result, str(target), kind.split()[-1], option)  # a directory: click's own words
    assert state(place.parent) == before


@pytest.mark.parametrize("kind", ["a character device", "a FIFO", "a symbolic link to a directory"])
def test_backtest_refuses_before_it_trains(kind, place):
    target = place / "metrics.csv"
    FILE_TARGETS[kind](target)
    before = state(place.parent)
    result = invoke("backtest", DATA / "statquest.csv", *TINY_FIT, "--folds", 1, "--out", target)
    assert_clean_error(result, str(target), kind.split()[-1], "--out")
    assert "fold" not in result.stderr  # refused before any fold was trained
    assert state(place.parent) == before


FIT_TARGETS = {
    "a character device": (make_device, "exists and is not a model directory"),
    "a FIFO": (os.mkfifo, "exists and is not a model directory"),
    "a socket": (make_socket, "exists and is not a model directory"),
    "a folder of someone's files": (make_folder, "not a model directory: it holds notes.txt"),
    "a link to a folder outside": (
        lambda path: path.symlink_to(path.parent.parent / "outside"),
        "is a symbolic link, not a model directory",
    ),
    "a folder whose model.json is not forecaster's": (
        lambda path: (path.mkdir(), (path / "model.json").write_text("{}\n")),
        "its model.json is not one forecaster wrote",
    ),
    "a model directory with a README": (
        lambda path: (shutil.copytree(path.parent.parent / "model", path), (path / "README").write_text("mine\n")),
        "not a model directory: it holds README, which forecaster did not write",
    ),
}


@pytest.mark.parametrize("kind", FIT_TARGETS)
def test_fit_refuses_an_out_that_is_not_only_a_model(kind, place, tiny_model):
    shutil.copytree(tiny_model, place.parent / "model")
    target = place / "out"
    make, message = FIT_TARGETS[kind]
    make(target)
    before = state(place.parent)
    result = invoke("fit", DATA / "statquest.csv", *TINY_FIT, "--out", target)
    assert_clean_error(result, str(target), message, "(--out)")
    assert state(place.parent) == before


def test_fit_keeps_a_previous_that_is_not_only_a_model(place, tiny_model):
    """The model a fit would retire goes to <out>.previous: one holding someone's file is not emptied for it."""
    shutil.copytree(tiny_model, place / "out")
    make_folder(place / "out.previous")
    before = state(place.parent)
    result = invoke("fit", DATA / "statquest.csv", *TINY_FIT, "--out", place / "out")
    assert_clean_error(result, f"{place / 'out.previous'}: not a model directory: it holds notes.txt", "(--out)")
    assert state(place.parent) == before


def contents(directory: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(directory.iterdir())}


def test_replacing_a_model_keeps_the_previous_and_removes_nothing_else(place):
    """Each fit into one folder keeps the model it replaces, whole, as out.previous; the one before that goes, and
    nothing else beside them is touched."""
    out = place / "out"
    (place / "notes.txt").write_text("mine\n")
    models = []
    for seed in (1, 2, 3):
        result = invoke("fit", DATA / "statquest.csv", *TINY_FIT, "--seed", seed, "--out", out)
        assert result.returncode == 0, result.stderr
        models.append(contents(out))
        if seed > 1:
            assert contents(place / "out.previous") == models[-2]
    assert models[0] != models[1] != models[2]
    assert sorted(path.name for path in place.iterdir()) == ["notes.txt", "out", "out.previous"]
    assert (place / "notes.txt").read_text() == "mine\n"


def test_the_python_api_refuses_as_the_command_does(place, tiny_model):
    import forecaster

    make_folder(place / "m")
    model = forecaster.load(tiny_model)
    before = state(place.parent)
    with pytest.raises(forecaster.BadInput, match=r"not a model directory: it holds notes\.txt") as refused:
        model.save(place / "m")
    assert refused.value.exit_code == 2 and state(place.parent) == before


def test_an_api_save_into_a_directory_another_process_writes_exits_75_naming_it(place, tiny_model):
    """One writer per model directory, whichever door: a save while another process holds the directory's lock
    (as a fit does from its start) is Busy, naming the holder, and writes nothing."""
    import forecaster

    with written_by_another_process(place / "m") as holder:
        with pytest.raises(forecaster.ForecasterError) as busy:
            forecaster.load(tiny_model).save(place / "m")
        assert busy.value.exit_code == 75
        assert f"another forecaster is writing this model directory (pid {holder.pid}, started " in str(busy.value)
        assert not (place / "m").exists()
    forecaster.load(tiny_model).save(place / "m")  # released: the next save goes ahead
    assert sorted(path.name for path in place.iterdir()) == ["m"]


def job(name: str, **keys: object) -> dict:
    return {
        "name": name,
        "input": str(DATA / "statquest.csv"),
        "model": "models/{name}",
        "output": "fc/{name}-{date}.csv",
        "refit": "never",
        **keys,
    }


@pytest.mark.parametrize(
    "name, why",
    [
        ("../../../elsewhere", "would lead a path it fills out of its folder"),
        ("/tmp/elsewhere", "would lead a path it fills out of its folder"),
        ("..", "would lead a path it fills out of its folder"),
        ("./", "would lead a path it fills out of its folder"),
        ("a\0b", "holds a NUL character"),
    ],
)
def test_a_job_name_that_leads_elsewhere_is_refused_before_any_job_runs(name, why, place, tiny_model):
    shutil.copytree(tiny_model, place / "models" / "fine")
    jobs = jobs_file(place, job("fine"), job(name))
    before = state(place.parent)
    result = invoke("batch", jobs)
    assert_clean_error(result, str(jobs), "key 'name'", why)
    assert state(place.parent) == before


def test_a_template_that_leads_through_a_link_outside_is_refused(place, tiny_model):
    (place / "models").symlink_to(place.parent / "outside")
    jobs = jobs_file(place, job("linked"))
    before = state(place.parent)
    result = invoke("batch", jobs)
    assert_clean_error(result, "job 'linked': key 'model'", str(place.parent / "outside" / "linked"), "outside")
    assert state(place.parent) == before


def test_a_root_the_operator_names_lets_a_template_lead_there(place, tiny_model):
    """'roots' names the folders outside the jobs file's that templated paths may lead into."""
    shutil.copytree(tiny_model, place.parent / "outside" / "models" / "far")
    jobs = jobs_file(place, job("far", model="../outside/models/{name}"), top={"roots": ["../outside"]})
    result = invoke("batch", jobs)
    assert result.returncode == 0, result.stderr
    refused = invoke("batch", jobs_file(place, job("far", model="../outside/models/{name}")))
    assert_clean_error(refused, "job 'far': key 'model'", "outside")


@pytest.mark.parametrize("kind", ["a character device", "a FIFO", "a symbolic link to a directory"])
@pytest.mark.parametrize("key", ["output", "latest"])
def test_a_batch_output_that_is_not_a_file_is_refused_before_any_job_runs(kind, key, place, tiny_model):
    shutil.copytree(tiny_model, place / "models" / "one")
    FILE_TARGETS[kind](place / "target")
    jobs = jobs_file(place, job("one", **{key: str(place / "target")}))
    before = state(place.parent)
    result = invoke("batch", jobs)
    assert_clean_error(result, f"job 'one': {place / 'target'}: is {kind}; refusing to replace it (key {key!r})")
    assert state(place.parent) == before


@pytest.mark.parametrize("kind", ["a character device", "a FIFO", "a symbolic link to a character device"])
def test_a_lock_file_that_is_not_a_file_is_refused(kind, place, tiny_model):
    shutil.copytree(tiny_model, place / "models" / "one")
    FILE_TARGETS[kind](place / "batch.lock")
    jobs = jobs_file(place, job("one"), top={"lock": "batch.lock"})
    before = state(place.parent)
    result = invoke("batch", jobs)
    what = "a symbolic link" if kind.startswith("a symbolic link") else kind
    assert_clean_error(result, f"{place / 'batch.lock'}: is {what}; a lock file must be a regular file")
    assert state(place.parent) == before


def test_a_summary_never_replaces_what_is_at_its_path(place, tiny_model):
    """A device where the summary goes is left alone: the run's summary takes the next free number."""
    shutil.copytree(tiny_model, place / "models" / "one")
    make_device(place / "summary.json")
    jobs = jobs_file(place, job("one"), top={"summary": "summary.json"})
    result = invoke("batch", jobs)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISCHR((place / "summary.json").lstat().st_mode)
    assert (place / "summary.1.json").is_file()


@pytest.mark.parametrize("kind", ["a character device", "a FIFO"])
def test_a_metrics_file_that_is_not_a_file_is_left_alone(kind, place, tiny_model):
    shutil.copytree(tiny_model, place / "models" / "one")
    FILE_TARGETS[kind](place / "metrics.prom")
    jobs = jobs_file(place, job("one"))
    before = state(place / "metrics.prom")  # nothing under it: the entry itself is compared below
    result = invoke("batch", jobs, "--metrics", place / "metrics.prom")
    assert result.returncode == 75, result.stderr  # the jobs are done: records not written are 75, as issue 38 asks
    assert f"{place / 'metrics.prom'}: is {kind}; refusing to replace it (--metrics)" in result.stderr
    assert before == {} and stat.S_IFMT((place / "metrics.prom").lstat().st_mode) != stat.S_IFREG


FORMULAS = ['=HYPERLINK("http://example.com/x","y")', "=cmd|'/c calc'!A1", "+1+1", "-north", "@SUM(A1)", "=2+3"]


def test_names_a_spreadsheet_would_run_are_quoted_in_every_csv_and_kept_in_python(tmp_path):
    """A series name or id that starts like a formula is written with a quote before it in the forecast and the
    backtest's CSV, which a spreadsheet shows and does not run; the Python API's frames keep the names as given."""
    import forecaster

    rows = [line.split(",") for line in (DATA / "airline.csv").read_text().splitlines()[1:]]
    wide = tmp_path / "wide.csv"
    header = ",".join(['"' + name.replace('"', '""') + '"' for name in ["month", FORMULAS[0], FORMULAS[1]]])
    wide.write_text(header + "\n" + "".join(f"{month},{value},{2 * float(value)}\n" for month, value in rows))
    long = tmp_path / "long.csv"
    long.write_text(
        "store,month,sales\n"
        + "".join(f'"{store}",{month},{value}\n' for store in FORMULAS[2:] for month, value in rows)
    )
    for data, layout in ((wide, ()), (long, ("--id-col", "store", "--value-col", "sales"))):
        model = tmp_path / f"model-{data.stem}"
        assert invoke("fit", data, *TINY_FIT, *layout, "--out", model).returncode == 0
        forecast = tmp_path / f"forecast-{data.stem}.csv"
        assert invoke("predict", model, "--out", forecast).returncode == 0
        text = forecast.read_text()
        cells = [cell.strip('"') for line in text.splitlines() for cell in line.split(",")]
        assert not any(cell.startswith(("=", "+", "-", "@", "\t")) for cell in cells if not _number(cell)), text
        names = forecaster.load(model).predict()
        expected = FORMULAS[:2] if data is wide else FORMULAS[2:]
        shown = set(names.columns) if data is wide else set(names["store"])
        assert set(expected) <= shown  # as given, in Python
    metrics = tmp_path / "metrics.csv"
    assert invoke("backtest", wide, *TINY_FIT, "--folds", 1, "--out", metrics).returncode == 0
    assert "'=cmd|'/c calc'!A1" in metrics.read_text() and "\n=" not in metrics.read_text()


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_restore_puts_the_previous_model_back_and_again_undoes_it(place):
    """The model a fit replaced is recoverable from the command line and from Python alike."""
    import forecaster

    out = place / "out"
    models = []
    for seed in (1, 2):
        assert invoke("fit", DATA / "statquest.csv", *TINY_FIT, "--seed", seed, "--out", out).returncode == 0
        models.append(contents(out))
    restored = invoke("restore", out)
    assert restored.returncode == 0, restored.stderr
    assert contents(out) == models[0] and contents(place / "out.previous") == models[1]
    assert f"{out}: the model created " in restored.stderr
    forecaster.restore(out)  # the Python door: undone
    assert contents(out) == models[1] and contents(place / "out.previous") == models[0]
    assert sorted(path.name for path in place.iterdir()) == ["out", "out.previous"]
    assert_clean_error(invoke("restore", place / "never"), f"{place / 'never'}: no previous model to roll back to")
