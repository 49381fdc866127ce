"""The jobs file: defaults, types, placeholders, globs and refit policies, checked in-process (no training)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import assert_clean_error, invoke, jobs_file
from forecaster.batch.jobs_file import Refit, decide, read_jobs
from forecaster.batch.retention import Keep
from forecaster.batch.selection import Batch, Selection, scheduler_shard, select
from forecaster.errors import BadInput, ForecasterError
from forecaster.model.card import RUN_OPTIONS
from forecaster.options import DEFAULT_FOLDS, FitOptions
from forecaster.training.pipeline import source_sha256

NOW = datetime.datetime(2026, 3, 1, 2, 30, tzinfo=datetime.UTC)
JOB = "[[job]]\nname = 'sales'\ninput = 'sales.csv'\nmodel = 'models/sales'\noutput = 'out/sales-{date}.csv'\n"


def load(tmp_path, text: str) -> Batch:
    path = tmp_path / "jobs.toml"
    path.write_text(text)
    return run_of(path)


def run_of(path: Path, **choice) -> Batch:
    """The run that the command line's ``choice`` makes of the jobs file at ``path``."""
    return select(read_jobs(path, NOW), Selection(**choice))


def test_defaults_apply_a_job_overrides_and_paths_are_relative_to_the_file(tmp_path):
    batch = load(
        tmp_path,
        "summary = 'runs/{date}.json'\n[defaults]\nhorizon = 14\nwindow = 8\nrefit = 'never'\nlr = 1\n"
        + JOB
        + "window = 16\nlevels = [80, 97.5]\ntargets = ['north']\n",
    )
    [job] = batch.jobs
    assert job.options == FitOptions(  # a job: one core, one device
        horizon=14, window=16, lr=1.0, targets=("north",), threads=1, devices="1"
    )
    assert job.refit == Refit("never") and job.levels == (80.0, 97.5)
    assert (job.input, job.model, job.output) == (
        tmp_path / "sales.csv",
        tmp_path / "models/sales",
        tmp_path / "out/sales-2026-03-01.csv",
    )
    assert batch.summary == tmp_path / "runs/2026-03-01.json" and batch.lock == tmp_path / "jobs.toml.lock"


def test_a_glob_is_one_job_per_file_with_its_stem(tmp_path):
    """The stem drops a compression suffix too: b.csv.gz is b."""
    (tmp_path / "in").mkdir()
    for name in ("b.csv.gz", "a.csv"):
        (tmp_path / "in" / name).write_text("x\n1\n")
    batch = load(
        tmp_path,
        "lock = '/run/forecaster.lock'\n[defaults]\nmodel = 'models/{name}/{stem}'\n"
        "[[job]]\nname = 'shops'\ninput = 'in/*.csv*'\noutput = 'out/{stem}-{date:%Y%m%d}.csv'\n",
    )
    assert [(job.name, job.model, job.output) for job in batch.jobs] == [
        ("shops/a", tmp_path / "models/shops/a", tmp_path / "out/a-20260301.csv"),
        ("shops/b", tmp_path / "models/shops/b", tmp_path / "out/b-20260301.csv"),
    ]
    assert str(batch.lock) == "/run/forecaster.lock"


