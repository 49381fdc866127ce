"""Benchmarks of forecaster (not tests): training step, predict, fit end to end, CLI start-up, memory.

    .venv/bin/python bench/bench.py [section ...]    # sections: step grid threads predict fit cli memory

Prints Markdown tables; bench/performance.md records them. The machine these run
on is shared, so every comparison of two cells is made in one process,
alternating between them in short blocks, and reported as the median of the
per-round ratios: a burst of load then slows both sides of a round alike.
Wall times of commands are medians of several runs in fresh processes.
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
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
FORECASTER = str(Path(PYTHON).with_name("forecaster"))
CELLS = ("lstm", "torch-lstm")
#: the grid of the issue: batch 1-256, window 8-128, hidden 1-128
GRID = [(batch, window, hidden) for batch in (1, 16, 64, 256) for window in (8, 32, 128) for hidden in (1, 8, 32, 128)]


def registered(cell: str) -> Callable[..., object]:
    """The builder of a registered cell, as ``fit`` finds it."""
    from forecaster.nn.registry import load_registry

    return load_registry().get(cell).build


def stage_by_stage(input_size: int, hidden_size: int) -> object:
    """The default cell computing its definition directly: ``lstm_unit`` unrolled in Python, step by step."""
    from forecaster.nn.lstm import StageLSTM

    class StageByStage(StageLSTM):
        forward = StageLSTM.reference_forward

    return StageByStage(input_size, hidden_size)


#: (batch, window, hidden) of the step compared: the defaults when they were fixed numbers (issue 7), kept so that the
#: ratio stays comparable; today a fit chooses batch and window from the data (stock.csv: 256 and 10)
STEP_SHAPE = (64, 32, 32)


def training_step(
    build_cell: Callable[..., object], batch: int, window: int, hidden: int, seed: int = 0
) -> Callable[[], None]:
    """One optimiser step of ``fit``'s model on random windows: forward, loss, backward, clipping, Adam.

    Built from the same pieces as ``fit`` (the Network, ForecastModule's loss
    and optimiser, the default gradient clipping), without Lightning's loop
    around them, which costs the same whatever the cell.
    """
    import torch

    from forecaster.nn.network import Network, input_size
    from forecaster.options import FitOptions
    from forecaster.training.lightning_module import ForecastModule

    defaults = FitOptions()
    torch.manual_seed(seed)
    season = 1  # no season features: the cell reads the base features only
    cell = build_cell(input_size=input_size(season), hidden_size=hidden)
    module = ForecastModule(Network([cell], hidden, defaults.horizon, season), defaults.lr)
    optimiser = module.configure_optimizers()
    data = (
        torch.randn(batch, window),
        torch.arange(window).expand(batch, window),
        torch.zeros(batch, dtype=torch.bool),
        torch.zeros(batch, window + defaults.horizon, 0),  # no covariates
        torch.randn(batch, defaults.horizon),
    )

    def step() -> None:
        optimiser.zero_grad()
        module.training_loss(data).backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), defaults.gradient_clip)
        optimiser.step()

    return step


def compare(
    candidates: dict[str, Callable[[], None]], rounds: int = 9, block: float = 0.05
) -> dict[str, dict[str, float]]:
    """Seconds per call of each candidate, and its ratio to the last one, interleaved in short blocks.

    Each round runs every candidate for about ``block`` seconds, in an order
    that alternates between rounds; a round's ratios compare calls made
    within a fraction of a second of each other.
    """
    for call in candidates.values():  # warm up: allocator, oneDNN primitives, optimiser state
        for _ in range(3):
            call()
    reference = list(candidates)[-1]
    start = time.perf_counter()
    candidates[reference]()
    calls = max(1, round(block / max(time.perf_counter() - start, 1e-6)))
    seconds: dict[str, list[float]] = {name: [] for name in candidates}
    for round_number in range(rounds):
        order = list(candidates) if round_number % 2 == 0 else list(reversed(candidates))
        for name in order:
            start = time.perf_counter()
            for _ in range(calls):
                candidates[name]()
            seconds[name].append((time.perf_counter() - start) / calls)
    return {
        name: {
            "seconds": statistics.median(times),
            "ratio": statistics.median(a / b for a, b in zip(times, seconds[reference], strict=True)),
        }
        for name, times in seconds.items()
    }


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1e3:.3g}"


def section_step() -> None:
    """Training step at STEP_SHAPE, with the stage-by-stage unroll for scale."""
    from forecaster.runtime.threads import one_thread

    shape = STEP_SHAPE
    candidates = {
        "lstm (fused kernel, the default)": registered("lstm"),
        "lstm's definition unrolled (reference_forward)": stage_by_stage,
        "torch-lstm": registered("torch-lstm"),
    }
    with one_thread():  # as fit trains
        result = compare(
            {name: training_step(build, *shape) for name, build in candidates.items()}, rounds=101, block=0.02
        )
    print(f"\n### Training step, default configuration (batch, window, hidden = {shape})\n")
    print("| cell | ms per step | ratio to torch-lstm (median of 101 rounds) |\n|---|---|---|")
    for name in candidates:
        print(f"| {name} | {milliseconds(result[name]['seconds'])} | {result[name]['ratio']:.3f} |")


def section_grid() -> None:
    """The ratio over the grid of sizes, and its worst case."""
    from forecaster.runtime.threads import one_thread

    print("\n### Training step over the grid (ratio lstm / torch-lstm)\n")
    print("| batch | window | hidden | lstm ms | torch-lstm ms | ratio |\n|---|---|---|---|---|---|")
    worst = (0.0, None)
    with one_thread():
        for shape in GRID:
            result = compare({cell: training_step(registered(cell), *shape) for cell in CELLS}, rounds=31, block=0.02)
            ratio = result["lstm"]["ratio"]
            worst = max(worst, (ratio, shape))
            print(
                f"| {' | '.join(map(str, shape))} | {milliseconds(result['lstm']['seconds'])} | "
                f"{milliseconds(result['torch-lstm']['seconds'])} | {ratio:.3f} |",
                flush=True,
            )
    print(f"\nworst ratio {worst[0]:.3f} at (batch, window, hidden) = {worst[1]}")


def section_threads() -> None:
    """The lstm training step with one torch thread and with one per core, each in fresh processes.

    The thread count is fixed when torch starts (OMP_NUM_THREADS), so each
    run is its own process; runs alternate to share the machine's moods.
    """
    cores = os.cpu_count() or 1
    print("\n### Threads: lstm training step, ms (median of 3 processes each, alternating)\n")
    print(f"| batch, window, hidden | 1 thread | {cores} threads (torch's default here) | ratio |\n|---|---|---|---|")
    for shape in ((64, 32, 32), (256, 32, 128), (256, 128, 128)):
        seconds: dict[int, list[float]] = {1: [], cores: []}
        for _ in range(3):
            for threads in seconds:
                probe = run_python(["_step_probe", *map(str, shape)], env={"OMP_NUM_THREADS": str(threads)})
                seconds[threads].append(float(probe.stdout))
        one, many = (statistics.median(seconds[threads]) for threads in (1, cores))
        print(f"| {shape} | {milliseconds(one)} | {milliseconds(many)} | {many / one:.2f} |", flush=True)


def section__step_probe() -> None:
    """(internal) Seconds per lstm training step at the shape in argv, with torch's thread count as started."""
    shape = tuple(int(value) for value in sys.argv[-3:])
    step = training_step(registered("lstm"), *shape)
    for _ in range(3):
        step()
    calls = 5 if shape[0] * shape[1] * shape[2] > 100_000 else 50
    start = time.perf_counter()
    for _ in range(calls):
        step()
    print((time.perf_counter() - start) / calls)


