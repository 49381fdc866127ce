"""The default cell: the LSTM unit of StatQuest's "LSTM by hand", stage by stage.

The tutorial works with scalars; here every quantity is a vector of
``hidden_size`` memories, inputs have ``input_size`` features, and the batch
comes first. Parameter names are the tutorial's: ``wlr1`` is the weight of
the short-term memory in the "long remember" stage, ``wlr2`` the weight of the
input, ``blr1`` its bias, and likewise ``pr`` (potential remember), ``p``
(potential memory) and ``o`` (output).

:meth:`StageLSTM.lstm_unit` is the definition, one named line per stage, and
:meth:`StageLSTM.reference_forward` unrolls it over a window. Training pays
for every step of a Python loop, so :meth:`StageLSTM.forward` computes the same
function with torch's fused LSTM kernel instead; the tests hold it to the
reference (outputs, states and gradients).
"""

from __future__ import annotations

import torch
from torch import Tensor

from forecaster.nn.base import RecurrentCell, State

STAGES = ("lr", "pr", "p", "o")
#: the stages in torch's fused gate order (input, forget, cell, output)
FUSED_ORDER = ("pr", "lr", "p", "o")


class StageLSTM(RecurrentCell):
    state_size = 2  # (long_memory, short_memory)
    # the parameters add_stage registers, for the type checker (nn.Module's __getattr__ finds them)
    wlr1: Tensor
    wlr2: Tensor
    blr1: Tensor
    wpr1: Tensor
    wpr2: Tensor
    bpr1: Tensor
    wp1: Tensor
    wp2: Tensor
    bp1: Tensor
    wo1: Tensor
    wo2: Tensor
    bo1: Tensor

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        for stage in STAGES:
            self.add_stage(stage)
        self.reset_parameters()  # torch.nn.LSTM's initialisation, so both cells start from the same distribution

    def lstm_unit(self, input: Tensor, long_memory: Tensor, short_memory: Tensor) -> tuple[Tensor, Tensor]:
        long_remember_percent = torch.sigmoid(short_memory @ self.wlr1 + input @ self.wlr2 + self.blr1)
        potential_remember_percent = torch.sigmoid(short_memory @ self.wpr1 + input @ self.wpr2 + self.bpr1)
        potential_memory = torch.tanh(short_memory @ self.wp1 + input @ self.wp2 + self.bp1)
        updated_long_memory = long_memory * long_remember_percent + potential_remember_percent * potential_memory
        output_percent = torch.sigmoid(short_memory @ self.wo1 + input @ self.wo2 + self.bo1)
        updated_short_memory = torch.tanh(updated_long_memory) * output_percent
        return updated_long_memory, updated_short_memory

    def step(self, inputs: Tensor, state: State) -> tuple[Tensor, State]:
        long_memory, short_memory = state
        long_memory, short_memory = self.lstm_unit(inputs, long_memory, short_memory)
        return short_memory, (long_memory, short_memory)

    def reference_forward(self, inputs: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """The definition: :meth:`lstm_unit` unrolled step by step over the window."""
        return super().forward(inputs, state)

    def forward(self, inputs: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """:meth:`reference_forward`, computed by torch's fused LSTM kernel.

        ``torch.lstm`` is the ATen operator behind ``torch.nn.LSTM`` (which
        reaches it as ``torch._VF.lstm``, the same function), with a schema
        unchanged since torch 1.0. Calling it directly with the packed
        weights keeps the twelve tutorial parameters the only parameters and
        lets autograd carry the gradients back to them through the packing;
        wrapping an ``nn.LSTM`` with ``torch.func.functional_call`` would be
        a documented route too, but pays for swapping its parameters on
        every call and keeps a second module with unused weights.
        """
        long_memory, short_memory = self.initial_state(inputs) if state is None else state
        memories = (short_memory.unsqueeze(0), long_memory.unsqueeze(0))  # torch's (h, c), one layer
        outputs, short_memory, long_memory = torch.lstm(
            inputs,
            memories,
            self.fused_weights(),
            True,
            1,
            0.0,
            self.training,
            False,
            True,  # has_biases, num_layers, dropout, train, bidirectional, batch_first
        )
        return outputs, (long_memory.squeeze(0), short_memory.squeeze(0))

    def fused_weights(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The stages' parameters stacked gate by gate as torch's ``weight_ih``, ``weight_hh``, ``bias_ih``,
        ``bias_hh``.

        The tutorial multiplies ``x @ W``; torch computes ``W @ x``, hence
        the transposes. Each stage has one bias where torch adds two: the
        second is zero.
        """
        weight_ih = torch.cat([getattr(self, f"w{stage}2") for stage in FUSED_ORDER], dim=1).T
        weight_hh = torch.cat([getattr(self, f"w{stage}1") for stage in FUSED_ORDER], dim=1).T
        bias = torch.cat([getattr(self, f"b{stage}1") for stage in FUSED_ORDER])
        return weight_ih, weight_hh, bias, torch.zeros_like(bias)
