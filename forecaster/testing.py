"""The conformance kit: does a recurrent cell keep the cell contract?

A cell author runs it from their own tests against their cell, installed or
not (docs/plugins.md walks through it)::

    from forecaster.testing import Check, check_cell, parametrize_with_checks

    @parametrize_with_checks("my_package.cell:MyCell")  # one pytest test per property
    def test_my_cell_conforms(check: Check) -> None:
        check()

    def test_all_at_once():
        check_cell(MyCell)  # raises CellCheckFailed naming every property that failed

A cell is a builder (a class or function taking ``input_size`` and
``hidden_size``), its ``"module:attribute"`` name, the name of an installed
cell, or a :class:`forecaster.nn.registry.RegisteredCell`. Every check runs on the CPU with
fixed seeds and leaves torch's global random state as it found it. Most take
a fraction of a second; ``save-load`` fits one epoch through Lightning, and
``predict-without-lightning`` also starts one fresh Python process, because
only a fresh process shows what forecasting imports.
"""

from __future__ import annotations

import functools
import json
import math
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import torch
from torch import Tensor

from forecaster.errors import ForecasterError
from forecaster.model.directory import read_card, save
from forecaster.model.trained import Model
from forecaster.nn.network import build_network
from forecaster.nn.registry import RegisteredCell, Registry, load_registry
from forecaster.options import FitOptions
from forecaster.runtime.files import scratch_directory, write_atomic
from forecaster.training.pipeline import fit

CellLike = RegisteredCell | Callable[..., Any] | str
#: what a test that parametrize_with_checks decorates is given: one property's check, to call
Check = Callable[[], None]
Test = TypeVar("Test", bound=Callable[..., object])

SEED = 1234
#: (batch, time, input_size, hidden_size): single and several samples, steps, features and memories
SIZES = ((1, 1, 1, 1), (3, 5, 1, 4), (2, 4, 3, 2), (5, 2, 2, 7))
#: the model that the save-load and predict checks fit: small, but more than one of everything
WINDOW, HORIZON, HIDDEN, ROWS, MEMBERS = 6, 2, 3, 40, 2
#: float32 sums taken in a different order (one sample alone, or a batch) differ by about this much
TOLERANCE = 1e-5


