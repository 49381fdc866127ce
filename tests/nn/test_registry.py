"""The cell registry: built-in cells, plugin isolation, and FORECASTER_DISABLE_PLUGINS."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pluggy
import pytest
import torch

import forecaster
from forecaster import hookspecs
from forecaster.errors import BadInput
from forecaster.hookspecs import hookimpl
from forecaster.nn.registry import DISABLE_VARIABLE, Registry, _add_plugin, blocked_names, load_registry

BUILTIN_CELLS = ("lstm", "torch-lstm")


@pytest.mark.parametrize("name", BUILTIN_CELLS)
def test_builtin_cells_are_listed_as_forecasters(name):
    registry = load_registry()
    cell = registry.get(name)
    assert cell.name == name
    assert cell.distribution == "forecaster"
    assert cell.version == forecaster.__version__
    assert cell.description
    assert not any(problem.distribution == "forecaster" for problem in registry.problems)


def test_listing_cells_does_not_import_torch():
    code = (
        "import sys\n"
        "from forecaster.nn.registry import load_registry\n"
        "cells = load_registry().cells\n"
        "assert {'lstm', 'torch-lstm'} <= set(cells), cells\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", BUILTIN_CELLS)
def test_build_returns_a_torch_module_of_the_requested_size(name):
    torch.manual_seed(0)
    module = load_registry().get(name).build(input_size=2, hidden_size=3)
    assert isinstance(module, torch.nn.Module)
    outputs, _ = module(torch.zeros(4, 5, 2))
    assert outputs.shape == (4, 5, 3)


def test_unknown_cell_names_the_known_cells():
    with pytest.raises(BadInput) as error:
        load_registry().get("gru")
    message = str(error.value)
    assert "'gru'" in message
    assert "lstm" in message and "torch-lstm" in message


# --- third-party plugins, one at a time, through the same code path as entry points ---


def fake_plugin(name: str, **hooks) -> types.ModuleType:
    """An in-memory plugin module whose attributes are the given hook functions."""
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


def good_builder(input_size: int, hidden_size: int) -> torch.nn.Module:
    return torch.nn.LSTM(input_size, hidden_size, batch_first=True)


def registers(*cells):
    def register_cells(register):
        for cell in cells:
            register(*cell)

    return register_cells


def raises_after_registering(register):
    register("half-done", good_builder, "never listed")
    raise RuntimeError("boom in plugin")


def failing_load(name: str):
    raise ImportError(f"No module named {name!r}")


@pytest.fixture
def host():
    """A plugin manager and a registry holding only the built-in cells, as load_registry makes them."""
    manager = pluggy.PluginManager("forecaster")
    manager.add_hookspecs(hookspecs)
    registry = Registry()
    _add_plugin(
        manager, registry, importlib.import_module, "forecaster.nn.builtin", "forecaster", forecaster.__version__
    )
    return manager, registry


def add(host, load, name: str) -> None:
    manager, registry = host
    _add_plugin(manager, registry, load, name, f"dist-{name}", "9.9")


BAD_PLUGINS = {
    # name: (load function, words the problem's reason must contain)
    "broken-import": (failing_load, ["import failed", "ImportError", "broken-import"]),
    "raising-hook": (
        lambda _: fake_plugin("raising_hook", register_cells=raises_after_registering),
        ["register_cells raised", "RuntimeError", "boom in plugin"],
    ),
    "taken-name": (
        lambda _: fake_plugin("taken_name", register_cells=registers(("lstm", good_builder, "impostor"))),
        ["'lstm'", "already taken", "forecaster"],
    ),
    "not-callable": (
        lambda _: fake_plugin("not_callable", register_cells=registers(("numbers", 42, "a number"))),
        ["'numbers'", "builder must be callable", "42"],
    ),
    "misspelt-hook": (
        lambda _: fake_plugin("misspelt", register_cell=registers(("misspelt", good_builder, ""))),
        ["unknown hook", "'register_cell'"],
    ),
}


@pytest.mark.parametrize("plugin_name", BAD_PLUGINS)
def test_a_bad_plugin_is_reported_and_skipped(host, plugin_name):
    load, words = BAD_PLUGINS[plugin_name]
    add(host, load, plugin_name)

    _, registry = host
    assert len(registry.problems) == 1
    problem = registry.problems[0]
    assert (problem.distribution, problem.version) == (f"dist-{plugin_name}", "9.9")
    for word in words:
        assert word in problem.reason
    whole = f"plugin dist-{plugin_name} 9.9 skipped: "
    assert str(problem).startswith(
        whole if plugin_name != "taken-name" else "plugin dist-taken-name 9.9: cell 'lstm' not registered: "
    )
    assert set(registry.cells) == set(BUILTIN_CELLS)
    assert registry.get("lstm").distribution == "forecaster"


def test_good_plugins_work_alongside_all_the_bad_ones(host):
    add(
        host,
        lambda _: fake_plugin("before", register_cells=registers(("before", good_builder, "first\nsecond line"))),
        "before",
    )
    for plugin_name, (load, _) in BAD_PLUGINS.items():
        add(host, load, plugin_name)
    add(host, lambda _: fake_plugin("after", register_cells=registers(("after", "torch.nn:GRU", "a GRU"))), "after")

    _, registry = host
    assert sorted(problem.distribution for problem in registry.problems) == sorted(
        f"dist-{name}" for name in BAD_PLUGINS
    )
    assert set(registry.cells) == {*BUILTIN_CELLS, "before", "after"}
    before = registry.get("before")
    assert (before.distribution, before.version, before.description) == ("dist-before", "9.9", "first")
    assert isinstance(registry.get("after").build(input_size=1, hidden_size=2), torch.nn.GRU)
    assert registry.get("lstm").distribution == "forecaster"


def test_a_taken_name_does_not_drop_the_plugins_other_cells(host):
    def load(_):
        return fake_plugin("mixed", register_cells=registers(("lstm", good_builder, ""), ("fresh", good_builder, "")))

    add(host, load, "mixed")

    _, registry = host
    assert registry.get("fresh").distribution == "dist-mixed"
    assert registry.get("lstm").distribution == "forecaster"
    assert [(problem.cell, "already taken" in problem.reason) for problem in registry.problems] == [("lstm", True)]


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, set()),
        ("", set()),
        ("one", {"one"}),
        (" one , two,,three ,", {"one", "two", "three"}),
    ],
)
def test_blocked_names_parses_the_environment(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv(DISABLE_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(DISABLE_VARIABLE, value)
    assert blocked_names() == expected


def test_blocking_names_never_hides_the_builtin_cells(monkeypatch):
    monkeypatch.setenv(DISABLE_VARIABLE, "forecaster,lstm,torch-lstm")
    assert set(BUILTIN_CELLS) <= set(load_registry().cells)


class OneMemoryTooMany(torch.nn.Module):
    """Breaks the contract: outputs hidden_size + 1 memories a step."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(input_size, hidden_size + 1, batch_first=True)

    def forward(self, inputs, state=None):
        return self.lstm(inputs, state)


