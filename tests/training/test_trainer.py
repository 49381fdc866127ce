"""Training: seeded batches held as tensors, the best epoch's weights, predictions in chunks, threads."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from forecaster.model.forecast import run_network
from forecaster.nn.lstm import StageLSTM
from forecaster.nn.network import NO_GRAD_BATCH, Network, input_size
from forecaster.runtime.threads import one_thread
from forecaster.training import lightning_module, trainer
from forecaster.training.lightning_module import ForecastModule
from forecaster.training.settings import TrainSettings
from forecaster.training.windows import Windows, make_windows

WINDOW, HORIZON, HIDDEN = 8, 2, 4


def network_of(members: int = 1) -> Network:
    return Network([StageLSTM(input_size(1), HIDDEN) for _ in range(members)], HIDDEN, HORIZON, season=1)


def tensors(windows: Windows) -> tuple[torch.Tensor, ...]:
    """Every window as one batch: values, positions, ratio flags, covariate features, targets."""
    return trainer.WindowTensors(windows).__getitems__(list(range(len(windows))))


def noisy_sine(rows: int = 260, seed: int = 0) -> np.ndarray:
    generator = np.random.default_rng(seed)
    return (np.sin(np.arange(rows) / 6) + 0.3 * generator.standard_normal(rows))[:, None]


def split_windows() -> tuple[Windows, Windows]:
    windows = make_windows(noisy_sine(), WINDOW, HORIZON, min_observed=WINDOW)
    early = windows.first_target < 200
    return windows.select(early), windows.select(~early)


def settings(**changes) -> TrainSettings:
    values = {
        "epochs": 4,
        "lr": 0.02,
        "batch_size": 16,
        "seed": 3,
        "patience": 100,
        "gradient_clip": 1.0,
        "accelerator": "cpu",
        "devices": "1",
    }
    return TrainSettings(**{**values, **changes})


def fitted(training: Windows, validation: Windows | None, **changes) -> tuple[Network, trainer.TrainOutcome]:
    options = settings(**changes)
    trainer.seed_everything(options.seed)
    network = network_of()
    return network, trainer.train(network, training, validation, options)


def test_same_seed_same_weights_and_another_seed_others():
    training, validation = split_windows()
    first, _ = fitted(training, validation)
    again, _ = fitted(training, validation)
    other, _ = fitted(training, validation, seed=4)
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name]), name
    assert any(not torch.equal(tensor, other.state_dict()[name]) for name, tensor in first.state_dict().items())


def numbered_windows(count: int) -> Windows:
    """Windows over a series of row numbers: window k reads rows k, k+1... so a batch says which windows it gathered."""
    return make_windows(
        np.arange(count + WINDOW + HORIZON - 1, dtype=float)[:, None], WINDOW, HORIZON, min_observed=WINDOW
    )


def epoch_rows(loader) -> list[torch.Tensor]:
    """The windows of each batch of one epoch, checking that each window's inputs and targets were gathered together."""
    rows = []
    for inputs, positions, ratio, extra, targets in loader:
        assert inputs.dtype == targets.dtype == torch.float32
        assert inputs.shape[1:] == (WINDOW,) and targets.shape[1:] == (HORIZON,)
        span = torch.cat([inputs, targets], dim=1)
        assert torch.equal(span, span[:, :1] + torch.arange(WINDOW + HORIZON))
        assert torch.equal(positions, span.long())  # the row numbers are the positions too, the targets' as well
        assert not ratio.any()
        assert extra.shape == (len(inputs), WINDOW + HORIZON, 0)  # no covariates
        rows.append(inputs[:, 0].long())
    return rows


