"""docs/operations.md and docs/scaling.md work as written: systemd units, logrotate, shards under SLURM, Kubernetes and
cron, an Airflow DAG."""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import grp
import os
import pwd
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from conftest import DATA, FORECASTER, ROOT, jobs_file

GUIDE = ROOT / "docs" / "operations.md"
README = ROOT / "README.md"
SCALING = ROOT / "docs" / "scaling.md"
PROJECT = "/srv/forecaster"


def blocks(language: str, guide: Path = GUIDE) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", guide.read_text(), re.S)


def exit_codes(scheduler_does: str) -> set[int]:
    """The codes of README's exit code table whose "a scheduler" column begins with ``scheduler_does``."""
    table = README.read_text().split("## Exit codes\n", 1)[1].split("\n\n", 1)[0].strip()
    rows = [row.split(" | ") for row in table.splitlines()[2:]]
    return {int(code) for first, *_, does in rows if does.startswith(scheduler_does) for code in first[2:].split(", ")}


#: the exit codes after which README says a scheduler retries the run
RETRIED = exit_codes("retries")


def test_readme_says_for_each_exit_code_whether_to_retry():
    assert {75, 130, 143} == RETRIED
    assert exit_codes("does not retry") == {1, 2}


def test_every_recipe_retries_on_the_codes_readme_names_and_on_no_other():
    (unit,) = [block for block in blocks("ini") if "forecaster-batch.service" in block.splitlines()[0]]
    assert re.search(r"^Restart=on-failure$", unit, re.M)
    prevented = set(map(int, re.search(r"^RestartPreventExitStatus=(.*)$", unit, re.M)[1].split()))
    assert prevented == exit_codes("does not retry"), "systemd restarts a failure unless its code is prevented"
    (manifest,) = [yaml.safe_load(block) for block in blocks("yaml", SCALING)]
    (_, permanent) = manifest["spec"]["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]
    assert set(permanent["onExitCodes"]["values"]) == RETRIED and permanent["onExitCodes"]["operator"] == "NotIn"
    (script,) = [block for block in blocks("bash", SCALING) if "--shard" in block]
    requeued = re.search(r"^\s*([\d|]+)\)", script, re.M)[1]
    assert set(map(int, requeued.split("|"))) == RETRIED and "scontrol requeue" in script
    (dag,) = [block for block in blocks("python", SCALING) if "PythonOperator" in block]
    assert set(map(int, re.search(r"^RETRY = \(([^)]*)\)", dag, re.M)[1].split(","))) == RETRIED


@pytest.fixture
def project(tmp_path) -> Path:
    """A project directory as the guide's: .venv/bin/forecaster and a jobs file whose one job needs no training to
    check."""
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "forecaster").symlink_to(FORECASTER)
    jobs_file(tmp_path, {"name": "absent", "input": "absent.csv", "model": "models/absent", "output": "out/absent.csv"})
    return tmp_path


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_units_verify_and_their_command_runs(project):
    units = {}
    for block in blocks("ini"):
        name = re.match(r"# /etc/systemd/system/(\S+)\n", block)[1]
        units[name] = project / name
        units[name].write_text(block.replace(PROJECT, str(project)))
    assert set(units) == {"forecaster-batch.service", "forecaster-failed@.service", "forecaster-batch.timer"}
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, units.values())],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (verified.returncode, verified.stdout, verified.stderr) == (0, "", ""), verified
    command = re.search(r"^ExecStart=(.*)$", units["forecaster-batch.service"].read_text(), re.M)[1].split()
    checked = subprocess.run(
        [*command, "--dry-run"], cwd=project, capture_output=True, text=True, timeout=120, check=False
    )
    assert checked.returncode == 75 and "absent: " in checked.stdout, (
        "the service's command line parses; its one job's input is not there yet: late, a retry may pass"
    )


