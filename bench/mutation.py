"""Mutation testing of the modules that decide what the model learns and what it refuses: do the tests catch bugs?

mutmut (bench/mutation-requirements.txt, in bench/.venv-mutation, never in the package's venv) makes every
one-line mutant of each module below (a comparison turned, a constant changed, an argument dropped, a string
altered...) and runs the tests that reach the mutated function; a mutant no test fails on survives. Each module is
scored alone, in a scratch copy of the working tree, against its own tests: those listed with it, which run the
module in the test's own process (a test that runs the `forecaster` command reads the installed package, which
mutmut does not mutate). The score is killed / (killed + survived + timed out); a mutant no selected test reaches
counts as survived.

    bench/mutation-venv.sh
    bench/.venv-mutation/bin/python bench/mutation.py                 # every module, each on one core
    bench/.venv-mutation/bin/python bench/mutation.py data/limits     # one

It writes bench/mutation/<module>.json (the score and each survivor's diff) and rewrites bench/mutation.md's
table; bench/mutation-decisions.json holds the decision taken on each survivor (a test added, or why the mutant is
equivalent), keyed by its module and diff, and the table shows it beside the survivor.
"""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "mutation"
DECISIONS = ROOT / "bench" / "mutation-decisions.json"
SCRATCH = Path(os.environ.get("TMPDIR", "/tmp")) / "forecaster-mutation"
MUTMUT = Path(sys.executable).with_name("mutmut")
TARGET = 0.90
#: every module's mutants run on one core (the first this script may use), where a fit trains its members in its own
#: process: on two, the stats run's first fit (the tiny_model fixture, say) starts the members' fork server in mutmut's
#: own process, and every mutant mutmut then forks from it fails each fit ("ChildProcessError: [Errno 10] No child
#: processes": the server is its parent's child, not its own), which counted every mutant a fitting test reaches as
#: killed: data/limits and batch/guards at 100% at c4f39eb
CORE = min(os.sched_getaffinity(0))
#: module -> (the tests that run it in their own process, the functions mutated: all when empty)
MODULES: dict[str, tuple[list[str], list[str]]] = {
    "data/limits": (["tests/data/test_limits.py"], []),
    "data/seasons": (["tests/data/test_seasons.py"], []),
    "model/intervals": (["tests/model/test_intervals.py", "tests/training/test_metrics.py"], []),
    "model/preparation": (["tests/model/test_preparation.py", "tests/training/test_leakage.py"], []),
    "training/pipeline": (
        ["tests/training/test_prepare.py", "tests/training/test_validation.py", "tests/training/test_leakage.py"],
        ["x_split*", "xǁHoldoutǁ*", "x_prepare*"],
    ),
    "training/blending": (["tests/training/test_blending.py", "tests/training/test_leakage.py"], []),
    "training/backtest": (["tests/training/test_backtest.py"], []),
    "batch/guards": (["tests/batch/test_guards.py"], []),
}
#: tests that bound time or memory: under mutmut's tracing they fail whatever the mutant, which would count every
#: mutant they reach as killed
DESELECTED = [
    "tests/data/test_limits.py::test_every_bomb_is_refused_with_its_limit_in_little_memory_and_time",
    "tests/data/test_limits.py::test_a_long_file_costs_about_its_numbers_not_its_text",
]
STATUS = re.compile(r"^\s+(?P<name>\S+): (?P<status>.+)$")


#: the commit the scratch copy was taken at (with the working tree's changes, if any, on top)
COPIED: dict[str, str] = {}


def scratch_copy() -> Path:
    """The working tree's files (tracked, and untracked but not ignored) in a folder of their own."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True)
    COPIED["commit"] = head.stdout.strip() + (" + changes" if dirty.stdout.strip() else "")
    shutil.rmtree(SCRATCH, ignore_errors=True)
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (SCRATCH / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, SCRATCH / name)
    return SCRATCH


def configure(copy: Path, module: str, tests: list[str]) -> None:
    """The scratch copy's [tool.mutmut]: mutate ``module`` alone, run ``tests`` on one worker each (no xdist)."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    settings = {
        "source_paths": ["forecaster"],
        "also_copy": ["data"],
        "only_mutate": [f"forecaster/{module}.py"],
        "pytest_add_cli_args": [
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=-q",
            *(argument for test in DESELECTED for argument in ("--deselect", test)),
        ],
        "pytest_add_cli_args_test_selection": tests,
    }
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    (copy / "pyproject.toml").write_text(pyproject + "\n[tool.mutmut]\n" + "\n".join(lines) + "\n")
    shutil.rmtree(copy / "mutants", ignore_errors=True)


def run(module: str) -> dict:
    tests, functions = MODULES[module]
    copy = SCRATCH if SCRATCH.is_dir() else scratch_copy()
    configure(copy, module, tests)
    dotted = "forecaster." + module.replace("/", ".")
    patterns = [f"{dotted}.{function}" for function in functions]
    started = time.monotonic()
    pinned = ["taskset", "--cpu-list", str(CORE)]
    command = [*pinned, str(MUTMUT), "run", "--max-children", "2", *patterns]
    subprocess.run(command, cwd=copy, capture_output=True, check=True)
    seconds = time.monotonic() - started
    control(copy, tests, pinned)
    listing = subprocess.run(
        [str(MUTMUT), "results", "--all", "true"], cwd=copy, capture_output=True, text=True, check=True
    )
    statuses = {
        match["name"]: match["status"]
        for match in map(STATUS.match, listing.stdout.splitlines())
        if match and match["name"].startswith(dotted + ".")
    }
    if patterns:
        statuses = {name: status for name, status in statuses.items() if any(_matches(name, p) for p in patterns)}
    survivors = []
    for name, status in sorted(statuses.items()):
        if status != "killed":
            shown = subprocess.run(
                [str(MUTMUT), "show", name], cwd=copy, capture_output=True, text=True, check=True
            ).stdout
            diff = "\n".join(
                line for line in shown.splitlines() if line[:1] in "-+" and not line.startswith(("---", "+++"))
            )
            survivors.append({"name": name, "status": status, "diff": diff})
    killed = sum(status == "killed" for status in statuses.values())
    counted = len(statuses)
    return {
        "module": module,
        "tests": tests,
        "functions": functions,
        "mutants": counted,
        "killed": killed,
        "score": round(killed / counted, 4) if counted else None,
        "seconds": round(seconds),
        "commit": COPIED["commit"],
        "date": datetime.date.today().isoformat(),
        "survivors": survivors,
    }


