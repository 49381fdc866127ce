"""The model card: everything model.json means, as one typed, frozen record: its schema, not its file.

A fit builds the card (:meth:`Card.from_fit`); :meth:`Card.to_json` gives
model.json's fields, and :meth:`Card.from_json` checks every field's type,
range and meaning before anything uses it. A bad field is one
:class:`BadInput` (exit 2) naming the file and the field's path, as in
``models/x/model.json: time.frequency: 'XYZ' is not a frequency pandas knows``.
Adding a field is a change to this file alone. The file itself (where it is,
its format version, the bounds it is read within, the weights beside it) is
:mod:`forecaster.model.directory`'s.
"""

from __future__ import annotations

import datetime
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import TYPE_CHECKING, Any, SupportsInt, Union

import numpy as np
import pandas as pd

from forecaster import __version__
from forecaster.data import calendar
from forecaster.data.calendar import CYCLES
from forecaster.data.seasons import natural_season, sparse_axis, steps_between
from forecaster.data.table import INTEGER_TIME_DIGITS, future_times, time_text
from forecaster.errors import BadInput
from forecaster.model import jsonread
from forecaster.model.blend import Baseline, Blend
from forecaster.model.covariates import CovariateSpec, Static
from forecaster.model.ets import Ets
from forecaster.model.ets import implausible as ets_implausible
from forecaster.model.intervals import check_quantiles
from forecaster.model.jsonread import At
from forecaster.model.preparation import Preparation
from forecaster.model.scaling import FLOAT32_MAX, MAX_SCALED
from forecaster.model.theta import Theta, implausible
from forecaster.options import OPTION_TYPES, FitOptions

if TYPE_CHECKING:
    from forecaster.data.table import Table
    from forecaster.model.fit_result import Fitted
    from forecaster.nn.registry import RegisteredCell

#: fit options that say where a fit runs and on how many cores, or how long it may take, not what it is asked to learn:
#: not recorded, and a change of them is no reason to refit (the members are the same whatever --threads says)
RUN_OPTIONS = ("accelerator", "devices", "strategy", "num_nodes", "threads", "time_limit")
#: fit options added since model.json's format 5 began: a model written before them has none, and had their default
LATER_OPTIONS = ("freq",)
TIME_KINDS = ("datetime", "integer", "row")
ID_TYPES = ("text", "integer")
#: the longest cell name, distribution or version read: packaging's names and versions are far shorter
MAX_CELL_WORD = 200
READINGS_ON = ("validation", "training")
#: the cell's words that packaging gives a form to, and the form: a distribution's name (PEP 508), a version (PEP 440)
CELL_WORDS = {
    "distribution": (re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?"), "a distribution's name (PEP 508)"),
    "version": (
        re.compile(
            r"v?(\d+!)?\d+(\.\d+)*([-_.]?(a|b|c|rc|alpha|beta|pre|preview)\d*)?([-_.]?(post|rev|r)\d*)?"
            r"([-_.]?dev\d*)?(\+[a-z0-9]+([-_.][a-z0-9]+)*)?",
            re.IGNORECASE,
        ),
        "a version (PEP 440)",
    ),
}
#: a time on a datetime axis as a fit writes it: ISO 8601, from the date on
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}([T ][0-9:.]+)?(Z|[+-]\d{2}:?\d{2})?")
#: a time on an integer axis (a numeric time column, or row numbers) as text
INTEGER_TIME = re.compile(rf"-?\d{{1,{INTEGER_TIME_DIGITS}}}")
#: the smallest normal float32: a scaled value below it reads as 0 in the network
FLOAT32_TINY = float(np.finfo(np.float32).tiny)

Time = pd.Timestamp | int  #: a time on the model's axis: a timestamp, or an integer step


@dataclass(frozen=True)
class CellSource:
    """The cell the weights were trained with, and the distribution and version that provided it."""

    name: str
    distribution: str
    version: str


@dataclass(frozen=True)
class Hyperparameters:
    """The options as the network was trained with them, every open one decided, and what follows from them."""

    window: int
    horizon: int
    season: int
    hidden_size: int
    members: int
    epochs: int
    lr: float
    batch_size: int
    seed: int
    scaler: str
    patience: int
    gradient_clip: float
    fill: str
    input_size: int  #: features per step the cell reads (forecaster.nn.network.input_size)
    min_observed: int  #: a series with fewer values is forecast by its last value


@dataclass(frozen=True)
class Selection:
    """How the series were picked from the file, as asked for."""

    targets: tuple[str, ...]
    date_col: str | None
    id_col: str | None
    value_col: str | None


