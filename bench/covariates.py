"""What covariates are worth: backtest MAE with and without them, and the fit's seconds, on real and synthetic data.

    .venv/bin/python bench/covariates.py              # every case, two backtests at once
    .venv/bin/python bench/covariates.py --only elecdemand_halfhourly

Cases:
- elecdemand_halfhourly: the last ROWS rows of Victoria's half-hourly demand
  (../shared/data), horizon 48 (a day), FOLDS folds a day apart; its
  temperature and working-day flag read as future-known (a weather
  forecast's temperature, a calendar's working days) or temperature as
  past-observed (measured only). Those folds are December 27 to 31, the
  Christmas shut-down, where the 29th to the 31st are working days by the
  flag and holidays by the demand;
- elecdemand_halfhourly over the year: ORIGINS origins spread evenly over the
  same year (the first after ROWS rows, the last at its end), each fitted on
  the ROWS rows before it and forecasting the day after (one fold each): the
  seasons, the days of the week and the hours a forecaster meets in use;
- elecdemand_daily: the same year summed by day (demand), its highest
  temperature and its working-day flag, horizon 7;
- synthetic_promotions: 20 daily series, each with a weekly season, its own
  level and its own random promotion days that lift it by 15 (a known future
  covariate), plus noise of standard deviation 1: the right answer's MAE is
  that noise's, sqrt(2/pi) = 0.80.

Each is backtested (`forecaster.backtest`, the public Python face) without
covariates or calendar (forecaster 0.3's reading), with the calendar only
(the default for sub-daily and daily data), and with the covariates (and
the calendar), and the half-hourly cases also with temperature as
past-observed and with the covariates under a time limit (TIME_LIMIT). A
case of several origins scores the mean of their MAEs (each over as many
forecasts). Then fresh `forecaster fit` processes without covariates and
with each of TIMED's variants are timed, in turn, REPEATS times each, on
each case's whole file (the half-hourly one's ROWS rows): the fit's cost of
its covariates is their ratio, pair by pair. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
ROWS = 4000
FOLDS = 5
ORIGINS = 8
REPEATS = 2
#: seconds of training (counted from the data's preparation): at 1d195e2 a little above what the half-hourly fit
#: without covariates trained for on this machine (28 to 32 s), which kept the fit with them within 1.5 times it
#: while its early stopping chased 200 held-out windows one row apart; kept as the measure of what a limit costs the
#: covariates. A variant under a time limit is backtested alone, since a second one beside it would take half its CPU
TIME_LIMIT = 35.0
LIMITED = f"temperature, workday, --time-limit {TIME_LIMIT:g}"  #: the half-hourly variant under it
PROMOTION_LIFT = 15.0
NOISE = 1.0

#: case -> variant -> fit options (besides the case's own); the first is "none", and the file's fit is timed without
#: them and with each of TIMED's
HALF_HOURLY = {
    "none": {"calendar": False},
    "calendar": {},
    "temperature (past), workday": {"past": ("temperature",), "future": ("workday",)},
    "temperature, workday": {"future": ("temperature", "workday")},
    LIMITED: {"future": ("temperature", "workday"), "time_limit": TIME_LIMIT},
}
VARIANTS = {
    "elecdemand_halfhourly": HALF_HOURLY,
    "elecdemand_halfhourly over the year": HALF_HOURLY,
    "elecdemand_daily": {
        "none": {"calendar": False},
        "calendar": {},
        "temperature, workday": {"future": ("temperature_max", "workday")},
    },
    "synthetic_promotions": {
        "none": {"calendar": False},
        "calendar": {},
        "promotion": {"future": ("promotion",)},
    },
}
TIMED = {
    "elecdemand_halfhourly": ("temperature, workday", LIMITED),
    "elecdemand_daily": ("temperature, workday",),
    "synthetic_promotions": ("promotion",),
}


def cases(directory: Path, rows: int = ROWS) -> dict[str, tuple[list[Path], dict]]:
    """Each case's files (one, or one an origin), written to ``directory``, and its options; ``rows``: the half-hourly
    file's last rows (0: all of them)."""
    half_hourly = pd.read_csv(DATA / "elecdemand_halfhourly.csv", parse_dates=["date"])
    recent = directory / "elecdemand_halfhourly.csv"
    (half_hourly.tail(rows) if rows else half_hourly).to_csv(recent, index=False)
    origins = []
    for k in range(ORIGINS):
        end = ROWS + 48 + round(k * (len(half_hourly) - ROWS - 48) / (ORIGINS - 1))
        origins.append(directory / f"elecdemand_halfhourly_to_{end}.csv")
        half_hourly.iloc[end - ROWS - 48 : end].to_csv(origins[-1], index=False)
    daily = half_hourly.groupby(half_hourly["date"].dt.normalize()).agg(
        demand_gwh=("demand_gw", lambda gw: gw.sum() / 2),
        temperature_max=("temperature", "max"),
        workday=("workday", "max"),
    )
    daily_path = directory / "elecdemand_daily.csv"
    daily.rename_axis("date").reset_index().to_csv(daily_path, index=False)
    promotions = directory / "synthetic_promotions.csv"
    synthetic_promotions().to_csv(promotions, index=False)
    return {
        "elecdemand_halfhourly": ([recent], {"horizon": 48, "targets": ("demand_gw",), "folds": FOLDS, "step": 48}),
        "elecdemand_halfhourly over the year": (origins, {"horizon": 48, "targets": ("demand_gw",), "folds": 1}),
        "elecdemand_daily": ([daily_path], {"horizon": 7, "targets": ("demand_gwh",), "folds": FOLDS, "step": 7}),
        "synthetic_promotions": ([promotions], {"horizon": 14, "id_col": "store", "value_col": "sales", "folds": 3}),
    }


