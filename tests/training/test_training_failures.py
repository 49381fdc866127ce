"""Training that goes wrong: diverging runs stop with a clear error and write no model; clipping is on."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from conftest import DATA, invoke
from forecaster.nn.registry import load_registry
from forecaster.options import FitOptions
from forecaster.training.settings import TrainSettings
from forecaster.training.windows import make_windows


def test_a_non_finite_loss_stops_the_fit_and_writes_no_model(tmp_path):
    result = invoke("fit", DATA / "airline.csv", "--lr", 1e38, "--epochs", 3, "--out", tmp_path / "m")
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and "training diverged" in result.stderr and "--lr" in result.stderr
    assert (
        "the loss became" in result.stderr and "in epoch 1" in result.stderr
    )  # stopped at the step, not after the fit
    assert not (tmp_path / "m").exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_a_learning_rate_that_diverges_is_reported_and_keeps_the_old_model(tmp_path):
    model = tmp_path / "m"
    assert invoke("fit", DATA / "airline.csv", "--epochs", 2, "--hidden-size", 4, "--out", model).returncode == 0
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in model.iterdir()}
    result = invoke("fit", DATA / "airline.csv", "--lr", 1e4, "--epochs", 3, "--hidden-size", 4, "--out", model)
    assert result.returncode == 1
    assert "training diverged" in result.stderr and "where it started" in result.stderr
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in model.iterdir()} == before


def test_gradient_clipping_is_on_by_default_and_reaches_the_trainer():
    """With a clip and with none, the same seed gives different weights: the clip reaches the trainer.

    The loss is an absolute error, whose gradients stay small: a tiny clip
    makes sure this one acts.
    """
    from forecaster.nn.network import build_network
    from forecaster.training import trainer

    assert FitOptions().gradient_clip == 1.0
    rng = np.random.default_rng(0)
    values = rng.normal(size=(200, 1))
    values[150] = 1e3  # an outlier whose gradient the clip tames
    windows = make_windows(values, 8, 2)
    cell = load_registry().get("lstm")

    def weights_after(clip: float) -> dict:
        trainer.seed_everything(0)
        network = build_network(cell, 4, 2, season=1)
        settings = TrainSettings(
            epochs=2, lr=0.01, batch_size=256, seed=0, patience=5, gradient_clip=clip, accelerator="cpu", devices="1"
        )
        trainer.train(network, windows, None, settings)
        return {name: tensor.clone() for name, tensor in network.state_dict().items()}

    clipped, unclipped = weights_after(1e-6), weights_after(0.0)
    assert any(not torch.equal(clipped[name], unclipped[name]) for name in clipped)


def test_values_too_far_apart_for_float32_are_bad_input_not_a_learning_rate(tmp_path):
    """Unscaled values near 1e300 would overflow the float32 loss: the data is at fault, not --lr."""
    csv = tmp_path / "huge.csv"
    csv.write_text("day,a\n" + "".join(f"{day},{(-1) ** day * 1e300}\n" for day in range(1, 13)))
    result = invoke("fit", csv, "--window", 2, "--horizon", 1, "--scaler", "none", "--out", tmp_path / "m")
    assert result.returncode == 2, result.stderr
    assert "column 'a'" in result.stderr and "float32" in result.stderr and "--lr" not in result.stderr
    assert not (tmp_path / "m").exists()


class MemoryOverflows(torch.nn.Module):
    """A hostile cell: its memory grows ten billion times a step, so float32 overflows after three steps. The probe
    before training runs three and passes; the first batch of windows (eight steps) gives infinities and NaN."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(input_size, hidden_size))

    def forward(self, inputs, state=None):
        memory = inputs.new_zeros(inputs.shape[0], self.weight.shape[1]) if state is None else state[0]
        outputs = []
        for step in inputs.unbind(1):
            memory = (memory + 1 + step @ self.weight) * 1e10
            outputs.append(memory)
        return torch.stack(outputs, 1), (memory,)


def test_a_cell_whose_forecasts_are_not_finite_before_any_step_is_named_not_blamed_on_the_learning_rate():
    from forecaster.errors import TrainingFailed
    from forecaster.nn.registry import RegisteredCell, Registry
    from forecaster.training.pipeline import fit

    cell = RegisteredCell("overflows", "", MemoryOverflows, "forecaster-overflows", "0.2.0")
    options = FitOptions(cell="overflows", window=8, horizon=2, hidden_size=4, epochs=2, members=1)
    with pytest.raises(TrainingFailed) as failed:
        fit(DATA / "airline.csv", options, Registry(cells={"overflows": cell}))
    message = str(failed.value)
    assert message.startswith("cell 'overflows' of forecaster-overflows 0.2.0: the network's forecasts of the first ")
    assert "before any training step" in message and "--lr" not in message and "diverged" not in message
