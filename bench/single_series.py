"""Backtest sMAPE of the default model against seasonal naive on single series: the shared files and synthetic series
whose trend and season are known.

    .venv/bin/python bench/single_series.py                        # this checkout's forecaster
    (cd <another checkout> && .venv/bin/python /path/to/bench/single_series.py)   # another version, same series

Each series is backtested as `forecaster backtest FILE --folds 3` does,
through the public Python face (`forecaster.backtest`, the same in every
version since 0.2.0), default options but the horizon: 7, or a day (48) for
the half-hourly electricity demand (its last 4,000 rows, demand only, no
covariates). The synthetic series are made here from a fixed seed: a
monthly one with a linear trend and a multiplicative yearly season, a daily
one with a weekly season and a trend, a half-hourly one with a daily season,
each with noise. Two backtests run at once, each in a fresh process
(imports excluded from its seconds). Prints a markdown table of sMAPE per
series, the model's and seasonal naive's, and the seconds per file.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
#: file stem -> (fit options other than the defaults, rows kept from the end or None for all)
SHARED = {
    "airline": ({}, None),
    "co2_weekly": ({"fill": "interpolate"}, None),
    "elnino_monthly": ({}, None),
    "unemployment_monthly": ({}, None),
    "seattle_weather_daily": ({}, None),
    "stocks_daily": ({}, None),
    "nile": ({}, None),
    "elecdemand_halfhourly": ({"horizon": 48, "targets": ("demand_gw",)}, 4000),
}
HORIZON = 7
FOLDS = 3


def synthetic(directory: Path) -> dict[str, tuple[Path, dict]]:
    """Series whose trend and season are known, written to ``directory``."""
    rng = np.random.default_rng(12)
    made = {}
    monthly = pd.date_range("2000-01-01", periods=180, freq="MS")
    steps = np.arange(len(monthly))
    season = 1 + 0.25 * np.sin(2 * np.pi * steps / 12)
    made["synthetic_monthly"] = (monthly, (100 + 0.8 * steps) * season * rng.lognormal(0, 0.03, len(steps)), {})
    daily = pd.date_range("2020-01-01", periods=730, freq="D")
    steps = np.arange(len(daily))
    weekly = np.array([1.0, 1.1, 1.15, 1.1, 1.05, 0.7, 0.6])[steps % 7]
    made["synthetic_daily"] = (daily, (50 + 0.02 * steps) * weekly + rng.normal(0, 1.0, len(steps)), {})
    halfhourly = pd.date_range("2024-01-01", periods=4000, freq="30min")
    steps = np.arange(len(halfhourly))
    made["synthetic_halfhourly"] = (
        halfhourly,
        5 + 1.5 * np.sin(2 * np.pi * (steps % 48) / 48 - 1) + rng.normal(0, 0.15, len(steps)),
        {"horizon": 48},
    )
    files = {}
    for name, (times, values, options) in made.items():
        path = directory / f"{name}.csv"
        pd.DataFrame({"date": times, "value": values}).to_csv(path, index=False)
        files[name] = (path, options)
    return files


def shared(directory: Path) -> dict[str, tuple[Path, dict]]:
    files = {}
    for stem, (options, last_rows) in SHARED.items():
        path = DATA / f"{stem}.csv"
        if last_rows is not None:
            frame = pd.read_csv(path).tail(last_rows)
            path = directory / f"{stem}_last{last_rows}.csv"
            frame.to_csv(path, index=False)
        files[stem] = (path, options)
    return files


def backtest_one(name: str, path: Path, options: dict) -> dict:
    """In a fresh process: sMAPE per series of the model and of seasonal naive, and the seconds the backtest took."""
    import forecaster

    started = time.perf_counter()
    result = forecaster.backtest(path, folds=FOLDS, **{"horizon": HORIZON, **options})
    seconds = time.perf_counter() - started
    metrics = result.metrics
    rows = metrics[metrics["scope"] == "series"]
    scores = {
        str(series): {
            method: float(group.loc[group["method"] == method, "smape"].iloc[0])
            for method in ("model", "seasonal-naive")
        }
        for series, group in rows.groupby("series", sort=False)
    }
    return {"name": name, "seconds": seconds, "smape": scores, "version": forecaster.__version__}


def table(results: list[dict]) -> str:
    lines = [
        "| file | series | sMAPE model | sMAPE seasonal naive | model better | seconds (file) |",
        "|---|---|---:|---:|---|---:|",
    ]
    better = total = 0
    for result in results:
        for series, scores in result["smape"].items():
            wins = scores["model"] < scores["seasonal-naive"]
            better, total = better + wins, total + 1
            lines.append(
                f"| {result['name']} | {series} | {scores['model']:.2f} | {scores['seasonal-naive']:.2f} | "
                f"{'yes' if wins else '**no**'} | {result['seconds']:.0f} |"
            )
    lines += ["", f"forecaster {results[0]['version']}: better than seasonal naive on {better} of {total} series."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="these files or synthetic series only")
    parser.add_argument("--jobs", type=int, default=2, help="backtests at once, each in a fresh process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        files = {**shared(Path(directory)), **synthetic(Path(directory))}
        chosen = [name for name in files if not args.only or name in args.only]
        context = multiprocessing.get_context("spawn")  # a fresh interpreter each: no torch thread pool forked
        with concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=context, max_tasks_per_child=1) as pool:
            futures = {name: pool.submit(backtest_one, name, *files[name]) for name in chosen}
            results = []
            for name in chosen:
                results.append(futures[name].result())
                print(f"single_series.py: {name}: {results[-1]['seconds']:.0f} s", file=sys.stderr, flush=True)
    print(table(results))


if __name__ == "__main__":
    main()