@dataclass(frozen=True)
class Layout:
    """A long file's series and value columns: the forecast is written long too."""

    id_col: str
    value_col: str
    #: the ids as the data gave them (one of ID_TYPES): a DataFrame's integers come back as integers in Python
    id_type: str = "text"


@dataclass(frozen=True)
class TimeAxis:
    column: str | None  #: None when the file had no time column: row order was time
    kind: str  #: one of TIME_KINDS
    frequency: str | None  #: a pandas offset alias, or the integer step as text; None: one row, no step
    last: Time  #: the file's last time
    origin: Time  #: its first: position 0 of every season

    def to_json(self) -> dict:
        return {
            "column": self.column,
            "kind": self.kind,
            "frequency": self.frequency,
            "last": time_text(self.last),
            "origin": time_text(self.origin),
        }


@dataclass(frozen=True)
class Fallback:
    naive: tuple[str, ...]  #: series too short for the network, forecast by their last value
    #: series forecast by the baseline (seasonal naive, or naive without a season), which did better on their held-out
    #: windows: the model's and the baseline's mean errors there, in units of each window's level
    baseline: Mapping[str, tuple[float, float]]


@dataclass(frozen=True)
class Intervals:
    """Conformal interval widths (forecaster.model.intervals): per horizon step, a half-width per whole-percent
    level."""

    windows: int  #: calibrated on this many errors a horizon step (the fewest of any step)
    on: str  #: "validation", or "training" when too few windows could be held out
    quantiles: tuple[tuple[float | None, ...], ...]


@dataclass(frozen=True)
class Training:
    source: str  #: the CSV fitted, as named to fit
    rows: int
    series_rows: Mapping[str, int]  #: values per series: batch's allow_shrink guard
    epochs_run: int
    best_epoch: int
    stopped_early: bool
    processes: int  #: that trained together: more than 1 under DDP
    train_windows: int
    validation_windows: int
    final_epochs: int  #: of the final fit on every window; 0: the network is the one validation chose
    source_sha256: str | None  #: the input's content hash, for batch's refit = "if-data-changed"; None if unreadable


@dataclass(frozen=True)
class Scores:
    """Errors in the data's units (sMAPE in percent); None where an error is beyond float64's range (values near
    1e308 forecast with the wrong sign), which no number can say."""

    mae: float | None
    rmse: float | None
    smape: float | None

    @classmethod
    def of(cls, scores: Mapping[str, float]) -> Scores:
        """A fit's scores (forecaster.training.metrics.errors), an infinite one as None."""
        return cls(**{name: score if math.isfinite(score) else None for name, score in scores.items()})


@dataclass(frozen=True)
class Comparison:
    model: Scores
    naive: Scores
    seasonal_naive: Scores | None  #: None in a model.json written before it was kept


@dataclass(frozen=True)
class Metrics:
    """The model's errors, the naive forecast's and the seasonal naive forecast's on the validation windows (or
    training windows when none), overall and per series."""

    model: Scores
    naive: Scores
    seasonal_naive: Scores | None  #: None in a model.json written before it was kept
    windows: int
    series: Mapping[str, Comparison]


