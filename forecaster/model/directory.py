"""Save and load a model directory: model.json and weights.safetensors, nothing executable.

A model is written to a temporary directory beside its target and renamed
into place under a lock, so a reader sees the old model or the new one,
never a mixture, and an interrupted fit leaves the old one untouched.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from forecaster.errors import BadInput, WriteFailed
from forecaster.runtime.interrupts import deferred_signals

#: 2 since forecaster 0.2.0: per-series preparations, an ensemble's cells.N and heads.N, time.origin, requested, chosen,
#: fallback; 3 since 0.3.0: blend (Theta's weight and states); 4 and then 5 in 0.4.0: covariates, and the known ones
#: read over the horizon by each member's decoder (decoders.N)
FORMAT_VERSION = 5
METADATA_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"


def save_model(directory: str | os.PathLike, metadata: dict, tensors: dict) -> Path:
    """Write ``metadata`` and ``tensors`` (name -> torch.Tensor) as the model directory.

    The weights are serialised in memory and written like every other file,
    so a full or read-only disk is one :class:`WriteFailed` naming the
    directory, whichever file it stopped.
    """
    from safetensors.torch import save

    target = Path(directory)
    refuse_unreplaceable(target)  # whoever named it: `fit --out` checked it first, Model.save's caller did not
    weights = save({name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()})
    with reporting_write_errors(target, "the model"):
        target.parent.mkdir(parents=True, exist_ok=True)
        recover(target)
        staging = staging_directory(target)
        try:
            write_synced(staging / WEIGHTS_FILE, weights)
            write_synced(
                staging / METADATA_FILE, json.dumps({"format_version": FORMAT_VERSION, **metadata}, indent=2) + "\n"
            )
            with _locked(target), deferred_signals():
                _replace_directory(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


@contextlib.contextmanager
def reporting_write_errors(target: Path, what: str) -> Iterator[None]:
    """An OSError while writing ``target`` (disk full, read-only, permission denied) as one line naming it and why."""
    try:
        yield
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        raise WriteFailed(f"{target}: cannot write {what}: {exc.strerror or exc}", retryable=full) from exc


def _staging_prefix(target: Path) -> str:
    """Temporary names carry the writer's PID, so a later run can tell a dead writer's leftovers."""
    return f".{target.name}.tmp-{os.getpid()}-"


def staging_directory(target: Path) -> Path:
    """A new directory beside ``target`` to write its next version in; a dead writer's is removed by :func:`recover`."""
    staging = Path(tempfile.mkdtemp(prefix=_staging_prefix(target), dir=target.parent))
    os.chmod(staging, _usual_mode(0o777))
    return staging


def is_replaceable(target: Path) -> bool:
    """Nothing there, or a model directory: never replace a user's other files with a model."""
    return not target.is_symlink() and (not target.exists() or (target / METADATA_FILE).is_file())


def refuse_unreplaceable(target: Path, option: str = "") -> None:
    """:func:`is_replaceable`, or a :class:`BadInput` naming ``target`` and the ``option`` that named it, if any."""
    if not is_replaceable(target):
        named = f" ({option})" if option else ""
        raise BadInput(f"{target}: exists and is not a model directory; refusing to replace it{named}")


def install_model(staged: Path, target: Path, previous: Path) -> None:
    """Rename the model directory ``staged`` to ``target``, keeping the model it replaces as ``previous``.

    ``previous``'s own earlier model is removed. With ``staged`` being
    ``previous``, the two models swap places: a rollback, itself undone by
    another.
    """
    refuse_unreplaceable(target, "key 'model'")
    with _locked(target), deferred_signals():
        _replace_directory(staged, target, previous)


def recover(target: Path) -> None:
    """Clean up after writers of ``target`` that were killed outright; see :func:`clean_leftovers`."""
    if target.parent.is_dir() and _leftovers(target):  # no lock file is made where there is nothing to clean
        with _locked(target):
            clean_leftovers(target)


