"""What `prepare` hands to training, field by field, and where `split` and `Holdout` draw the line: the contract a
fit's members train on, checked without training."""

from __future__ import annotations

import math
import re
import time

import numpy as np
import pandas as pd
import pytest

from conftest import DATA
from forecaster.data import limits
from forecaster.data.limits import Limits
from forecaster.errors import BadInput
from forecaster.model.fit_result import MIN_OBSERVED
from forecaster.model.preparation import fit_preparations
from forecaster.nn.registry import load_registry
from forecaster.options import FitOptions
from forecaster.training import pipeline
from forecaster.training.pipeline import MIN_WINDOWS_FOR_VALIDATION, Holdout, prepare, read_table, split
from forecaster.training.windows import make_windows

CELL = load_registry().get("lstm")
OPTIONS = FitOptions(window=12, horizon=3, season=12, hidden_size=3, members=2, epochs=4, seed=11, scaler="robust")


def airline() -> pd.Series:
    return pd.read_csv(DATA / "airline.csv", index_col="date", parse_dates=True)["passengers"]


def table(frame: pd.DataFrame, options: FitOptions = OPTIONS):
    return read_table(frame, options)


@pytest.fixture(scope="module")
def mixed():
    """Four series: positive, below one and positive, one that reaches zero, and a shorter one of both signs."""
    passengers = airline()
    frame = pd.DataFrame(
        {
            "passengers": passengers,
            "thousands": passengers / 1000,
            "with_zero": passengers - passengers.iloc[50],
            "shorter": (passengers - 300).where(np.arange(len(passengers)) >= 40),
        }
    )
    return frame, table(frame)


def test_the_reading_of_each_series_follows_its_signs_and_the_scaler_is_the_one_asked(mixed):
    _, data = mixed
    prepared = prepare(data, OPTIONS, CELL)
    assert [p.ratio for p in prepared.preparations] == [True, True, False, False]
    assert [p.scaler.kind for p in prepared.preparations] == ["maxabs", "maxabs", "robust", "robust"]
    assert prepared.lengths.tolist() == [144, 144, 144, 104]


def test_the_final_fit_s_preparations_are_fitted_on_every_row(mixed):
    frame, data = mixed
    prepared = prepare(data, OPTIONS, CELL)
    values = data.values.to_numpy()
    positive = np.array([True, True, False, False])
    every = fit_preparations("robust", values, positive, data.positions(), 12, list(frame.columns))
    assert [p.to_json() for p in prepared.final_preparations] == [p.to_json() for p in every]
    positions = data.positions()
    network = np.column_stack([p.to_network(values[:, k], positions) for k, p in enumerate(every)])
    np.testing.assert_array_equal(prepared.final_prepared, network)
    training = np.where(prepared.training_rows, values, np.nan)
    validated = fit_preparations("robust", training, positive, positions, 12, list(frame.columns))
    assert [p.to_json() for p in prepared.preparations] == [p.to_json() for p in validated]
    assert prepared.plan.every.ratio.tolist() == [True, True, False, False]
    assert np.array_equal(prepared.values, values, equal_nan=True)
    assert np.array_equal(prepared.training_rows, np.arange(144)[:, None] < split(values, 3).cut[None, :])


@pytest.mark.parametrize("distributed", [False, True])
def test_the_plan_holds_what_every_member_trains_on(mixed, distributed):
    _, data = mixed
    before = time.monotonic()
    prepared = prepare(data, OPTIONS, CELL, distributed) if distributed else prepare(data, OPTIONS, CELL)
    plan, batch = prepared.plan, prepared.chosen.batch_size
    assert before <= prepared.started <= time.monotonic()
    assert (plan.cell, plan.hidden_size, plan.horizon, plan.season, plan.seed) == (CELL, 3, 3, 12, 11)
    assert plan.training is prepared.training and plan.validation is prepared.validation
    assert len(plan.every) == len(prepared.training) + len(prepared.validation) + 2 * 4  # straddling windows dropped
    assert plan.settings.distributed is distributed and plan.settings.progress is False
    assert plan.settings.batches_per_epoch == math.ceil(len(prepared.training) / batch)
    assert plan.final_batches == math.ceil(len(plan.every) / batch)
    assert plan.extra == prepared.spec.counts == (0, 0, 0)
    assert prepared.options.window == 12 and prepared.chosen.options == prepared.options


