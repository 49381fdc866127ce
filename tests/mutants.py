"""Hostile model directories made from today's model, and the verdict on what `forecaster predict` does with each.

A corpus of hostile files written once goes stale: of 162 model directories
built against an older model format, 139 came to be refused for their format
version alone, testing nothing of today's reader (issue 36). Here a model is
fitted fresh, by today's code, and mutated: model.json field by field (its
fields found by walking the model's own JSON tree, so that a field added
tomorrow is mutated tomorrow) and byte by byte, weights.safetensors tensor
by tensor and byte by byte. :func:`mutants` is the hypothesis strategy,
:class:`Predictor` runs predict on a mutant in a process of bounded memory
and time, and :func:`problems` says what is wrong with its answer: predict
must refuse a mutant in one line naming the file (and, for a field, a
field), or forecast finite values of the right shape; in either case without
a traceback or a library's words. tests/model/test_hostile_corpus.py runs a
few of them in the suite, bench/hostile_corpus.py thousands.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

#: a key path into model.json: object keys and list indices
Path_ = tuple[str | int, ...]
#: the model every mutant starts from: dates on business days, a season, a past covariate, validation and intervals
FIT_OPTIONS = ("--target", "sales", "--target", "margin", "--past", "temp", "--horizon", 3, "--window", 10)
FIT_SMALL = ("--hidden-size", 2, "--members", 2, "--epochs", 1)
#: what every mutant is asked: the trained horizon with an 80% interval
PREDICT_OPTIONS = ("--level", 80)
COLUMNS_PER_SERIES = 3  # the value, its lower and its upper bound
#: the bounds a predict runs under: its address space, its seconds, the peak resident memory a refusal may take
MEMORY_CAP = 2 << 30
SECONDS = 30.0
PEAK = 1 << 30
#: a forecast this many times beyond the largest value of the card's history is no forecast of it
ABSURD = 1e6


def write_series(path: Path) -> Path:
    """60 business days of a seasonal, positive series (read as ratios), one crossing zero (differences) and a
    temperature: deterministic, without numpy."""
    factors = (1.0, 1.2, 0.9, 1.1, 0.8)
    lines = ["date,sales,margin,temp"]
    day = 0
    for k in range(60):
        while (day + 0) % 7 in (5, 6):  # 2024-01-01 was a Monday
            day += 1
        date = time.strftime("%Y-%m-%d", time.gmtime(1704067200 + 86400 * day))
        sales = (100 + k) * factors[k % 5] + math.sin(k * 1.7)
        margin = 5 * math.sin(k / 3) + math.cos(k * 2.3)
        lines.append(f"{date},{sales:.2f},{margin:.3f},{20 + 5 * math.cos(k / 7):.1f}")
        day += 1
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass(frozen=True)
class Fresh:
    """A model fitted now, by this checkout's code: its directory, its model.json and weights as bytes, and the
    top-level keys of its model.json."""

    model: Path
    card: bytes
    weights: bytes
    keys: frozenset[str]

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # how hypothesis shows it beside a failing mutant
        printer.text(f"Fresh({self.model})")

    def mutants(self) -> st.SearchStrategy[Mutant]:
        """A hostile change of this model."""
        return st.one_of(card_mutants(json.loads(self.card), self.card), weights_mutants(self.weights))


def fit_fresh_model(folder: Path, run: Callable[..., subprocess.CompletedProcess]) -> Fresh:
    """Fit the model every mutant starts from in ``folder``, with ``run`` (tests/conftest.py's ``invoke`` or
    ``run``)."""
    out = folder / "model"
    result = run("fit", write_series(folder / "dated.csv"), *FIT_OPTIONS, *FIT_SMALL, "--out", out)
    assert result.returncode == 0, result.stderr
    card = (out / "model.json").read_bytes()
    return Fresh(out, card, (out / "weights.safetensors").read_bytes(), frozenset(json.loads(card)))


# --- model.json -----------------------------------------------------------------------------------------------------


def tree_paths(value: object, path: Path_ = ()) -> list[Path_]:
    """Every node below ``value``: each object's members and each list's items, however deep."""
    children: list[tuple[str | int, object]] = []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    found = []
    for key, child in children:
        found += [(*path, key), *tree_paths(child, (*path, key))]
    return found


def field(path: Path_, general: bool = True) -> str:
    """A path as model.json's messages name it, ``intervals.quantiles[0][3]``; ``general``: its list indices as
    ``[*]``, one name for every item of a list."""
    text = ""
    for key in path:
        text += ("[*]" if general else f"[{key}]") if isinstance(key, int) else f".{key}"
    return text.removeprefix(".")


def fields(card: dict) -> dict[str, list[Path_]]:
    """The card's paths grouped by field, so that each field is drawn as often as another whatever its length."""
    grouped: dict[str, list[Path_]] = {}
    for path in tree_paths(card):
        grouped.setdefault(field(path), []).append(path)
    return grouped


