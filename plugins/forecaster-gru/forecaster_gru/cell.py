"""A gated recurrent unit (GRU), stage by stage, in the style of the "LSTM by hand" tutorial.

A GRU keeps one memory instead of the LSTM's two. Each step it decides how
much of the past to reset before proposing a candidate memory, and how much
of the memory to update with that candidate. The arithmetic is that of
``torch.nn.GRU`` (the reset scales the memory's contribution to the
candidate, bias included), with each gate written as the share it names: the
tests hold the two to the same outputs.

Parameter names follow forecaster's LSTM: ``wr1`` weighs the memory in the
reset stage, ``wr2`` the input, ``br1`` is its bias; likewise ``u`` (update)
and ``c`` (candidate), whose input part has a bias of its own, ``bc2``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from forecaster import RecurrentCell, State

STAGES = ("r", "u", "c")


class StageGRU(RecurrentCell):
    state_size = 1  # (memory,)
    # the parameters add_stage registers, for the type checker (nn.Module's __getattr__ finds them)
    wr1: Tensor
    wr2: Tensor
    br1: Tensor
    wu1: Tensor
    wu2: Tensor
    bu1: Tensor
    wc1: Tensor
    wc2: Tensor
    bc1: Tensor

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        for stage in STAGES:
            self.add_stage(stage)
        self.bc2 = nn.Parameter(torch.empty(hidden_size))
        self.reset_parameters()  # torch.nn.GRU's initialisation, so both start from the same distribution

    def gru_unit(self, input: Tensor, memory: Tensor) -> Tensor:
        reset_percent = torch.sigmoid(memory @ self.wr1 + input @ self.wr2 + self.br1)
        update_percent = torch.sigmoid(memory @ self.wu1 + input @ self.wu2 + self.bu1)
        candidate_memory = torch.tanh(
            input @ self.wc2 + self.bc2 + (1 - reset_percent) * (memory @ self.wc1 + self.bc1)
        )
        new_memory = (1 - update_percent) * memory + update_percent * candidate_memory
        return new_memory

    def step(self, inputs: Tensor, state: State) -> tuple[Tensor, State]:
        (memory,) = state
        memory = self.gru_unit(inputs, memory)
        return memory, (memory,)