#: mutmut's way with each mutant, with none: the selected tests run in this process (mutmut's stats and clean runs),
#: then in a process forked from it (each mutant's run); a test that passes the first and fails the second fails
#: whatever the mutant, and would count every mutant it reaches as killed
CONTROL = """
import os, sys
import pytest
import forecaster
if not forecaster.__file__.startswith(os.getcwd() + os.sep):
    sys.exit(f"the tests would import {forecaster.__file__}, not the mutated copy")
os.environ["MUTANT_UNDER_TEST"] = ""  # mutmut's trampolines call the original functions
arguments = sys.argv[1:]
if pytest.main(arguments) != 0:
    sys.exit("the selected tests fail as they are")
child = os.fork()
if child == 0:
    os._exit(int(pytest.main(arguments)))
_, status = os.waitpid(child, 0)
sys.exit(os.waitstatus_to_exitcode(status) and "the selected tests pass, then fail in a process forked after them")
"""


def control(copy: Path, tests: list[str], pinned: list[str]) -> None:
    """Refuse a run whose selected tests fail in a fork of a process that ran them, as mutmut runs each mutant: its
    score would not be the tests' (every mutant counted as killed). The tests run as mutmut runs them, on the mutated
    copy, with no mutant."""
    arguments = ["--rootdir=.", "-x", "-q", "-p", "no:xdist", "-p", "no:cacheprovider", "-o", "addopts=-q"]
    arguments += [argument for test in DESELECTED for argument in ("--deselect", test)]
    checked = subprocess.run(
        [*pinned, sys.executable, "-c", CONTROL, *arguments, *tests],
        cwd=copy / "mutants",
        env={**os.environ, "PY_IGNORE_IMPORTMISMATCH": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    if checked.returncode != 0:
        shown = "\n".join((checked.stdout + checked.stderr).splitlines()[-30:])
        raise SystemExit(f"{tests}: {shown}\nthis run's mutants are not scored: every mutant would count as killed")


def _matches(name: str, pattern: str) -> bool:
    return fnmatch.fnmatch(name, pattern)


def table() -> str:
    """bench/mutation.md's table: each module's last score, then each survivor with the decision taken on it.

    The score counts a mutant shown equivalent (its decision starts "equivalent") as no mutant at all, as the
    literature does; the raw share killed stands beside it."""
    decisions = json.loads(DECISIONS.read_text()) if DECISIONS.exists() else {}
    rows = [
        "| module | mutants | killed | equivalent | score | raw | seconds | commit, date |",
        "|---|---|---|---|---|---|---|---|",
    ]
    survivors = []
    for module in MODULES:
        path = OUT / f"{module.replace('/', '.')}.json"
        if not path.exists():
            rows.append(f"| {module} | not run | | | | | | |")
            continue
        result = json.loads(path.read_text())
        decided = decisions.get(module, {})
        equivalent = sum(decided.get(s["diff"], "").startswith("equivalent") for s in result["survivors"])
        score = result["killed"] / max(result["mutants"] - equivalent, 1)
        rows.append(
            f"| {module} | {result['mutants']} | {result['killed']} | {equivalent} | {100 * score:.1f}%"
            f"{'' if score >= TARGET else ' (below 90%)'} | {100 * result['score']:.1f}% | {result['seconds']} | "
            f"{result['commit']}, {result['date']} |"
        )
        for survivor in result["survivors"]:
            decision = decided.get(survivor["diff"], "undecided")
            diff = survivor["diff"].replace("|", "\\|").replace("\n", "<br>")
            survivors.append(f"| {module} | {survivor['status']} | `{diff}` | {decision} |")
    listing = ["", "| module | status | mutant | decision |", "|---|---|---|---|", *survivors] if survivors else []
    return "\n".join([*rows, *listing])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"modules to score, of {', '.join(MODULES)} (default: all)")
    parser.add_argument("--table", action="store_true", help="only rewrite bench/mutation.md from the last results")
    arguments = parser.parse_args()
    modules = [] if arguments.table else arguments.modules or list(MODULES)
    unknown = [module for module in modules if module not in MODULES]
    if unknown:
        parser.error(f"no module {unknown[0]!r} is scored; the modules are {', '.join(MODULES)}")
    OUT.mkdir(exist_ok=True)
    if modules:
        scratch_copy()
    for module in modules:
        result = run(module)
        (OUT / f"{module.replace('/', '.')}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"{module}: {result['killed']}/{result['mutants']} killed in {result['seconds']} s", flush=True)
    markdown = ROOT / "bench" / "mutation.md"
    head = markdown.read_text().split("<!-- table -->")[0] if markdown.exists() else "# Mutation scores\n\n"
    markdown.write_text(head + "<!-- table -->\n" + table() + "\n")


if __name__ == "__main__":
    main()
