"""The Python face of forecaster: the functions behind ``forecaster.fit``, ``load``, ``backtest`` and ``cells``.

The same engine as the command line and batch jobs (:mod:`forecaster.training.pipeline`,
:class:`forecaster.model.trained.Model`, :mod:`forecaster.training.backtest`), with keyword
options named as FitOptions' fields (``time_col`` and ``target`` are accepted
as the command line's other names). Errors are exceptions carrying the exit
code the command line would give (``exc.exit_code``), their options named as
Python's keywords (``window=``); nothing here exits the interpreter.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import pandas as pd

from forecaster.data import header
from forecaster.data import limits as limits_
from forecaster.data.table import Data
from forecaster.errors import BadInput, ForecasterError, render
from forecaster.model.directory import restore as restore_model
from forecaster.model.forecast import Forecast
from forecaster.model.intervals import calibrated
from forecaster.model.trained import Model as TrainedModel
from forecaster.nn.registry import Registry, load_registry
from forecaster.options import ALIASES, OPTION_TYPES, FitOptions, typed
from forecaster.runtime import progress as progress_
from forecaster.training.backtest import Backtest, backtest_data

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Result = TypeVar("Result")
Parameters = ParamSpec("Parameters")
#: Python keywords that are the command line's other names of an option
KEYWORD_ALIASES = {**ALIASES, "target": "targets"}
#: keywords of predict and backtest, which fit's own options are not: where each belongs
ELSEWHERE = {"levels": "Model.predict or backtest", "recent": "Model.predict", "folds": "backtest", "step": "backtest"}
#: the intervals a plot draws unless asked for others, where the model calibrates them
COMMON_LEVELS = (80, 95)
#: the keywords of fit, predict and backtest: the options an error may name as ``window=``
KEYWORDS = {*OPTION_TYPES, *KEYWORD_ALIASES, *ELSEWHERE}


def _python_errors(function: Callable[Parameters, Result]) -> Callable[Parameters, Result]:
    """Errors raised below leave with their options named as this interface names them (``window=``)."""

    @functools.wraps(function)
    def wrapped(*args: Parameters.args, **kwargs: Parameters.kwargs) -> Result:
        try:
            return function(*args, **kwargs)
        except ForecasterError as exc:
            exc.args = (render(str(exc), "python", KEYWORDS),)
            raise

    return wrapped


def _registry() -> Registry:
    """The installed cells; each broken plugin is a warning, as the command line's warning line is."""
    registry = load_registry()
    for problem in registry.problems:
        warnings.warn(str(problem), PluginWarning, stacklevel=3)
    return registry


class PluginWarning(UserWarning):
    """A plugin, or one of its cells, that could not be registered: the other cells work."""


def options_from(keywords: dict[str, Any]) -> FitOptions:
    """Keyword arguments -> checked FitOptions; an unknown keyword is a :class:`BadInput` naming it (and a close
    one)."""
    known = set(OPTION_TYPES)
    given: dict[str, Any] = {}
    for keyword, value in keywords.items():
        name = KEYWORD_ALIASES.get(keyword, keyword)
        if keyword in ELSEWHERE:
            raise BadInput(f"{keyword}= is not an option of a fit: give it to {ELSEWHERE[keyword]}")
        if name not in known:
            close = difflib.get_close_matches(keyword, sorted(known | set(KEYWORD_ALIASES)), n=1)
            raise BadInput(f"unknown option {keyword}=" + (f" (did you mean {close[0]}=?)" if close else ""))
        if name in given:
            raise BadInput(f"{keyword}= and another name of it were both given; give one")
        one_target = name == "targets" and isinstance(value, str)
        given[name] = typed((value,) if one_target else value, OPTION_TYPES[name], f"{keyword}=")
    options = FitOptions(**given)
    options.check()
    return options


@_python_errors
def fit(data: Data, *, limits: limits_.Given = None, progress: bool = True, **options: Any) -> Model:
    """Train a model on ``data``: a CSV file's path, or a DataFrame (wide: a time column or a DatetimeIndex and one
    column per series; long: ``id_col``, ``time_col`` and ``value_col``). ``options`` are `forecaster fit`'s, as
    keywords (``horizon=12``, ``cell="torch-lstm"``, ``season=12``...). The model is in memory: ``model.save(path)``
    writes it, ``model.predict()`` forecasts, ``model.report`` tells how the fit went. ``limits`` raises or lowers
    what a file may cost to read (``{"rows": 50_000_000}``: docs/operations.md, Bounded input). ``progress``: a
    training bar in a terminal or a notebook (``False``: none)."""
    from forecaster.training.pipeline import fit as fit_model

    with limits_.within(limits), progress_.wanted(progress):
        fit_options = options_from(options)
        header.check_if_file(data)  # before the plugins and the workers
        model, _ = fit_model(data, fit_options, _registry())
    return _in_python_terms(model)


