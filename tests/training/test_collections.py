"""Collections as the competitions have them: short series, mixed lengths, series that start or end apart, seasons."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecaster.model.trained import Model
from forecaster.nn.registry import load_registry
from forecaster.options import FitOptions
from forecaster.training.pipeline import fit

SMALL = {"hidden_size": 4, "members": 1, "epochs": 2, "seed": 3, "accelerator": "cpu", "devices": "1"}
LONG = {"id_col": "series", "date_col": "date", "value_col": "value"}


def long_file(
    path, lengths: dict[str, int], *, aligned: str = "end", freq: str = "MS", periods: int = 60, seed: int = 0
):
    """One row per series and month; the series end together (``aligned="end"``) or start together."""
    rng = np.random.default_rng(seed)
    times = pd.date_range("2015-01-01", periods=periods, freq=freq)
    rows = []
    for name, length in lengths.items():
        chosen = times[-length:] if aligned == "end" else times[:length]
        steps = np.arange(len(chosen))
        values = 100 + 20 * np.sin(2 * np.pi * steps / 12) + 0.2 * steps + rng.normal(size=len(chosen))
        rows += [(name, time.isoformat(), value) for time, value in zip(chosen, values, strict=True)]
    pd.DataFrame(rows, columns=["series", "date", "value"]).to_csv(path, index=False)
    return path


def fitted(csv, out, **options):
    registry = load_registry()
    model, report = fit(csv, FitOptions(**{**SMALL, **LONG, **options}), registry)
    model.save(out)
    return report, Model.load(out, registry), json.loads((out / "model.json").read_text())


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Monthly series of 1 to 60 values, ending together, fitted for a horizon of 6."""
    root = tmp_path_factory.mktemp("mixed")
    lengths = {"one": 1, "two": 2, "three": 3, "five": 5, "year": 12, "long": 60, "longer": 60}
    csv = long_file(root / "mixed.csv", lengths)
    return (*fitted(csv, root / "model", horizon=6), lengths, csv)


def test_every_series_of_a_mixed_collection_is_forecast(mixed):
    _report, model, _metadata, lengths, _ = mixed
    result = model.forecast().to_frame()
    assert sorted(result["series"].unique()) == sorted(lengths)
    assert result.groupby("series").size().eq(6).all()
    assert np.isfinite(result["model"]).all()
    assert (
        result.groupby("series")["date"].first() == "2020-01-01"
    ).all()  # each continues after the shared last month


def test_a_series_too_short_to_learn_from_is_forecast_by_its_last_value_and_listed(mixed, tmp_path):
    report, model, metadata, _, csv = mixed
    assert report.fallback == ["one"] and metadata["fallback"] == {"naive": ["one"], "baseline": {}}
    assert any("fewer than 2 values" in note and "'one'" in note for note in report.notes)
    result = model.forecast()
    last = pd.read_csv(csv).query("series == 'one'")["value"].iloc[-1]
    np.testing.assert_allclose(result.values["one"], last)
    assert any("forecast by their last value" in note for note in result.notes)
    assert not np.allclose(result.values["two"], result.values["two"][0])  # two values are enough for the network


def test_shorter_series_than_the_window_are_trained_on_left_padded(mixed):
    report, _, metadata, _, _ = mixed
    assert metadata["hyperparameters"]["window"] == 24  # two seasons of 12 months
    assert any("shorter than the window (24) are read left-padded" in note for note in report.notes)
    assert set(report.metrics["series"]) >= {"year", "long", "longer"}  # validated on their own last windows


def test_predict_csv_reads_short_series_too(mixed, tmp_path):
    _, model, _, _, _ = mixed
    recent = long_file(
        tmp_path / "recent.csv", {"one": 3, "two": 1, "three": 3, "five": 2, "year": 4, "long": 9, "longer": 9}, seed=1
    )
    result = model.forecast(recent=recent)
    assert all(np.isfinite(values).all() and len(values) == 6 for values in result.values.values())
    assert any("'two'" in note for note in result.notes)  # one value now: its last value


def test_series_that_start_together_and_end_apart_are_each_forecast_from_their_own_end(tmp_path):
    csv = long_file(tmp_path / "start.csv", {"a": 60, "b": 40, "c": 25, "d": 18}, aligned="start")
    report, model, _ = fitted(csv, tmp_path / "model", horizon=6)
    assert set(report.metrics["series"]) == {"a", "b", "c", "d"}  # validation represents every series
    firsts = {
        name: time.date().isoformat()
        for name, time in model.forecast().to_frame().groupby("series")["date"].first().items()
    }
    assert firsts == {"a": "2020-01-01", "b": "2018-05-01", "c": "2017-02-01", "d": "2016-07-01"}


def test_the_season_and_window_follow_the_frequency_and_options_override_them(tmp_path):
    half_hours = long_file(tmp_path / "half.csv", {"a": 400, "b": 300}, freq="30min", periods=400)
    report, _, metadata = fitted(half_hours, tmp_path / "half", horizon=4)
    assert (metadata["hyperparameters"]["season"], metadata["hyperparameters"]["window"]) == (
        48,
        96,
    )  # a day of half-hours
    assert "season 48: the natural cycle of 30min data" in metadata["chosen"]
    assert "season 48" in "; ".join(report.chosen)
    _, _, metadata = fitted(half_hours, tmp_path / "set", horizon=4, season=24, window=10, batch_size=8, patience=3)
    assert (metadata["hyperparameters"]["season"], metadata["hyperparameters"]["window"]) == (24, 10)
    assert metadata["requested"]["window"] == 10 and metadata["chosen"] == []  # nothing left open


def test_a_strong_season_is_removed_before_the_network_and_restored_after(tmp_path):
    csv = long_file(tmp_path / "seasonal.csv", {"a": 60, "b": 60})
    _, model, metadata = fitted(csv, tmp_path / "model", horizon=12)
    season = metadata["preparations"]["a"]["season"]
    assert season["kind"] == "multiplicative" and len(season["indices"]) == 12
    assert max(season["indices"]) > 1.05 and min(season["indices"]) < 0.95
    values = model.forecast().values["a"]
    assert values.max() - values.min() > 10  # the restored season, not a flat line


def test_a_series_that_reaches_zero_only_in_its_last_values_is_read_in_differences(tmp_path):
    """Its training rows are positive, but predict reads its last values: ratios to a level of zero would be
    unreadable."""
    frame = pd.read_csv(long_file(tmp_path / "zero.csv", {"a": 60, "b": 60}))
    frame.loc[frame.index[-12:], "value"] = 0.0  # b's last year: nothing sold
    frame.to_csv(tmp_path / "zero.csv", index=False)
    _, model, metadata = fitted(tmp_path / "zero.csv", tmp_path / "model", horizon=6)
    assert (
        metadata["preparations"]["a"]["reading"] == "ratio" and metadata["preparations"]["b"]["reading"] == "difference"
    )
    assert np.isfinite(model.forecast().values["b"]).all()
