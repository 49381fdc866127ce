"""Score the competition collections as their README defines: fit on `_train`, forecast h, score against `_test`.

    .venv/bin/python bench/competitions.py                       # the six collections, default options
    .venv/bin/python bench/competitions.py --only m1_yearly --set hidden_size=64 members=1   # one, with other options
    .venv/bin/python bench/competitions.py --only tourism_yearly --fresh   # fit timed as a user times it
    .venv/bin/python bench/competitions.py --only monthly_stacked          # both monthly sets in one fit

Each collection is one long file (series, date, value), fitted once with
`forecaster fit`'s defaults and the collection's horizon, then forecast with
80% and 95% intervals. sMAPE (M3's, percent) and MASE (over the in-sample mean
absolute seasonal difference, series with at most m training values or a zero
scale left out) are averaged over the series; coverage is the share of test
values inside each interval. Fit (in memory, not saved) and predict are
timed in this process (imports excluded); the reference scores of the statistical methods are read
from the collections' README. Prints a markdown table for bench/competitions.md, then each fit's notes.

--fresh runs `forecaster fit` as a new process instead, as a user does, and
times its wall time (imports, reading, training and saving included); the
model it saved is then loaded here, forecast and scored the same way.

monthly_stacked (not one of the default six) fits m1_monthly and
tourism_monthly as one file, series ids prefixed `m1_` and `tourism_`, with
the longer horizon (24) and season 12, and scores each part against its own
test file and horizon: two rows, sharing one fit and one predict time.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.model.forecast import Forecast
from forecaster.model.trained import Model
from forecaster.nn.registry import Registry, load_registry
from forecaster.options import FitOptions
from forecaster.training.pipeline import fit

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "competitions"
#: the command installed beside this Python (.venv/bin/forecaster), which --fresh runs
FORECASTER = Path(sys.executable).with_name("forecaster")
#: collection -> (horizon, season), from the competitions README
COLLECTIONS = {
    "m1_monthly": (18, 12),
    "m1_quarterly": (8, 4),
    "m1_yearly": (6, 1),
    "tourism_monthly": (24, 12),
    "tourism_quarterly": (8, 4),
    "tourism_yearly": (4, 1),
}
#: pseudo-collection -> the collections stacked into its one file (sharing a season); only run when --only names it
STACKED = {"monthly_stacked": ("m1_monthly", "tourism_monthly")}
LEVELS = (80, 95)
METHODS = ("Naive", "SeasonalNaive", "AutoETS", "Theta")


@dataclasses.dataclass
class Part:
    """One scored row: the forecast of `collection`'s series (named `prefix` + id in the fitted file) against its
    test file."""

    row: str
    collection: str
    prefix: str = ""


@dataclasses.dataclass
class Fit:
    """A trained model and what the table reports of its training, whichever way it was fitted."""

    model: Model
    seconds: float  #: the fit call in this process, or a fresh `forecaster fit` process's wall time
    epochs: int
    best: int
    chosen: list[str]
    notes: list[str]


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


def training_file(name: str, data: Path, workdir: Path) -> tuple[Path, list[Part]]:
    """The file to fit for `name` and the rows it is scored as; a stacked one is written to `workdir`, each series id
    prefixed with its set's name (m1_, tourism_) so that ids the sets share stay distinct series."""
    if name not in STACKED:
        return data / f"{name}_train.csv", [Part(name, name)]
    parts = [Part(f"{name}:{collection}", collection, collection.split("_")[0] + "_") for collection in STACKED[name]]
    frames = []
    for part in parts:
        frame = pd.read_csv(data / f"{part.collection}_train.csv")
        frame["series"] = part.prefix + frame["series"].astype(str)
        frames.append(frame)
    path = workdir / f"{name}_train.csv"
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)
    return path, parts


def fit_here(train_csv: Path, settings: dict, registry: Registry) -> Fit:
    """Fit in this process, in memory: the library's own time, imports and saving excluded."""
    options = FitOptions(id_col="series", date_col="date", value_col="value", **settings)
    started = time.perf_counter()
    model, report = fit(train_csv, options, registry)
    seconds = time.perf_counter() - started
    return Fit(model, seconds, report.epochs_run, report.best_epoch, list(report.chosen), list(report.notes))


def fit_fresh(train_csv: Path, settings: dict, out: Path, registry: Registry) -> Fit:
    """Fit as a user does: `forecaster fit` in a new process, timed from start to exit (imports, reading, training,
    saving), then the model it saved loaded here. Its notes are the summary's "note:" lines on stderr."""
    flags = [
        part
        for key, value in settings.items()
        if key != "horizon" and value is not None  # None is each such option's default: no flag
        for part in (f"--{key.replace('_', '-')}", str(value))
    ]
    command = [str(FORECASTER), "fit", str(train_csv), "--id-col", "series", "--date-col", "date"]
    command += ["--value-col", "value", "--horizon", str(settings["horizon"]), "--out", str(out), *flags]
    started = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if finished.returncode != 0:
        print(f"{' '.join(command)} failed ({finished.returncode}):", file=sys.stderr)
        print(finished.stdout + finished.stderr, end="", file=sys.stderr)
        sys.exit(1)
    notes = [line.removeprefix("note:").strip() for line in finished.stderr.splitlines() if line.startswith("note:")]
    model = Model.load(out, registry)
    training = model.card.training
    return Fit(model, seconds, training.epochs_run, training.best_epoch, list(model.card.chosen), notes)


