"""Intervals that hold together (issue 37): the common levels on the classic short series, a refusal that counts,
a plot that draws what predict gives, and a horizon past the trained one said as a warning."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import forecaster
from conftest import DATA, assert_a_drawn_plot, assert_clean_error, run

TINY = {"members": 1, "hidden_size": 4, "epochs": 2, "seed": 3}


def passengers() -> pd.Series:
    return pd.read_csv(DATA / "airline.csv", index_col="date", parse_dates=True)["passengers"]


@pytest.fixture(scope="module")
def yearly():
    """airline's 144 months, a year ahead: 29 held-out months, each forecast from 1 to 12 months ahead."""
    return forecaster.fit(passengers(), horizon=12, **TINY)


@pytest.fixture(scope="module")
def short():
    """Its first 80 months: 16 held out, too few for a 95% interval (19)."""
    return forecaster.fit(passengers().iloc[:80], horizon=12, **TINY)


def test_airline_a_year_ahead_has_80_and_95_percent_intervals_nested(yearly):
    assert yearly.report.validation_windows == 18  # windows whose whole year is held out: too few for 95% alone
    assert yearly.card.intervals.windows == 29 and yearly.card.intervals.on == "validation"
    frame = yearly.predict(levels=[80, 95])
    assert len(frame) == 12
    assert (frame["passengers-lo-95"] < frame["passengers-lo-80"]).all()
    assert (frame["passengers-lo-80"] < frame["passengers"]).all()
    assert (frame["passengers"] < frame["passengers-hi-80"]).all()
    assert (frame["passengers-hi-80"] < frame["passengers-hi-95"]).all()


def test_a_level_too_high_is_refused_with_the_counts_naming_the_series_it_was_fitted_on(short, tmp_path):
    """In Python the model is named by what it was fitted on, a Series here; the saved one by its model.json."""
    assert short.card.intervals.windows == 16
    counts = "it needs 19 a forecast step, and the fit had 16; ask for at most 94% (--level)"
    with pytest.raises(forecaster.BadInput) as refused:
        short.predict(levels=[80, 95])
    message = str(refused.value)
    assert message.startswith("the model fitted on a Series: too few held-out forecasts to calibrate a 95% interval")
    assert counts.replace("(--level)", "(levels=)") in message and "DataFrame" not in message
    assert "fit on more data" in message
    assert len(short.predict(levels=[80, 94])) == 12  # what it says it can give, it gives
    short.save(tmp_path / "short")
    assert_clean_error(run("predict", tmp_path / "short", "--level", 95), f"{tmp_path / 'short'}/model.json: ", counts)


def test_a_dataframe_and_a_csv_are_named_as_themselves(tmp_path):
    frame = passengers().iloc[:80].to_frame()
    frame.to_csv(tmp_path / "short.csv")
    for data, named in ((frame, "a DataFrame"), (tmp_path / "short.csv", str(tmp_path / "short.csv"))):
        model = forecaster.fit(data, horizon=12, **{**TINY, "epochs": 1})
        with pytest.raises(forecaster.BadInput) as refused:
            model.predict(levels=[95])
        assert str(refused.value).startswith(f"the model fitted on {named}: too few held-out forecasts")


def band_pixels(path, colour: tuple[int, int, int]) -> np.ndarray:
    """A mask of the pixels of ``colour`` in the PNG at ``path``."""
    from matplotlib import image

    rgb = (image.imread(path)[..., :3] * 255).round()
    return np.abs(rgb - colour).max(axis=-1) <= 2


def test_plot_draws_both_levels_nested_and_differs_from_one_level(yearly, tmp_path):
    from forecaster.plots import band_colours, save_png

    def rgb(colour) -> tuple[int, int, int]:
        return tuple(round(255 * channel) for channel in colour[:3])  # type: ignore[return-value]

    both, one = tmp_path / "both.png", tmp_path / "one.png"
    save_png(yearly.plot(levels=[80, 95]), both)
    save_png(yearly.plot(levels=[80]), one)
    assert_a_drawn_plot(both)
    assert both.read_bytes() != one.read_bytes()
    shades = {level: rgb(colour) for level, colour in band_colours([80, 95]).items()}
    inner, outer = band_pixels(both, shades[80]), band_pixels(both, shades[95])
    assert inner.sum() >= 200 and outer.sum() >= 200, (inner.sum(), outer.sum())
    drawn = np.flatnonzero(inner.any(axis=0))
    drawn = drawn[drawn > inner.shape[1] // 3]  # the bands over the forecast, right of the legend's patches
    nested = [
        column
        for column in drawn
        if outer[:, column].any()
        and np.flatnonzero(outer[:, column]).min() < np.flatnonzero(inner[:, column]).min()
        and np.flatnonzero(outer[:, column]).max() > np.flatnonzero(inner[:, column]).max()
    ]
    assert len(drawn) >= 100 and len(nested) >= 0.9 * len(drawn)  # the 95% band above and below the 80% band
    alone = band_pixels(one, rgb(band_colours([80])[80])).sum()
    assert alone >= 200 and band_pixels(one, shades[95]).sum() < 0.05 * outer.sum()  # a few of its edges' pixels


def test_plot_refuses_a_level_as_predict_does_and_by_default_draws_the_common_levels_calibrated(short):
    with pytest.raises(forecaster.BadInput) as predicted:
        short.predict(levels=[80, 95])
    with pytest.raises(forecaster.BadInput) as plotted:
        short.plot(levels=[80, 95])
    assert str(plotted.value) == str(predicted.value)
    [axis] = [axis for axis in short.plot().axes if axis.get_visible()]
    assert len(axis.collections) == 1  # 80% only: the default draws the common levels the model calibrates


def test_a_horizon_beyond_the_trained_one_warns_at_the_users_line(yearly):
    """Python's warning, attributed to the line that called predict (or forecast), not to forecaster's insides."""
    here = sys._getframe().f_lineno
    with pytest.warns(forecaster.HorizonWarning) as caught:
        yearly.predict(horizon=14, levels=[80])
    with pytest.warns(forecaster.HorizonWarning) as direct:
        yearly.forecast(horizon=13)
    [warning], [other] = caught, direct
    assert warning.filename == other.filename == __file__
    assert (warning.lineno, other.lineno) == (here + 2, here + 4)
    assert str(warning.message) == (
        "horizon 14 is beyond the trained 12: steps 13-14 are forecast recursively from earlier forecasts, and their "
        "intervals widened by sqrt(step); a model fitted for 14 steps forecasts each directly"
    )
    assert issubclass(forecaster.HorizonWarning, UserWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = yearly.forecast(horizon=12)  # the trained horizon: no warning
    assert not any("beyond" in note for note in result.notes)


def test_the_command_line_says_it_on_stderr(yearly, tmp_path):
    yearly.save(tmp_path / "m")
    result = run("predict", tmp_path / "m", "--horizon", 13)
    assert result.returncode == 0, result.stderr
    said = (
        "forecaster: warning: horizon 13 is beyond the trained 12: step 13 is forecast recursively from earlier "
        "forecasts; a model fitted for 13 steps forecasts each directly"
    )
    assert result.stderr.splitlines() == [said]
    assert len(result.stdout.splitlines()) == 1 + 13
    quiet = run("predict", tmp_path / "m", "--horizon", 12)
    assert quiet.returncode == 0 and quiet.stderr == ""
