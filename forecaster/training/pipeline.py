"""`forecaster fit` from end to end: CSV -> scaled windows -> trained network -> model directory.

Each stage takes the previous stage's output and knows nothing of the ones
after it; this module is the only place that strings them together.
:func:`train_on` is shared with the backtest, which calls it once per fold on
the rows before that fold's origin.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np
import pandas as pd

from forecaster.data import calendar, header, limits
from forecaster.data.compressed import csv_stem
from forecaster.data.seasons import natural_season, sparse_axis
from forecaster.data.table import Data, Table, load, missing_times, time_label, time_text
from forecaster.errors import BadInput, TrainingFailed, listed
from forecaster.model.blend import Baseline, Blend, baseline_name
from forecaster.model.card import Card, baseline_of
from forecaster.model.covariates import CovariateSpec, fit_spec
from forecaster.model.ets import fit as fit_ets
from forecaster.model.fit_result import MIN_OBSERVED, FitReport, Fitted
from forecaster.model.forecast import run_network
from forecaster.model.intervals import GRID, calibrate, errors_per_step
from forecaster.model.preparation import Preparation, fit_preparations, restore
from forecaster.model.scaling import MAX_SCALED
from forecaster.model.theta import fit as fit_theta
from forecaster.model.trained import Model
from forecaster.nn.registry import RegisteredCell, Registry
from forecaster.options import COVARIATE_KINDS, FitOptions
from forecaster.runtime import memory, progress
from forecaster.training import blending, members
from forecaster.training.defaults import Chosen, batches_per_epoch, choose
from forecaster.training.metrics import compare
from forecaster.training.settings import TrainSettings
from forecaster.training.windows import Windows, make_windows

#: below this many windows there is no validation split: every window trains
MIN_WINDOWS_FOR_VALIDATION = 20
#: validation windows wanted in all, shared among the series, none overlapping another of its series (a series' next
#: window one row on repeats all but one of its targets: 200 of one half-hourly series, a day ahead, would score only
#: its last five days); each series holds out at most this fraction of its values
VALIDATION_WINDOWS = 200
VALIDATION_FRACTION = 0.2
#: a share of absent timestamps above this is noted; trading days miss about 4% (holidays)
MISSING_ROWS_NOTED = 0.05
#: bytes a network's value takes in training: float32 weights, their gradients and Adam's two moments
TRAINING_VALUE_BYTES = 16
#: float32 values a cell keeps per hidden unit and step for the backward pass (its gates and states), on the high side
ACTIVATIONS_PER_UNIT = 16
#: the bytes a number takes in model.json, a little under the mean of models fitted here (19.3 bytes a line with its
#: indentation, 200 monthly series of one decimal, measured 2026-12-06): a card is estimated as it is, not at its
#: longest (24 characters, 38 bytes), which refused files of half the series a card holds
NUMBER_BYTES = 16
#: what else model.json holds per series besides its numbers and names: the keys of its preparation and its metrics,
#: its end's time (about 130 bytes measured)
SERIES_KEYS_BYTES = 200
#: the fields keyed or listed by a series' name: series, ends, preparations, history, blend.theta, blend.ets,
#: training.series_rows, metrics.series, fallback
NAMED_FIELDS = 9
#: model.json's fields that do not grow with the series (options, choices, notes, the cell, the time axis: 2.2 KB in
#: the 200-series card NUMBER_BYTES was measured on), with room for long notes
CARD_BYTES = 8 * 2**10
#: held-out windows whose covariate features are gathered at once, to be run by the network
FEATURE_CHUNK = 16384
#: a model whose held-out squared error is this many times that of the windows' levels has diverged
DIVERGENCE_FACTOR = 10


def default_model_dir(csv: str | os.PathLike) -> Path:
    return Path("models") / csv_stem(csv)


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


def read_table(data: Data, options: FitOptions, keep_gaps: bool = False) -> Table:
    """A CSV file's path or a DataFrame, read as ``options`` say (time column, targets, layout, gaps); ``keep_gaps``:
    leave the gaps as they are, whatever --fill says."""
    fill = None if keep_gaps else options.fill
    return load(
        data,
        options.date_col,
        options.targets,
        fill=fill,
        id_col=options.id_col,
        value_col=options.value_col,
        covariates=covariate_kinds(options),
        freq=options.freq,
    )


def covariate_kinds(options: FitOptions) -> dict[str, str]:
    """Each covariate column the options name -> its kind."""
    return {column: kind for kind in COVARIATE_KINDS for column in getattr(options, kind)}


def fit(data: Data, options: FitOptions, registry: Registry, distributed: bool = False) -> tuple[Model, FitReport]:
    """Fit a model on ``data`` (a CSV file's path or a DataFrame), in memory: :meth:`Model.save` writes it.

    ``distributed``: this process was started as a command of its own, which
    Lightning's launcher, torchrun or SLURM can start again once per rank, so
    the options may ask for several processes; then every rank but 0 raises
    :class:`OtherRankDone` once training ends. Within a batch job's process
    that re-run would be the whole batch, so batch leaves it False.
    """
    options.check()
    header.check_if_file(data)  # a bad file refused before the workers start
    members.start_workers(members.workers(options))  # its imports run while the data is read
    cell = registry.get(options.cell)
    # before reading: data that changes meanwhile is refitted next time, not missed
    digest = source_sha256(data) if isinstance(data, (str, os.PathLike)) else None
    table = read_table(data, options)
    fitted = train_on(table, options, cell, distributed)
    outcome = fitted.outcome
    report = FitReport(
        model_dir=None,
        cell=cell.name,
        epochs_run=outcome.epochs_run,
        best_epoch=outcome.best_epoch,
        stopped_early=outcome.stopped_early,
        train_windows=fitted.train_windows,
        validation_windows=fitted.validation_windows,
        final_epochs=fitted.final_epochs,
        processes=outcome.processes,
        metrics=fitted.metrics,
        metrics_on="validation" if fitted.validation_windows else "training",
        chosen=list(fitted.chosen),
        fallback=fitted.fallback,
        notes=fitted.notes,
        blend=fitted.blend_choice,
        baseline=baseline_of(tuple(table.columns), fitted.baseline),
        baseline_method=baseline_name(fitted.options.season or 1),
        fallback_evidence=fitted.baseline.evidence() if fitted.options.fallback and fitted.blend_choice else None,
    )
    return Model(Card.from_fit(table, options, cell, fitted, digest), fitted.network, fit_report=report), report


@dataclass
class Prepared:
    """A fit up to its training: the options decided, each series prepared and windowed, what the members train on.

    Everything a fit refuses before it trains is refused in making this (:func:`prepare`): a batch's dry run makes
    it too, and says what the run would say."""

    started: float  #: time.monotonic() when the preparation began: the time limit counts from it
    chosen: Chosen
    options: FitOptions  #: every open option decided
    values: np.ndarray
    lengths: np.ndarray
    training_rows: np.ndarray  #: (rows, series): the rows before each series' held-out ones
    notes: list[str]
    spec: CovariateSpec
    preparations: list[Preparation]  #: fitted on the training rows
    prepared: np.ndarray
    training: Windows
    validation: Windows | None
    #: the windows that forecast a held-out value at some step (None without validation): what calibrates the intervals
    calibrating: Windows | None
    holdout: Holdout
    final_preparations: list[Preparation]  #: fitted on every row, for the final fit
    final_prepared: np.ndarray
    plan: members.Plan


def prepare(
    table: Table, options: FitOptions, cell: RegisteredCell, distributed: bool = False, read: np.ndarray | None = None
) -> Prepared:
    """Decide the open options, prepare and window every series, split off the held-out windows and plan the members'
    training; seasons and scalers see each series' training rows only (and every row for the final fit).

    ``read``: values (rows, series) that forecasts of this fit will read beyond the table's, as a backtest fold's
    later origins do: a series is read as ratios to its level only where these are positive too, as its held-out
    values must be, so that no forecast it is asked for finds a level of 0 or less."""
    started = time.monotonic()
    values = table.values.to_numpy()
    lengths = np.sum(~np.isnan(values), axis=0)
    chosen = _choose(table, options)
    options = chosen.options
    holdout = split(values, options.horizon)
    notes = list(table.notes)
    sparse = sparse_axis(table.time_kind, table.frequency, table.values.index[0], table.values.index[-1], len(values))
    if sparse:
        raise BadInput(f"{table.path}: {sparse}; give the rows of every step, or times of a coarser frequency")
    positions = table.positions()  # after sparse_axis, which refuses in words an axis of more steps than 64 bits count
    if lengths.max() < MIN_OBSERVED + options.horizon:  # before the card's size, which a long horizon inflates
        _refuse_too_few_rows(table, lengths, options.horizon)
    _refuse_too_wide(table, options, chosen)
    missing, expected, first = missing_times(table)
    if missing > MISSING_ROWS_NOTED * expected:
        notes.append(
            f"{missing} of the {expected} timestamps a {table.frequency} frequency implies have no row (the first "
            f"{time_label(first)}): "
            f"windows span those gaps; add the rows, blank, and choose a --fill policy"
        )
    training_rows = np.arange(len(values))[:, None] < holdout.cut[None, :]
    with np.errstate(invalid="ignore"):
        positive = np.all((values > 0) | np.isnan(values), axis=0) & (lengths > 0)
        if read is not None:
            positive &= np.all((read > 0) | np.isnan(read), axis=0)
    wheres = [f"{table.path}: column {column!r}" for column in table.columns]
    spec, extra = _covariates(table, options, training_rows, chosen.season, max(chosen.window, chosen.season))
    if extra is not None:
        notes.append(f"covariates: {spec.describe()}")

    def prepared_on(rows: np.ndarray, past_end: int = 0) -> tuple[list[Preparation], np.ndarray, Windows]:
        """Preparations fitted on ``rows`` (a mask like ``values``), every value prepared by them, and its windows
        (with those reaching ``past_end`` steps past a series' end: see make_windows)."""
        fitted = fit_preparations(
            options.scaler, np.where(rows, values, np.nan), positive, positions, chosen.season, wheres
        )
        prepared = np.column_stack([p.to_network(values[:, k], positions) for k, p in enumerate(fitted)])
        _refuse_untrainable(prepared, table, options.scaler)
        ratio = [p.ratio for p in fitted]
        return (
            fitted,
            prepared,
            make_windows(prepared, chosen.window, options.horizon, positions, ratio, MIN_OBSERVED, extra, past_end),
        )

    preparations, prepared, reaching = prepared_on(training_rows, options.horizon - 1)
    windows = holdout.complete(reaching)
    if len(windows) == 0:
        _refuse_too_few_rows(table, lengths, options.horizon)
    training, validation = holdout.windows(windows)
    calibrating = holdout.calibrating(reaching) if validation is not None else None
    final_preparations, final_prepared, every = preparations, prepared, windows
    if validation is None:
        notes.append(
            f"only {len(windows)} windows: no validation split, metrics and intervals are from the training windows"
        )
    else:  # the final fit learns from every row: its seasons and scalers see them all
        final_preparations, final_prepared, every = prepared_on(~np.isnan(values))
    notes += _short_series_notes(table.columns, lengths, chosen.window)

    settings = TrainSettings.of(
        options,
        distributed=distributed,
        batches_per_epoch=batches_per_epoch(len(training), chosen.batch_size),
        progress=progress.drawn(),
    )
    _refuse_training_beyond_memory(cell, options, chosen.season, spec.counts)
    plan = members.Plan(
        cell,
        options.hidden_size,
        options.horizon,
        chosen.season,
        options.seed,
        training,
        validation,
        every,
        settings,
        final_batches=batches_per_epoch(len(windows), chosen.batch_size),
        extra=spec.counts,
    )
    return Prepared(
        started,
        chosen,
        options,
        values,
        lengths,
        training_rows,
        notes,
        spec,
        preparations,
        prepared,
        training,
        validation,
        calibrating,
        holdout,
        final_preparations,
        final_prepared,
        plan,
    )


def train_on(
    table: Table, options: FitOptions, cell: RegisteredCell, distributed: bool = False, read: np.ndarray | None = None
) -> Fitted:
    """Prepare (:func:`prepare`, which ``read`` is for) and train on ``table``; then score the held-out windows, choose
    the partners' weights and the series that fall back, and calibrate the intervals.

    ``options`` may leave the window, season and batch size open: they are
    chosen here from the data (:mod:`forecaster.training.defaults`). ``distributed`` as
    for :func:`fit`: backtests train one process per fold.
    """
    ready = prepare(table, options, cell, distributed, read)
    started, chosen, options, plan = ready.started, ready.chosen, ready.options, ready.plan
    values, lengths, notes, spec = ready.values, ready.lengths, ready.notes, ready.spec
    preparations, prepared, training, validation = ready.preparations, ready.prepared, ready.training, ready.validation
    final_preparations, final_prepared = ready.final_preparations, ready.final_prepared
    time_limit = None if options.time_limit is None else options.time_limit - (time.monotonic() - started)
    with progress.one_bar():  # a backtest's: one for all its folds
        ensemble = members.train_ensemble(plan, options.members, members.cores(options), time_limit)
    outcome, final_epochs = ensemble.outcome, ensemble.final_epochs
    notes += ensemble.notes
    if not final_epochs:  # the network is the validated one, trained on the first preparations
        final_preparations, final_prepared = preparations, prepared

    choice, fallback = None, Baseline.none(len(table.columns))
    if validation is None:  # without held-out values: the training windows'
        held_out = calibrating = training
        predicted, level, unit = _forecasts_of(ensemble.validated, training, options.horizon)
        _refuse_divergence((predicted - training.targets) / unit, (level - training.targets) / unit, options.lr)
        errors = (predicted - training.targets) / unit
    else:
        decided = _decided(ready, ensemble.validated)
        choice, fallback, calibrating, errors = decided.choice, decided.fallback, decided.windows, decided.errors
        held_out, predicted = decided.validation, decided.validation_forecasts
    calibration = {
        "windows": errors_per_step(errors),
        "on": "validation" if validation is not None else "training",
        "quantiles": calibrate(errors * _rescaled(preparations, final_preparations, calibrating)),
    }
    actual = values[held_out.first_target[:, None] + np.arange(options.horizon), held_out.series[:, None]]
    baselines = {
        "naive": np.repeat(values[held_out.first_target - 1, held_out.series][:, None], options.horizon, axis=1),
        "seasonal_naive": blending.seasonal_naive_forecasts(held_out, values, ready.chosen.season),
    }
    model = restore(preparations, predicted, held_out.series, held_out.target_positions())
    metrics = compare(actual, model, baselines, held_out.series, table.columns)
    if validation is not None and outcome.processes > 1:
        notes.append(
            f"trained on {outcome.processes} processes: the network is the one validation chose, not trained again on "
            "every window (a final fit runs in a single process only)"
        )
    return Fitted(
        ensemble.network,
        final_preparations,
        options,
        chosen.reasons,
        metrics,
        calibration,
        outcome,
        len(training),
        len(validation) if validation is not None else 0,
        final_epochs,
        notes,
        fallback_series(table.columns, lengths),
        _final_blend(choice, final_prepared),
        choice.to_json() if choice is not None else None,
        fallback,
        spec,
    )


@dataclass(frozen=True)
class Decided:
    """What the held-out values chose (blending), and the fit's errors on them."""

    choice: blending.Choice
    fallback: Baseline
    windows: Windows  #: the calibrating windows: every held-out value forecast from every origin that reaches it
    errors: np.ndarray  #: (windows, horizon) in each window's unit, NaN where the target is not held out
    validation: Windows  #: the windows whose whole horizon is held out, which the metrics score
    validation_forecasts: np.ndarray  #: their chosen forecasts, in the network's units


def _decided(ready: Prepared, network) -> Decided:
    """Weigh the network's forecasts against Theta's and exponential smoothing's and choose the series that fall back
    to the baseline, on the validation windows (every origin whose horizon is held out); then take the errors that
    calibrate the intervals on every held-out value forecast from every origin that reaches it
    (:attr:`Prepared.calibrating`); all by seasons, scalers and partners fitted on the training rows.

    Step s of every held-out value, not only of the windows whose whole horizon is held out: each step is calibrated
    on as many errors as values were held out (a year ahead, 29 of airline's 144 months rather than its 18 windows,
    enough for 95%). The choices rest on the validation windows alone: the network's forecasts from the origins
    before the cut are those early stopping never watched, and gave Theta and exponential smoothing more weight than
    the final network's test forecasts bore out (bench/accuracy.md)."""
    windows, options = ready.calibrating, ready.options
    assert windows is not None  # calibrating windows come with validation
    predicted, level, unit = _forecasts_of(network, windows, options.horizon)
    targets, held = windows.targets, ready.holdout.held_out(windows)
    whole = np.asarray(held.all(axis=1))  # the validation windows: every target held out
    _refuse_divergence((predicted - targets)[whole] / unit[whole], (level - targets)[whole] / unit[whole], options.lr)
    theta = blending.theta_forecasts(windows, ready.prepared, ready.training_rows)
    smoothing = blending.ets_forecasts(windows, ready.prepared, ready.training_rows)
    judged = held & whole[:, None]
    choice = blending.choose(predicted, theta, smoothing, targets, unit, judged, _groups(ready.holdout, windows))
    chosen = choice.mix(predicted, theta, smoothing)
    fallback = Baseline.none(len(ready.lengths))
    if options.fallback:
        baseline = blending.seasonal_naive_forecasts(windows, ready.prepared, ready.chosen.season)
        held_values = np.maximum(ready.holdout.ends - ready.holdout.cut, 0)
        fallback = blending.fall_back(
            chosen, baseline, targets, unit, judged, windows.series, held_values, options.horizon
        )
        chosen = np.where(fallback.chosen[windows.series][:, None], baseline, chosen)
    errors = np.where(held, (chosen - targets) / unit, np.nan)
    return Decided(choice, fallback, windows, errors, windows.select(whole), chosen[whole])


def _groups(holdout: Holdout, windows: Windows) -> np.ndarray:
    """Each window's group of held-out values, as far apart from the others' as origins whose forecasts share no
    value: its series, and which horizon of the series' held-out rows its origin lies in."""
    block = np.maximum(windows.first_target - holdout.cut[windows.series], 0) // holdout.horizon
    return windows.series * (int(block.max(initial=0)) + 1) + block


def _final_blend(choice: blending.Choice | None, final_prepared: np.ndarray) -> Blend:
    """The blend a forecast uses: the weights chosen (none without held-out values), Theta and exponential smoothing
    fitted on every row."""
    if choice is None:
        return Blend(0.0, fit_theta(final_prepared), 0.0, fit_ets(final_prepared))
    return Blend(choice.weight, fit_theta(final_prepared), choice.ets_weight, fit_ets(final_prepared))


def _covariates(
    table: Table, options: FitOptions, training_rows: np.ndarray, season: int, kept: int
) -> tuple[CovariateSpec, np.ndarray | None]:
    """What the network reads beside the series: the covariates asked for, scaled on the training rows, and the
    calendar of sub-daily and daily data (unless --no-calendar) with the holidays asked for; and their (series, rows,
    C) features, None where there are none."""
    calendar.check(options.holidays)
    cycles = calendar.cycles_for(table.time_kind, table.frequency, season, _span(table)) if options.calendar else ()
    if options.holidays and table.time_kind != "datetime":
        raise BadInput(f"{table.path}: --holidays needs dates: the time axis holds {table.time_kind} steps")
    frames = {column: frame.reindex(table.values.index) for column, frame in table.covariates.columns.items()}
    spec = fit_spec(
        table.columns,
        frames,
        table.covariates.statics,
        covariate_kinds(options),
        training_rows,
        table.values.notna().to_numpy(),
        cycles,
        options.holidays,
        kept,
    )
    if not sum(spec.counts):
        return spec, None
    return spec, spec.features(table.columns, frames, table.covariates.statics, table.values.index, table.path)


def _forecasts_of(network, windows: Windows, horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """run_network on ``windows``, FEATURE_CHUNK of them at a time where they read covariates: their features
    (window + horizon steps each) are gathered a chunk at a time, as their values are run."""
    step = FEATURE_CHUNK if windows.extra is not None else max(len(windows), 1)
    parts = []
    for start in range(0, max(len(windows), 1), step):  # no windows: one empty chunk, its empty forecasts
        chunk = windows.select(slice(start, start + step))
        parts.append(
            run_network(
                network,
                chunk.inputs,
                chunk.input_positions(),
                chunk.ratio[chunk.series],
                horizon,
                chunk.features(),
                chunk.target_positions(),
            )
        )
    return tuple(np.concatenate(part) for part in zip(*parts, strict=True))  # type: ignore[return-value]


def _span(table: Table) -> pd.Timedelta | None:
    """The time from the first row with a value to the last (a backtest's fold holds values before its origin only);
    None without dates."""
    if table.time_kind != "datetime":
        return None
    index = table.values.index[table.values.notna().any(axis=1).to_numpy()]
    return pd.Timedelta(index[-1] - index[0])


def _rescaled(first: list[Preparation], final: list[Preparation], windows: Windows) -> np.ndarray:
    """(windows, 1): what turns a held-out error in the first preparations' units into the final ones', in which
    predict widens the forecast: a difference series' unit is its scaler's, refitted on every row for the final fit
    (a ratio series' unit is its level, the same in both)."""
    factor = np.array(
        [
            1.0 if before.ratio or not after.scaler.scale else before.scaler.scale / after.scaler.scale
            for before, after in zip(first, final, strict=True)
        ]
    )
    return factor[windows.series][:, None]


def card_bytes(names: Sequence[str], window: int, season: int, horizon: int, kinds: Mapping[str, str]) -> int:
    """About how many bytes the model.json of a fit of series ``names`` takes, with ``kinds`` its covariates: what
    the card holds per series (a scaler, seasonal indices, the last window, Theta's and exponential smoothing's
    states, the model's, naive's and seasonal naive's held-out errors, a fallback's errors; each time-varying
    covariate's scaling and last window, each static one's value), every number at NUMBER_BYTES, and the interval
    widths of each horizon step. An estimate, to refuse before training a file whose card would pass its limit: the
    save measures the card itself, and refuses one that does (directory.save)."""
    history = max(window, season)
    varying = sum(kind != "static" for kind in kinds.values())
    static = len(kinds) - varying
    numbers = 2 + season + history + 4 + 5 + 1 + 9 + 2 + varying * (2 + history) + static
    naming = sum(len(json.dumps(name)) + 16 for name in names) * (NAMED_FIELDS + 2 * varying + static)
    return (
        CARD_BYTES
        + horizon * len(GRID) * NUMBER_BYTES
        + naming
        + len(names) * (numbers * NUMBER_BYTES + SERIES_KEYS_BYTES)
    )


def _refuse_too_few_rows(table: Table, lengths: np.ndarray, horizon: int) -> NoReturn:
    raise BadInput(
        f"{table.path}: too few rows: the longest series has {int(lengths.max())} values, "
        f"fewer than {MIN_OBSERVED} + --horizon {horizon}"
    )


def _refuse_too_wide(table: Table, options: FitOptions, chosen: Chosen) -> None:
    """A file of more series than a model.json within its limit can hold is refused before it trains: predict reads
    model.json within the same limit, model_json_bytes, and would refuse the model."""
    assert options.window is not None  # decided by choose
    size = card_bytes(table.columns, options.window, chosen.season, options.horizon, covariate_kinds(options))
    if size > limits.current().model_json_bytes:
        limits.refuse(
            table.path,
            f"its {len(table.columns):,} series would make a model.json of about {size:,} bytes, which predict "
            "could not read",
            "model_json_bytes",
        )


def _choose(table: Table, options: FitOptions) -> Chosen:
    lengths = table.values.notna().sum().to_numpy()
    data = f"{table.frequency} data" if table.time_kind == "datetime" else "data without dates"
    return choose(options, natural_season(table.time_kind, table.frequency), lengths, data)


def calibration_windows(table: Table, options: FitOptions) -> int:
    """How many errors a step a fit of ``table`` will calibrate its intervals on (its held-out values, else its
    training windows), without fitting."""
    chosen = _choose(table, options)
    values, horizon = table.values.to_numpy(), options.horizon
    holdout = split(values, horizon)
    reaching = make_windows(values, chosen.window, horizon, min_observed=MIN_OBSERVED, past_end=horizon - 1)
    training, validation = holdout.windows(holdout.complete(reaching))
    if validation is None:
        return len(training)
    return int(holdout.held_out(holdout.calibrating(reaching)).sum(axis=0).min())


def fallback_series(columns: list[str], lengths: np.ndarray) -> list[str]:
    """The series too short for the network to read (fewer than MIN_OBSERVED values): forecast by their last value."""
    return [column for column, length in zip(columns, lengths, strict=True) if length < MIN_OBSERVED]


def _short_series_notes(columns: list[str], lengths: np.ndarray, window: int) -> list[str]:
    notes = []
    fallback = fallback_series(columns, lengths)
    if fallback:
        notes.append(
            f"{len(fallback)} series with fewer than {MIN_OBSERVED} values, too short to learn from, are forecast by "
            f"their last value (naive): {listed([repr(name) for name in fallback])}"
        )
    padded = int(np.sum((lengths >= MIN_OBSERVED) & (lengths < window)))
    if padded:
        notes.append(f"{padded} series shorter than the window ({window}) are read left-padded")
    return notes


def _refuse_training_beyond_memory(
    cell: RegisteredCell, options: FitOptions, season: int, extra: tuple[int, int, int]
) -> None:
    """A network is trained only where it fits in memory, estimated before any of it is allocated: --hidden-size
    1000000 ended in torch's 'tried to allocate 4000000000000 bytes'. A member's values are counted on the meta device
    (planning every member costs seconds a thousand); a cell that cannot be built there is left to its builder."""
    from forecaster.nn.network import planned_tensors

    assert options.window is not None and options.batch_size is not None  # decided by now
    member = planned_tensors(cell, options.hidden_size, options.horizon, season, 1, extra)  # each member alike
    if member is None:
        return
    values = options.members * sum(math.prod(shape) for shape, _ in member.values())
    steps = options.batch_size * (options.window + options.horizon)
    activations = options.members * steps * options.hidden_size * ACTIVATIONS_PER_UNIT * 4
    limits.within_memory(
        values * TRAINING_VALUE_BYTES + activations,
        f"--hidden-size {options.hidden_size}: {options.members} members of the {cell.name} cell, {values:,} values, "
        f"trained in batches of {options.batch_size} windows",
        memory.available,
    )


def _refuse_untrainable(prepared: np.ndarray, table: Table, scaler: str) -> None:
    """Prepared values whose squared errors overflow float32 (3.4e38) would end as a NaN loss, blamed on --lr."""
    with np.errstate(invalid="ignore"):
        beyond = np.abs(prepared) > MAX_SCALED
    if beyond.any():
        row, column = (int(i[0]) for i in np.nonzero(beyond))
        raise BadInput(
            f"{table.path}: column {table.columns[column]!r} at {time_text(table.values.index[row])}: "
            f"values too far apart to train on in float32 after the {scaler} scaler; rescale the data or try another "
            "--scaler"
        )


def _refuse_divergence(model_errors: np.ndarray, level_errors: np.ndarray, lr: float) -> None:
    """A model far worse on held-out windows than where it started, each window's level, has diverged, even with a
    finite loss.

    The errors are in the network's units, where every series weighs alike
    and 1 is the size of a level (a ratio series) or of a scale (any other):
    an error far above both is no forecast at all, while a model merely less
    trained than a level forecast of smooth data is not one that diverged.
    """
    with np.errstate(over="ignore"):
        model_error = float(np.mean(model_errors**2))
        bound = DIVERGENCE_FACTOR * max(float(np.mean(level_errors**2)), 1.0)
    if not model_error <= bound:
        raise TrainingFailed(
            f"training diverged: the model's mean squared error is {model_error:.3g} in units of the windows' levels, "
            f"far beyond where it started; try a lower --lr than {lr:g}"
        )


@dataclass(frozen=True)
class Holdout:
    """Each series' own last rows held out for validation, as the competitions score: the rows from ``cut`` on."""

    cut: np.ndarray  #: (series,) the first held-out row of each series; past its end when nothing is held out
    ends: np.ndarray  #: (series,) the row after each series' last value
    horizon: int

    def complete(self, windows: Windows) -> Windows:
        """The windows whose every target is a value of their series, none past its end."""
        return windows.select(windows.first_target + self.horizon <= self.ends[windows.series])

    def windows(self, windows: Windows) -> tuple[Windows, Windows | None]:
        """Training windows (targets before their series' cut) and validation windows (targets from it on).

        Windows whose targets straddle the cut are dropped. Tiny data, where
        validation would leave fewer windows to train on than to check,
        trains on every window and has no validation.
        """
        cut = self.cut[windows.series]
        training = windows.first_target + self.horizon <= cut
        validation = windows.first_target >= cut
        if len(windows) < MIN_WINDOWS_FOR_VALIDATION or training.sum() < validation.sum() or not validation.any():
            return windows, None
        return windows.select(training), windows.select(validation)

    def calibrating(self, windows: Windows) -> Windows:
        """Of ``windows`` (with those reaching past their series' ends: make_windows' ``past_end``), those that
        forecast a held-out value at some step: from the one whose last step is the first held-out row to the one
        whose first step is the last."""
        series = windows.series
        reach = (windows.first_target + self.horizon > self.cut[series]) & (self.cut[series] < self.ends[series])
        return windows.select(reach)

    def held_out(self, windows: Windows) -> np.ndarray:
        """(windows, horizon) whether each target of ``windows`` is a held-out value."""
        rows = windows.first_target[:, None] + np.arange(self.horizon)
        series = windows.series[:, None]
        return (rows >= self.cut[series]) & (rows < self.ends[series])


def split(values: np.ndarray, horizon: int) -> Holdout:
    """Hold out each series' last rows: enough for VALIDATION_WINDOWS windows in all that do not overlap (a horizon of
    rows each), at least one horizon a series and at most VALIDATION_FRACTION of it; nothing of a series too short to
    forecast a horizon from MIN_OBSERVED values.

    Per series rather than a cut of the time axis, so that every series is
    represented whether the series end together or apart. Every window that
    fits in those rows validates, one row apart: the windows are counted
    without overlap so that few long series hold out as many values as many
    short ones, not a few days of them.
    """
    present = ~np.isnan(values)
    lengths = present.sum(axis=0)
    ends = len(values) - np.argmax(present[::-1], axis=0)
    eligible = lengths >= horizon + MIN_OBSERVED
    per_series = math.ceil(VALIDATION_WINDOWS / max(int(eligible.sum()), 1))
    rows = np.minimum(horizon * per_series, np.maximum(horizon, np.round(VALIDATION_FRACTION * lengths).astype(int)))
    return Holdout(np.where(eligible, ends - rows, len(values)), ends, horizon)