@pytest.mark.skipif(shutil.which("logrotate") is None, reason="logrotate is not installed")
def test_logrotate_moves_the_log_and_the_next_run_writes_a_new_one(project):
    (block,) = blocks("logrotate")
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    config = project / "logrotate.conf"
    config.write_text(block.replace(PROJECT, str(project)).replace("forecaster forecaster", f"{user} {group}"))
    config.chmod(0o644)
    log = project / "batch.log"
    log.write_text("last week's lines\n")
    rotated = subprocess.run(
        ["logrotate", "--state", str(project / "state"), "--force", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert rotated.returncode == 0, rotated.stderr
    assert (project / "batch.log.1").read_text() == "last week's lines\n" and log.read_text() == ""
    assert oct(log.stat().st_mode & 0o777) == "0o640"
    run = subprocess.run(
        [str(project / ".venv" / "bin" / "forecaster"), "batch", "jobs.toml", "--quiet", "--log-file", "batch.log"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1
    assert "job absent: failed: " in log.read_text() and (project / "batch.log.1").read_text() == "last week's lines\n"


def test_the_guides_crontab_line_is_the_one_the_readme_tests():
    (guide,) = blocks("crontab")
    readme = re.findall(r"```crontab\n(.*?)```", (ROOT / "README.md").read_text(), re.S)[0]
    assert [line for line in guide.splitlines() if not line.startswith("#")] == [
        line for line in readme.splitlines() if not line.startswith("#")
    ]


@pytest.fixture
def sharded(tmp_path) -> Path:
    """A project directory with eight jobs a dry run finds nothing wrong with, without training."""
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "forecaster").symlink_to(FORECASTER)
    jobs_file(
        tmp_path,
        *(
            {"name": f"job{n}", "input": str(DATA / "airline.csv"), "model": f"models/{n}", "output": f"out/{n}.csv"}
            for n in range(8)
        ),
        top={"summary": "runs/summary-{date}.json"},
    )
    (tmp_path / "runs").mkdir()
    return tmp_path


def dry_run(script: str, project: Path, **environment: str) -> str:
    """Run a documented shell command line with --dry-run added (at its end, unless it has one), in ``project``; the
    plan's first line."""
    result = subprocess.run(
        ["/bin/sh", "-c", script if "--dry-run" in script else script + " --dry-run"],
        cwd=project,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result
    return result.stdout.splitlines()[0]


def test_the_slurm_job_array_runs_the_shard_of_its_task(sharded):
    (script,) = [block for block in blocks("bash", SCALING) if "--shard" in block]
    tasks = range(1, int(re.search(r"--array=1-(\d+)", script)[1]) + 1)
    command = script.replace("/shared/forecaster", str(sharded)).replace("--shard auto", "--shard auto --dry-run")
    array = {"SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": str(max(tasks))}  # as SLURM sets them
    headers = {task: dry_run(command, sharded, SLURM_ARRAY_TASK_ID=str(task), **array) for task in tasks}
    assert all(
        f"(shard {task}/4, from SLURM_ARRAY_TASK_ID={task} of 1..4" in header for task, header in headers.items()
    )
    assert sum(int(re.search(r": (\d+) jobs \(shard", header)[1]) for header in headers.values()) == 8, (
        "the array's tasks run every job once"
    )


def test_the_kubernetes_indexed_job_runs_the_shard_of_its_index(sharded):
    (manifest,) = [yaml.safe_load(block) for block in blocks("yaml", SCALING)]
    job = manifest["spec"]["jobTemplate"]["spec"]
    assert (
        manifest["kind"] == "CronJob"
        and job["completionMode"] == "Indexed"
        and job["completions"] == job["parallelism"] == 4
    )
    # retried on README's codes worth a retry, failed for good on anything else
    evicted, permanent = job["podFailurePolicy"]["rules"]
    assert evicted == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}  # a drained node
    assert permanent == {
        "action": "FailJob",
        "onExitCodes": {"containerName": "batch", "operator": "NotIn", "values": sorted(RETRIED)},
    }
    assert job["template"]["spec"]["restartPolicy"] == "Never" and job["backoffLimit"] > 0
    (container,) = job["template"]["spec"]["containers"]
    assert container["command"] == ["/bin/sh", "-c"] and container["workingDir"] == PROJECT
    given = {variable["name"]: variable["value"] for variable in container["env"] if "value" in variable}
    # the night's Job's name, every pod's label, is the run id of every shard (issue 38): as the downward API gives it
    (job_name,) = [variable for variable in container["env"] if "valueFrom" in variable]
    assert job_name["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.labels['batch.kubernetes.io/job-name']"}}
    assert f'--run-id "${job_name["name"]}"' in container["args"][0]
    environment = {**given, job_name["name"]: "forecaster-batch-29123456"}
    for index in range(4):
        assert f"(shard {index + 1}/4, from JOB_COMPLETION_INDEX={index} of JOB_COMPLETION_COUNT=4" in dry_run(
            container["args"][0], sharded, JOB_COMPLETION_INDEX=str(index), **environment
        )


def test_the_crontab_on_n_hosts_runs_one_shard_each(sharded):
    (table,) = [block for block in blocks("crontab", SCALING) if "--shard" in block]
    line = next(line for line in table.splitlines() if line and not line.startswith("#") and "=" not in line.split()[0])
    assert "(shard 1/3); lock " in dry_run(line.split(None, 5)[5].replace(PROJECT, str(sharded)), sharded)


class Task:
    """What the DAG gives Airflow for a task (PythonOperator's keywords), kept to be run here."""

    made: ClassVar[list[Task]] = []

    def __init__(self, **settings: object) -> None:
        self.settings = settings
        Task.made.append(self)


class Retry(Exception):
    """airflow.exceptions.AirflowException: the task fails, and Airflow retries it."""


class Fail(Exception):
    """airflow.exceptions.AirflowFailException: the task fails for good."""


def airflow_modules() -> dict[str, types.ModuleType]:
    """Airflow and pendulum as far as the DAG file uses them (Airflow itself is too large for the test extra)."""
    airflow, operators, python, exceptions, pendulum = (
        types.ModuleType(name)
        for name in ("airflow", "airflow.operators", "airflow.operators.python", "airflow.exceptions", "pendulum")
    )
    airflow.DAG = lambda *args, **settings: contextlib.nullcontext()
    python.PythonOperator = Task
    exceptions.AirflowException, exceptions.AirflowFailException = Retry, Fail
    pendulum.datetime = datetime.datetime
    pendulum.duration = datetime.timedelta
    return {module.__name__: module for module in (airflow, operators, python, exceptions, pendulum)}


def test_the_airflow_dag_makes_a_task_a_shard_and_retries_on_readme_s_codes(sharded, monkeypatch):
    """Issue 38: a task a job started a process a job and queued on the jobs file's lock; a task a shard runs its
    share in one process, all shards at once, and its retries run what the night left to retry (--retry)."""
    (dag,) = [block for block in blocks("python", SCALING) if "PythonOperator" in block]
    for name, module in airflow_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(Task, "made", [])
    exec(compile(dag.replace(PROJECT, str(sharded)), "dags/forecaster.py", "exec"), {})
    assert [task.settings["task_id"] for task in Task.made] == [f"shard-{k}-of-4" for k in range(1, 5)]
    assert all(task.settings["retries"] > 0 for task in Task.made)
    assert all("--retry" in line for line in dag.splitlines() if line.strip().startswith("command = "))

    run_shard = Task.made[0].settings["python_callable"]
    shard = Task.made[0].settings["op_args"][0]
    with open(sharded / "jobs.toml.shard-1-of-4.lock", "a") as lock:  # as a cron run of the same shard holds it
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(Retry, match="exit 75"):
            run_shard(shard)
    good = (sharded / "jobs.toml").read_text()
    (sharded / "jobs.toml").write_text(good + "[[job]]\n")  # a jobs file broken since: fix it, no retry
    with pytest.raises(Fail, match="exit 2"):
        run_shard(shard)