def section_predict() -> None:
    """Forecasting 1 and 1,000 series: in process (model loaded), and `forecaster predict` from a fresh process."""
    import torch

    from forecaster.model.trained import Model
    from forecaster.nn.registry import load_registry
    from forecaster.options import FitOptions
    from forecaster.runtime.threads import one_thread
    from forecaster.training.pipeline import fit

    registry = load_registry()
    cores = os.cpu_count() or 1
    print("\n### Predict (default model: window 32, horizon 7, hidden 32)\n")
    print(
        f"| series | cell | network alone, ms, 1 thread | forecast() in process, ms, {cores} threads (torch's default) "
        "| same, 1 thread | "
        "`forecaster predict` wall, s | same with OMP_NUM_THREADS=1, s |\n|---|---|---|---|---|---|---|"
    )
    with tempfile.TemporaryDirectory() as scratch:
        for series in (1, 1000):
            csv = write_random_walks(Path(scratch) / f"series{series}.csv", series, rows=60)
            for cell in CELLS:
                model_dir = Path(scratch) / f"{cell}-{series}"
                with one_thread():
                    fit(csv, FitOptions(cell=cell, epochs=1), registry)[0].save(model_dir)
                model = Model.load(model_dir, registry)
                inputs = torch.randn(series, model.window)
                in_process = median_seconds(model.forecast, repeats=21)
                with one_thread(), torch.no_grad():
                    network = median_seconds(lambda model=model, inputs=inputs: model.network(inputs), repeats=21)
                    in_process_one = median_seconds(model.forecast, repeats=21)
                wall = median_seconds(lambda model_dir=model_dir: run_forecaster("predict", model_dir), repeats=5)
                wall_one = median_seconds(
                    lambda model_dir=model_dir: run_forecaster("predict", model_dir, env={"OMP_NUM_THREADS": "1"}),
                    repeats=5,
                )
                print(
                    f"| {series} | {cell} | {milliseconds(network)} | {milliseconds(in_process)} | "
                    f"{milliseconds(in_process_one)} | {wall:.2f} | {wall_one:.2f} |",
                    flush=True,
                )


