"""Accuracy of the default model next to `torch-lstm` and the baselines, on the real series in ../shared/data.

    .venv/bin/python bench/accuracy.py [--folds 3] [--step 7] [--jobs 2] [--json results.json]
    .venv/bin/python bench/accuracy.py --files airline nile --sweep window=16 "window=52 lr=0.003" ...

Every CSV file in ``--data`` is backtested in-process with
:func:`forecaster.training.backtest.backtest` (rolling origin: ``--folds`` refits,
each forecasting from ``--step`` origins; the step defaults to the horizon),
once with the default :class:`~forecaster.options.FitOptions` (cell ``lstm``)
and once with ``cell = torch-lstm``, everything else default, seed fixed by
the defaults. Every file is read with ``fill = interpolate``, which changes
only the series with missing values inside them (co2_weekly): a series that
starts late, like GOOG, is left as it is. The season of each file is the
one its frequency implies (5 trading days, 7 days, 12 months, 52 weeks, none
for yearly data), as ``forecaster backtest`` chooses it.

Prints a Markdown table of MASE per series (MASE divides by the seasonal
in-sample error, so 1 is as good as seasonal naive within the sample), whether
the default beats seasonal naive out of sample, and a summary line.
bench/accuracy.md records it.

``--sweep`` compares candidate defaults instead: each argument is one
candidate, a space-separated list of ``option=value`` overrides of
FitOptions or of the constants in CONSTANTS (``""`` is the current defaults; ``recursive=1`` trains a one-step
model and forecasts the horizon by feeding its forecasts back, as `predict`
does beyond the trained horizon). It prints, per candidate, the geometric mean
over series of MASE relative to seasonal naive (below 1 is better than
seasonal naive) and the series won.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import multiprocessing
import os
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
BASELINES = ("naive", "seasonal-naive", "drift")
COMPARED = "torch-lstm"
#: constants of forecaster.training.pipeline that a sweep candidate may set, like options
CONSTANTS = ("VALIDATION_FRACTION", "VALIDATION_WINDOWS")
#: every file is read this way: it fills the gaps inside a series (co2_weekly) and nothing else
FILL = "interpolate"


def parse_candidate(text: str) -> dict:
    """``"window=16 lr=0.003"`` -> {"window": 16, "lr": 0.003}, typed as FitOptions' defaults are."""
    from forecaster.options import FitOptions
    from forecaster.training import pipeline

    types = {field.name: type(field.default) for field in fields(FitOptions)}
    types.update(
        epochs=int, window=int, season=int, batch_size=int, patience=int
    )  # None by default: chosen from the data
    types.update({name: type(getattr(pipeline, name)) for name in CONSTANTS})
    overrides = {}
    for item in text.split():
        name, _, value = item.partition("=")
        name = name if name.isupper() else name.replace("-", "_")
        if name == "recursive" or types.get(name) is bool:
            overrides[name] = value not in ("0", "", "false", "False", "no")
        elif name in types:
            overrides[name] = types[name](value)
        else:
            raise SystemExit(f"accuracy.py: unknown option {name!r} in candidate {text!r}")
    return overrides


def run_one(csv: str, overrides: dict, folds: int, step: int | None, threads: int) -> dict:
    """Backtest one file with one configuration; returns MASE per series and method, and the seconds taken."""
    import torch

    torch.set_num_threads(threads)
    from forecaster.errors import BadInput
    from forecaster.model.forecast import MODEL
    from forecaster.nn.registry import load_registry
    from forecaster.options import FitOptions
    from forecaster.training import backtest, pipeline

    overrides = dict(overrides)
    recursive = overrides.pop("recursive", False)
    constants = {name: overrides.pop(name) for name in CONSTANTS if name in overrides}
    options = FitOptions(fill=FILL, **overrides)
    started = time.perf_counter()
    saved = {name: getattr(pipeline, name) for name in constants}
    vars(pipeline).update(constants)  # a pool's worker runs several tasks: restored below
    if recursive:  # one-step model; backtest's run_network feeds its forecasts back up to the horizon
        backtest.train_on = lambda table, opts, cell, **kw: pipeline.train_on(
            table, replace(opts, horizon=1), cell, **kw
        )
    outcome = {"file": Path(csv).stem, "cell": options.cell, "season": None, "mase": {}}
    try:
        result, _ = backtest.backtest_data(csv, options, load_registry(), folds, step)
    except BadInput as error:  # too short for these folds: the other files still count
        return {**outcome, "seconds": time.perf_counter() - started, "skipped": str(error)}
    finally:
        backtest.train_on = pipeline.train_on
        vars(pipeline).update(saved)
    return {
        **outcome,
        "season": result.season,
        "seconds": time.perf_counter() - started,
        "mase": {
            series: {options.cell if method == MODEL else method: scores.mase for method, scores in methods.items()}
            for series, methods in result.series.items()
        },
    }


def run_all(tasks: list[tuple[str, dict]], folds: int, step: int | None, jobs: int) -> list[dict]:
    """Run (csv, overrides) tasks, ``jobs`` at a time in fresh processes, torch's threads divided among them."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    if jobs == 1:
        return [_report(run_one(csv, overrides, folds, step, threads)) for csv, overrides in tasks]
    context = multiprocessing.get_context("spawn")  # not fork: torch's thread pools do not survive it
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = [pool.submit(run_one, csv, overrides, folds, step, threads) for csv, overrides in tasks]
        return [_report(future.result()) for future in futures]


def _report(result: dict) -> dict:
    done = f"skipped: {result['skipped']}" if "skipped" in result else f"{result['seconds']:.0f} s"
    print(f"accuracy.py: {result['file']} {result['cell']}: {done}", file=sys.stderr, flush=True)
    return result


def relative(mase: dict, method: str) -> float:
    """MASE of ``method`` over seasonal naive's, on one series."""
    return mase[method] / mase["seasonal-naive"]


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(map(math.log, values)) / len(values))


