"""The model card: what a fit writes reads back as the same record, the JSON layout as it was, and times of every
kind."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from forecaster.model.card import Card
from forecaster.model.directory import read_card, save
from forecaster.model.jsonread import nesting


def written(model) -> dict:
    return json.loads((model / "model.json").read_text())


def test_a_fits_card_reads_back_as_it_was_written(tiny_model, tmp_path):
    """read_card checks what Card.from_fit wrote, field for field: to_json gives back model.json's layout, and a card
    saved again reads back equal."""
    from safetensors.torch import load_file

    card = read_card(tiny_model)
    assert {"format_version": 5, **card.to_json()} == written(tiny_model)
    assert list(card.to_json()) == [
        key for key in written(tiny_model) if key != "format_version"
    ]  # in the order fit wrote them
    save(tmp_path / "again", card, load_file(str(tiny_model / "weights.safetensors")))
    assert read_card(tmp_path / "again") == card
    assert card.time.last == 5 and card.ends == {"company_a": 5, "company_b": 5}  # integer times as integers


@pytest.mark.parametrize(
    "origin, last",
    [
        ("2026-03-29T00:00:00+01:00", "2026-03-29T04:00:00+01:00"),
        (
            "2300-01-01T00:00:00",
            "2300-01-01T04:00:00",
        ),  # beyond pandas' nanoseconds (2262): fit writes such times, predict reads them
    ],
)
def test_datetimes_round_trip(tiny_model, origin, last):
    """A datetime axis reads its times as timestamps, offsets kept, and writes them back as they were written."""
    data = written(tiny_model)
    del data["format_version"]
    data["time"].update(kind="datetime", frequency="h", origin=origin, last=last)
    data["ends"] = dict.fromkeys(data["ends"], last)
    card = Card.from_json(data, "model.json")
    assert card.time.last == pd.Timestamp(last) and card.time.last.utcoffset() == pd.Timestamp(last).utcoffset()
    assert card.to_json() == data
    assert Card.from_json(card.to_json(), "model.json") == card


def test_requested_options_are_a_fit_options_record_without_the_device_options(tiny_model):
    card = read_card(tiny_model)
    assert (card.requested.window, card.requested.season, card.requested.targets) == (4, None, ())
    assert not {"accelerator", "devices", "strategy", "num_nodes"} & set(card.to_json()["requested"])
    assert dataclasses.replace(card.requested, accelerator="cpu").accelerator == "cpu"


@pytest.mark.parametrize(
    "text, depth",
    [
        ('{"a": [1, [2, {"b": 3}]]}', 4),
        ('{"a": "[[[[{{{{", "b": "\\"[[["}', 1),  # brackets in strings, and escaped quotes, do not count
        ("[]" * 100_000, 1),
        ("[" * 10 + "]" * 10, 10),
        ("", 0),
    ],
)
def test_nesting_counts_brackets_outside_strings(text, depth):
    assert nesting(text) == depth
    assert nesting(text, chunk=3) == depth  # the same across chunk boundaries


def test_an_error_beyond_float64_is_written_as_null_and_read_back_as_none(tiny_model, tmp_path):
    """Values near 1e308 forecast with the wrong sign have errors no float64 holds: a fit writes null (never Infinity,
    which JSON lacks and predict refuses), and the summaries say so in words."""
    import math

    from forecaster.model.card import Scores
    from forecaster.model.fit_result import figure

    scores = Scores.of({"mae": math.inf, "rmse": math.inf, "smape": 200.0})
    assert scores == Scores(None, None, 200.0)
    data = written(tiny_model)
    del data["format_version"]
    data["metrics"]["model"] = dataclasses.asdict(scores)
    card = Card.from_json(json.loads(json.dumps(data, allow_nan=False)), "model.json")
    assert card.metrics.model == scores
    assert (figure(None), figure(math.inf), figure(1.23456)) == ("beyond float64's range",) * 2 + ("1.235",)
