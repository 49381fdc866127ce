"""The model directory: its files, its format version, and both directions, :func:`save` and :func:`read_card`.

A model directory holds model.json (:class:`~forecaster.model.card.Card`'s
fields and the format version) and weights.safetensors, nothing executable
and nothing else. It is written whole beside its target and swapped into
place (:func:`forecaster.runtime.files.swap_directory`), so a reader sees the
old model or the new one, never a mixture; the model replaced is kept as
``<model>.previous``, which :func:`restore` puts back. One writer at a time:
a save, a fit into it and a batch job's run on it each hold its lock.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

from forecaster import __version__
from forecaster.data import limits
from forecaster.errors import BadInput
from forecaster.model import jsonread
from forecaster.model.card import Card
from forecaster.runtime import files

#: 2 since forecaster 0.2.0: per-series preparations, an ensemble's cells.N and heads.N, time.origin, requested, chosen,
#: fallback; 3 since 0.3.0: blend (Theta's weight and states); 4 and then 5 in 0.4.0: covariates, and the known ones
#: read over the horizon by each member's decoder (decoders.N)
FORMAT_VERSION = 5
METADATA_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
#: all a model directory holds: one holding anything else is not replaced
FILES = (METADATA_FILE, WEIGHTS_FILE)
#: where the model a save replaced is kept: ``<model>.previous``
PREVIOUS_SUFFIX = ".previous"
#: the deepest nesting of model.json read; a fit writes 5 levels (metrics.series.<name>.model.mae)
MAX_DEPTH = 10
#: the longest weights header read: a tensor's entry takes about 80 bytes, a member a dozen of them
MAX_HEADER_BYTES = 64 * 2**20
#: safetensors' dtypes, and the bytes of one value of each
DTYPE_BYTES = {
    **dict.fromkeys(("BOOL", "U8", "I8", "F8_E4M3", "F8_E5M2"), 1),
    **dict.fromkeys(("I16", "U16", "F16", "BF16"), 2),
    **dict.fromkeys(("I32", "U32", "F32"), 4),
    **dict.fromkeys(("I64", "U64", "F64"), 8),
}


def previous_model(model: Path) -> Path:
    """Where the model that ``model``'s last save replaced is kept."""
    return model.with_name(model.name + PREVIOUS_SUFFIX)


def save(directory: str | os.PathLike, card: Card, tensors: dict, option: str = "") -> Path:
    """Write ``card`` and ``tensors`` (name -> torch.Tensor) as the model directory ``directory``, keeping the model
    it replaces as ``<directory>.previous``; ``option`` names what named the directory, in errors.

    The weights are serialised in memory and written like every other file,
    so a full or read-only disk is one :class:`WriteFailed` naming the
    directory, whichever file it stopped.
    """
    from safetensors.torch import save as serialised

    target = Path(directory)
    refuse_unreplaceable(target, option)
    weights = serialised({name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()})
    metadata = json.dumps({"format_version": FORMAT_VERSION, **card.to_json()}, indent=2) + "\n"
    size = len(metadata.encode("utf-8"))
    if size > limits.current().model_json_bytes:  # what fit writes, predict reads: never a card it would refuse
        limits.refuse(
            str(target / METADATA_FILE),
            f"a model.json of {size:,} bytes, which predict could not read, was not written",
            "model_json_bytes",
        )
    with (
        writing(target),
        files.reporting_write_errors(target, "the model"),
        files.staging_directory(target) as staged,
    ):
        files.write_synced(staged / WEIGHTS_FILE, weights)
        files.write_synced(staged / METADATA_FILE, metadata)
        install(staged, target, option)
    return target


@contextlib.contextmanager
def writing(target: Path, wait: bool = False) -> Iterator[None]:
    """Hold the lock of the model directory ``target`` for a write of it: a fit from its start, a save, a batch job;
    while another process writes it, :class:`Busy` (exit 75) naming the holder, or with ``wait`` (a batch job, which
    then decides again) wait for it. Leftovers of writers of it that were killed outright are cleaned first."""
    busy = "another forecaster is writing this model directory ({holder})"
    with files.reporting_write_errors(target, "the model"):
        made = files.make_directory(target.parent)
    try:
        with files.lock(files.lock_file(target), wait=wait, busy=busy, target=target, what="the model"):
            with files.reporting_write_errors(target, "the model"):
                files.clean_leftovers(target, previous_model(target), FILES)
            yield
    except BaseException:
        files.remove_made_directories(made)  # a fit that failed leaves nothing behind
        raise