@dataclass(frozen=True)
class Card:
    """Everything model.json holds; the fields in its order. Mappings are keyed by series name, in the series' order."""

    forecaster_version: str
    created: datetime.datetime
    cell: CellSource
    hyperparameters: Hyperparameters
    #: as asked for, open ones None: batch refits when a job asks for others; device options not recorded
    requested: FitOptions
    chosen: tuple[str, ...]  #: what was decided for the open options, and why
    selection: Selection
    series: tuple[str, ...]
    layout: Layout | None
    time: TimeAxis
    ends: Mapping[str, Time]  #: each series' last time: in a long file a series may end before the others
    preparations: Mapping[str, Preparation]
    fallback: Fallback
    history: Mapping[str, tuple[float, ...]]  #: each series' last values, at most a window or a season of them
    intervals: Intervals
    blend: Blend  #: Theta's share of each forecast, and its state at each series' end
    covariates: CovariateSpec  #: what the network reads beside the series: each covariate, its kind and scaling
    training: Training
    metrics: Metrics

    @classmethod
    def from_fit(
        cls, table: Table, requested: FitOptions, cell: RegisteredCell, fitted: Fitted, source_sha256: str | None
    ) -> Card:
        """The card of a model just fitted on ``table`` as ``requested``."""
        from forecaster.model.fit_result import MIN_OBSERVED
        from forecaster.nn.network import input_size

        options, outcome, values = fitted.options, fitted.outcome, table.values
        assert options.season is not None and options.window is not None  # a fit decides them
        names = tuple(table.columns)
        decided = {
            field.name: getattr(options, field.name)
            for field in fields(Hyperparameters)
            if hasattr(options, field.name)
        }
        metrics = fitted.metrics
        kept = max(options.window, options.season)  # a window for the network, a season for seasonal naive
        return cls(
            forecaster_version=__version__,
            created=datetime.datetime.now(datetime.UTC).replace(microsecond=0),
            cell=CellSource(cell.name, cell.distribution, cell.version),
            hyperparameters=Hyperparameters(
                **decided, input_size=input_size(options.season, fitted.covariates.counts), min_observed=MIN_OBSERVED
            ),
            requested=requested,
            chosen=tuple(fitted.chosen),
            selection=Selection(tuple(requested.targets), requested.date_col, requested.id_col, requested.value_col),
            series=names,
            layout=Layout(table.id_col, table.value_col, table.id_type) if table.id_col and table.value_col else None,
            time=TimeAxis(
                table.time_column, table.time_kind, table.frequency, _time(values.index[-1]), _time(values.index[0])
            ),
            ends={name: _time(end) for name, end in table.ends.items()},
            preparations=dict(zip(names, fitted.preparations, strict=True)),
            fallback=Fallback(tuple(fitted.fallback), baseline_of(names, fitted.baseline)),
            history={name: tuple(values[name].dropna().to_numpy()[-kept:].tolist()) for name in names},
            intervals=Intervals(
                fitted.calibration["windows"],
                fitted.calibration["on"],
                tuple(tuple(row) for row in fitted.calibration["quantiles"]),
            ),
            blend=fitted.blend,
            covariates=fitted.covariates,
            training=Training(
                table.path,
                len(values),
                {str(name): int(count) for name, count in values.notna().sum().items()},
                outcome.epochs_run,
                outcome.best_epoch,
                outcome.stopped_early,
                outcome.processes,
                fitted.train_windows,
                fitted.validation_windows,
                fitted.final_epochs,
                source_sha256,
            ),
            metrics=Metrics(
                Scores.of(metrics["model"]),
                Scores.of(metrics["naive"]),
                Scores.of(metrics["seasonal_naive"]),
                metrics["windows"],
                {
                    name: Comparison(
                        Scores.of(scores["model"]), Scores.of(scores["naive"]), Scores.of(scores["seasonal_naive"])
                    )
                    for name, scores in metrics["series"].items()
                },
            ),
        )

    def to_json(self) -> dict:
        """model.json's fields as plain JSON values (forecaster.model.directory.save adds format_version)."""
        plain: dict[str, Any] = {field.name: _plain(getattr(self, field.name)) for field in fields(self)}
        plain["requested"] = {name: value for name, value in plain["requested"].items() if name not in RUN_OPTIONS}
        plain["time"] = self.time.to_json()
        plain["ends"] = {name: time_text(end) for name, end in self.ends.items()}
        theta, smoothing = self.blend.theta, self.blend.ets
        assert theta is not None  # a fit keeps the states
        plain["blend"] = {
            "theta_weight": self.blend.weight,
            "theta": {name: list(theta.row(k)) for k, name in enumerate(self.series)},
        }
        if smoothing is not None:  # none in a model written before exponential smoothing
            plain["blend"]["ets_weight"] = self.blend.ets_weight
            plain["blend"]["ets"] = {name: list(smoothing.row(k)) for k, name in enumerate(self.series)}
        return plain

    @classmethod
    def from_json(cls, data: object, where: str) -> Card:
        """Check every field of ``data`` (model.json without its format_version); ``where`` names the file in errors."""
        from forecaster.nn.network import input_size

        at = At(where)
        card = jsonread.fields_of(data, at, cls)
        hyper = _hyperparameters(card["hyperparameters"], at / "hyperparameters")
        series = jsonread.names(card["series"], at / "series", unique=True, empty=False)
        time = _time_axis(card["time"], at / "time")
        ends = jsonread.per_series(
            card["ends"], at / "ends", series, lambda value, where: _time_at(value, where, time.kind)
        )
        for name, end in ends.items():
            _in_order(end, time, at / "ends" / name)
        history = jsonread.per_series(
            card["history"],
            at / "history",
            series,
            lambda value, where: jsonread.numbers(value, where, 1, max(hyper.window, hyper.season)),
        )
        intervals = _intervals(card["intervals"], at / "intervals", hyper.horizon)
        covariates = _covariates(card["covariates"], at / "covariates", series, max(hyper.window, hyper.season))
        expected = input_size(hyper.season, covariates.counts)
        if hyper.input_size != expected:
            (at / "hyperparameters" / "input_size").fail(
                f"{hyper.input_size} is not the {expected} features a season of {hyper.season} and these covariates "
                "give"
            )
        preparations = jsonread.per_series(
            card["preparations"],
            at / "preparations",
            series,
            lambda value, where: Preparation.from_json(value, hyper.season, hyper.scaler, where),
        )
        training = _training(card["training"], at / "training", series)
        # a fit refuses a season its longest series does not show once; the frequency's own may be longer still
        allowed = max(*training.series_rows.values(), natural_season(time.kind, time.frequency))
        jsonread.integer(hyper.season, at / "hyperparameters" / "season", 1, allowed)
        windows = max(1, sum(max(rows - hyper.horizon, 0) for rows in training.series_rows.values()))
        jsonread.integer(hyper.batch_size, at / "hyperparameters" / "batch_size", 1, windows)
        sparse = sparse_axis(time.kind, time.frequency, time.origin, time.last, training.rows)
        if sparse:
            (at / "time" / "frequency").fail(f"{jsonread.shown(time.frequency)} does not fit the time axis: {sparse}")
        _check_history_lengths(history, training.series_rows, max(hyper.window, hyper.season), at / "history")
        recent = _prepared_history(preparations, history, time, ends, at / "preparations")
        return cls(
            forecaster_version=jsonread.text(card["forecaster_version"], at / "forecaster_version"),
            created=_created(card["created"], at / "created"),
            cell=CellSource(
                **{
                    key: _cell_word(value, at / "cell" / key)
                    for key, value in jsonread.fields_of(card["cell"], at / "cell", CellSource).items()
                }
            ),
            hyperparameters=hyper,
            requested=_requested(card["requested"], at / "requested"),
            chosen=jsonread.names(card["chosen"], at / "chosen"),
            selection=_selection(card["selection"], at / "selection"),
            series=series,
            layout=_layout(card["layout"], at / "layout"),
            time=time,
            ends=ends,
            preparations=preparations,
            fallback=_fallback(card["fallback"], at / "fallback", series),
            history=history,
            intervals=intervals,
            blend=_blend(card["blend"], at / "blend", series, recent, training.series_rows),
            covariates=covariates,
            training=training,
            metrics=_metrics(card["metrics"], at / "metrics", series),
        )


