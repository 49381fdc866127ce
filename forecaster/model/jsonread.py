"""Reading a JSON file forecaster wrote, when anyone may have edited it: with bounds, and field by field.

:func:`parse` reads within a size, a nesting depth and :data:`MAX_DIGITS`
digits an integer, so that no file makes the reader recurse, allocate or
compute without limit. The readers below it (:func:`integer`, :func:`text`,
:func:`fields_of`...) each take a value and its place in the file (:class:`At`)
and return the value checked, or raise one :class:`BadInput` naming the file
and the field's path, as in ``m/model.json: time.last: must be a string``.
forecaster.model.card reads model.json with them.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Collection
from dataclasses import fields
from pathlib import Path
from typing import NoReturn, TypeVar

import numpy as np

from forecaster import __version__
from forecaster.errors import BadInput, shown
from forecaster.runtime.files import open_regular

#: the most digits of an integer read: every integer forecaster writes fits in 64 bits
MAX_DIGITS = 18
#: a JSON string, escapes and all: what the depth count skips
JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
NOT_BRACKETS = re.compile(r"[^\[\]{}]+")

T = TypeVar("T")


class LongInteger:
    """An integer with more digits than :data:`MAX_DIGITS`, kept as its digit count: refused as whatever field holds
    it."""

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"an integer of {self.digits} digits"


def _integer_or_long(text: str) -> int | LongInteger:
    digits = len(text.lstrip("-"))
    return int(text) if digits <= MAX_DIGITS else LongInteger(digits)


def parse(path: Path, max_bytes: int, max_depth: int, what: str) -> object:
    """The JSON of the file ``what`` at ``path``, read within ``max_bytes``, ``max_depth`` and :data:`MAX_DIGITS`."""
    try:
        with open_regular(path) as stream:  # a FIFO named as a record is refused, not waited on
            content = stream.read(max_bytes + 1)
        if len(content) > max_bytes:
            raise BadInput(f"{path}: more than the {max_bytes} bytes a {what} may have")
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return loads(text, path, max_depth, what)


def loads(text: str, path: Path, max_depth: int, what: str) -> object:
    """The JSON ``text`` of a ``what`` in the file ``path`` (a whole file, or a part such as a safetensors header),
    read within ``max_depth`` and :data:`MAX_DIGITS`, each object's keys different."""
    depth = nesting(text)
    if depth > max_depth:
        raise BadInput(
            f"{path}: not a {what} as forecaster writes it: nested {depth} levels deep, "
            f"and a {what} nests at most {max_depth}"
        )
    doubled: list[_Doubled] = []
    try:
        data = json.loads(text, parse_int=_integer_or_long, object_pairs_hook=functools.partial(_unique, doubled))
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}: not valid JSON ({exc})") from None
    if doubled:
        _refuse_doubled(data, doubled[0], path)
    return data


def record(path: Path, what: str, version: int, max_bytes: int, max_depth: int) -> dict:
    """The JSON object of a record forecaster wrote (a summary, a shard plan), read as :func:`parse` reads, of format
    ``version`` or earlier: a record without ``format_version`` was written before records carried one, and is
    read as format 1. A newer one is refused, saying to upgrade."""
    data = parse(path, max_bytes, max_depth, what)
    if not isinstance(data, dict):
        raise BadInput(f"{path}: not a {what} forecaster wrote (not a JSON object)")
    found = data.get("format_version", 1)
    if not isinstance(found, int) or isinstance(found, bool) or found < 1:
        raise BadInput(f"{path}: format_version {shown(found)} is not a {what} format this forecaster knows")
    if found > version:
        raise BadInput(
            f"{path}: format_version {found}: a {what} of a newer forecaster than {__version__}, which reads format "
            f"{version}; upgrade forecaster"
        )
    return data


class _Doubled(dict):
    """An object that held a key twice (:attr:`key`): refused once the whole file is read, naming where it is."""

    key: str


def _unique(doubled: list[_Doubled], pairs: list[tuple[str, object]]) -> dict[str, object]:
    """The object of ``pairs``; one that holds a key twice is kept in ``doubled``, to be refused by its path."""
    found: dict[str, object] = {}
    for key, value in pairs:
        if key in found and not isinstance(found, _Doubled):
            found = _Doubled(found)
            found.key = key
            doubled.append(found)
        found[key] = value
    return found


def _refuse_doubled(data: object, doubled: _Doubled, path: Path) -> NoReturn:
    """Refuse the file for ``doubled``'s key, naming the object's path in ``data``: with a key twice, a check would
    read one value and a use the other."""
    problem = f"the key {shown(doubled.key)} appears twice in one object: which is meant cannot be told"
    stack: list[tuple[object, At]] = [(data, At(str(path)))]
    while stack:
        value, at = stack.pop()
        if value is doubled:
            if at.parent is None:
                raise BadInput(f"{path}: {problem}")
            at.fail(problem)
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        stack += [(item, at / key) for key, item in items]
    raise BadInput(f"{path}: {problem}")


def nesting(text: str, chunk: int = 1 << 22, skipped: re.Pattern[str] = JSON_STRING) -> int:
    """How deep the arrays and objects of JSON ``text`` nest, counted outside its strings without parsing it; with
    ``skipped`` another language's strings and comments (a TOML jobs file's), its arrays and tables.

    In chunks, so that a file of brackets alone takes memory in proportion
    to a chunk, not to the file.
    """
    brackets = np.frombuffer(NOT_BRACKETS.sub("", skipped.sub("", text)).encode("ascii"), dtype=np.uint8)
    depth = deepest = 0
    for start in range(0, len(brackets), chunk):
        part = brackets[start : start + chunk]
        levels = depth + np.cumsum(np.where((part == ord("[")) | (part == ord("{")), 1, -1), dtype=np.int64)
        deepest, depth = max(deepest, int(levels.max())), int(levels[-1])
    return deepest


