"""Per-series scalers (forecaster.model.scaling)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import preprocessing

from forecaster.errors import BadInput
from forecaster.model.jsonread import At
from forecaster.model.scaling import Scaler, fit_scaler, fit_scalers
from forecaster.options import SCALERS

SKLEARN = {
    "standard": preprocessing.StandardScaler,
    "minmax": preprocessing.MinMaxScaler,
    "robust": preprocessing.RobustScaler,
    "none": preprocessing.FunctionTransformer,  # the identity
}


@pytest.fixture
def values():
    rng = np.random.default_rng(0)
    return rng.normal(50.0, 12.0, size=200) + rng.exponential(5.0, size=200)  # skewed, so robust differs


def test_every_offered_scaler_is_tested():
    assert set(SCALERS) == set(SKLEARN)


@pytest.mark.parametrize("kind", SCALERS)
def test_transform_matches_scikit_learn(kind, values):
    scaler = fit_scaler(kind, values[:150])
    expected = SKLEARN[kind]().fit(values[:150].reshape(-1, 1)).transform(values.reshape(-1, 1)).ravel()
    np.testing.assert_allclose(scaler.transform(values), expected, rtol=1e-12, atol=1e-12)
    assert scaler.kind == kind


@pytest.mark.parametrize("kind", SCALERS)
def test_inverse_undoes_transform(kind, values):
    scaler = fit_scaler(kind, values)
    np.testing.assert_allclose(scaler.inverse(scaler.transform(values)), values, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", SCALERS)
def test_nan_is_ignored_when_fitting(kind, values):
    with_gaps = values.copy()
    with_gaps[[0, 1, 2, 70]] = np.nan
    # scikit-learn sums around the NaN: the same numbers, rounded perhaps a last bit differently
    gapped, gapless = fit_scaler(kind, with_gaps), fit_scaler(kind, with_gaps[~np.isnan(with_gaps)])
    assert (gapped.center, gapped.scale) == pytest.approx((gapless.center, gapless.scale), rel=1e-14)
    transformed = fit_scaler(kind, with_gaps).transform(with_gaps)
    assert np.isnan(transformed).sum() == 4


@pytest.mark.parametrize("kind", SCALERS)
def test_constant_series_gets_scale_one(kind):
    scaler = fit_scaler(kind, np.full(10, 7.5))
    assert scaler.scale == 1.0
    assert np.isfinite(scaler.transform(np.array([7.5, 8.5]))).all()


@pytest.mark.parametrize("kind", SCALERS)
def test_all_nan_series_gets_the_identity(kind):
    assert fit_scaler(kind, np.full(5, np.nan)) == Scaler(kind, 0.0, 1.0)


@pytest.mark.parametrize("kind", SCALERS)
def test_columns_fitted_in_one_call_each_get_their_own_scaler(kind, values):
    columns = np.column_stack([values, 3 * values[::-1] + 7, np.full(200, np.nan)])
    columns[:40, 1] = np.nan  # a series that starts late
    scalers = fit_scalers(kind, columns, ["a", "b", "c"])
    for k in (0, 1):
        column = columns[:, k]
        expected = (
            SKLEARN[kind]().fit(column[~np.isnan(column)].reshape(-1, 1)).transform(column.reshape(-1, 1)).ravel()
        )
        np.testing.assert_allclose(scalers[k].transform(column), expected, rtol=1e-12, atol=1e-12)
    assert scalers[2] == Scaler(kind, 0.0, 1.0)


def test_a_column_too_large_to_scale_is_named():
    columns = np.column_stack([np.arange(10.0), np.full(10, 1e308)])  # the sum overflows
    with pytest.raises(BadInput, match=r"^data\.csv: column 'b': values too large"):
        fit_scalers("standard", columns, ["data.csv: column 'a'", "data.csv: column 'b'"])


def test_an_unknown_scaler_is_refused_by_the_one_check_of_the_options():
    from forecaster.options import FitOptions

    with pytest.raises(BadInput, match=r"'zscore' \(--scaler\).*standard, minmax, robust, none"):
        FitOptions(scaler="zscore").check()


@pytest.mark.parametrize("kind", SCALERS)
def test_json_round_trip(kind, values):
    scaler = fit_scaler(kind, values)
    restored = Scaler.from_json(json.loads(json.dumps(scaler.to_json())), At("model.json"))
    assert restored == scaler
    np.testing.assert_array_equal(restored.transform(values), scaler.transform(values))


def test_from_json_accepts_integers_as_floats():
    scaler = Scaler.from_json({"kind": "standard", "center": 3, "scale": 2}, At("model.json"))
    assert scaler == Scaler("standard", 3.0, 2.0)
    assert isinstance(scaler.center, float) and isinstance(scaler.scale, float)


GOOD = {"kind": "standard", "center": 1.5, "scale": 2.0}


@pytest.mark.parametrize(
    "data",
    [
        None,
        [1.5, 2.0],
        {"kind": "standard", "center": 1.5},
        {**GOOD, "extra": 1},
        {**GOOD, "kind": "zscore"},
        {**GOOD, "center": "1.5"},
        {**GOOD, "center": None},
        {**GOOD, "scale": True},
        {**GOOD, "scale": 0},
        {**GOOD, "scale": 0.0},
        {**GOOD, "scale": float("inf")},
        {**GOOD, "center": float("nan")},
        {**GOOD, "scale": -2.0},
        {"kind": "maxabs", "center": 1.0, "scale": 2.0},
    ],
    ids=[
        "none",
        "list",
        "missing-scale",
        "extra-key",
        "unknown-kind",
        "text-center",
        "null-center",
        "bool-scale",
        "zero-scale",
        "zero-float-scale",
        "infinite-scale",
        "nan-center",
        "negative-scale",
        "ratio-scaler-with-a-center",
    ],
)
def test_from_json_rejects_invalid_scalers(data):
    with pytest.raises(BadInput, match=r"^models/x/model\.json: preparations\.x\.scaler"):
        Scaler.from_json(data, At("models/x/model.json") / "preparations" / "x" / "scaler")
