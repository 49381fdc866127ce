"""Benchmark of `forecaster batch` end to end: many series split across files, as a nightly run sees them.

    .venv/bin/python bench/batch.py [--series 1000] [--files 50] [--workers 1 2] [--epochs 5]
    .venv/bin/python bench/batch.py --isolation    # the cost of a process per job, in one process

Writes ``--files`` CSV files of ``--rows`` business days holding ``--series``
synthetic series between them (seasonal, trending, noisy; fixed seed), and a
jobs file with one glob job over them. Then, for each ``--workers``, runs the
installed command twice: ``refit = "always"`` (every file is fitted and
forecast) and ``refit = "never"`` (the saved models forecast only: the per-job
cost of the batch machinery). Memory is sampled every 0.1 s over the batch
process and its job processes: the total is their proportional set size (PSS,
so the pages the forked jobs share with their parent count once) and the
largest is one process's resident set. Prints a Markdown table; bench/batch.md
records it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FORECASTER = str(Path(sys.executable).with_name("forecaster"))


def write_data(directory: Path, series: int, files: int, rows: int, seed: int = 0) -> None:
    """``series`` series over ``files`` files: a weekly season, a trend and noise, each its own."""
    generator = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-01", periods=rows)
    steps = np.arange(rows)
    for part, names in enumerate(np.array_split(np.arange(series), files)):
        columns = {}
        for number in names:
            level, trend, amplitude = generator.uniform(50, 150), generator.normal(0, 0.05), generator.uniform(1, 10)
            columns[f"s{number:04d}"] = (
                level + trend * steps + amplitude * np.sin(2 * np.pi * steps / 5) + generator.normal(0, 1, rows)
            )
        pd.DataFrame(columns, index=pd.Index(dates, name="date")).round(4).to_csv(directory / f"part-{part:04d}.csv")


def write_jobs(directory: Path, refit: str, epochs: int) -> Path:
    """A jobs file of its own for each refit policy, with its own summary: a second run beside one summary writes
    summary.1.json, and the figures of the pass after the first would be read from the first's."""
    path = directory / f"{refit}.toml"
    path.write_text(f"""summary = "summary-{refit}.json"
[defaults]
horizon = 7
window = 16
hidden_size = 8
epochs = {epochs}
refit = "{refit}"

[[job]]
name = "bench"
input = "data/part-*.csv"
model = "models/{{stem}}"
output = "out/{{stem}}-{{date}}.csv"
""")
    return path


def tree(root: int) -> list[int]:
    """``root`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending += children.get(pid, [])
    return found


def memory_kib(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in KiB; zeros once it has gone."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
    except OSError:
        return 0, 0
    return int(fields["Pss"].split()[0]), int(fields["Rss"].split()[0])


def measure(jobs: Path, workers: int) -> dict:
    """Run the batch; wall time, peak total PSS and peak single RSS of its process tree, and its summary."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [FORECASTER, "batch", str(jobs), "--workers", str(workers), "--quiet"], stderr=subprocess.PIPE, text=True
    )
    peak_total = peak_single = 0
    while process.poll() is None:
        sizes = [memory_kib(pid) for pid in tree(process.pid)]
        peak_total = max(peak_total, sum(pss for pss, _ in sizes))
        peak_single = max([peak_single, *(rss for _, rss in sizes)])
        time.sleep(0.1)
    wall = time.perf_counter() - started
    stderr = process.stderr.read()
    if process.returncode != 0:
        raise SystemExit(f"forecaster batch exited {process.returncode}:\n{stderr}")
    summary = json.loads((jobs.parent / f"summary-{jobs.stem}.json").read_text())
    return {
        "wall": wall,
        "peak_total_mib": peak_total / 1024,
        "peak_single_mib": peak_single / 1024,
        "job_seconds": [job["seconds"] for job in summary["jobs"]],
    }


def fit_times(directory: Path, fits: int, fork: bool) -> list[float]:
    """Seconds of ``fits`` tiny fits (4 series of 200 rows, 5 epochs) in this process, or each in a forked one."""
    import multiprocessing

    from forecaster.batch.runner import preload
    from forecaster.options import FitOptions
    from forecaster.training.pipeline import fit

    registry = preload(fitting=True)  # what batch imports before it forks its jobs
    options = FitOptions(window=16, horizon=7, hidden_size=8, epochs=5)

    def job(number: int) -> None:
        fit(directory / "part-0000.csv", options, registry)[0].save(directory / f"model-{number}")

    def forked(number: int) -> None:
        child = multiprocessing.get_context("fork").Process(target=job, args=(number,))
        child.start()
        child.join()

    if not fork:
        job(-1)  # a warm process: what running the jobs one after another in the batch process would give
    times = []
    for number in range(fits):
        started = time.perf_counter()
        (forked if fork else job)(number)
        times.append(time.perf_counter() - started)
    return times


def isolation(fits: int = 6) -> None:
    """The per-job cost of a process per job: the same fit in one warm process, and each in a forked process.

    The in-process fits run in a separate Python: a process forked after torch
    has computed can hang in its thread pool (GNU OpenMP is not fork-safe),
    which is why batch's own process imports torch but never computes with it.
    """
    with tempfile.TemporaryDirectory() as scratch:
        write_data(Path(scratch), series=4, files=1, rows=200)
        inline = json.loads(
            subprocess.run(
                [sys.executable, __file__, "--inline", str(fits), scratch], capture_output=True, text=True, check=True
            ).stdout
        )
        children = fit_times(Path(scratch), fits, fork=True)
    print(
        f"| same fit, {fits} runs, median | in one warm process: {statistics.median(inline):.2f} s | "
        f"each in a forked process: {statistics.median(children):.2f} s | "
        f"cost of a process per job: {statistics.median(children) - statistics.median(inline):.2f} s |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--isolation", action="store_true", help="measure the cost of a process per job instead")
    parser.add_argument(
        "--inline", nargs=2, metavar=("FITS", "DIR"), help=argparse.SUPPRESS
    )  # --isolation's other half
    arguments = parser.parse_args()
    if arguments.inline:
        print(json.dumps(fit_times(Path(arguments.inline[1]), int(arguments.inline[0]), fork=False)))
        return
    if arguments.isolation:
        isolation()
        return
    print(
        f"{arguments.series} series in {arguments.files} files of {arguments.rows} rows; window 16, hidden 8, "
        f"horizon 7, {arguments.epochs} epochs; {os.cpu_count()} CPUs\n"
    )
    print(
        "| workers | refit | total | per series | per job (in its process, mean) | peak memory, all processes (PSS) | "
        "largest process (RSS) |"
    )
    print("|---|---|---|---|---|---|---|")
    for workers in arguments.workers:
        with tempfile.TemporaryDirectory() as scratch:
            directory = Path(scratch)
            (directory / "data").mkdir()
            write_data(directory / "data", arguments.series, arguments.files, arguments.rows)
            for refit in ("always", "never"):
                result = measure(write_jobs(directory, refit, arguments.epochs), workers)
                print(
                    f"| {workers} | {refit} | {result['wall']:.1f} s "
                    f"| {1000 * result['wall'] / arguments.series:.1f} ms "
                    f"| {statistics.mean(result['job_seconds']):.2f} s "
                    f"| {result['peak_total_mib']:.0f} MiB | {result['peak_single_mib']:.0f} MiB |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
