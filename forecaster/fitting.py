"""`forecaster fit` from end to end: CSV -> scaled windows -> trained network -> model directory.

Each stage takes the previous stage's output and knows nothing of the ones
after it; this module is the only place that strings them together.
:func:`train_on` is shared with the backtest, which calls it once per fold on
the rows before that fold's origin.
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
from forecaster.artifact import recover, save_model
from forecaster.data import Table, Windows, load_csv, make_windows, missing_times, time_label, time_text
from forecaster.errors import BadInput, TrainingFailed
from forecaster.evaluate import compare, naive_forecast
from forecaster.intervals import calibrate
from forecaster.options import FitOptions
from forecaster.plugins import Cell, Registry
from forecaster.scaling import Scaler, fit_scalers

#: below this many windows there is no validation split: every window trains
MIN_WINDOWS_FOR_VALIDATION = 20
VALIDATION_FRACTION = 0.2
#: with --epochs unset, train at least this many optimiser steps (tiny data needs many epochs)
MIN_STEPS = 2000
DEFAULT_EPOCHS = 100
#: a share of absent timestamps above this is noted; trading days miss about 4% (holidays)
MISSING_ROWS_NOTED = 0.05
#: the largest scaled value trained on: squared errors of 1e18 still fit float32
MAX_SCALED = 1e18
#: a model whose held-out squared error is this many times the naive forecast's has diverged
DIVERGENCE_FACTOR = 10


@dataclass
class FitReport:
    model_dir: str
    cell: str
    epochs_run: int
    best_epoch: int
    stopped_early: bool
    train_windows: int
    validation_windows: int
    processes: int  #: that trained together: more than 1 under DDP
    metrics: dict  #: on validation windows, or on training windows when there are none
    metrics_on: str  #: "validation" or "training"
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        model, naive = self.metrics["model"], self.metrics["naive"]
        lines = [
            f"cell {self.cell}: {self.epochs_run} epochs (best {self.best_epoch}{', stopped early' if self.stopped_early else ''}), "
            f"{self.train_windows} training and {self.validation_windows} validation windows"
            + (f", {self.processes} processes" if self.processes > 1 else ""),
            f"{self.metrics_on} MAE {model['mae']:.4g} RMSE {model['rmse']:.4g}   naive (last value) MAE {naive['mae']:.4g} RMSE {naive['rmse']:.4g}",
        ]
        series = self.metrics["series"]
        if len(series) > 1:
            width = max(len(name) for name in list(series)[:10])
            for name, scores in list(series.items())[:10]:
                lines.append(f"  {name:<{width}}  MAE {scores['model']['mae']:.4g} (naive {scores['naive']['mae']:.4g})")
            if len(series) > 10:
                lines.append(f"  ... and {len(series) - 10} more series")
        lines += [f"note: {note}" for note in self.notes]
        lines.append(f"model written to {self.model_dir}")
        return "\n".join(lines)


@dataclass
class Fitted:
    """A trained network and everything learnt with it, not yet saved."""

    network: object  #: forecaster.network.Network
    scalers: dict[str, Scaler]
    metrics: dict
    calibration: dict  #: conformal interval widths, see forecaster.intervals
    outcome: object  #: forecaster.train.TrainOutcome
    train_windows: int
    validation_windows: int
    notes: list[str]


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


def read_table(csv: str | os.PathLike, options: FitOptions) -> Table:
    return load_csv(csv, options.date_col, options.targets, fill=options.fill, id_col=options.id_col, value_col=options.value_col)


def fit(csv: str | os.PathLike, options: FitOptions, registry: Registry, out: str | os.PathLike | None = None,
        distributed: bool = False) -> FitReport:
    """Fit ``csv`` and save the model to ``out``.

    ``distributed``: this process was started as a command of its own, which
    Lightning's launcher, torchrun or SLURM can start again once per rank, so
    the options may ask for several processes; then every rank but 0 raises
    :class:`OtherRankDone` once training ends. Within a batch job's process
    that re-run would be the whole batch, so batch leaves it False.
    """
    options.check()
    cell = registry.get(options.cell)
    digest = source_sha256(csv)  # before reading: data that changes meanwhile is refitted next time, not missed
    table = read_table(csv, options)
    out = Path(out) if out is not None else default_model_dir(csv)
    recover(out)
    fitted = train_on(table, options, cell, distributed)
    metadata = model_metadata(table, options, cell, fitted)
    metadata["training"]["source_sha256"] = digest
    save_model(out, metadata, fitted.network.state_dict())
    return FitReport(str(out), cell.name, fitted.outcome.epochs_run, fitted.outcome.best_epoch, fitted.outcome.stopped_early,
                     fitted.train_windows, fitted.validation_windows, fitted.outcome.processes, fitted.metrics,
                     "validation" if fitted.validation_windows else "training", fitted.notes)


def train_on(table: Table, options: FitOptions, cell: Cell, distributed: bool = False) -> Fitted:
    """Scale, window, split and train on ``table``; the scalers see the training rows only.

    ``distributed`` as for :func:`fit`: backtests train one process per fold.
    """
    values = table.values.to_numpy()
    windows = make_windows(values, options.window, options.horizon)
    if len(windows) == 0:
        longest = int(table.values.notna().sum().max())
        raise BadInput(f"{table.path}: too few rows: the longest series has {longest} values, "
                       f"fewer than --window {options.window} + --horizon {options.horizon}")
    cutoff, training_mask, validation_mask = split(windows, len(values), options.horizon)
    notes = []
    missing, expected, first = missing_times(table)
    if missing > MISSING_ROWS_NOTED * expected:
        notes.append(f"{missing} of the {expected} timestamps a {table.frequency} frequency implies have no row (the first {time_label(first)}): "
                     f"windows span those gaps; add the rows, blank, and choose a --fill policy")
    if cutoff == len(values):
        notes.append(f"only {len(windows)} windows: no validation split, metrics and intervals are from the training windows")
    scalers = dict(zip(table.columns, fit_scalers(options.scaler, values[:cutoff], [f"{table.path}: column {column!r}" for column in table.columns])))
    scaled = np.column_stack([scalers[column].transform(values[:, k]) for k, column in enumerate(table.columns)])
    _refuse_untrainable(scaled, table, options.scaler)
    windows = windows.reading(scaled)
    training = windows.select(training_mask)
    validation = windows.select(validation_mask) if validation_mask.any() else None

    from forecaster import train
    from forecaster.network import build_network

    train.seed_everything(options.seed)
    network = build_network(cell, options.hidden_size, options.horizon)
    epochs = options.epochs or max(DEFAULT_EPOCHS, math.ceil(MIN_STEPS / math.ceil(len(training) / options.batch_size)))
    settings = train.TrainSettings(epochs, options.lr, options.batch_size, options.seed, options.patience,
                                   options.gradient_clip, options.accelerator, options.devices, options.strategy,
                                   options.num_nodes, distributed)
    outcome = train.train(network, training, validation, settings)

    held_out = validation if validation is not None else training
    predicted = train.predict_windows(network, held_out)
    actual, naive = held_out.targets, naive_forecast(held_out.inputs, options.horizon)
    _refuse_divergence(predicted, actual, naive, options.lr)
    calibration = {"windows": len(held_out), "on": "validation" if validation is not None else "training",
                   "quantiles": calibrate(predicted - actual)}
    metrics = _score(predicted, actual, naive, held_out.series, scalers, table.columns)
    return Fitted(network, scalers, metrics, calibration, outcome, len(training), len(validation) if validation else 0, notes)


def _refuse_untrainable(scaled: np.ndarray, table: Table, scaler: str) -> None:
    """Scaled values whose squared errors overflow float32 (3.4e38) would end as a NaN loss, blamed on --lr."""
    with np.errstate(invalid="ignore"):
        beyond = np.abs(scaled) > MAX_SCALED
    if beyond.any():
        row, column = (int(i[0]) for i in np.nonzero(beyond))
        raise BadInput(f"{table.path}: column {table.columns[column]!r} at {time_text(table.values.index[row])}: "
                       f"values too far apart to train on in float32 after the {scaler} scaler; rescale the data or try another --scaler")


def _refuse_divergence(predicted: np.ndarray, actual: np.ndarray, naive: np.ndarray, lr: float) -> None:
    """A model far worse than "no change" on held-out windows has diverged, even with a finite loss."""
    model_error = float(np.mean((predicted - actual) ** 2))
    naive_error = float(np.mean((naive - actual) ** 2))
    if not np.isfinite(model_error) or (naive_error > 0 and model_error > DIVERGENCE_FACTOR * naive_error):
        raise TrainingFailed(f"training diverged: the model's squared error is {model_error / naive_error if naive_error else model_error:.3g} "
                             f"times the naive forecast's; try a lower --lr than {lr:g}")


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


def _score(predicted: np.ndarray, actual: np.ndarray, naive: np.ndarray, series: np.ndarray, scalers: dict[str, Scaler],
           columns: list[str]) -> dict:
    """The model's and the naive forecast's errors in each series' own units; the arrays are scaled, one row a window."""
    centers = np.array([scalers[column].center for column in columns])[series, None]
    scales = np.array([scalers[column].scale for column in columns])[series, None]

    def inverse(array: np.ndarray) -> np.ndarray:
        return array * scales + centers

    return compare(inverse(actual), inverse(predicted), inverse(naive), series, columns)