def node(card: object, path: Path_) -> object:
    for key in path:
        card = card[key]  # type: ignore[index]
    return card


class Twice(list):
    """An object's members as (key, value) pairs, a key possibly twice: what json.dumps cannot write."""


def json_text(value: object) -> str:
    """JSON as Python writes it (NaN and Infinity included), objects of :class:`Twice` with their doubled keys."""
    if isinstance(value, Twice):
        return "{" + ", ".join(f"{json.dumps(key)}: {json_text(item)}" for key, item in value) + "}"
    if isinstance(value, dict):
        return json_text(Twice(value.items()))
    if isinstance(value, list):
        return "[" + ", ".join(map(json_text, value)) + "]"
    return json.dumps(value)


#: what a field's value is replaced by: numbers at and past every edge, the wrong types, the empty and the control
ABSURD_VALUES: tuple[object, ...] = (
    0,
    -1,
    1,
    0.5,
    1e308,
    -1e308,
    5e-324,
    10**18,
    -(10**18),
    float("nan"),
    float("inf"),
    float("-inf"),
    "",
    "x",
    "\u0000",
    "1",
    "ns",
    "D",
    [],
    [1.0],
    [None],
    {},
    {"x": 1},
    None,
    True,
    False,
)


@st.composite
def replacement(draw: st.DrawFn, original: object) -> object:
    """An absurd value, or the original one bent: a number scaled or negated, a string or list grown."""
    bent: list[object] = []
    if isinstance(original, (int, float)) and not isinstance(original, bool):
        bent = [original * 1e6, -original, original + 1, original * 1e-6]
    elif isinstance(original, str):
        bent = [original + "x", original * 2, original.upper()]
    elif isinstance(original, list):
        bent = [original * 2, original[:-1], original[::-1]]
    return draw(st.sampled_from([*ABSURD_VALUES, *bent]))


@dataclass(frozen=True)
class Mutant:
    """One hostile change of a fresh model: ``file`` it edits, ``kind`` of change, ``where`` (a field of model.json
    or a tensor), ``what`` in words, and ``apply(directory)``, which makes it; ``refusable``: no model can mean it
    (an unknown, missing or doubled key, weights that do not fit the network), so predict must refuse it."""

    file: str
    kind: str
    where: str
    what: str
    apply: Callable[[Path], None]
    refusable: bool = False

    def __str__(self) -> str:
        return f"{self.file} {self.kind} {self.where}: {self.what}"

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # how hypothesis shows a failing one
        printer.text(str(self))


#: the changes of model.json made field by field, whose refusal names a field
FIELD_KINDS = ("set", "drop", "add", "double")
#: model.json's fields that a model written before them lacks, and predict still reads (card.py's ``later``)
ADDED_SINCE = frozenset({"id_type", "ets_weight", "ets", "seasonal_naive"})


def card_writer(card: object) -> Callable[[Path], None]:
    return lambda directory: (directory / "model.json").write_text(json_text(card))


