"""How each series is prepared for the network, and its forecasts restored: season removed, scaled, read as ratios
or differences.

Fitted on each series' training rows only. A series whose values are all
positive is read as ratios to its level by the network; its
scikit-learn scaler only divides it by its largest value (ratios do not
change), so that values of any size fit float32. Any other series is read as
differences from its level, in units of the scaler ``--scaler`` names. Both are deseasonalised first when their
season is strong enough (see :mod:`forecaster.data.seasons`). Every step is a
monotone map, so an interval's bounds restore like the forecast itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from forecaster.data.seasons import Season, decompose
from forecaster.model import jsonread
from forecaster.model.jsonread import At
from forecaster.model.scaling import RATIO_SCALER, Scaler, fit_scalers

#: how a series is read by the network, as model.json names it
READINGS = ("ratio", "difference")
SEASON_KINDS = ("multiplicative", "additive")
#: how far from 1 (multiplicative) or 0 (additive) the indices a decomposition normalises may average, relative to
#: the largest: its rounding, never a shift of the series
INDEX_ROUNDING = 1e-9


@dataclass(frozen=True)
class Preparation:
    """One series': whether it is read as ratios, its scaler, its seasonal indices (None: no season removed)."""

    ratio: bool
    scaler: Scaler
    season: Season | None

    def to_network(self, values: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Values as the network reads them: deseasonalised, then scaled."""
        if self.season is not None:
            values = self.season.remove(values, positions)
        return self.scaler.transform(values)

    def from_network(self, values: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`to_network`, for forecasts and interval bounds at ``positions``: beyond float64's range
        where the forecast is (a caller refuses what is not finite, in its words)."""
        with np.errstate(over="ignore", invalid="ignore"):
            values = self.scaler.inverse(values)
            return self.season.restore(values, positions) if self.season is not None else values

    def to_json(self) -> dict:
        return {
            "reading": "ratio" if self.ratio else "difference",
            "scaler": self.scaler.to_json(),
            "season": self.season.to_json() if self.season is not None else None,
        }

    @classmethod
    def from_json(cls, data: object, season: int, scaler: str, at: At) -> Preparation:
        """A preparation as a fit writes it, its season of ``season`` indices, the ``scaler`` the fit was asked for
        unless read as ratios; else one :class:`BadInput` naming the field at ``at``."""
        found = jsonread.fields_of(data, at, PreparationFields)
        ratio = jsonread.text(found["reading"], at / "reading", READINGS) == "ratio"
        fitted = Scaler.from_json(found["scaler"], at / "scaler")
        if fitted.kind != (RATIO_SCALER if ratio else scaler):
            (at / "scaler" / "kind").fail(
                f"{fitted.kind!r} is not the {RATIO_SCALER if ratio else scaler!r} scaler a series read as "
                f"{found['reading']}s has"
            )
        if found["season"] is None:
            return cls(ratio, fitted, None)
        indices = _season(found["season"], season, at / "season")
        if (indices.kind == "multiplicative") != ratio:
            (at / "season" / "kind").fail(
                f"{indices.kind!r} is not the kind of season a series read as {found['reading']}s has"
            )
        return cls(ratio, fitted, indices)


@dataclass(frozen=True)
class PreparationFields:
    """model.json's object of a series' preparation, as :meth:`Preparation.from_json` reads it."""

    reading: str
    scaler: Scaler
    season: Season | None


def _season(value: object, season: int, at: At) -> Season:
    """Seasonal indices as a decomposition gives them: ``season`` finite ones, positive when multiplicative."""
    found = jsonread.fields_of(value, at, Season)
    kind = jsonread.text(found["kind"], at / "kind", SEASON_KINDS)
    indices = jsonread.numbers(found["indices"], at / "indices", season, season)
    if kind == "multiplicative" and min(indices) <= 0:
        (at / "indices" / indices.index(min(indices))).fail(
            f"{min(indices):g} is not a multiplicative seasonal index: they are above 0"
        )
    with np.errstate(all="ignore"):
        mean = float(np.mean(indices))
    centre = 1.0 if kind == "multiplicative" else 0.0
    if not abs(mean - centre) <= INDEX_ROUNDING * max(1.0, float(np.abs(indices).max())):
        (at / "indices").fail(
            f"average {mean:g}, and a decomposition's {kind} indices average {centre:g}: they move values within a "
            "season, not the series"
        )
    return Season(kind, tuple(float(index) for index in indices))


def fit_preparations(
    scaler: str, values: np.ndarray, positive: np.ndarray, positions: np.ndarray, season: int, wheres: Sequence[str]
) -> list[Preparation]:
    """One :class:`Preparation` per column of ``values`` (training rows, NaN elsewhere); ``wheres`` name them in errors.

    ``positive`` says which series have only positive values, held-out ones
    included: they are read as ratios. Deciding on the training rows alone
    would let a series that reaches zero in its last values be saved as a
    ratio series that predict then cannot read.
    """
    seasons, ratio = [], [bool(flag) for flag in positive]
    deseasonalised = np.full_like(values, np.nan)
    for k in range(values.shape[1]):
        present = ~np.isnan(values[:, k])
        series, steps = values[present, k], positions[present]
        seasons.append(
            decompose(series, steps, season, multiplicative=ratio[k]) if season > 1 and len(series) else None
        )
        deseasonalised[present, k] = seasons[-1].remove(series, steps) if seasons[-1] is not None else series
    scalers: dict[int, Scaler] = {}
    for kind, chosen in (
        (RATIO_SCALER, [k for k in range(len(ratio)) if ratio[k]]),
        (scaler, [k for k in range(len(ratio)) if not ratio[k]]),
    ):
        scalers.update(
            zip(chosen, fit_scalers(kind, deseasonalised[:, chosen], [wheres[k] for k in chosen]), strict=True)
        )
    return [Preparation(ratio[k], scalers[k], seasons[k]) for k in range(values.shape[1])]


def restore(
    preparations: Sequence[Preparation], values: np.ndarray, series: np.ndarray, positions: np.ndarray
) -> np.ndarray:
    """Network-unit ``values`` (n, steps) of windows of ``series`` (n,) at ``positions`` (n, steps) -> the data's
    units."""
    restored = np.empty_like(values)
    order = np.argsort(series, kind="stable")
    bounds = np.searchsorted(series[order], np.arange(len(preparations) + 1))
    for k, preparation in enumerate(preparations):
        rows = order[bounds[k] : bounds[k + 1]]
        if len(rows):
            restored[rows] = preparation.from_network(values[rows], positions[rows])
    return restored