@pytest.mark.parametrize(
    "text, message",
    [
        (JOB + "window = '8'\n", "job 'sales': key 'window': must be an integer, not '8'"),
        (JOB + "window = 0\n", "job 'sales': key 'window' must be at least 1, not 0"),
        (JOB + "epochs = true\n", "job 'sales': key 'epochs': must be an integer, not True"),
        (JOB + "levels = [120]\n", "job 'sales': level 120 is out of range (key 'levels')"),
        (JOB + "levels = [80, 95, 80]\n", "job 'sales': level 80 is given twice (key 'levels')"),
        (JOB + "refit = 'weekly'\n", "job 'sales': key 'refit': 'weekly' is not a policy"),
        (
            JOB + "refit = 'older-than:0d'\n",
            "job 'sales': key 'refit': older-than must be longer than 0 and at most 3650d, not '0d'",
        ),
        # issue 13.5: the bound every duration shares, not an internal error
        (
            JOB + "refit = 'older-than:999999999999999d'\n",
            "key 'refit': older-than must be a duration such as 90s, 30m, 12h or 7d",
        ),
        (
            JOB + "refit = 'older-than:99999d'\n",
            "key 'refit': older-than must be longer than 0 and at most 3650d, not '99999d'",
        ),
        (
            JOB + "timeout = '99999d'\n",
            "job 'sales': key 'timeout' must be longer than 0 and at most 3650d, not '99999d'",
        ),
        (
            JOB + "max_age = '3 days'\n",
            "job 'sales': key 'max_age' must be a duration such as 90s, 30m, 12h or 7d, not '3 days'",
        ),
        ("time_limit = '0s'\n" + JOB, "key 'time_limit' must be longer than 0"),
        # issue 13.5: the numeric checks of the command line's options, from the one definition in FitOptions.check
        (
            JOB + "gradient_clip = -1.0\n",
            "job 'sales': key 'gradient_clip' must be a number of at least 0 (0: no clipping), not -1.0",
        ),
        (JOB + "seed = -1\n", "job 'sales': key 'seed' must be between 0 and 4294967295, not -1"),
        (JOB + "fill = 'zero'\n", "job 'sales': unknown policy 'zero' (key 'fill')"),
        # issue 13.5: placeholders without attribute, index, conversion or format-spec access
        (
            JOB.replace("{date}", "{name.__class__}"),
            "key 'output': placeholders take no attribute, index or position: {name.__class__}",
        ),
        (
            JOB.replace("{date}", "{name[0]}"),
            "key 'output': placeholders take no attribute, index or position: {name[0]}",
        ),
        (JOB.replace("{date}", "{}"), "key 'output': placeholders take no attribute, index or position: {}"),
        (JOB.replace("{date}", "{name!r}"), "key 'output': {name} takes no conversion"),
        (
            JOB.replace("{date}", "{stem:>10}"),
            "key 'output': {stem} takes no format; only {date} takes a strftime format",
        ),
        (JOB.replace("{date}", "{date:%Q}"), "key 'output': {date:%Q} is not a strftime format"),
        (JOB.replace("{date}", "{date:%x}"), "key 'output': {date:%x} is not a strftime format"),
        (JOB.replace("{date}", "{date:{name}}"), "key 'output': {date:{name}} is not a strftime format"),
        (JOB.replace("{date}", "{date"), "key 'output': cannot read 'out/sales-{date.csv'"),
        (
            JOB + "latest = 'out/latest-{date}.csv'\n",
            "job 'sales': key 'latest': unknown placeholder {date}; it may use {name}, {stem}",
        ),
        (
            JOB.replace("-{date}", "") + "latest = 'out/sales.csv'\n",
            "job 'sales': key 'latest': " + "{tmp}/out/sales.csv is the output itself",
        ),
        (JOB + "latest = '{name}-{date:%Y}.csv'\n", "key 'latest': unknown placeholder {date}"),
        (  # issue 38: the dry run said "refit" and the run failed the job
            JOB + "devices = '2'\n",
            "job 'sales': key 'devices' is '2': a batch job trains in one process, on one device; leave it out",
        ),
        (JOB + "num_nodes = 2\n", "job 'sales': key 'num_nodes' is 2: a batch job trains in one process"),
        (JOB + "folds = 2\n", "job 'sales': key 'folds' sets the backtest's origins: give key 'backtest'"),
        (JOB + "backtest = 'cv/{name}.csv'\nstep = 0\n", "job 'sales': key 'step' must be at least 1, not 0"),
        (JOB + "backtest = 'cv/{name}.csv'\nfolds = 0\n", "job 'sales': key 'folds' must be at least 1, not 0"),
        (JOB + "backtest = 'cv/{hour}.csv'\n", "job 'sales': key 'backtest': unknown placeholder {hour}"),
        (
            JOB.replace("-{date}", "") + "backtest = 'out/sales.csv'\n",
            "job 'sales': key 'backtest': " + "{tmp}/out/sales.csv is the output itself",
        ),
        (
            JOB
            + "backtest = 'cv.csv'\n"
            + JOB.replace("name = 'sales'", "name = 'copy'").replace("sales", "copy")
            + "backtest = 'cv.csv'\n",
            "jobs 'sales' and 'copy' both write the backtest",
        ),
        (JOB + "allow_shrink = 'yes'\n", "job 'sales': key 'allow_shrink': must be true or false, not 'yes'"),
        (JOB + "keep = 0\n", "job 'sales': key 'keep' must be at least 1"),
        (JOB + "keep = 1.5\n", "job 'sales': key 'keep': must be an integer or a string, not 1.5"),
        (JOB.replace("-{date}", "") + "keep = 3\n", "job 'sales': key 'keep': the output path has no {date}"),
        ("keep = 3\nsummary = 'summary.json'\n" + JOB, "key 'keep': the summary path has no {date}"),
        (
            JOB + "time_col = 'day'\ndate_col = 'day'\n",
            "job 'sales': keys 'time_col' and 'date_col' name the same option; give one",
        ),
        (JOB + "time_cl = 'day'\n", "unknown key 'time_cl' (did you mean 'time_col'?)"),
        (JOB + "scaler = 'log'\n", "job 'sales': unknown scaler 'log' (key 'scaler')"),
        (
            JOB.replace("{date}", "{day}"),
            "job 'sales': key 'output': unknown placeholder {day}; it may use {date}, {name}, {stem}",
        ),
        (
            JOB.replace("sales.csv", "{stem}.csv"),
            "job 'sales': key 'input': unknown placeholder {stem}; it may use {date}, {name}",
        ),
        (JOB + JOB, "job 'sales': a second job of this name"),
        (JOB + JOB.replace("name = 'sales'", "name = 'copy'"), "jobs 'sales' and 'copy' both write the model"),
        ("[defaults]\nname = 'x'\n" + JOB, "[defaults]: unknown key 'name'"),
        ("summary = 3\n" + JOB, "key 'summary': must be a string, not 3"),
        ("[[job]]\ninput = 'a.csv'\n", "job 1: missing key 'name'"),
        (JOB.replace("'models/sales'", "''"), "job 'sales': empty key 'model'"),
        ("", "no jobs: add a [[job]] table"),
    ],
)
def test_mistakes_name_the_file_the_job_and_the_key(tmp_path, text, message):
    with pytest.raises(BadInput) as error:
        load(tmp_path, text)
    assert str(error.value).startswith(f"{tmp_path / 'jobs.toml'}: ")
    assert message.replace("{tmp}", str(tmp_path)) in str(error.value)


