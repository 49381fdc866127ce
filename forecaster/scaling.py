"""Per-series scikit-learn scalers, kept as plain numbers.

Every scaler offered here is affine, ``scaled = (value - center) / scale``, so
a fitted scaler is saved as two floats in model.json and applied at predict
time with plain arithmetic: no pickle, and no scikit-learn import on the
predict path.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np

from forecaster.errors import BadInput
from forecaster.options import SCALERS



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
    def from_json(cls, data: object, where: str) -> "Scaler":
        if not isinstance(data, dict) or set(data) != {"kind", "center", "scale"}:
            raise BadInput(f"{where}: a scaler must have exactly kind, center and scale")
        kind, center, scale = data["kind"], data["center"], data["scale"]
        numbers_ok = all(isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x) for x in (center, scale))
        if kind not in SCALERS or not numbers_ok or scale == 0:
            raise BadInput(f"{where}: invalid scaler {data!r}")
        return cls(kind, float(center), float(scale))


def fit_scaler(kind: str, values: np.ndarray, where: str = "series") -> Scaler:
    """Fit one series' scaler with scikit-learn on its (training) values, NaN ignored.

    ``where`` names the series (file and column) in the error for values too
    large to scale.
    """
    if kind not in SCALERS:
        raise BadInput(f"unknown scaler {kind!r} (--scaler); choose from {', '.join(SCALERS)}")
    present = values[~np.isnan(values)].reshape(-1, 1)
    if kind == "none" or present.size == 0:
        return Scaler(kind, 0.0, 1.0)
    with warnings.catch_warnings(), np.errstate(all="ignore"):  # overflow is reported below, in one line
        warnings.simplefilter("ignore", RuntimeWarning)
        center, scale = _fit(kind, present)
    # scikit-learn already maps a zero spread to 1; guard against overflow to inf too
    if not (np.isfinite(center) and np.isfinite(scale)) or scale == 0:
        raise BadInput(f"{where}: values too large to scale with the {kind} scaler; try --scaler none or robust")
    return Scaler(kind, float(center), float(scale))


def _fit(kind: str, present: np.ndarray) -> tuple[float, float]:
    from sklearn import preprocessing

    if kind == "standard":
        fitted = preprocessing.StandardScaler().fit(present)
        center, scale = fitted.mean_[0], fitted.scale_[0]
    elif kind == "minmax":
        fitted = preprocessing.MinMaxScaler().fit(present)
        center, scale = fitted.data_min_[0], 1.0 / fitted.scale_[0]
    else:
        fitted = preprocessing.RobustScaler().fit(present)
        center, scale = fitted.center_[0], fitted.scale_[0]
    return center, scale
