"""`forecaster fit` from end to end: CSV -> scaled windows -> trained network -> model directory.

Each stage takes the previous stage's output and knows nothing of the ones
after it; this module is the only place that strings them together.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from forecaster import __version__
from forecaster.artifact import save_model
from forecaster.data import Table, Windows, load_csv, make_windows
from forecaster.errors import BadInput
from forecaster.evaluate import compare, naive_forecast
from forecaster.options import FitOptions
from forecaster.plugins import Registry
from forecaster.scaling import Scaler, fit_scaler

#: below this many windows there is no validation split: every window trains
MIN_WINDOWS_FOR_VALIDATION = 20
VALIDATION_FRACTION = 0.2
#: with --epochs unset, train at least this many optimiser steps (tiny data needs many epochs)
MIN_STEPS = 2000


@dataclass
class FitReport:
    model_dir: str
    cell: str
    epochs_run: int
    best_epoch: int
    stopped_early: bool
    train_windows: int
    validation_windows: int
    metrics: dict  #: on validation windows, or on training windows when there are none
    metrics_on: str  #: "validation" or "training"
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        model, naive = self.metrics["model"], self.metrics["naive"]
        lines = [
            f"cell {self.cell}: {self.epochs_run} epochs (best {self.best_epoch}{', stopped early' if self.stopped_early else ''}), "
            f"{self.train_windows} training and {self.validation_windows} validation windows",
            f"{self.metrics_on} MAE {model['mae']:.4g} RMSE {model['rmse']:.4g}   naive (last value) MAE {naive['mae']:.4g} RMSE {naive['rmse']:.4g}",
        ]
        series = self.metrics["series"]
        if len(series) > 1:
            width = max(len(name) for name in series)
            for name, scores in list(series.items())[:10]:
                lines.append(f"  {name:<{width}}  MAE {scores['model']['mae']:.4g} (naive {scores['naive']['mae']:.4g})")
            if len(series) > 10:
                lines.append(f"  ... and {len(series) - 10} more series")
        lines += [f"note: {note}" for note in self.notes]
        lines.append(f"model written to {self.model_dir}")
        return "\n".join(lines)


def default_model_dir(csv: str | os.PathLike) -> Path:
    return Path("models") / Path(csv).stem


def source_sha256(csv: str | os.PathLike) -> str | None:
    """The input's content hash, saved in model.json for batch's ``refit = "if-data-changed"``.

    None when the file cannot be read: reading it as a table says why.
    """
    digest = hashlib.sha256()
    try:
        with open(csv, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def fit(csv: str | os.PathLike, options: FitOptions, registry: Registry, out: str | os.PathLike | None = None) -> FitReport:
    options.check()
    cell = registry.get(options.cell)
    digest = source_sha256(csv)  # before reading: data that changes meanwhile is refitted next time, not missed
    table = load_csv(csv, options.date_col, options.targets)
    out = Path(out) if out is not None else default_model_dir(csv)

    values = table.values.to_numpy()
    windows = make_windows(values, options.window, options.horizon)
    if len(windows) == 0:
        longest = int(table.values.notna().sum().max())
        raise BadInput(f"{table.path}: too few rows: the longest series has {longest} values, "
                       f"fewer than --window {options.window} + --horizon {options.horizon}")
    cutoff, training_mask, validation_mask = split(windows, len(values), options.horizon)
    notes = []
    if cutoff == len(values):
        notes.append(f"only {len(windows)} windows: no validation split, metrics are on the training windows")
    scalers = {column: fit_scaler(options.scaler, values[:cutoff, k]) for k, column in enumerate(table.columns)}
    scaled = np.column_stack([scalers[column].transform(values[:, k]) for k, column in enumerate(table.columns)])
    windows = make_windows(scaled, options.window, options.horizon)
    training = windows.select(training_mask)
    validation = windows.select(validation_mask) if validation_mask.any() else None

    from forecaster import train
    from forecaster.network import build_network

    train.seed_everything(options.seed)
    network = build_network(cell, options.hidden_size, options.horizon)
    epochs = options.epochs or max(100, math.ceil(MIN_STEPS / math.ceil(len(training) / options.batch_size)))
    settings = train.TrainSettings(epochs, options.lr, options.batch_size, options.seed, options.patience,
                                   options.gradient_clip, options.accelerator, options.devices)
    outcome = train.train(network, training, validation, settings)

    scored = validation if validation is not None else training
    metrics = _score(network, scored, scalers, table.columns, options.horizon)
    metadata = _metadata(table, options, cell, scalers, metrics, outcome, len(training), len(scored) if validation else 0)
    metadata["training"]["source_sha256"] = digest
    save_model(out, metadata, network.state_dict())
    return FitReport(str(out), cell.name, outcome.epochs_run, outcome.best_epoch, outcome.stopped_early,
                     len(training), len(validation) if validation else 0, metrics,
                     "validation" if validation else "training", notes)


def split(windows: Windows, rows: int, horizon: int) -> tuple[int, np.ndarray, np.ndarray]:
    """Time-ordered split: windows whose targets lie in the last rows validate, earlier ones train.

    Returns the first validation row (``rows`` when there is no validation)
    and the two masks. Windows whose targets straddle the cut are dropped, so
    no training target is ever seen by a validation input's future.
    """
    validation_rows = max(horizon, round(VALIDATION_FRACTION * rows))
    cutoff = rows - validation_rows
    training = windows.start + horizon <= cutoff
    validation = windows.start >= cutoff
    if len(windows) < MIN_WINDOWS_FOR_VALIDATION or training.sum() < validation.sum() or not validation.any():
        return rows, np.ones(len(windows), bool), np.zeros(len(windows), bool)
    return cutoff, training, validation


def _score(network, windows: Windows, scalers: dict[str, Scaler], columns: list[str], horizon: int) -> dict:
    from forecaster.train import predict_windows

    predicted = predict_windows(network, windows)

    centers = np.array([scalers[column].center for column in columns])[windows.series, None]
    scales = np.array([scalers[column].scale for column in columns])[windows.series, None]

    def inverse(array: np.ndarray) -> np.ndarray:
        return array * scales + centers

    actual = inverse(windows.targets)
    return compare(actual, inverse(predicted), naive_forecast(inverse(windows.inputs), horizon), windows.series, columns)


def _metadata(table: Table, options: FitOptions, cell, scalers, metrics, outcome, train_windows: int, validation_windows: int) -> dict:
    hyperparameters = {name: getattr(options, name) for name in ("window", "horizon", "hidden_size", "lr", "batch_size", "seed", "scaler", "patience", "gradient_clip")}
    hyperparameters["epochs"] = options.epochs
    return {
        "forecaster_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cell": {"name": cell.name, "distribution": cell.distribution, "version": cell.version},
        "hyperparameters": {**hyperparameters, "input_size": 1},
        "series": table.columns,
        "time": {"column": table.time_column, "kind": table.time_kind, "frequency": table.frequency, "last": table.last_time},
        "scalers": {column: scaler.to_json() for column, scaler in scalers.items()},
        "history": {column: table.values[column].dropna().to_numpy()[-options.window:].tolist() for column in table.columns},
        "training": {"source": table.path, "rows": len(table.values), "epochs_run": outcome.epochs_run, "best_epoch": outcome.best_epoch,
                     "stopped_early": outcome.stopped_early, "train_windows": train_windows, "validation_windows": validation_windows},
        "metrics": metrics,
    }
