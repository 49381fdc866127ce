"""How forecaster's files reach the disk: the one module that writes, renames, removes and locks.

Every file the package writes (a model directory, a forecast, a plot, backtest
metrics, a batch job's outputs and link, a summary, a metrics textfile, a
shard plan, a lock) goes through here, under three rules:

- **Whole or not at all, durably.** A file is written beside its target under
  a temporary name that carries the writer's PID, fsynced, renamed into
  place, and the rename fsynced into its directory. A writer killed outright
  leaves only temporary names, which the next writer of that target removes
  once their PID is dead (:func:`recover`).
- **Only what is ours.** Before anything is written, the target is looked at
  without following it: a device, FIFO, socket, or a directory where a file
  is meant, or a symbolic link to any of them, is refused in one line naming
  the path and what it is (:func:`refuse_foreign`). A directory is replaced
  or removed only when it holds nothing but the files its writer writes
  (:func:`swap_directory`), file by file, never with a recursive delete of
  what might be someone else's.
- **One writer at a time.** :func:`lock` is an flock(2) on a lock file that
  holds its holder's PID and start time, re-entrant within a process, taken
  waiting or not.

Nothing here knows what a model, a forecast or a job is; their owners say
which names are theirs.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import glob
import os
import secrets
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from forecaster.errors import BadInput, Busy, WriteFailed, shown
from forecaster.runtime.interrupts import deferred_signals
from forecaster.runtime.processes import alive

#: what a temporary or retired copy of ``name`` is called: ``.name.tmp-PID-...``, ``.name.old-PID``
TEMPORARY, RETIRED = "tmp", "old"
#: what a lock file's holder text is read up to
HOLDER_BYTES = 4096

_KINDS = {
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


# What a path is, before anything is written to it


def foreign_kind(path: Path, directory: bool = False) -> str | None:
    """What ``path`` is when it is no target for a write of a file (or, ``directory``, of a directory); None when
    nothing is there, a regular file is (a directory), or a symbolic link to one, which the write replaces."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:  # nothing there, or nothing this process may see: the write itself says why it cannot
        return None
    wanted = stat.S_IFDIR if directory else stat.S_IFREG
    if stat.S_ISLNK(mode):
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return None  # a dangling link: the write replaces the link, and follows it nowhere
        kind = _KINDS.get(stat.S_IFMT(mode), "a regular file" if directory else None)
        return None if stat.S_IFMT(mode) == wanted or kind is None else f"a symbolic link to {kind}"
    if stat.S_IFMT(mode) == wanted:
        return None
    return _KINDS.get(stat.S_IFMT(mode), "a regular file" if directory else "not a regular file")


def refuse_foreign(path: Path, option: str, directory: bool = False) -> None:
    """A :class:`BadInput` naming ``path``, what it is and the ``option`` that named it, unless a write of a file
    (``directory``: of a directory) may take its place."""
    kind = foreign_kind(path, directory)
    if kind is not None:
        raise BadInput(f"{path}: is {kind}; refusing to replace it{_named(option)}")


def _named(option: str) -> str:
    return f" ({option})" if option else ""


def foreign_entries(directory: Path, ours: Collection[str]) -> list[str]:
    """The entries of ``directory`` its writer did not write: names not in ``ours``, or not regular files."""
    return sorted(
        entry.name
        for entry in os.scandir(directory)
        if entry.name not in ours or not entry.is_file(follow_symlinks=False)
    )


# Writes


@contextlib.contextmanager
def reporting_write_errors(target: Path, what: str) -> Iterator[None]:
    """An OSError while writing ``target`` (disk full, read-only, permission denied) as one line naming it and why."""
    try:
        yield
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        raise WriteFailed(f"{target}: cannot write {what}: {exc.strerror or exc}", retryable=full) from exc


