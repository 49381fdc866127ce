"""One batch run at a time: an flock(2) on a lock file that holds its holder's PID and start time.

The kernel releases an flock when the last process holding it dies, however
it dies, so a lock left by a killed run never blocks the next one; what that
run wrote into the file only tells the next run whom it is taking over from.
A live holder's PID and start time go into the message a second run prints.
The file is emptied on release, never deleted: deleting it would let a
waiting run and a new one lock two different files of the same name.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from forecaster.errors import BadInput, Busy, WriteFailed


@contextlib.contextmanager
def run_lock(path: Path) -> Iterator[str]:
    """Hold the lock at ``path`` for the ``with`` block.

    Yields what a previous holder that died without releasing the lock left in
    the file ("" when the last run ended cleanly). Processes forked inside the
    block share the lock: it is released only when they have all ended too.
    Raises :class:`Busy` naming the holder when another run has it.
    """
    descriptor = _open(path, os.O_RDWR | os.O_CREAT, "writable")
    try:
        holder = _try_lock(descriptor, fcntl.LOCK_EX)
        if holder is not None:
            raise Busy(f"{path}: another batch run holds the lock ({holder}); not starting a second one")
        left_by_dead_run = _read(descriptor)
        started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"pid {os.getpid()}, started {started}\n".encode(), 0)
        try:
            yield left_by_dead_run
        finally:
            os.ftruncate(descriptor, 0)
    finally:
        os.close(descriptor)


def job_lock(model: Path) -> contextlib.AbstractContextManager[str]:
    """One run at a time on a job, whatever run it is part of (the whole batch, a shard, a --job run): the lock file
    beside the job's model, ``.<model>.job.lock``. :class:`Busy` (retryable) while another run holds it."""
    try:
        model.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteFailed(f"{model.parent}: cannot make the model's directory ({exc.strerror or exc})") from None
    return run_lock(model.with_name(f".{model.name}.job.lock"))


def lock_holder(path: Path) -> str | None:
    """Who holds the lock at ``path`` (its PID and start time), or None when no one does; creates nothing."""
    if not path.exists():
        return None
    descriptor = _open(path, os.O_RDONLY, "readable")
    try:
        holder = _try_lock(descriptor, fcntl.LOCK_SH)
        if holder is None:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
        return holder
    finally:
        os.close(descriptor)


def _open(path: Path, flags: int, need: str) -> int:
    try:
        return os.open(path, flags | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise BadInput(
            f"{path}: cannot open the lock file ({exc.strerror}); set 'lock' in the jobs file to a {need} place"
        ) from None


def _try_lock(descriptor: int, kind: int) -> str | None:
    """Take the flock ``kind`` without waiting: None once taken, else what its holder wrote in the file."""
    try:
        fcntl.flock(descriptor, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read(descriptor) or "it has not written its PID yet"
    return None


def _read(descriptor: int) -> str:
    return os.pread(descriptor, 4096, 0).decode("utf-8", errors="replace").strip()
