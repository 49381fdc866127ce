"""A corpus of bad inputs, each tried through fit, predict --csv, backtest and batch.

Each case either works as documented or ends with one line naming the file
(and line or column), exit code 2 (1 for batch, whose jobs file is fine but
whose job failed), no traceback, and the existing model, forecast and metrics
byte for byte as they were. fit, predict and backtest run in this process
(conftest.invoke: the same main(), without a new process's imports); batch,
whose job processes are forked, and the cases that need a process without
root's capabilities run the installed command.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import random
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from conftest import FORECASTER, assert_clean_error, invoke, jobs_file, permissions_apply, run
from forecaster.data.compressed import zstd

TINY = ("--window", 2, "--horizon", 1, "--hidden-size", 2, "--epochs", 1, "--members", 1)
DATES = [f"2020-01-{day:02d}" for day in range(1, 13)]


def rows(dates=DATES, a=None, b=None, separator=",") -> bytes:
    a = a or [str(10 + k + (k % 3)) for k in range(len(dates))]
    b = b or [str(50 - 2 * k) for k in range(len(dates))]
    lines = [separator.join(("date", "a", "b"))] + [separator.join(row) for row in zip(dates, a, b, strict=True)]
    return ("\n".join(lines) + "\n").encode()


def replaced(position: int, column: str, value: str) -> bytes:
    values = {"a": [str(10 + k) for k in range(12)], "b": [str(50 - k) for k in range(12)]}
    values[column][position] = value
    return rows(a=values["a"], b=values["b"])


def zipped(*members: bytes) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as writing:
        for number, member in enumerate(members):
            writing.writestr(f"part{number}.csv", member)
    return archive.getvalue()


shuffled = DATES[:]
random.Random(0).shuffle(shuffled)

#: name -> (file content, None if it works, else the fragment the error must name)
CASES = {
    "empty": (b"", "is empty"),
    "header only": (b"date,a,b\n", "no data rows"),
    "not UTF-8": (rows()[:-20] + b"\xff\xfe,1,2\n", "not UTF-8"),
    "semicolons": (rows(separator=";"), None),
    "tabs": (rows(separator="\t"), None),
    "duplicated timestamps": (rows(dates=DATES[:5] + DATES[4:11]), "duplicated timestamp"),
    "unsorted rows": (rows(dates=shuffled), None),
    "mixed date formats": (rows(dates=[*DATES[:4], "01/05/2020", *DATES[5:]]), "line 6"),
    "one time zone": (rows(dates=[f"{d}T00:00:00+01:00" for d in DATES]), None),
    "daily across a DST change": (
        rows(dates=[f"{d}T00:00:00+0{1 + (k > 5)}:00" for k, d in enumerate(DATES)]),
        "unevenly spaced",
    ),
    "hourly across a DST change": (
        rows(dates=[f"2020-03-29T{hour:02d}:00:00+0{1 + (hour > 1)}:00" for hour in (0, 1, *range(3, 13))]),
        None,
    ),
    "two time zones": (
        rows(dates=[f"{d}T00:00:00{'+01:00' if k % 2 else '-05:00'}" for k, d in enumerate(DATES)]),
        "unevenly spaced",
    ),
    "an offset on some times only": (
        rows(dates=[f"{d}T00:00:00{'+01:00' if k != 4 else ''}" for k, d in enumerate(DATES)]),
        "has no UTC offset, unlike line 2",
    ),
    "no header, one column": ("\n".join(str(10 + k) for k in range(12)).encode() + b"\n", "holds data, not the names"),
    "no header, dates and values": (rows()[rows().index(b"\n") + 1 :], "holds data, not the names"),
    "blank cell": (replaced(5, "a", ""), "lines 7"),
    "NaN cell": (replaced(5, "b", "NaN"), "lines 7"),
    "inf cell": (replaced(5, "a", "inf"), "line 7"),
    "text in a number column": (replaced(8, "b", "n/a?"), "line 10"),
    "constant series": (rows(b=["5"] * 12), None),
    "one row": (rows(dates=DATES[:1]), "1"),
    "fewer rows than window + horizon": (rows(dates=DATES[:2]), "2"),
    "values near 1e300": (
        rows(a=[f"{(k + 1) * 1e299:.3e}" for k in range(12)]),
        None,
    ),  # positive: scaled by their largest
    "gzip": (gzip.compress(rows()), None),
    "bzip2 with semicolons": (
        bz2.compress(rows(separator=";")),
        None,
    ),  # the delimiter is found in the decompressed text
    "xz with tabs": (lzma.compress(rows(separator="\t")), None),
    "zstd": (zstd.compress(rows()), None),
    "zip": (zipped(rows()), None),
    "truncated gzip": (gzip.compress(rows())[:60], "damaged or cut short"),
    "not UTF-8 in zstd": (zstd.compress(rows()[:-20] + b"\xff\xfe,1,2\n"), "once decompressed"),
    "zip of two files": (zipped(rows(), rows()), "exactly one"),
}
#: the cases kept compressed, by the extension that says how
SUFFIXES = {
    "gzip": ".csv.gz",
    "bzip2 with semicolons": ".csv.bz2",
    "xz with tabs": ".csv.xz",
    "zstd": ".csv.zst",
    "zip": ".csv.zip",
    "truncated gzip": ".csv.gz",
    "not UTF-8 in zstd": ".csv.zst",
    "zip of two files": ".zip",
}
WORKS = {name for name, (_, fragment) in CASES.items() if fragment is None}


def digest(*paths: Path) -> dict[str, str]:
    files = [f for path in paths for f in ([path] if path.is_file() else sorted(path.rglob("*")))]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.is_file()}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """A good model, forecast and backtest that no bad input may touch."""
    root = tmp_path_factory.mktemp("outputs")
    good = root / "good.csv"
    good.write_bytes(rows())
    model, forecast, metrics = root / "model", root / "forecast.csv", root / "metrics.csv"
    assert invoke("fit", good, "--out", model, *TINY).returncode == 0
    assert invoke("predict", model, "--out", forecast).returncode == 0
    assert invoke("backtest", good, *TINY, "--folds", 1, "--out", metrics).returncode == 0
    return model, forecast, metrics


def case_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / (name.replace(" ", "_").replace("+", "plus") + SUFFIXES.get(name, ".csv"))
    path.write_bytes(CASES[name][0])
    return path


def check(result: subprocess.CompletedProcess, name: str, path: Path) -> None:
    fragment = CASES[name][1]
    if fragment is None:
        assert result.returncode == 0, result.stderr
    else:
        assert_clean_error(result, path.name, fragment)


@pytest.mark.parametrize("name", CASES)
def test_fit(name, tmp_path, outputs):
    model = outputs[0]
    before = digest(model)
    path = case_file(tmp_path, name)
    out = tmp_path / "new" if name in WORKS else model
    result = invoke("fit", path, "--out", out, *TINY)
    check(result, name, path)
    assert digest(model) == before
    if name == "unsorted rows":
        assert json.loads((out / "model.json").read_text())["time"]["last"].startswith("2020-01-12")
    if name == "hourly across a DST change":
        assert "holds the UTC offsets +01:00, +02:00: its times are read in UTC" in result.stderr
        assert json.loads((out / "model.json").read_text())["time"]["frequency"] == "h"


@pytest.mark.parametrize("name", CASES)
def test_predict_csv(name, tmp_path, outputs):
    model, forecast, _ = outputs
    before = digest(model, forecast)
    path = case_file(tmp_path, name)
    # short series are forecast; values far beyond the ones the model was fitted on do not fit its float32 network
    expect = {"one row": None, "fewer rows than window + horizon": None, "values near 1e300": "too large"}.get(
        name, CASES[name][1]
    )
    out = tmp_path / "new.csv" if expect is None else forecast
    result = invoke("predict", model, "--csv", path, "--out", out)
    if expect is None:
        assert result.returncode == 0, result.stderr
    else:
        assert_clean_error(result, path.name, expect)
    assert digest(model, forecast) == before


@pytest.mark.parametrize("name", sorted(set(CASES) - WORKS))
def test_backtest(name, tmp_path, outputs):
    metrics = outputs[2]
    before = digest(metrics)
    path = case_file(tmp_path, name)
    assert_clean_error(invoke("backtest", path, *TINY, "--folds", 1, "--out", metrics), path.name, CASES[name][1])
    assert digest(metrics) == before


def test_backtest_of_inputs_that_work(tmp_path):
    """One run per working case would be slow; each works as fit showed, so one representative suffices here."""
    path = case_file(tmp_path, "hourly across a DST change")
    result = invoke("backtest", path, *TINY, "--folds", 1)
    assert result.returncode == 0, result.stderr


FAILING = sorted(set(CASES) - WORKS)


@pytest.fixture(scope="module")
def batch_of_bad_inputs(tmp_path_factory, outputs):
    """One real batch run with a job per failing case, each aiming at its own copy of the good model and forecast.

    One run, not one per case: each job has a process of its own all the same, and the run pays Lightning's import once.
    """
    model, forecast, _ = outputs
    root = tmp_path_factory.mktemp("batch")
    targets = {}
    for number, name in enumerate(FAILING):
        targets[name] = (root / "models" / f"case{number}", root / "out" / f"case{number}.csv", case_file(root, name))
        shutil.copytree(model, targets[name][0])
        targets[name][1].parent.mkdir(exist_ok=True)
        shutil.copy(forecast, targets[name][1])
    before = {name: digest(model, forecast) for name, (model, forecast, _) in targets.items()}
    jobs = jobs_file(
        root,
        *(
            {
                "name": model.name,
                "input": path,
                "model": model,
                "output": forecast,
                "refit": "always",
                "window": 2,
                "horizon": 1,
                "hidden_size": 2,
                "epochs": 1,
                "members": 1,
            }
            for model, forecast, path in targets.values()
        ),
        top={"summary": root / "summary.json", "lock": root / "batch.lock"},
    )
    result = run("batch", jobs, "--workers", 2)
    summary = {job["name"]: job for job in json.loads((root / "summary.json").read_text())["jobs"]}
    return result, targets, before, summary


@pytest.mark.parametrize("name", FAILING)
def test_batch_records_the_failed_job_and_keeps_the_outputs(name, batch_of_bad_inputs):
    result, targets, before, summary = batch_of_bad_inputs
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    model, forecast, path = targets[name]
    job = summary[model.name]
    assert job["status"] != "ok" and path.name in job["error"] and CASES[name][1] in job["error"]
    assert digest(model, forecast) == before[name]


def every_command(path: Path, tmp_path: Path, outputs) -> dict[str, list[str]]:
    """fit, predict --csv, backtest and batch reading ``path`` and aiming at the protected outputs."""
    model, forecast, metrics = outputs
    jobs = jobs_file(
        tmp_path,
        {"name": "bad", "input": path, "model": model, "output": forecast, "refit": "always"},
        top={"summary": tmp_path / "summary.json", "lock": tmp_path / "batch.lock"},
    )
    return {
        "fit": ["fit", path, "--out", model, *TINY],
        "predict": ["predict", model, "--csv", path, "--out", forecast],
        "backtest": ["backtest", path, *TINY, "--folds", 1, "--out", metrics],
        "batch": ["batch", jobs],
    }


def check_everywhere(
    command: str, args: list, prefix: list[str], path: Path, fragment: str, tmp_path: Path, outputs
) -> None:
    """One line naming ``path``, exit 2 (batch: the job fails, exit 1, and says why in the summary); the outputs
    untouched."""
    before = digest(*outputs)
    if prefix or command == "batch":  # a process without root's capabilities; batch forks its jobs
        result = subprocess.run(
            [*prefix, str(FORECASTER), *map(str, args)], capture_output=True, text=True, cwd=tmp_path, check=False
        )
    else:
        result = invoke(*args)
    if command == "batch":
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        (job,) = json.loads((tmp_path / "summary.json").read_text())["jobs"]
        assert path.name in job["error"] and fragment in job["error"]
    else:
        assert_clean_error(result, path.name, fragment)
    assert digest(*outputs) == before


@pytest.mark.parametrize("command", ["fit", "predict", "backtest", "batch"])
def test_a_directory_instead_of_a_file(command, tmp_path, outputs):
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    check_everywhere(
        command, every_command(folder, tmp_path, outputs)[command], [], folder, "is a directory", tmp_path, outputs
    )


@pytest.mark.parametrize("command", ["fit", "predict", "backtest", "batch"])
def test_an_unreadable_file(command, tmp_path, outputs):
    path = tmp_path / "secret.csv"
    path.write_bytes(rows())
    path.chmod(0o000)
    check_everywhere(
        command,
        every_command(path, tmp_path, outputs)[command],
        permissions_apply(),
        path,
        "not readable",
        tmp_path,
        outputs,
    )