def write_atomic(
    path: str | os.PathLike, content: str | bytes, option: str = "--out", make_parent: bool = False
) -> Path:
    """Put ``content`` at ``path`` whole: written beside it, fsynced, renamed into place, the rename fsynced.

    ``option`` names what asked for the file (``--plot``, a jobs file's key)
    in errors. Its directory must exist unless ``make_parent``. What is at
    ``path`` must be a regular file, or a link to one, which is replaced (the
    file linked to is not touched).
    """
    target = Path(path)
    refuse_foreign(target, option)
    with reporting_write_errors(target, f"it ({option})"):
        if make_parent:
            make_directory(target.parent)
        elif not target.parent.is_dir():
            raise BadInput(f"{target}: its directory does not exist ({option})")
        recover(target)
        descriptor, staged = tempfile.mkstemp(prefix=_temporary_prefix(target), dir=target.parent)
        try:
            with os.fdopen(descriptor, "wb") as stream:  # through the descriptor: its name is never reopened
                os.fchmod(stream.fileno(), _usual_mode(0o666))
                _write_and_sync(stream, content)
            with deferred_signals():
                move_into_place(Path(staged), target, option)  # refusing what appeared there meanwhile
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(staged)
    return target


def write_new(path: Path, suffix: str, content: str | bytes, what: str) -> Path:
    """Write ``content`` to ``path``, or when anything is there, to ``path`` numbered .1, .2... before ``suffix``;
    never replace anything. The file appears whole (written beside, then linked into place). Returns where it went."""
    with reporting_write_errors(path, what):
        make_directory(path.parent)
        with staging_directory(path) as staging:
            draft = staging / path.name
            write_synced(draft, content)
            head = str(path)[: len(str(path)) - len(suffix)]
            number = 0
            while True:
                candidate = path if number == 0 else Path(f"{head}.{number}{suffix}")
                try:
                    os.link(draft, candidate)
                except FileExistsError:
                    number += 1
                    continue
                _fsync(candidate.parent)
                return candidate


def append_stream(path: Path) -> TextIO:
    """``path`` opened for appending text (a log): lines are added after what is there, which is never replaced nor
    truncated, so a device or a pipe (``/dev/stderr``) may take them too."""
    return open(path, "a", encoding="utf-8")


def write_synced(path: Path, content: str | bytes) -> None:
    """Write ``content`` to the new file ``path`` in a directory of this writer's own (a staging one) and fsync it;
    anything already there, a link included, is an error."""
    with open(path, "xb") as stream:
        _write_and_sync(stream, content)


def _write_and_sync(stream: BinaryIO, content: str | bytes) -> None:
    stream.write(content.encode("utf-8") if isinstance(content, str) else content)
    stream.flush()
    os.fsync(stream.fileno())


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading if it is a regular file (links followed): a FIFO or a device is refused rather
    than read, so a record's reader never waits on one."""
    descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    kind = _KINDS.get(stat.S_IFMT(os.fstat(descriptor).st_mode))
    if kind is not None:
        os.close(descriptor)
        raise BadInput(f"{path}: is {kind}, not a file to read")
    return os.fdopen(descriptor, "rb")


def make_directory(path: Path) -> list[Path]:
    """``path`` and its missing parents, as directories; returns those made, outermost first."""
    missing = [parent for parent in (path, *path.parents) if not parent.exists()][::-1]
    path.mkdir(parents=True, exist_ok=True)
    return missing


def make_link(path: Path, to: str) -> None:
    """A new symbolic link at ``path`` (in a staging directory) to ``to``, for :func:`move_into_place` to put in
    place."""
    os.symlink(to, path)


def scratch_directory() -> tempfile.TemporaryDirectory:
    """A new temporary directory of this process's own, removed with all it holds when its ``with`` block ends."""
    return tempfile.TemporaryDirectory(prefix="forecaster-")


@contextlib.contextmanager
def staging_directory(target: Path) -> Iterator[Path]:
    """A new directory beside ``target`` to write its next version in, removed with what is left in it on leaving;
    a dead writer's is removed by :func:`recover`."""
    staging = Path(tempfile.mkdtemp(prefix=_temporary_prefix(target), dir=target.parent))
    try:
        os.chmod(staging, _usual_mode(0o777))
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # made above by this process, named as its own


