"""The batch run's records: summaries that never replace one another, metrics by the Prometheus text-format rules."""

from __future__ import annotations

import datetime

import pytest

from conftest import parse_prometheus
from forecaster.batch.balance import read_plan
from forecaster.batch.summary import FORMAT_VERSION as SUMMARY_FORMAT
from forecaster.batch.summary import (
    JobResult,
    Outcome,
    metrics_text,
    read_metrics,
    read_summary,
    summary_document,
    write_summary,
)
from forecaster.errors import BadInput
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


def _outcome() -> Outcome:
    start = datetime.datetime(2026, 3, 1, 2, 30, tzinfo=datetime.UTC)
    return Outcome(start, start + datetime.timedelta(seconds=5), "ok", 0)


def test_the_summary_carries_its_format_and_its_one_reader_reads_it_back(tmp_path):
    document = summary_document(tmp_path / "jobs.toml", None, 1, None, _outcome(), [JobResult("a", "in.csv", "m")])
    assert document["format_version"] == SUMMARY_FORMAT
    written = write_summary(tmp_path / "summary.json", ".json", document)
    assert [entry["name"] for entry in read_summary(written)] == ["a"]


@pytest.mark.parametrize(
    "text, refusal",
    [
        ('{"format_version": 2, "jobs": []}', "format_version 2: a summary of a newer forecaster"),
        ('{"format_version": "1", "jobs": []}', "is not a summary format this forecaster knows"),
        ('{"jobs": [{"name": "a"}]}', "not a summary forecaster batch wrote (its jobs, each with a name and a status)"),
        ("[1, 2]", "not a summary forecaster wrote (not a JSON object)"),
        ('{"jobs": ' + "[" * 50 + "]" * 50 + "}", "nested 51 levels deep"),
    ],
)
def test_a_file_that_is_not_a_summary_of_this_format_is_refused_naming_it(tmp_path, text, refusal):
    path = tmp_path / "summary.json"
    path.write_text(text)
    with pytest.raises(BadInput) as refused:
        read_summary(path)
    assert str(refused.value).startswith(f"{path}: ") and refusal in str(refused.value)


def test_a_summary_without_a_format_version_is_read_as_the_first(tmp_path):
    """Summaries written before they said their format are format 1: today's earlier runs stay readable."""
    path = tmp_path / "summary.json"
    path.write_text('{"jobs": [{"name": "a", "status": "ok", "seconds": 3}]}')
    assert read_summary(path) == [{"name": "a", "status": "ok", "seconds": 3}]


def test_a_shard_plan_of_a_newer_format_is_refused(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text('{"format_version": 9, "shards": 2, "jobs": {"a": 1}}')
    with pytest.raises(BadInput, match=r"--shard-plan .*plan\.json: format_version 9: a shard plan of a newer"):
        read_plan(path, 2)
    path.write_text('{"shards": 2, "jobs": {"a": 1}}')  # written before plans said their format
    assert read_plan(path, 2) == {"a": 1}


def test_the_metrics_file_says_its_format_and_a_newer_one_is_refused(tmp_path):
    text = metrics_text(_outcome(), [JobResult("a", "in.csv", "m", status="ok")])
    assert text.startswith("# forecaster batch metrics, format 1\n")
    path = tmp_path / "metrics.prom"
    path.write_text(text.replace("format 1", "format 2"))
    with pytest.raises(BadInput, match="metrics of format 2, of a newer forecaster"):
        read_metrics(path)
    path.write_text(text)
    assert read_metrics(path) == text
