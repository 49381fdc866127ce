"""Forecast the series in a CSV file with a recurrent network whose cell is a plugin.

From Python (the README's "From Python")::

    import forecaster

    model = forecaster.fit("data/stock.csv", horizon=7)     # a path, or a pandas DataFrame
    model.predict(levels=[80, 95])                           # a DataFrame, as `forecaster predict` writes it
    model.save("models/stock")
    model = forecaster.load("models/stock")
    forecaster.backtest("data/airline.csv", folds=3).metrics
    forecaster.cells()

Plugin authors find here what they need: :data:`hookimpl`, the base cell
class :class:`RecurrentCell` and its :data:`State`, and the conformance kit
:mod:`forecaster.testing`.

The names are imported when first used, so that ``import forecaster`` (and
the command line's ``--help``) does not load pandas or torch; ``__init__.pyi``
gives type checkers their real signatures.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.4.0"

#: public name -> the module that defines it
_PUBLIC = {
    "fit": "forecaster.api",
    "load": "forecaster.api",
    "restore": "forecaster.api",
    "backtest": "forecaster.api",
    "cells": "forecaster.api",
    "Model": "forecaster.api",
    "FitOptions": "forecaster.options",
    "FitKeywords": "forecaster.options",
    "ForecasterError": "forecaster.errors",
    "BadInput": "forecaster.errors",
    "HorizonWarning": "forecaster.errors",
    "hookimpl": "forecaster.hookspecs",
    "RecurrentCell": "forecaster.nn.base",
    "State": "forecaster.nn.base",
}
__all__ = ["__version__", *_PUBLIC]  # noqa: PLE0604  the lazy table's keys: strings, which ruff cannot see


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'forecaster' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