@st.composite
def card_mutants(draw: st.DrawFn, card: dict, text: bytes) -> Mutant:
    """A change of model.json: a field set, dropped, added or doubled, or its bytes cut, changed or added."""
    grouped = fields(card)
    kind = draw(st.sampled_from(["set", "drop", "add", "double", "truncate", "byte", "insert"]))
    if kind in ("truncate", "byte", "insert"):
        return bytes_mutant(draw, "model.json", text, kind)
    if kind == "add":
        objects = [(), *(path for path in tree_paths(card) if isinstance(node(card, path), dict))]
        path = draw(st.sampled_from(objects))
        key = draw(st.sampled_from(["extra", "format_version", "window", "season", "scale", "\u0000"]))
        mutated = json.loads(json.dumps(card))
        value = draw(replacement(None))
        if key in node(mutated, path):  # type: ignore[operator]
            key += "_"
        node(mutated, path)[key] = value  # type: ignore[index]
        what = f"{key!r} added as {value!r}"
        return Mutant("model.json", kind, field((*path, key)), what, card_writer(mutated), refusable=True)
    name = draw(st.sampled_from(sorted(grouped)))
    path = draw(st.sampled_from(grouped[name]))
    original = node(card, path)
    mutated = json.loads(json.dumps(card))
    parent, key = node(mutated, path[:-1]), path[-1]
    if kind == "set":
        value = draw(replacement(original))
        parent[key] = value  # type: ignore[index]
        return Mutant("model.json", kind, name, f"{field(path, False)} = {value!r}", card_writer(mutated))
    if kind == "drop":
        del parent[key]  # type: ignore[arg-type]
        what = f"{field(path, False)} removed"
        # a series may lack its metrics, say; a field added since model.json's format began is missing in older ones
        required = isinstance(key, str) and key not in card["series"] and key not in ADDED_SINCE
        return Mutant("model.json", kind, name, what, card_writer(mutated), refusable=required)
    if not isinstance(key, str):  # a list's item: doubled in the list
        parent.insert(key, original)  # type: ignore[union-attr]
        return Mutant("model.json", kind, name, f"{field(path, False)} twice in its list", card_writer(mutated))
    value = draw(replacement(original))
    first = draw(st.booleans())
    pairs = Twice()
    for member, item in parent.items():  # type: ignore[union-attr]
        pairs += [(member, value), (member, item)] if member == key and first else [(member, item)]
        if member == key and not first:
            pairs.append((member, value))
    holder = node(mutated, path[:-2]) if len(path) > 1 else None
    if holder is None:
        mutated = pairs
    else:
        holder[path[-2]] = pairs  # type: ignore[index]
    order = "before" if first else "after"
    return Mutant(
        "model.json", kind, name, f"{field(path, False)} twice, {value!r} {order} its own", card_writer(mutated)
    )


def bytes_mutant(draw: st.DrawFn, file: str, data: bytes, kind: str, refusable: bool = False) -> Mutant:
    """``data`` cut short, one byte of it changed, or bytes put in."""
    at = draw(st.integers(0, len(data) - 1))
    if kind == "truncate":
        changed, what = data[:at], f"cut to {at} of {len(data)} bytes"
    elif kind == "byte":
        byte = draw(st.sampled_from([0, 0x20, 0x22, 0x2C, 0x30, 0x39, 0x5B, 0x7B, 0x7D, 0x80, 0xFF]))
        changed, what = data[:at] + bytes([byte]) + data[at + 1 :], f"byte {at} = {byte:#04x}"
    else:
        inserted = draw(st.sampled_from([b"\x00", b"\xff\xfe", b"[", b"{", b"[" * 1000, b"-", b"9" * 400, b" "]))
        changed, what = data[:at] + inserted + data[at:], f"{inserted[:8]!r} ({len(inserted)} bytes) at {at}"
    write = lambda directory: (directory / file).write_bytes(changed)  # noqa: E731
    return Mutant(file, kind, f"byte {at}", what, write, refusable)


# --- weights.safetensors --------------------------------------------------------------------------------------------

#: safetensors' dtypes, with the struct format and size of one item where this module converts values to them
DTYPES = {"F16": ("e", 2), "F32": ("f", 4), "F64": ("d", 8), "I8": ("b", 1), "U8": ("B", 1), "I16": ("h", 2)}
DTYPES |= {"I32": ("i", 4), "I64": ("q", 8), "BOOL": ("?", 1), "BF16": ("", 2), "F8_E4M3": ("", 1)}
TENSOR_KINDS = ("dtype", "shape", "values", "extra", "drop", "rename", "sparse", "header", "length", "metadata")
#: changes of the weights no network can load: a tensor missing, unknown or misshapen, the file's layout broken
UNLOADABLE = ("shape", "extra", "drop", "rename", "sparse", "header", "length", "truncate")
#: the floating-point dtypes a weight may be read from
FLOATS = ("F16", "BF16", "F32", "F64")
BIG_VALUES = (float("nan"), float("inf"), float("-inf"), 3e38, -3e38, 1e30, 0.0, 1e-45)


