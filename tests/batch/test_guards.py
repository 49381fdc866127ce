"""A batch job's input guards on real CSV files, in-process: the shrunk feed, the one gone back in time, the stale
one."""

from __future__ import annotations

import dataclasses
import datetime
import re

import pandas as pd
import pytest

from conftest import DATA
from forecaster.batch.guards import GuardFailed, check_calibration, check_feed
from forecaster.batch.jobs_file import Job, Refit
from forecaster.data.table import load_csv
from forecaster.errors import FeedLate
from forecaster.model.card import Card
from forecaster.model.directory import read_card
from forecaster.options import FitOptions
from forecaster.training.pipeline import calibration_windows

JOB = Job(
    "sales",
    DATA / "stock.csv",
    DATA / "no-model",
    DATA / "no-output.csv",
    Refit("always"),
    (),
    FitOptions(window=8, horizon=3),
)


@pytest.fixture(scope="module")
def stocks(tmp_path_factory):
    """(the 60 last rows of two series, the first 40 of them) as tables, and the times of their last rows."""
    directory = tmp_path_factory.mktemp("feeds")
    frame = pd.read_csv(DATA / "stock.csv", usecols=["date", "AAPL", "MSFT"]).tail(60)
    frame.to_csv(directory / "full.csv", index=False)
    frame.head(40).to_csv(directory / "cut.csv", index=False)
    return load_csv(directory / "full.csv"), load_csv(directory / "cut.csv")


@pytest.fixture(scope="module")
def card(tiny_model):
    return read_card(tiny_model)


@pytest.fixture
def saved_from(card):
    """The card of a model trained on ``table``: a real model's card, with what it records of the data trained on."""

    def saved(table) -> Card:
        series_rows = {name: int(table.values[name].notna().sum()) for name in table.columns}
        return dataclasses.replace(
            card,
            series=tuple(table.columns),
            ends=table.ends,
            time=dataclasses.replace(card.time, kind=table.time_kind),
            training=dataclasses.replace(card.training, rows=len(table.values), series_rows=series_rows),
        )

    return saved


def now_after(table, days: float) -> datetime.datetime:
    return (table.values.index.max() + pd.Timedelta(days=days)).to_pydatetime().astimezone()


def test_a_refit_on_a_feed_cut_short_fails_naming_the_series(stocks, saved_from):
    full, cut = stocks
    with pytest.raises(
        GuardFailed,
        match=r"series 'AAPL' has 40 rows, fewer than the 60 the saved model was trained on: "
        r"a feed cut short\? .* set allow_shrink = true",
    ):
        check_feed(JOB, cut, saved_from(full), now_after(cut, 1), refit=True)
    assert check_feed(JOB, full, saved_from(full), now_after(full, 1), refit=True) == [
        "no series has fewer rows or ends earlier than the saved model's"
    ]


def test_reusing_a_model_compares_where_the_series_end_not_their_rows(stocks, saved_from):
    """A reused model forecasts from the input's end: an input ending earlier would forecast the past."""
    full, cut = stocks
    recent = dataclasses.replace(full, values=full.values.tail(20))
    assert check_feed(JOB, recent, saved_from(full), now_after(full, 1), refit=False) == [
        "no series ends earlier than the saved model's"
    ]
    with pytest.raises(
        GuardFailed,
        match=f"series 'AAPL' ends at {cut.values.index.max().date()}, before {full.values.index.max().date()}",
    ):
        check_feed(JOB, cut, saved_from(full), now_after(full, 1), refit=False)


def test_allow_shrink_lets_it_through_and_says_so(stocks, saved_from):
    full, cut = stocks
    [check] = check_feed(
        dataclasses.replace(JOB, allow_shrink=True), cut, saved_from(full), now_after(cut, 1), refit=True
    )
    trained = "rows, fewer than the 60 the saved model was trained on"
    assert check.startswith(f"allowed by allow_shrink: series 'AAPL' has 40 {trained}; series 'MSFT' has 40 {trained}")


def test_a_stale_feed_is_late_and_a_fresh_one_passes(stocks):
    full, _ = stocks
    job = dataclasses.replace(JOB, max_age=datetime.timedelta(days=3))
    newest = full.values.index.max().date()
    with pytest.raises(
        FeedLate, match=rf"stale feed: the newest row, {newest}, is 3.5 days old, older than max_age 3d"
    ):
        check_feed(job, full, None, now_after(full, 3.5), refit=True)
    assert check_feed(job, full, None, now_after(full, 2.5), refit=True) == [
        f"the newest row, {newest}, is 2.5 days old (max_age 3d)"
    ]


def test_max_age_needs_dates(tmp_path):
    (tmp_path / "rows.csv").write_text("value\n1\n2\n3\n")
    with pytest.raises(GuardFailed, match="max_age needs dates in the time column"):
        check_feed(
            dataclasses.replace(JOB, max_age=datetime.timedelta(days=1)),
            load_csv(tmp_path / "rows.csv"),
            None,
            datetime.datetime.now().astimezone(),
            refit=True,
        )