def _check_history_lengths(
    history: Mapping[str, tuple[float, ...]], series_rows: Mapping[str, int], kept: int, at: At
) -> None:
    """Each series' history is its last values, as many as a window or a season holds, or all it has when fewer."""
    for name, values in history.items():
        if len(values) != min(kept, series_rows[name]):
            (at / name).fail(
                f"holds {len(values)} values, and a fit keeps the last {min(kept, series_rows[name])} of a series of "
                f"{series_rows[name]} (training.series_rows) with window and season at most {kept}"
            )


def _prepared_history(
    preparations: Mapping[str, Preparation],
    history: Mapping[str, tuple[float, ...]],
    time: TimeAxis,
    ends: Mapping[str, Time],
    at: At,
) -> dict[str, np.ndarray]:
    """Each series' recent values as the network reads them (deseasonalised, scaled), once its preparation is shown to
    be one a fit could have written: one that puts them within MAX_SCALED, as a fit refuses any other, and does not
    shrink them to nothing in the network's float32. (Data near 1e300 has scales near 1e300: a large scale alone is no
    sign of a hostile card.)"""
    names = list(history)
    ends_at = steps_between(time.kind, time.frequency, time.origin, [ends[name] for name in names])
    prepared = {}
    for k, name in enumerate(names):
        values, preparation = np.asarray(history[name]), preparations[name]
        scaler, where = preparation.scaler, at / name
        with np.errstate(all="ignore"):
            prepared[name] = preparation.to_network(values, ends_at[k] - np.arange(len(values) - 1, -1, -1))
            # a scale of 1 is scikit-learn's for a spread of (nearly) nothing, whatever the values: a fit writes it
            vanishing = scaler.scale != 1 and 0 < np.abs(values).max() / scaler.scale < FLOAT32_TINY
        if not np.all(np.abs(prepared[name]) <= MAX_SCALED):
            where.fail(
                f"scaler (center {scaler.center:g}, scale {scaler.scale:g}) and season put this series' recent values "
                f"beyond {MAX_SCALED:g} once prepared, which no fit trains on"
            )
        if vanishing:
            (where / "scaler" / "scale").fail(
                f"{scaler.scale:g} is beyond what values of this series' size give: its recent values, at most "
                f"{np.abs(values).max():g}, would read as 0 in the network's float32 once scaled"
            )
    return prepared


def _cell_word(value: object, at: At) -> str:
    """A cell's name, distribution or version: a word of at most MAX_CELL_WORD characters, as packaging names them:
    a distribution's name as PEP 508 allows, a version as PEP 440 writes one."""
    text = jsonread.text(value, at, empty=False)
    if len(text) > MAX_CELL_WORD:
        at.fail(f"{jsonread.shown(text)} is longer than {MAX_CELL_WORD} characters")
    form = CELL_WORDS.get(str(at.key))
    if form is not None and not form[0].fullmatch(text):
        at.fail(f"{jsonread.shown(text)} is not {form[1]}")
    return text


