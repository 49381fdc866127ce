"""CSV files kept compressed: .gz, .bz2, .zip, .xz or .zst, read as the bytes they hold.

Decided by the extension, as pandas infers it. Every reader of a CSV file
opens it here, so the checks of :mod:`forecaster.data.table` (UTF-8, delimiter,
header) see the decompressed text, whatever the file is kept as. The
standard library's modules (and for zstd its Python 3.14 module, backported)
raise on a truncated file; the ``zstandard`` package that pandas uses
returns what it could decompress without a word, silently dropping rows.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import os
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd  # the same module, for earlier versions (setup.cfg)

from forecaster.errors import BadInput

#: extension -> the name of its compression, for messages
FORMATS = {".gz": "gzip", ".bz2": "bzip2", ".zip": "zip", ".xz": "xz", ".zst": "zstd"}
#: what a damaged or truncated file of each format raises while it is read (gzip and bz2: OSErrors)
DAMAGED = (EOFError, OSError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, zstd.ZstdError)


def compression_of(path: str | os.PathLike) -> str | None:
    """The compression of ``path`` by its extension (case ignored), None for a plain file."""
    return FORMATS.get(Path(path).suffix.lower())


def csv_stem(path: str | os.PathLike) -> str:
    """The file's name without its compression and CSV suffixes: data.csv.gz -> data."""
    name = Path(path).name
    if compression_of(name):
        name = name[: -len(Path(name).suffix)]
    return Path(name).stem


@contextlib.contextmanager
def open_csv(path: Path) -> Iterator[IO[bytes]]:
    """``path``'s decompressed bytes as a stream; a damaged file is a :class:`BadInput` naming it, whenever it shows."""
    kind = compression_of(path)
    try:
        with _opened(path, kind) as stream:
            yield stream
    except DAMAGED as exc:
        if kind is None or isinstance(exc, (FileNotFoundError, PermissionError)):
            raise  # the caller says what a missing or unreadable file is
        raise BadInput(f"{path}: the {kind} data is damaged or cut short ({exc})") from None


@contextlib.contextmanager
def _opened(path: Path, kind: str | None) -> Iterator[IO[bytes]]:
    if kind == "zip":
        with zipfile.ZipFile(path) as archive:
            members = [member for member in archive.infolist() if not member.is_dir()]
            if len(members) != 1:
                raise BadInput(f"{path}: a .zip archive must hold exactly one CSV file; it holds {len(members)}")
            with archive.open(members[0]) as stream:
                yield stream
        return
    openers: dict[str | None, Callable[..., IO[Any]]] = {
        None: open,
        "gzip": gzip.open,
        "bzip2": bz2.open,
        "xz": lzma.open,
        "zstd": zstd.open,
    }
    with openers[kind](path, "rb") as stream:
        yield stream
