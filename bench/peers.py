"""Time and score the statistical (and neural) peers on the competition collections, each in a fresh process.

    bench/peers-venv.sh                                          # once: builds bench/.venv-peers
    bench/.venv-peers/bin/python bench/peers.py                  # six collections x Theta, AutoETS, NBEATS
    bench/.venv-peers/bin/python bench/peers.py --only m1_yearly --methods Theta

Runs in its own venv (statsforecast, neuralforecast, torch CPU) so that none
of them becomes a dependency of forecaster; for the same reason it does not
import forecaster, nor bench/competitions.py (which does): the reading and
scoring conventions are copied from there. Each (collection, method) runs as
`python bench/peers.py --worker ...` in a new process, because a user's
`time python script.py` pays the imports (torch's are seconds) and any pool
start-up, which an in-process timer hides; the worker also reports its own
fit+predict time, imports and reading excluded. Scoring happens here, outside
the timed process. Prints a markdown table for bench/competitions.md.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "competitions"
#: collection -> (horizon, season, pandas frequency of the dates), from the competitions README
COLLECTIONS = {
    "m1_monthly": (18, 12, "MS"),
    "m1_quarterly": (8, 4, "QS"),
    "m1_yearly": (6, 1, "YS"),
    "tourism_monthly": (24, 12, "MS"),
    "tourism_quarterly": (8, 4, "QS"),
    "tourism_yearly": (4, 1, "YS"),
}
METHODS = ("Theta", "AutoETS", "NBEATS")
#: the README's reference table's columns, in order
REFERENCE_METHODS = ("Naive", "SeasonalNaive", "AutoETS", "Theta")
#: NBEATS trains for this many steps instead of neuralforecast's 1000, to stay well under 2 minutes a collection
NBEATS_STEPS = 100


def read_train(path: Path) -> pd.DataFrame:
    """The long file in the column names both Nixtla libraries expect."""
    frame = pd.read_csv(path, parse_dates=["date"])
    return frame.rename(columns={"series": "unique_id", "date": "ds", "value": "y"})


def forecaster(method: str, horizon: int, season: int, freq: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Import `method`'s library and build its model; the returned function fits every series and forecasts.

    The import is here so that each worker pays only its own library's, and before the worker starts its
    clock, so that "fit+predict" leaves it out. The result has columns unique_id, ds and `method`.
    """
    if method == "NBEATS":
        from neuralforecast import NeuralForecast
        from neuralforecast.models import NBEATS

        # input_size 2h is neuralforecast's documented NBEATS example (it has no default); start padding
        # because otherwise fit refuses a collection whose shortest series is under input_size (4 of the 6);
        # everything else is the default, except no logger, checkpoints or progress bar
        model = NBEATS(
            h=horizon,
            input_size=2 * horizon,
            max_steps=NBEATS_STEPS,
            start_padding_enabled=True,
            enable_progress_bar=False,
            enable_model_summary=False,
            logger=False,
            enable_checkpointing=False,
        )
        nf = NeuralForecast(models=[model], freq=freq)

        def neural(train: pd.DataFrame) -> pd.DataFrame:
            nf.fit(df=train)
            return nf.predict()

        return neural
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, Theta

    models = {"Theta": Theta, "AutoETS": AutoETS}
    # n_jobs=-1: one process per core (statsforecast's default, n_jobs=1, uses one core only)
    sf = StatsForecast(models=[models[method](season_length=season)], freq=freq, n_jobs=-1)
    return lambda train: sf.forecast(h=horizon, df=train)


def worker(name: str, method: str, data: Path, out: Path) -> None:
    """Read, fit and forecast one collection in this (fresh) process; print the in-process seconds as JSON."""
    horizon, season, freq = COLLECTIONS[name]
    fit_and_forecast = forecaster(method, horizon, season, freq)
    started = time.perf_counter()
    train = read_train(data / f"{name}_train.csv")
    read = time.perf_counter()
    result = fit_and_forecast(train)
    done = time.perf_counter()
    result.reset_index().rename(columns={method: "forecast"})[["unique_id", "ds", "forecast"]].to_csv(out, index=False)
    print(json.dumps({"read": read - started, "fit_predict": done - read}))