def test_every_held_out_value_is_forecast_once_from_each_step_ahead_by_windows_never_trained_on(mixed):
    """The calibrating windows: for each step s, each held-out value of each series is the s-th target of exactly one
    of them (the first held-out value from origins up to the cut, the last from origins a step before the series'
    end, its later targets past the end NaN); none is a training window."""
    _, data = mixed
    prepared = prepare(data, OPTIONS, CELL)
    windows, holdout = prepared.calibrating, prepared.holdout
    assert windows is not None and prepared.validation is not None
    held = holdout.held_out(windows)
    rows = windows.first_target[:, None] + np.arange(OPTIONS.horizon)
    for k in range(len(data.columns)):
        mine = windows.series == k
        for step in range(OPTIONS.horizon):
            assert rows[mine & held[:, step], step].tolist() == list(range(holdout.cut[k], holdout.ends[k]))
        assert (windows.first_target[mine] > holdout.cut[k] - OPTIONS.horizon).all()
    assert not (held & (rows < holdout.cut[windows.series][:, None])).any()
    past = rows >= holdout.ends[windows.series][:, None]
    assert past.any() and np.isnan(windows.targets[past]).all() and not np.isnan(windows.targets[~past]).any()
    trained = set(zip(prepared.training.series.tolist(), prepared.training.first_target.tolist(), strict=True))
    assert not trained & set(zip(windows.series.tolist(), windows.first_target.tolist(), strict=True))
    validated = set(zip(prepared.validation.series.tolist(), prepared.validation.first_target.tolist(), strict=True))
    assert validated < set(zip(windows.series.tolist(), windows.first_target.tolist(), strict=True))


def test_no_window_that_forecasts_nothing_held_out_is_forecast_for_the_intervals():
    """Every calibrating window forecasts a held-out value at some step, each a network and Theta forecast the fit
    pays for: none whose targets all lie past its series' end, and none of a series too short to hold a value out
    (4 values, fewer than 2 + --horizon 3) though it ends on the table's last row, as the others do."""
    passengers = airline()
    frame = pd.DataFrame({"passengers": passengers, "short": passengers.where(np.arange(len(passengers)) >= 140)})
    prepared = prepare(table(frame), OPTIONS, CELL)
    windows, holdout = prepared.calibrating, prepared.holdout
    assert windows is not None and holdout.cut.tolist() == [144 - 29, 144] and holdout.ends.tolist() == [144, 144]
    assert holdout.held_out(windows).any(axis=1).all()
    assert set(windows.series.tolist()) == {0}
    assert windows.first_target.tolist() == list(range(144 - 29 - 2, 144))


def test_the_members_draw_their_bar_where_this_process_would(mixed, monkeypatch):
    """At a terminal or in a notebook (progress.drawn), the plan asks the members to draw the training bar."""
    _, data = mixed
    monkeypatch.setattr(pipeline.progress, "drawn", lambda: True)
    assert prepare(data, OPTIONS, CELL).plan.settings.progress is True


def test_covariates_are_planned_and_noted():
    passengers = airline()
    frame = pd.DataFrame({"passengers": passengers, "promotion": (np.arange(len(passengers)) % 5 == 0) * 1.0})
    options = FitOptions(**{**OPTIONS.__dict__, "targets": ("passengers",), "future": ("promotion",)})
    prepared = prepare(read_table(frame, options), options, CELL)
    assert prepared.plan.extra == prepared.spec.counts and prepared.spec.counts != (0, 0, 0)
    assert prepared.plan.every.extra is not None and prepared.plan.every.extra.shape[-1] == sum(prepared.spec.counts)
    calibrating = prepared.calibrating  # their features past the series' end too, where no value is held out
    assert calibrating is not None and calibrating.extra is not None
    assert calibrating.features().shape == (len(calibrating), 12 + 3, sum(prepared.spec.counts))
    assert any(note.startswith("covariates: ") for note in prepared.notes)


