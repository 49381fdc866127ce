"""forecaster-gru's own tests: forecaster's conformance kit, torch.nn.GRU as the reference, and the hook.

They import forecaster_gru from the source folder, so they run before the
distribution is installed; forecaster's tests/nn/test_plugin_install.py installs
it and drives it through the forecaster command.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from torch import nn

import forecaster_gru
from forecaster.testing import Check, parametrize_with_checks
from forecaster_gru.cell import StageGRU


def registered() -> dict[str, tuple[object, str]]:
    """What the plugin's hook registers: name -> (builder, description)."""
    cells: dict[str, tuple[object, str]] = {}
    forecaster_gru.register_cells(
        register=lambda name, builder, description: cells.update({name: (builder, description)})
    )
    return cells


# the builder the hook registers, "forecaster_gru.cell:StageGRU": the kit checks it without the plugin installed
@parametrize_with_checks(registered()["gru"][0])
def test_the_gru_cell_keeps_the_cell_contract(check: Check) -> None:
    check()


def test_the_hook_registers_gru_lazily():
    assert list(registered()) == ["gru"]
    builder, description = registered()["gru"]
    assert builder == "forecaster_gru.cell:StageGRU"
    assert description
    code = (
        "import sys, forecaster_gru; forecaster_gru.register_cells(register=lambda *a: None); "
        "assert 'torch' not in sys.modules"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert result.returncode == 0, result.stderr


def stage_gru_like(gru: nn.GRU) -> StageGRU:
    """A StageGRU computing the same function as a one-layer ``gru``.

    torch's gates are the shares kept (of the past in the candidate, of the
    memory in the new memory); StageGRU's are the shares reset and updated,
    and sigmoid(-x) = 1 - sigmoid(x), so those stages take negated weights.
    torch stacks the reset, update and candidate rows in that order.
    """
    hidden = gru.hidden_size
    cell = StageGRU(gru.input_size, hidden).to(gru.weight_ih_l0.dtype)
    with torch.no_grad():
        for k, (stage, sign) in enumerate((("r", -1), ("u", -1), ("c", 1))):
            rows = slice(k * hidden, (k + 1) * hidden)
            getattr(cell, f"w{stage}1").copy_(sign * gru.weight_hh_l0[rows].T)
            getattr(cell, f"w{stage}2").copy_(sign * gru.weight_ih_l0[rows].T)
            bias = gru.bias_hh_l0[rows] if stage == "c" else gru.bias_ih_l0[rows] + gru.bias_hh_l0[rows]
            getattr(cell, f"b{stage}1").copy_(sign * bias)
        cell.bc2.copy_(gru.bias_ih_l0[2 * hidden :])
    return cell


# (batch, time, input_size, hidden_size)
@pytest.mark.parametrize("sizes", [(1, 1, 1, 1), (3, 6, 1, 4), (2, 5, 3, 2)])
@pytest.mark.parametrize("with_state", [False, True])
def test_stage_gru_computes_torch_gru(sizes, with_state):
    batch, time, input_size, hidden_size = sizes
    torch.manual_seed(3)
    gru = nn.GRU(input_size, hidden_size, batch_first=True).double()
    cell = stage_gru_like(gru)
    inputs = torch.randn(batch, time, input_size, dtype=torch.float64)
    memory = torch.randn(batch, hidden_size, dtype=torch.float64) if with_state else None

    expected, last = gru(inputs, memory.unsqueeze(0) if with_state else None)
    outputs, (final,) = cell(inputs, (memory,) if with_state else None)

    torch.testing.assert_close(outputs, expected)
    torch.testing.assert_close(final, last.squeeze(0))


def test_each_stage_is_a_named_share():
    """With the reset at 1 the candidate ignores the past; with the update at 0 the memory stays."""
    cell = StageGRU(1, 1).double()
    with torch.no_grad():
        for parameter in cell.parameters():
            parameter.zero_()
        cell.wc1.fill_(5.0)  # the past's weight in the candidate
        cell.br1.fill_(50.0)  # reset_percent ~ 1
        cell.bu1.fill_(50.0)  # update_percent ~ 1
    memory = torch.tensor([[0.5]], dtype=torch.float64)
    input = torch.tensor([[0.0]], dtype=torch.float64)
    assert cell.gru_unit(input, memory).item() == pytest.approx(0.0, abs=1e-12)  # reset past, candidate tanh(0)
    with torch.no_grad():
        cell.bu1.fill_(-50.0)  # update_percent ~ 0
    assert cell.gru_unit(input, memory).item() == pytest.approx(0.5, abs=1e-12)  # memory kept
