"""The conformance kit (forecaster.testing): the built-in cells pass it, each deliberately broken cell fails it.

Every broken cell below is a small correct cell (:class:`Elman`) with one
fault, and the test says which properties that fault must break; a check that
stopped catching its fault, or started failing good cells, fails a test here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from forecaster.nn.base import RecurrentCell, State
from forecaster.testing import CHECKS, CellCheckFailed, check_cell, parametrize_with_checks, run_check


@parametrize_with_checks("lstm", "torch-lstm")
def test_builtin_cells_conform(check):
    check()


class Elman(RecurrentCell):
    """The simplest correct cell: ``memory = tanh(input @ w + memory @ u + b)``."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.w = nn.Parameter(torch.randn(input_size, hidden_size) / input_size**0.5)
        self.u = nn.Parameter(torch.randn(hidden_size, hidden_size) / hidden_size**0.5)
        self.b = nn.Parameter(torch.zeros(hidden_size))

    def step(self, inputs: Tensor, state: State) -> tuple[Tensor, State]:
        memory = torch.tanh(inputs @ self.w + state[0] @ self.u + self.b)
        return memory, (memory,)


class ExtraFeature(Elman):
    """Outputs hidden_size + 1 features; the forecasting head then cannot read them either."""

    def forward(self, inputs: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        outputs, state = super().forward(inputs, state)
        return torch.cat([outputs, outputs[..., :1]], dim=-1), state


class ReadsThreeInputs(Elman):
    """Reads the series' three features and drops the rest: covariates would reach it and change nothing."""

    def forward(self, inputs: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        kept = torch.cat([inputs[..., :3], torch.zeros_like(inputs[..., 3:])], dim=-1)
        return super().forward(kept, state)


class IgnoresState(Elman):
    def forward(self, inputs: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        return super().forward(inputs)


class MixesBatch(Elman):
    """Centres each time step on the batch mean: a sample's forecast depends on its neighbours."""

    def forward(self, inputs: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        return super().forward(inputs - inputs.mean(dim=0, keepdim=True), state)


class DeadWeight(Elman):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.unused = nn.Parameter(torch.zeros(hidden_size))


class Unseeded(Elman):
    """Draws its weights from numpy's entropy-seeded generator instead of torch's."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        with torch.no_grad():
            self.u.copy_(torch.as_tensor(np.random.default_rng().normal(size=(hidden_size, hidden_size))))


class Float32State(Elman):
    def initial_state(self, inputs: Tensor) -> State:
        return (inputs.new_zeros(inputs.shape[0], self.hidden_size, dtype=torch.float32),)


class CpuState(Elman):
    def initial_state(self, inputs: Tensor) -> State:
        return (torch.zeros(inputs.shape[0], self.hidden_size, dtype=inputs.dtype),)


class UnsavedMixing(Elman):
    """Mixes its memories with a random matrix kept out of the weights file (a non-persistent buffer)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.register_buffer("mixing", torch.randn(hidden_size, hidden_size), persistent=False)

    def step(self, inputs: Tensor, state: State) -> tuple[Tensor, State]:
        memory, _ = super().step(inputs, state)
        return memory @ self.mixing, (memory,)


class LogOfInputs(Elman):
    """Reads the log of its inputs: NaN for every negative one, so NaN outputs whatever its weights."""

    def step(self, inputs: Tensor, state: State) -> tuple[Tensor, State]:
        return super().step(torch.log(inputs), state)


#: every call of :func:`fails_to_build`, to count them
BUILDS: list[tuple[int, int]] = []


def fails_to_build(input_size: int, hidden_size: int) -> nn.Module:
    BUILDS.append((input_size, hidden_size))
    raise RuntimeError("needs a GPU")


class NeedsLightning(Elman):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        import lightning  # noqa: F401  a cell must build on torch alone: predict does not load Lightning

        super().__init__(input_size, hidden_size)


#: broken cell -> the properties its fault must break, no more and no fewer, among the checks run in this process
BROKEN = {
    ExtraFeature: {"shapes", "save-load", "covariates"},
    ReadsThreeInputs: {"covariates"},
    IgnoresState: {"state"},
    MixesBatch: {"batch-independence"},
    DeadWeight: {"gradients"},
    Unseeded: {"seed"},
    Float32State: {"dtypes"},
    CpuState: {"device"},
    UnsavedMixing: {"save-load"},  # the covariates check's own reload differs only when the forecast reads the network
    LogOfInputs: {"shapes"},  # NaN outputs: the checks that need numbers are not run
}
#: the broken cells the covariates check runs on: those that fail it (every other fit-based fault is save-load's)
READS_COVARIATES = {cell for cell, broken in BROKEN.items() if "covariates" in broken}
#: every check but the one that starts a fresh Python process, which NeedsLightning alone is about
IN_PROCESS = tuple(check for check in CHECKS if check != "predict-without-lightning")


def test_the_scaffold_of_the_broken_cells_conforms():
    check_cell(Elman)


@pytest.mark.parametrize("cell", BROKEN, ids=lambda cell: cell.__name__)
def test_a_broken_cell_fails_exactly_the_properties_it_breaks(cell):
    # the covariates check fits a model: run on the cells whose fault it is to find, and on every cell that fails it
    checks = IN_PROCESS if cell in READS_COVARIATES else tuple(check for check in IN_PROCESS if check != "covariates")
    with pytest.raises(CellCheckFailed) as failed:
        check_cell(cell, checks)

    assert set(failed.value.failures) == BROKEN[cell], str(failed.value)
    message = str(failed.value)
    assert message.startswith(
        f"cell {cell.__name__!r} (a builder not registered by any plugin) fails {len(BROKEN[cell])} of the cell "
        "contract's checks: "
    )
    for check in BROKEN[cell]:
        assert f"{check}: " in message


@pytest.mark.parametrize(
    "cell, check, words",
    [
        (ExtraFeature, "shapes", "outputs are (1, 1, 2), expected (1, 1, 1)"),
        (IgnoresState, "state", "must continue from state"),
        (MixesBatch, "batch-independence", "sample 2's outputs"),
        (DeadWeight, "gradients", "no gradient reaches parameter 'unused'"),
        (Unseeded, "seed", "differ in 'u'"),
        (Float32State, "dtypes", "the cell raised RuntimeError"),
        (CpuState, "device", "the cell raised RuntimeError"),
        (UnsavedMixing, "save-load", "keep every weight in a parameter or a persistent buffer"),
        (LogOfInputs, "shapes", "its outputs for finite inputs of shape (1, 1, 1) are not all finite"),
        (LogOfInputs, "seed", "its outputs for finite inputs of shape (2, 4, 2) are not all finite"),
        (LogOfInputs, "covariates", "its outputs for finite inputs of shape (2, 4, 5) are not all finite"),
        (ReadsThreeInputs, "covariates", "input feature 4 of 5 changes none of its outputs"),
        (NeedsLightning, "predict-without-lightning", "imported lightning"),
    ],
)
def test_a_failure_says_which_property_failed_and_why(cell, check, words):
    with pytest.raises(CellCheckFailed, match=f"^{check}: ") as failed:
        run_check(check, cell)
    assert words in str(failed.value)
    assert failed.value.failures.keys() == {check}


def test_outputs_that_are_not_numbers_are_said_once_and_blamed_on_nothing_else():
    """NaN outputs fail every comparison: the seed check called them randomness, the covariates check an ignored
    input. Said as what they are, under shapes, and no check that needs numbers runs after it."""
    with pytest.raises(CellCheckFailed) as failed:
        check_cell(LogOfInputs, IN_PROCESS)
    message = str(failed.value)
    assert failed.value.failures.keys() == {"shapes"}
    assert message.count("not all finite") == 1 and "the other checks were not run" in message
    assert "random" not in message and "covariate" not in message


def test_a_builder_that_raises_is_called_once_and_its_failure_said_once():
    BUILDS.clear()
    with pytest.raises(CellCheckFailed) as failed:
        check_cell(fails_to_build)
    assert len(BUILDS) == 1
    message = str(failed.value)
    assert message.startswith(
        "cell 'fails_to_build' (a builder not registered by any plugin) fails 1 of the cell contract's checks: "
        "shapes: building it failed: RuntimeError: needs a GPU; the other checks were not run"
    ), message
    assert message.count("needs a GPU") == 1


def test_a_builder_defined_inside_a_function_cannot_be_rebuilt_by_predict():
    class Local(Elman):
        pass

    with pytest.raises(CellCheckFailed, match="cannot be imported by name"):
        run_check("predict-without-lightning", Local)


def test_parametrize_with_checks_names_each_test_after_cell_and_property():
    mark = parametrize_with_checks("lstm", Elman)
    ids = [parameter.id for parameter in mark.args[1]]
    assert ids == [f"lstm-{check}" for check in CHECKS] + [f"Elman-{check}" for check in CHECKS]


def test_the_kit_leaves_torch_as_it_found_it():
    torch.manual_seed(99)
    before = torch.random.get_rng_state()
    deterministic = torch.are_deterministic_algorithms_enabled()
    run_check("save-load", Elman)  # fits through Lightning, which seeds everything and asks for determinism
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.are_deterministic_algorithms_enabled() == deterministic
