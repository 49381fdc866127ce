"""The network around any cell: windows read relative to their level, padding, the season's place, the ensemble's
median."""

from __future__ import annotations

import math

import pytest
import torch

from forecaster.nn.lstm import StageLSTM
from forecaster.nn.network import Network, input_size, median

HIDDEN, HORIZON = 4, 3


def network_of(season: int = 1, members: int = 1, seed: int = 0) -> Network:
    torch.manual_seed(seed)
    return Network([StageLSTM(input_size(season), HIDDEN) for _ in range(members)], HIDDEN, HORIZON, season).eval()


def silenced(network: Network) -> Network:
    """Heads that output 0: the forecast is then the window's level."""
    with torch.no_grad():
        for head in network.heads:
            head.weight.zero_()
            head.bias.zero_()
    return network


def batch(values: list[list[float]], ratio: list[bool]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    values = torch.tensor(values)
    return values, torch.arange(values.shape[1]).repeat(len(values), 1), torch.tensor(ratio)


def test_the_level_is_the_mean_of_the_last_season_of_observed_values():
    network = network_of(season=4)
    values, _, ratio = batch(
        [[1.0, 2, 3, 4, 5, 6], [math.nan, math.nan, math.nan, math.nan, 8, 10], [-1.0, -2, 1, 2, 3, 4]],
        [True, True, False],
    )
    level, unit = network.reference(values, ratio)
    assert level.squeeze(1).tolist() == pytest.approx([4.5, 9.0, 2.5])  # padding ignored
    assert unit.squeeze(1).tolist() == pytest.approx([4.5, 9.0, 1.0])  # ratios are measured in levels, differences in 1


def test_no_change_from_the_level_is_the_starting_point():
    network = silenced(network_of(season=2))
    values, positions, ratio = batch([[1.0, 2, 3, 5], [-4.0, 0, 2, 4]], [True, False])
    forecast = network(values, positions, ratio)
    assert forecast.flatten().tolist() == pytest.approx([4.0] * HORIZON + [3.0] * HORIZON)


def test_a_ratio_series_forecasts_the_same_whatever_its_scale_and_a_difference_series_whatever_its_offset():
    network = network_of(season=1)
    values, positions, _ = batch([[3.0, 5, 4, 6, 7]], [True])
    with torch.no_grad():
        ratio = network(values, positions, torch.tensor([True]))
        torch.testing.assert_close(network(values * 1000, positions, torch.tensor([True])), ratio * 1000)
        difference = network(values, positions, torch.tensor([False]))
        torch.testing.assert_close(network(values + 100, positions, torch.tensor([False])), difference + 100)
        assert not torch.allclose(ratio, difference)


def test_padding_is_not_read():
    network = network_of(season=1)
    with torch.no_grad():
        padded = network(*batch([[math.nan, math.nan, 2, 3]], [False]))
        assert torch.isfinite(padded).all()
        assert not torch.allclose(
            padded, network(*batch([[0.0, 0, 2, 3]], [False]))
        )  # a zero is a value, padding is not


def test_the_place_in_the_season_is_read_only_when_there_is_a_season():
    values, positions, ratio = batch([[1.0, 2, 3, 4]], [False])
    with torch.no_grad():
        seasonal = network_of(season=4)
        assert not torch.allclose(seasonal(values, positions, ratio), seasonal(values, positions + 1, ratio))
        assert torch.equal(
            seasonal(values, positions, ratio), seasonal(values, positions + 4, ratio)
        )  # a whole season later
        plain = network_of(season=1)
        assert torch.equal(plain(values, positions, ratio), plain(values, positions + 1, ratio))


def test_the_forecast_is_the_median_of_the_members():
    network = network_of(members=3)
    values, positions, ratio = batch([[1.0, 2, 3, 4], [4.0, 3, 2, 1]], [False, False])
    with torch.no_grad():
        members, _ = network.member_forecasts(values, positions, ratio)
        assert members.shape == (3, 2, HORIZON)
        assert torch.equal(network(values, positions, ratio), members.median(dim=0).values)


def test_median_of_an_even_count_is_the_mean_of_the_middle_two():
    assert median(torch.tensor([[1.0], [10.0], [2.0], [4.0]])).tolist() == [3.0]
    assert median(torch.tensor([[5.0]])).tolist() == [5.0]


def with_known(season: int, known: int = 2) -> Network:
    """A network reading ``known`` future-known features (and nothing else beside its series), its decoder's output
    layer drawn at random rather than at its starting zero."""
    torch.manual_seed(0)
    extra = (0, known, 0)
    network = Network([StageLSTM(input_size(season, extra), HIDDEN)], HIDDEN, HORIZON, season, extra).eval()
    with torch.no_grad():
        torch.nn.init.normal_(network.decoders[0].output.weight)
    return network


def test_a_fresh_decoder_adds_nothing_to_the_forecast():
    torch.manual_seed(0)
    extra = (0, 2, 0)
    network = Network([StageLSTM(input_size(2, extra), HIDDEN)], HIDDEN, HORIZON, 2, extra).eval()
    with torch.no_grad():  # no correction at all, not even a constant one
        assert not network.decoders[0](torch.randn(5, HIDDEN), torch.randn(5, HORIZON, 4)).any()
    values, positions, ratio = batch([[1.0, 2, 3, 5]], [False])
    window = torch.randn(1, 4, 2)
    with torch.no_grad():
        torch.testing.assert_close(
            network(values, positions, ratio, torch.cat([window, torch.randn(1, HORIZON, 2)], dim=1)),
            network(values, positions, ratio, torch.cat([window, torch.randn(1, HORIZON, 2)], dim=1)),
        )  # whatever the horizon's covariates, the forecast of a network without them


def test_each_horizon_step_reads_its_own_known_values_by_one_decoder_shared_by_the_steps():
    network = with_known(season=1)
    values, positions, ratio = batch([[1.0, 2, 3, 5]], [False])
    window = torch.zeros(1, 4, 2)
    ahead = torch.tensor([[[0.5, 1.0], [0.5, 1.0], [-2.0, 0.0]]])
    changed = ahead.clone()
    changed[0, 2] = torch.tensor([3.0, -1.0])
    with torch.no_grad():
        before = network(values, positions, ratio, torch.cat([window, ahead], dim=1))
        after = network(values, positions, ratio, torch.cat([window, changed], dim=1))
        corrections = network.decoders[0](torch.randn(1, HIDDEN), ahead)
    assert torch.equal(before[0, :2], after[0, :2])  # the third step's values move the third step alone
    assert before[0, 2] != after[0, 2]
    assert corrections[0, 0] == corrections[0, 1]  # the same values, the same correction, wherever in the horizon


def test_the_decoder_reads_each_horizon_steps_place_in_the_season_from_its_own_position():
    network = with_known(season=2)
    values, window, ratio = batch([[1.0, 2, 3, 5]], [False])
    known = torch.ones(1, 4 + HORIZON, 2)

    def forecast(first_target: int) -> torch.Tensor:
        """The same window, its targets from ``first_target`` on: only the decoder reads where they fall."""
        with torch.no_grad():
            return network(
                values, torch.cat([window, torch.arange(first_target, first_target + HORIZON)[None]], 1), ratio, known
            )

    with torch.no_grad():
        assert torch.equal(forecast(4), network(values, window, ratio, known))  # by default the steps after the window
    assert not torch.allclose(forecast(4), forecast(5))  # after a gap in the rows, another place in the season
    assert torch.equal(forecast(4), forecast(6))  # a whole season on, the same place


def test_a_loaded_network_holds_the_files_tensors_themselves_built_once_on_the_meta_device(monkeypatch):
    """Issue 25's design: a model is built on the meta device and given the file's tensors, so that it takes its
    weights' size in memory once. The cell contract's check ran the cell there too, and its test of finite outputs
    cannot read a meta tensor: every load fell back to building the network for real, with random weights, and
    copying the file's into it (twice the memory), after importing what torch runs meta kernels with (about a
    second of every predict). The check now runs on the loaded cell."""
    from forecaster.model import trained
    from forecaster.nn import network as network_module
    from forecaster.nn.registry import load_registry

    cell = load_registry().get("lstm")
    sizes = (8, 3, 4, 3, (0, 0, 0))
    torch.manual_seed(0)
    tensors = {name: tensor.clone() for name, tensor in network_module.build_network(cell, *sizes).state_dict().items()}
    builds = []
    real = network_module.build_network

    def counted(*args, **kwargs):
        builds.append(kwargs.get("checked", True))
        return real(*args, **kwargs)

    monkeypatch.setattr(network_module, "build_network", counted)
    loaded = trained._built_on_the_file(cell, sizes, tensors)
    assert builds == [False], "built once, on the meta device, its cell checked once it holds the file's tensors"
    state = loaded.state_dict()
    assert all(state[name].data_ptr() == tensor.data_ptr() for name, tensor in tensors.items())
