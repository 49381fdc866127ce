"""The plugin manager: finds cells in built-in modules and in installed distributions.

Built-in cells go through the same ``register_cells`` hook as third-party
ones. Each plugin is loaded and called on its own, so a plugin that fails to
import, raises, or registers nonsense is reported and skipped while every
other cell keeps working. docs/plugins.md is the author's side of this file.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from forecaster import __version__, hookspecs
from forecaster.errors import BadInput, ForecasterError

ENTRY_POINT_GROUP = "forecaster"
DISABLE_VARIABLE = "FORECASTER_DISABLE_PLUGINS"
BUILTIN_MODULES = ("forecaster.nn.builtin",)
#: what ``--cell`` accepts: no spaces, commas or colons, and no leading dash (it would read as an option)
CELL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: a lazy builder, ``"package.module:Attribute"``
REFERENCE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


@dataclass(frozen=True)
class RegisteredCell:
    """A registered cell: what ``--cell NAME`` resolves to."""

    name: str
    description: str
    builder: Callable[..., Any] | str
    distribution: str
    version: str

    @property
    def origin(self) -> str:
        """Names the cell and who provides it, for messages about it."""
        return f"cell {self.name!r} of {self.distribution} {self.version}"

    def build(self, input_size: int, hidden_size: int) -> Any:
        """Return a new ``torch.nn.Module``; imports the builder only now.

        Whatever a plugin's builder gets wrong becomes one :class:`ForecasterError`
        naming the distribution, not a traceback from the plugin's code.
        """
        from torch import nn

        try:
            builder = self.builder
            if isinstance(builder, str):
                module_name, _, attribute = builder.partition(":")
                builder = getattr(importlib.import_module(module_name), attribute)
            module = builder(input_size=input_size, hidden_size=hidden_size)
        except Exception as exc:
            raise ForecasterError(f"{self.origin}: building it failed: {_one_line(exc)}") from exc
        if not isinstance(module, nn.Module):
            raise ForecasterError(
                f"{self.origin}: its builder returned a {type(module).__name__}, not a torch.nn.Module"
            )
        return module


@dataclass(frozen=True)
class Problem:
    """A plugin that was skipped, or one of its cells that was not registered, and why."""

    distribution: str
    version: str
    reason: str
    cell: str = ""  #: the one cell refused while the plugin's others registered; "" when the whole plugin was skipped

    def __str__(self) -> str:
        if self.cell:
            return f"plugin {self.distribution} {self.version}: cell {self.cell!r} not registered: {self.reason}"
        return f"plugin {self.distribution} {self.version} skipped: {self.reason}"


@dataclass
class Registry:
    cells: dict[str, RegisteredCell] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: distribution -> version of the plugins FORECASTER_DISABLE_PLUGINS blocked
    disabled: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> RegisteredCell:
        try:
            return self.cells[name]
        except KeyError:
            known = ", ".join(sorted(self.cells)) or "none"
            raise BadInput(f"unknown cell {name!r} (--cell); installed cells: {known}") from None

    def saved_cell(self, name: str, distribution: str, version: str) -> RegisteredCell:
        """The installed cell that can rebuild weights saved by cell ``name`` of ``distribution`` ``version``.

        Weights fit only the cell that made them: the same distribution at the
        same major version (a plugin bumps its major version when its weights
        change shape or meaning). Each refusal says what to install.
        """
        made = f"its cell {name!r} comes from {distribution} {version}"
        install = f"pip install '{distribution}=={version}'"
        cell = self.cells.get(name)
        if cell is not None and cell.distribution == distribution:
            if _major(cell.version) == _major(version):
                return cell
            raise BadInput(
                f"{made}, but {distribution} {cell.version} is installed, a different major version; {install}"
            )
        if distribution in self.disabled:
            raise BadInput(f"{made}, which {DISABLE_VARIABLE} blocks")
        broken = [problem.reason for problem in self.problems if problem.distribution == distribution]
        if broken:
            raise BadInput(f"{made}, which is installed but broken: {broken[0]}")
        if cell is not None:
            raise BadInput(
                f"{made}, but {cell.distribution} {cell.version} provides {name!r} here; "
                f"{install} and block the other with {DISABLE_VARIABLE}={cell.distribution}"
            )
        raise BadInput(f"{made}, which is not installed; {install}")


#: the (hidden size, season) pairs --strict builds each cell at: more than one size of memories and of inputs, so that
#: a cell that ignores the hidden_size or input_size it is given cannot pass by matching the one size tried
STRICT_SIZES = ((1, 1), (4, 12))


def build_every_cell(registry: Registry) -> None:
    """Build each cell's network at each of STRICT_SIZES, and move those that fail to the problems: what --strict
    checks beyond loading.

    Listing cells never builds them (that imports torch); a builder that
    cannot be imported, returns no module, or breaks the cell contract is
    otherwise found only when the cell is used. A cell that fails is built no
    further, so that its builder's failure is met and said once.
    """
    from forecaster.nn.network import build_network

    for name, cell in list(registry.cells.items()):
        try:
            for hidden_size, season in STRICT_SIZES:
                build_network(cell, hidden_size=hidden_size, horizon=1, season=season)
        except ForecasterError as exc:
            del registry.cells[name]
            reason = str(exc).removeprefix(f"{cell.origin}: ")
            registry.problems.append(Problem(cell.distribution, cell.version, reason, name))


def blocked_names() -> set[str]:
    """Entry-point or distribution names listed in FORECASTER_DISABLE_PLUGINS."""
    value = os.environ.get(DISABLE_VARIABLE, "")
    return {name.strip() for name in value.split(",") if name.strip()}


def load_registry() -> Registry:
    """Collect every cell of the built-in modules and the installed plugins.

    Built-in cells come first, then plugins in the order of their
    distribution names, so when two claim one cell name the winner is the
    same on every machine.
    """
    with contextlib.redirect_stdout(sys.stderr):  # what a plugin prints must not mix with a forecast on stdout
        return _load_registry()


def _load_registry() -> Registry:
    manager = pluggy.PluginManager("forecaster")
    manager.add_hookspecs(hookspecs)
    registry = Registry()
    for module_name in BUILTIN_MODULES:
        _add_plugin(manager, registry, importlib.import_module, module_name, "forecaster", __version__)
    blocked = blocked_names()
    entry_points = sorted(
        metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.dist.name if ep.dist else "", ep.name)
    )
    for entry_point in entry_points:
        distribution = entry_point.dist.name if entry_point.dist else entry_point.name
        version = entry_point.dist.version if entry_point.dist else "unknown"
        if distribution == "forecaster":
            continue
        if {entry_point.name, distribution} & blocked:
            registry.disabled[distribution] = version
            continue
        _add_plugin(manager, registry, _loader(entry_point), entry_point.name, distribution, version)
    return registry


def _loader(entry_point: metadata.EntryPoint) -> Callable[[str], Any]:
    """What loads ``entry_point``'s module: each plugin its own (a lambda in the loop would load the last one)."""
    return lambda _: entry_point.load()