def model_metadata(table: Table, options: FitOptions, cell: Cell, fitted: Fitted) -> dict:
    """Everything predict needs besides the weights, as plain JSON values."""
    hyperparameters = {name: getattr(options, name) for name in
                       ("window", "horizon", "hidden_size", "epochs", "lr", "batch_size", "seed", "scaler", "patience", "gradient_clip", "fill")}
    outcome = fitted.outcome
    return {
        "forecaster_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cell": {"name": cell.name, "distribution": cell.distribution, "version": cell.version},
        "hyperparameters": {**hyperparameters, "input_size": 1},
        #: how the series were picked from the file: batch refits when a job changes them
        "selection": {"targets": list(options.targets), "date_col": options.date_col, "id_col": options.id_col, "value_col": options.value_col},
        "series": table.columns,
        "layout": {"id_col": table.id_col, "value_col": table.value_col} if table.id_col else None,
        "time": {"column": table.time_column, "kind": table.time_kind, "frequency": table.frequency, "last": table.last_time},
        "ends": {column: time_text(end) for column, end in table.ends.items()},
        "scalers": {column: scaler.to_json() for column, scaler in fitted.scalers.items()},
        "history": {column: table.values[column].dropna().to_numpy()[-options.window:].tolist() for column in table.columns},
        "intervals": fitted.calibration,
        "training": {"source": table.path, "rows": len(table.values),
                     "series_rows": {column: int(count) for column, count in table.values.notna().sum().items()},  # batch's allow_shrink guard
                     "epochs_run": outcome.epochs_run, "best_epoch": outcome.best_epoch,
                     "stopped_early": outcome.stopped_early, "processes": outcome.processes, "train_windows": fitted.train_windows,
                     "validation_windows": fitted.validation_windows},
        "metrics": fitted.metrics,
    }