def test_summary_given_for_one_run_leaves_the_file_s_keep_alone(tmp_path):
    """Issue 38: --summary with a file whose keep prunes its dated summaries was refused as if the file were bad."""
    text = "keep = 3\nsummary = 'runs/summary-{date}.json'\n" + JOB
    assert load(tmp_path, text).keep == Keep.parse(3, "keep")
    (tmp_path / "jobs.toml").write_text(text)
    batch = run_of(tmp_path / "jobs.toml", summary=str(tmp_path / "one.json"))
    assert (batch.summary, batch.keep, batch.summaries) == (tmp_path / "one.json", None, None)


@pytest.mark.parametrize(
    "top, choice, message",
    [
        ("keep = 3\nsummary = 'runs/summary.json'\n", {"summary": "one.json"}, "key 'keep': the summary path has no"),
        ("keep = 'often'\nsummary = 'runs/{date}.json'\n", {"summary": "one.json"}, "key 'keep'"),
        ("summary = 'runs/{day}.json'\n", {"summary": "one.json"}, "key 'summary': unknown placeholder {day}"),
        ("time_limit = 'soon'\n", {"time_limit": "2h"}, "key 'time_limit' must be a duration"),
    ],
)
def test_a_file_wrong_on_its_own_is_refused_whatever_the_command_line_replaces(tmp_path, top, choice, message):
    """The file is read apart from the command line: a setting a run's option replaces is still the file's, which
    tomorrow's run without that option reads."""
    (tmp_path / "jobs.toml").write_text(top + JOB)
    with pytest.raises(BadInput, match=re.escape(f"{tmp_path / 'jobs.toml'}: {message}")):
        run_of(tmp_path / "jobs.toml", **choice)


