"""Errors name the option as each interface names it: --window on the command line, key 'window' in a jobs file, window= in Python."""

from __future__ import annotations

import pytest

from forecaster.errors import render

CASES = [
    ("too few validation windows to calibrate a 95% interval; ask for a lower level (--level)",
     "(key 'levels')", "(levels=)"),
    ("fill them with --fill interpolate, ffill or drop", "with key 'fill' interpolate", "with fill= interpolate"),
    ("name it with --time-col", "with key 'time_col'", "with time_col="),
    ("no series 'x' in column 'id' (--target)", "(key 'targets')", "(targets=)"),
    ("--value-col needs --id-col (a long-format file)", "key 'value_col' needs key 'id_col'", "value_col= needs id_col="),
]


@pytest.mark.parametrize("message, jobs, python", CASES)
def test_each_interface_renders_the_options_its_way(message, jobs, python):
    assert render(message, "cli") == message
    assert jobs in render(message, "jobs") and "--" not in render(message, "jobs")
    assert python in render(message, "python") and "--" not in render(message, "python")


def test_only_options_are_renamed():
    message = "data/my--file.csv: line 3: -5 is not a number (--fill)"
    assert render(message, "python") == "data/my--file.csv: line 3: -5 is not a number (fill=)"