def _plain(value: object) -> object:
    """A record's value as JSON has it: records as objects, tuples as lists."""
    if isinstance(value, Preparation):
        return value.to_json()
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return {field.name: _plain(getattr(value, field.name)) for field in fields(value)}
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return value


def _time(value: pd.Timestamp | SupportsInt) -> Time:
    """A row's time on the model's axis: numpy's integers as Python's."""
    return value if isinstance(value, pd.Timestamp) else int(value)


def _created(value: object, at: At) -> datetime.datetime:
    try:
        return datetime.datetime.fromisoformat(jsonread.text(value, at))
    except ValueError:
        at.fail(f"{jsonread.shown(value)} is not an ISO 8601 time")


def _options(values: dict[str, Any], at: At, **others: Any) -> FitOptions:  # values checked by _option
    """``values`` as fit options, each range checked by :meth:`FitOptions.check`, whose messages name the fields
    here."""
    options = FitOptions(**values, **others)
    try:
        options.check()
    except BadInput as exc:
        raise BadInput(
            f"{at.file}: "
            + re.sub(r"--([a-z][a-z-]*)", lambda option: f"{at.path}.{option[1].replace('-', '_')}", str(exc))
        ) from None
    return options


def _option(value: object, at: At, kind: Any) -> Any:  # kind: a type hint; the value is checked to be of it
    """``value`` of a fit option whose type hint is ``kind``: bool, int, float, str, tuple[str, ...], or one of them
    or None."""
    if typing.get_origin(kind) in (Union, types.UnionType):
        inner = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        return None if value is None else _option(value, at, inner[0])
    if typing.get_origin(kind) is tuple:
        return jsonread.names(value, at)
    readers: dict[type, Callable[[object, At], object]] = {
        int: jsonread.integer,
        float: jsonread.number,
        str: jsonread.text,
        bool: jsonread.flag,
    }
    return readers[kind](value, at)


def _hyperparameters(value: object, at: At) -> Hyperparameters:
    found = jsonread.fields_of(value, at, Hyperparameters)
    kinds = typing.get_type_hints(Hyperparameters)
    read = {name: _option(found[name], at / name, kinds[name]) for name in kinds}
    _options({name: read[name] for name in read if name in OPTION_TYPES}, at)
    jsonread.integer(read["min_observed"], at / "min_observed", low=1, high=read["window"])
    return Hyperparameters(**read)


def _requested(value: object, at: At) -> FitOptions:
    recorded = {name: kind for name, kind in OPTION_TYPES.items() if name not in RUN_OPTIONS}
    if not isinstance(value, dict):
        at.fail(f"must be an object of fit options, not {jsonread.shown(value)}")
    missing = [name for name in recorded if name not in value and name not in LATER_OPTIONS]
    unknown = [name for name in value if name not in recorded]
    if missing or unknown:
        (at / (missing or unknown)[0]).fail("missing" if missing else "not a fit option")
    given = {name: kind for name, kind in recorded.items() if name in value}
    return _options({name: _option(value[name], at / name, kind) for name, kind in given.items()}, at)


def _selection(value: object, at: At) -> Selection:
    found = jsonread.fields_of(value, at, Selection)
    return Selection(
        jsonread.names(found["targets"], at / "targets"),
        *(jsonread.optional(jsonread.text)(found[name], at / name) for name in ("date_col", "id_col", "value_col")),
    )


def _layout(value: object, at: At) -> Layout | None:
    """A long file's layout; its ``id_type`` came after format 5 began: a model written before it had text ids."""
    if value is None:
        return None
    found = {
        key: jsonread.text(given, at / key)
        for key, given in jsonread.fields_of(value, at, Layout, later=("id_type",)).items()
    }
    if found.get("id_type", "text") not in ID_TYPES:
        (at / "id_type").fail(f"{jsonread.shown(found['id_type'])} is not one of {', '.join(ID_TYPES)}")
    return Layout(**found)


