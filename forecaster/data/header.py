"""The cheap look at a CSV file, before anything costly: it is there and readable, UTF-8, within its limits, and its
header names each column once, in printable text.

Every door (fit, predict's ``--csv`` and ``--future``, backtest, a batch job,
the Python functions) calls :func:`check` before it loads a model or imports
torch, so that a bad file costs what reading its first line and measuring it
cost (:func:`forecaster.data.limits.measure`), and nothing more. Without
pandas: ``fit`` checks its file before it starts its workers.

The header is read here, not by pandas, which renames a second ``v`` to
``v.1`` and reads a second time column as a series.
"""

from __future__ import annotations

import csv
import io
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from forecaster.data import limits
from forecaster.data.compressed import compression_of, open_csv
from forecaster.errors import BadInput

DELIMITERS = (",", ";", "\t", "|")
#: the start of a file read to check its encoding and find its delimiter
HEAD_BYTES = 65536
#: duplicated or unprintable names listed in a refusal
SHOWN = 5


@dataclass(frozen=True)
class Head:
    """What the start of a file says of the whole."""

    header: str  #: its first line, as far as the first HEAD_BYTES hold it
    delimiter: str
    decompressed: str  #: " once decompressed" for a compressed file, for messages about its bytes


def check(path: str | os.PathLike) -> Head:
    """Refuse ``path`` by name unless it is a readable UTF-8 file within the current limits whose header names each
    column once, without control characters; what its start says."""
    path, name = Path(path), str(path)
    head = _head(path, name)
    limits.measure(path, name, head.delimiter)
    with open_csv(path) as stream:
        refuse_bad_names(stream, head.delimiter, name)
    return head


def check_if_file(data: object) -> None:
    """:func:`check` ``data`` when it is a file's path (a DataFrame is in memory already)."""
    if isinstance(data, (str, os.PathLike)):
        check(data)


def _head(path: Path, name: str) -> Head:
    if path.is_dir():
        raise BadInput(f"{name}: is a directory, not a CSV file")
    decompressed = " once decompressed" if compression_of(path) else ""
    try:
        with open_csv(path) as stream:
            start = stream.read(HEAD_BYTES)
        text = start.decode("utf-8-sig", errors="strict") if start else ""
    except FileNotFoundError:
        raise BadInput(f"{name}: no such file") from None
    except PermissionError:
        raise BadInput(f"{name}: is not readable (permission denied)") from None
    except UnicodeDecodeError as exc:
        if exc.start < len(start) - 4:  # a multi-byte character cut at the end of the sample is fine
            raise BadInput(f"{name}: not UTF-8 text (byte {exc.start + 1}{decompressed})") from None
        text = start[: exc.start].decode("utf-8-sig")
    header = text.splitlines()[0] if text.strip() else ""
    if not header.strip():
        raise BadInput(f"{name}: is empty")
    return Head(header, max(DELIMITERS, key=header.count), decompressed)


def column_names(stream: IO[bytes], delimiter: str, name: str) -> list[str]:
    """The header's names as written, read from the start of ``stream`` (left at its start)."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    try:
        return next(csv.reader(text, delimiter=delimiter, skipinitialspace=True, strict=True), [])
    except csv.Error:  # a quote never closed, or a name beyond the csv module's 131,072 characters
        raise BadInput(
            f"{name}: line 1: its header does not read as names: a quote is not closed where a name ends, or a name "
            f"is longer than {csv.field_size_limit():,} characters"
        ) from None
    finally:
        text.detach()
        stream.seek(0)


def refuse_bad_names(stream: IO[bytes], delimiter: str, name: str) -> None:
    """The header at the start of ``stream`` held to :func:`refuse_names`."""
    refuse_names(column_names(stream, delimiter, name), name)


def refuse_names(names: list[str], name: str) -> None:
    """Two columns of one name (once stripped of spaces) or a name holding a control character (a NUL, a line feed):
    refused, naming the columns by name and place (1 is the first)."""
    names = [column.strip() for column in names]
    unprintable = [(place, column) for place, column in enumerate(names, 1) if _has_control(column)]
    if unprintable:
        raise BadInput(
            f"{name}: line 1: a column name holds a control character: "
            + ", ".join(f"column {place} {column!r}" for place, column in unprintable[:SHOWN])
            + "; name each column in printable text"
        )
    places: dict[str, list[int]] = {}
    for place, column in enumerate(names, 1):
        if column:  # unnamed columns (an index's) are told apart by their place
            places.setdefault(column, []).append(place)
    twice = [(column, where) for column, where in places.items() if len(where) > 1]
    if twice:
        raise BadInput(
            f"{name}: line 1: "
            + "; ".join(
                f"{'two' if len(where) == 2 else len(where)} columns are named {column!r} (columns "
                f"{', '.join(map(str, where))})"
                for column, where in twice[:SHOWN]
            )
            + "; name each column once"
        )


def _has_control(column: str) -> bool:
    return any(unicodedata.category(character) == "Cc" for character in column)