def test_levels_are_checked_against_the_held_out_forecasts_the_data_gives(stocks):
    """60 rows, window 8, horizon 3: each series holds out its last 12, each forecast from 1, 2 and 3 steps ahead, 24
    errors a step in all (its 10 validation windows would give 20); 95% needs 19, 97.5% needs 49."""
    full, _ = stocks
    assert check_calibration(dataclasses.replace(JOB, levels=(80, 95)), full) == [
        "24 held-out forecasts a step calibrate the 95% interval"
    ]
    with pytest.raises(
        GuardFailed,
        match=re.escape(
            "a 97.5% interval: it needs 49 a forecast step, and this input with horizon 3 gives 24; "
            "ask for at most 96% (--level), or fit on more data"
        ),
    ):
        check_calibration(dataclasses.replace(JOB, levels=(97.5,)), full)
    assert check_calibration(JOB, full) == []


def test_a_feed_exactly_max_age_old_is_fresh(stocks):
    full, _ = stocks
    job = dataclasses.replace(JOB, max_age=datetime.timedelta(days=3))
    assert check_feed(job, full, None, now_after(full, 3), refit=True)[0].endswith("(max_age 3d)")


def test_a_feed_with_utc_offsets_is_aged_against_the_clock_in_its_zone(tmp_path):
    """Rows stamped with an offset are instants: one an hour and a half ago, with max_age an hour, is stale."""
    newest = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    rows = [(newest - datetime.timedelta(hours=hours)).isoformat() for hours in range(3, -1, -1)]
    (tmp_path / "feed.csv").write_text("time,value\n" + "".join(f"{time},{k}\n" for k, time in enumerate(rows)))
    table = load_csv(tmp_path / "feed.csv")
    job = dataclasses.replace(JOB, max_age=datetime.timedelta(hours=1))
    now = newest.astimezone(datetime.UTC) + datetime.timedelta(minutes=90)
    with pytest.raises(FeedLate, match=r"is 1\.5 hours old, older than max_age 1h"):
        check_feed(job, table, None, now, refit=True)


def one_series(tmp_path, rows: int):
    frame = pd.read_csv(DATA / "stock.csv", usecols=["date", "AAPL"]).tail(rows)
    frame.to_csv(tmp_path / f"rows-{rows}.csv", index=False)
    return load_csv(tmp_path / f"rows-{rows}.csv")


def test_levels_at_the_exact_number_of_windows_they_need(tmp_path):
    """19 errors a step calibrate 95% (its least), and a single one calibrates nothing above 50%: both exactly."""
    tables = {
        calibration_windows(table, JOB.options): table for table in (one_series(tmp_path, n) for n in range(6, 120))
    }
    assert check_calibration(dataclasses.replace(JOB, levels=(95,)), tables[19]) == [
        "19 held-out forecasts a step calibrate the 95% interval"
    ]
    with pytest.raises(GuardFailed, match="it needs 4 a forecast step, and this input with horizon 3 gives 1;"):
        check_calibration(dataclasses.replace(JOB, levels=(80,)), tables[1])


def test_a_series_the_input_no_longer_has_counts_as_shrunk_to_nothing(stocks, saved_from):
    full, _ = stocks
    only_aapl = dataclasses.replace(full, values=full.values[["AAPL"]])
    shrunk = "series 'MSFT' has 0 rows, fewer than the 60 the saved model was trained on"
    with pytest.raises(GuardFailed, match=shrunk):
        check_feed(JOB, only_aapl, saved_from(full), now_after(full, 1), refit=True)
    allowed = dataclasses.replace(JOB, allow_shrink=True)
    assert check_feed(allowed, only_aapl, saved_from(full), now_after(full, 1), refit=True) == [
        f"allowed by allow_shrink: {shrunk}"
    ]


def test_a_series_of_one_row_the_input_no_longer_has_counts_as_shrunk(stocks, saved_from):
    """A model keeps a series of one value (forecast by its last value): an input without it has shrunk all the
    same."""
    full, _ = stocks
    last = full.values.index == full.values.index[-1]
    saved = saved_from(dataclasses.replace(full, values=full.values.assign(MSFT=full.values["MSFT"].where(last))))
    assert saved.training.series_rows["MSFT"] == 1
    only_aapl = dataclasses.replace(full, values=full.values[["AAPL"]])
    with pytest.raises(GuardFailed, match="series 'MSFT' has 0 rows, fewer than the 1 the saved model was trained on"):
        check_feed(JOB, only_aapl, saved, now_after(full, 1), refit=True)


def test_ends_that_cannot_be_compared_are_not_called_earlier(stocks, saved_from):
    """The input now carries UTC offsets and the model's data did not: whether it ends earlier cannot be said."""
    full, cut = stocks
    aware = dataclasses.replace(cut, values=cut.values.tz_localize("UTC"))
    assert check_feed(JOB, aware, saved_from(full), now_after(full, 1), refit=False) == [
        "no series ends earlier than the saved model's"
    ]
    with pytest.raises(GuardFailed, match="where the saved model's data ended"):
        check_feed(JOB, cut, saved_from(full), now_after(full, 1), refit=False)