def test_a_job_s_backtest_keys(tmp_path):
    """The backtest's path is a template like the output's; folds default to the command line's, step to the
    horizon (None here)."""
    sales, other = load(
        tmp_path,
        JOB + "backtest = 'cv/{name}-{date:%Y%m%d}.csv'\nfolds = 5\nstep = 2\n" + JOB.replace("sales", "other"),
    ).jobs
    assert (sales.backtest, sales.folds, sales.step) == (tmp_path / "cv/sales-20260301.csv", 5, 2)
    assert (other.backtest, other.folds, other.step) == (None, DEFAULT_FOLDS, None)


def test_time_col_is_date_col_as_on_the_command_line(tmp_path):
    [job] = load(tmp_path, "[defaults]\ntime_col = 'week'\n" + JOB).jobs
    assert job.options.date_col == "week"
    [job] = load(tmp_path, "[defaults]\ntime_col = 'week'\n" + JOB + "date_col = 'day'\n").jobs
    assert job.options.date_col == "day", "the job's own key wins over [defaults], whichever name each uses"


def test_every_new_key_and_its_defaults(tmp_path):
    batch = load(
        tmp_path,
        "time_limit = '2h'\nkeep = 30\nsummary = 'runs/{date}.json'\n"
        "[defaults]\ntimeout = '30m'\nmax_age = '3d'\n"
        + JOB
        + "allow_shrink = true\nkeep = '14d'\nlatest = 'out/{name}-latest.csv'\n"
        + JOB.replace("sales", "other"),
    )
    sales, other = batch.jobs
    assert (sales.timeout, sales.max_age, sales.allow_shrink, sales.keep) == (
        datetime.timedelta(minutes=30),
        datetime.timedelta(days=3),
        True,
        Keep(age=datetime.timedelta(days=14)),
    )
    assert sales.latest == tmp_path / "out" / "sales-latest.csv" and other.latest is None
    assert (other.allow_shrink, other.keep, other.timeout) == (False, None, datetime.timedelta(minutes=30))
    assert batch.time_limit == datetime.timedelta(hours=2) and batch.keep == Keep(count=30)
    assert run_of(tmp_path / "jobs.toml", time_limit="90s").time_limit == datetime.timedelta(seconds=90), (
        "--time-limit wins"
    )
    with pytest.raises(BadInput, match=r"^--time-limit must be longer than 0 and at most 3650d, not '0m'$"):
        run_of(tmp_path / "jobs.toml", time_limit="0m")


def test_paths_are_absolute_whatever_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "jobs.toml").write_text("summary = 'runs/{date}.json'\n" + JOB)
    monkeypatch.chdir(tmp_path)
    batch = run_of(Path("etc/jobs.toml"), metrics="batch.prom")
    [job] = batch.jobs
    assert all(
        path.is_absolute()
        for path in (batch.path, batch.summary, batch.lock, batch.metrics, job.input, job.model, job.output)
    )
    assert batch.metrics == tmp_path / "batch.prom" and job.input == tmp_path / "etc" / "sales.csv"


def test_shards_cover_every_job_exactly_once_and_keep_their_jobs(tmp_path):
    """Each job lands on one shard by its name alone: adding jobs moves none of the others."""

    def shards(count: int, jobs: int) -> list[list[str]]:
        path = tmp_path / "jobs.toml"
        path.write_text(
            "summary = 'runs/summary-{date}.json'\n" + "".join(JOB.replace("sales", f"job{n}") for n in range(jobs))
        )
        return [[job.name for job in run_of(path, shard=f"{k}/{count}").jobs] for k in range(1, count + 1)]

    split = shards(4, 40)
    names = sorted(name for shard in split for name in shard)
    assert names == sorted(f"job{n}" for n in range(40)), "every job in exactly one shard"
    assert all(split), f"40 jobs over 4 shards leave none empty: {split}"
    grown = shards(4, 60)
    assert all(set(before) <= set(after) for before, after in zip(split, grown, strict=True))
    assert shards(1, 5) == [[f"job{n}" for n in range(5)]]