@dataclass
class Tensor:
    dtype: str
    shape: list[int]
    data: bytes
    sparse: int = 0  # bytes of zeros after ``data``, left as a hole in the file

    def values(self) -> list[float]:
        return list(struct.unpack(f"<{len(self.data) // 4}f", self.data)) if self.dtype == "F32" else []


def read_safetensors(data: bytes) -> tuple[dict[str, Tensor], dict]:
    """The tensors (in file order) and the metadata of a safetensors file, read here without the library."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    body = data[8 + length :]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, entry in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
        begin, end = entry["data_offsets"]
        tensors[name] = Tensor(entry["dtype"], list(entry["shape"]), body[begin:end])
    return tensors, metadata


def safetensors_bytes(tensors: dict[str, Tensor], metadata: dict, header_edit: Callable[[dict], None] = lambda h: None):
    """The file of ``tensors`` laid out one after another; its length, holes included."""
    header: dict[str, object] = {"__metadata__": metadata} if metadata else {}
    offset, body = 0, b""
    for name, tensor in tensors.items():
        size = len(tensor.data) + tensor.sparse
        header[name] = {"dtype": tensor.dtype, "shape": tensor.shape, "data_offsets": [offset, offset + size]}
        body += tensor.data + (b"\0" * tensor.sparse if name != list(tensors)[-1] else b"")
        offset += size
    header_edit(header)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    data = struct.pack("<Q", len(text)) + text + body
    return data, len(data) + (list(tensors.values())[-1].sparse if tensors else 0)


def weights_writer(tensors: dict[str, Tensor], metadata: dict, header_edit=lambda h: None) -> Callable[[Path], None]:
    def write(directory: Path) -> None:
        data, length = safetensors_bytes(tensors, metadata, header_edit)
        path = directory / "weights.safetensors"
        path.write_bytes(data)
        os.truncate(path, length)  # a hole: the file claims what the disk does not hold

    return write


def converted(tensor: Tensor, dtype: str) -> bytes:
    """``tensor``'s float32 values in ``dtype``: floats rounded, integers cut, bfloat16 as float32's top half."""
    values = tensor.values()
    code, size = DTYPES[dtype]
    if dtype == "BF16":
        return b"".join(struct.pack("<f", value)[2:] for value in values)
    if not code:
        return b"\0" * size * len(values)
    if code in "efd":
        return b"".join(struct.pack(f"<{code}", max(-6e4, min(6e4, v)) if code == "e" else v) for v in values)
    if code == "?":
        return bytes(1 if value else 0 for value in values)
    bits = 8 * size
    low, high = (0, 2**bits - 1) if code.isupper() else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return b"".join(struct.pack(f"<{code}", max(low, min(high, round(value)))) for value in values)


def resized(tensor: Tensor, shape: list[int]) -> Tensor:
    """``tensor`` of another shape, its bytes cut or padded with zeros to fit."""
    size = math.prod(shape) * DTYPES[tensor.dtype][1]
    data = tensor.data[:size] + b"\0" * max(0, size - len(tensor.data))
    return Tensor(tensor.dtype, shape, data)


def other_shapes(shape: list[int]) -> list[list[int]]:
    """Shapes a tensor of ``shape`` might be mistaken for: turned round, of a dimension more or less, empty, a row
    longer, a million rows."""
    return [shape[::-1], [*shape, 1], [1, *shape], shape[:-1], [0], [shape[0] + 1, *shape[1:]], [2**20, *shape[1:]]]


@st.composite
def weights_mutants(draw: st.DrawFn, data: bytes) -> Mutant:
    """A change of weights.safetensors: a tensor of another dtype, shape or values, one added, dropped, renamed or
    made huge and sparse, the header's length or entries edited, or its bytes cut, changed or added."""
    tensors, metadata = read_safetensors(data)
    kind = draw(st.sampled_from([*TENSOR_KINDS, "truncate", "byte", "extend"]))
    if kind in ("truncate", "byte"):
        return bytes_mutant(draw, "weights.safetensors", data, kind, refusable=kind in UNLOADABLE)
    if kind == "extend":
        tail = draw(st.sampled_from([b"\0", b"\0" * 8, b"\0" * 4096, b"junk"]))
        return Mutant(
            "weights.safetensors", kind, "end", f"{len(tail)} bytes appended",
            lambda directory: (directory / "weights.safetensors").write_bytes(data + tail),
        )  # fmt: skip
    name = draw(st.sampled_from(sorted(tensors)))
    tensor = tensors[name]
    if kind == "dtype":
        dtype = draw(st.sampled_from(sorted(set(DTYPES) - {tensor.dtype})))
        tensors[name] = Tensor(dtype, tensor.shape, converted(tensor, dtype))
        what = f"{dtype} values"
    elif kind == "shape":
        shape = draw(st.sampled_from([shape for shape in other_shapes(tensor.shape) if shape != tensor.shape]))
        tensors[name] = resized(tensor, shape)
        what = f"of shape {shape}, not {tensor.shape}"
    elif kind == "values":
        value = draw(st.sampled_from(BIG_VALUES))
        every = draw(st.booleans())
        values = tensor.values()
        values = [value] * len(values) if every else [value, *values[1:]]
        tensors[name] = Tensor(tensor.dtype, tensor.shape, struct.pack(f"<{len(values)}f", *values))
        what = f"{'every value' if every else 'its first value'} {value!r}"
    elif kind == "extra":
        extra = draw(st.sampled_from([name + "_", "heads.9.weight", "cells.0.extra", "../x", ""]))
        tensors[extra] = Tensor("F32", [1], b"\0" * 4)
        what, name = f"{extra!r} added beside {name!r}", extra
    elif kind == "drop":
        del tensors[name]
        what = "removed"
    elif kind == "rename":
        tensors[name.replace(".", "_", 1)] = tensors.pop(name)
        what = f"renamed {name.replace('.', '_', 1)!r}"
    elif kind == "sparse":
        grown = draw(st.sampled_from([2**26, 2**28]))
        last = tensors.pop(name)
        tensors[name] = Tensor(last.dtype, [grown], last.data, grown * DTYPES[last.dtype][1] - len(last.data))
        what = f"{grown:,} values of {last.dtype}, mostly a hole in the file"
    elif kind == "header":
        edit = draw(
            st.sampled_from(
                [
                    ("offsets reversed", lambda entry: entry.update(data_offsets=entry["data_offsets"][::-1])),
                    ("offsets past the end", lambda entry: entry.update(data_offsets=[0, 2**40])),
                    ("offsets of another tensor", lambda entry: entry.update(data_offsets=[0, 4])),
                    ("dtype 'F33'", lambda entry: entry.update(dtype="F33")),
                    ("shape [-1]", lambda entry: entry.update(shape=[-1])),
                    ("shape of 2**62 items", lambda entry: entry.update(shape=[2**31, 2**31])),
                    ("shape 'x'", lambda entry: entry.update(shape="x")),
                    ("entry emptied", lambda entry: entry.clear()),
                ]
            )
        )
        return Mutant(
            "weights.safetensors", kind, name, edit[0],
            weights_writer(tensors, metadata, lambda header: edit[1](header[name])), refusable=True,
        )  # fmt: skip
    elif kind == "length":
        text, body = data[8 : 8 + struct.unpack("<Q", data[:8])[0]], data[8 + struct.unpack("<Q", data[:8])[0] :]
        length = draw(st.sampled_from([0, 1, len(text) - 1, len(text) + 1, len(data), 2**31, 2**63]))
        changed = struct.pack("<Q", length) + text + body
        return Mutant(
            "weights.safetensors", kind, "header", f"header length {length:,}, not {len(text):,}",
            lambda directory: (directory / "weights.safetensors").write_bytes(changed), refusable=True,
        )  # fmt: skip
    else:
        value = draw(st.sampled_from([{"format": "pt"}, {"x": 1}, {"x": "y" * 100_000}, {"": ""}]))
        metadata = value
        what, name = f"__metadata__ {str(value)[:40]}", "__metadata__"
    refusable = kind in UNLOADABLE or (kind == "dtype" and tensors[name].dtype not in FLOATS)
    return Mutant("weights.safetensors", kind, name, what, weights_writer(tensors, metadata), refusable)


