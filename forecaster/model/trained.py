"""A trained model in memory: its card, its network and each series' preparation.

What :func:`forecaster.fit` returns and :func:`forecaster.load` reads, and what
`forecaster predict`, batch jobs and the Python API forecast with: one engine
behind every door. Loading never runs code from the files and never
allocates more than the files describe (see :meth:`Model.load`); nothing
here imports Lightning.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, SupportsIndex

import pandas as pd

from forecaster.data import limits as limits_
from forecaster.data.table import FUTURE_FRAME, IN_MEMORY, Data, Table, load, load_future
from forecaster.errors import BadInput
from forecaster.model import directory as model_directory
from forecaster.model.blend import baseline_name
from forecaster.model.card import Card
from forecaster.model.directory import METADATA_FILE, WEIGHTS_FILE, load_weights, read_card, weights_header
from forecaster.model.fit_result import FitReport, percent
from forecaster.model.forecast import Forecast, forecast
from forecaster.model.intervals import check_levels
from forecaster.model.preparation import Preparation
from forecaster.nn.registry import Registry
from forecaster.options import whole
from forecaster.runtime import memory

if TYPE_CHECKING:
    from forecaster.model.card import Scores
    from forecaster.nn.network import Extra, Network
    from forecaster.nn.registry import RegisteredCell

#: safetensors' dtypes a floating-point tensor may be saved in; any other tensor (a counter) is saved in its own
FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")
SAVED_DTYPES = {
    "torch.int64": "I64",
    "torch.int32": "I32",
    "torch.int16": "I16",
    "torch.int8": "I8",
    "torch.uint8": "U8",
    "torch.bool": "BOOL",
}


@dataclass
class Model:
    """A trained model: ``card`` (everything model.json holds) and ``network`` (in eval mode).

    ``directory`` is where it was loaded from or last saved (None for a fit
    not saved yet); ``fit_report`` is the fit's own report when it was fitted
    in this process (:attr:`report` gives one whichever it was).
    """

    card: Card
    network: Network
    directory: Path | None = None
    fit_report: FitReport | None = field(default=None, repr=False)

    @property
    def report(self) -> FitReport:
        """How the fit went: the fit's own report when it was fitted in this process, else the one model.json records
        (the same figures, without the fit's notes and the held-out errors that weighed Theta)."""
        return self.fit_report if self.fit_report is not None else recorded_report(self.card, self.directory)

    def __repr__(self) -> str:
        """A few lines: what it is, how well it did against the naive forecast (by sMAPE, which a pooled error in the
        data's units is not: on series of different scales, the largest decide it), where it is saved."""
        card, hyper = self.card, self.card.hyperparameters
        metrics = card.metrics
        series = f"{len(card.series)} series" if len(card.series) != 1 else f"series {card.series[0]!r}"
        return "\n".join(
            [
                f"<forecaster.Model: cell {card.cell.name}, {series}, {card.time.frequency or 'row'} steps>",
                f"  horizon {hyper.horizon}, season {hyper.season}, window {hyper.window}, members {hyper.members}",
                (
                    f"  {'validation' if card.training.validation_windows else 'training'} sMAPE "
                    f"{percent(metrics.model.smape)} against the naive forecast's {percent(metrics.naive.smape)} "
                    f"({metrics.windows} windows)"
                ),
                f"  saved at {self.directory}" if self.directory else "  not saved: model.save(path) writes it",
            ]
        )

    @property
    def window(self) -> int:
        return self.card.hyperparameters.window

    @property
    def horizon(self) -> int:
        return self.card.hyperparameters.horizon

    @property
    def season(self) -> int:
        return self.card.hyperparameters.season

    @property
    def min_observed(self) -> int:
        return self.card.hyperparameters.min_observed

    @property
    def series(self) -> tuple[str, ...]:
        return self.card.series

    @property
    def preparations(self) -> Mapping[str, Preparation]:
        return self.card.preparations

    @property
    def source(self) -> str:
        """How messages name the model: its model.json, or the data it was fitted on when not saved."""
        if self.directory:
            return str(self.directory / "model.json")
        source = self.card.training.source
        return f"the model fitted on {'a ' if source in IN_MEMORY else ''}{source}"

    def forecast(
        self,
        horizon: SupportsIndex | None = None,
        levels: float | Sequence[float] = (),
        recent: Data | Table | None = None,
        future: Data | None = None,
        *,
        limits: limits_.Given = None,
    ) -> Forecast:
        """The next ``horizon`` values (default: the trained horizon) of every series, from the training data's end
        or from ``recent`` (newer rows of the same series: a CSV's path, a DataFrame, or a table read by
        :meth:`read_recent`; rows after the last values give future-known covariates); ``levels`` adds intervals
        (percent: one, or several); ``future``: the future-known covariates over the horizon, a CSV's path or a
        DataFrame; ``limits``: what those files may cost to read (forecaster.data.limits)."""
        steps = self.horizon if horizon is None else whole(horizon, "--horizon")
        with limits_.within(limits):
            return self._forecast(steps, check_levels(levels), recent, future)

    def _forecast(
        self, horizon: int, levels: Sequence[float], recent: Data | Table | None, future: Data | None
    ) -> Forecast:
        _refuse_forecast_beyond_memory(len(self.series), horizon, len(levels))
        table = recent if recent is None or isinstance(recent, Table) else self.read_recent(recent)
        known = None
        named = str(future) if isinstance(future, (str, os.PathLike)) else FUTURE_FRAME  # as messages name it
        if future is not None:
            layout = self.card.layout
            known = load_future(
                future,
                self.card.time.column,
                self.card.covariates.columns,
                layout.id_col if layout else None,
                self.series,
            )
            self.card.covariates.refuse_unreadable(known.columns, named)
        result = forecast(self.card, self.network, self.source, horizon, table, levels, known)
        if future is not None and not self.card.covariates.future:
            result.notes.append(f"{named}: not read: the model reads no future-known covariates")
        return result

    def predict(
        self,
        horizon: SupportsIndex | None = None,
        levels: float | Sequence[float] = (),
        recent: Data | None = None,
        future: Data | None = None,
        *,
        limits: limits_.Given = None,
    ) -> pd.DataFrame:
        """:meth:`forecast` as a DataFrame, laid out as `forecaster predict` writes it (wide or long, as the data
        was)."""
        return self.forecast(horizon, levels, recent, future, limits=limits).to_frame()

    def read_recent(self, recent: Data) -> Table:
        """Newer rows of the model's series (a CSV's path or a DataFrame), read with the model's time column and
        layout."""
        return read_recent(self.card, recent)

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the model directory (model.json and weights.safetensors), atomically: a reader sees the old one or this
        one."""
        self.directory = model_directory.save(directory, self.card, self.network.state_dict())
        return self.directory

    @classmethod
    def load(cls, directory: str | os.PathLike, registry: Registry) -> Model:
        """Load a model directory: its card checked, then its weights' header against the network the card describes,
        then the tensors.

        Memory is allocated for the network only once the file's header holds
        every tensor it needs, of the right shape and a floating-point type, so a
        small file claiming a huge network is refused before the network exists.
        """
        card = read_card(directory)
        try:
            cell = registry.saved_cell(card.cell.name, card.cell.distribution, card.cell.version)
        except BadInput as exc:
            raise BadInput(f"{os.path.join(str(directory), METADATA_FILE)}: cell: {exc}") from None
        from forecaster.nn.network import build_network, planned_tensors

        hyper = card.hyperparameters
        found = weights_header(directory)
        weights = os.path.join(str(directory), WEIGHTS_FILE)
        network_of = f"the {cell.name} cell with hidden size {hyper.hidden_size}, horizon {hyper.horizon} and " + (
            f"{hyper.members} member" + ("s" if hyper.members > 1 else "")
        )
        where = (
            f"{weights}: weights do not fit {network_of} as {cell.distribution} {cell.version} builds it (the model "
            f"was written with {card.cell.distribution} {card.cell.version})"
        )
        # first: every member is a cell to plan, and a few tensors hold few
        for member in range(min(hyper.members, len(found) + 1)):
            if f"heads.{member}.weight" not in found:
                raise BadInput(f"{where}: 'heads.{member}.weight' is missing")
        # then the sizes the heads hold, before any network is planned from the card's: a hidden size of 1e17
        head = found["heads.0.weight"][0]
        if head != (hyper.horizon, hyper.hidden_size):
            raise BadInput(
                f"{where}: 'heads.0.weight' is {head}, not ({hyper.horizon}, {hyper.hidden_size}), the "
                "(hyperparameters.horizon, hyperparameters.hidden_size) model.json gives"
            )
        extra = card.covariates.counts
        sizes = (hyper.hidden_size, hyper.horizon, hyper.season, hyper.members, extra)
        planned = planned_tensors(cell, *sizes)
        network, sized = None, f"{weights}: a network of {network_of}"
        if planned is None:  # a cell that cannot be built on the meta device: checked once built, as big as its file
            _refuse_beyond_memory(found, sized)
            network = build_network(cell, *sizes)
            planned = {name: (tuple(tensor.shape), tensor.dtype) for name, tensor in network.state_dict().items()}
        _check_weights(found, planned, where)
        _refuse_beyond_memory(planned, sized)
        dtypes = {name: dtype for name, (_, dtype) in planned.items()}
        tensors = load_weights(directory, dtypes)
        _refuse_non_finite(tensors, weights)
        if network is None:
            network = _built_on_the_file(cell, sizes, tensors)
        else:
            network.load_state_dict(tensors)
        network.eval()
        return cls(card, network, Path(directory))


def read_recent(card: Card, recent: Data) -> Table:
    """Rows of the series of the model ``card`` describes (a CSV's path or a DataFrame), read with its time column and
    layout: what a forecast from them reads, and a report draws (no network needed)."""
    layout = card.layout
    id_col, value_col = (layout.id_col, layout.value_col) if layout else (None, None)
    return load(
        recent,
        card.time.column,
        card.series,
        fill=card.hyperparameters.fill,
        id_col=id_col,
        value_col=value_col,
        covariates=card.covariates.columns,
        freq=card.requested.freq,
    )


def recorded_report(card: Card, directory: Path | None) -> FitReport:
    """The report of the fit that made ``card``, from what model.json records of it."""
    training, metrics = card.training, card.metrics
    return FitReport(
        model_dir=str(directory) if directory else None,
        cell=card.cell.name,
        epochs_run=training.epochs_run,
        best_epoch=training.best_epoch,
        stopped_early=training.stopped_early,
        train_windows=training.train_windows,
        validation_windows=training.validation_windows,
        final_epochs=training.final_epochs,
        processes=training.processes,
        metrics={
            **_compared(metrics.model, metrics.naive, metrics.seasonal_naive),
            "windows": metrics.windows,
            "series": {
                name: _compared(pair.model, pair.naive, pair.seasonal_naive) for name, pair in metrics.series.items()
            },
        },
        metrics_on="validation" if training.validation_windows else "training",
        chosen=list(card.chosen),
        fallback=list(card.fallback.naive),
        blend=(
            {"theta_weight": card.blend.weight, "ets_weight": card.blend.ets_weight}
            if training.validation_windows
            else None
        ),
        baseline=dict(card.fallback.baseline),
        baseline_method=baseline_name(card.hyperparameters.season),
    )


def _scores(scores: Scores) -> dict[str, float | None]:
    return {"mae": scores.mae, "rmse": scores.rmse, "smape": scores.smape}


def _compared(model: Scores, naive: Scores, seasonal_naive: Scores | None) -> dict[str, dict[str, float | None]]:
    """The fit's scores as its report keeps them; seasonal naive's left out where model.json did not keep them."""
    compared = {"model": _scores(model), "naive": _scores(naive)}
    if seasonal_naive is not None:
        compared["seasonal_naive"] = _scores(seasonal_naive)
    return compared


#: bytes a network's value takes: float32, the network's type, whatever the file holds
VALUE_BYTES = 4


def _refuse_beyond_memory(tensors: Mapping[str, tuple[tuple[int, ...], object]], where: str) -> None:
    """A network of ``tensors`` (the planned ones, or the file's where a cell cannot be planned) is read only where
    it fits in memory: its file's tensors mapped, then the network holding them."""
    values = sum(math.prod(shape) for shape, _ in tensors.values())
    limits_.within_memory(2 * VALUE_BYTES * values, f"{where}: its {values:,} values read and held", memory.available)


#: bytes a forecast takes per series and step, an estimate on the high side: its time (a pandas timestamp), its value
#: in float64 with the temporaries of restoring it, and its CSV text; as much again for each interval level
FORECAST_STEP_BYTES = 512


def _refuse_forecast_beyond_memory(series: int, horizon: int, levels: int) -> None:
    """A forecast is made only where it fits in memory: ``--horizon 100000000`` ended in a MemoryError."""
    steps = series * max(horizon, 0)
    limits_.within_memory(
        steps * FORECAST_STEP_BYTES * (1 + levels),
        f"--horizon {horizon}: {series:,} series of {horizon:,} steps"
        + (f", {levels} interval levels" if levels else ""),
        memory.available,
    )


def _refuse_non_finite(tensors: dict, weights: str) -> None:
    """Weights no training leaves: NaN or infinite values, which make every forecast NaN (a fit refuses a network that
    diverged). Said of the weights file, not of model.json."""
    import torch

    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise BadInput(
                f"{weights}: {name!r} holds values that are not finite (NaN or infinite), which no fit writes"
            )


def _built_on_the_file(cell: RegisteredCell, sizes: tuple[int, int, int, int, Extra], weights: dict) -> Network:
    """The network, its tensors the file's: built on the meta device (no memory, no random weights) and given them,
    so that a model takes its weights' size in memory once, not twice (issue 25: a 1 GB model peaked at 4.2 GB).
    A cell that cannot run there, or that holds a tensor the file does not, is built for real and loaded."""
    import torch

    from forecaster.nn.network import build_network, check_contract

    try:
        with torch.device("meta"):
            network = build_network(cell, *sizes, checked=False)  # a cell run on meta tensors yields no numbers
        network.load_state_dict(weights, assign=True)
    except Exception:  # a plugin's cell that the meta device cannot build: the ordinary way
        network = None
    if network is None or any(tensor.is_meta for tensor in [*network.parameters(), *network.buffers()]):
        network = build_network(cell, *sizes)
        network.load_state_dict(weights)
    else:
        check_contract(network)
    return network


def _check_weights(found: dict[str, tuple[tuple[int, ...], str]], planned: dict, where: str) -> None:
    """Every tensor the network needs, none else, each of its shape; floating-point ones saved as floating point, never
    converted."""
    extra = [name for name in found if name not in planned]
    if extra:
        raise BadInput(f"{where}: {extra[0]!r} is not one of its tensors")
    for name, (shape, dtype) in planned.items():
        if name not in found:
            raise BadInput(f"{where}: {name!r} is missing")
        saved_shape, saved_dtype = found[name]
        if saved_shape != shape:
            raise BadInput(f"{where}: {name!r} is {saved_shape}, not {shape}")
        if saved_dtype not in (FLOAT_DTYPES if dtype.is_floating_point else (SAVED_DTYPES.get(str(dtype)),)):
            raise BadInput(
                f"{where}: {name!r} holds {saved_dtype} values, not "
                + (f"floating-point ones ({', '.join(FLOAT_DTYPES)})" if dtype.is_floating_point else str(dtype))
            )