def synthetic_promotions() -> pd.DataFrame:
    """20 stores' daily sales, a long file: a weekly season, a level each, promotion days that add PROMOTION_LIFT."""
    rng = np.random.default_rng(20)
    days = pd.date_range("2023-01-01", periods=400, freq="D")
    weekly = np.array([1.0, 0.9, 0.95, 1.0, 1.1, 1.4, 1.3])[days.day_of_week]
    frames = []
    for store in range(20):
        promotion = (rng.random(len(days)) < 0.15).astype(int)
        level = rng.uniform(40, 80)
        sales = level * weekly + PROMOTION_LIFT * promotion + rng.normal(0, NOISE, len(days))
        frames.append(pd.DataFrame({"store": f"s{store:02d}", "date": days, "sales": sales, "promotion": promotion}))
    return pd.concat(frames, ignore_index=True)


def backtest_one(path: Path, options: dict) -> dict:
    """In a fresh process: the backtest's overall MAE, the model's and seasonal naive's, and its seconds."""
    import forecaster

    options = dict(options)
    folds, step = options.pop("folds"), options.pop("step", None)
    started = time.perf_counter()
    result = forecaster.backtest(path, folds=folds, step=step, **options)
    seconds = time.perf_counter() - started
    overall = result.metrics[result.metrics["scope"] == "overall"].set_index("method")
    return {
        "mae": float(overall.loc["model", "mae"]),
        "naive": float(overall.loc["seasonal-naive", "mae"]),
        "seconds": seconds,
    }


def pooled(origins: list[dict]) -> dict:
    """One case's result from its origins' backtests, each of as many forecasts: the mean MAE, the total seconds."""
    return {
        "mae": statistics.fmean(result["mae"] for result in origins),
        "naive": statistics.fmean(result["naive"] for result in origins),
        "seconds": sum(result["seconds"] for result in origins),
    }