def section_fit() -> None:
    """`forecaster fit data/stock.csv` with default options: wall, peak memory, and where the time goes."""
    csv = str(ROOT / "data" / "stock.csv")
    print("\n### `forecaster fit data/stock.csv`, default options (the run of median wall time of 3 per cell)\n")
    print(
        "| cell | wall s | peak RSS MB | epochs | "
        + " | ".join(FIT_PHASES)
        + " |\n|---|---|---|---|"
        + "---|" * len(FIT_PHASES)
    )
    with tempfile.TemporaryDirectory() as scratch:
        runs: dict[str, list[tuple[float, dict, int]]] = {cell: [] for cell in CELLS}
        for _ in range(3):
            for cell in CELLS:
                out = Path(scratch) / cell
                wall, split = measured_fit(csv, out, "--cell", cell)
                epochs = json.loads((out / "model.json").read_text())["training"]["epochs_run"]
                runs[cell].append((wall, split, epochs))
        for cell in CELLS:
            wall, split, epochs = sorted(runs[cell], key=lambda run: run[0])[1]
            print(
                f"| {cell} | {wall:.1f} | {split['peak RSS MB']:.0f} | {epochs} | "
                + " | ".join(f"{split[phase]:.3f}" for phase in FIT_PHASES)
                + " |"
            )
    print(
        "\nimports: forecaster's CLI, pandas, scikit-learn, torch, Lightning; data preparation: from the command line "
        "to the first training step (plugins, CSV, scaling, windows, the network); evaluation: metrics and intervals "
        "on the validation windows. The wall time adds the interpreter's start."
    )


FIT_PHASES = ("imports", "data preparation", "training", "evaluation", "saving")


def measured_fit(csv: str | Path, out: Path, *options: str) -> tuple[float, dict]:
    """Wall seconds of `forecaster fit CSV --out OUT OPTIONS` in a fresh process, and its split and peak RSS."""
    wall, result = run_measured([PYTHON, __file__, "_fit_split", str(csv), str(out), *options])
    return wall, json.loads(result.stdout)


def section__fit_split() -> None:
    """(internal) Run `forecaster fit CSV --out DIR OPTIONS...` in this process; print its phases' seconds and peak RSS
    as JSON.

    The peak is this process's VmHWM (Linux): the resource usage a parent
    reads counts the parent's own pages that the child had before exec.
    The command's summary goes to stderr; stdout carries only the JSON.
    """
    start = time.perf_counter()
    import forecaster.cli
    import forecaster.model.directory
    import forecaster.training.pipeline
    import forecaster.training.trainer

    marks = {"imported": time.perf_counter()}

    def timed(module, name: str) -> None:
        function = getattr(module, name)

        def wrapper(*args, **kwargs):
            marks[f"{name} start"] = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                marks[f"{name} end"] = time.perf_counter()

        setattr(module, name, wrapper)

    timed(forecaster.training.trainer, "train")
    timed(forecaster.model.directory, "save")
    csv, out, *options = sys.argv[2:]
    sys.argv = ["forecaster", "fit", csv, "--out", out, *options]
    try:
        forecaster.cli.main()
    except SystemExit as exit:
        if exit.code:
            raise
    print(
        json.dumps(
            {
                "imports": marks["imported"] - start,
                "data preparation": marks["train start"] - marks["imported"],
                "training": marks["train end"] - marks["train start"],
                "evaluation": marks["save start"] - marks["train end"],
                "saving": marks["save end"] - marks["save start"],
                "peak RSS MB": int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) / 1024,
            }
        )
    )