# --- running predict ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What predict did: its exit code (None: it did not end in time, or its process died), its output, its peak
    resident memory in bytes and its seconds."""

    code: int | None
    stdout: str
    stderr: str
    peak: int
    seconds: float


SERVE = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]),) * 2)
sys.path[0] = sys.argv[1]  # this folder, not the working directory: forecaster as installed
import mutants
mutants.serve()
"""


def serve() -> None:
    """Answer requests (a JSON list: stdout's file, stderr's file, predict's arguments), a line each, on stdin: run
    `forecaster` in this process, its output into those files (C libraries' writes too), and reply its exit code and
    peak memory. Each run sees warnings afresh, as a new process would."""
    import warnings
    from unittest import mock

    from forecaster.cli import main

    replies = os.fdopen(os.dup(1), "w")
    for line in sys.stdin:
        out, err, *argv = json.loads(line)
        Path("/proc/self/clear_refs").write_text("5")  # the peak resident memory counts from here
        saved = [os.dup(1), os.dup(2)]
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            os.dup2(stdout.fileno(), 1)
            os.dup2(stderr.fileno(), 2)
        try:
            with warnings.catch_warnings(), mock.patch.object(sys, "argv", ["forecaster", *argv]):
                main()
        except SystemExit as exc:
            code = exc.code
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in enumerate(saved, 1):
                os.dup2(copy, fd)
                os.close(copy)
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, signal.SIG_DFL)
        status = Path("/proc/self/status").read_text()
        peak = int(re.search(r"VmHWM:\s+(\d+) kB", status)[1]) << 10  # type: ignore[index]
        replies.write(json.dumps([code, peak]) + "\n")
        replies.flush()


