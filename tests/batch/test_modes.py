"""`forecaster batch`'s modes as subcommands (run, dry-run, status, rollback, plan-shards), the run the default, and
the old flag spellings (--dry-run, --status, --rollback, --plan-shards, --json) answering as they did (issue 38)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import DATA, FORECASTER, assert_clean_error, invoke, jobs_file

#: small real fits: the tutorial's five rows
SMALL = {"window": 4, "horizon": 1, "hidden_size": 2, "epochs": 2, "members": 1, "refit": "always"}
MODES = ("run", "dry-run", "status", "rollback", "plan-shards")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} ", re.M)


def job(name: str, **settings: object) -> dict:
    return {"name": name, "input": f"{name}.csv", "model": f"models/{name}", "output": f"out/{name}.csv", **settings}


def project(folder: Path, *jobs: dict, **top: object) -> Path:
    for name in ("north", "south"):
        shutil.copy(DATA / "statquest.csv", folder / f"{name}.csv")
    return jobs_file(folder, *(jobs or (job("north"), job("south"))), defaults=SMALL, top=top)


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    """Two jobs run twice today, once by each spelling of the run: summaries for status and plan-shards, and each
    model's previous one for rollback."""
    jobs = project(tmp_path_factory.mktemp("night"), summary="runs/summary-{date}.json")
    for spelling in ((jobs,), ("run", jobs)):
        result = invoke("batch", *spelling)  # in this process, where Lightning is imported already
        assert result.returncode == 0, result.stderr
    return jobs


def test_the_run_is_the_default_mode_and_a_mode_of_its_own(night):
    runs = sorted((night.parent / "runs").iterdir())
    assert len(runs) == 2, "`batch JOBS_FILE` and `batch run JOBS_FILE` each ran and wrote a summary"
    for summary in runs:
        assert {entry["name"]: entry["status"] for entry in json.loads(summary.read_text())["jobs"]} == {
            "north": "ok",
            "south": "ok",
        }
    assert (night.parent / "models" / "north.previous" / "model.json").exists()


def said(result: subprocess.CompletedProcess) -> tuple[int, str, str]:
    """What a command said, its log lines' times left out."""
    return result.returncode, result.stdout, TIMESTAMP.sub("", result.stderr)


@pytest.mark.parametrize(
    "new, old",
    [
        (["dry-run", "{jobs}"], ["{jobs}", "--dry-run"]),
        (["dry-run", "{jobs}", "--json", "--shard", "1/2"], ["{jobs}", "--dry-run", "--json", "--shard", "1/2"]),
        (["dry-run", "{jobs}", "--job", "south"], ["--job", "south", "{jobs}", "--dry-run"]),  # options first too
        (
            ["dry-run", "{jobs}", "--json", "--report", "n.html"],
            ["{jobs}", "--dry-run", "--json", "--report", "n.html"],
        ),
        (["status", "{jobs}"], ["{jobs}", "--status"]),
        (["status", "{jobs}", "--summary", "elsewhere.json"], ["{jobs}", "--status", "--summary", "elsewhere.json"]),
        (["plan-shards", "{jobs}", "2"], ["{jobs}", "--plan-shards", "2"]),
        (["plan-shards", "{jobs}", "0"], ["{jobs}", "--plan-shards", "0"]),
        (["rollback", "{jobs}", "north", "--dry-run"], ["{jobs}", "--rollback", "north", "--dry-run"]),
        (["rollback", "{jobs}", "west", "--dry-run"], ["{jobs}", "--rollback", "west", "--dry-run"]),
    ],
)
def test_each_mode_says_what_its_old_spelling_said(night, new, old):
    spelled = [[str(night) if word == "{jobs}" else word for word in words] for words in (new, old)]
    answers = [said(invoke("batch", *words)) for words in spelled]
    assert answers[0] == answers[1]
    assert answers[0][1] or answers[0][2], "it said something"


def test_a_rollback_in_either_spelling_swaps_the_models_under_the_lock(night):
    model = night.parent / "models" / "north"

    def created() -> tuple[str, str]:
        return tuple(
            json.loads((path / "model.json").read_text())["created"] for path in (model, Path(f"{model}.previous"))
        )

    before = created()
    new = invoke("batch", "rollback", night, "north")
    assert new.returncode == 0 and created() == before[::-1], new.stderr
    assert "INFO job north: rolled back: " in new.stderr
    old = invoke("batch", night, "--rollback", "north")  # undoes it
    assert old.returncode == 0 and created() == before, old.stderr
    assert "INFO job north: rolled back: " in old.stderr


