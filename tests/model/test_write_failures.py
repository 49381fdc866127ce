"""Outputs aimed at a full or read-only file system, or a directory not ours to write.

Each writer (a model, a forecast, a plot, backtest metrics, batch's outputs
and summary) ends with one line naming the file and the reason, exit 1, and
leaves the file that was there byte for byte as it was, with no temporary
file beside it. The file systems are real: a tiny tmpfs filled to the last
byte, then remounted read-only for the second case.
"""

from __future__ import annotations

import datetime
import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import DATA, FORECASTER, assert_clean_error, invoke, jobs_file, permissions_apply

TODAY = datetime.date.today().isoformat()
REASONS = {"full": "No space left on device", "read-only": "Read-only file system"}
FILLER = "filler"
TINY_FIT = ("--window", 8, "--horizon", 2, "--hidden-size", 2, "--epochs", 1)


@dataclass
class Disk:
    root: Path
    reason: str
    before: dict[str, str]

    def unchanged(self) -> bool:
        return digest(self.root) == self.before


def digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` but the filler, hidden ones included: a temporary file left behind shows."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != FILLER
    }


def mount_tmpfs(root: Path) -> None:
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(root)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}): these tests need root or CAP_SYS_ADMIN")


def fill(root: Path) -> None:
    """Write until the file system refuses: unbuffered, so the last partial block is taken too."""
    with open(root / FILLER, "wb", buffering=0) as stream, pytest.raises(OSError) as refused:
        while True:
            stream.write(b"\0" * 65536)
    assert refused.value.errno == errno.ENOSPC


@pytest.fixture(params=sorted(REASONS))
def disk(request, tmp_path, tiny_model):
    """A tmpfs holding a previous model, forecast, plot, metrics and summary, then filled up or made read-only."""
    root = tmp_path / "disk"
    root.mkdir()
    mount_tmpfs(root)
    try:
        shutil.copytree(tiny_model, root / "model")
        for name in ("forecast.csv", "plot.png", "metrics.csv", "summary.json"):
            (root / name).write_text(f"the previous {name}\n")
        before = digest(root)
        if request.param == "full":
            fill(root)
        else:
            subprocess.run(["mount", "-o", "remount,ro", str(root)], check=True)
        yield Disk(root, REASONS[request.param], before)
    finally:
        subprocess.run(["umount", "--lazy", str(root)], check=True)


WRITERS = {
    "fit": (["fit", DATA / "airline.csv", *TINY_FIT, "--out", "{disk}/model"], "{disk}/model: cannot write the model"),
    "predict --out": (
        ["predict", "{model}", "--out", "{disk}/forecast.csv"],
        "{disk}/forecast.csv: cannot write it (--out)",
    ),
    "predict --plot": (
        ["predict", "{model}", "--plot", "{disk}/plot.png"],
        "{disk}/plot.png: cannot write it (--plot)",
    ),
    "backtest --out": (
        ["backtest", DATA / "airline.csv", *TINY_FIT, "--folds", 1, "--out", "{disk}/metrics.csv"],
        "{disk}/metrics.csv: cannot write it (--out)",
    ),
    "backtest --plot": (
        ["backtest", DATA / "airline.csv", *TINY_FIT, "--folds", 1, "--plot", "{disk}/plot.png"],
        "{disk}/plot.png: cannot write it (--plot)",
    ),
}


@pytest.mark.parametrize("writer", WRITERS)
def test_a_writer_names_the_file_and_the_reason_and_keeps_the_old_file(writer, disk, tiny_model):
    args, message = WRITERS[writer]
    result = invoke(*(str(arg).format(disk=disk.root, model=tiny_model) for arg in args))
    assert result.returncode == (75 if disk.reason == REASONS["full"] else 1), result.stderr  # a full disk may free
    assert (
        result.stderr.splitlines()[-1] == f"forecaster: error: {message.format(disk=disk.root)}: {disk.reason}"
    )  # backtest's table comes first
    assert "Traceback" not in result.stderr
    assert disk.unchanged()


def test_batch_names_only_the_files_it_wrote(disk, tiny_model, tmp_path):
    """One job writes elsewhere, one onto the disk; the summary cannot be written, so the last line points at none."""
    written = tmp_path / "out" / "fine.csv"
    for name in ("fine", "stuck"):
        shutil.copytree(tiny_model, tmp_path / "models" / name)
    jobs = jobs_file(
        tmp_path,
        *(
            {
                "name": name,
                "input": DATA / "statquest.csv",
                "model": f"models/{name}",
                "output": output,
                "refit": "never",
            }
            for name, output in (("fine", written), ("stuck", disk.root / "forecast.csv"))
        ),
        top={"summary": disk.root / "summary.json", "lock": tmp_path / "batch.lock"},
    )
    result = invoke("batch", jobs)  # the failures are the run's lines, which this process's stderr holds
    lines = result.stderr.splitlines()
    if disk.reason == REASONS["full"]:  # the next run may find space: EX_TEMPFAIL
        assert result.returncode == 75, result.stderr
        assert lines[-1] == "forecaster: error: 1 of 2 jobs failed: stuck; each may succeed if the run is tried again"
    else:  # a read-only file system stays so
        assert result.returncode == 1, result.stderr
        assert lines[-1] == "forecaster: error: 1 of 2 jobs failed: stuck", result.stderr
    for what in ("forecast.csv: cannot write it (key 'output')", "summary.json: cannot write it (the summary)"):
        assert any(f"{disk.root}/{what}: {disk.reason}" in line for line in lines), (what, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert written.is_file()
    assert disk.unchanged()


def test_a_batch_whose_lock_cannot_be_written_exits_75_and_records_the_night_where_it_can(disk, tiny_model, tmp_path):
    """Issue 38: a disk already full when the run starts was an exit 1 that no scheduler's retry policy retries, and
    recorded nothing, so the metrics went on showing the night before as the last run."""
    shutil.copytree(tiny_model, tmp_path / "models" / "job")
    job = {"name": "job", "input": DATA / "statquest.csv", "model": "models/job", "output": "out.csv", "refit": "never"}
    top = {"lock": disk.root / "batch.lock", "summary": tmp_path / "summary.json"}
    metrics = tmp_path / "batch.prom"
    result = invoke("batch", jobs_file(tmp_path, job, top=top), "--metrics", metrics)
    assert result.returncode == 75, result.stderr  # a full disk may be freed, a remount undone: try again later
    assert result.stderr.splitlines()[-1] == (
        f"forecaster: error: {disk.root}/batch.lock: cannot write the lock file: {disk.reason}; no job ran; "
        f"see {tmp_path}/summary.json"
    )
    assert "Traceback" not in result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["status"], summary["exit_code"]) == ("failed", 75)
    (entry,) = summary["jobs"]
    assert (entry["status"], entry["retryable"]) == ("not started", True)
    unwritable = f"{disk.root}/batch.lock: cannot write the lock file: {disk.reason}"
    assert entry["error"] == f"the run's lock could not be taken ({unwritable})"
    assert re.search(r"^forecaster_batch_run_exit_code\{[^}]*\} 75$", metrics.read_text(), re.M), metrics.read_text()
    assert not (tmp_path / "out.csv").exists() and disk.unchanged()


def test_a_directory_not_ours_to_write(tiny_model, tmp_path):
    folder = tmp_path / "theirs"
    folder.mkdir()
    (folder / "forecast.csv").write_text("their forecast\n")
    folder.chmod(0o555)
    result = subprocess.run(
        [*permissions_apply(), str(FORECASTER), "predict", str(tiny_model), "--out", str(folder / "forecast.csv")],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert_clean_error(result, f"{folder}/forecast.csv: cannot write it (--out): Permission denied", code=1)
    assert (
        sorted(os.listdir(folder)) == ["forecast.csv"] and (folder / "forecast.csv").read_text() == "their forecast\n"
    )