def test_batches_are_gathered_whole_in_a_seeded_order_that_changes_every_epoch():
    windows = numbered_windows(100)
    loader = trainer._loader(windows, batch_size=16, shuffle=True, seed=5)
    first, second = epoch_rows(loader), epoch_rows(loader)
    assert [len(rows) for rows in first] == [16] * 6 + [4]
    for rows in (first, second):
        assert sorted(torch.cat(rows).tolist()) == list(range(100))
    assert not torch.equal(torch.cat(first), torch.cat(second))
    assert torch.equal(torch.cat(epoch_rows(trainer._loader(windows, 16, True, seed=5))), torch.cat(first))
    assert not torch.equal(torch.cat(epoch_rows(trainer._loader(windows, 16, True, seed=6))), torch.cat(first))


def test_validation_batches_keep_the_windows_order():
    rows = epoch_rows(trainer._loader(numbered_windows(40), batch_size=16, shuffle=False, seed=5))
    assert torch.cat(rows).tolist() == list(range(40))


@pytest.mark.parametrize("with_validation", [True, False], ids=["validation", "training-only"])
def test_the_best_epochs_weights_are_restored(with_validation, monkeypatch):
    """The restored weights score, on the watched windows, the best epoch's mean loss per window (watched unsmoothed
    here)."""
    monkeypatch.setattr(lightning_module, "SMOOTHED_EPOCHS", 1)
    training, validation = split_windows()
    network, outcome = fitted(training, validation if with_validation else None, epochs=6, lr=0.05)
    watched = validation if with_validation else training
    assert 1 <= outcome.best_epoch <= outcome.epochs_run == 6
    predicted, _, unit = run_network(
        network, watched.inputs, watched.input_positions(), watched.ratio[watched.series], HORIZON
    )
    loss = np.mean(np.abs(predicted - watched.targets) / unit)
    if with_validation:  # the weights do not change while validating: the same loss
        assert outcome.best_epoch < outcome.epochs_run, "a later epoch must be worse for this test to mean anything"
        assert loss == pytest.approx(outcome.best_loss, rel=1e-5)
    else:  # the training loss is summed while the weights move: a rough match only
        assert loss == pytest.approx(outcome.best_loss, rel=0.5)


def test_predictions_in_chunks_equal_one_pass():
    torch.manual_seed(0)
    network = network_of(members=3).eval()
    windows = make_windows(noisy_sine(2 * NO_GRAD_BATCH + 100), WINDOW, HORIZON)
    assert len(windows) > 2 * NO_GRAD_BATCH
    values, positions, ratio, _, _ = tensors(windows)
    with torch.no_grad():
        whole = network(values, positions, ratio).double().numpy()
    chunked = run_network(network, windows.inputs, windows.input_positions(), windows.ratio[windows.series], HORIZON)[0]
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-6)


def gapped_windows(extra: int = 0) -> Windows:
    """Two series of different lengths (one starting late, one ending early) on a time axis with a step missing after
    its fifth row, as a market holiday leaves one: the windows whose targets lie beyond it."""
    values = noisy_sine(30)[:, [0, 0]]
    values[:4, 0], values[-3:, 1] = np.nan, np.nan
    positions = np.r_[0:5, 6:31]
    features = np.random.default_rng(1).normal(size=(2, 30, extra)) if extra else None
    return make_windows(values, 3, HORIZON, positions, min_observed=3, extra=features)


def test_a_batch_holds_its_windows_positions_and_its_targets_own_after_a_gap():
    windows = gapped_windows()
    _, positions, _, _, _ = tensors(windows)
    expected = np.concatenate([windows.input_positions(), windows.target_positions()], axis=1)
    assert torch.equal(positions, torch.as_tensor(expected))
    assert (np.diff(expected, axis=1) == 2).any()  # some windows' steps do cross the gap