def _time_axis(value: object, at: At) -> TimeAxis:
    found = jsonread.fields_of(value, at, TimeAxis)
    kind = jsonread.text(found["kind"], at / "kind", TIME_KINDS)
    column = jsonread.optional(jsonread.text)(found["column"], at / "column")
    if (column is None) != (kind == "row"):
        (at / "column").fail(
            f"{column!r} does not go with time.kind {kind!r}: only rows numbered by their order have no time column"
        )
    frequency = jsonread.text(
        found["frequency"], at / "frequency"
    )  # a fit needs several rows: never a single timestamp's None
    if kind == "datetime":
        try:
            offset = pd.tseries.frequencies.to_offset(frequency)
        except (ValueError, TypeError):
            offset = None
        if offset is None or offset.n < 1:
            (at / "frequency").fail(f"{jsonread.shown(frequency)} is not a frequency pandas knows")
    elif not (INTEGER_TIME.fullmatch(frequency) and int(frequency) >= 1):
        (at / "frequency").fail(
            f"{jsonread.shown(frequency)} is not the step of an integer time axis (a whole number, at least 1)"
        )
    last, origin = (_time_at(found[name], at / name, kind) for name in ("last", "origin"))
    try:
        future_times(kind, frequency, last, 1)
    except BadInput as exc:
        (at / "frequency").fail(str(exc))
    axis = TimeAxis(column, kind, frequency, last, origin)
    _in_order(origin, axis, at / "origin")
    return axis


def _time_at(value: object, at: At, kind: str) -> Time:
    """A time on an axis of ``kind``, written as a fit writes it: ISO 8601 for dates, digits for integer steps."""
    text = jsonread.text(value, at)
    if kind != "datetime":
        if not INTEGER_TIME.fullmatch(text):
            at.fail(f"{jsonread.shown(text)} is not a time of an integer time axis (time.kind {kind!r})")
        return int(text)
    try:
        time = pd.Timestamp(text) if ISO_TIME.fullmatch(text) else None
    except ValueError:
        time = None
    if time is None:
        at.fail(f"{jsonread.shown(text)} is not an ISO 8601 time (time.kind 'datetime')")
    return time


def _in_order(time: Time, axis: TimeAxis, at: At) -> None:
    """``time`` on the model's time axis: from its origin to its last time."""
    try:
        ordered = axis.origin <= time <= axis.last  # type: ignore[operator]  # mixed kinds: the TypeError below
    except TypeError:  # times with and without a UTC offset
        at.fail(f"{time_text(time)} and the model's other times do not compare: give every time a UTC offset, or none")
    if not ordered:
        at.fail(
            f"{time_text(time)} is not on the model's time axis, from time.origin {time_text(axis.origin)} to "
            f"time.last {time_text(axis.last)}"
        )


def _intervals(value: object, at: At, horizon: int) -> Intervals:
    found = jsonread.fields_of(value, at, Intervals)
    quantiles = found["quantiles"]
    check_quantiles(quantiles, at.file)
    if len(quantiles) != horizon:
        (at / "quantiles").fail(f"holds {len(quantiles)} rows, one per horizon step, and the horizon is {horizon}")
    return Intervals(
        jsonread.integer(found["windows"], at / "windows", low=1),
        jsonread.text(found["on"], at / "on", READINGS_ON),
        tuple(tuple(None if width is None else float(width) for width in row) for row in quantiles),
    )


def _fallback(value: object, at: At, series: tuple[str, ...]) -> Fallback:
    found = jsonread.fields_of(value, at, Fallback)

    def errors(pair: object, where: At) -> tuple[float, float]:
        model, baseline = jsonread.numbers(pair, where, 2, 2)
        if min(model, baseline) < 0:
            where.fail(f"{[model, baseline]} are not errors: errors are not negative")
        return model, baseline

    return Fallback(
        jsonread.names(found["naive"], at / "naive", unique=True, within=series),
        jsonread.per_series(found["baseline"], at / "baseline", series, errors, every=False),
    )


def baseline_of(names: tuple[str, ...], baseline: Baseline) -> dict[str, tuple[float, float]]:
    """The series a fit forecasts by the baseline, with the held-out errors that decided it."""
    return {
        name: (float(baseline.model_error[k]), float(baseline.baseline_error[k]))
        for k, name in enumerate(names)
        if baseline.chosen[k]
    }