def test_a_shard_has_its_own_lock_summary_and_metrics(tmp_path):
    path = tmp_path / "jobs.toml"
    path.write_text("summary = 'runs/summary-{date}.json'\n" + JOB)
    batch = run_of(path, shard="2/3", metrics=str(tmp_path / "batch.prom"))
    assert (batch.lock, batch.summary, batch.metrics, batch.shard) == (
        tmp_path / "jobs.toml.shard-2-of-3.lock",
        tmp_path / "runs" / "summary-2026-03-01.shard-2-of-3.json",
        tmp_path / "batch.shard-2-of-3.prom",
        "2/3",
    )
    for wrong in ("0/3", "4/3", "2", "a/b", "1/0"):
        with pytest.raises(BadInput, match="--shard must be K/N with 1 <= K <= N"):
            run_of(path, shard=wrong)


def write_model(tiny_model, directory, created: str, source_sha256: str | None = None, **changes) -> None:
    """A real model directory at ``directory``, created at ``created``, fitted as a job with the default options
    asks."""
    shutil.copytree(tiny_model, directory)
    metadata = json.loads((directory / "model.json").read_text())
    requested = {
        name: list(value) if isinstance(value, tuple) else value
        for name, value in dataclasses.asdict(FitOptions()).items()
        if name not in RUN_OPTIONS
    }
    metadata.update(created=created, requested=requested, **changes)
    metadata["training"]["source_sha256"] = source_sha256
    (directory / "model.json").write_text(json.dumps(metadata))


@pytest.mark.parametrize(
    "policy, created, recorded, refit, reason",
    [
        ("always", "2026-03-01T02:00:00+00:00", "same", True, "refit is 'always'"),
        ("never", "2000-01-01T00:00:00+00:00", None, False, "refit is 'never'"),
        ("if-data-changed", "2026-03-01T02:00:00+00:00", "same", False, "the input is unchanged"),
        ("if-data-changed", "2026-03-01T02:00:00+00:00", "0" * 64, True, "the input changed"),
        ("if-data-changed", "2026-03-01T02:00:00+00:00", None, True, "the saved model records no hash of its input"),
        ("older-than:7d", "2026-02-20T02:30:00+00:00", None, True, "the model is 9.0 days old (older-than:7d)"),
        ("older-than:7d", "2026-02-25T02:30:00+00:00", None, False, "the model is 4.0 days old (older-than:7d)"),
        ("older-than:12h", "2026-03-01T00:30:00", None, False, "the model is 2.0 hours old (older-than:12h)"),
    ],
)
def test_refit_decisions(tmp_path, tiny_model, policy, created, recorded, refit, reason):
    (tmp_path / "sales.csv").write_text("x\n1\n")
    [job] = load(tmp_path, JOB + f"refit = '{policy}'\n").jobs
    write_model(tiny_model, job.model, created, source_sha256(job.input) if recorded == "same" else recorded)
    decision = decide(job, NOW)
    assert (decision.refit, decision.reason) == (refit, reason)


def test_refit_when_the_options_differ_from_the_saved_model(tmp_path, tiny_model):
    (tmp_path / "sales.csv").write_text("x\n1\n")
    [job] = load(tmp_path, JOB + "refit = 'older-than:7d'\nhidden_size = 8\ncell = 'gru'\naccelerator = 'cpu'\n").jobs
    write_model(tiny_model, job.model, "2026-03-01T02:00:00+00:00")
    assert decide(job, NOW).reason == "the fit options changed (cell 'lstm' -> 'gru', hidden_size 32 -> 8)"