def section_cli() -> None:
    """Wall time of the quick commands, and whether they import torch or Lightning."""
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = Path(scratch) / "stock"
        run_forecaster("fit", ROOT / "data" / "stock.csv", "--epochs", 1, "--out", model_dir)
        print("\n### Command start-up (median of 7 runs, fresh processes)\n")
        print("| command | wall s | imports torch | imports Lightning |\n|---|---|---|---|")
        for args in (("--help",), ("cells",), ("predict", model_dir)):
            wall = median_seconds(lambda args=args: run_forecaster(*args), repeats=7)
            imported = imported_modules(*args)
            label = " ".join(["forecaster", *map(str, args)]).replace(str(model_dir), "models/stock")
            print(
                f"| `{label}` | {wall:.2f} | {'yes' if 'torch' in imported else 'no'} | "
                f"{'yes' if 'lightning' in imported else 'no'} |"
            )


def section_memory() -> None:
    """Peak RSS of a fit on one series of 1,000,000 rows (one epoch: memory does not grow with epochs)."""
    with tempfile.TemporaryDirectory() as scratch:
        csv = write_random_walks(Path(scratch) / "million.csv", 1, rows=1_000_000, frequency="min")
        wall, split = measured_fit(csv, Path(scratch) / "million", "--epochs", "1")
        print("\n### Memory: one series of 1,000,000 rows, `forecaster fit million.csv --epochs 1`\n")
        print("| peak RSS MB | wall s | " + " | ".join(FIT_PHASES) + " |\n|---|---|" + "---|" * len(FIT_PHASES))
        print(
            f"| {split['peak RSS MB']:.0f} | {wall:.0f} | "
            + " | ".join(f"{split[phase]:.1f}" for phase in FIT_PHASES)
            + " |"
        )


def write_random_walks(path: Path, series: int, rows: int, frequency: str = "D") -> Path:
    """A wide CSV of ``series`` seeded random walks on a date axis."""
    import numpy as np
    import pandas as pd

    generator = np.random.default_rng(0)
    values = 100 + np.cumsum(generator.standard_normal((rows, series)), axis=0)
    frame = pd.DataFrame(values.round(4), columns=[f"s{k}" for k in range(series)])
    frame.insert(0, "date", pd.date_range("2020-01-01", periods=rows, freq=frequency).strftime("%Y-%m-%d %H:%M"))
    frame.to_csv(path, index=False)
    return path


def run_measured(command: list[str], env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    """Wall seconds of one command, which must succeed."""
    start = time.perf_counter()
    result = subprocess.run(command, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr}")
    return wall, result


def run_forecaster(*args: object, env: dict | None = None) -> subprocess.CompletedProcess:
    return run_measured([FORECASTER, *map(str, args)], env)[1]


def run_python(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    """This script again, in a fresh interpreter, at an internal section."""
    return run_measured([PYTHON, __file__, *args], env)[1]


def imported_modules(*args: object) -> set[str]:
    """Top-level packages imported by `forecaster ARGS`, from python -X importtime."""
    result = subprocess.run(
        [PYTHON, "-X", "importtime", "-m", "forecaster", *map(str, args)], capture_output=True, text=True, check=False
    )
    return {
        line.split("|")[-1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }


def median_seconds(call: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    sections = {
        name[len("section_") :]: function for name, function in globals().items() if name.startswith("section_")
    }
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):  # an internal section, run in a child process
        sections[sys.argv[1]]()
        return
    public = [name for name in sections if not name.startswith("_")]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", metavar="section", help=f"any of {', '.join(public)} (default: all)")
    chosen = parser.parse_args().sections or public
    unknown = set(chosen) - set(public)
    if unknown:
        parser.error(f"unknown section {', '.join(sorted(unknown))}")
    for name in chosen:
        sections[name]()


if __name__ == "__main__":
    main()
