"""The options of `fit`, with their defaults in one place.

Kept free of heavy imports: the CLI reads these defaults to build its
``--help`` without loading pandas, torch or Lightning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from forecaster.errors import BadInput

SCALERS = ("standard", "minmax", "robust", "none")
FILL_POLICIES = ("error", "interpolate", "ffill", "drop")
#: Lightning strategies fit offers: "auto" is one process, or one per device when --devices asks for
#: several; "ddp" is one process per device on every node (docs/scaling.md)
STRATEGIES = ("auto", "ddp")


@dataclass(frozen=True)
class FitOptions:
    cell: str = "lstm"
    window: int | None = None  #: None: chosen from the season, the horizon and the series' lengths (forecaster.defaults)
    horizon: int = 7
    season: int | None = None  #: None: the frequency's natural season (forecaster.seasonality.natural_season)
    hidden_size: int = 32
    members: int = 3  #: networks trained side by side; the forecast is their median
    epochs: int | None = None  #: None: 100, or more on tiny data (see fitting.MIN_STEPS)
    lr: float = 0.01
    batch_size: int | None = None  #: None: chosen from the number of windows (forecaster.defaults)
    seed: int = 42
    scaler: str = "standard"
    patience: int = 30  #: 10 stopped too early on small validation sets: bench/README.md, Accuracy
    gradient_clip: float = 1.0
    accelerator: str = "auto"
    devices: str = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    date_col: str | None = None
    targets: tuple[str, ...] = ()
    fill: str = "error"
    id_col: str | None = None
    value_col: str | None = None

    def check(self) -> None:
        """Refuse impossible values before any data is read."""
        for option in ("window", "horizon", "season", "hidden_size", "members", "batch_size", "patience", "num_nodes", "epochs"):
            value = getattr(self, option)
            if value is not None and value < 1:
                raise BadInput(f"--{option.replace('_', '-')} must be at least 1, not {value}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise BadInput(f"--lr must be a positive number, not {self.lr}")
        if self.fill not in FILL_POLICIES:
            raise BadInput(f"unknown policy {self.fill!r} (--fill); choose from {', '.join(FILL_POLICIES)}")
        if self.scaler not in SCALERS:
            raise BadInput(f"unknown scaler {self.scaler!r} (--scaler); choose from {', '.join(SCALERS)}")
        if self.strategy not in STRATEGIES:
            raise BadInput(f"unknown strategy {self.strategy!r} (--strategy); choose from {', '.join(STRATEGIES)}")