def test_refit_when_the_job_picks_other_series(tmp_path, tiny_model):
    (tmp_path / "sales.csv").write_text("x\n1\n")
    [job] = load(tmp_path, JOB + "refit = 'older-than:7d'\ntargets = ['north']\ndate_col = 'day'\n").jobs
    write_model(tiny_model, job.model, "2026-03-01T02:00:00+00:00")
    assert decide(job, NOW).reason == "the fit options changed (date_col None -> 'day', targets [] -> ['north'])"


@pytest.mark.parametrize("policy", ["if-data-changed", "older-than:7d"])
def test_a_model_of_an_earlier_format_or_unreadable_is_refitted(tmp_path, tiny_model, policy):
    """A model.json batch cannot read, such as one written before format 2, is a reason to refit, not a crash."""
    (tmp_path / "sales.csv").write_text("x\n1\n")
    [job] = load(tmp_path, JOB + f"refit = '{policy}'\n").jobs
    write_model(tiny_model, job.model, "2026-03-01T02:00:00+00:00", format_version=1)
    decision = decide(job, NOW)
    assert decision.refit and decision.reason.startswith(
        f"the saved model is unusable ({job.model / 'model.json'}: format_version 1: written by an earlier forecaster"
    ), decision.reason
    write_model(tiny_model, tmp_path / "models" / "deep", "2026-03-01T02:00:00+00:00")
    (tmp_path / "models" / "deep" / "model.json").write_text("[" * 100_000)
    [deep] = load(tmp_path, JOB.replace("models/sales", "models/deep") + f"refit = '{policy}'\n").jobs
    assert (
        decide(deep, NOW).reason.startswith("the saved model is unusable (")
        and "nested 100000 levels deep" in decide(deep, NOW).reason
    )
    [never] = load(tmp_path, JOB + "refit = 'never'\n").jobs
    with pytest.raises(ForecasterError, match=r"written by an earlier forecaster.*, and refit is 'never'"):
        decide(never, NOW)


def test_no_model_is_fitted_unless_refit_is_never(tmp_path):
    (tmp_path / "sales.csv").write_text("x\n1\n")
    [job] = load(tmp_path, JOB).jobs
    assert decide(job, NOW).reason == "no saved model yet"
    [never] = load(tmp_path, JOB + "refit = 'never'\n").jobs
    with pytest.raises(ForecasterError, match="models/sales: no such model directory, and refit is 'never'"):
        decide(never, NOW)


def test_the_summary_option_takes_the_date_too_and_replaces_the_files(tmp_path):
    path = tmp_path / "jobs.toml"
    path.write_text("summary = 'runs/{date}.json'\n" + JOB)
    assert run_of(path).summary == tmp_path / "runs" / "2026-03-01.json"
    assert run_of(path, summary="/var/log/batch-{date:%Y%m%d}.json").summary == Path("/var/log/batch-20260301.json")


def test_a_job_trains_on_one_core_unless_its_threads_key_says_more(tmp_path):
    (tmp_path / "a.csv").write_text("day,v\n2024-01-01,1\n")
    files = {"input": "a.csv", "model": "{name}", "output": "{name}.csv"}
    path = jobs_file(tmp_path, {"name": "one", **files}, {"name": "two", **files, "threads": 2})
    one, two = run_of(path).jobs
    assert (one.options.threads, two.options.threads) == (1, 2)


def test_covariate_keys_are_the_command_lines_options(tmp_path):
    batch = load(
        tmp_path,
        "[defaults]\ncalendar = false\nholidays = 'AU-VIC'\n"
        + JOB
        + "targets = ['demand']\npast = ['temperature']\nfuture = ['workday', 'forecast_temperature']\n",
    )
    [job] = batch.jobs
    assert (job.options.past, job.options.future, job.options.calendar, job.options.holidays) == (
        ("temperature",),
        ("workday", "forecast_temperature"),
        False,
        "AU-VIC",
    )
    with pytest.raises(BadInput, match="column 'temperature' is given as key 'past' and as key 'future'"):
        load(tmp_path, JOB + "past = ['temperature']\nfuture = ['temperature']\n")


