"""What one training run is asked to do: its epochs, optimiser, stopping and devices, taken from the fit options.

Apart from the Trainer set-up (:mod:`forecaster.training.trainer`) so that a
fit whose members train in worker processes plans their training without
importing Lightning: the fork server has it loaded already, and the fit's own
process would only wait for a second import of it (bench/performance.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

from forecaster.options import FitOptions


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
    strategy: str = "auto"
    num_nodes: int = 1
    distributed: bool = False  #: several processes may train (see forecaster.training.pipeline.fit)
    batches_per_epoch: int | None = None
    annealed: bool = (
        False  #: the learning rate falls to nothing over the epochs (a run of known length: no early stopping)
    )
    max_seconds: float | None = None  #: training stops after this long (Lightning's max_time), the best epoch kept
    progress: bool = False  #: steps told to the run's bar (forecaster.runtime.progress decides; trainer.StepsTold)

    @property
    def several_processes(self) -> bool:
        """Whether Lightning may train on several processes (--devices, --num-nodes, --strategy ddp, torchrun)."""
        return (
            self.devices not in ("1", "auto")
            or self.num_nodes > 1
            or self.strategy == "ddp"
            or int(os.environ.get("WORLD_SIZE", "1")) > 1
        )

    @property
    def on_this_cpu(self) -> bool:
        """Whether training runs on this machine's CPU, where forked processes may train beside each other."""
        import torch

        return self.accelerator == "cpu" or (self.accelerator == "auto" and not torch.cuda.is_available())

    @classmethod
    def of(cls, options: FitOptions, **settings: Any) -> TrainSettings:
        """The training settings of fit options whose open values are decided (forecaster.training.defaults), plus
        ``settings``."""
        taken = {field.name: getattr(options, field.name) for field in fields(cls) if hasattr(options, field.name)}
        return cls(**{**taken, **settings})
