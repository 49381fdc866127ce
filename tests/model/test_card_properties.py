"""Any one field of a real model.json changed as a stranger might (its type, sign or size, NaN, a key twice, text no
encoding holds): predict forecasts or refuses it in one line, exit 2, and never ends in an internal error or asks
for memory without bound (issue 25). Hypothesis, derandomized for repeatable runs."""

from __future__ import annotations

import contextlib
import io
import json
import math
import resource
import shutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import invoke

#: address space predict may take beyond what this process holds: its first forecast maps a gigabyte or so (torch's
#: thread pools and arenas); a tiny model's tensors take kilobytes, and the cards of issue 25 asked for 100 GB
HEADROOM = 4 << 30
#: what a field becomes
MUTATIONS = {
    "text": lambda value: "x",
    "empty text": lambda value: "",
    "null": lambda value: None,
    "true": lambda value: True,
    "list": lambda value: [],
    "object": lambda value: {},
    "negated": lambda value: -value if isinstance(value, (int, float)) and not isinstance(value, bool) else -1,
    "zero": lambda value: 0,
    "huge integer": lambda value: 10**17,
    "huge number": lambda value: 1e308,
    "tiny number": lambda value: 1e-300,
    "NaN": lambda value: math.nan,
    "infinity": lambda value: math.inf,
    "long list": lambda value: [1.0] * 100_000,
    "lone surrogate": lambda value: "a\ud800b",
    "nul": lambda value: "a\x00b",
    "long text": lambda value: "é" * 100_000,
}


def leaves(value: object, path: tuple = ()) -> list[tuple]:
    """The paths to every value of a JSON document, containers included; a list's first two items only."""
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:2]):
            found += leaves(item, (*path, index))
    return found


def changed(document: dict, path: tuple, new: object, twice: bool) -> str:
    """``document`` as JSON text, the value at ``path`` replaced by ``new``; ``twice``: the key written again after
    the original (in an object), holding ``new``, instead."""
    copy = json.loads(json.dumps(document))
    *parents, last = path
    holder = copy
    for step in parents:
        holder = holder[step]
    if not twice or not isinstance(holder, dict):
        holder[last] = new
        return json.dumps(copy)
    marker = "\x01twice\x01"  # a key no card holds, swapped for the repeated key in the text
    holder[marker] = new
    return json.dumps(copy).replace(json.dumps(marker), json.dumps(last))


@contextlib.contextmanager
def memory_cap(headroom: int):
    """The address space this process may take, held to what it takes now plus ``headroom`` meanwhile."""
    with open("/proc/self/status") as status:
        size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (size + headroom, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture(scope="module")
def original(tiny_model):
    """The good model's card and its fields' paths; predict run once, so that what it imports is mapped before the
    cap (torch's libraries take far more address space than any forecast of the model)."""
    assert invoke("predict", tiny_model).returncode == 0
    document = json.loads((tiny_model / "model.json").read_text())
    return document, leaves(document)


#: the changes each number and each text of the card gets in turn, whatever hypothesis draws
EVERY_NUMBER = ("huge integer", "huge number", "negated", "NaN")
EVERY_TEXT = ("lone surrogate", "long text", "huge number")


def predicted_or_refused(tiny_model, directory, text: str, what: object) -> None:
    """predict on a copy of the good model with ``text`` as its model.json: a forecast of finite numbers, or one line
    naming the file, exit 2; within a memory cap."""
    model = directory / "model"
    shutil.rmtree(model, ignore_errors=True)
    shutil.copytree(tiny_model, model)
    (model / "model.json").write_text(text, encoding="utf-8", errors="surrogatepass")
    with memory_cap(HEADROOM):
        result = invoke("predict", model)
    assert result.returncode in (0, 2), (what, result.stderr)
    if result.returncode == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert str(model) in lines[0] and len(lines[0]) < 1000, lines[0]  # names the model, shortly
    else:
        forecast = pd.read_csv(io.StringIO(result.stdout))
        assert len(forecast) >= 1 and np.isfinite(forecast.drop(columns=forecast.columns[0]).to_numpy()).all()


def value_at(document: dict, path: tuple) -> object:
    for step in path:
        document = document[step]
    return document


def test_every_number_and_text_of_the_card_made_absurd_is_forecast_or_refused(tiny_model, original, tmp_path):
    document, paths = original
    for path in paths:
        value = value_at(document, path)
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            continue
        for mutation in EVERY_NUMBER if isinstance(value, (int, float)) else EVERY_TEXT:
            text = changed(document, path, MUTATIONS[mutation](value), twice=False)
            predicted_or_refused(tiny_model, tmp_path, text, (path, mutation))


@settings(max_examples=50, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_one_changed_field_is_forecast_or_refused_never_an_internal_error(tiny_model, original, tmp_path, data):
    document, paths = original
    path = data.draw(st.sampled_from(paths), label="field")
    mutation = data.draw(st.sampled_from(sorted(MUTATIONS)), label="mutation")
    twice = data.draw(st.booleans(), label="key twice")
    text = changed(document, path, MUTATIONS[mutation](value_at(document, path)), twice)
    predicted_or_refused(tiny_model, tmp_path, text, (path, mutation, twice))