def move_into_place(staged: Path, target: Path, option: str) -> None:
    """Rename the file or link ``staged`` (in a staging directory beside ``target``) over ``target``, durably."""
    refuse_foreign(target, option)
    with reporting_write_errors(target, f"it ({option})"):
        os.replace(staged, target)
        _fsync(target.parent)


def swap_directory(
    staged: Path, target: Path, previous: Path, ours: Collection[str], option: str, refuse: Callable[[], None]
) -> None:
    """Rename the directory ``staged`` to ``target``; the directory it replaces becomes ``previous``.

    ``ours``: the only names a directory of this kind holds; ``refuse``
    raises, under the lock and before anything moves, unless ``target`` and
    ``previous`` are the writer's to replace. ``previous``'s own earlier copy
    is removed file by file. With ``staged`` being ``previous``, the two swap
    places: a rollback, itself undone by another. Until the swap is over, the
    replaced directory has a retired name that :func:`clean_leftovers` puts
    back, or keeps as ``previous``, should this process die on the way.
    """
    retired = target.parent / f".{target.name}.{RETIRED}-{os.getpid()}-{secrets.token_hex(4)}"
    with reporting_write_errors(target, f"it ({option})"), lock(lock_file(target), wait=True), deferred_signals():
        refuse()
        _fsync(staged)  # its entries, before its name is what readers see
        if target.exists():
            os.rename(target, retired)
        try:
            os.rename(staged, target)
        except BaseException:
            if retired.exists() and not target.exists():
                os.rename(retired, target)
            raise
        if retired.exists():
            _retire(retired, previous, ours)
        _fsync(target.parent)


def _retire(retired: Path, previous: Path, ours: Collection[str]) -> None:
    """Keep the retired directory as ``previous``, whose own earlier copy (our files only) is removed first."""
    if previous.exists():
        _remove_directory(previous, ours)
    os.rename(retired, previous)


def refuse_unowned_directory(
    path: Path, ours: Collection[str], option: str, what: str = "a directory forecaster wrote"
) -> None:
    """A :class:`BadInput` unless ``path`` is absent, or a directory (not a link) holding only files named in
    ``ours``: a directory someone else put anything into (``what`` it should be) is never replaced nor removed."""
    if path.is_symlink():
        raise BadInput(f"{path}: is a symbolic link, not {what}; refusing to replace it{_named(option)}")
    refuse_foreign(path, option, directory=True)
    if not path.exists():
        return
    others = foreign_entries(path, ours)
    if others:
        named = [name if name.isprintable() else shown(name) for name in others[:3]]  # one line, whatever the names
        listed = ", ".join(named) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise BadInput(
            f"{path}: not {what}: it holds {listed}, which forecaster did not write; refusing to replace "
            f"it{_named(option)}"
        )


def remove_file(path: Path) -> None:
    """Delete the regular file or link ``path`` (an older forecast a job's ``keep`` does not keep, a metrics file of a
    shard count no longer run)."""
    if path.is_dir() and not path.is_symlink():
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    path.unlink()


def remove_empty_directory(path: Path) -> bool:
    """Remove the directory ``path`` if it is empty; whether it was."""
    try:
        path.rmdir()
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return False
        raise
    return True


def remove_made_directories(made: list[Path]) -> None:
    """Remove again what :func:`make_directory` made, innermost first, each only if still empty."""
    for directory in reversed(made):
        with contextlib.suppress(OSError):
            if not remove_empty_directory(directory):
                return


def _remove_directory(path: Path, ours: Collection[str]) -> None:
    """Remove ``path``'s files named in ``ours``, then ``path`` itself: what else appeared in it stays, and so then
    does the directory."""
    for name in ours:
        (path / name).unlink(missing_ok=True)
    remove_empty_directory(path)