def clean_leftovers(target: Path) -> None:
    """Remove what a writer killed outright (SIGKILL, power loss) left beside ``target``.

    A killed writer may leave a temporary file or directory, or, if it died
    between the two renames of a swap, the previous model under its retired
    name with nothing at ``target``: that one is put back.
    """
    for path, kind in _leftovers(target):
        if kind == "old" and not target.exists():
            os.rename(path, target)
        elif path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _leftovers(target: Path) -> list[tuple[Path, str]]:
    """Temporary (``tmp``) and retired (``old``) copies of ``target`` whose writer is dead."""
    found = []
    for path in target.parent.glob(f".{target.name}.*-*"):
        kind, _, rest = path.name[len(target.name) + 2 :].partition("-")
        pid = rest.split("-")[0]
        if kind in ("tmp", "old") and pid.isdigit() and not _alive(int(pid)):
            found.append((path, kind))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _replace_directory(staging: Path, target: Path, previous: Path | None = None) -> None:
    """Swap ``staging`` in; the model replaced is removed, or kept as ``previous``.

    Until it is removed or kept, the replaced model has a retired name that
    :func:`clean_leftovers` puts back should this process die before
    ``staging`` is in place.
    """
    retired = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        os.rename(target, retired)
    try:
        os.rename(staging, target)
    except BaseException:
        if retired.exists() and not target.exists():
            os.rename(retired, target)
        raise
    if previous is not None and retired.exists():
        shutil.rmtree(previous, ignore_errors=True)
        os.rename(retired, previous)
    else:
        shutil.rmtree(retired, ignore_errors=True)
    _fsync(target.parent)


@contextlib.contextmanager
def _locked(target: Path) -> Iterator[None]:
    with open(target.parent / f".{target.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def write_synced(path: Path, content: str | bytes) -> None:
    with open(path, "wb") as stream:
        stream.write(content.encode("utf-8") if isinstance(content, str) else content)
        stream.flush()
        os.fsync(stream.fileno())


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


def metadata_file(directory: str | os.PathLike) -> Path:
    """The model.json of the model directory ``directory``, a plain file; forecaster.model.card reads it."""
    root = Path(directory)
    path = root / METADATA_FILE
    if not root.exists():
        recover(root)  # a writer killed between its two renames leaves the model under a retired name
    if not root.is_dir():
        raise BadInput(f"{root}: no such model directory")
    if not path.is_file():
        raise BadInput(f"{root}: not a model directory (no {METADATA_FILE}); create one with 'forecaster fit'")
    _refuse_links(root, path)
    return path


def weights_header(directory: str | os.PathLike) -> dict[str, tuple[tuple[int, ...], str]]:
    """Each tensor's shape and dtype (safetensors' names: F32, I8, BOOL...), from the file's header alone.

    No tensor is read: what the header claims is checked against the
    network before memory is allocated for either.
    """
    from safetensors import safe_open

    path = _weights_file(directory)
    with _reading_safetensors(path), safe_open(str(path), framework="pt") as weights:
        return {
            name: (tuple(weights.get_slice(name).get_shape()), weights.get_slice(name).get_dtype())
            for name in weights.keys()  # noqa: SIM118  safetensors' safe_open has keys() but is not iterable
        }


def load_weights(directory: str | os.PathLike, dtypes: dict) -> dict:
    """The tensors ``dtypes`` names (name -> torch dtype) from weights.safetensors, each read once and converted
    only where the file holds another floating-point type; safetensors never runs code from the file."""
    from safetensors import safe_open

    path = _weights_file(directory)
    with _reading_safetensors(path), safe_open(str(path), framework="pt") as weights:
        return {name: weights.get_tensor(name).to(dtype) for name, dtype in dtypes.items()}


def _weights_file(directory: str | os.PathLike) -> Path:
    root = Path(directory)
    path = root / WEIGHTS_FILE
    if not path.is_file():
        raise BadInput(f"{root}: no {WEIGHTS_FILE}")
    _refuse_links(root, path)
    return path


@contextlib.contextmanager
def _reading_safetensors(path: Path) -> Iterator[None]:
    from safetensors import SafetensorError

    try:
        yield
    except (SafetensorError, OSError, ValueError) as exc:
        raise BadInput(f"{path}: not a safetensors file ({str(exc).splitlines()[0]})") from None


def _refuse_links(root: Path, path: Path) -> None:
    if path.is_symlink():
        raise BadInput(f"{path}: is a symbolic link; a model directory holds plain files only")


def write_file(
    path: str | os.PathLike, content: str | bytes, option: str = "--out", make_directory: bool = False
) -> None:
    """Write ``content`` to a temporary file beside ``path`` and rename it into place.

    ``option`` names what asked for the file (``--plot``, a jobs file's key)
    in errors. Its directory must exist unless ``make_directory``.
    """
    target = Path(path)
    if target.is_dir():
        raise BadInput(f"{target}: is a directory ({option})")
    with reporting_write_errors(target, f"it ({option})"):
        if make_directory:
            target.parent.mkdir(parents=True, exist_ok=True)
        elif not target.parent.is_dir():
            raise BadInput(f"{target}: its directory does not exist ({option})")
        clean_leftovers(target)
        descriptor, staging = tempfile.mkstemp(prefix=_staging_prefix(target), dir=target.parent)
        os.close(descriptor)
        try:
            os.chmod(staging, _usual_mode(0o666))
            write_synced(Path(staging), content)
            os.replace(staging, target)
        finally:
            if os.path.exists(staging):
                os.unlink(staging)