class At:
    """A field of a file, for errors: ``At("m/model.json") / "time" / "last"`` is ``m/model.json: time.last``.

    The path is spelt out only for an error: a large model.json has
    hundreds of thousands of fields, nearly all of them fine.
    """

    __slots__ = ("file", "key", "parent")

    def __init__(self, file: str, parent: At | None = None, key: str | int | None = None) -> None:
        self.file, self.parent, self.key = file, parent, key

    def __truediv__(self, key: str | int) -> At:
        return At(self.file, self, key)

    @property
    def path(self) -> str:
        if self.parent is None:
            return ""
        above, key = self.parent.path, self.key
        if isinstance(key, int):
            return f"{above}[{key}]"
        named = key if key is not None and key.isprintable() and key.strip() == key and key else shown(key)
        return f"{above}.{named}" if above else named

    def fail(self, problem: str) -> NoReturn:
        raise BadInput(f"{self.file}: {self.path}: {problem}")


@functools.cache
def _field_names(record: type) -> tuple[str, ...]:
    return tuple(field.name for field in fields(record))


def fields_of(value: object, at: At, record: type, later: Collection[str] = ()) -> dict:
    """``value`` as a JSON object with exactly the fields of ``record``; those ``later`` names (added since the file's
    format began) may be missing, in a file written before them."""
    names = _field_names(record)
    if not isinstance(value, dict):
        at.fail(f"must be an object with {', '.join(names)}, not {shown(value)}")
    missing = [name for name in names if name not in value and name not in later]
    if missing:
        (at / missing[0]).fail("missing")
    unknown = [key for key in value if key not in names]
    if unknown:
        (at / str(unknown[0])).fail(f"not a field forecaster {__version__} writes here")
    return value


def integer(value: object, at: At, low: int | None = None, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        at.fail(f"must be an integer, not {shown(value)}")
    if (low is not None and value < low) or (high is not None and value > high):
        at.fail(f"{value} is out of range: " + (f"from {low} to {high}" if high is not None else f"at least {low}"))
    return value


def number(value: object, at: At, infinite: bool = False) -> float:
    """A finite number (``infinite``: or +-infinity, never NaN); integers within a float's range."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        at.fail(f"must be a number, not {shown(value)}")
    if isinstance(value, int) and abs(value) > np.finfo(np.float64).max:
        at.fail(f"{shown(value)} is too large for a number")
    number = float(value)
    if math.isnan(number) or (math.isinf(number) and not infinite):
        at.fail(f"{number} is not " + ("a number" if infinite else "a finite number"))
    return number


def text(value: object, at: At, choices: tuple[str, ...] | None = None, empty: bool = True) -> str:
    if not isinstance(value, str):
        at.fail(f"must be a string, not {shown(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        at.fail(f"{shown(value)} holds a lone surrogate (\\ud800 to \\udfff), which is not text")
    if choices is not None and value not in choices:
        at.fail(f"{shown(value)} is not one of {', '.join(choices)}")
    if not empty and not value:
        at.fail("must not be empty")
    return value


def flag(value: object, at: At) -> bool:
    if not isinstance(value, bool):
        at.fail(f"must be true or false, not {shown(value)}")
    return value


def list_of(value: object, at: At, item: Callable[[object, At], T], low: int = 0, high: int | None = None) -> list[T]:
    if not isinstance(value, list):
        at.fail(f"must be a list, not {shown(value)}")
    if len(value) < low or (high is not None and len(value) > high):
        at.fail(
            f"holds {len(value)} values, and "
            + (f"{low} to {high}" if high is not None else f"at least {low}")
            + " belong there"
        )
    return [item(element, at / index) for index, element in enumerate(value)]


def numbers(value: object, at: At, low: int, high: int) -> tuple[float, ...]:
    """A list of ``low`` to ``high`` finite numbers; all at once when they are floats, as a fit writes them, else one by
    one."""
    if (
        isinstance(value, list)
        and low <= len(value) <= high
        and all(type(number) is float for number in value)
        and np.isfinite(value).all()
    ):
        return tuple(value)
    return tuple(list_of(value, at, number, low, high))


def names(
    value: object, at: At, unique: bool = False, empty: bool = True, within: tuple[str, ...] | None = None
) -> tuple[str, ...]:
    names = tuple(list_of(value, at, text, low=0 if empty else 1))
    if unique and len(set(names)) < len(names):
        at.fail(f"names {next(name for name in names if names.count(name) > 1)!r} twice")
    if within is not None and not set(names) <= set(within):
        at.fail(f"{next(name for name in names if name not in within)!r} is not one of the model's series")
    return names


def per_series(
    value: object, at: At, series: tuple[str, ...], read: Callable[[object, At], T], every: bool = True
) -> dict[str, T]:
    """An object keyed by series name (every one of them, unless not ``every``), its values read by ``read``, in the
    series' order."""
    if not isinstance(value, dict):
        at.fail(f"must be an object keyed by series name, not {shown(value)}")
    known = set(series)
    unknown = [name for name in value if name not in known]
    if unknown:
        at.fail(f"{unknown[0]!r} is not one of the model's series")
    missing = [name for name in series if name not in value]
    if every and missing:
        (at / missing[0]).fail("missing")
    return {name: read(value[name], at / name) for name in series if name in value}


def optional(read: Callable[..., T]) -> Callable[..., T | None]:
    return lambda value, at, *args, **kwargs: None if value is None else read(value, at, *args, **kwargs)
