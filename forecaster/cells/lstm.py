"""The default cell: the LSTM unit of StatQuest's "LSTM by hand", stage by stage.

The tutorial works with scalars; here every quantity is a vector of
``hidden_size`` memories, inputs have ``input_size`` features, and the batch
comes first. Parameter names are the tutorial's: ``wlr1`` is the weight of
the short-term memory in the "long remember" stage, ``wlr2`` the weight of the
input, ``blr1`` its bias, and likewise ``pr`` (potential remember), ``p``
(potential memory) and ``o`` (output).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from forecaster.cells.base import RecurrentCell, State

STAGES = ("lr", "pr", "p", "o")


class StageLSTM(RecurrentCell):
    state_size = 2  # (long_memory, short_memory)

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        for stage in STAGES:
            self.register_parameter(f"w{stage}1", nn.Parameter(torch.empty(hidden_size, hidden_size)))
            self.register_parameter(f"w{stage}2", nn.Parameter(torch.empty(input_size, hidden_size)))
            self.register_parameter(f"b{stage}1", nn.Parameter(torch.empty(hidden_size)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # torch.nn.LSTM's initialisation, so both cells start from the same distribution
        bound = 1 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

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
