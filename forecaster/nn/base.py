"""A base class that unrolls a per-step unit over a window.

The cell contract (docs/plugins.md explains it to plugin authors): a module
built as ``Cell(input_size=F, hidden_size=H)`` whose ``forward(inputs,
state=None)`` takes a batch-first ``(batch, time, F)`` tensor and returns
``(outputs, state)``: the per-step short-term memories ``(batch, time, H)``
and the final state, a tuple of ``(batch, ...)`` tensors that, passed back
in, continues the sequence. Outputs and state take the dtype and device of
the inputs and parameters, and no sample may see another sample of the
batch. Subclasses of :class:`RecurrentCell` write only :meth:`step`; a faster
cell may override :meth:`forward` instead. ``forecaster.testing`` checks all
of this.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

State = tuple[Tensor, ...]


class RecurrentCell(nn.Module):
    #: how many ``(batch, hidden)`` tensors make up the state
    state_size = 1

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"input_size and hidden_size must be positive, got {input_size}, {hidden_size}")
        self.input_size = input_size
        self.hidden_size = hidden_size

    def add_stage(self, stage: str) -> None:
        """The parameters of one stage, named as in the tutorial.

        ``w{stage}1`` weighs the memory, ``w{stage}2`` the input, and
        ``b{stage}1`` is the bias, so a step reads like the tutorial's
        ``memory @ self.wlr1 + input @ self.wlr2 + self.blr1``. Created
        empty: call :meth:`reset_parameters` once every stage is added.
        """
        self.register_parameter(f"w{stage}1", nn.Parameter(torch.empty(self.hidden_size, self.hidden_size)))
        self.register_parameter(f"w{stage}2", nn.Parameter(torch.empty(self.input_size, self.hidden_size)))
        self.register_parameter(f"b{stage}1", nn.Parameter(torch.empty(self.hidden_size)))

    def reset_parameters(self) -> None:
        """Every parameter uniform in +-1/sqrt(hidden_size): torch.nn.LSTM's and GRU's initialisation."""
        bound = 1 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def initial_state(self, inputs: Tensor) -> State:
        """All-zero memories matching the batch, dtype and device of ``inputs``."""
        zeros = inputs.new_zeros(inputs.shape[0], self.hidden_size)
        return tuple(zeros for _ in range(self.state_size))

    def step(self, inputs: Tensor, state: State) -> tuple[Tensor, State]:
        """One time step: ``(batch, F)`` inputs -> ``(batch, H)`` output and the next state."""
        raise NotImplementedError

    def forward(self, inputs: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        # a wrong shape would otherwise surface as a puzzling matmul error deep inside step()
        if inputs.dim() != 3 or inputs.shape[-1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__} expects (batch, time, {self.input_size}) inputs, got {tuple(inputs.shape)}"
            )
        if state is None:
            state = self.initial_state(inputs)
        outputs = []
        for inputs_now in inputs.unbind(dim=1):
            output, state = self.step(inputs_now, state)
            outputs.append(output)
        return torch.stack(outputs, dim=1), state
