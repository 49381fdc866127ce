"""The forecasting network in plain torch: an ensemble of cells, each unrolled over a window, each with a linear head.

Kept apart from the LightningModule so that ``predict`` runs it without
importing Lightning.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from forecaster.errors import ForecasterError

#: the features each step gives the cell: the value relative to the window's level, whether it was observed
#: (a short series is left-padded), whether the series is read as ratios; then the place in the season
BASE_FEATURES = 3
SEASON_FEATURES = 2


#: windows per forward pass when no gradients are kept (validation, forecasts): few passes, while the cell's
#: per-step outputs (windows x window x hidden floats) stay small
NO_GRAD_BATCH = 1024


#: (past, known, other) covariate features per step (forecaster.model.covariates.CovariateSpec.counts): the
#: decoders read the known ones over the horizon too
Extra = tuple[int, int, int]
NO_EXTRA: Extra = (0, 0, 0)


def input_size(season: int, extra: Extra = NO_EXTRA) -> int:
    """The features per step a cell reads: the season's sine and cosine only where there is a season, then every
    covariate feature."""
    return BASE_FEATURES + (SEASON_FEATURES if season > 1 else 0) + sum(extra)


class Network(nn.Module):
    """(values, positions, ratio) of a batch of windows -> (batch, horizon) forecasts in the values' units.

    ``values`` (batch, window) hold NaN where a window reads before its series
    begins; ``positions`` (batch, window) are their steps on the time axis, for
    the place in the season, and (batch, window + horizon) where the horizon's
    steps do not simply follow the window's last (training windows whose
    targets lie beyond a gap in the rows, such as a market holiday);
    ``ratio`` (batch,) says which series are read as ratios to their level
    rather than differences from it.

    Each window is read relative to its level, the mean of its last season of
    observed values, as Smyl's ES-RNN and N-BEATS normalise theirs: a positive
    series as ratios to it minus 1, any other as differences from it (its
    values already scaled). A trending series leaves its training range in use;
    a cell whose memories are bounded by tanh cannot follow such levels, while
    ratios and differences stay in range. "No change from the level" is the
    network's natural starting point. Forecasts come back in the same units
    (``level + unit * output``), and the loss compares them in units of
    :meth:`reference`'s ``unit``, so that every series weighs the same whatever
    its scale.

    ``members`` cells with heads of their own are trained side by side from
    different initial weights; the forecast is their median, as N-BEATS
    ensembles its networks.

    Covariates (``extra``, (batch, window + horizon, C) features laid out
    as :data:`Extra` counts them) join each step's inputs over the window;
    the known ones (future-known columns, holidays) are read over the horizon
    too, by a :class:`KnownDecoder` beside each head, as neuralforecast's
    recurrent models read their future exogenous inputs in a decoder shared
    by the horizon's steps. Past-observed ones are never read past the
    window: what is known only up to the origin cannot leak.
    """

    def __init__(
        self,
        cells: list[nn.Module],
        hidden_size: int,
        horizon: int,
        season: int,
        extra: Extra = NO_EXTRA,
        origin: str = "its cell",
    ) -> None:
        super().__init__()
        self.origin = origin  #: names the cell and who provides it, for messages about what it computes
        self.cells = nn.ModuleList(cells)
        self.heads = nn.ModuleList(nn.Linear(hidden_size, horizon) for _ in cells)
        if extra[1]:
            self.decoders = nn.ModuleList(
                KnownDecoder(hidden_size, extra[1] + (SEASON_FEATURES if season > 1 else 0)) for _ in cells
            )
        self.season = season
        self.horizon = horizon
        self.extra = extra
        self.hidden_size = hidden_size

    def reference(self, values: Tensor, ratio: Tensor) -> tuple[Tensor, Tensor]:
        """Each window's level (the mean of its last season of observed values) and unit: (batch, 1) each."""
        recent = values[:, -self.season :]
        observed = ~torch.isnan(recent)
        level = torch.where(observed, recent, 0).sum(1, keepdim=True) / observed.sum(1, keepdim=True).clamp_min(1)
        unit = torch.where(ratio[:, None], level.abs().clamp_min(torch.finfo(level.dtype).tiny), torch.ones_like(level))
        return level, unit

    def member_forecasts(
        self, values: Tensor, positions: Tensor, ratio: Tensor, extra: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Every member's forecasts (members, batch, horizon), and the windows' units (batch, 1)."""
        level, unit = self.reference(values, ratio)
        window = values.shape[1]
        observed = ~torch.isnan(values)
        relative = torch.where(observed, (values - level) / unit, 0)
        features = [relative, observed.to(values.dtype), ratio[:, None].to(values.dtype).expand_as(values)]
        if self.season > 1:
            features += self._season_place(positions[:, :window], values.dtype).unbind(-1)
        steps = torch.stack(features, dim=-1)
        past, known, _ = self.extra
        ahead = None
        if sum(self.extra):
            assert extra is not None, "a network with covariates reads them"
            steps = torch.cat([steps, extra[:, :window].to(values.dtype)], dim=-1)
            if known:
                ahead = extra[:, window:, past : past + known].to(values.dtype)
                if self.season > 1:
                    place = self._season_place(self._horizon_positions(positions, window), values.dtype)
                    ahead = torch.cat([ahead, place], dim=-1)
        outputs = []
        for k, (cell, head) in enumerate(zip(self.cells, self.heads, strict=True)):
            last = cell(steps)[0][:, -1]
            output = head(last)
            if ahead is not None:
                output = output + self.decoders[k](last, ahead)
            outputs.append(output)
        return level + unit * torch.stack(outputs), unit

    def _season_place(self, positions: Tensor, dtype: torch.dtype) -> Tensor:
        """The sine and cosine of each step's place in the season: (batch, steps, 2)."""
        angle = (2 * math.pi / self.season) * torch.remainder(positions, self.season).to(dtype)
        return torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1)

    def _horizon_positions(self, positions: Tensor, window: int) -> Tensor:
        """The horizon's steps on the time axis: given after the window's, or else the ones after its last."""
        assert positions.shape[1] in (window, window + self.horizon), "the window's positions, or the horizon's too"
        if positions.shape[1] > window:
            return positions[:, window:]
        return positions[:, window - 1 : window] + torch.arange(1, self.horizon + 1, device=positions.device)

    def forward(self, values: Tensor, positions: Tensor, ratio: Tensor, extra: Tensor | None = None) -> Tensor:
        forecasts, _ = self.member_forecasts(values, positions, ratio, extra)
        return median(forecasts)