class TakesTwoFeatures(torch.nn.LSTM):
    """Breaks the contract: ignores input_size and expects two features a step."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(2, hidden_size, batch_first=True)


class LogOfInputs(torch.nn.LSTM):
    """Breaks the contract: reads the log of its inputs, NaN for every negative one (below a window's level)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size, batch_first=True)

    def forward(self, inputs, state=None):
        return super().forward(torch.log(inputs), state)


@pytest.mark.parametrize(
    "builder, words",
    [
        (OneMemoryTooMany, ["breaks the cell contract", "(2, 3, 5)", "not (2, 3, 4)"]),
        (TakesTwoFeatures, ["fails on a (2, 3, 3) batch", "RuntimeError"]),
        (LogOfInputs, ["breaks the cell contract", "not all finite (NaN)", "not the data or the learning rate"]),
    ],
)
def test_a_cell_that_breaks_the_contract_is_named_when_the_network_is_built(builder, words):
    from forecaster.errors import ForecasterError
    from forecaster.nn.network import build_network
    from forecaster.nn.registry import RegisteredCell

    cell = RegisteredCell("odd", "", builder, "forecaster-odd", "0.1.0")
    with pytest.raises(ForecasterError) as raised:
        build_network(cell, hidden_size=4, horizon=2, season=1)
    for word in ["cell 'odd' of forecaster-odd 0.1.0", *words]:
        assert word in str(raised.value)


class OneFeature(torch.nn.Module):
    """Breaks the contract at every hidden size but 1: its memories are one feature, whatever it is asked for."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(input_size, 1, batch_first=True)

    def forward(self, inputs, state=None):
        return self.lstm(inputs, state)


def test_strict_builds_each_cell_at_more_than_one_size_and_a_failing_builder_once():
    from forecaster.nn.registry import RegisteredCell, build_every_cell

    calls = []

    def raising(input_size: int, hidden_size: int) -> torch.nn.Module:
        calls.append((input_size, hidden_size))
        raise RuntimeError("no GPU here")

    registry = load_registry()
    for name, builder in (("one-feature", OneFeature), ("raising", raising)):
        registry.cells[name] = RegisteredCell(name, "", builder, f"forecaster-{name}", "0.1.0")
    build_every_cell(registry)

    assert set(registry.cells) == set(BUILTIN_CELLS)
    reasons = {problem.cell: str(problem) for problem in registry.problems}
    assert reasons.keys() == {"one-feature", "raising"}
    one_feature = "plugin forecaster-one-feature 0.1.0: cell 'one-feature' not registered: breaks the cell contract: "
    assert reasons["one-feature"].startswith(one_feature)
    assert reasons["raising"].count("no GPU here") == 1
    assert len(calls) == 1
