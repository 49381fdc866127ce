"""The plugin manager: finds cells in built-in modules and in installed distributions.

Built-in cells go through the same ``register_cells`` hook as third-party
ones. Each plugin is loaded and called on its own, so a plugin that fails to
import, raises, or registers nonsense is reported and skipped while every
other cell keeps working.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

import pluggy

from forecaster import __version__, hookspecs
from forecaster.errors import BadInput

ENTRY_POINT_GROUP = "forecaster"
DISABLE_VARIABLE = "FORECASTER_DISABLE_PLUGINS"
BUILTIN_MODULES = ("forecaster.cells",)


@dataclass(frozen=True)
class Cell:
    """A registered cell: what ``--cell NAME`` resolves to."""

    name: str
    description: str
    builder: Callable[..., Any] | str
    distribution: str
    version: str

    def build(self, input_size: int, hidden_size: int) -> Any:
        """Return a new ``torch.nn.Module``; imports the builder only now."""
        builder = self.builder
        if isinstance(builder, str):
            module_name, _, attribute = builder.partition(":")
            builder = getattr(importlib.import_module(module_name), attribute)
        return builder(input_size=input_size, hidden_size=hidden_size)


@dataclass(frozen=True)
class Problem:
    """A plugin that was skipped, and why."""

    distribution: str
    version: str
    reason: str

    def __str__(self) -> str:
        return f"plugin {self.distribution} {self.version} skipped: {self.reason}"


@dataclass
class Registry:
    cells: dict[str, Cell] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def get(self, name: str) -> Cell:
        try:
            return self.cells[name]
        except KeyError:
            known = ", ".join(sorted(self.cells)) or "none"
            raise BadInput(f"unknown cell {name!r} (--cell); installed cells: {known}") from None


def blocked_names() -> set[str]:
    """Entry-point or distribution names listed in FORECASTER_DISABLE_PLUGINS."""
    value = os.environ.get(DISABLE_VARIABLE, "")
    return {name.strip() for name in value.split(",") if name.strip()}


def load_registry() -> Registry:
    """Collect every cell of the built-in modules and the installed plugins."""
    manager = pluggy.PluginManager("forecaster")
    manager.add_hookspecs(hookspecs)
    registry = Registry()
    for module_name in BUILTIN_MODULES:
        _add_plugin(manager, registry, importlib.import_module, module_name, "forecaster", __version__)
    blocked = blocked_names()
    entry_points = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.dist.name if ep.dist else "", ep.name))
    for entry_point in entry_points:
        distribution = entry_point.dist.name if entry_point.dist else entry_point.name
        version = entry_point.dist.version if entry_point.dist else "unknown"
        if {entry_point.name, distribution} & blocked or distribution == "forecaster":
            continue
        _add_plugin(manager, registry, lambda _: entry_point.load(), entry_point.name, distribution, version)
    return registry


def _add_plugin(manager: pluggy.PluginManager, registry: Registry, load: Callable[[str], Any],
                name: str, distribution: str, version: str) -> None:
    def skip(reason: str) -> None:
        registry.problems.append(Problem(distribution, version, reason))

    try:
        plugin = load(name)
    except Exception as exc:  # a broken plugin must never break the host
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

    offered: list[Cell] = []

    def register(name: str, builder: Any, description: str = "") -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"cell name must be a non-empty string, not {name!r}")
        if not (callable(builder) or (isinstance(builder, str) and ":" in builder)):
            raise TypeError(f"cell {name!r}: builder must be callable or 'module:attribute', not {builder!r}")
        offered.append(Cell(name, str(description).strip().splitlines()[0] if description else "", builder, distribution, version))

    for implementation in manager.hook.register_cells.get_hookimpls():
        if implementation.plugin is not plugin:
            continue
        try:
            implementation.function(register=register)
        except Exception as exc:
            skip(f"register_cells raised {_one_line(exc)}")
            return
    for cell in offered:
        holder = registry.cells.get(cell.name)
        if holder is not None:
            skip(f"cell name {cell.name!r} is already taken by {holder.distribution}")
            continue
        registry.cells[cell.name] = cell


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0] if text else type(exc).__name__
