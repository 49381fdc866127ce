"""Benchmark of one global model over many series: `forecaster fit` on 100, 1,000 and 5,000 series.

    .venv/bin/python bench/scaling.py                                # 100, 1,000 and 5,000 series, a wide CSV
    .venv/bin/python bench/scaling.py --series 5000 --layout long    # one row per series and day
    .venv/bin/python bench/scaling.py --series 1000 --devices 2      # --strategy ddp --devices 2 --accelerator cpu
    .venv/bin/python bench/scaling.py --series 1000 --batch-size 512 # any --batch-size, with or without --devices

For each count, writes a CSV of that many synthetic series of ``--rows``
business days (bench/batch.py's generator: a level, a trend, a weekly season
and noise, seed 0), then runs `forecaster fit --epochs E --threads 1` with its
default model ``--repeats`` times, each in a fresh process (``--threads 1``:
the members train one after another in the fit's own process rather than
in worker processes, which the wrappers below would not see): this script's ``_fit``
section, which runs the command in-process and notes when reading the CSV
ended, when each training (each member's validated fit, then its final fit
on every window) began and ended, and when each epoch began. An epoch's time
is the first member's validated fit's, from its first epoch's start to its
end, divided by its epochs: its training steps and its validation pass, on
one core; the final fit's is the first member's too. An epoch is at most
forecaster.training.defaults.MAX_BATCHES_PER_EPOCH batches, so the windows trained a
second count the windows of those batches. Peak memory is the fit process's
ru_maxrss and, with ``--devices``, that of the rank it started. Prints a
Markdown table; bench/scaling.md records it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from batch import write_data  # bench/batch.py, beside this script

from forecaster.training.defaults import batches_per_epoch

FORECASTER = str(Path(sys.executable).with_name("forecaster"))


def write_csv(directory: Path, series: int, rows: int, layout: str) -> tuple[Path, list[str]]:
    """The CSV of ``series`` series and the fit options that read it."""
    write_data(directory, series, 1, rows)
    wide = directory / "part-0000.csv"
    if layout == "wide":
        return wide, []
    long = directory / "long.csv"
    pd.read_csv(wide).melt(id_vars="date", var_name="series", value_name="value").to_csv(long, index=False)
    return long, ["--id-col", "series", "--time-col", "date", "--value-col", "value"]


def measure(csv: Path, out: Path, options: list[str]) -> dict:
    """Run the `_fit` section in a fresh process; its last line of stdout is the measurements."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, __file__, "_fit", str(csv), "--out", str(out), *options],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"fit failed:\n{result.stderr}")
    measured = json.loads(result.stdout.splitlines()[-1])
    card = json.loads((out / "model.json").read_text())
    training, batch_size = card["training"], card["hyperparameters"]["batch_size"]
    trained_per_epoch = min(
        training["train_windows"], batches_per_epoch(training["train_windows"], batch_size) * batch_size
    )
    return {**measured, "wall": time.perf_counter() - start, "trained_per_epoch": trained_per_epoch, **training}


def fit_in_this_process(arguments: list[str]) -> None:
    """`forecaster fit ARGUMENTS` in this process, printing when its stages ended as one JSON line."""
    started = time.perf_counter()
    import forecaster.cli
    import forecaster.training.lightning_module
    import forecaster.training.pipeline
    import forecaster.training.trainer

    marks: dict[str, float] = {"imported": time.perf_counter()}
    trainings: list[tuple[float, float]] = []  # (start, end) of each call of trainer.train
    epochs: list[float] = []
    read_table, train, epoch_start = (
        forecaster.training.pipeline.read_table,
        forecaster.training.trainer.train,
        forecaster.training.lightning_module.ForecastModule.on_train_epoch_start,
    )

    def reading(*args, **kwargs):
        table = read_table(*args, **kwargs)
        marks["read"] = time.perf_counter()
        return table

    def training(*args, **kwargs):
        start = time.perf_counter()
        outcome = train(*args, **kwargs)
        trainings.append((start, time.perf_counter()))
        if len(trainings) == 1:
            marks["validated_epochs"] = len(epochs)
        return outcome

    def epoch(module) -> None:
        epochs.append(time.perf_counter())
        epoch_start(module)

    forecaster.training.pipeline.read_table, forecaster.training.trainer.train = reading, training
    forecaster.training.lightning_module.ForecastModule.on_train_epoch_start = epoch
    sys.argv = [FORECASTER, "fit", *arguments]  # what Lightning's DDP launcher starts again for the other ranks
    forecaster.cli.cli.main(sys.argv[1:], standalone_mode=False)  # an error raises, with its traceback
    (first_start, first_end), last_end = trainings[0], trainings[-1][1]
    print(
        json.dumps(
            {
                "imports": marks["imported"] - started,
                "read": marks["read"] - marks["imported"],
                "prepare": first_start - marks["read"],
                "epoch": (first_end - epochs[0]) / marks["validated_epochs"],
                "final_fit": trainings[1][1] - trainings[1][0] if len(trainings) > 1 else 0.0,
                "score_and_save": time.perf_counter() - last_end,
                "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "other_ranks_peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            }
        )
    )


def main() -> None:
    if sys.argv[1:2] == ["_fit"]:
        fit_in_this_process(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--rows", type=int, default=400, help="business days per series")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--layout", choices=("wide", "long"), default="wide")
    parser.add_argument("--devices", type=int, help="train with --strategy ddp on this many CPU processes")
    parser.add_argument("--batch-size", type=int, help="fit's --batch-size (default: fit's own)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="fits of each count; the one of median epoch time is reported"
    )
    args = parser.parse_args()
    options = ["--epochs", str(args.epochs)]
    if args.batch_size:
        options += ["--batch-size", str(args.batch_size)]
    if args.devices:
        options += ["--strategy", "ddp", "--devices", str(args.devices), "--accelerator", "cpu"]
    else:  # the members one after another in the fit's own process, where _fit's wrappers see each training
        options += ["--threads", "1"]
    print(
        f"`forecaster fit {' '.join(options)}`, {args.layout} CSV, {args.rows} rows a series, the run of median epoch "
        f"time of {args.repeats}; load average {os.getloadavg()[0]:.1f} at the start\n"
    )
    print(
        "| series | CSV MB | training / validation windows | read CSV s | prepare s | s per epoch "
        "| windows trained per s | final fit s | score and save s | wall s | peak RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for series in args.series:
        with tempfile.TemporaryDirectory() as scratch:
            csv, reading = write_csv(Path(scratch), series, args.rows, args.layout)
            size = csv.stat().st_size / 1e6
            runs = sorted(
                (measure(csv, Path(scratch) / "model", reading + options) for _ in range(args.repeats)),
                key=lambda run: run["epoch"],
            )
        run = runs[len(runs) // 2]
        peak = f"{run['peak_mib']:.0f}" + (f" + {run['other_ranks_peak_mib']:.0f}" if args.devices else "")
        print(
            f"| {series:,} | {size:.1f} | {run['train_windows']:,} / {run['validation_windows']:,} | {run['read']:.1f} "
            f"| {run['prepare']:.1f} | {run['epoch']:.1f} | {run['trained_per_epoch'] / run['epoch']:,.0f} "
            f"| {run['final_fit']:.1f} | {run['score_and_save']:.1f} | {run['wall']:.0f} | {peak} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
