"""The default cell (StageLSTM) and the reference cell (TorchLSTM) against torch.nn.LSTM."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from forecaster.nn.lstm import StageLSTM
from forecaster.nn.torch_lstm import TorchLSTM

#: position of each tutorial stage in torch's fused gate order (i, f, g, o)
TORCH_GATE = {"pr": 0, "lr": 1, "p": 2, "o": 3}
TUTORIAL_NAMES = {"wlr1", "wlr2", "blr1", "wpr1", "wpr2", "bpr1", "wp1", "wp2", "bp1", "wo1", "wo2", "bo1"}

# (batch, time, input_size, hidden_size)
SIZES = [(1, 1, 1, 1), (3, 5, 1, 1), (2, 4, 3, 1), (4, 6, 1, 5), (3, 7, 2, 4)]


def gate_slice(stage: str, hidden_size: int) -> slice:
    k = TORCH_GATE[stage]
    return slice(k * hidden_size, (k + 1) * hidden_size)


def stage_lstm_like(lstm: nn.LSTM) -> StageLSTM:
    """A StageLSTM computing the same function as a one-layer ``lstm``."""
    hidden = lstm.hidden_size
    cell = StageLSTM(lstm.input_size, hidden).to(lstm.weight_ih_l0.dtype)
    with torch.no_grad():
        for stage in TORCH_GATE:
            rows = gate_slice(stage, hidden)
            getattr(cell, f"w{stage}1").copy_(lstm.weight_hh_l0[rows].T)
            getattr(cell, f"w{stage}2").copy_(lstm.weight_ih_l0[rows].T)
            getattr(cell, f"b{stage}1").copy_(lstm.bias_ih_l0[rows] + lstm.bias_hh_l0[rows])
    return cell


def make_lstm(input_size: int, hidden_size: int, seed: int = 0) -> nn.LSTM:
    torch.manual_seed(seed)
    return nn.LSTM(input_size, hidden_size, batch_first=True).double()


def make_inputs(batch: int, time: int, input_size: int, hidden_size: int, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch, time, input_size, dtype=torch.float64, generator=generator)
    long = torch.randn(batch, hidden_size, dtype=torch.float64, generator=generator)
    short = torch.randn(batch, hidden_size, dtype=torch.float64, generator=generator)
    return inputs, (long, short)


def scalar_loss(outputs: torch.Tensor, long: torch.Tensor) -> torch.Tensor:
    """A loss touching every output and the final long-term memory, with unequal weights."""
    generator = torch.Generator().manual_seed(2)
    weights = torch.randn(outputs.shape, dtype=outputs.dtype, generator=generator)
    return (outputs * weights).sum() + (long**2).sum()


def assert_close(actual, expected):
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-5)


def test_parameters_are_the_tutorials_twelve():
    cell = StageLSTM(input_size=3, hidden_size=4)
    shapes = {name: tuple(parameter.shape) for name, parameter in cell.named_parameters()}
    assert set(shapes) == TUTORIAL_NAMES
    for stage in TORCH_GATE:
        assert shapes[f"w{stage}1"] == (4, 4)
        assert shapes[f"w{stage}2"] == (3, 4)
        assert shapes[f"b{stage}1"] == (4,)


def assert_same_run(cell_run, lstm_run) -> None:
    """A cell's (outputs, long, short) equal nn.LSTM's (outputs, (h, c)): long memory is c, short memory h."""
    outputs, long, short = cell_run
    expected, (h, c) = lstm_run
    assert_close(outputs, expected)
    assert_close(long, c[0])
    assert_close(short, h[0])


#: the stage-by-stage definition (lstm_unit unrolled) and the fused path fit and predict run: both must be nn.LSTM
PATHS = pytest.mark.parametrize("path", ["reference_forward", "forward"])


@PATHS
@pytest.mark.parametrize("with_state", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("batch, time, input_size, hidden_size", SIZES)
def test_stage_lstm_matches_torch_outputs_and_state(batch, time, input_size, hidden_size, with_state, path):
    lstm = make_lstm(input_size, hidden_size)
    cell = getattr(stage_lstm_like(lstm), path)
    inputs, (long0, short0) = make_inputs(batch, time, input_size, hidden_size)

    if with_state:
        outputs, (long, short) = cell(inputs, (long0, short0))
        expected, (h, c) = lstm(inputs, (short0.unsqueeze(0), long0.unsqueeze(0)))
    else:
        outputs, (long, short) = cell(inputs)
        expected, (h, c) = lstm(inputs)

    assert outputs.shape == (batch, time, hidden_size)
    assert outputs.dtype == torch.float64
    assert_same_run((outputs, long, short), (expected, (h, c)))


@PATHS
@pytest.mark.parametrize("with_state", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("batch, time, input_size, hidden_size", SIZES)
def test_stage_lstm_matches_torch_gradients(batch, time, input_size, hidden_size, with_state, path):
    lstm = make_lstm(input_size, hidden_size)
    cell = stage_lstm_like(lstm)
    inputs, (long0, short0) = make_inputs(batch, time, input_size, hidden_size)
    stage_inputs = inputs.clone().requires_grad_()
    torch_inputs = inputs.clone().requires_grad_()

    outputs, (long, _) = getattr(cell, path)(stage_inputs, (long0, short0) if with_state else None)
    scalar_loss(outputs, long).backward()
    expected, (_, c) = lstm(torch_inputs, (short0.unsqueeze(0), long0.unsqueeze(0)) if with_state else None)
    scalar_loss(expected, c[0]).backward()

    assert_close(stage_inputs.grad, torch_inputs.grad)
    for stage in TORCH_GATE:
        rows = gate_slice(stage, hidden_size)
        assert_close(getattr(cell, f"w{stage}1").grad, lstm.weight_hh_l0.grad[rows].T)
        assert_close(getattr(cell, f"w{stage}2").grad, lstm.weight_ih_l0.grad[rows].T)
        bias_grad = getattr(cell, f"b{stage}1").grad
        assert_close(bias_grad, lstm.bias_ih_l0.grad[rows])
        assert_close(bias_grad, lstm.bias_hh_l0.grad[rows])


@pytest.mark.parametrize("batch, time, input_size, hidden_size", SIZES)
def test_torch_lstm_follows_the_cell_contract(batch, time, input_size, hidden_size):
    torch.manual_seed(0)
    cell = TorchLSTM(input_size=input_size, hidden_size=hidden_size).double()
    inputs, (long0, short0) = make_inputs(batch, time, input_size, hidden_size)

    outputs, (long, short) = cell(inputs)
    assert outputs.shape == (batch, time, hidden_size)
    assert long.shape == short.shape == (batch, hidden_size)
    assert_close(short, outputs[:, -1])  # the short-term memory is the last output

    # given a state, the cell continues exactly as torch.nn.LSTM would from (h0=short, c0=long)
    outputs, (long, short) = cell(inputs, (long0, short0))
    assert_same_run((outputs, long, short), cell.lstm(inputs, (short0.unsqueeze(0), long0.unsqueeze(0))))


@pytest.mark.parametrize("with_state", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("batch, time, input_size, hidden_size", SIZES)
def test_stage_lstm_and_torch_lstm_agree(batch, time, input_size, hidden_size, with_state):
    torch.manual_seed(0)
    reference = TorchLSTM(input_size=input_size, hidden_size=hidden_size).double()
    cell = stage_lstm_like(reference.lstm)
    inputs, state = make_inputs(batch, time, input_size, hidden_size)
    state = state if with_state else None

    outputs, (long, short) = cell(inputs, state)
    expected, (expected_long, expected_short) = reference(inputs, state)
    assert_close(outputs, expected)
    assert_close(long, expected_long)
    assert_close(short, expected_short)


def test_continuing_from_a_returned_state_equals_one_long_run():
    """Feeding a window in two halves, passing the state on, gives the same outputs as one pass."""
    torch.manual_seed(0)
    cell = StageLSTM(input_size=2, hidden_size=3).double()
    inputs, _ = make_inputs(2, 8, 2, 3)

    whole, (long, short) = cell(inputs)
    first, state = cell(inputs[:, :5])
    second, (long2, short2) = cell(inputs[:, 5:], state)
    assert_close(torch.cat([first, second], dim=1), whole)
    assert_close(long2, long)
    assert_close(short2, short)


@pytest.mark.parametrize("cell_class", [StageLSTM, TorchLSTM])
@pytest.mark.parametrize("sizes", [(0, 3), (3, 0)])
def test_sizes_must_be_positive(cell_class, sizes):
    with pytest.raises(ValueError, match="must be positive"):
        cell_class(*sizes)