def fmt(value: float) -> str:
    return f"{value:.3f}"


def table(defaults: list[dict], compared: list[dict]) -> str:
    """The Markdown table of MASE per series: default lstm, torch-lstm, the baselines, and the verdict."""
    other = {result["file"]: result["mase"] for result in compared}
    lines = [
        (
            "| file | series | season | lstm (default) | torch-lstm | naive | seasonal naive | drift "
            "| default beats seasonal naive |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    wins = total = 0
    behind = []  #: series where some baseline beats the default
    for result in defaults:
        for series, mase in result["mase"].items():
            default = mase[result["cell"]]
            torch_lstm = other.get(result["file"], {}).get(series, {}).get(COMPARED, math.nan)
            beats = default < mase["seasonal-naive"]
            wins, total = wins + beats, total + 1
            best = min(BASELINES, key=mase.get)
            if mase[best] <= default:
                behind.append(f"{result['file']} {series} ({best} {fmt(mase[best])})")
            cells = [
                result["file"],
                series,
                str(result["season"]),
                fmt(default),
                fmt(torch_lstm),
                *(fmt(mase[method]) for method in BASELINES),
                "yes" if beats else "**no**",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    cell = defaults[0]["cell"]
    scores = [relative(mase, cell) for result in defaults for mase in result["mase"].values()]
    lines += [
        "",
        (
            f"The default ({cell}) beats seasonal naive on MASE on {wins} of {total} series; "
            f"geometric mean of its MASE relative to seasonal naive: {geometric_mean(scores):.3f}."
        ),
        f"It beats all three baselines on {total - len(behind)} of {total}; a baseline does better on "
        + (", ".join(behind) if behind else "none")
        + ".",
    ]
    lines += [f"Skipped {result['file']}: {result['skipped']}" for result in defaults if "skipped" in result]
    if compared:
        scores = [relative(mase, COMPARED) for result in compared for mase in result["mase"].values()]
        won = sum(score < 1 for score in scores)
        lines.append(
            f"{COMPARED} with the same options beats seasonal naive on {won} of {len(scores)}; geometric mean "
            f"{geometric_mean(scores):.3f}."
        )
    return "\n".join(lines)


def sweep_table(candidates: list[str], results: list[dict]) -> str:
    """Per candidate: geometric mean relative MASE, series won, and the relative MASE per file."""
    files = list(dict.fromkeys(result["file"] for result in results))
    lines = [
        "| candidate | geo. mean MASE / seasonal naive | beats seasonal naive | " + " | ".join(files) + " |",
        "|---|---:|---:|" + "---:|" * len(files),
    ]
    for number, candidate in enumerate(candidates):
        mine = [result for result in results if result["candidate"] == number]
        scores = {
            result["file"]: [relative(mase, result["cell"]) for mase in result["mase"].values()] for result in mine
        }
        every = [score for values in scores.values() for score in values]
        per_file = [" ".join(fmt(score) for score in scores.get(file, [])) or "skipped" for file in files]
        lines.append(
            f"| {candidate or '(defaults)'} | {fmt(geometric_mean(every))} | {sum(s < 1 for s in every)} of "
            f"{len(every)} | " + " | ".join(per_file) + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="directory of CSV files (default: ../shared/data)")
    parser.add_argument("--files", nargs="+", metavar="STEM", help="only these files (names without .csv)")
    parser.add_argument("--folds", type=int, default=3, help="backtest folds (default 3)")
    parser.add_argument("--step", type=int, help="origins per fold (default: the horizon)")
    parser.add_argument(
        "--jobs", type=int, default=2, help="backtests run at once, each in its own process (default 2)"
    )
    parser.add_argument(
        "--sweep",
        nargs="+",
        metavar="CANDIDATE",
        help='compare candidate defaults, e.g. "" window=16 "hidden_size=64 lr=0.003"',
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()

    csvs = sorted(str(path) for path in args.data.glob("*.csv") if not args.files or path.stem in args.files)
    if not csvs:
        raise SystemExit(
            f"accuracy.py: no CSV files in {args.data}" + (f" named {' '.join(args.files)}" if args.files else "")
        )
    largest_first = sorted(csvs, key=lambda csv: -os.path.getsize(csv))
    if args.sweep:
        candidates = [parse_candidate(text) for text in args.sweep]
        numbers = [(csv, number) for csv in largest_first for number in range(len(candidates))]
        results = run_all([(csv, candidates[number]) for csv, number in numbers], args.folds, args.step, args.jobs)
        for result, (_, number) in zip(results, numbers, strict=True):
            result["candidate"] = number
        order = {csv: position for position, csv in enumerate(csvs)}
        results.sort(key=lambda result: order[str(args.data / f"{result['file']}.csv")])
        print(sweep_table(args.sweep, results))
    else:
        tasks = [(csv, overrides) for csv in largest_first for overrides in ({}, {"cell": COMPARED})]
        results = run_all(tasks, args.folds, args.step, args.jobs)
        from forecaster.options import FitOptions

        by_file = {(result["file"], result["cell"]): result for result in results}
        defaults = [by_file[Path(csv).stem, FitOptions.cell] for csv in csvs]
        compared = [by_file[Path(csv).stem, COMPARED] for csv in csvs]
        print(table(defaults, compared))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