@pytest.mark.parametrize(
    "words, option",
    [
        (["dry-run", "{jobs}", "--workers", "2"], "--workers"),
        (["dry-run", "{jobs}", "--log-file", "batch.log"], "--log-file"),
        (["status", "{jobs}", "--job", "north"], "--job"),
        (["status", "{jobs}", "--dry-run"], "--dry-run"),
        (["plan-shards", "{jobs}", "2", "--shard", "1/2"], "--shard"),
        (["plan-shards", "{jobs}", "2", "--report", "n.html"], "--report"),
        (["status", "{jobs}", "--report", "n.html"], "--report"),
        (["rollback", "{jobs}", "north", "--json"], "--json"),
        (["rollback", "{jobs}", "north", "--summary", "s.json"], "--summary"),
    ],
)
def test_each_mode_takes_only_the_options_that_apply_to_it(tmp_path, words, option):
    jobs = project(tmp_path)
    result = invoke("batch", *(str(jobs) if word == "{jobs}" else word for word in words))
    assert_clean_error(result, f"No such option '{option}'", f"batch {words[0]} --help')")


@pytest.mark.parametrize(
    "words, missing",
    [
        ([], "JOBS_FILE"),
        (["status"], "JOBS_FILE"),
        (["plan-shards", "jobs.toml"], "SHARDS"),
        (["rollback", "jobs.toml"], "JOB..."),
    ],
)
def test_a_mode_without_its_arguments_is_a_usage_error(words, missing):
    assert_clean_error(invoke("batch", *words), f"Missing argument '{missing}'")


def test_the_old_flags_that_do_not_go_together_are_refused_in_their_old_words(tmp_path):
    jobs = project(tmp_path)
    for words, message in [
        (["--json"], "--json prints a dry run's plan of the jobs: give --dry-run, without --rollback"),
        (["--dry-run", "--json", "--rollback", "north"], "give --dry-run, without --rollback"),
        (["--status", "--dry-run"], "--status reads the summaries and runs nothing: give it alone"),
        (["--plan-shards", "2", "--shard", "1/2"], "--plan-shards prints a plan of every job and runs nothing"),
        (["--plan-shards", "2", "--report", "n.html"], "--plan-shards prints a plan of every job and runs nothing"),
    ]:
        assert_clean_error(invoke("batch", jobs, *words), message)


def imported(*args: object) -> tuple[str, str]:
    """What ``forecaster ARGS`` printed, and the modules it imported, as Python's -X importtime lists them."""
    result = subprocess.run(
        [str(FORECASTER), *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout, result.stderr


def test_help_lists_the_modes_and_help_status_and_plan_import_no_torch_and_a_dry_run_no_lightning(night):
    listing, modules = imported("batch", "--help")
    assert [line.split()[0] for line in listing.split("Commands:\n")[1].splitlines()] == list(MODES), listing
    assert not re.search(r"\| +(torch|lightning|pandas)$", modules, re.M)
    for args in (("status", night), ("plan-shards", night, 2)):
        assert not re.search(r"\| +(torch|lightning)$", imported("batch", *args)[1], re.M), args
    rehearsed = imported("batch", "dry-run", night)[1]
    assert re.search(r"\| +torch$", rehearsed, re.M), "a refit's dry run builds its cell"
    assert not re.search(r"\| +lightning$", rehearsed, re.M)


@pytest.mark.parametrize("key", [{"devices": "2"}, {"num_nodes": 2}])
def test_a_dry_run_refuses_a_multi_process_job_as_the_run_does(tmp_path, key):
    """Issue 38, part 5: the dry run said "refit" (and so did the JSON the Airflow DAG is built from) while the run
    failed the job."""
    jobs = project(tmp_path, job("north", **key))
    results = [invoke("batch", *words) for words in (["run", jobs], ["dry-run", jobs], ["dry-run", jobs, "--json"])]
    name = next(iter(key))
    for result in results:
        assert_clean_error(result, f"job 'north': key {name!r} is {key[name]!r}: a batch job trains in one process")
        assert result.stdout == ""
    assert [said(result) for result in results] == [said(results[0])] * 3


def test_a_dry_run_refuses_a_pushgateway_url_the_run_refuses(tmp_path):
    jobs = project(tmp_path)
    url = "ftp://gateway:9091"
    for words in (["run", jobs], ["dry-run", jobs], [jobs, "--dry-run"]):
        assert_clean_error(invoke("batch", *words, "--metrics-push", url), f"--metrics-push {url!r}: give a")


def test_a_ddp_strategy_alone_trains_in_one_process_in_the_run_as_the_dry_run_says(tmp_path):
    """strategy = "ddp" without several devices or nodes is one process: the dry run's "refit" is what the run does."""
    jobs = project(tmp_path, job("north", strategy="ddp"))
    rehearsal = invoke("batch", "dry-run", jobs)
    assert rehearsal.returncode == 0 and " -> refit " in rehearsal.stdout, rehearsal.stderr
    assert invoke("batch", "run", jobs).returncode == 0


def test_a_summary_given_for_one_run_leaves_the_file_s_keep_alone_in_either_spelling(tmp_path):
    jobs = project(tmp_path, keep=3, summary="runs/summary-{date}.json")
    for words in (["dry-run", jobs], [jobs, "--dry-run"]):
        result = invoke("batch", *words, "--summary", tmp_path / "one.json")
        assert result.returncode == 0, result.stderr
        assert f"summary {tmp_path / 'one.json'}" in result.stdout.splitlines()[0]
