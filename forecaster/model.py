"""The LightningModule: the loss and the optimiser around a :class:`Network`."""

from __future__ import annotations

import lightning
import torch
from torch import Tensor
from torch.nn import functional

from forecaster.errors import TrainingFailed
from forecaster.network import Network


class ForecastModule(lightning.LightningModule):
    def __init__(self, network: Network, lr: float) -> None:
        super().__init__()
        self.network = network
        self.lr = lr

    def forward(self, window: Tensor) -> Tensor:
        return self.network(window)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_index: int) -> Tensor:
        window, target = batch
        loss = functional.mse_loss(self.network(window), target)
        if not torch.isfinite(loss):
            raise TrainingFailed(f"training diverged: the loss became {loss.item()} in epoch {self.current_epoch + 1}; try a lower --lr than {self.lr:g}")
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(window))
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_index: int) -> None:
        window, target = batch
        loss = functional.mse_loss(self.network(window), target)
        self.log("val_loss", loss, on_step=False, on_epoch=True, batch_size=len(window))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)