@pytest.mark.parametrize(
    "environment, shard",
    [
        ({"JOB_COMPLETION_INDEX": "0", "JOB_COMPLETION_COUNT": "4"}, "1/4"),
        ({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"}, "3/4"),
        ({"SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_MAX": "13"}, "3/4"),
        (  # --array=0-12:4
            {
                "SLURM_ARRAY_TASK_ID": "4",
                "SLURM_ARRAY_TASK_MIN": "0",
                "SLURM_ARRAY_TASK_MAX": "12",
                "SLURM_ARRAY_TASK_COUNT": "4",
                "SLURM_ARRAY_TASK_STEP": "4",
            },
            "2/4",
        ),
    ],
)
def test_shard_auto_reads_the_schedulers_index_and_says_which(environment, shard):
    found, source = scheduler_shard(environment)
    assert found == shard and source.startswith(next(iter(environment)))


@pytest.mark.parametrize(
    "environment, message",
    [
        ({}, "no scheduler's index in the environment"),
        ({"JOB_COMPLETION_INDEX": "2"}, "JOB_COMPLETION_COUNT must be a whole number, not ''"),
        ({"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "4"}, "SLURM_ARRAY_TASK_ID must be a whole number"),
        (  # --array=1,3,5: no K follows from the bounds
            {
                "SLURM_ARRAY_TASK_ID": "3",
                "SLURM_ARRAY_TASK_MIN": "1",
                "SLURM_ARRAY_TASK_MAX": "5",
                "SLURM_ARRAY_TASK_COUNT": "3",
            },
            "a SLURM array of 3 tasks from 1 to 5 is not an even range",
        ),
    ],
)
def test_shard_auto_without_a_schedulers_index_is_refused(environment, message):
    with pytest.raises(BadInput, match=re.escape(message)):
        scheduler_shard(environment)


@pytest.mark.parametrize(
    "nested, depth",
    [
        ("a = " + "[" * 100_000 + "]" * 100_000, "100,000"),
        ("a = " + "{b = " * 100_000 + "1" + "}" * 100_000, "100,000"),
        ("a" + ".a" * 100_000 + " = 1", "100,001"),
        ("[" + ".".join(["a"] * 100_000) + "]\nb = 1", "100,000"),
        ('"a".b' + '."c.d"' * 30 + " = 1", "32"),
    ],
    ids=["arrays", "inline-tables", "dotted-key", "table-header", "quoted-parts"],
)
def test_a_jobs_file_nested_too_deep_is_refused_by_its_depth_before_it_is_parsed(tmp_path, nested, depth):
    """Python's TOML reader recurses into arrays and tables (RecursionError at 100,000 levels) and holds every prefix
    of a dotted key (a 100,000-part key ran out of memory): the depth is counted first, outside strings and
    comments."""
    with pytest.raises(BadInput) as refused:
        load(tmp_path, nested + "\n" + JOB)
    assert str(refused.value) == (
        f"{tmp_path / 'jobs.toml'}: its arrays, tables or dotted keys nest {depth} levels deep, and a jobs file nests "
        "at most 16"
    )


def test_brackets_and_dots_in_strings_and_comments_are_not_nesting(tmp_path):
    strings = "# [[[[[[[[[[[[[[[[[[ a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q\n" + JOB.replace(
        "'sales.csv'", "'''[[[[[[[[[[[[[[[[[[a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q'''"
    ).replace("'sales'", '"{{{{{{{{{{{{{{{{{{ \\" x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n"')
    [job] = load(tmp_path, strings + "limits = {rows = 5}\nholidays = 'US'\n").jobs
    assert job.input.name.startswith("[[[[") and job.limits.rows == 5


def test_a_huge_jobs_file_is_refused_by_its_size_unread(tmp_path):
    with pytest.raises(BadInput, match=r"jobs.toml: more than the 4,194,304 bytes a jobs file may have$"):
        load(tmp_path, JOB + "# " + "x" * 4 * 2**20 + "\n")


def test_batch_dry_run_refuses_a_deep_jobs_file_in_one_line(tmp_path):
    path = tmp_path / "jobs.toml"
    path.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n" + JOB)
    assert_clean_error(invoke("batch", path, "--dry-run"), str(path), "nest 100,000 levels deep")
