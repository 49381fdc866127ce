"""Trainer set-up: seeds, tensors, callbacks and the accelerator options passed to Lightning."""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import sys
import warnings
from dataclasses import dataclass

import lightning
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from forecaster.data import Windows
from forecaster.errors import BadInput, TrainingFailed
from forecaster.model import ForecastModule
from forecaster.network import Network

for _name in ("lightning.pytorch", "lightning.fabric"):
    logging.getLogger(_name).setLevel(logging.WARNING)
# the windows are held in memory as tensors: worker processes would only add overhead
warnings.filterwarnings("ignore", message=".*does not have many workers.*")
warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
warnings.filterwarnings("ignore", message=".*but have no `val_dataloader`.*")  # tiny data: no validation split
warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)` is deprecated.*")  # inside Lightning


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    lr: float
    batch_size: int
    seed: int
    patience: int
    gradient_clip: float
    accelerator: str
    devices: str


@dataclass(frozen=True)
class TrainOutcome:
    epochs_run: int
    best_epoch: int
    stopped_early: bool


def seed_everything(seed: int) -> None:
    """Same seed, same machine: same model."""
    lightning.seed_everything(seed, workers=True, verbose=False)


class BestWeights(lightning.Callback):
    """Keep the weights of the epoch with the lowest monitored loss; restore them when fitting ends.

    Held in memory rather than in a checkpoint file: nothing is pickled to disk.
    """

    def __init__(self, monitor: str) -> None:
        self.monitor = monitor
        self.best = math.inf
        self.best_epoch = 0
        self.state: dict | None = None

    def _remember(self, trainer: lightning.Trainer, module: lightning.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is not None and float(value) < self.best:
            self.best = float(value)
            self.best_epoch = trainer.current_epoch + 1
            self.state = copy.deepcopy(module.network.state_dict())

    def on_validation_epoch_end(self, trainer, module) -> None:
        if self.monitor.startswith("val") and not trainer.sanity_checking:
            self._remember(trainer, module)

    def on_train_epoch_end(self, trainer, module) -> None:
        if self.monitor.startswith("train"):
            self._remember(trainer, module)

    def on_fit_end(self, trainer, module) -> None:
        if self.state is not None:
            module.network.load_state_dict(self.state)


def _loader(windows: Windows, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    dataset = TensorDataset(torch.as_tensor(windows.inputs, dtype=torch.float32), torch.as_tensor(windows.targets, dtype=torch.float32))
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)


def train(network: Network, training: Windows, validation: Windows | None, settings: TrainSettings) -> TrainOutcome:
    """Fit ``network`` in place on the training windows; early-stop on the validation ones."""
    module = ForecastModule(network, settings.lr)
    monitor = "val_loss" if validation is not None else "train_loss"
    best = BestWeights(monitor)
    stopper = lightning.pytorch.callbacks.EarlyStopping(monitor=monitor, patience=settings.patience, check_finite=False)
    try:
        trainer = lightning.Trainer(
            max_epochs=settings.epochs,
            accelerator=settings.accelerator,
            devices=_devices(settings.devices),
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=sys.stderr.isatty(),
            gradient_clip_val=settings.gradient_clip or None,
            deterministic=True,
            num_sanity_val_steps=0,
            callbacks=[best, stopper],
        )
    except (ValueError, RuntimeError, lightning.fabric.utilities.exceptions.MisconfigurationException) as exc:
        raise BadInput(f"--accelerator/--devices: {str(exc).strip().splitlines()[0]}") from None
    validation_loader = _loader(validation, settings.batch_size, False, settings.seed) if validation is not None else None
    with contextlib.redirect_stdout(sys.stderr):  # Lightning's bars write to stdout, which carries data
        trainer.fit(module, _loader(training, settings.batch_size, True, settings.seed), validation_loader)
    if trainer.interrupted:
        raise KeyboardInterrupt
    if best.state is None:
        raise TrainingFailed(f"training diverged: the loss was never finite; try a lower --lr than {settings.lr:g}")
    return TrainOutcome(epochs_run=trainer.current_epoch, best_epoch=best.best_epoch, stopped_early=stopper.stopped_epoch > 0)


def _devices(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def predict_windows(network: Network, windows: Windows) -> np.ndarray:
    """Scaled forecasts for every window, in one pass without gradients."""
    network.eval()
    with torch.no_grad():
        return network(torch.as_tensor(windows.inputs, dtype=torch.float32)).double().numpy()