def fit_arguments(path: Path, options: dict, out: Path) -> list[str]:
    """`forecaster fit` as a user would type it for these options."""
    arguments = [str(ROOT / ".venv" / "bin" / "forecaster"), "fit", str(path), "--out", str(out)]
    for name, value in options.items():
        if name in ("folds", "step"):
            continue
        flag = "--" + ("target" if name == "targets" else name.replace("_", "-"))
        if isinstance(value, bool):
            arguments.append(flag if value else flag.replace("--", "--no-", 1))
        elif isinstance(value, tuple):
            for item in value:
                arguments += [flag, item]
        else:
            arguments += [flag, str(value)]
    return arguments


def fit_seconds(path: Path, variants: list[dict], directory: Path) -> list[list[float]]:
    """Fresh `forecaster fit` processes of each variant's options, in turn, REPEATS times: their wall seconds."""
    times: list[list[float]] = [[] for _ in variants]
    for _ in range(REPEATS):
        for k, options in enumerate(variants):
            started = time.perf_counter()
            subprocess.run(fit_arguments(path, options, directory / f"model{k}"), check=True, capture_output=True)
            times[k].append(time.perf_counter() - started)
    return times


def backtests(files: dict, chosen: list[str], wanted: list[str] | None, jobs: int) -> dict:
    """(case, variant) -> its pooled result; ``jobs`` backtests at once, each in a fresh process, and then the
    time-limited ones one at a time."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter each: no torch thread pool forked
    runs = [
        (name, variant, options)
        for name in chosen
        for variant, options in VARIANTS[name].items()
        if variant == "none" or not wanted or variant in wanted
    ]
    results = {}
    for limited, workers in ((False, jobs), (True, 1)):
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, max_tasks_per_child=1) as pool:
            futures = {
                (name, variant): [
                    pool.submit(backtest_one, path, {**files[name][1], **options}) for path in files[name][0]
                ]
                for name, variant, options in runs
                if ("time_limit" in options) == limited
            }
            results.update({key: pooled([future.result() for future in each]) for key, each in futures.items()})
    return {(name, variant): results[(name, variant)] for name, variant, _ in runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="these cases only")
    parser.add_argument("--jobs", type=int, default=2, help="backtests at once, each in a fresh process")
    parser.add_argument("--rows", type=int, default=ROWS, help="the half-hourly file's last rows (0: the whole year)")
    parser.add_argument("--variants", nargs="*", help="these variants only (the first, 'none', is always run)")
    parser.add_argument("--no-timing", action="store_true", help="skip the timed fits")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        files = cases(directory, args.rows)
        chosen = [name for name in files if not args.only or name in args.only]
        results = backtests(files, chosen, args.variants, args.jobs)
        lines = [
            "| case | variant | MAE | vs none | seasonal naive MAE | backtest s |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for (name, variant), result in results.items():
            none = results[(name, "none")]["mae"]
            lines.append(
                f"| {name} | {variant} | {result['mae']:.4g} | {result['mae'] / none - 1:+.1%} | "
                f"{result['naive']:.4g} | {result['seconds']:.0f} |"
            )
        print("\n".join(lines))
        print(f"\nsynthetic_promotions: the right answer's MAE is {NOISE * np.sqrt(2 / np.pi):.3f} (the noise's)\n")
        if args.no_timing:
            return
        lines = [
            "| case | variant | fit without (s, median) | fit with (s, median) | ratio |",
            "|---|---|---:|---:|---:|",
        ]
        for name in chosen:
            if name not in TIMED:  # its fits are the half-hourly case's
                continue
            (path,), options = files[name]
            timed = ["none", *(variant for variant in TIMED[name] if not args.variants or variant in args.variants)]
            without, *others = fit_seconds(path, [{**options, **VARIANTS[name][v]} for v in timed], directory)
            for variant, seconds in zip(timed[1:], others, strict=True):
                ratio = statistics.median(b / a for a, b in zip(without, seconds, strict=True))
                lines.append(
                    f"| {name} | {variant} | {statistics.median(without):.1f} | {statistics.median(seconds):.1f} | "
                    f"{ratio:.2f} |"
                )
            print(f"covariates.py: {name}: fits timed", file=sys.stderr, flush=True)
        print("\n".join(lines))


if __name__ == "__main__":
    main()
