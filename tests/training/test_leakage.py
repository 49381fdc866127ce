"""No statistic that a validated fit scores itself with has seen a held-out value.

The held-out windows choose the epochs, Theta's weight, the series that fall
back and the intervals' widths; a season, scaler or Theta state fitted on
rows that include them would score every one of those choices on values it
has already seen, and every validation figure would be optimistic. So:
change every held-out value, and what the validated fit prepares with must
stay exactly as it was, while the final fit (which learns from every row)
must see the change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import DATA
from forecaster.nn.registry import load_registry
from forecaster.options import FitOptions
from forecaster.training.blending import theta_forecasts
from forecaster.training.pipeline import prepare, read_table

OPTIONS = FitOptions(window=12, horizon=6, season=12, hidden_size=2, members=1, epochs=1, scaler="standard")


def frame() -> pd.DataFrame:
    """Two seasonal series: airline's passengers, and a shifted, noisier copy that can go below zero (differences)."""
    airline = pd.read_csv(DATA / "airline.csv", index_col="date", parse_dates=True)["passengers"]
    noise = np.random.default_rng(0).normal(0, 20, len(airline))
    return pd.DataFrame({"passengers": airline, "shifted": airline - 300 + noise})


def prepared(data: pd.DataFrame):
    return prepare(read_table(data, OPTIONS), OPTIONS, load_registry().get("lstm"))


@pytest.fixture(scope="module")
def both():
    """The same data prepared twice, the second time with every held-out value changed."""
    original = frame()
    first = prepared(original)
    cut = first.training_rows.sum(axis=0)
    assert first.validation is not None and (cut < len(original)).all()
    changed = original.copy()
    for k in range(changed.shape[1]):
        changed.iloc[cut[k] :, k] = changed.iloc[cut[k] :, k] * 3 + 500
    return first, prepared(changed), cut


def test_seasons_and_scalers_of_the_validated_fit_ignore_the_held_out_values(both):
    first, second, _ = both
    assert [p.to_json() for p in second.preparations] == [p.to_json() for p in first.preparations]
    training = first.training_rows
    assert np.array_equal(second.prepared[training], first.prepared[training])  # the rows that train, as trained on


def test_the_final_fit_does_see_them(both):
    """The check above can fail: the final fit's preparations, fitted on every row, move with the held-out values."""
    first, second, _ = both
    assert [p.to_json() for p in second.final_preparations] != [p.to_json() for p in first.final_preparations]


def test_theta_s_state_for_the_held_out_windows_comes_from_the_training_rows(both):
    """Theta's alpha and drift are fitted on the training rows: the first held-out window of each series, forecast
    from the last training row, comes out the same whatever the held-out values are."""
    first, second, cut = both
    forecasts = [theta_forecasts(run.validation, run.prepared, run.training_rows) for run in (first, second)]
    validation = first.validation
    opening = validation.first_target == cut[validation.series]
    assert opening.sum() == len(cut)  # one such window a series
    np.testing.assert_array_equal(forecasts[1][opening], forecasts[0][opening])
    assert not np.array_equal(forecasts[1][~opening], forecasts[0][~opening])  # later origins read held-out values


def test_the_intervals_calibrate_on_forecasts_from_origins_that_read_nothing_held_out(both):
    """The calibrating windows forecast every held-out value from 1 to horizon steps ahead; those from origins up to
    the cut (the straddling ones, whose later steps are held out) read the same inputs and Theta's same forecasts
    whatever the held-out values are: only their targets differ. The network trains on none of them (test_prepare)."""
    first, second, cut = both
    windows = [run.calibrating for run in (first, second)]
    assert windows[0] is not None and windows[1] is not None
    before = windows[0].first_target <= cut[windows[0].series]
    assert before.sum() == len(cut) * OPTIONS.horizon  # a horizon of origins a series, the cut the last
    np.testing.assert_array_equal(windows[1].inputs[before], windows[0].inputs[before])
    thetas = [
        theta_forecasts(w, run.prepared, run.training_rows) for w, run in zip(windows, (first, second), strict=True)
    ]
    np.testing.assert_array_equal(thetas[1][before], thetas[0][before])
    assert not np.array_equal(windows[1].targets[before], windows[0].targets[before], equal_nan=True)
