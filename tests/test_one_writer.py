"""One owner for writing: no module of the package but runtime/files.py writes, renames, removes or locks a file.

Read from the source, so that a writer added anywhere else fails here naming
the module, line and call, however rarely its code path runs: a file opened
for writing, a rename, a removal, a link, a directory made, an flock, a
temporary file, a frame written straight to a path.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "forecaster"
OWNER = PACKAGE / "runtime" / "files.py"
#: module -> its functions that write or lock
FORBIDDEN = {
    "os": {
        "replace", "rename", "renames", "link", "symlink", "unlink", "remove", "rmdir", "removedirs", "mkdir",
        "makedirs", "open", "truncate", "ftruncate", "pwrite", "write", "mkfifo", "mknod",
    },
    "shutil": {"rmtree", "move", "copy", "copy2", "copyfile", "copytree", "copymode", "copystat"},
    "fcntl": {"flock", "lockf", "fcntl"},
    "tempfile": {
        "mkstemp", "mkdtemp", "NamedTemporaryFile", "TemporaryDirectory", "TemporaryFile", "SpooledTemporaryFile",
    },
    "io": {"open"},
    "logging": {"FileHandler"},
    "handlers": {"RotatingFileHandler", "TimedRotatingFileHandler", "WatchedFileHandler"},
}  # fmt: skip
#: methods of pathlib.Path that write, whatever they are called on
WRITING_METHODS = {"unlink", "rmdir", "symlink_to", "hardlink_to", "write_text", "write_bytes", "mkdir", "touch"}
#: Path.rename(target) and Path.replace(target): one positional argument (str.replace takes two; pandas' rename
#: keywords)
MOVING_METHODS = {"rename", "replace"}
#: pandas' writers, which write to a path when given one (and return text when not)
FRAME_WRITERS = {"to_csv", "to_json", "to_parquet", "to_pickle", "to_excel", "to_feather", "savefig"}


def _mode(call: ast.Call, position: int) -> str | None:
    arguments = [*call.args[position : position + 1], *(k.value for k in call.keywords if k.arg == "mode")]
    return arguments[0].value if arguments and isinstance(arguments[0], ast.Constant) else None


def writes(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, call) of every call in ``tree`` that writes, moves, removes or locks a file, and every import that would
    hide one from this check (``from os import replace``, ``import shutil as s``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in FORBIDDEN:
            found += [
                (node.lineno, f"from {node.module} import {a.name}")
                for a in node.names
                if a.name in FORBIDDEN[node.module]
            ]
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, f"import {a.name} as {a.asname}") for a in node.names if a.name in FORBIDDEN and a.asname
            ]
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        if isinstance(function, ast.Name) and function.id == "open":
            mode = _mode(node, 1)
            if mode is None and (len(node.args) > 1 or any(k.arg == "mode" for k in node.keywords)):
                found.append((node.lineno, "open(..., <a mode not written out>)"))
            elif mode is not None and set(mode) & set("wax+"):
                found.append((node.lineno, f"open(..., {mode!r})"))
        if not isinstance(function, ast.Attribute):
            continue
        name = function.attr
        owner = function.value.id if isinstance(function.value, ast.Name) else None
        if owner in FORBIDDEN and name in FORBIDDEN[owner]:
            found.append((node.lineno, f"{owner}.{name}"))
        elif name in WRITING_METHODS:
            found.append((node.lineno, f".{name}()"))
        elif name in MOVING_METHODS and len(node.args) == 1 and not node.keywords:
            found.append((node.lineno, f".{name}(target)"))
        elif name in FRAME_WRITERS and (
            node.args or any(k.arg in ("path_or_buf", "path", "fname") for k in node.keywords)
        ):
            if not (
                name == "savefig" and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == "buffer"
            ):
                found.append((node.lineno, f".{name}(path)"))
        elif name == "open" and set(_mode(node, 0) or "") & set("wax+"):
            found.append((node.lineno, f".open({_mode(node, 0)!r})"))
    return found


MODULES = sorted(path for path in PACKAGE.rglob("*.py") if path != OWNER)


@pytest.mark.parametrize("module", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_only_runtime_files_writes(module):
    found = writes(ast.parse(module.read_text(), str(module)))
    assert not found, f"{module.relative_to(PACKAGE)} writes by itself; call forecaster.runtime.files: " + ", ".join(
        f"line {line}: {call}" for line, call in found
    )


@pytest.mark.parametrize(
    "source",
    [
        "open(path, 'w')",
        "open(path, mode='ab')",
        "path.open('x')",
        "os.replace(a, b)",
        "os.rename(a, b)",
        "shutil.rmtree(a)",
        "fcntl.flock(descriptor, fcntl.LOCK_EX)",
        "path.write_text('x')",
        "path.unlink()",
        "path.rename(other)",
        "frame.to_csv(path)",
        "tempfile.mkstemp(dir=here)",
        "logging.FileHandler(path)",
        "from os import replace",
        "import shutil as s",
        "tempfile.TemporaryDirectory()",
        "io.open(path, 'w')",
    ],
)
def test_the_rule_sees_each_kind_of_write(source):
    """The check itself: each kind of write it is to catch, caught."""
    assert writes(ast.parse(source)), source


@pytest.mark.parametrize(
    "source",
    ["open(path)", "open(path, 'rb')", "text.replace('a', 'b')", "frame.rename(columns=names)", "frame.to_csv()"],
)
def test_the_rule_passes_reads_and_text(source):
    assert not writes(ast.parse(source)), source


def test_the_owner_is_where_the_writes_are():
    """runtime/files.py holds what the rule forbids elsewhere: the rule is not vacuous."""
    calls = {call for _, call in writes(ast.parse(OWNER.read_text()))}
    assert {"os.replace", "os.rename", "shutil.rmtree", "fcntl.flock", "os.link", "os.symlink"} <= calls, calls