def _blend(
    value: object, at: At, series: tuple[str, ...], recent: Mapping[str, np.ndarray], series_rows: Mapping[str, int]
) -> Blend:
    """Theta's weight and exponential smoothing's, each from 0 to 1 and together at most 1; per series Theta's level,
    drift, smoothing parameter (above 0, at most 1) and count of values smoothed (at least 1), each one a fit
    smoothing this series could have written (:func:`forecaster.model.theta.implausible`), and exponential
    smoothing's level, trend and parameters (:func:`forecaster.model.ets.implausible`): ``recent`` its prepared
    history, ``series_rows`` its values. A model written before exponential smoothing has neither of its fields:
    its weight is 0."""
    found = jsonread.fields_of(value, at, BlendFields, later=("ets_weight", "ets"))
    weight = jsonread.number(found["theta_weight"], at / "theta_weight")
    if not 0 <= weight <= 1:
        (at / "theta_weight").fail(f"{weight} is out of range: from 0 to 1")
    ets_weight = jsonread.number(found.get("ets_weight", 0.0), at / "ets_weight")
    if not 0 <= ets_weight <= 1 - weight + 1e-9:
        (at / "ets_weight").fail(f"{ets_weight} is out of range: from 0 to {1 - weight:g}, one less Theta's weight")

    def state(row: object, where: At) -> tuple[float, float, float, int]:
        level, drift, alpha, count = jsonread.numbers(row, where, 4, 4)
        if not 0 < alpha <= 1:
            (where / 2).fail(f"{alpha} is out of range: a smoothing parameter above 0 and at most 1")
        if count != int(count) or count < 1:
            (where / 3).fail(f"{count} is not a count of values (an integer, at least 1)")
        name = str(where.key)
        problem = implausible((level, drift, alpha, int(count)), recent[name], series_rows[name])
        if problem:
            (where / problem[0]).fail(problem[1])
        return level, drift, alpha, int(count)

    def smoothing(row: object, where: At) -> tuple[float, float, float, float, float]:
        numbers = jsonread.numbers(row, where, 5, 5)
        problem = ets_implausible(numbers, recent[str(where.key)])
        if problem:
            (where / problem[0]).fail(problem[1])
        return numbers  # type: ignore[return-value]  # five, as asked

    states = jsonread.per_series(found["theta"], at / "theta", series, state)
    if "ets" not in found:
        if ets_weight:
            (at / "ets").fail(f"missing: exponential smoothing's weight is {ets_weight:g}, and it has no states")
        return Blend(weight, Theta.of_rows([states[name] for name in series]))
    smoothed = jsonread.per_series(found["ets"], at / "ets", series, smoothing)
    return Blend(
        weight,
        Theta.of_rows([states[name] for name in series]),
        ets_weight,
        Ets.of_rows([smoothed[name] for name in series]),
    )


def _covariates(value: object, at: At, series: tuple[str, ...], kept: int) -> CovariateSpec:
    """Each covariate's scaling (a mean and a positive deviation a series), static columns' categories or scale and
    values, the calendar's cycles and holidays, and the time-varying columns' recent values."""
    found = jsonread.fields_of(value, at, CovariateSpec)

    def scale(pair: object, where: At) -> tuple[float, float]:
        mean, deviation = jsonread.numbers(pair, where, 2, 2)
        if deviation <= 0:
            (where / 1).fail(f"{deviation} is not a standard deviation: above 0")
        return mean, deviation

    def columns(kind: str) -> dict:
        part = found[kind]
        if not isinstance(part, dict):
            (at / kind).fail(f"must be an object keyed by column, not {jsonread.shown(part)}")
        return {
            column: jsonread.per_series(scales, at / kind / column, series, scale) for column, scales in part.items()
        }

    def static(column_value: object, where: At) -> Static:
        fields_found = jsonread.fields_of(column_value, where, Static)
        categories = fields_found["categories"]
        if categories is not None:
            categories = jsonread.names(categories, where / "categories", unique=True, empty=False)

        def one(item: object, place: At) -> float | str:
            if categories is None:
                return jsonread.number(item, place)
            return jsonread.text(item, place)

        return Static(
            categories,
            scale(fields_found["scale"], where / "scale"),
            jsonread.per_series(fields_found["values"], where / "values", series, one),
        )

    statics = found["static"]
    if not isinstance(statics, dict):
        (at / "static").fail(f"must be an object keyed by column, not {jsonread.shown(statics)}")
    past, future = columns("past"), columns("future")
    both = sorted(set(past) & set(future))
    if both:
        (at / "future" / both[0]).fail("is a past column too: a column is of one kind")
    holidays = jsonread.optional(jsonread.text)(found["holidays"], at / "holidays")
    if holidays is not None:
        try:
            calendar.check(holidays)
        except BadInput as exc:
            (at / "holidays").fail(str(exc).removeprefix(f"--holidays {holidays}: "))
    history = found["history"]
    if not isinstance(history, dict):
        (at / "history").fail(f"must be an object keyed by column, not {jsonread.shown(history)}")
    for column in (*past, *future):
        if column not in history:
            (at / "history" / column).fail("missing: the recent values of every past and future column are kept")
    for column in history:
        if column not in past and column not in future:
            (at / "history" / column).fail("is neither a past nor a future column")
    recent = {
        column: jsonread.per_series(
            values, at / "history" / column, series, lambda item, where: jsonread.numbers(item, where, 1, kept)
        )
        for column, values in history.items()
    }
    for kind, part in (("past", past), ("future", future)):
        for column, scales in part.items():
            for name, scaling in scales.items():
                _check_scaling(recent[column][name], scaling, at / kind / column / name, "its recent values")
    static_columns = {column: static(item, at / "static" / column) for column, item in statics.items()}
    for column, spec in static_columns.items():
        if spec.categories is None:
            for name, number in spec.values.items():
                _check_scaling((float(number),), spec.scale, at / "static" / column / "scale", f"series {name!r}")
    return CovariateSpec(
        past,
        future,
        static_columns,
        tuple(
            jsonread.list_of(
                found["calendar"], at / "calendar", lambda cycle, where: jsonread.text(cycle, where, CYCLES), 0, 3
            )
        ),
        holidays,
        recent,
    )