# Locks


def lock_file(target: Path) -> Path:
    """The lock file of writers of ``target``: ``.<name>.lock`` beside it."""
    return target.parent / f".{target.name}.lock"


#: (device, inode, thread) of each lock file a thread of this process holds -> how many times: another thread of
#: the process takes it as another process would, through its own descriptor
_held: dict[tuple[int, int, int], int] = {}


@contextlib.contextmanager
def lock(
    path: Path,
    wait: bool = False,
    busy: str = "another process holds the lock ({holder})",
    target: Path | None = None,
    what: str = "the lock file",
) -> Iterator[str]:
    """Hold the flock of the lock file ``path`` for the ``with`` block; yields what a holder that died without
    releasing it left in the file ("" when the last one ended cleanly).

    While held, the file holds the holder's PID and start time. A lock file
    this holder made is removed on release, one that was there is emptied;
    a waiter that then gets the lock of a file no longer at ``path`` opens
    ``path`` again, so two processes never hold two files of one name. The
    kernel releases an flock when the last process holding it dies, however
    it dies. Taken again by its holder, it is simply held again. Not ``wait``:
    a :class:`Busy` (exit 75) of ``path`` and ``busy`` with the holder's text.
    Processes forked inside the block share it. A lock file that cannot be
    written (a read-only or full disk) is a :class:`WriteFailed` of ``what``,
    naming ``target`` (the lock file itself by default): the write it guards.
    """
    with reporting_write_errors(target or path, what):
        descriptor, made = _locked_descriptor(path, wait, busy)
    key = _identity(descriptor)
    if key in _held:  # this process holds it already, through another descriptor
        os.close(descriptor)
        _held[key] += 1
        try:
            yield ""
        finally:
            _held[key] -= 1
        return
    try:
        left = _holder_text(descriptor)
        started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        with reporting_write_errors(target or path, what):
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, f"pid {os.getpid()}, started {started}\n".encode(), 0)
        _held[key] = 1
        try:
            yield left
        finally:
            del _held[key]
    finally:
        with contextlib.suppress(OSError):
            if made:
                os.unlink(path)  # still held: a waiter finds its file gone and opens path again
            else:
                os.ftruncate(descriptor, 0)
        os.close(descriptor)


def _locked_descriptor(path: Path, wait: bool, busy: str) -> tuple[int, bool]:
    """A descriptor of the lock file at ``path``, its flock taken (or held already by this process), and whether this
    process made the file."""
    while True:
        descriptor, made = _open_lock(path)
        if _identity(descriptor) in _held:
            return descriptor, made
        holder = _take(descriptor, fcntl.LOCK_EX, wait)
        if holder is not None:
            os.close(descriptor)
            raise Busy(f"{path}: " + busy.format(holder=holder))
        try:
            current = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            current = None
        if current is not None and (current.st_dev, current.st_ino) == _identity(descriptor)[:2]:
            return descriptor, made
        os.close(descriptor)  # its holder removed it as this process waited: the lock is path's file now


def lock_holder(path: Path) -> str | None:
    """Who holds the lock file ``path`` (its PID and start time), or None when no one does; creates nothing."""
    try:
        _refuse_irregular_lock(path, None)
        descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BadInput(f"{path}: cannot open the lock file ({exc.strerror})") from None
    try:
        _refuse_irregular_lock(path, descriptor)
        holder = _take(descriptor, fcntl.LOCK_SH, wait=False)
        if holder is None:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
        return holder
    finally:
        os.close(descriptor)


def _open_lock(path: Path) -> tuple[int, bool]:
    """The lock file ``path`` opened for writing, without following a link, and whether this call made it; a lock
    file that is not a regular file is refused before it is opened (opening a device may act on it)."""
    flags = os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
    while True:
        with contextlib.suppress(FileNotFoundError):
            _refuse_irregular_lock(path, None)
        try:
            try:
                descriptor, made = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644), True
            except FileExistsError:
                descriptor, made = os.open(path, flags), False
        except FileNotFoundError:
            continue  # removed by its holder between the two opens
        try:
            _refuse_irregular_lock(path, descriptor)  # what replaced the file between the look and the open
        except BadInput:
            os.close(descriptor)
            raise
        return descriptor, made