def install(staged: Path, target: Path, option: str = "") -> None:
    """Put the model directory ``staged`` at ``target``; the model it replaces becomes ``<target>.previous``."""
    files.swap_directory(
        staged, target, previous_model(target), FILES, option, lambda: refuse_unreplaceable(target, option)
    )


def restore(model: Path, rehearse: bool = False) -> Card:
    """Swap ``model`` with the one its last save replaced (``rehearse``: check that it could, change nothing); the
    card of the model put in place. Restoring twice undoes the first."""
    previous = previous_model(model)
    try:
        card = read_card(previous)
    except BadInput as exc:
        raise BadInput(f"{model}: no previous model to roll back to ({exc})") from None
    if not rehearse:
        with writing(model):
            files.swap_directory(previous, model, previous, FILES, "", lambda: refuse_unreplaceable(model))
    return card


def refuse_unreplaceable(target: Path, option: str = "") -> None:
    """A :class:`BadInput` naming ``target``, what is wrong and the ``option`` that named it, unless a save may put a
    model there: nothing there, or a model directory holding no file forecaster did not write, whose
    ``.previous`` is the same."""
    named = f" ({option})" if option else ""
    for path in (target, previous_model(target)):
        if path.exists() and not path.is_symlink() and not path.is_dir():
            raise BadInput(f"{path}: exists and is not a model directory; refusing to replace it{named}")
        files.refuse_unowned_directory(path, FILES, option, "a model directory")
        card = path / METADATA_FILE
        if card.is_file() and not _written_here(card):
            raise BadInput(
                f"{path}: not a model directory: its {METADATA_FILE} is not one forecaster wrote (no format_version); "
                f"refusing to replace it{named}"
            )


def _written_here(card: Path) -> bool:
    """Whether ``card`` reads as a model.json of some forecaster's: a JSON object with a whole format_version."""
    try:
        data = jsonread.parse(card, limits.current().model_json_bytes, MAX_DEPTH, METADATA_FILE)
    except BadInput:
        return False
    version = data.get("format_version") if isinstance(data, dict) else None
    return isinstance(version, int) and not isinstance(version, bool)


def read_card(directory: str | os.PathLike) -> Card:
    """The card of the model directory ``directory``, its format version and every field checked; else a
    :class:`BadInput` naming the file and field.

    model.json is read with bounds (:func:`forecaster.model.jsonread.parse`):
    its size (the limit ``model_json_bytes``), its nesting (:data:`MAX_DEPTH`)
    and the digits of an integer.
    """
    path = _metadata_file(directory)
    most = limits.current().model_json_bytes
    with contextlib.suppress(OSError):  # parse says what a missing or unreadable file is
        if (size := path.stat().st_size) > most:
            limits.refuse(str(path), f"{size:,} bytes", "model_json_bytes")
    data = jsonread.parse(path, most, MAX_DEPTH, METADATA_FILE)
    if not isinstance(data, dict):
        raise BadInput(f"{path}: not a JSON object")
    _check_format(data, path)
    return Card.from_json({key: value for key, value in data.items() if key != "format_version"}, str(path))


def _check_format(data: dict, path: Path) -> None:
    """A model of another format is refused, saying how to get one of this format."""
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BadInput(
            f"{path}: format_version {version!r} is not a format this forecaster knows (it reads format "
            f"{FORMAT_VERSION})"
        )
    if version > FORMAT_VERSION:
        raise BadInput(
            f"{path}: format_version {version}: written by a newer forecaster than {__version__}, which reads "
            f"format {FORMAT_VERSION}; upgrade forecaster"
        )
    if version < FORMAT_VERSION:
        training = data.get("training")
        source = training.get("source") if isinstance(training, dict) else None
        csv = shlex.quote(source) if isinstance(source, str) else "<csv>"
        raise BadInput(
            f"{path}: format_version {version}: written by an earlier forecaster, and forecaster {__version__} reads "
            f"format {FORMAT_VERSION}; fit it again: forecaster fit {csv} --out {shlex.quote(str(path.parent))}"
        )


def _metadata_file(directory: str | os.PathLike) -> Path:
    """The model.json of the model directory ``directory``, a plain file."""
    root = Path(directory)
    path = root / METADATA_FILE
    if not root.exists():
        files.recover(root, previous_model(root), FILES)  # a writer killed mid-swap leaves it under a retired name
    if root.exists() and not root.is_dir():
        what = "a file" if root.is_file() else "neither a file nor a directory"
        raise BadInput(f"{root}: is {what}, not a model directory (a model directory holds {' and '.join(FILES)})")
    if not root.is_dir():
        raise BadInput(f"{root}: no such model directory")
    if not path.is_file():
        raise BadInput(f"{root}: not a model directory (no {METADATA_FILE}); create one with 'forecaster fit'")
    _refuse_links(root, path)
    return path


