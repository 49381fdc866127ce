"""Trainer set-up: seeds, tensors, callbacks and the accelerator options passed to Lightning."""

from __future__ import annotations

import contextlib
import copy
import datetime
import logging
import math
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from typing import Any

import lightning
import torch
from torch.utils.data import DataLoader, Dataset

from forecaster.errors import BadInput, OtherRankDone, TrainingFailed
from forecaster.model.fit_result import TrainOutcome
from forecaster.nn.network import NO_GRAD_BATCH, Network
from forecaster.runtime import progress
from forecaster.runtime.threads import one_thread
from forecaster.training.lightning_module import Batch, ForecastModule
from forecaster.training.settings import TrainSettings
from forecaster.training.windows import Windows

#: Lightning's loggers: at INFO they say which devices it found and how it set itself up
LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")
#: what Lightning warns of that says nothing about the user's data or run, ignored while it trains (:func:`quiet`)
IGNORED = (
    # the windows are held in memory as tensors: a DataLoader's worker processes would only add overhead
    ".*does not have many workers.*",
    ".*smaller than the logging interval.*",
    ".*but have no `val_dataloader`.*",  # tiny data: no validation split
    ".*isinstance\\(treespec, LeafSpec\\)` is deprecated.*",  # inside Lightning
    # DDP: the epoch losses are summed over every process before they are logged (ForecastModule.epoch_loss)
    ".*when logging on epoch level in distributed setting.*",
    # DDP copies the fused LSTM kernel's transposed weight gradients into its buckets: a few floats, harmless
    ".*Grad strides do not match bucket view strides.*",
)
#: a training tells its steps to the run's bar at most this often (seconds): as often as the bar is redrawn
TOLD_EVERY = progress.REDRAWN_EVERY


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Within: the warnings in IGNORED ignored and Lightning's loggers at WARNING, both as they were afterwards.

    Set at each training rather than once at import: a caller's
    ``warnings.catch_warnings()`` block puts the filters back as they were
    when it ends, filters set inside it (by the import, at a first fit in
    it) included, and every later fit would print Lightning's warnings with
    its file paths.
    """
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        for message in IGNORED:
            warnings.filterwarnings("ignore", message=message)
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


@contextlib.contextmanager
def memory_left_unfilled() -> Iterator[None]:
    """Within: torch leaves a new tensor's memory as it finds it, as it does outside deterministic mode.

    ``deterministic=True`` (same seed, same machine: same model) turns on
    ``torch.use_deterministic_algorithms``, which also fills the memory of
    every new tensor with NaN (``torch.utils.deterministic.fill_uninitialized_memory``)
    so that a kernel reading memory it never wrote shows it: a check, not
    a part of determinism, whose writes took an eighth of each training
    step of the default cell on the CPU (bench/performance.md, "Unfilled
    memory"). The models are the same with it and without.
    """
    # the module's documented attribute is a property of its class, which torch's type stubs do not declare
    from torch.utils import deterministic

    previous = deterministic.fill_uninitialized_memory  # type: ignore[attr-defined]
    deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]
    try:
        yield
    finally:
        deterministic.fill_uninitialized_memory = previous  # type: ignore[attr-defined]


def seed_everything(seed: int) -> None:
    """Same seed, same machine: same model."""
    lightning.seed_everything(seed, workers=True, verbose=False)


class StepsTold(lightning.Callback):
    """The training's optimiser steps told to the run's bar (:func:`forecaster.runtime.progress.told`) at most every
    TOLD_EVERY seconds: those planned as it starts, each one taken, and those early stopping or the time limit left
    untaken as it ends, so that the bar ends full. Rank 0's alone where several processes train together."""

    def __init__(self) -> None:
        self.planned = self.taken = self.untold = 0
        self.last = time.monotonic()

    def on_train_start(self, trainer, module) -> None:
        if trainer.is_global_zero:
            self.planned = int(trainer.max_epochs * trainer.num_training_batches)
            progress.told(progress.Steps(planned=self.planned))

    def on_train_batch_end(self, trainer, *args) -> None:
        self.taken += 1
        self.untold += 1
        if trainer.is_global_zero and time.monotonic() - self.last >= TOLD_EVERY:
            self._tell()

    def on_train_end(self, trainer, module) -> None:
        if trainer.is_global_zero:
            self.untold += max(self.planned - self.taken, 0)
            self._tell()

    def _tell(self) -> None:
        progress.told(progress.Steps(taken=self.untold))
        self.untold, self.last = 0, time.monotonic()


class BestWeights(lightning.Callback):
    """Keep the weights of the epoch with the lowest watched loss of ``stage``; restore them when fitting ends.

    Held in memory rather than in a checkpoint file: nothing is pickled to disk.
    The loss is read from the module (:meth:`ForecastModule.watched_loss`, a
    mean of the last few epochs) rather than from Lightning's logged metrics,
    which are not yet updated when a callback's epoch-end hook runs.
    """

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.best = math.inf
        self.best_epoch = 0
        self.state: dict | None = None

    def _remember(self, trainer: lightning.Trainer, module: ForecastModule) -> None:
        value = module.watched_loss(self.stage, trainer.current_epoch)
        if value < self.best:
            self.best = value
            self.best_epoch = trainer.current_epoch + 1
            self.state = copy.deepcopy(module.network.state_dict())

    def on_validation_epoch_end(self, trainer, module) -> None:
        if self.stage == "val" and not trainer.sanity_checking:
            self._remember(trainer, module)

    def on_train_epoch_end(self, trainer, module) -> None:
        if self.stage == "train":
            self._remember(trainer, module)

    def on_fit_end(self, trainer, module) -> None:
        if self.state is not None:
            module.network.load_state_dict(self.state)


class WindowTensors(Dataset):
    """The windows' series as one float32 tensor, made once and held for the whole fit.

    Windows are gathered from it a batch at a time rather than held as
    copies, which for thousands of series would be far larger than the
    series themselves (see :class:`forecaster.training.windows.Windows`). A DataLoader
    asks for a batch of indices at once through ``__getitems__``: one gather
    instead of a ``__getitem__`` per window and a collating stack, which cost
    more than the training step itself on small models. A batch is a
    :data:`forecaster.training.lightning_module.Batch`.
    """

    def __init__(self, windows: Windows) -> None:
        rows = windows.values.shape[0]
        self.window = windows.window
        values = torch.as_tensor(windows.values.T, dtype=torch.float32).flatten()  # one series after another
        #: views, no copies: row p holds the window + horizon values (and their positions) from position p on
        self.spans = values.unfold(0, windows.window + windows.horizon, 1)
        self.positions = torch.as_tensor(windows.positions).unfold(0, windows.window + windows.horizon, 1)
        self.first = torch.as_tensor(
            windows.series * rows + windows.start - windows.window
        )  #: each window's row of spans
        self.row = torch.as_tensor(windows.start - windows.window)  #: and of positions
        self.ratio = torch.as_tensor(windows.ratio[windows.series])
        #: the covariate features, one series' rows after another, gathered window + horizon rows a window at once
        extra = windows.extra if windows.extra is not None else torch.zeros((len(windows.ratio), rows, 0))
        self.extra = torch.as_tensor(extra, dtype=torch.float32).flatten(0, 1)
        self.steps = torch.arange(windows.window + windows.horizon)

    def __len__(self) -> int:
        return len(self.first)

    def __getitem__(self, index: int) -> Batch:
        parts = self.__getitems__([index])
        return parts[0][0], parts[1][0], parts[2][0], parts[3][0], parts[4][0]

    def __getitems__(self, indices: list[int]) -> Batch:
        chosen = torch.as_tensor(indices)
        spans = self.spans.index_select(0, self.first[chosen])
        return (
            spans[:, : self.window],
            self.positions.index_select(0, self.row[chosen]),
            self.ratio[chosen],
            self.extra[self.first[chosen][:, None] + self.steps],
            spans[:, self.window :],
        )


def _whole_batch(batch: Any) -> Batch:
    """The collate function: ``__getitems__`` already returns the batch (torch's types say a list of samples)."""
    return batch


def _loader(windows: Windows, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    """Batches in a seeded order: the same seed draws the same batches, epoch after epoch.

    A DataLoader with a batch size, rather than a bare iterator, so that
    Lightning can still hand each device its share of the windows.
    """
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        WindowTensors(windows), batch_size=batch_size, shuffle=shuffle, generator=generator, collate_fn=_whole_batch
    )


@quiet()
def train(network: Network, training: Windows, validation: Windows | None, settings: TrainSettings) -> TrainOutcome:
    """Fit ``network`` in place on the training windows; early-stop on the validation ones; Lightning kept
    :func:`quiet`."""
    steps = settings.epochs * (settings.batches_per_epoch or math.ceil(len(training) / settings.batch_size))
    module = ForecastModule(network, settings.lr, steps if settings.annealed else None)
    stage = "val" if validation is not None else "train"
    best = BestWeights(stage)
    stopper = lightning.pytorch.callbacks.EarlyStopping(
        monitor=f"{stage}_loss", patience=settings.patience, check_finite=False
    )
    try:
        trainer = lightning.Trainer(
            max_epochs=settings.epochs,
            limit_train_batches=settings.batches_per_epoch,
            accelerator=settings.accelerator,
            devices=_devices(settings.devices),
            strategy=settings.strategy,
            num_nodes=settings.num_nodes,
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=False,  # the run's one bar is drawn by the process the user runs: StepsTold
            max_time=None if settings.max_seconds is None else datetime.timedelta(seconds=max(settings.max_seconds, 0)),
            gradient_clip_val=settings.gradient_clip or None,
            deterministic=True,
            num_sanity_val_steps=0,
            callbacks=[best, stopper, *([StepsTold()] if settings.progress else [])],
        )
        environment = getattr(trainer.strategy, "cluster_environment", None)
        # the processes torchrun or SLURM started must be as many as --devices x --num-nodes
        if environment is not None:
            environment.validate_settings(num_devices=trainer.num_devices, num_nodes=trainer.num_nodes)
    except (
        ValueError,
        TypeError,
        RuntimeError,
        lightning.fabric.utilities.exceptions.MisconfigurationException,
    ) as exc:
        raise BadInput(f"--accelerator/--devices/--strategy/--num-nodes: {str(exc).strip().splitlines()[0]}") from None
    if trainer.world_size > 1 and not settings.distributed:
        raise BadInput(
            f"--devices/--strategy/--num-nodes ask for {trainer.world_size} processes, and only `forecaster fit` "
            f"trains on several, not backtest or a batch job; use --devices 1"
        )
    validation_loader = _loader(validation, NO_GRAD_BATCH, False, settings.seed) if validation is not None else None
    try:
        # whatever Lightning prints goes to stderr: stdout carries data
        with one_thread(), memory_left_unfilled(), contextlib.redirect_stdout(sys.stderr):
            trainer.fit(module, _loader(training, settings.batch_size, True, settings.seed), validation_loader)
    except BaseException:
        # they would wait for this process in their next collective until the timeout
        for process in _launched(trainer):
            process.send_signal(signal.SIGKILL)
        raise
    if torch.distributed.is_initialized():  # at exit its threads would be torn down under it: an abort, exit code -6
        torch.distributed.destroy_process_group()
    _wait_for_launched(trainer)
    if trainer.global_rank != 0:
        raise OtherRankDone(f"rank {trainer.global_rank} done")
    if trainer.interrupted:
        raise KeyboardInterrupt
    if best.state is None:
        raise TrainingFailed(f"training diverged: the loss was never finite; try a lower --lr than {settings.lr:g}")
    stopped_early = stopper.stopped_epoch > 0
    return TrainOutcome(
        epochs_run=trainer.current_epoch,
        best_epoch=best.best_epoch,
        stopped_early=stopped_early,
        best_loss=best.best,
        processes=trainer.world_size,
        timed_out=not stopped_early and trainer.current_epoch < settings.epochs,
    )


def _launched(trainer: lightning.Trainer) -> list[subprocess.Popen]:
    """The processes Lightning started for this node's other ranks, when it re-ran the command for them; else none."""
    return getattr(trainer.strategy.launcher, "procs", [])


def _wait_for_launched(trainer: lightning.Trainer) -> None:
    """Wait for the other ranks this process started, so that the command ends after all of its processes."""
    for rank, process in enumerate(_launched(trainer), 1):
        if process.wait():
            raise TrainingFailed(f"the process of local rank {rank} failed (exit code {process.returncode})")


def _devices(value: str) -> int | str:
    return int(value) if value.isdigit() else value
