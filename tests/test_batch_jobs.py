"""The jobs file: defaults, types, placeholders, globs and refit policies, checked in-process (no training)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from forecaster.errors import BadInput, ForecasterError
from forecaster.fitting import source_sha256
from forecaster.jobs import Refit, decide, load_jobs
from forecaster.options import FitOptions

DAY = datetime.date(2026, 3, 1)
NOW = datetime.datetime(2026, 3, 1, 2, 30, tzinfo=datetime.timezone.utc)
JOB = "[[job]]\nname = 'sales'\ninput = 'sales.csv'\nmodel = 'models/sales'\noutput = 'out/sales-{date}.csv'\n"


def load(tmp_path, text: str):
    path = tmp_path / "jobs.toml"
    path.write_text(text)
    return load_jobs(path, DAY)


def test_defaults_apply_a_job_overrides_and_paths_are_relative_to_the_file(tmp_path):
    batch = load(tmp_path, "summary = 'runs/{date}.json'\n[defaults]\nhorizon = 14\nwindow = 8\nrefit = 'never'\nlr = 1\n"
                 + JOB + "window = 16\nlevels = [80, 97.5]\ntargets = ['north']\n")
    [job] = batch.jobs
    assert job.options == FitOptions(horizon=14, window=16, lr=1.0, targets=("north",))
    assert job.refit == Refit("never") and job.levels == (80.0, 97.5)
    assert (job.input, job.model, job.output) == (tmp_path / "sales.csv", tmp_path / "models/sales", tmp_path / "out/sales-2026-03-01.csv")
    assert batch.summary == tmp_path / "runs/2026-03-01.json" and batch.lock == tmp_path / "jobs.toml.lock"


def test_a_glob_is_one_job_per_file_with_its_stem(tmp_path):
    """The stem drops a compression suffix too: b.csv.gz is b."""
    (tmp_path / "in").mkdir()
    for name in ("b.csv.gz", "a.csv"):
        (tmp_path / "in" / name).write_text("x\n1\n")
    batch = load(tmp_path, "lock = '/run/forecaster.lock'\n[defaults]\nmodel = 'models/{name}/{stem}'\n"
                 "[[job]]\nname = 'shops'\ninput = 'in/*.csv*'\noutput = 'out/{stem}-{date:%Y%m%d}.csv'\n")
    assert [(job.name, job.model, job.output) for job in batch.jobs] == [
        ("shops/a", tmp_path / "models/shops/a", tmp_path / "out/a-20260301.csv"),
        ("shops/b", tmp_path / "models/shops/b", tmp_path / "out/b-20260301.csv")]
    assert str(batch.lock) == "/run/forecaster.lock"


@pytest.mark.parametrize("text, message", [
    (JOB + "window = '8'\n", "job 'sales': key 'window': must be an integer, not '8'"),
    (JOB + "window = 0\n", "job 'sales': key 'window' must be at least 1, not 0"),
    (JOB + "epochs = true\n", "job 'sales': key 'epochs': must be an integer, not True"),
    (JOB + "levels = [120]\n", "job 'sales': key 'levels': --level 120 is out of range"),
    (JOB + "refit = 'older-than:0d'\n", "job 'sales': key 'refit': 'older-than:0d' is not a policy"),
    (JOB + "scaler = 'log'\n", "job 'sales': unknown scaler 'log' (key 'scaler')"),
    (JOB.replace("{date}", "{day}"), "job 'sales': key 'output': unknown placeholder {day}; it may use {date}, {name}, {stem}"),
    (JOB.replace("sales.csv", "{stem}.csv"), "job 'sales': key 'input': unknown placeholder {stem}; it may use {date}, {name}"),
    (JOB + JOB, "job 'sales': a second job of this name"),
    (JOB + JOB.replace("name = 'sales'", "name = 'copy'"), "jobs 'sales' and 'copy' both write the model"),
    ("[defaults]\nname = 'x'\n" + JOB, "[defaults]: unknown key 'name'"),
    ("summary = 3\n" + JOB, "key 'summary': must be a string, not 3"),
    ("[[job]]\ninput = 'a.csv'\n", "job 1: missing key 'name'"),
    (JOB.replace("'models/sales'", "''"), "job 'sales': empty key 'model'"),
    ("", "no jobs: add a [[job]] table"),
])
def test_mistakes_name_the_file_the_job_and_the_key(tmp_path, text, message):
    with pytest.raises(BadInput) as error:
        load(tmp_path, text)
    assert str(error.value).startswith(f"{tmp_path / 'jobs.toml'}: ")
    assert message in str(error.value)


def write_model(directory, created: str, **training) -> None:
    directory.mkdir(parents=True)
    metadata = {"format_version": 1, "created": created, "cell": {"name": "lstm"}, "training": training,
                "hyperparameters": {name: getattr(FitOptions(), name) for name in ("window", "horizon", "hidden_size", "lr", "epochs")},
                "selection": {"targets": [], "date_col": None, "id_col": None, "value_col": None}}
    (directory / "model.json").write_text(json.dumps(metadata))


@pytest.mark.parametrize("policy, created, recorded, refit, reason", [
    ("always", "2026-03-01T02:00:00+00:00", "same", True, "refit is 'always'"),
    ("never", "2000-01-01T00:00:00+00:00", None, False, "refit is 'never'"),
    ("if-data-changed", "2026-03-01T02:00:00+00:00", "same", False, "the input is unchanged"),
    ("if-data-changed", "2026-03-01T02:00:00+00:00", "0" * 64, True, "the input changed"),
    ("if-data-changed", "2026-03-01T02:00:00+00:00", None, True, "the saved model records no hash of its input"),
    ("older-than:7d", "2026-02-20T02:30:00+00:00", None, True, "the model is 9.0 days old (older-than:7d)"),
    ("older-than:7d", "2026-02-25T02:30:00+00:00", None, False, "the model is 4.0 days old (older-than:7d)"),
    ("older-than:12h", "2026-03-01T00:30:00", None, False, "the model is 2.0 hours old (older-than:12h)"),
])
def test_refit_decisions(tmp_path, policy, created, recorded, refit, reason):
    (tmp_path / "sales.csv").write_text("x\n1\n")
    [job] = load(tmp_path, JOB + f"refit = '{policy}'\n").jobs
    write_model(job.model, created, **({"source_sha256": source_sha256(job.input) if recorded == "same" else recorded} if recorded else {}))
    decision = decide(job, NOW)
    assert (decision.refit, decision.reason) == (refit, reason)


def test_refit_when_the_options_differ_from_the_saved_model(tmp_path):
    (tmp_path / "sales.csv").write_text("x\n1\n")
    [job] = load(tmp_path, JOB + "refit = 'older-than:7d'\nhidden_size = 8\ncell = 'gru'\n").jobs
    write_model(job.model, "2026-03-01T02:00:00+00:00")
    assert decide(job, NOW).reason == "the fit options changed (cell 'lstm' -> 'gru', hidden_size 32 -> 8)"


def test_refit_when_the_job_picks_other_series(tmp_path):
    (tmp_path / "sales.csv").write_text("x\n1\n")
    [job] = load(tmp_path, JOB + "refit = 'older-than:7d'\ntargets = ['north']\ndate_col = 'day'\n").jobs
    write_model(job.model, "2026-03-01T02:00:00+00:00")
    assert decide(job, NOW).reason == "the fit options changed (date_col None -> 'day', targets [] -> ['north'])"


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
    assert load_jobs(path, DAY).summary == tmp_path / "runs" / "2026-03-01.json"
    assert load_jobs(path, DAY, "/var/log/batch-{date:%Y%m%d}.json").summary == Path("/var/log/batch-20260301.json")
