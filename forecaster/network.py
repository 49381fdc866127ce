"""The forecasting network in plain torch: any cell unrolled over a window, then a linear head.

Kept apart from the LightningModule so that ``predict`` runs it without
importing Lightning.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from forecaster.errors import ForecasterError


class Network(nn.Module):
    """(batch, window) scaled values -> (batch, horizon) scaled forecasts.

    The network forecasts changes from the window's last value: the cell reads
    the window minus its last value and the head's output is added back to it.
    Scalers are fitted on the training rows only, so a trending series (a
    stock) leaves the training range in validation and in use; a cell whose
    memories are bounded by tanh cannot follow such levels, while changes stay
    in range. It also makes "no change", the naive forecast, the network's
    natural starting point.
    """

    def __init__(self, cell: nn.Module, hidden_size: int, horizon: int) -> None:
        super().__init__()
        self.cell = cell
        self.head = nn.Linear(hidden_size, horizon)

    def forward(self, window: Tensor) -> Tensor:
        last = window[:, -1:]
        outputs, _ = self.cell((window - last).unsqueeze(-1))
        return last + self.head(outputs[:, -1])


def build_network(cell_builder, hidden_size: int, horizon: int) -> Network:
    """``cell_builder`` is a registered :class:`forecaster.plugins.Cell`; a cell that breaks the contract is named here."""
    cell = cell_builder.build(input_size=1, hidden_size=hidden_size)
    _check_outputs(cell, hidden_size, cell_builder.origin)
    return Network(cell, hidden_size, horizon)


def _check_outputs(cell: nn.Module, hidden_size: int, origin: str) -> None:
    """Run the cell once on a tiny batch: a wrong shape would otherwise surface as a matrix error deep in training."""
    expected = (2, 3, hidden_size)
    was_training = cell.training
    cell.eval()  # no dropout draws, no running statistics updated
    try:
        with torch.no_grad():
            outputs, _ = cell(torch.zeros(2, 3, 1, dtype=next(cell.parameters(), torch.zeros(())).dtype))
        shape = tuple(outputs.shape)
    except Exception as exc:
        raise ForecasterError(f"{origin}: fails on a (2, 3, 1) batch: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    finally:
        cell.train(was_training)
    if shape != expected:
        raise ForecasterError(f"{origin}: breaks the cell contract: outputs of shape {shape} for a (2, 3, 1) batch, not {expected}")
