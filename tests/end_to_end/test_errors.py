"""Errors name the option as each interface names it: --window on the command line, key 'window' in a jobs file,
window= in Python."""

from __future__ import annotations

import os
import signal
import time

import pytest

from forecaster.api import KEYWORDS
from forecaster.batch.jobs_file import KEYS
from forecaster.errors import Interrupted, render
from forecaster.runtime.interrupts import raising_on_signals

CASES = [
    (
        "it needs 19 a forecast step, and the fit had 18; ask for at most 94% (--level), or fit on more data",
        "(key 'levels')",
        "(levels=)",
    ),
    ("fill them with --fill interpolate, ffill or drop", "with key 'fill' interpolate", "with fill= interpolate"),
    ("name it with --time-col", "with key 'time_col'", "with time_col="),
    ("no series 'x' in column 'id' (--target)", "(key 'targets')", "(targets=)"),
    (
        "--value-col needs --id-col (a long-format file)",
        "key 'value_col' needs key 'id_col'",
        "value_col= needs id_col=",
    ),
]


@pytest.mark.parametrize("message, jobs, python", CASES)
def test_each_interface_renders_the_options_its_way(message, jobs, python):
    assert render(message, "cli") == message
    assert jobs in render(message, "jobs", KEYS) and "--" not in render(message, "jobs", KEYS)
    assert python in render(message, "python", KEYWORDS) and "--" not in render(message, "python", KEYWORDS)


def test_only_the_interfaces_options_are_renamed():
    message = "data/my--file.csv: line 3: -5 is not a number (--fill)"
    assert render(message, "python", KEYWORDS) == "data/my--file.csv: line 3: -5 is not a number (fill=)"
    refit = "m/model.json: written by an earlier forecaster; fit it again: forecaster fit data/x.csv --out m"
    assert render(refit, "python", KEYWORDS) == refit  # a command to type stays a command
    assert render(refit, "jobs", KEYS) == refit


def test_a_signal_is_not_swallowed_where_a_library_catches_every_exception():
    """The signal handler raises wherever the main thread is; an `except Exception` there must not end the stop."""

    def a_library_call_with_a_fallback() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler runs here
        except Exception:  # as torch does around an optional import
            pass

    with raising_on_signals(), pytest.raises(Interrupted) as stopped:
        a_library_call_with_a_fallback()
    assert stopped.value.exit_code == 143