@_python_errors
def load(path: str | os.PathLike, *, limits: limits_.Given = None) -> Model:
    """A model directory written by `forecaster fit`, a batch job or :meth:`Model.save`; ``limits`` as fit's."""
    with limits_.within(limits):
        return _in_python_terms(TrainedModel.load(path, _registry()))


@_python_errors
def restore(path: str | os.PathLike) -> Model:
    """Put back the model that the last save into the model directory ``path`` replaced (kept as
    ``<path>.previous``), keeping the one now there as ``<path>.previous``: a second call undoes the first. Returns
    the model put back."""
    restore_model(Path(path))
    return load(path)


@_python_errors
def backtest(
    data: Data,
    *,
    folds: int = 3,
    step: int | None = None,
    levels: Sequence[float] = (),
    limits: limits_.Given = None,
    progress: bool = True,
    **options: Any,
) -> PythonBacktest:
    """Rolling-origin evaluation against naive, seasonal naive and drift, as `forecaster backtest` does; the result's
    ``metrics`` is a DataFrame (scope, series, method, mae, rmse, smape, mase), ``coverage`` the intervals' coverage;
    ``limits`` and ``progress`` as fit's."""
    with limits_.within(limits), progress_.wanted(progress):
        fit_options = options_from(options)
        header.check_if_file(data)  # before the plugins and the folds
        result, _ = backtest_data(data, fit_options, _registry(), folds, step, levels)
    return PythonBacktest(**{field.name: getattr(result, field.name) for field in dataclasses.fields(result)})


def cells() -> pd.DataFrame:
    """The installed cells (name, distribution, version, description), as `forecaster cells` lists them."""
    registry = _registry()
    return pd.DataFrame(
        [
            {"name": c.name, "distribution": c.distribution, "version": c.version, "description": c.description}
            for c in registry.cells.values()
        ],
        columns=["name", "distribution", "version", "description"],
    )


class Model(TrainedModel):
    """``forecaster.Model``: a :class:`~forecaster.model.trained.Model` whose methods' errors name options as Python's
    keywords, and which draws itself: what fit and load return."""

    forecast = _python_errors(TrainedModel.forecast)
    predict = _python_errors(TrainedModel.predict)
    save = _python_errors(TrainedModel.save)

    @_python_errors
    def plot(
        self,
        forecast: Forecast | None = None,
        levels: Sequence[float] | None = None,
        series: Sequence[str] | None = None,
        *,
        covariates: bool = False,
    ) -> Figure:
        """A matplotlib Figure (drawn inline in a notebook) of ``forecast`` (by default :meth:`forecast` with
        ``levels``, each drawn or refused as predict would; without them, those of 80% and 95% the model calibrates),
        per series (``series``: these only), after its recent history; ``covariates``: the time-varying covariates
        under each. `forecaster predict --plot` saves the same picture."""
        from forecaster.plots import forecast_figure

        if forecast is not None and not isinstance(forecast, Forecast):
            raise BadInput(
                f"forecast= takes what model.forecast() returns, not a {type(forecast).__name__} (predict's is a "
                "DataFrame to read); leave it out to draw model.forecast(levels=levels)"
            )
        if forecast is None:
            quantiles = self.card.intervals.quantiles
            common = [level for level in COMMON_LEVELS if calibrated(quantiles, level)]
            forecast = self.forecast(levels=common if levels is None else levels)
        return forecast_figure(forecast, series, covariates=covariates)


class PythonBacktest(Backtest):
    """A :class:`~forecaster.training.backtest.Backtest` that draws itself: what backtest returns."""

    @_python_errors
    def plot(self, series: Sequence[str] | None = None, history_points: int = 200) -> Figure:
        """A matplotlib Figure (drawn inline in a notebook): per series (``series``: these only), the actual values
        around the test period and each fold's first forecast; `forecaster backtest --plot` saves the same."""
        from forecaster.plots import backtest_figure

        return backtest_figure(self.actual, self.folds, series, history_points)


def _in_python_terms(model: TrainedModel) -> Model:
    return Model(model.card, model.network, model.directory, model.report)