def test_notes_of_the_table_and_of_short_series_are_kept_together():
    """A file with missing timestamps and a series too short to learn from: both said."""
    passengers = airline()
    frame = pd.DataFrame({"passengers": passengers, "late": passengers.where(np.arange(144) == 143)})
    frame = frame.drop(frame.index[20:40])  # 20 months without a row: more than 5% missing
    prepared = prepare(table(frame), OPTIONS, CELL)
    assert any("frequency implies have no row" in note for note in prepared.notes), prepared.notes
    data = table(frame)
    np.testing.assert_array_equal(prepared.plan.every.positions[-len(frame) :], data.positions())  # the gap counted
    assert any("too short to learn from, are forecast by their last value" in note for note in prepared.notes)


def test_too_few_rows_are_refused_naming_the_longest_series():
    frame = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0]}, index=pd.date_range("2020-01-01", periods=4, freq="MS"))
    options = FitOptions(window=2, horizon=3, season=1)
    with pytest.raises(BadInput) as refused:
        prepare(read_table(frame, options), options, CELL)
    assert str(refused.value).endswith(
        f"too few rows: the longest series has 4 values, fewer than {MIN_OBSERVED} + --horizon 3"
    )


def test_too_few_rows_are_refused_as_such_whatever_the_horizon():
    """A horizon of 100,000 inflates the card's estimate past model_json_bytes: the rows are too few all the same, and
    said first."""
    frame = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0]}, index=pd.date_range("2020-01-01", periods=4, freq="MS"))
    options = FitOptions(window=2, horizon=100_000, season=1)
    with pytest.raises(BadInput) as refused:
        prepare(read_table(frame, options), options, CELL)
    assert str(refused.value) == (
        f"DataFrame: too few rows: the longest series has 4 values, fewer than {MIN_OBSERVED} + --horizon 100000"
    )


SPARSE = "fewer than one row in 100 steps is not a series at that frequency; give the rows of every step, or times of a"


def test_rows_too_sparse_for_their_frequency_are_refused_first_counting_the_steps_from_first_to_last():
    """Five days and one 23 months later: 6 rows of 701 days, not a daily series; refused before their too few
    values for the horizon are."""
    days = pd.DatetimeIndex(["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04", "2020-01-05", "2021-12-01"])
    frame = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}, index=days)
    options = FitOptions(window=2, horizon=10, season=1)
    with pytest.raises(BadInput) as refused:
        prepare(read_table(frame, options), options, CELL)
    assert str(refused.value) == f"DataFrame: 6 rows span 701 steps of 24h: {SPARSE} coarser frequency"


def test_nanoseconds_over_five_centuries_are_refused_as_too_many_steps_to_count(tmp_path):
    """Rows a nanosecond apart and one 500 years on: more steps than 64 bits count, refused in words (their positions
    on the time axis overflowed, an internal error, before the axis was checked)."""
    path = tmp_path / "far.csv"
    path.write_text(
        "date,y\n"
        + "".join(f"1700-01-01 00:00:00.00000000{k},{k + 1}\n" for k in range(3))
        + "2200-01-01 00:00:00.000000000,4\n"
    )
    options = FitOptions(window=2, horizon=1, season=1)
    with pytest.raises(BadInput) as refused:
        prepare(read_table(path, options), options, CELL)
    assert str(refused.value) == f"{path}: 4 rows span more steps than can be counted of ns: {SPARSE} coarser frequency"


def test_a_network_beyond_the_memory_limit_is_refused_before_training_saying_its_size():
    """The plan's network counted as built (its cell, season and covariates), then held to the limit memory."""
    passengers = airline()
    frame = pd.DataFrame({"passengers": passengers, "promotion": (np.arange(len(passengers)) % 5 == 0) * 1.0})
    options = FitOptions(**{**OPTIONS.__dict__, "targets": ("passengers",), "future": ("promotion",)})
    with limits.applied(Limits(memory=1000)), pytest.raises(BadInput) as refused:
        prepare(read_table(frame, options), options, CELL)
    assert re.fullmatch(
        r"--hidden-size 3: 2 members of the lstm cell, [\d,]+ values, trained in batches of \d+ windows: would take "
        r"about [\d,]+ bytes, beyond the limit memory=1,000; ask for less .*",
        str(refused.value),
    ), refused.value
    prepare(read_table(frame, options), options, CELL)  # within the memory this process may take


