"""The batch run's records: summaries that never replace one another, metrics by the Prometheus text-format rules."""

from __future__ import annotations

import datetime

from conftest import parse_prometheus
from forecaster.batch.summary import JobResult, Outcome, metrics_text
from forecaster.runtime.files import write_new

START = datetime.datetime(2026, 3, 1, 2, 30, tzinfo=datetime.UTC)
#: names a jobs file may give: a glob job's, and one with every character the format escapes
NAMES = ["stocks", "shops/north", 'odd "name" \\ with\na line feed']


def outcome(minutes: int, exit_code: int) -> Outcome:
    started = START + datetime.timedelta(days=minutes // 1440, minutes=minutes % 1440)
    return Outcome(started, started + datetime.timedelta(seconds=42.5), "ok" if exit_code == 0 else "failed", exit_code)


def test_metrics_follow_the_text_format_and_name_every_job_exactly():
    results = [
        JobResult(NAMES[0], "in", "m", status="ok", refitted=True, seconds=3.25),
        JobResult(NAMES[1], "in", "m", status="ok", refitted=False, seconds=1.0),
        JobResult(NAMES[2], "in", "m", status="timed out", refitted=True, seconds=60.0),
    ]
    samples = parse_prometheus(metrics_text(outcome(0, 1), results))
    assert samples[("forecaster_batch_run_start_timestamp_seconds", ())] == START.timestamp()
    assert samples[("forecaster_batch_run_duration_seconds", ())] == 42.5
    assert samples[("forecaster_batch_run_exit_code", ())] == 1
    assert samples[("forecaster_batch_jobs", (("status", "ok"),))] == 2
    assert samples[("forecaster_batch_jobs", (("status", "timed_out"),))] == 1  # label values without spaces
    assert samples[("forecaster_batch_jobs", (("status", "not_started"),))] == 0
    per_job = {
        labels[0][1]: value for (name, labels), value in samples.items() if name == "forecaster_batch_job_success"
    }
    assert per_job == {NAMES[0]: 1, NAMES[1]: 1, NAMES[2]: 0}, "label values come back exactly as the names"
    assert {
        labels[0][1]: value for (name, labels), value in samples.items() if name == "forecaster_batch_job_refitted"
    } == {NAMES[0]: 1, NAMES[1]: 0, NAMES[2]: 0}, "a refit counts once its model is in place"
    assert ("forecaster_batch_last_success_timestamp_seconds", ()) not in samples, "no run has succeeded yet"


def test_success_times_carry_over_a_failed_run():
    first = metrics_text(outcome(0, 0), [JobResult(name, "in", "m", status="ok") for name in NAMES])
    failing = [
        JobResult(NAMES[0], "in", "m", status="ok"),
        *(JobResult(name, "in", "m", status="failed") for name in NAMES[1:]),
    ]
    second = parse_prometheus(metrics_text(outcome(1440, 1), failing, earlier=first))
    yesterday, today = outcome(0, 0).finished.timestamp(), outcome(1440, 1).finished.timestamp()
    assert second[("forecaster_batch_last_success_timestamp_seconds", ())] == yesterday
    assert {
        labels[0][1]: value
        for (name, labels), value in second.items()
        if name == "forecaster_batch_job_last_success_timestamp_seconds"
    } == {NAMES[0]: today, NAMES[1]: yesterday, NAMES[2]: yesterday}


def test_a_shard_labels_its_run_level_series_and_keeps_its_success_time():
    """Every shard's file holds the run-level series: a shard label keeps a collector's samples apart (issue 24)."""
    first = metrics_text(outcome(0, 0), [JobResult(NAMES[0], "in", "m", status="ok")], shard="2/4")
    second = parse_prometheus(
        metrics_text(outcome(1440, 1), [JobResult(NAMES[0], "in", "m", status="failed")], first, shard="2/4")
    )
    shard = ("shard", "2-of-4")
    assert second[("forecaster_batch_run_exit_code", (shard,))] == 1
    assert second[("forecaster_batch_last_success_timestamp_seconds", (shard,))] == outcome(0, 0).finished.timestamp()
    assert second[("forecaster_batch_jobs", (shard, ("status", "failed")))] == 1
    assert {labels for (name, labels) in second if name.startswith("forecaster_batch_run")} == {(shard,)}
    assert (
        second[("forecaster_batch_job_last_success_timestamp_seconds", (("batch_job", NAMES[0]),))]
        == outcome(0, 0).finished.timestamp()
    )


def test_a_run_of_selected_jobs_keeps_the_others_series_and_the_batch_s_success_time():
    """--job runs one job: the others' series stay as the last run left them, and one job's success is not the
    batch's (issue 24: a --job run dropped the others' failing series, clearing their alerts)."""
    first = metrics_text(
        outcome(0, 1), [JobResult(NAMES[0], "in", "m", status="ok"), JobResult(NAMES[1], "in", "m", status="failed")]
    )
    second = parse_prometheus(
        metrics_text(outcome(60, 0), [JobResult(NAMES[0], "in", "m", status="ok")], first, some=True)
    )
    success = {
        labels[0][1]: value for (name, labels), value in second.items() if name == "forecaster_batch_job_success"
    }
    assert success == {NAMES[0]: 1, NAMES[1]: 0}
    assert ("forecaster_batch_last_success_timestamp_seconds", ()) not in second  # no whole run has succeeded yet


def test_a_summary_never_replaces_an_earlier_ones(tmp_path):
    target = tmp_path / "runs" / "summary-2026-03-01.json"
    assert write_new(target, ".json", "first\n", "it") == target
    assert write_new(target, ".json", "second\n", "it") == tmp_path / "runs" / "summary-2026-03-01.1.json"
    assert write_new(target, ".json", "third\n", "it") == tmp_path / "runs" / "summary-2026-03-01.2.json"
    assert target.read_text() == "first\n"
    assert sorted(path.name for path in target.parent.iterdir()) == [
        "summary-2026-03-01.1.json",
        "summary-2026-03-01.2.json",
        "summary-2026-03-01.json",
    ], "no temporary file left"