class CellCheckFailed(AssertionError):
    """A cell broke the contract; the message starts with the property that failed.

    ``failures`` maps each failed property to what went wrong, for tests that
    want to know exactly which properties a cell breaks.
    """

    def __init__(self, message: str, failures: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.failures = failures or {}


class _Unusable(CellCheckFailed):
    """The cell cannot be built, or its outputs are not numbers: every other property would fail for that one reason,
    and be blamed on another (randomness, ignored covariates), so :func:`check_cell` checks no further."""


class UnregisteredCell(RegisteredCell):
    """A builder the kit checks without any plugin registering it: a class, a function or a ``"module:attribute"``.

    Its model directories record the distribution ``unregistered`` at version
    ``0``, so that the save/load and predict checks can load them without
    installing anything; its messages say what it is rather than naming that
    stand-in as if it were a distribution.
    """

    @property
    def origin(self) -> str:
        return f"cell {self.name!r} (a builder not registered by any plugin)"


def as_cell(cell: CellLike) -> RegisteredCell:
    """Whatever names a cell -> a :class:`RegisteredCell`, as the registry would hold it.

    A builder that is not registered becomes an :class:`UnregisteredCell`
    named after itself (its class or function name, or the attribute of its
    ``"module:attribute"``).
    """
    if isinstance(cell, RegisteredCell):
        return cell
    if isinstance(cell, str) and ":" not in cell:
        return load_registry().get(cell)
    label = cell.rpartition(":")[2] if isinstance(cell, str) else getattr(cell, "__name__", type(cell).__name__)
    return UnregisteredCell(label, "", cell, "unregistered", "0")


def run_check(check: str, cell: CellLike) -> None:
    """Run one check of :data:`CHECKS`; a failure is a :class:`CellCheckFailed` starting with ``check``."""
    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        try:
            CHECKS[check](as_cell(cell))
            return
        except CellCheckFailed as failure:
            detail, cause, kind = str(failure), failure.__cause__, type(failure)
        except Exception as exc:  # the traceback stays attached as the cause: it points into the cell
            detail, cause, kind = f"the cell raised {type(exc).__name__}: {exc}", exc, CellCheckFailed
    raise kind(f"{check}: {detail}", {check: detail}) from cause


def check_cell(cell: CellLike, checks: tuple[str, ...] | None = None) -> None:
    """Run every check (or those named); raise one :class:`CellCheckFailed` listing each property that failed."""
    cell = as_cell(cell)
    failures: dict[str, str] = {}
    unchecked = ""
    for check in checks or tuple(CHECKS):
        try:
            run_check(check, cell)
        except _Unusable as failure:
            failures.update(failure.failures)
            unchecked = "; the other checks were not run: each needs a cell that builds and computes finite outputs"
            break
        except CellCheckFailed as failure:
            failures.update(failure.failures)
    if failures:
        listed = "; ".join(f"{check}: {detail}" for check, detail in failures.items())
        raise CellCheckFailed(
            f"{cell.origin} fails {len(failures)} of the cell contract's checks: {listed}{unchecked}", failures
        )


def parametrize_with_checks(*cells: CellLike) -> Callable[[Test], Test]:
    """A ``pytest.mark.parametrize`` giving the test a ``check`` argument (a :data:`Check`): one test per cell and
    property.

    Each test's id names the cell and the property, so a report says which
    property failed before any message is read. Typed as what it is, a
    decorator that returns the test it is given, so that a test it decorates
    passes ``mypy --strict``.
    """
    import pytest

    resolved = [as_cell(cell) for cell in cells]
    mark = pytest.mark.parametrize(
        "check",
        [
            pytest.param(functools.partial(run_check, check, cell), id=f"{cell.name}-{check}")
            for cell in resolved
            for check in CHECKS
        ],
    )
    return cast(Callable[[Test], Test], mark)  # pytest's MarkDecorator, typed for the one use made of it here


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise CellCheckFailed(message)


def _build(cell: RegisteredCell, input_size: int, hidden_size: int) -> Any:
    """The cell's module; a builder that fails, or returns no module, leaves nothing to check."""
    try:
        return cell.build(input_size=input_size, hidden_size=hidden_size)
    except ForecasterError as exc:
        raise _Unusable(str(exc).removeprefix(f"{cell.origin}: ")) from exc.__cause__


def _run(module: torch.nn.Module, inputs: Tensor, state: tuple | None = None) -> tuple[Tensor, tuple]:
    """``module(inputs[, state])``, checked to return ``(outputs, state)`` as the contract says, of finite numbers
    (on the meta device, which has no numbers, their shapes only)."""
    result = module(inputs) if state is None else module(inputs, state)
    _require(
        isinstance(result, tuple) and len(result) == 2,
        f"forward must return (outputs, state), not {type(result).__name__}",
    )
    outputs, state = result
    _require(isinstance(outputs, Tensor), f"outputs must be a tensor, not {type(outputs).__name__}")
    _require(
        isinstance(state, tuple) and len(state) > 0 and all(isinstance(part, Tensor) for part in state),
        f"the state must be a non-empty tuple of tensors, not {type(state).__name__}",
    )
    for name, tensor in (("outputs", outputs), *((f"state[{k}]", part) for k, part in enumerate(state))):
        if tensor.device.type != "meta" and not bool(torch.isfinite(tensor).all()):
            raise _Unusable(
                f"its {name} for finite inputs of shape {tuple(inputs.shape)} are not all finite: a cell must compute "
                "numbers, or the loss is NaN from the first step"
            )
    return outputs, state


def _largest_difference(first: Tensor, second: Tensor) -> float:
    return float((first.detach().double() - second.detach().double()).abs().max()) if first.numel() else 0.0


def _shapes(cell: RegisteredCell) -> None:
    for batch, time, input_size, hidden_size in SIZES:
        module = _build(cell, input_size, hidden_size).eval()
        outputs, state = _run(module, torch.randn(batch, time, input_size))
        sizes = f"inputs {(batch, time, input_size)} with hidden_size {hidden_size}"
        _require(
            tuple(outputs.shape) == (batch, time, hidden_size),
            f"{sizes}: outputs are {tuple(outputs.shape)}, expected {(batch, time, hidden_size)} (batch, time, hidden)",
        )
        _require(
            all(part.dim() >= 1 and part.shape[0] == batch for part in state),
            f"{sizes}: every state tensor must have the batch first, got {[tuple(part.shape) for part in state]}",
        )


def _state(cell: RegisteredCell) -> None:
    module = _build(cell, 2, 4).eval()
    inputs = torch.randn(3, 6, 2)
    whole, final = _run(module, inputs)
    first, middle = _run(module, inputs[:, :2])
    rest, end = _run(module, inputs[:, 2:], middle)
    difference = _largest_difference(torch.cat([first, rest], dim=1), whole)
    _require(
        difference <= TOLERANCE,
        f"running steps 1-2, then 3-6 from the returned state, differs from running 1-6 at once "
        f"by {difference:.3g}: forward(inputs, state) must continue from state",
    )
    _require(
        len(end) == len(final) and all(_largest_difference(a, b) <= TOLERANCE for a, b in zip(end, final, strict=True)),
        "the final state after two calls differs from the final state of one call",
    )


def _batch_independence(cell: RegisteredCell) -> None:
    module = _build(cell, 2, 3).eval()
    inputs = torch.randn(4, 5, 2)
    together, _ = _run(module, inputs)
    alone, _ = _run(module, inputs[2:3])
    difference = _largest_difference(together[2], alone[0])
    _require(
        difference <= TOLERANCE, f"sample 2's outputs in a batch of 4 differ from its outputs alone by {difference:.3g}"
    )
    neighbours = inputs.clone()
    neighbours[[0, 1, 3]] = 10 * torch.randn(3, 5, 2)
    changed, _ = _run(module, neighbours)
    difference = _largest_difference(changed[2], together[2])
    _require(
        difference <= TOLERANCE,
        f"sample 2's outputs change by {difference:.3g} when only its neighbours in the batch change",
    )


def _gradients(cell: RegisteredCell) -> None:
    module = _build(cell, 2, 3).train()
    parameters = [(name, parameter) for name, parameter in module.named_parameters() if parameter.requires_grad]
    _require(bool(parameters), "the cell has no trainable parameters")
    inputs = torch.randn(3, 5, 2, requires_grad=True)
    outputs, state = _run(module, inputs)
    # random weights, so that no two paths cancel out
    loss = (outputs * torch.randn_like(outputs)).sum() + sum((part * torch.randn_like(part)).sum() for part in state)
    loss.backward()
    for name, parameter in parameters:
        _require(parameter.grad is not None, f"no gradient reaches parameter {name!r}: is it used in forward?")
        _require(bool(torch.isfinite(parameter.grad).all()), f"the gradient of parameter {name!r} is not finite")
        _require(bool(parameter.grad.abs().sum() > 0), f"the gradient of parameter {name!r} is zero")
    _require(inputs.grad is not None and bool(inputs.grad.abs().sum() > 0), "the outputs do not depend on the inputs")


def _seed(cell: RegisteredCell) -> None:
    inputs = torch.randn(2, 4, 2)
    built = []
    for _ in range(2):
        torch.manual_seed(SEED)
        module = _build(cell, 2, 3).eval()
        built.append((module.state_dict(), _run(module, inputs)[0], _run(module, inputs)[0]))
    (weights, outputs, again), (other_weights, other_outputs, _) = built
    for name, tensor in weights.items():
        _require(
            name in other_weights and torch.equal(tensor, other_weights[name]),
            f"two cells built after torch.manual_seed({SEED}) differ in {name!r}: draw initial weights from torch's "
            "generator",
        )
    _require(
        torch.equal(outputs, again),
        "one cell gives different outputs for the same inputs twice: no randomness in eval mode",
    )
    _require(
        torch.equal(outputs, other_outputs), f"two cells built after torch.manual_seed({SEED}) give different outputs"
    )


def _dtypes(cell: RegisteredCell) -> None:
    module = _build(cell, 2, 3)
    default = torch.get_default_dtype()
    for name, tensor in module.state_dict().items():
        _require(
            not tensor.is_floating_point() or tensor.dtype == default,
            f"{name!r} is created as {tensor.dtype}, not torch's default {default}: let .to() choose the dtype",
        )
    for dtype in (torch.float32, torch.float64):
        outputs, state = _run(module.to(dtype).eval(), torch.randn(2, 4, 2, dtype=dtype))
        found = {outputs.dtype, *(part.dtype for part in state)}
        _require(
            found == {dtype}, f"with {dtype} weights and inputs the outputs and state are {sorted(map(str, found))}"
        )


def _device(cell: RegisteredCell) -> None:
    # torch's "meta" device stands in for a GPU: it runs everywhere, and mixing it with a CPU tensor fails
    module = _build(cell, 2, 3).to("meta").eval()
    outputs, state = _run(module, torch.empty(2, 4, 2, device="meta"))
    found = {outputs.device.type, *(part.device.type for part in state)}
    _require(
        found == {"meta"}, f"with weights and inputs on the meta device the outputs and state are on {sorted(found)}"
    )


def _fit(cell: RegisteredCell, directory: Path) -> Path:
    """A real model directory for ``cell``: one epoch of ``fit`` (through Lightning) on a short sine."""
    csv = directory / "sine.csv"
    write_atomic(csv, "value\n" + "".join(f"{math.sin(row / 3):.6f}\n" for row in range(ROWS)))
    _fitted(cell, csv).save(directory / "model")
    return directory / "model"


def _fitted(cell: RegisteredCell, csv: Path, **options: Any) -> Model:
    """The small model of the checks, fitted on ``csv`` through Lightning for one epoch, with ``options`` besides."""
    chosen = FitOptions(
        cell=cell.name,
        window=WINDOW,
        horizon=HORIZON,
        hidden_size=HIDDEN,
        members=MEMBERS,
        epochs=1,
        scaler="none",
        accelerator="cpu",
        devices="1",
        **options,
    )
    deterministic, warn_only = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Lightning's notes about itself say nothing about the cell
            return fit(csv, chosen, _registry(cell))[0]
    finally:  # Lightning's deterministic=True would outlive the check and change the author's other tests
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def _registry(cell: RegisteredCell) -> Registry:
    return Registry(cells={cell.name: cell})


def _probe(network: torch.nn.Module) -> Tensor:
    """The network's forecast from a fixed window; PREDICT_SCRIPT computes the same."""
    with torch.no_grad():
        return network(*probe_inputs())


def probe_inputs() -> tuple[Tensor, Tensor, Tensor]:
    """The window the save-load and predict checks forecast from: values, their positions, not read as ratios."""
    return torch.linspace(-1.0, 1.0, WINDOW)[None], torch.arange(WINDOW)[None], torch.tensor([False])


def _save_and_load(cell: RegisteredCell) -> None:
    with scratch_directory() as directory:
        model = _fit(cell, Path(directory))
        saved = build_network(cell, HIDDEN, HORIZON, season=1, members=MEMBERS).eval()
        save(model, read_card(model), saved.state_dict())  # the fitted model's card, known weights
        torch.manual_seed(SEED + 1)  # so the loaded cell starts from other weights than the saved one
        loaded = Model.load(model, _registry(cell)).network
    difference = _largest_difference(_probe(saved), _probe(loaded))
    _require(
        difference <= TOLERANCE,
        f"the network loaded from the model directory forecasts differently from the saved one "
        f"(by {difference:.3g}): keep every weight in a parameter or a persistent buffer",
    )


def _covariates(cell: RegisteredCell) -> None:
    """A cell built for more features than the series' three reads every one of them; a model with a past-observed
    and a future-known covariate (input_size 5) trains, saves, loads and forecasts from newer rows whose future rows
    give the future-known one."""
    features = 5
    module = _build(cell, features, HIDDEN)
    inputs = torch.randn(2, 4, features)
    outputs, _ = _run(module, inputs)
    for feature in range(features):
        changed = inputs.clone()
        changed[0, :, feature] += 1.0  # one sample: a change to all of them would not show in a batch-centred cell
        _require(
            _largest_difference(_run(module, changed)[0][0], outputs[0]) > TOLERANCE,
            f"input feature {feature + 1} of {features} changes none of its outputs: a covariate would be ignored",
        )
    with scratch_directory() as directory:
        csv = Path(directory) / "covariates.csv"
        rows = [
            f"{math.sin(row / 3) + 0.5 * (row % 4 == 0):.6f},{math.cos(row / 3):.6f},{int(row % 4 == 0)}"
            for row in range(ROWS)
        ]
        future = [f",,{int(row % 4 == 0)}" for row in range(ROWS, ROWS + HORIZON)]
        write_atomic(csv, "value,measured,planned\n" + "\n".join(rows + future) + "\n")
        fitted = _fitted(cell, csv, past=("measured",), future=("planned",))
        fitted.save(Path(directory) / "model")
        loaded = Model.load(Path(directory) / "model", _registry(cell))
        reads = loaded.card.hyperparameters.input_size
        _require(
            reads == 5, f"the cell was built for {reads} inputs per step, not the 5 of a series with two covariates"
        )
        forecast = loaded.forecast(recent=csv).values["value"]
        again = fitted.forecast(recent=csv).values["value"]
    _require(bool(torch.isfinite(torch.as_tensor(forecast)).all()), f"the forecast with covariates is {forecast}")
    difference = float(abs(torch.as_tensor(forecast) - torch.as_tensor(again)).max())
    _require(difference <= 1e-4, f"a loaded model with covariates forecasts differently (by {difference:.3g})")


#: runs in a fresh interpreter: the cell as JSON and a model directory -> the probe forecast and any Lightning module
#: imported
PREDICT_SCRIPT = """
import json, sys, torch
from forecaster.model.trained import Model
from forecaster.nn.registry import RegisteredCell, Registry
from forecaster.testing import probe_inputs
cell = RegisteredCell(**json.loads(sys.argv[1]))
model = Model.load(sys.argv[2], Registry(cells={cell.name: cell}))
model.forecast()
with torch.no_grad():
    probe = model.network(*probe_inputs())
lightning = sorted(name for name in sys.modules if name.split(".")[0] in ("lightning", "pytorch_lightning"))
print(json.dumps({"probe": probe.tolist(), "lightning": lightning}))
"""


def _reference(cell: RegisteredCell) -> str:
    """The builder as ``"module:attribute"``, the only form a fresh process can rebuild it from."""
    if isinstance(cell.builder, str):
        return cell.builder
    module, name = getattr(cell.builder, "__module__", None), getattr(cell.builder, "__qualname__", "")
    _require(
        bool(module) and module != "__main__" and "<locals>" not in name,
        f"the builder {cell.builder!r} cannot be imported by name; define it at the top level of a module",
    )
    return f"{module}:{name}"


def _predict_without_lightning(cell: RegisteredCell) -> None:
    described = {
        "name": cell.name,
        "description": cell.description,
        "builder": _reference(cell),
        "distribution": cell.distribution,
        "version": cell.version,
    }
    with scratch_directory() as directory:
        model = _fit(cell, Path(directory))
        expected = _probe(Model.load(model, _registry(cell)).network)
        # the child imports what this process can: the cell under test need not be installed
        path = os.pathsep.join(entry or os.getcwd() for entry in sys.path)
        result = subprocess.run(
            [sys.executable, "-c", PREDICT_SCRIPT, json.dumps(described), str(model)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**os.environ, "PYTHONPATH": path},
        )
    lines = result.stderr.strip().splitlines() or ["no message"]
    _require(result.returncode == 0, f"forecasting in a fresh process failed: {lines[-1]}")
    found = json.loads(result.stdout)
    _require(
        not found["lightning"],
        f"forecasting with the cell imported {', '.join(found['lightning'])}: predict must run on torch alone",
    )
    difference = _largest_difference(torch.tensor(found["probe"]), expected)
    _require(difference <= TOLERANCE, f"a fresh process forecasts differently from this one (by {difference:.3g})")


#: property -> check; the name starts every failure message and names the test in pytest's report
CHECKS: dict[str, Callable[[RegisteredCell], None]] = {
    "shapes": _shapes,
    "state": _state,
    "batch-independence": _batch_independence,
    "gradients": _gradients,
    "seed": _seed,
    "dtypes": _dtypes,
    "device": _device,
    "save-load": _save_and_load,
    "covariates": _covariates,
    "predict-without-lightning": _predict_without_lightning,
}