def weights_header(directory: str | os.PathLike) -> dict[str, tuple[tuple[int, ...], str]]:
    """Each tensor's shape and dtype (safetensors' names: F32, I8, BOOL...), from the file's header alone, read here
    rather than by safetensors, which maps the file before it checks the header: a tensor list naming a gigabyte
    tensor cost a gigabyte of address space before it could be refused.

    No tensor is read: every entry is checked (a known dtype, a shape, data
    offsets that hold exactly its values, one tensor after another to the
    file's end), then compared with the network before memory is allocated
    for either.
    """
    path = _weights_file(directory)
    with files.open_regular(path) as stream:
        size = os.fstat(stream.fileno()).st_size
        prefix = stream.read(8)
        length = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
        if not 2 <= length <= min(MAX_HEADER_BYTES, size - 8):
            _not_weights(path, f"its header's length {length:,} does not fit a header within {size:,} bytes")
        try:
            text = stream.read(length).decode("utf-8")
        except UnicodeDecodeError:
            _not_weights(path, "its header is not UTF-8 text")
    header = jsonread.loads(text, path, 3, f"{WEIGHTS_FILE} header")
    if not isinstance(header, dict):
        _not_weights(path, "its header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(value, str) for value in metadata.values()):
        _not_weights(path, "its __metadata__ is not an object of strings")
    entries = {name: _tensor_entry(path, name, entry) for name, entry in header.items()}
    end = 0
    for name, (_, _, (begin, stop)) in sorted(entries.items(), key=lambda item: item[1][2]):
        if begin != end:
            _not_weights(
                path, f"tensor {name!r} starts at byte {begin:,} of the data, not where the last ended ({end:,})"
            )
        end = stop
    if end != size - 8 - length:
        _not_weights(path, f"its tensors hold {end:,} bytes, and the file {size - 8 - length:,} after its header")
    return {name: (shape, dtype) for name, (shape, dtype, _) in entries.items()}


def _tensor_entry(path: Path, name: str, entry: object) -> tuple[tuple[int, ...], str, tuple[int, int]]:
    """A header's entry of tensor ``name``: its shape, dtype, and the data it holds (offsets exactly its values')."""
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        _not_weights(path, f"tensor {name!r} is not described by exactly an element type, a shape and data offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPE_BYTES:
        _not_weights(path, f"tensor {name!r} is of element type {dtype!r}, which no weights file holds")
    whole = [isinstance(number, int) and not isinstance(number, bool) and number >= 0 for number in [*shape, *offsets]]
    if not (isinstance(shape, list) and isinstance(offsets, list) and len(offsets) == 2 and all(whole)):
        _not_weights(path, f"tensor {name!r}: its shape and data offsets are not lists of whole numbers")
    values = math.prod(shape)
    if offsets[1] - offsets[0] != values * DTYPE_BYTES[dtype]:
        _not_weights(
            path, f"tensor {name!r}: {values:,} {dtype} values do not fill bytes {offsets[0]:,} to {offsets[1]:,}"
        )
    return tuple(shape), dtype, (offsets[0], offsets[1])


def _not_weights(path: Path, problem: str) -> NoReturn:
    raise BadInput(f"{path}: not a safetensors file as forecaster writes it: {problem}")


def load_weights(directory: str | os.PathLike, dtypes: dict) -> dict:
    """The tensors ``dtypes`` names (name -> torch dtype) from weights.safetensors, each read once and converted
    only where the file holds another floating-point type; safetensors never runs code from the file. Called once
    :func:`weights_header` has checked the file and the network it holds is known to fit in memory."""
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
    """safetensors' errors in forecaster's words: its own texts name its internals, not the file's fault."""
    from safetensors import SafetensorError

    try:
        yield
    except OSError as exc:
        raise BadInput(f"{path}: cannot be read ({exc.strerror or 'the system refused'})") from None
    except (SafetensorError, ValueError):
        _not_weights(path, "safetensors cannot read its tensors")


def _refuse_links(root: Path, path: Path) -> None:
    if path.is_symlink():
        raise BadInput(f"{path}: is a symbolic link; a model directory holds plain files only")
