"""The LightningModule: the loss and the optimiser around a :class:`Network`."""

from __future__ import annotations

import lightning
import torch
from lightning.pytorch.utilities.types import OptimizerLRScheduler
from torch import Tensor

from forecaster.errors import TrainingFailed
from forecaster.nn.network import Network

#: devices with a fused Adam kernel (the CPU since torch 2.4)
FUSED_ADAM_DEVICES = ("cpu", "cuda")
#: a batch of windows: values (NaN where padded), the positions on the time axis of the window and horizon, which
#: series are read as ratios, the covariate features over the window and horizon, and the targets (see
#: forecaster.training.trainer.WindowTensors)
Batch = tuple[Tensor, Tensor, Tensor, Tensor, Tensor]
#: early stopping and the best epoch watch the mean loss of the last this many epochs: with a validation set of one
#: window a series, one epoch's loss is noisy enough to make a lucky early epoch look best
SMOOTHED_EPOCHS = 3


class ForecastModule(lightning.LightningModule):
    def __init__(self, network: Network, lr: float, annealed_steps: int | None = None) -> None:
        super().__init__()
        self.network = network
        self.lr = lr
        #: when set, the learning rate falls from ``lr`` to 0 along a half cosine over this many steps
        self.annealed_steps = annealed_steps
        #: stage ("train" or "val") -> this epoch's summed loss over its windows, and their count
        self._epoch_totals: dict[str, tuple[Tensor, int]] = {}
        #: stage -> epoch -> that epoch's mean loss per window
        self.history: dict[str, dict[int, float]] = {}

    def forward(self, values: Tensor, positions: Tensor, ratio: Tensor, extra: Tensor) -> Tensor:
        return self.network(values, positions, ratio, extra)

    def training_loss(self, batch: Batch) -> Tensor:
        """Every member's mean absolute error on a batch, in units of each window's level (see Network)."""
        values, positions, ratio, extra, targets = batch
        forecasts, unit = self.network.member_forecasts(values, positions, ratio, extra)
        return ((forecasts - targets) / unit).abs().mean()

    def validation_loss(self, batch: Batch) -> Tensor:
        """The same error of the ensemble's forecast, the median of its members: what predict will give."""
        values, positions, ratio, extra, targets = batch
        _, unit = self.network.reference(values, ratio)
        return ((self.network(values, positions, ratio, extra) - targets) / unit).abs().mean()

    def training_step(self, batch: Batch, batch_index: int) -> Tensor:
        loss = self.training_loss(batch)
        if not torch.isfinite(loss) and self.global_step == 0 and self.annealed_steps is None:
            # no weight has changed yet, and the data was checked: the network as built computes no numbers
            raise TrainingFailed(
                f"{self.network.origin}: the network's forecasts of the first batch of windows are not finite "
                f"(the loss is {loss.item()}) before any training step: the cell computes no numbers from these "
                "windows, which no learning rate changes"
            )
        if not torch.isfinite(loss):
            raise TrainingFailed(
                f"training diverged: the loss became {loss.item()} in epoch {self.current_epoch + 1}; try a lower --lr "
                f"than {self.lr:g}"
            )
        self._add_to_epoch("train", loss, len(batch[0]))
        return loss

    def validation_step(self, batch: Batch, batch_index: int) -> None:
        self._add_to_epoch("val", self.validation_loss(batch), len(batch[0]))

    def _add_to_epoch(self, stage: str, loss: Tensor, windows: int) -> None:
        """Sum the epoch's loss here rather than with ``self.log`` at every step.

        Lightning's per-step logging costs about 0.5 ms a call, a sixth of a
        training step of the default model; the epoch mean, weighted by
        windows, is logged once in the epoch-end hooks instead.
        """
        total, count = self._epoch_totals.get(stage, (0.0, 0))
        self._epoch_totals[stage] = (total + loss.detach() * windows, count + windows)

    def epoch_loss(self, stage: str) -> float:
        """The mean loss per window of the current (or last finished) epoch of ``stage``, over every process's windows.

        Under DDP each process sees its own share of the windows. Summing the
        losses and counts of all of them gives every process the same mean,
        so that early stopping and the choice of the best epoch agree: a
        process that stopped alone would leave the others waiting for it.
        Every process calls this at the same points, as a collective needs.
        """
        total, count = self._epoch_totals[stage]
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            sums = torch.stack([total.double(), torch.tensor(float(count), dtype=torch.float64, device=total.device)])
            torch.distributed.all_reduce(sums)
            total, count = sums.tolist()
        return float(total) / count

    def watched_loss(self, stage: str, epoch: int) -> float:
        """The mean of the last SMOOTHED_EPOCHS epochs' losses of ``stage``, up to ``epoch``: what early stopping and
        the best epoch watch.

        Records the epoch's loss on the first call for it, so that a callback
        and the module's own hook may both ask (a collective under DDP runs
        once an epoch on every process).
        """
        history = self.history.setdefault(stage, {})
        if epoch not in history:
            history[epoch] = self.epoch_loss(stage)
        recent = [history[earlier] for earlier in range(epoch - SMOOTHED_EPOCHS + 1, epoch + 1) if earlier in history]
        return sum(recent) / len(recent)

    def on_train_epoch_start(self) -> None:
        self._epoch_totals.pop("train", None)

    def on_validation_epoch_start(self) -> None:
        self._epoch_totals.pop("val", None)

    def on_train_epoch_end(self) -> None:
        self.log("train_loss", self.watched_loss("train", self.current_epoch))

    def on_validation_epoch_end(self) -> None:
        self.log("val_loss", self.watched_loss("val", self.current_epoch))

    def configure_optimizers(self) -> OptimizerLRScheduler:
        """Adam, fused into one kernel call where torch has one; annealed when the steps are known.

        Without fusing, Adam on the CPU loops over the parameters in Python, a
        dozen small operations each: with the default cell's twelve
        parameters that was a fifth of a training step. Lightning has moved
        the module to its device by the time it calls this.

        A training run of a known length (the final fit, for the epochs that
        validation chose) lowers the learning rate to nothing along a cosine
        (Loshchilov & Hutter, "SGDR", 2017): the weights settle instead of
        stopping wherever the last steps left them, so that a forecast depends
        less on the seed.
        """
        fused = self.device.type in FUSED_ADAM_DEVICES or None  # None: torch's default elsewhere
        optimizer = torch.optim.Adam(self.parameters(), lr=self.lr, fused=fused)
        if self.annealed_steps is None:
            return optimizer
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.annealed_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
