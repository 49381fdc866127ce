"""Score the competition collections as their README defines: fit on `_train`, forecast h, score against `_test`.

    .venv/bin/python bench/competitions.py                       # the six collections, default options
    .venv/bin/python bench/competitions.py --only m1_yearly --set hidden_size=64 members=1   # one, with other options

Each collection is one long file (series, date, value), fitted once with
`forecaster fit`'s defaults and the collection's horizon, then forecast with
80% and 95% intervals. sMAPE (M3's, percent) and MASE (over the in-sample mean
absolute seasonal difference, series with at most m training values or a zero
scale left out) are averaged over the series; coverage is the share of test
values inside each interval. Fit (in memory, not saved) and predict are
timed in this process (imports excluded); the reference scores of the statistical methods are read
from the collections' README. Prints a markdown table for bench/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.nn.registry import load_registry
from forecaster.options import FitOptions
from forecaster.training.pipeline import fit

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "competitions"
#: collection -> (horizon, season), from the competitions README
COLLECTIONS = {
    "m1_monthly": (18, 12),
    "m1_quarterly": (8, 4),
    "m1_yearly": (6, 1),
    "tourism_monthly": (24, 12),
    "tourism_quarterly": (8, 4),
    "tourism_yearly": (4, 1),
}
LEVELS = (80, 95)
METHODS = ("Naive", "SeasonalNaive", "AutoETS", "Theta")


def references(readme: Path) -> dict[str, dict[str, tuple[float, float]]]:
    """collection -> method -> (sMAPE, MASE), from the README's table of reference scores."""
    found = {}
    for line in readme.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 6 and f"{cells[0]}_{cells[1]}" in COLLECTIONS:
            scores = [re.fullmatch(r"([\d.]+) / ([\d.]+)", cell) for cell in cells[2:6]]
            if all(scores):
                found[f"{cells[0]}_{cells[1]}"] = {
                    method: (float(m[1]), float(m[2])) for method, m in zip(METHODS, scores, strict=True)
                }
    return found


def smape(actual: np.ndarray, predicted: np.ndarray) -> float:
    denominator = np.abs(actual) + np.abs(predicted)
    return float(
        np.mean(
            np.where(denominator > 0, 200 * np.abs(actual - predicted) / np.where(denominator > 0, denominator, 1), 0)
        )
    )


def mase_scale(training: np.ndarray, season: int) -> float | None:
    if len(training) <= season:
        return None
    scale = float(np.mean(np.abs(training[season:] - training[:-season])))
    return scale if scale > 0 else None


def score(name: str, options: FitOptions, data: Path) -> dict:
    horizon, season = COLLECTIONS[name]
    train_csv, test_csv = data / f"{name}_train.csv", data / f"{name}_test.csv"
    registry = load_registry()
    started = time.perf_counter()
    model, report = fit(train_csv, dataclasses.replace(options, horizon=horizon), registry)
    fitted = time.perf_counter()
    result = model.forecast(horizon, LEVELS)
    predicted = time.perf_counter()
    training = pd.read_csv(train_csv).groupby("series", sort=False)["value"]
    test = pd.read_csv(test_csv).groupby("series", sort=False)["value"]
    smapes, mases, inside = [], [], {level: [] for level in LEVELS}
    for series, group in test:
        actual = group.to_numpy(dtype=float)
        values = result.values[series][:horizon]
        smapes.append(smape(actual, values))
        scale = mase_scale(training.get_group(series).to_numpy(dtype=float), season)
        if scale is not None:
            mases.append(float(np.mean(np.abs(actual - values))) / scale)
        for level in LEVELS:
            lower, upper = result.bounds[series][level]
            inside[level].append((lower[:horizon] <= actual) & (actual <= upper[:horizon]))
    return {
        "smape": float(np.mean(smapes)),
        "mase": float(np.mean(mases)),
        "fit": fitted - started,
        "predict": predicted - fitted,
        "epochs": report.epochs_run,
        "best": report.best_epoch,
        "chosen": report.chosen,
        "coverage": {level: float(np.mean(np.concatenate(hits))) for level, hits in inside.items()},
    }


def table(results: dict[str, dict], reference: dict[str, dict]) -> str:
    lines = [
        (
            "| collection | forecaster sMAPE / MASE | SeasonalNaive | Theta | AutoETS | beats SNaive (both) "
            "| beats Theta (sMAPE) | beats AutoETS (sMAPE) | fit s | predict s | coverage 80% / 95% |"
        ),
        "|---|---|---|---|---|---|---|---|---:|---:|---|",
    ]
    wins = {"SeasonalNaive": 0, "Theta": 0, "AutoETS": 0}
    for name, result in results.items():
        ours = (result["smape"], result["mase"])
        ref = reference.get(name, {})
        beats = {
            "SeasonalNaive": bool(ref) and ours[0] < ref["SeasonalNaive"][0] and ours[1] < ref["SeasonalNaive"][1],
            "Theta": bool(ref) and ours[0] < ref["Theta"][0],
            "AutoETS": bool(ref) and ours[0] < ref["AutoETS"][0],
        }
        for method, won in beats.items():
            wins[method] += won
        refs = [
            f"{ref[m][0]:.2f} / {ref[m][1]:.3f}" if m in ref else "?" for m in ("SeasonalNaive", "Theta", "AutoETS")
        ]
        coverage = " / ".join(f"{result['coverage'][level]:.1%}" for level in LEVELS)
        lines.append(
            f"| {name} | {ours[0]:.2f} / {ours[1]:.3f} | {' | '.join(refs)} | "
            f"{' | '.join('yes' if beats[m] else 'no' for m in wins)} | {result['fit']:.1f} | {result['predict']:.2f} "
            f"| {coverage} |"
        )
    count = len(results)
    lines.append("")
    lines.append(
        f"Better than SeasonalNaive on both on {wins['SeasonalNaive']} of {count}, than Theta on sMAPE on "
        f"{wins['Theta']} of {count}, "
        f"than AutoETS on sMAPE on {wins['AutoETS']} of {count}."
    )
    return "\n".join(lines)


def parse_settings(pairs: list[str]) -> dict:
    types = {field.name: field.type for field in dataclasses.fields(FitOptions)}
    settings = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        if key not in types:
            sys.exit(f"unknown option {key!r}")
        settings[key] = (
            None
            if text == "None"
            else (float(text) if "float" in str(types[key]) else int(text) if "int" in str(types[key]) else text)
        )
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DATA, help="the competitions folder (train and test files, README)"
    )
    parser.add_argument("--only", nargs="*", choices=list(COLLECTIONS), help="these collections only")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="fit options other than the defaults")
    args = parser.parse_args()
    options = FitOptions(id_col="series", date_col="date", value_col="value", **parse_settings(args.set))
    results = {}
    for name in args.only or COLLECTIONS:
        results[name] = score(name, options, args.data)
        result = results[name]
        print(
            f"{name}: sMAPE {result['smape']:.2f} MASE {result['mase']:.3f} fit {result['fit']:.1f} s "
            f"predict {result['predict']:.2f} s epochs {result['epochs']} (best {result['best']}) "
            f"coverage {result['coverage']}; {'; '.join(result['chosen'])}",
            file=sys.stderr,
            flush=True,
        )
    print(table(results, references(args.data / "README.md")))


if __name__ == "__main__":
    main()
