"""Distributed training through Lightning's DDP: two real gloo processes on this machine, started as `fit` starts
them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from conftest import DATA, FORECASTER, assert_clean_error, invoke, run
from forecaster.errors import BadInput
from forecaster.nn.registry import load_registry
from forecaster.options import FitOptions
from forecaster.training.pipeline import fit
from forecaster.training.windows import make_windows

#: small and quick, yet the model learns: a fit far better than the naive forecast is comparable or not; few steps,
#: for the two ranks meet at every one, and a rank that waits for a core (another test's) holds the other
OPTIONS = FitOptions(
    window=12,
    horizon=3,
    hidden_size=8,
    members=1,
    epochs=10,
    lr=0.05,
    batch_size=64,
    seed=7,
    accelerator="cpu",
    devices="1",
)


@pytest.fixture
def sines(tmp_path) -> Path:
    """Four noisy seasonal series of 240 steps: 712 training and 184 validation windows."""
    generator = np.random.default_rng(0)
    steps = np.arange(240)
    series = {f"s{k}": 10 + 5 * np.sin(2 * np.pi * steps / 12 + k) + generator.normal(0, 0.5, 240) for k in range(4)}
    path = tmp_path / "sines.csv"
    pd.DataFrame(series).to_csv(path, index_label="time")
    return path


def processes_mentioning(text: str) -> list[str]:
    """Command lines of the running processes that mention ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if entry.name.isdigit() and text in command:
            found.append(command)
    return found


def test_ddp_on_two_processes_writes_one_model_as_good_as_one_process(sines, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    _, single = fit(sines, OPTIONS, load_registry())
    result = run(
        "fit",
        sines,
        "--out",
        "model",
        "--json",
        "--strategy",
        "ddp",
        "--devices",
        2,
        "--accelerator",
        "cpu",
        "--window",
        12,
        "--horizon",
        3,
        "--hidden-size",
        8,
        "--members",
        1,
        "--batch-size",
        64,
        "--epochs",
        10,
        "--lr",
        0.05,
        "--seed",
        7,
        cwd=work,
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no rank said anything: no warnings, no second summary
    [line] = result.stdout.splitlines()  # one summary, from rank 0
    report = json.loads(line)
    # one complete model directory, and nothing else from either process: the lock file made is removed
    assert sorted(path.name for path in work.iterdir()) == ["model"]
    assert sorted(path.name for path in (work / "model").iterdir()) == ["model.json", "weights.safetensors"]
    saved = json.loads((work / "model" / "model.json").read_text())
    assert saved["metrics"] == report["metrics"]
    assert report["processes"] == saved["training"]["processes"] == 2 and single.processes == 1
    assert processes_mentioning(str(work)) == []  # the other rank ended with the command

    assert (report["train_windows"], report["validation_windows"]) == (single.train_windows, single.validation_windows)
    assert report["epochs_run"] == single.epochs_run == 10
    ddp, alone, naive = (
        report["metrics"]["model"]["mae"],
        single.metrics["model"]["mae"],
        single.metrics["naive"]["mae"],
    )
    assert alone < naive / 3 and ddp < naive / 3, (ddp, alone, naive)  # both learnt the season
    assert ddp == pytest.approx(alone, rel=0.5)


def test_the_training_loader_is_one_lightning_shards_between_processes():
    """Lightning swaps a standard RandomSampler for a DistributedSampler seeded with --seed: the shards are disjoint
    and whole."""
    from forecaster.training import trainer

    windows = make_windows(
        np.arange(59.0)[:, None], 8, 2, min_observed=8
    )  # 50: an even count, which DistributedSampler does not pad
    loader = trainer._loader(windows, batch_size=16, shuffle=True, seed=5)
    assert isinstance(loader.sampler, RandomSampler)
    shards = []
    for rank in (0, 1):
        sampler = DistributedSampler(loader.dataset, num_replicas=2, rank=rank, seed=5)
        batches = DataLoader(loader.dataset, batch_size=16, sampler=sampler, collate_fn=loader.collate_fn)
        shards.append({int(inputs[k, 0]) for inputs, *_ in batches for k in range(len(inputs))})
    assert shards[0].isdisjoint(shards[1]) and shards[0] | shards[1] == set(range(len(loader.dataset)))


def test_only_fit_run_as_a_command_trains_on_several_processes(sines, tmp_path):
    assert_clean_error(
        invoke(
            "backtest", sines, "--devices", 2, "--accelerator", "cpu", "--window", 12, "--horizon", 3, "--epochs", 1
        ),
        "2 processes",
        "--devices 1",
    )
    # a batch job's process calls fit as a library: Lightning would start the whole batch again for the second rank
    with pytest.raises(BadInput, match="not backtest or a batch job"):
        fit(sines, FitOptions(**{**OPTIONS.__dict__, "devices": "2"}), load_registry())


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--strategy", "fsdp", "'fsdp' is not one of 'auto', 'ddp'"),
        ("--num-nodes", 0, "--num-nodes must be at least 1, not 0"),
    ],
)
def test_distributed_options_are_checked_before_reading_data(option, value, message, tmp_path):
    assert_clean_error(invoke("fit", DATA / "statquest.csv", option, value, "--out", tmp_path / "m"), message)
    assert not os.path.exists(tmp_path / "m")


def test_torchrun_with_fewer_processes_than_devices_times_nodes_is_one_line_per_rank(sines, tmp_path):
    """Under torchrun the processes are started for Lightning: --devices x --num-nodes must match them, or no rank
    trains."""
    torchrun = Path(FORECASTER).with_name("torchrun")
    result = subprocess.run(
        [
            str(torchrun),
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "forecaster",
            "fit",
            str(sines),
            "--out",
            str(tmp_path / "m"),
            "--strategy",
            "ddp",
            "--devices",
            "3",
            "--accelerator",
            "cpu",
            "--epochs",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("forecaster: error:")]
    mismatch = "forecaster: error: --devices 3 x --num-nodes 1 does not match the world size (2) that torchrun started"
    # each rank refuses in one line, unless torchrun's SIGTERM, sent once the first has exited, stops it first
    assert 1 <= errors.count(mismatch) <= 2, result.stderr
    assert set(errors) <= {mismatch, "forecaster: error: interrupted by SIGTERM"}, result.stderr
    assert "exitcode  : 2" in result.stderr  # torchrun's report: the ranks exited 2, bad input
    assert not (tmp_path / "m").exists()


def test_under_torchrun_a_mismatched_device_count_is_refused_before_reading_data(monkeypatch):
    """Before each rank reads the data and imports Lightning: torchrun set the world size already."""
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(BadInput, match=r"--devices 3 x --num-nodes 1 does not match the world size \(2\)"):
        FitOptions(devices="3").check()
    FitOptions(devices="2").check()
    FitOptions(devices="1", num_nodes=2).check()
    FitOptions(devices="auto").check()  # Lightning counts the processes itself
