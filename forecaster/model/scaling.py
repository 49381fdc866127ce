"""Per-series scikit-learn scalers, kept as plain numbers.

Every scaler offered here is affine, ``scaled = (value - center) / scale``, so
a fitted scaler is saved as two floats in model.json and applied at predict
time with plain arithmetic: no pickle, and no scikit-learn import on the
predict path.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from forecaster.errors import BadInput
from forecaster.model import jsonread
from forecaster.model.jsonread import At
from forecaster.options import SCALERS

#: the scaler of a series read as ratios to its level: a scale alone (ratios have no offset to remove), which keeps
#: values of any size within float32 while the network computes
RATIO_SCALER = "maxabs"
KINDS = (*SCALERS, RATIO_SCALER)
#: the largest scaled value trained on: squared errors of 1e18 still fit float32
MAX_SCALED = 1e18
#: the largest float32, which the network computes in: a value beyond it is infinite there
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class Scaler:
    kind: str
    center: float
    scale: float

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.center) / self.scale

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return values * self.scale + self.center

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object, at: At) -> Scaler:
        """A scaler as a fit writes it: a known kind, a finite center (0 for a ratio series' scaler) and a positive
        scale; else one :class:`BadInput` naming the field at ``at``."""
        found = jsonread.fields_of(data, at, cls)
        kind = jsonread.text(found["kind"], at / "kind", KINDS)
        center, scale = (jsonread.number(found[name], at / name) for name in ("center", "scale"))
        if scale <= 0:
            (at / "scale").fail(f"{scale:g} is not a scale: a fitted scale is above 0")
        if kind == RATIO_SCALER and center != 0:
            (at / "center").fail(f"{center:g}: the {RATIO_SCALER} scaler only divides, its center is 0")
        return cls(kind, center, scale)


def fit_scaler(kind: str, values: np.ndarray, where: str = "series") -> Scaler:
    """Fit one series' scaler with scikit-learn on its (training) values, NaN ignored.

    ``where`` names the series (file and column) in the error for values too
    large to scale.
    """
    return fit_scalers(kind, values.reshape(-1, 1), [where])[0]


def fit_scalers(kind: str, values: np.ndarray, wheres: Sequence[str]) -> list[Scaler]:
    """One scaler per column of ``values`` (rows, series), fitted by one scikit-learn call.

    scikit-learn's scalers ignore NaN column by column, so the columns of
    series that start late are fitted together with the others: one fit a
    series took 7 s for 5,000 series. ``wheres`` name the columns in errors.
    """
    centers, scales = np.zeros(values.shape[1]), np.ones(values.shape[1])
    fitted = ~np.isnan(values).all(axis=0)  # a column without values keeps the identity
    if kind != "none" and fitted.any():
        with warnings.catch_warnings(), np.errstate(all="ignore"):  # overflow is reported below, in one line
            warnings.simplefilter("ignore", RuntimeWarning)
            centers[fitted], scales[fitted] = _fit(kind, values[:, fitted])
    # scikit-learn already maps a zero spread to 1; guard against overflow to inf too
    bad = ~(np.isfinite(centers) & np.isfinite(scales)) | (scales == 0)
    if bad.any():
        raise BadInput(
            f"{wheres[int(np.flatnonzero(bad)[0])]}: values too large to scale with the {kind} scaler; try --scaler "
            "none or robust"
        )
    return [Scaler(kind, float(center), float(scale)) for center, scale in zip(centers, scales, strict=True)]


def _fit(kind: str, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import preprocessing

    if kind == "standard":
        fitted = preprocessing.StandardScaler().fit(values)
        return fitted.mean_, fitted.scale_
    if kind == "minmax":
        fitted = preprocessing.MinMaxScaler().fit(values)
        return fitted.data_min_, 1.0 / fitted.scale_
    if kind == RATIO_SCALER:
        fitted = preprocessing.MaxAbsScaler().fit(values)
        return np.zeros(values.shape[1]), fitted.scale_
    fitted = preprocessing.RobustScaler().fit(values)
    return fitted.center_, fitted.scale_
