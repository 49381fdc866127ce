"""Where a default fit's time goes, phase by phase, and Lightning's cost per optimiser step against a plain loop.

    .venv/bin/python bench/phases.py data/stock.csv
    .venv/bin/python bench/phases.py ../shared/data/competitions/m1_monthly_train.csv --horizon 18 --long

The fit runs in this process with --threads 1, so that the phases add up to
the whole (with more threads the members' trainings overlap): reading and
preparing the data, each member's validated training and final fit (told
apart by whether they watch validation windows), scoring and calibrating the
held-out windows, and the forecast. Then one member's network is trained for
a few epochs on the same windows twice, through Lightning's Trainer and
through a plain torch loop of the same loss, optimiser, clipping and
batches, and the two are compared per optimiser step.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import torch

from forecaster.nn.network import build_network
from forecaster.nn.registry import load_registry
from forecaster.options import FitOptions
from forecaster.runtime.threads import one_thread
from forecaster.training import pipeline, trainer
from forecaster.training.lightning_module import ForecastModule

#: phase -> seconds, summed over calls
SPENT: dict[str, float] = collections.defaultdict(float)


def timed(module: Any, name: str, phase: Callable[..., str]) -> None:
    """Wrap ``module.name`` so that each call's seconds add to the phase ``phase(*args)`` names."""
    function = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            SPENT[phase(*args, **kwargs)] += time.perf_counter() - started

    setattr(module, name, wrapper)


def training_phase(network: Any, training: Any, validation: Any, settings: Any) -> str:
    return "validated training" if validation is not None else "final fit"


def lightning_against_plain(
    training: Any, validation: Any, settings: Any, season: int, epochs: int = 5
) -> tuple[float, float]:
    """Milliseconds per optimiser step of one member trained ``epochs`` epochs: through Lightning, then a plain loop."""
    cell = load_registry().get("lstm")
    steps = epochs * settings.batches_per_epoch
    trainer.seed_everything(1)
    network = build_network(cell, 32, training.horizon, season, 1)
    started = time.perf_counter()
    trainer.train(network, training, validation, dataclasses.replace(settings, epochs=epochs, patience=epochs))
    lightning = (time.perf_counter() - started) / steps
    trainer.seed_everything(1)
    network = build_network(cell, 32, training.horizon, season, 1)
    module = ForecastModule(network, settings.lr)
    optimiser = torch.optim.Adam(network.parameters(), lr=settings.lr, fused=True)
    batches = trainer._loader(training, settings.batch_size, True, 1)
    held_out = trainer._loader(validation, 1024, False, 1)
    with one_thread():
        started = time.perf_counter()
        for _ in range(epochs):
            for index, batch in enumerate(batches):
                if index >= settings.batches_per_epoch:
                    break
                loss = module.training_loss(batch)
                optimiser.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(network.parameters(), settings.gradient_clip)
                optimiser.step()
            with torch.no_grad():
                for batch in held_out:
                    module.validation_loss(batch)
        plain = (time.perf_counter() - started) / steps
    return lightning * 1e3, plain * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("--horizon", type=int, default=FitOptions.horizon)
    parser.add_argument("--long", action="store_true", help="a competition file: series, date, value")
    args = parser.parse_args()
    layout = {"id_col": "series", "date_col": "date", "value_col": "value"} if args.long else {}
    options = FitOptions(horizon=args.horizon, threads=1, **layout)
    captured: dict[str, Any] = {}
    train = trainer.train

    def spy(network: Any, training: Any, validation: Any, settings: Any) -> Any:
        if validation is not None:
            captured.setdefault("windows", (training, validation, settings, network.season))
        return train(network, training, validation, settings)

    trainer.train = spy
    timed(trainer, "train", training_phase)
    timed(pipeline, "read_table", lambda *a, **k: "reading")
    timed(pipeline, "fit_preparations", lambda *a, **k: "preparing (seasons, scalers)")
    timed(pipeline, "make_windows", lambda *a, **k: "preparing (windows)")
    timed(pipeline, "run_network", lambda *a, **k: "scoring and calibrating the held-out windows")
    timed(pipeline, "calibrate", lambda *a, **k: "scoring and calibrating the held-out windows")
    started = time.perf_counter()
    model, report = pipeline.fit(args.csv, options, load_registry())
    whole = time.perf_counter() - started
    started = time.perf_counter()
    model.forecast(args.horizon, (80, 95))
    SPENT["forecast with intervals"] = time.perf_counter() - started
    print(f"### {args.csv}: one process, {options.members} members one after another\n")
    print("| phase | seconds | share of the fit |\n|---|---:|---:|")
    for phase, seconds in SPENT.items():
        print(f"| {phase} | {seconds:.2f} | {100 * seconds / whole:.0f}% |")
    print(f"| the whole fit (imports excluded) | {whole:.2f} | 100% |")
    print(f"\nnotes: {'; '.join(report.notes)}")
    training, validation, settings, season = captured["windows"]
    lightning, plain = lightning_against_plain(training, validation, settings, season)
    print(
        f"\nOne member, batch {settings.batch_size}, {settings.batches_per_epoch} steps an epoch: Lightning "
        f"{lightning:.2f} ms a step, a plain torch loop of the same step {plain:.2f} ms ({lightning / plain:.2f}x)"
    )


if __name__ == "__main__":
    main()
