"""The built-in cells, registered through the same hook as any plugin.

Builders are named as ``"module:attribute"`` strings so that listing cells
does not import torch.
"""

from forecaster.hookspecs import Register, hookimpl


@hookimpl
def register_cells(register: Register) -> None:
    register(
        "lstm",
        "forecaster.nn.lstm:StageLSTM",
        "Stage-by-stage LSTM unit of the 'LSTM by hand' tutorial (the default)",
    )
    register(
        "torch-lstm",
        "forecaster.nn.torch_lstm:TorchLSTM",
        "torch.nn.LSTM, the fused reference implementation",
    )
