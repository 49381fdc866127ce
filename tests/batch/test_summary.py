"""The batch run's records: summaries that never replace one another, metrics by the Prometheus text-format rules."""

from __future__ import annotations

import datetime

import pytest

from conftest import parse_prometheus
from forecaster.batch.balance import read_plan
from forecaster.batch.summary import FORMAT_VERSION as SUMMARY_FORMAT
from forecaster.batch.summary import (
    PREFIX,
    JobResult,
    Outcome,
    Scope,
    metrics_files,
    metrics_text,
    read_metrics,
    read_summary,
    summary_document,
    write_metrics,
    write_summary,
)
from forecaster.errors import BadInput
from forecaster.runtime import files
from forecaster.runtime.files import write_new

START = datetime.datetime(2026, 3, 1, 2, 30, tzinfo=datetime.UTC)
#: names a jobs file may give: a glob job's, and one with every character the format escapes
NAMES = ["stocks", "shops/north", 'odd "name" \\ with\na line feed']


def outcome(minutes: int, exit_code: int) -> Outcome:
    started = START + datetime.timedelta(days=minutes // 1440, minutes=minutes % 1440)
    return Outcome(started, started + datetime.timedelta(seconds=42.5), "ok" if exit_code == 0 else "failed", exit_code)


SCOPE = Scope("retail", jobs=tuple(NAMES))
#: the labels every series of SCOPE carries, before its own
RETAIL = (("project", "retail"), ("shard", "none"))


def per_job(samples: dict, name: str) -> dict[str, float]:
    """The job label -> value of the samples of ``forecaster_batch_<name>``."""
    return {dict(labels)["batch_job"]: value for (found, labels), value in samples.items() if found == PREFIX + name}


def test_metrics_follow_the_text_format_and_name_every_job_exactly():
    results = [
        JobResult(NAMES[0], "in", "m", status="ok", refitted=True, seconds=3.25),
        JobResult(NAMES[1], "in", "m", status="ok", refitted=False, seconds=1.0),
        JobResult(NAMES[2], "in", "m", status="timed out", refitted=True, seconds=60.0),
    ]
    samples = parse_prometheus(metrics_text(outcome(0, 1), results, SCOPE))
    assert samples[("forecaster_batch_run_start_timestamp_seconds", RETAIL)] == START.timestamp()
    assert samples[("forecaster_batch_run_duration_seconds", RETAIL)] == 42.5
    assert samples[("forecaster_batch_run_exit_code", RETAIL)] == 1
    assert samples[("forecaster_batch_jobs", (*RETAIL, ("status", "ok")))] == 2
    assert samples[("forecaster_batch_jobs", (*RETAIL, ("status", "timed_out")))] == 1  # label values without spaces
    assert samples[("forecaster_batch_jobs", (*RETAIL, ("status", "not_started")))] == 0
    assert all(labels[:2] == RETAIL for _, labels in samples), "every series names its project and shard"
    assert per_job(samples, "job_success") == {NAMES[0]: 1, NAMES[1]: 1, NAMES[2]: 0}, "names come back exactly"
    assert per_job(samples, "job_refitted") == {NAMES[0]: 1, NAMES[1]: 0, NAMES[2]: 0}, "a refit counts once in place"
    assert ("forecaster_batch_last_success_timestamp_seconds", RETAIL) not in samples, "a job has never succeeded"


def test_success_times_carry_over_a_failed_run():
    first = metrics_text(outcome(0, 0), [JobResult(name, "in", "m", status="ok") for name in NAMES], SCOPE)
    failing = [
        JobResult(NAMES[0], "in", "m", status="ok"),
        *(JobResult(name, "in", "m", status="failed") for name in NAMES[1:]),
    ]
    second = parse_prometheus(metrics_text(outcome(1440, 1), failing, SCOPE, earlier=first))
    yesterday, today = outcome(0, 0).finished.timestamp(), outcome(1440, 1).finished.timestamp()
    assert second[("forecaster_batch_last_success_timestamp_seconds", RETAIL)] == yesterday, "every job since then"
    assert per_job(second, "job_last_success_timestamp_seconds") == {
        NAMES[0]: today,
        NAMES[1]: yesterday,
        NAMES[2]: yesterday,
    }


def test_a_shard_labels_every_series_and_keeps_its_success_time():
    """Every shard's file holds the run-level series and its jobs': a shard label keeps a collector's samples
    apart (issue 24; the jobs' too since issue 38, after a --job rerun or a change of the shard count)."""
    scope = Scope("retail", "2/4", (NAMES[0],))
    first = metrics_text(outcome(0, 0), [JobResult(NAMES[0], "in", "m", status="ok")], scope)
    second = parse_prometheus(
        metrics_text(outcome(1440, 1), [JobResult(NAMES[0], "in", "m", status="failed")], scope, first)
    )
    shard = (("project", "retail"), ("shard", "2-of-4"))
    assert second[("forecaster_batch_run_exit_code", shard)] == 1
    assert second[("forecaster_batch_last_success_timestamp_seconds", shard)] == outcome(0, 0).finished.timestamp()
    assert second[("forecaster_batch_jobs", (*shard, ("status", "failed")))] == 1
    assert {labels[:2] for labels in (labels for _, labels in second)} == {shard}
    assert (
        second[("forecaster_batch_job_last_success_timestamp_seconds", (*shard, ("batch_job", NAMES[0])))]
        == outcome(0, 0).finished.timestamp()
    )


def test_the_batch_s_success_is_the_union_of_its_runs():
    """Issue 38: --job runs (a task a job) keep the others' series, and once each job has succeeded in one run or
    another the batch has; until then it has not (a job never run keeps it from it)."""
    whole = metrics_text(
        outcome(0, 1),
        [JobResult(NAMES[0], "in", "m", status="ok"), JobResult(NAMES[1], "in", "m", status="failed")],
        SCOPE,
    )
    first = metrics_text(outcome(60, 0), [JobResult(NAMES[1], "in", "m", status="ok")], SCOPE, whole, some=True)
    samples = parse_prometheus(first)
    assert per_job(samples, "job_success") == {NAMES[0]: 1, NAMES[1]: 1}
    assert ("forecaster_batch_last_success_timestamp_seconds", RETAIL) not in samples, f"{NAMES[2]} never ran"
    second = parse_prometheus(
        metrics_text(outcome(120, 0), [JobResult(NAMES[2], "in", "m", status="ok")], SCOPE, first, some=True)
    )
    assert per_job(second, "job_success") == dict.fromkeys(NAMES, 1)
    assert second[("forecaster_batch_last_success_timestamp_seconds", RETAIL)] == outcome(0, 1).finished.timestamp()


def test_a_job_s_last_success_is_the_newest_of_the_project_s_files_and_no_other_project_s():
    """A rerun's file beside a shard's (or a file of the shard count before) renews a job's last success; a file of
    another project (another host's, the same path) does not, nor does a value that is not a number."""
    scope = Scope("retail", "1/2", (NAMES[0],))
    rerun = metrics_text(outcome(600, 0), [JobResult(NAMES[0], "in", "m", status="ok")], Scope("retail", None))
    later = metrics_text(outcome(900, 0), [JobResult(NAMES[0], "in", "m", status="ok")], Scope("other", None))
    broken = rerun.replace(str(int(outcome(600, 0).finished.timestamp())), "soon")
    failed = [JobResult(NAMES[0], "in", "m", status="failed")]
    samples = parse_prometheus(metrics_text(outcome(1440, 1), failed, scope, "", [rerun, later]))
    shard = (("project", "retail"), ("shard", "1-of-2"))
    assert samples[("forecaster_batch_last_success_timestamp_seconds", shard)] == outcome(600, 0).finished.timestamp()
    alone = parse_prometheus(metrics_text(outcome(1440, 1), failed, scope, "", [later, broken]))
    assert ("forecaster_batch_last_success_timestamp_seconds", shard) not in alone


def test_a_whole_run_removes_its_project_s_metrics_files_of_other_shard_counts(tmp_path):
    """Issue 38: the files of a shard count no longer run would serve their series for ever; another project's, or
    anything else, stay."""
    base = tmp_path / "forecaster.prom"
    scope = Scope("retail", "1/2", (NAMES[0],))
    ok = [JobResult(NAMES[0], "in", "m", status="ok")]
    for shard in ("1/3", "2/3", "2/2", None):
        files.write_atomic(
            base if shard is None else _tagged(base, shard),
            metrics_text(outcome(0, 0), ok, Scope("retail", shard)),
            "it",
        )
    theirs = _tagged(base, "3/3")
    theirs.write_text(metrics_text(outcome(0, 0), ok, Scope("other", "3/3")))
    (tmp_path / "forecaster.shard-1-of-3.prom.bak").write_text("kept\n")
    _, removed = write_metrics(_tagged(base, "1/2"), base, outcome(1440, 0), ok, scope, some=True)
    assert removed == [] and len(metrics_files(base)) == 6, "a --job run removes nothing"
    _, removed = write_metrics(_tagged(base, "1/2"), base, outcome(1440, 0), ok, scope)
    assert sorted(path.name for path in removed) == [
        "forecaster.prom",
        "forecaster.shard-1-of-3.prom",
        "forecaster.shard-2-of-3.prom",
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "forecaster.shard-1-of-2.prom",
        "forecaster.shard-1-of-3.prom.bak",
        "forecaster.shard-2-of-2.prom",
        "forecaster.shard-3-of-3.prom",
    ]


def _tagged(base, shard: str):
    number, count = shard.split("/")
    return base.with_name(f"{base.stem}.shard-{number}-of-{count}{base.suffix}")


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
    document = summary_document(tmp_path / "jobs.toml", SCOPE, 1, None, _outcome(), [JobResult("a", "in.csv", "m")])
    assert document["format_version"] == SUMMARY_FORMAT
    written = write_summary(tmp_path / "summary.json", ".json", document)
    assert [entry["name"] for entry in read_summary(written)["jobs"]] == ["a"]


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
    assert read_summary(path)["jobs"] == [{"name": "a", "status": "ok", "seconds": 3}]


def test_a_shard_plan_of_a_newer_format_is_refused(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text('{"format_version": 9, "shards": 2, "jobs": {"a": 1}}')
    with pytest.raises(BadInput, match=r"--shard-plan .*plan\.json: format_version 9: a shard plan of a newer"):
        read_plan(path, 2)
    path.write_text('{"shards": 2, "jobs": {"a": 1}}')  # written before plans said their format
    assert read_plan(path, 2) == {"a": 1}


def test_the_metrics_file_says_its_format_and_a_newer_one_is_refused(tmp_path):
    text = metrics_text(_outcome(), [JobResult("a", "in.csv", "m", status="ok")], SCOPE)
    assert text.startswith("# forecaster batch metrics, format 2\n")
    path = tmp_path / "metrics.prom"
    path.write_text(text.replace("format 2", "format 3"))
    with pytest.raises(BadInput, match="metrics of format 3, of a newer forecaster"):
        read_metrics(path)
    path.write_text(text)
    assert read_metrics(path) == text