def test_values_too_far_apart_for_float32_once_scaled_are_refused_naming_the_first_and_the_scaler():
    """A robust scale of a few units and one value of 1e20: scaled past MAX_SCALED, whose squared errors float32
    cannot hold; refused at its column and time, naming the scaler, rather than trained to a NaN loss."""
    values = np.arange(-20.0, 20.0)
    values[30] = 1e20
    frame = pd.DataFrame({"y": values}, index=pd.date_range("2020-01-01", periods=40, freq="D"))
    options = FitOptions(window=4, horizon=2, season=1, scaler="robust")
    with pytest.raises(BadInput) as refused:
        prepare(read_table(frame, options), options, CELL)
    assert str(refused.value) == (
        "DataFrame: column 'y' at 2020-01-31T00:00:00: values too far apart to train on in float32 after the robust "
        "scaler; rescale the data or try another --scaler"
    )


def test_one_window_is_enough_to_train_on_without_validation():
    rows = MIN_OBSERVED + 3
    frame = pd.DataFrame({"y": np.arange(1.0, rows + 1)}, index=pd.date_range("2020-01-01", periods=rows, freq="MS"))
    options = FitOptions(window=4, horizon=3, season=1)
    prepared = prepare(read_table(frame, options), options, CELL)
    assert len(prepared.training) == 1 and prepared.validation is None
    assert prepared.final_preparations is prepared.preparations
    assert any(note.startswith("only 1 windows: no validation split") for note in prepared.notes)


def test_a_series_just_long_enough_holds_out_a_horizon():
    values = np.arange(1.0, 3 + MIN_OBSERVED + 1)[:, None]
    assert split(values, 3).cut.tolist() == [MIN_OBSERVED]
    assert split(values[1:], 3).cut.tolist() == [len(values) - 1]  # one value fewer: nothing held out


def test_two_long_series_share_the_validation_windows():
    """200 windows of a horizon between two series of 10,000 rows: 100 rows each, well under a fifth of either."""
    holdout = split(np.ones((10_000, 2)), 1)
    assert holdout.cut.tolist() == [9_900, 9_900] and holdout.cut.dtype.kind == "i"


def windows_of(length: int):
    return make_windows(np.arange(1.0, length + 1)[:, None], 4, 1, min_observed=MIN_OBSERVED)


def test_validation_needs_twenty_windows_and_no_more_than_it_leaves_to_train_on():
    length = next(n for n in range(5, 100) if len(windows_of(n)) == MIN_WINDOWS_FOR_VALIDATION)
    windows = windows_of(length)
    last = int(windows.first_target.max())

    def cut_at(row: int) -> Holdout:
        return Holdout(np.array([row]), np.array([length]), 1)

    _, validation = cut_at(last - 3).windows(windows)  # four held out
    assert validation is not None and len(validation) == 4
    assert cut_at(last - 4).windows(windows_of(length - 1))[1] is None  # 19 windows: none
    half = cut_at(last - 9).windows(windows)  # ten to train on, ten to check: kept
    assert half[1] is not None and len(half[0]) == len(half[1]) == 10
    assert cut_at(last - 10).windows(windows)[1] is None  # more to check than to train on
    assert cut_at(last + 1).windows(windows)[1] is None  # nothing held out


def test_each_covariate_column_is_read_as_its_kind():
    assert pipeline.covariate_kinds(FitOptions(past=("a",), future=("b",))) == {"a": "past", "b": "future"}


@pytest.mark.parametrize("missing, noted", [(1, False), (7, False), (8, True)])
def test_missing_timestamps_are_noted_above_five_percent(missing, noted):
    """Of 140 days, 7 missing is 5%: not noted; 8 is."""
    days = pd.date_range("2020-01-01", periods=140, freq="D")
    frame = pd.DataFrame({"passengers": airline().iloc[:140].to_numpy()}, index=days)
    frame = frame.drop(frame.index[30 : 30 + missing])
    notes = prepare(table(frame), OPTIONS, CELL).notes
    assert any("frequency implies have no row" in note for note in notes) is noted, notes


def test_a_series_that_touches_zero_or_has_one_value_is_read_as_it_must_be():
    """Zero once and positive otherwise: differences (a ratio to zero is none); one positive value: a ratio."""
    passengers = airline()
    frame = pd.DataFrame(
        {"floor": passengers - passengers.min(), "single": passengers.where(np.arange(144) == 143), "p": passengers}
    )
    prepared = prepare(table(frame), OPTIONS, CELL)
    assert [p.ratio for p in prepared.preparations] == [False, True, True]
