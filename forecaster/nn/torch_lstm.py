"""``torch.nn.LSTM`` behind the cell contract: the reference for the default cell."""

from __future__ import annotations

from torch import Tensor, nn

from forecaster.nn.base import RecurrentCell, State


class TorchLSTM(RecurrentCell):
    state_size = 2  # (long_memory, short_memory), the order StageLSTM uses

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True)

    def forward(self, inputs: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        if state is not None:
            long_memory, short_memory = state
            state = (short_memory.unsqueeze(0).contiguous(), long_memory.unsqueeze(0).contiguous())
        outputs, (short_memory, long_memory) = self.lstm(inputs, state)
        return outputs, (long_memory.squeeze(0), short_memory.squeeze(0))