def smape(actual: np.ndarray, predicted: np.ndarray) -> float:
    """M3's sMAPE in percent, 0 where both are 0 (as bench/competitions.py)."""
    denominator = np.abs(actual) + np.abs(predicted)
    safe = np.where(denominator > 0, denominator, 1)
    return float(np.mean(np.where(denominator > 0, 200 * np.abs(actual - predicted) / safe, 0)))


def mase_scale(training: np.ndarray, season: int) -> float | None:
    """Mean absolute seasonal difference; None (left out of MASE) for at most `season` values or a zero scale."""
    if len(training) <= season:
        return None
    scale = float(np.mean(np.abs(training[season:] - training[:-season])))
    return scale if scale > 0 else None


def score(name: str, forecasts: pd.DataFrame, data: Path) -> tuple[float, float]:
    """(sMAPE, MASE) averaged over the series of the test file."""
    horizon, season, _ = COLLECTIONS[name]
    training = pd.read_csv(data / f"{name}_train.csv").groupby("series", sort=False)["value"]
    predicted = forecasts.sort_values(["unique_id", "ds"]).groupby("unique_id")["forecast"]
    smapes, mases = [], []
    for series, group in pd.read_csv(data / f"{name}_test.csv").groupby("series", sort=False):
        actual = group["value"].to_numpy(dtype=float)
        values = predicted.get_group(series).to_numpy(dtype=float)[:horizon]
        if len(values) != horizon or not np.all(np.isfinite(values)):
            raise ValueError(f"{name}: {series} has no finite {horizon}-step forecast")
        smapes.append(smape(actual, values))
        scale = mase_scale(training.get_group(series).to_numpy(dtype=float), season)
        if scale is not None:
            mases.append(float(np.mean(np.abs(actual - values))) / scale)
    return float(np.mean(smapes)), float(np.mean(mases))


def references(readme: Path) -> dict[tuple[str, str], tuple[float, float]]:
    """(collection, method) -> (sMAPE, MASE) from the README's table of reference scores."""
    found = {}
    for line in readme.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 6 and f"{cells[0]}_{cells[1]}" in COLLECTIONS:
            for method, cell in zip(REFERENCE_METHODS, cells[2:6], strict=True):
                match = re.fullmatch(r"([\d.]+) / ([\d.]+)", cell)
                if match:
                    found[(f"{cells[0]}_{cells[1]}", method)] = (float(match[1]), float(match[2]))
    return found


def run(name: str, method: str, data: Path) -> dict[str, float]:
    """One fresh worker process, timed from outside; then its forecasts scored here."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "forecast.csv"
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", name, method, "--data", str(data)]
        started = time.perf_counter()
        # cwd: a scratch folder, so that nothing a library writes lands in the repo
        done = subprocess.run([*command, "--out", str(out)], cwd=folder, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"{name} {method} failed:\n{done.stderr[-3000:]}")
        inside = json.loads(done.stdout.strip().splitlines()[-1])
        smape_, mase = score(name, pd.read_csv(out), data)
    return {"smape": smape_, "mase": mase, "wall": wall, **inside}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DATA, help="the competitions folder (train and test files, README)"
    )
    parser.add_argument("--only", nargs="*", choices=list(COLLECTIONS), help="these collections only")
    parser.add_argument("--methods", nargs="*", choices=METHODS, default=list(METHODS), help="these methods only")
    parser.add_argument("--worker", nargs=2, metavar=("COLLECTION", "METHOD"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        collection, method = args.worker
        worker(collection, method, args.data, args.out)
        return
    reference = references(args.data / "README.md")
    lines = [
        (
            "| collection | method | sMAPE | MASE | wall s (fresh process) | fit+predict s (no imports) "
            "| README reference sMAPE / MASE |"
        ),
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for name in args.only or COLLECTIONS:
        for method in args.methods:
            result = run(name, method, args.data)
            ref = reference.get((name, method))
            print(f"{name} {method}: {result}", file=sys.stderr, flush=True)
            lines.append(
                f"| {name} | {method} | {result['smape']:.2f} | {result['mase']:.3f} | {result['wall']:.1f} "
                f"| {result['fit_predict']:.1f} | {f'{ref[0]:.2f} / {ref[1]:.3f}' if ref else '-'} |"
            )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
