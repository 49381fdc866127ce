"""What one input may cost before it is read: bytes once decompressed, their ratio to the file's, one line's length,
rows, columns, and a model.json's size.

A file from elsewhere (a nightly feed, a stranger's model directory) is
measured before it is parsed (:func:`measure`): a
compressed file that inflates a thousandfold, or holds one gigabyte-long
cell, is refused once it passes a limit, in constant memory, rather than
after pandas has held it all as text. The defaults are far beyond what a
real series file needs; ``--limit NAME=VALUE`` (fit, predict, backtest,
batch), a jobs file's ``limits`` table and the Python keyword ``limits``
raise or lower them. A command applies its limits for its whole run
(:func:`applied`); readers ask :func:`current`.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import dataclasses
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from forecaster.data.compressed import compression_of, open_csv
from forecaster.errors import BadInput, shown

#: sizes as a user writes them: 20GB, 512MiB, 1e9
UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
#: bytes read at a time while a file is measured
CHUNK = 2**20
#: the ratio limit leaves alone what inflates to less than this: a tiny file of repeated values is a normal file
RATIO_FLOOR = 64 * 2**20


@dataclass(frozen=True)
class Limits:
    input_bytes: int = 8 * 2**30  #: one CSV's bytes, once decompressed
    ratio: int = 100  #: a compressed CSV's bytes once decompressed, per byte of the file (beyond RATIO_FLOOR)
    line_bytes: int = 2**20  #: one line of a CSV, and so any one cell
    rows: int = 20_000_000  #: a CSV's lines after its header
    columns: int = 100_000  #: a CSV's columns
    model_json_bytes: int = 64 * 2**20  #: a model directory's model.json (about 2 KB a series)
    #: the bytes a network or a forecast may take, estimated before it is allocated; None: what this process may still
    #: take (forecaster.runtime.memory.available)
    memory: int | None = None

    @classmethod
    def of(cls, given: Limits | Mapping[str, object] | None, where: str, base: Limits | None = None) -> Limits:
        """``base`` (the defaults) with ``given``'s values: a mapping of names to sizes or counts (a Python keyword,
        a jobs file's table), checked; ``where`` names it in errors. Limits given whole are taken as they are."""
        if isinstance(given, Limits):
            return given
        base = base or cls()
        if given is None:
            return base
        if not isinstance(given, Mapping):
            raise BadInput(f"{where} must be a table of limits such as {{rows = 50000000}}, not {shown(given)}")
        return dataclasses.replace(
            base, **{_name(key, where): _value(key, value, where) for key, value in given.items()}
        )

    @classmethod
    def parse(cls, texts: tuple[str, ...] | list[str]) -> Limits:
        """The defaults with ``--limit NAME=VALUE`` options' values."""
        given = {}
        for text in texts:
            key, equals, value = text.partition("=")
            if not equals:
                raise BadInput(f"--limit takes NAME=VALUE, such as rows=50000000, not {shown(text)}")
            given[key.strip()] = value.strip()
        return cls.of(given, "--limit")


def _name(key: object, where: str) -> str:
    names = [field.name for field in dataclasses.fields(Limits)]
    name = str(key).replace("-", "_")
    if name not in names:
        raise BadInput(f"{where}: no limit is called {shown(key)}; the limits are {', '.join(names)}")
    return name


def _value(key: object, value: object, where: str) -> int:
    """A positive whole count or size: 50000000, 5e7, '20GB', '512MiB'."""
    number: float | int
    if isinstance(value, bool):
        number = math.nan
    elif isinstance(value, (int, float)):
        number = value
    else:
        match = re.fullmatch(r"\s*([0-9.eE+_]+)\s*([A-Za-z]*)\s*", str(value))
        try:
            digits = match[1].replace("_", "") if match else ""
            whole = int(digits) if digits.isdigit() else float(digits)  # 9223372036854775807 as it is written
            number = whole * UNITS[match[2].upper()] if match else math.nan
        except (ValueError, KeyError, OverflowError):
            number = math.nan
    if not (isinstance(number, int) or math.isfinite(number)) or not (1 <= number < 2**63 and number == int(number)):
        raise BadInput(
            f"{where}: limit {key} must be a whole number of at least 1 (a size may say KB, MB, GB, MiB, GiB), "
            f"not {shown(value)}"
        )
    return int(number)


#: the limits outside any command, job or call that sets its own
DEFAULTS = Limits()
_current: contextvars.ContextVar[Limits] = contextvars.ContextVar("limits", default=DEFAULTS)


def current() -> Limits:
    """The limits of the command, job or call running now (the defaults outside any)."""
    return _current.get()