class KnownDecoder(nn.Module):
    """A member's reading of the known covariates over the horizon: one small network shared by every step, from
    that step's known features (and its place in the season) and the cell's last output, to a correction of the
    head's forecast for that step.

    Shared by the steps, it learns how a known input moves the series (a warm
    afternoon, a holiday) once rather than once for each pair of steps, as a
    linear head reading the whole horizon's inputs would (horizon x horizon x
    features weights: 4,608 for a day of half-hours and two covariates), and
    its hidden layer lets the effect bend (demand rises with heat and with
    cold). Its output layer starts at zero: at the start of training it adds
    nothing, and the head alone forecasts the horizon.
    """

    def __init__(self, hidden_size: int, features: int) -> None:
        super().__init__()
        self.context = nn.Linear(hidden_size, hidden_size)
        self.step = nn.Linear(features, hidden_size, bias=False)
        self.output = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(self, last: Tensor, ahead: Tensor) -> Tensor:
        """``last`` (batch, hidden), ``ahead`` (batch, horizon, features) -> (batch, horizon)."""
        return self.output(torch.relu(self.context(last)[:, None] + self.step(ahead))).squeeze(-1)


def median(members: Tensor) -> Tensor:
    """The median over the first dimension; the mean of the middle two for an even count."""
    ordered = members.sort(dim=0).values
    middle = len(members) // 2
    return ordered[middle] if len(members) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def build_network(
    cell_builder,
    hidden_size: int,
    horizon: int,
    season: int,
    members: int = 1,
    extra: Extra = NO_EXTRA,
    checked: bool = True,
) -> Network:
    """``cell_builder`` is a registered :class:`forecaster.nn.registry.RegisteredCell`; a cell that breaks the
    contract is named here, unless ``checked`` is False: a network built on the meta device, whose cell cannot be
    run there, is checked by :func:`check_contract` once it holds its tensors."""
    features = input_size(season, extra)
    cells = [cell_builder.build(input_size=features, hidden_size=hidden_size) for _ in range(members)]
    network = Network(cells, hidden_size, horizon, season, extra, cell_builder.origin)
    if checked:
        check_contract(network)
    return network