def score(result: Forecast, data: Path, part: Part) -> dict:
    """sMAPE, MASE and coverage of `part`'s collection over its own horizon (the first steps of a longer forecast)."""
    horizon, season = COLLECTIONS[part.collection]
    training = pd.read_csv(data / f"{part.collection}_train.csv").groupby("series", sort=False)["value"]
    test = pd.read_csv(data / f"{part.collection}_test.csv").groupby("series", sort=False)["value"]
    smapes, mases, inside = [], [], {level: [] for level in LEVELS}
    for series, group in test:
        actual = group.to_numpy(dtype=float)
        name = f"{part.prefix}{series}"
        values = result.values[name][:horizon]
        smapes.append(smape(actual, values))
        scale = mase_scale(training.get_group(series).to_numpy(dtype=float), season)
        if scale is not None:
            mases.append(float(np.mean(np.abs(actual - values))) / scale)
        for level in LEVELS:
            lower, upper = result.bounds[name][level]
            inside[level].append((lower[:horizon] <= actual) & (actual <= upper[:horizon]))
    return {
        "smape": float(np.mean(smapes)),
        "mase": float(np.mean(mases)),
        "coverage": {level: float(np.mean(np.concatenate(hits))) for level, hits in inside.items()},
    }


def run(name: str, settings: dict, data: Path, workdir: Path, fresh: bool) -> tuple[dict[str, dict], list[str]]:
    """Fit `name` once, forecast once, and score each of its rows; also the fit's notes. The collection's horizon
    (and a stacked one's shared season) replace any --set of them, in both modes."""
    train_csv, parts = training_file(name, data, workdir)
    decided: dict = {"horizon": max(COLLECTIONS[part.collection][0] for part in parts)}
    if name in STACKED:
        decided["season"] = COLLECTIONS[parts[0].collection][1]
    registry = load_registry()
    if fresh:
        (workdir / name).mkdir()
        fitted = fit_fresh(train_csv, settings | decided, workdir / name / "model", registry)
    else:
        fitted = fit_here(train_csv, settings | decided, registry)
    started = time.perf_counter()
    result = fitted.model.forecast(decided["horizon"], LEVELS)
    predict = time.perf_counter() - started
    rows = {}
    for part in parts:
        row = {**score(result, data, part), "collection": part.collection, "fit": fitted.seconds, "predict": predict}
        rows[part.row] = row
        print(
            f"{part.row}: sMAPE {row['smape']:.2f} MASE {row['mase']:.3f} fit {row['fit']:.1f} s "
            f"predict {row['predict']:.2f} s epochs {fitted.epochs} (best {fitted.best}) "
            f"coverage {row['coverage']}; {'; '.join(fitted.chosen)}",
            file=sys.stderr,
            flush=True,
        )
    return rows, fitted.notes


def table(results: dict[str, dict], reference: dict[str, dict], fresh: bool) -> str:
    lines = [
        (
            "| collection | forecaster sMAPE / MASE | SeasonalNaive | Theta | AutoETS | beats SNaive (both) "
            f"| beats Theta (sMAPE) | beats AutoETS (sMAPE) | {'fit s (fresh process)' if fresh else 'fit s'} "
            "| predict s | coverage 80% / 95% |"
        ),
        "|---|---|---|---|---|---|---|---|---:|---:|---|",
    ]
    wins = {"SeasonalNaive": 0, "Theta": 0, "AutoETS": 0}
    for name, result in results.items():
        ours = (result["smape"], result["mase"])
        ref = reference.get(result["collection"], {})
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
    lines.append(
        "fit s: wall time of a fresh `forecaster fit` process (imports, reading, training, saving); "
        "predict s: in this process."
        if fresh
        else "fit s and predict s: in this process, in memory (imports excluded)."
    )
    if any(":" in name for name in results):
        lines.append("A stacked collection's rows (name:part) share one fit and one predict: the same times on each.")
    return "\n".join(lines)


def notes_list(notes: dict[str, list[str]]) -> str:
    """Each fit's report notes, so a reader sees what training did (members, processes, short series...)."""
    lines = ["Notes of each fit:", ""]
    for name, found in notes.items():
        lines += [f"- {name}: {note}" for note in found] or [f"- {name}: (none)"]
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
    parser.add_argument(
        "--only", nargs="*", choices=[*COLLECTIONS, *STACKED], help="these collections only (or monthly_stacked)"
    )
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="fit options other than the defaults")
    parser.add_argument(
        "--fresh", action="store_true", help="fit with the `forecaster fit` command, a new process timed as a user does"
    )
    args = parser.parse_args()
    settings = parse_settings(args.set)
    results, notes = {}, {}
    with tempfile.TemporaryDirectory(prefix="competitions-") as workdir:
        for name in args.only or COLLECTIONS:
            rows, notes[name] = run(name, settings, args.data, Path(workdir), args.fresh)
            results |= rows
    print(table(results, references(args.data / "README.md"), args.fresh))
    print()
    print(notes_list(notes))


if __name__ == "__main__":
    main()
