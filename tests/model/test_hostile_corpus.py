"""A hostile corpus that never goes stale: a model fitted by today's code, mutated field by field and byte by byte.

Each mutant (tests/mutants.py) is given to `forecaster predict` in a process
of bounded memory and time; predict must refuse it in one line naming the
file and the field, or forecast finite values of the right shape, and never
say a library's words. A few mutants run here, derandomized so that every run
draws the same ones; bench/hostile_corpus.py runs thousands and records what
they find in bench/hostile-corpus.md.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import mutants
from conftest import invoke

#: mutants drawn in the suite: a few seconds of predict's runs on one core
EXAMPLES = 30


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> mutants.Fresh:
    return mutants.fit_fresh_model(tmp_path_factory.mktemp("fresh"), invoke)


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    predictor = mutants.Predictor(tmp_path_factory.mktemp("predictor"))
    yield predictor
    predictor.stop()


def test_the_fresh_model_itself_forecasts_cleanly(fresh, predictor, tmp_path):
    """The property's baseline: the model every mutant starts from passes it unchanged."""
    unchanged = mutants.Mutant("model.json", "none", "", "unchanged", lambda directory: None)
    answer = predictor.predict(fresh.model, *mutants.PREDICT_OPTIONS)
    assert answer.code == 0, answer.stderr
    assert mutants.problems(unchanged, fresh.model, answer, fresh.keys) == []


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.generate],  # the first failing mutant is reported as drawn: shrinking would rerun predict many times
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_every_mutant_is_refused_by_name_or_forecast_finitely(fresh, predictor, tmp_path, data):
    mutant = data.draw(fresh.mutants(), label="mutant")
    directory = mutants.copied(fresh.model, tmp_path / "mutant")
    mutant.apply(directory)
    answer = predictor.predict(directory, *mutants.PREDICT_OPTIONS)
    assert mutants.problems(mutant, directory, answer, fresh.keys) == [], str(mutant)