def _check_scaling(values: tuple[float, ...], scaling: tuple[float, float], at: At, whose: str) -> None:
    """A covariate's mean and deviation are a fit's when the values it was fitted beside stay within float32's range
    once scaled, as the network reads them: a deviation far below the values' spread is no standard deviation of
    them."""
    mean, deviation = scaling
    with np.errstate(all="ignore"):
        largest = float(np.max(np.abs((np.asarray(values) - mean) / deviation)))
    if not largest <= FLOAT32_MAX:
        (at / 1).fail(
            f"{deviation!r} is not a standard deviation a fit gives: {whose}, scaled by it, pass float32's largest "
            f"value ({FLOAT32_MAX:.4g}), which the network reads them in"
        )


@dataclass(frozen=True)
class BlendFields:
    """model.json's ``blend`` object, as :func:`_blend` reads it."""

    theta_weight: float
    theta: Mapping[str, tuple[float, float, float, int]]
    ets_weight: float
    ets: Mapping[str, tuple[float, float, float, float, float]]


def _training(value: object, at: At, series: tuple[str, ...]) -> Training:
    found = jsonread.fields_of(value, at, Training)
    rows = jsonread.integer(found["rows"], at / "rows", low=1)
    epochs_run = jsonread.integer(found["epochs_run"], at / "epochs_run", low=0)
    digest = jsonread.optional(jsonread.text)(found["source_sha256"], at / "source_sha256")
    if digest is not None and not re.fullmatch(r"[0-9a-f]{64}", digest):
        (at / "source_sha256").fail(f"{jsonread.shown(digest)} is not a SHA-256 digest (64 hexadecimal digits)")
    return Training(
        source=jsonread.text(found["source"], at / "source"),
        rows=rows,
        series_rows=jsonread.per_series(
            found["series_rows"],
            at / "series_rows",
            series,
            lambda count, where: jsonread.integer(count, where, 1, rows),
        ),
        epochs_run=epochs_run,
        best_epoch=jsonread.integer(found["best_epoch"], at / "best_epoch", 0, epochs_run),
        stopped_early=jsonread.flag(found["stopped_early"], at / "stopped_early"),
        processes=jsonread.integer(found["processes"], at / "processes", low=1),
        train_windows=jsonread.integer(found["train_windows"], at / "train_windows", low=1),
        validation_windows=jsonread.integer(found["validation_windows"], at / "validation_windows", low=0),
        final_epochs=jsonread.integer(found["final_epochs"], at / "final_epochs", low=0),
        source_sha256=digest,
    )


def _scores(value: object, at: At) -> Scores:
    """Errors: none negative, null where beyond float64's range (:meth:`Scores.of`), never infinite or NaN."""
    found = jsonread.fields_of(value, at, Scores)
    scores = {name: jsonread.optional(jsonread.number)(found[name], at / name) for name in found}
    negative = [name for name, score in scores.items() if score is not None and score < 0]
    if negative:
        (at / negative[0]).fail(f"{scores[negative[0]]} is not an error: errors are not negative")
    return Scores(**scores)


def _seasonal_naive(found: dict, at: At) -> Scores | None:
    """The seasonal naive forecast's scores: missing (or null) in a model.json written before they were kept."""
    return jsonread.optional(_scores)(found.get("seasonal_naive"), at / "seasonal_naive")


def _comparison(value: object, at: At) -> Comparison:
    found = jsonread.fields_of(value, at, Comparison, later=("seasonal_naive",))
    return Comparison(
        _scores(found["model"], at / "model"), _scores(found["naive"], at / "naive"), _seasonal_naive(found, at)
    )


def _metrics(value: object, at: At, series: tuple[str, ...]) -> Metrics:
    found = jsonread.fields_of(value, at, Metrics, later=("seasonal_naive",))
    return Metrics(
        _scores(found["model"], at / "model"),
        _scores(found["naive"], at / "naive"),
        _seasonal_naive(found, at),
        jsonread.integer(found["windows"], at / "windows", low=1),
        jsonread.per_series(found["series"], at / "series", series, _comparison, every=False),
    )
