"""StageLSTM's fast forward (torch's fused kernel) against its stage-by-stage definition.

The stage-by-stage unroll of ``lstm_unit`` stays the reference: the fast
path must compute the same outputs, final state and gradients for every
parameter, in float64 (torch's generic kernel) and float32 (the oneDNN
kernel torch uses on CPU), training or evaluating.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from forecaster.nn.lstm import StageLSTM

#: (rtol, atol). In float32 a gradient sums batch x time terms that partly cancel, in a different
#: order in each path: at the default configuration (2,048 terms) they differ by up to ~5e-5.
#: A wrong gate or transpose would differ by the size of the values themselves.
TOLERANCE = {torch.float64: (0, 1e-10), torch.float32: (1e-4, 1e-4)}


def run_both(
    batch: int, time: int, input_size: int, hidden_size: int, dtype: torch.dtype, with_state: bool, training: bool
):
    """Outputs, state and gradients of the same loss through ``forward`` and ``reference_forward``."""
    torch.manual_seed(batch * 1000 + time * 100 + input_size * 10 + hidden_size)
    cell = StageLSTM(input_size, hidden_size).to(dtype).train(training)
    inputs = torch.randn(batch, time, input_size, dtype=dtype)
    state = tuple(torch.randn(batch, hidden_size, dtype=dtype) for _ in range(2)) if with_state else None
    loss_weights = torch.randn(batch, time, hidden_size, dtype=dtype)
    results = []
    for forward in (cell.forward, cell.reference_forward):
        cell.zero_grad()
        leaf_inputs = inputs.clone().requires_grad_()
        leaf_state = tuple(s.clone().requires_grad_() for s in state) if state else None
        outputs, (long, short) = forward(leaf_inputs, leaf_state)
        ((outputs * loss_weights).sum() + (long**2).sum() + short.sum()).backward()
        grads = {name: parameter.grad.clone() for name, parameter in cell.named_parameters()}
        grads["inputs"] = leaf_inputs.grad
        if leaf_state:
            grads["long_memory0"], grads["short_memory0"] = (s.grad for s in leaf_state)
        results.append(((outputs.detach(), long.detach(), short.detach()), grads))
    return results


def assert_same(fast, reference, dtype):
    (fast_values, fast_grads), (reference_values, reference_grads) = fast, reference
    rtol, atol = TOLERANCE[dtype]
    for name, actual, expected in zip(
        ("outputs", "long memory", "short memory"), fast_values, reference_values, strict=True
    ):
        assert actual.dtype == dtype, name
        torch.testing.assert_close(
            actual, expected, rtol=rtol, atol=atol, msg=lambda message, name=name: f"{name}: {message}"
        )
    assert fast_grads.keys() == reference_grads.keys()
    for name in reference_grads:
        torch.testing.assert_close(
            fast_grads[name],
            reference_grads[name],
            rtol=rtol,
            atol=atol,
            msg=lambda message, name=name: f"gradient of {name}: {message}",
        )


@pytest.mark.parametrize("with_state", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(
    "batch, time, input_size, hidden_size, dtype",
    [
        (1, 1, 1, 1, torch.float64),
        (3, 7, 2, 5, torch.float64),
        (1, 1, 1, 1, torch.float32),
        (3, 7, 2, 5, torch.float32),
    ],
    ids=str,
)
def test_fast_forward_equals_stage_by_stage(batch, time, input_size, hidden_size, dtype, with_state, training):
    fast, reference = run_both(batch, time, input_size, hidden_size, dtype, with_state, training)
    assert_same(fast, reference, dtype)


def test_fast_forward_equals_stage_by_stage_at_the_default_configuration_of_fit():
    """64 windows of 32 steps, 32 memories, trained from a zero state as fit trains: TOLERANCE holds for gradients
    summed over its 2,048 terms (the modes and states are shown at the small sizes above, as well as here)."""
    fast, reference = run_both(64, 32, 1, 32, torch.float32, with_state=False, training=True)
    assert_same(fast, reference, torch.float32)


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 9),
    time=st.integers(1, 12),
    input_size=st.integers(1, 4),
    hidden_size=st.integers(1, 9),
    with_state=st.booleans(),
)
def test_fast_forward_equals_stage_by_stage_at_any_size(batch, time, input_size, hidden_size, with_state):
    fast, reference = run_both(batch, time, input_size, hidden_size, torch.float32, with_state, training=True)
    assert_same(fast, reference, torch.float32)


def test_fused_weights_put_each_stage_in_torchs_gate_rows():
    """torch's gate order is input, forget, cell, output: potential remember, long remember, potential memory,
    output."""
    cell = StageLSTM(input_size=2, hidden_size=3)
    weight_ih, weight_hh, bias_ih, bias_hh = cell.fused_weights()
    assert weight_ih.shape == (12, 2) and weight_hh.shape == (12, 3) and bias_ih.shape == bias_hh.shape == (12,)
    for gate, stage in enumerate(("pr", "lr", "p", "o")):
        rows = slice(3 * gate, 3 * gate + 3)
        assert torch.equal(weight_ih[rows], getattr(cell, f"w{stage}2").T)
        assert torch.equal(weight_hh[rows], getattr(cell, f"w{stage}1").T)
        assert torch.equal(bias_ih[rows], getattr(cell, f"b{stage}1"))
    assert not bias_hh.any()


def test_fast_forward_without_gradients_matches_too():
    """predict runs under no_grad in eval mode: the inference kernel must agree as well."""
    torch.manual_seed(0)
    cell = StageLSTM(1, 8).eval()
    inputs = torch.randn(5, 16, 1)
    with torch.no_grad():
        fast_outputs, fast_state = cell(inputs)
        reference_outputs, reference_state = cell.reference_forward(inputs)
    torch.testing.assert_close(fast_outputs, reference_outputs, rtol=0, atol=1e-5)
    for actual, expected in zip(fast_state, reference_state, strict=True):
        torch.testing.assert_close(actual, expected, rtol=0, atol=1e-5)