class Predictor:
    """`forecaster predict` in a process of its own, its address space capped at :data:`MEMORY_CAP`, each run given
    :data:`SECONDS`: the imports paid once, a fresh process after a run that did not end well."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.process: subprocess.Popen | None = None

    def start(self) -> subprocess.Popen:
        with open(self.folder / "predictor.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", SERVE, str(Path(__file__).parent), str(MEMORY_CAP)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        return self.process

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def predict(self, *args: object) -> Answer:
        process = self.process or self.start()
        out, err = self.folder / "stdout", self.folder / "stderr"
        for path in (out, err):
            path.unlink(missing_ok=True)  # a process that dies before writing them is not read as the last run's
        started = time.monotonic()
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write((json.dumps([str(out), str(err), "predict", *map(str, args)]) + "\n").encode())
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], SECONDS)
        reply = process.stdout.readline() if ready else b""
        seconds = time.monotonic() - started
        code, peak = json.loads(reply) if reply else (None, 0)
        if code not in (0, 2):
            self.stop()  # a process that ran out of memory or time is not trusted with the next run
        said = (err.read_text(errors="replace") if err.exists() else "") or ("" if reply else "(no answer)")
        if not reply:
            said += f"\n(ended after {seconds:.1f} s: {'no answer in time' if not ready else 'its process died'})"
        return Answer(code, out.read_text(errors="replace") if out.exists() else "", said, peak, seconds)


# --- the verdict ----------------------------------------------------------------------------------------------------

#: words of numpy, pandas, torch, safetensors, multiprocessing or Python itself, never forecaster's own
LIBRARY_TEXT = re.compile(
    r"Traceback|File \"|site-packages|dist-packages|\.py\b|\bnumpy\b|\bnp\.|\btorch\b(?!-lstm)|\blightning\b"
    r"|\bpandas\b(?! knows)|(?<![.\w])safetensors\b(?! file)|\b[A-Z][a-z]+(?:[A-Z][a-z]+)+\b|encountered"
    r"|deserializ|C error|incompatible with unit|tried to allocate|mmap|semaphore|resource_tracker|\bdtype\b"
)


def problems(mutant: Mutant, directory: Path, answer: Answer, keys: frozenset[str]) -> list[str]:
    """What is wrong with ``answer``, predict's on ``mutant`` written in ``directory`` (``keys``: the fresh card's
    top-level keys): nothing if it refused the mutant in one line naming the file it changed (and a field, for a
    field changed), or, for a mutant some model could mean, forecast finite values of the right shape. Each problem
    is a short kind, a colon, and what was seen."""
    found = []
    lines = [line for line in answer.stderr.splitlines() if line.strip()]
    if answer.code is None:
        found.append(f"no exit: {lines[-1] if lines else ''}")
    elif answer.code not in (0, 2):
        found.append(f"exit {answer.code}: {' | '.join(lines)[:300]}")
    if answer.peak > PEAK:
        found.append(f"memory: peaked at {answer.peak >> 20} MiB")
    library = [line for line in lines if LIBRARY_TEXT.search(line)]
    if library and answer.code in (0, 2):  # an exit's own line is said above
        found.append(f"library text: {library[0][:300]}")
    if answer.code == 2:
        found += refusal_problems(mutant, lines, keys | {mutant.where.split(".")[0]})
    if answer.code == 0 and mutant.refusable:
        found.append(f"accepted: {mutant.what}")
    elif answer.code == 0:
        found += forecast_problems(directory, answer.stdout)
    return found


#: a field as a refusal names it: a key leading a path or followed by what is wrong (``hyperparameters.window``,
#: ``series: ...``, ``format_version 9``), or quoted (``the key 'blend' appears twice``)
NAMED_FIELD = re.compile(r"\b([A-Za-z_]\w*)(?=[.\[:]| \d| ')|'(\w+)'")


def refusal_problems(mutant: Mutant, lines: list[str], keys: frozenset[str]) -> list[str]:
    """A refusal is one line (beside forecaster's warnings) naming the file changed, and a field of model.json (a
    top-level key ``keys`` holds, alone or leading a path) when a field was changed."""
    errors = [line for line in lines if not line.startswith("forecaster: warning:")]
    if len(errors) != 1:
        return [f"not one line: {' | '.join(lines)[:300]}"]
    line = errors[0]
    if "weights.safetensors" not in line and mutant.file not in line:
        return [f"refused without naming {mutant.file}: {line[:300]}"]
    if mutant.file == "model.json" and mutant.kind in FIELD_KINDS and "weights.safetensors" not in line:
        said = line.split("model.json", 1)[-1]
        named = {bare or quoted for bare, quoted in NAMED_FIELD.findall(said)} & keys
        if not named:
            return [f"refused without naming a field: {line[:300]}"]
    return []


def forecast_problems(directory: Path, stdout: str) -> list[str]:
    """A forecast of the card's horizon (rows) and series (a value and its 80% bounds each, as columns), every
    value finite and within :data:`ABSURD` times the largest of the card's history."""
    try:
        card = json.loads((directory / "model.json").read_text())
        horizon, series = card["hyperparameters"]["horizon"], card["series"]
        largest = max([abs(value) for values in card["history"].values() for value in values] or [0])
    except (ValueError, KeyError, TypeError) as exc:
        return [f"forecast of a card that does not read: {type(exc).__name__}"]
    rows = list(csv.reader(io.StringIO(stdout)))
    if len(rows) != horizon + 1 or any(len(row) != 1 + COLUMNS_PER_SERIES * len(series) for row in rows):
        shape = f"{len(rows) - 1} rows of {sorted({len(row) for row in rows})} columns"
        return [f"forecast of the wrong shape: {shape}, not {horizon} of {1 + COLUMNS_PER_SERIES * len(series)}"]
    for row in rows[1:]:
        for text in row[1:]:
            try:
                value = float(text)
            except ValueError:
                return [f"forecast not a number: {text!r}"]
            if not math.isfinite(value):
                return [f"forecast not finite: {text}"]
            if abs(value) > ABSURD * max(1.0, largest):
                return [f"forecast absurd: {text} where the history is at most {largest:.4g}"]
    return []


def copied(model: Path, folder: Path) -> Path:
    """A fresh copy of ``model`` in ``folder`` (emptied first)."""
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(model, folder)
    return folder
