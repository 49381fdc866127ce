"""runtime/files.py's own promises, where no command shows them: what a killed writer leaves is never a model lost,
leftovers are matched by name exactly, and the lock holds between threads as between processes."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from forecaster.errors import Busy
from forecaster.runtime import files

OURS = ("model.json", "weights.safetensors")


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def model_at(path: Path, text: str) -> Path:
    path.mkdir()
    for name in OURS:
        (path / name).write_text(f"{text} {name}\n")
    return path


def test_a_model_retired_by_a_killed_swap_is_kept_as_previous_never_deleted(tmp_path):
    """Killed after the new model took the name, before the old one became .previous: the old one becomes it."""
    target = model_at(tmp_path / "m", "new")
    retired = model_at(tmp_path / f".m.old-{dead_pid()}-0a1b2c3d", "old")
    model_at(tmp_path / "m.previous", "older")
    files.recover(target, tmp_path / "m.previous", OURS)
    assert (tmp_path / "m.previous" / "model.json").read_text() == "old model.json\n"
    assert (target / "model.json").read_text() == "new model.json\n" and not retired.exists()


def test_a_retired_model_with_nowhere_to_go_stays_where_it_is(tmp_path):
    """No .previous to keep it as (a plain file's writer, or a .previous holding someone's file): left alone."""
    target = model_at(tmp_path / "m", "new")
    retired = model_at(tmp_path / f".m.old-{dead_pid()}-0a1b2c3d", "old")
    files.recover(target)
    assert retired.is_dir()
    (model_at(tmp_path / "m.previous", "older") / "notes.txt").write_text("mine\n")
    files.recover(target, tmp_path / "m.previous", OURS)
    assert retired.is_dir() and (tmp_path / "m.previous" / "notes.txt").read_text() == "mine\n"


def test_a_retired_model_is_put_back_when_nothing_took_its_name(tmp_path):
    retired = model_at(tmp_path / f".m.old-{dead_pid()}-0a1b2c3d", "old")
    files.recover(tmp_path / "m", tmp_path / "m.previous", OURS)
    assert (tmp_path / "m" / "model.json").read_text() == "old model.json\n" and not retired.exists()


def test_leftovers_are_matched_by_the_target_s_name_exactly(tmp_path):
    """A target named with glob characters cleans its own leftovers, not another target's."""
    other = model_at(tmp_path / f".x.old-{dead_pid()}", "x's")
    stray = tmp_path / f".x.tmp-{dead_pid()}-abc"
    stray.write_text("x's temporary file\n")
    files.recover(tmp_path / "?")
    files.recover(tmp_path / "*")
    assert other.is_dir() and stray.is_file() and not (tmp_path / "?").exists()


def test_another_thread_meets_the_lock_as_another_process_would(tmp_path):
    """Re-entrant for the thread that holds it, not for the process: a second thread's save waits or is Busy."""
    path = tmp_path / ".m.lock"
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with files.lock(path), files.lock(path):  # its own second take is granted
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        with pytest.raises(Busy, match=r"another process holds the lock \(pid \d+, started "), files.lock(path):
            pass
    finally:
        release.set()
        holder.join()
    with files.lock(path):  # released, and its file removed: taken afresh
        pass
    assert not path.exists()