def _add_plugin(
    manager: pluggy.PluginManager,
    registry: Registry,
    load: Callable[[str], Any],
    name: str,
    distribution: str,
    version: str,
) -> None:
    def skip(reason: str) -> None:
        registry.problems.append(Problem(distribution, version, reason))

    try:
        plugin = load(name)
    except (Exception, SystemExit) as exc:  # a broken plugin must never break the host, not even by exiting
        skip(f"import failed: {_one_line(exc)}")
        return
    try:
        manager.register(plugin, name=name)
        manager.check_pending()  # catches misspelt hook names
    except Exception as exc:
        if manager.is_registered(plugin):
            manager.unregister(plugin)
        skip(_one_line(exc))
        return

    offered: list[RegisteredCell] = []

    def register(name: object, builder: Any, description: str = "") -> None:  # a plugin may pass anything
        if not isinstance(name, str) or not CELL_NAME.fullmatch(name):
            raise TypeError(f"cell name must be letters, digits, '.', '_' or '-' (not first), not {name!r}")
        if not (callable(builder) or (isinstance(builder, str) and REFERENCE.fullmatch(builder))):
            raise TypeError(f"cell {name!r}: builder must be callable or 'module:attribute', not {builder!r}")
        offered.append(
            RegisteredCell(
                name, str(description).strip().splitlines()[0] if description else "", builder, distribution, version
            )
        )

    for implementation in manager.hook.register_cells.get_hookimpls():
        if implementation.plugin is not plugin:
            continue
        try:
            implementation.function(register=register)
        except (Exception, SystemExit) as exc:
            skip(f"register_cells raised {_one_line(exc)}")
            return
    if not offered:
        skip("registers no cells (is its register_cells decorated with forecaster.hookimpl?)")
        return
    for cell in offered:
        holder = registry.cells.get(cell.name)
        if holder is not None:
            reason = f"the name {cell.name!r} is already taken by {holder.distribution}"
            registry.problems.append(Problem(distribution, version, reason, cell.name))
            continue
        registry.cells[cell.name] = cell


def _major(version: str) -> str:
    """The major part of a version ("2" of "2.1.0"); the whole string when it does not start with a number."""
    match = re.match(r"\d+", version)
    return match.group() if match else version


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0] if text else type(exc).__name__
