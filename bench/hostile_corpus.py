"""The hostile corpus at scale: thousands of mutants of a model fitted now, each given to `forecaster predict`.

    taskset --cpu-list 1 .venv/bin/python bench/hostile_corpus.py --examples 2000

The property of tests/model/test_hostile_corpus.py (tests/mutants.py: a
fresh model, mutated field by field and byte by byte; predict refuses each
mutant in one line naming the file and field, or forecasts finite values of
the right shape, within 2 GiB of address space and 30 s, without a library's
words), run for many more examples, every failure kept rather than the first.
Prints a markdown summary for bench/hostile-corpus.md: examples, failures by kind,
each distinct failure (kind, where, one mutant and what predict said), the
wall time, the commit and the date; ``--json FILE`` keeps every failing
mutant.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as seeded
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import mutants  # noqa: E402
from conftest import run  # noqa: E402


def generalised(problem: str) -> str:
    """A problem without its paths, quoted names and figures, so that one bug found through many mutants is counted
    once."""
    text = re.sub(r"/\S*?/mutant", "<model>", problem)
    text = re.sub(r"'[^']*'|`[^`]*`", "'…'", text)
    text = re.sub(r" at line \d+ column \d+", "", text)
    return re.sub(r"-?\d[\d.,e+-]*", "N", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write every failing mutant here")
    args = parser.parse_args()
    started = time.monotonic()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=True
    )
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        fresh = mutants.fit_fresh_model(folder, run)
        predictor = mutants.Predictor(folder)
        failures: list[dict] = []
        counts: collections.Counter[str] = collections.Counter()
        drawn: set[str] = set()  # hypothesis may draw a mutant twice

        @seeded(args.seed)
        @settings(
            max_examples=args.examples,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(st.data())
        def corpus(data: st.DataObject) -> None:
            mutant = data.draw(fresh.mutants())
            directory = mutants.copied(fresh.model, folder / "mutant")
            mutant.apply(directory)
            answer = predictor.predict(directory, *mutants.PREDICT_OPTIONS)
            counts["examples"] += 1
            if counts["examples"] % 100 == 0:
                print(f"{counts['examples']} mutants, {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
            counts[f"exit {answer.code}"] += 1
            drawn.add(str(mutant))
            found = {"mutant": str(mutant), "file": mutant.file, "kind": mutant.kind, "where": mutant.where}
            found |= {"exit": answer.code, "seconds": round(answer.seconds, 2), "peak_mib": answer.peak >> 20}
            failures.extend(
                {**found, "problem": problem} for problem in mutants.problems(mutant, directory, answer, fresh.keys)
            )

        try:
            corpus()
        finally:
            predictor.stop()
    counts["distinct"] = len(drawn)
    report(args, commit.stdout.strip(), counts, failures, time.monotonic() - started)


def report(args: argparse.Namespace, commit: str, counts: collections.Counter, failures: list[dict], seconds: float):
    """The run's summary in markdown, every count one of distinct mutants."""
    exits = ", ".join(f"{key[5:]}: {count}" for key, count in sorted(counts.items()) if key.startswith("exit "))
    failing = len({failure["mutant"] for failure in failures})
    print(
        f"{datetime.date.today()}, commit {commit}, seed {args.seed}: {counts['examples']} mutants drawn "
        f"({counts['distinct']} distinct) in {seconds / 60:.1f} min; exits {exits}; {failing} distinct mutants "
        "failed the property"
    )
    print("\n| problem | mutants |\n|---|---|")
    kinds = {(failure["problem"].split(":")[0], failure["mutant"]) for failure in failures}
    for kind, count in collections.Counter(kind for kind, _ in kinds).most_common():
        print(f"| {kind} | {count} |")
    print("\n| problem | file | change | mutants | where (a few) | one of them -> what predict said |")
    print("|---|---|---|---|---|---|")
    distinct: dict[tuple, list[dict]] = collections.defaultdict(list)
    for failure in failures:
        distinct[(failure["file"], failure["kind"], generalised(failure["problem"]))].append(failure)
    for (file, kind, _), found in sorted(distinct.items()):
        where = sorted({failure["where"] for failure in found})
        said = found[0]["problem"].split(": ", 1)[1].replace("|", "/")
        places = ", ".join(where[:3]) + (f" and {len(where) - 3} more" if len(where) > 3 else "")
        shown = f"{found[0]['mutant'].split(': ', 1)[1]} -> {said}"
        mutants_found = len({failure["mutant"] for failure in found})
        print(f"| {found[0]['problem'].split(':')[0]} | {file} | {kind} | {mutants_found} | {places} | {shown} |")
    if args.json:
        args.json.write_text(json.dumps(failures, indent=1))


if __name__ == "__main__":
    main()