def planned_tensors(
    cell_builder, hidden_size: int, horizon: int, season: int, members: int, extra: Extra = NO_EXTRA
) -> dict[str, tuple[tuple[int, ...], torch.dtype]] | None:
    """The name, shape and dtype of every tensor a network of this size saves, without allocating it.

    Built on torch's meta device, where tensors have shapes and no memory: a
    model directory's claims (a hidden size of 60,000) are checked against
    its weights before gigabytes are asked for. None when the cell cannot be
    built there (say, a builder that draws its initial weights with numpy);
    its network is then checked once built.
    """
    try:
        with torch.device("meta"):
            cells = [
                cell_builder.build(input_size=input_size(season, extra), hidden_size=hidden_size)
                for _ in range(members)
            ]
            network = Network(cells, hidden_size, horizon, season, extra)
    except Exception:
        return None
    return {name: (tuple(tensor.shape), tensor.dtype) for name, tensor in network.state_dict().items()}


def check_contract(network: Network) -> None:
    """Run the network's first cell once on a tiny batch: a wrong shape would otherwise surface as a matrix error
    deep in training, and outputs that are not numbers as a loss that "diverged", blamed on the learning rate."""
    cell, origin = network.cells[0], network.origin
    features = input_size(network.season, network.extra)
    expected = (2, 3, network.hidden_size)
    was_training = cell.training
    cell.eval()  # no dropout draws, no running statistics updated
    dtype = next(cell.parameters(), torch.zeros(())).dtype
    # one window of zeros, as a padded window's features are, and one of values spread over the range a window's
    # relative values take: a cell that divides, takes logs or multiplies its way to NaN or infinity shows it here
    spread = torch.linspace(-1, 1, 3 * features, dtype=dtype).reshape(1, 3, features)
    inputs = torch.cat([torch.zeros_like(spread), spread])
    try:
        with torch.no_grad():
            outputs, _ = cell(inputs)
        shape = tuple(outputs.shape)
    except Exception as exc:
        raise ForecasterError(
            f"{origin}: fails on a (2, 3, {features}) batch: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}"
        ) from exc
    finally:
        cell.train(was_training)
    if shape != expected:
        raise ForecasterError(
            f"{origin}: breaks the cell contract: outputs of shape {shape} for a (2, 3, {features}) batch, not "
            f"{expected}"
        )
    if not bool(torch.isfinite(outputs).all()):
        raise ForecasterError(
            f"{origin}: breaks the cell contract: its outputs for a (2, 3, {features}) batch of inputs from -1 to 1 "
            f"are not all finite ({_non_finite(outputs)}), before any training: the cell is at fault, not the data or "
            "the learning rate"
        )


def _non_finite(values: Tensor) -> str:
    """Which kinds of non-finite value ``values`` hold: "NaN", "infinite" or both."""
    kinds = [kind for kind, found in (("NaN", values.isnan()), ("infinite", values.isinf())) if bool(found.any())]
    return " and ".join(kinds)
