"""`forecaster predict`: a saved model and recent values -> the next values of every series.

Pure torch: nothing here imports Lightning or scikit-learn, so a forecast
starts quickly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecaster.artifact import load_metadata, load_weights
from forecaster.data import Table, future_times, load_csv
from forecaster.errors import BadInput
from forecaster.plugins import Registry
from forecaster.scaling import Scaler


@dataclass
class Model:
    directory: str
    metadata: dict
    network: object  #: forecaster.network.Network, in eval mode
    scalers: dict[str, Scaler]

    @property
    def window(self) -> int:
        return self.metadata["hyperparameters"]["window"]

    @property
    def horizon(self) -> int:
        return self.metadata["hyperparameters"]["horizon"]

    @property
    def series(self) -> list[str]:
        return self.metadata["series"]


def load_model(directory: str | os.PathLike, registry: Registry) -> Model:
    """Load a model directory, checking every field before any tensor is used."""
    metadata = load_metadata(directory)
    where = os.path.join(str(directory), "model.json")
    _check_metadata(metadata, where)
    cell_info = metadata["cell"]
    try:
        cell = registry.saved_cell(cell_info["name"], cell_info["distribution"], cell_info["version"])
    except BadInput as exc:
        raise BadInput(f"{directory}: {exc}") from None
    hyper = metadata["hyperparameters"]

    import torch

    from forecaster.network import build_network

    network = build_network(cell, hyper["hidden_size"], hyper["horizon"])
    weights = load_weights(directory)
    expected = {name: tuple(tensor.shape) for name, tensor in network.state_dict().items()}
    found = {name: tuple(tensor.shape) for name, tensor in weights.items()}
    if expected != found:
        difference = sorted(set(expected.items()) ^ set(found.items()))[:3]
        raise BadInput(f"{directory}: weights do not fit the {cell.name} cell with hidden size {hyper['hidden_size']} (mismatch: {difference})")
    network.load_state_dict({name: tensor.to(torch.float32) for name, tensor in weights.items()})
    network.eval()
    scalers = {column: Scaler.from_json(metadata["scalers"].get(column), f"{where}: scaler of {column!r}") for column in metadata["series"]}
    return Model(str(directory), metadata, network, scalers)


def _check_metadata(metadata: dict, where: str) -> None:
    def need(value, kind, name):
        if not isinstance(value, kind) or isinstance(value, bool):
            raise BadInput(f"{where}: {name} is missing or has the wrong type")
        return value

    cell = need(metadata.get("cell"), dict, "cell")
    for key in ("name", "distribution", "version"):
        need(cell.get(key), str, f"cell.{key}")
    hyper = need(metadata.get("hyperparameters"), dict, "hyperparameters")
    for key in ("window", "horizon", "hidden_size"):
        if need(hyper.get(key), int, f"hyperparameters.{key}") < 1:
            raise BadInput(f"{where}: hyperparameters.{key} must be at least 1")
    series = need(metadata.get("series"), list, "series")
    if not series or not all(isinstance(name, str) for name in series):
        raise BadInput(f"{where}: series must be a non-empty list of names")
    time = need(metadata.get("time"), dict, "time")
    if time.get("kind") not in ("datetime", "integer", "row"):
        raise BadInput(f"{where}: time.kind must be datetime, integer or row")
    need(time.get("last"), str, "time.last")
    need(metadata.get("scalers"), dict, "scalers")
    history = need(metadata.get("history"), dict, "history")
    for name in series:
        values = history.get(name)
        if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise BadInput(f"{where}: history of {name!r} must be a list of numbers")


def forecast(model: Model, horizon: int | None = None, table: Table | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Forecast ``horizon`` steps of every series from ``table`` (or the training data's end).

    Returns the forecasts (one row per future time, one column per series)
    and notes for the user, such as a recursive forecast beyond the trained horizon.
    """
    import torch

    horizon = horizon or model.horizon
    if horizon < 1:
        raise BadInput(f"--horizon must be at least 1, not {horizon}")
    time = model.metadata["time"]
    if table is None:
        recent = {name: np.asarray(model.metadata["history"][name], dtype="float64") for name in model.series}
        kind, frequency, last = time["kind"], time["frequency"], _parse_last(time)
        source = f"{model.directory}/model.json"
    else:
        recent = {name: table.values[name].dropna().to_numpy() for name in model.series}
        kind, frequency, last = table.time_kind, table.frequency or time["frequency"], table.values.index[-1]
        source = table.path
    short = [name for name in model.series if len(recent[name]) < model.window]
    if short:
        raise BadInput(f"{source}: series {short[0]!r} has {len(recent[short[0]])} values; the model needs the last {model.window} (its --window)")
    windows = np.stack([model.scalers[name].transform(recent[name][-model.window:]) for name in model.series])
    steps = []
    with torch.no_grad():
        current = torch.as_tensor(windows, dtype=torch.float32)
        while sum(step.shape[1] for step in steps) < horizon:
            predicted = model.network(current)
            steps.append(predicted)
            current = torch.cat([current, predicted], dim=1)[:, -model.window:]
    scaled = torch.cat(steps, dim=1)[:, :horizon].double().numpy()
    values = {name: model.scalers[name].inverse(scaled[k]) for k, name in enumerate(model.series)}
    index = pd.Index(future_times(kind, frequency, last, horizon), name=time.get("column") or ("date" if kind == "datetime" else "row"))
    notes = []
    if horizon > model.horizon:
        notes.append(f"horizon {horizon} is beyond the trained {model.horizon}: steps {model.horizon + 1}-{horizon} are forecast recursively from earlier forecasts")
    return pd.DataFrame(values, index=index), notes


def _parse_last(time: dict):
    return pd.Timestamp(time["last"]) if time["kind"] == "datetime" else int(time["last"])


def load_recent(csv: str | os.PathLike, model: Model) -> Table:
    """The newer CSV for ``predict --csv``: the model's time column and series, validated."""
    time_column = model.metadata["time"].get("column")
    return load_csv(csv, date_col=time_column, targets=tuple(model.series))