def _refuse_irregular_lock(path: Path, descriptor: int | None) -> None:
    mode = os.fstat(descriptor).st_mode if descriptor is not None else os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        raise BadInput(f"{path}: is a symbolic link; a lock file must be a regular file")
    kind = _KINDS.get(stat.S_IFMT(mode))
    if kind is not None:
        raise BadInput(f"{path}: is {kind}; a lock file must be a regular file")


def _identity(descriptor: int) -> tuple[int, int, int]:
    status = os.fstat(descriptor)
    return status.st_dev, status.st_ino, threading.get_ident()


def _take(descriptor: int, kind: int, wait: bool) -> str | None:
    """Take the flock ``kind``: None once taken; without ``wait``, what its holder wrote in the file if it is held."""
    try:
        fcntl.flock(descriptor, kind if wait else kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder_text(descriptor) or "it has not written its PID yet"
    return None


def _holder_text(descriptor: int) -> str:
    return os.pread(descriptor, HOLDER_BYTES, 0).decode("utf-8", errors="replace").strip()


# What writers killed outright leave


def recover(target: Path, previous: Path | None = None, ours: Collection[str] = ()) -> None:
    """Clean up after writers of ``target`` that were killed outright (see :func:`clean_leftovers`), unless a live
    writer holds its lock (its temporary files are its own) or the lock cannot be taken here (a read-only folder)."""
    if target.parent.is_dir() and _leftovers(target):  # no lock file is made where there is nothing to clean
        with contextlib.suppress(Busy, WriteFailed), lock(lock_file(target)):
            clean_leftovers(target, previous, ours)


def clean_leftovers(target: Path, previous: Path | None = None, ours: Collection[str] = ()) -> None:
    """Remove what a writer killed outright (SIGKILL, power loss) left beside ``target``.

    A killed writer may leave a temporary file or directory, which is
    removed, or, if it died during a swap, the replaced directory under its
    retired name: put back when nothing is at ``target``, else kept as
    ``previous`` (of a directory holding ``ours``), else left where it is. A
    retired directory is never deleted: it may be the only copy of a model.
    """
    for path, kind in _leftovers(target):
        if kind == RETIRED:
            if not target.exists():
                os.rename(path, target)
            elif previous is not None and not (previous.exists() and foreign_entries(previous, ours)):
                _retire(path, previous, ours)
        elif path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)  # named as a dead writer's own temporary directory
        else:
            path.unlink(missing_ok=True)


def _leftovers(target: Path) -> list[tuple[Path, str]]:
    """Temporary and retired copies of ``target`` whose writer is dead."""
    found = []
    for path in target.parent.glob(f".{glob.escape(target.name)}.*-*"):
        kind, _, rest = path.name[len(target.name) + 2 :].partition("-")
        pid = rest.split("-")[0]
        if kind in (TEMPORARY, RETIRED) and pid.isdigit() and not alive(int(pid)):
            found.append((path, kind))
    return found


def _temporary_prefix(target: Path) -> str:
    """Temporary names carry the writer's PID, so a later run can tell a dead writer's leftovers."""
    return f".{target.name}.{TEMPORARY}-{os.getpid()}-"


def _usual_mode(mode: int) -> int:
    """``mode`` less the umask, as open() and mkdir() would create it.

    mkstemp and mkdtemp create 0600 and 0700; a forecast or model renamed
    into place must be as readable as a file written directly, say by the
    web server or the colleague who reads it.
    """
    umask = os.umask(0o077)  # reading the umask means setting it; set it back at once
    os.umask(umask)
    return mode & ~umask


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