def test_held_out_forecasts_read_the_targets_own_place_in_the_season():
    windows = gapped_windows(extra=1)
    torch.manual_seed(0)
    extra = (0, 1, 0)
    network = Network([StageLSTM(input_size(2, extra), HIDDEN)], HIDDEN, HORIZON, 2, extra).eval()
    torch.nn.init.normal_(network.decoders[0].output.weight)
    values, positions, ratio, features, _ = tensors(windows)
    with torch.no_grad():
        direct = network(values, positions, ratio, features).double().numpy()
    inputs, where, flags = windows.inputs, windows.input_positions(), windows.ratio[windows.series]
    read = run_network(network, inputs, where, flags, HORIZON, windows.features(), windows.target_positions())[0]
    np.testing.assert_allclose(read, direct, rtol=0, atol=1e-6)
    assumed = run_network(network, inputs, where, flags, HORIZON, windows.features())[0]
    assert not np.allclose(assumed, direct)  # the steps after the window's last: another place, after the gap


def test_one_thread_while_training_then_as_before(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    with one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_training_is_deterministic_without_filling_new_memory_and_trains_the_same_weights(monkeypatch):
    """Lightning's deterministic mode stays on while training; the NaN filling of new tensors it brings is off
    (a check that cost an eighth of each step), and turned back on afterwards, with no weight changed by it."""
    seen = []
    step = ForecastModule.training_step

    def watched(module, batch, index):
        seen.append((torch.are_deterministic_algorithms_enabled(), torch.utils.deterministic.fill_uninitialized_memory))
        return step(module, batch, index)

    monkeypatch.setattr(ForecastModule, "training_step", watched)
    training, validation = split_windows()
    assert torch.utils.deterministic.fill_uninitialized_memory
    network, _ = fitted(training, validation)
    assert seen and set(seen) == {(True, False)}
    assert torch.utils.deterministic.fill_uninitialized_memory
    monkeypatch.setattr(trainer, "memory_left_unfilled", contextlib.nullcontext)
    filled, _ = fitted(training, validation)
    assert set(seen[-1:]) == {(True, True)}
    for name, tensor in network.state_dict().items():
        assert torch.equal(tensor, filled.state_dict()[name]), name


def test_omp_num_threads_overrides_one_thread(monkeypatch):
    torch.set_num_threads(2)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    with one_thread():
        assert torch.get_num_threads() == 2


def test_epoch_loss_is_the_mean_per_window_over_unequal_batches():
    torch.manual_seed(0)
    module = ForecastModule(network_of(members=3), lr=0.01)
    batch = (*tensors(make_windows(noisy_sine(27), WINDOW, HORIZON))[:4], torch.randn(18, HORIZON))
    assert len(batch[0]) == 18

    def part(rows: slice) -> tuple[torch.Tensor, ...]:
        return tuple(tensor[rows] for tensor in batch)

    module.on_validation_epoch_start()
    for batch_index, rows in enumerate((slice(0, 13), slice(13, 18))):
        module.validation_step(part(rows), batch_index)
    with torch.no_grad():
        expected = (module.network(*batch[:4]) - batch[4]).abs().mean().item()  # the ensemble's median; units of 1
    assert module.epoch_loss("val") == pytest.approx(expected, rel=1e-6)
    module.on_validation_epoch_start()  # a new epoch starts from nothing
    module.validation_step(part(slice(0, 1)), 0)
    with torch.no_grad():
        assert module.epoch_loss("val") == pytest.approx(
            (module.network(*part(slice(0, 1))[:4]) - batch[4][:1]).abs().mean().item(), rel=1e-6
        )


def test_early_stopping_watches_the_mean_of_the_last_epochs():
    """One window a series makes a noisy validation set: a lucky epoch alone does not look best."""
    module = ForecastModule(network_of(), lr=0.01)
    watched = []
    for epoch, loss in enumerate([5.0, 1.0, 4.0, 4.0, 2.0]):
        module._epoch_totals["val"] = (torch.tensor(loss * 10), 10)  # ten windows of this epoch
        watched.append(module.watched_loss("val", epoch))
        assert module.watched_loss("val", epoch) == watched[-1]  # asked twice, recorded once
    assert lightning_module.SMOOTHED_EPOCHS == 3
    assert watched == pytest.approx([5.0, 3.0, 10 / 3, 3.0, 10 / 3])
