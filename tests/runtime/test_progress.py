"""The run's one bar: every training's steps on one line, a backtest's folds on the same, from a worker through the
function it is given; none where nobody watches or ``progress=False``."""

from __future__ import annotations

import io
import sys

import pytest

from conftest import Terminal, redraws
from forecaster.runtime import progress
from forecaster.runtime.progress import Steps


@pytest.fixture
def terminal(monkeypatch) -> Terminal:
    """Standard error a terminal, the line redrawn at every step (not at most every REDRAWN_EVERY seconds)."""
    monkeypatch.setattr(progress, "REDRAWN_EVERY", 0)
    return Terminal()


def test_every_training_of_a_run_feeds_one_line_that_ends_full_and_is_cleared(terminal, monkeypatch):
    monkeypatch.setattr(sys, "stderr", terminal)
    with progress.one_bar():
        for fold in (1, 2):
            progress.stage(f"fold {fold} of 2")
            with progress.one_bar():  # each fold's fit: the backtest's bar, not one of its own
                progress.told(Steps(planned=10))
                progress.told(Steps(taken=4))
                progress.told(Steps(taken=6))  # those early stopping left untaken, told at its end
    monkeypatch.undo()
    drawn = redraws(terminal)
    assert drawn[0].startswith("fold 1 of 2:   0%") and "| 0/10 [" in drawn[0]
    assert [line.split("|")[-1].split()[0] for line in drawn] == ["0/10", "4/10", "10/10", "10/20", "14/20", "20/20"]
    assert drawn[-1].startswith("fold 2 of 2: 100%")
    assert terminal.getvalue().endswith("\r") and not terminal.getvalue().rstrip("\r").rsplit("\r", 1)[-1].strip()


def test_nothing_is_drawn_unless_wanted_and_watched(terminal, monkeypatch):
    monkeypatch.setattr(sys, "stderr", terminal)
    with progress.wanted(False), progress.one_bar():
        progress.told(Steps(planned=5, taken=5))
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)  # a pipe or a file: not a terminal
    with progress.one_bar():
        progress.told(Steps(planned=5, taken=5))
    monkeypatch.undo()
    assert terminal.getvalue() == "" and piped.getvalue() == ""


def test_a_worker_sends_its_steps_to_the_fit_rather_than_drawing_them(terminal, monkeypatch):
    sent: list[Steps] = []
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(progress, "_sender", None)  # put back after the test, as a worker's process ends
    progress.send_to(sent.append)
    with progress.one_bar():
        progress.told(Steps(planned=3))
    monkeypatch.undo()
    assert sent == [Steps(planned=3)] and terminal.getvalue() == ""