@contextlib.contextmanager
def applied(limits: Limits) -> Iterator[Limits]:
    """Run the enclosed reads under ``limits``."""
    token = _current.set(limits)
    try:
        yield limits
    finally:
        _current.reset(token)


#: what a Python caller may give as ``limits=``: some limits by name (``{"rows": 50_000_000}``), or all of them
Given = Limits | Mapping[str, object] | None


def within(given: Given) -> contextlib.AbstractContextManager[Limits]:
    """Run the enclosed reads under the current limits with the Python keyword ``limits=``'s values."""
    return applied(Limits.of(given, "limits=", base=current()))


def refuse(name: str, what: str, limit: str) -> NoReturn:
    """A file beyond a limit: one line naming the file, what it holds, the limit and how to raise it."""
    value = getattr(current(), limit)
    raise BadInput(
        f"{name}: {what}, beyond the limit {limit}={value:,} (raise it with --limit {limit}=N, a jobs file's "
        f"limits table or the keyword limits=)"
    )


def within_memory(needed: int, what: str, machine: Callable[[], int]) -> None:
    """Refuse ``what`` (its option or file, and what it asks for) when the ``needed`` bytes estimated for it pass the
    limit ``memory``, or without one the bytes ``machine()`` says this process may still take."""
    given = current().memory
    allowed = given if given is not None else machine()
    if needed > allowed:
        beyond = (
            f"the limit memory={given:,}"
            if given is not None
            else f"the {allowed:,} this process may still take (available memory, its cgroup and RLIMIT_AS)"
        )
        raise BadInput(
            f"{what}: would take about {needed:,} bytes, beyond {beyond}; ask for less (another limit: --limit "
            "memory=N, a jobs file's limits table or the keyword limits=)"
        )


#: the last files measured within their limits, as (device, inode, size, modified, delimiter, limits): a door that
#: checks its file before loading a model reads it again without measuring it twice
_measured: collections.deque[tuple] = collections.deque(maxlen=8)


def measure(path: Path, name: str, delimiter: str) -> None:
    """Read ``path`` through once, a chunk at a time, and refuse it at the first limit it passes: its decompressed
    bytes, one line's length, its rows, its header's columns (``delimiter``-separated). A file measured within the
    same limits, unchanged since, is not read again."""
    status = path.stat()
    identity = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, delimiter, current())
    if identity not in _measured:
        _read_through(path, name, delimiter)
        _measured.append(identity)


def _read_through(path: Path, name: str, delimiter: str) -> None:
    limits = current()
    once = " once decompressed" if compression_of(path) else ""
    budget, limit, why = limits.input_bytes, "input_bytes", ""
    if once:
        size = path.stat().st_size
        if max(limits.ratio * size, RATIO_FLOOR) < budget:
            budget, limit = max(limits.ratio * size, RATIO_FLOOR), "ratio"
            why = (
                f": {limits.ratio} times the file's {size:,}"
                if limits.ratio * size >= RATIO_FLOOR
                else f": the {RATIO_FLOOR:,} bytes any file may inflate to, more than {limits.ratio} times its {size:,}"
            )
    total = lines = line = 0
    columns = 1
    in_header = True
    separator = delimiter.encode()
    with open_csv(path) as stream:
        while chunk := stream.read(CHUNK):
            total += len(chunk)
            if total > budget:
                refuse(name, f"more than {budget:,} bytes{once}{why}", limit)
            first = chunk.find(b"\n")
            if in_header:
                columns += chunk.count(separator, 0, len(chunk) if first < 0 else first)
                if columns > limits.columns:
                    refuse(name, f"its header has more than {limits.columns:,} columns", "columns")
                in_header = first < 0
            if first < 0:
                line += len(chunk)
            else:
                # the line this chunk ends, then those wholly inside it (a chunk may be longer than the limit)
                whole = chunk[first + 1 :].split(b"\n")[:-1] if len(chunk) > limits.line_bytes else []
                for number, length in enumerate([line + first, *map(len, whole)], start=lines + 1):
                    if length > limits.line_bytes:
                        refuse(name, f"line {number:,} is longer than {limits.line_bytes:,} bytes", "line_bytes")
                lines += chunk.count(b"\n")
                line = len(chunk) - chunk.rfind(b"\n") - 1
                if lines - 1 > limits.rows:
                    refuse(name, f"more than {limits.rows:,} rows", "rows")
            if line > limits.line_bytes:
                refuse(name, f"line {lines + 1:,} is longer than {limits.line_bytes:,} bytes", "line_bytes")
    if line and lines > limits.rows:  # the last row, without a line feed after it
        refuse(name, f"more than {limits.rows:,} rows", "rows")
