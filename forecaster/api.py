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
import inspect
import os
import typing
import warnings
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, SupportsIndex, TypeVar, Unpack

import pandas as pd

from forecaster.data import header
from forecaster.data import limits as limits_
from forecaster.data.table import Data
from forecaster.errors import BadInput, ForecasterError, render
from forecaster.model.directory import restore as restore_model
from forecaster.model.forecast import Forecast, with_ids
from forecaster.model.intervals import check_levels, common_levels
from forecaster.model.trained import Model as TrainedModel
from forecaster.nn.registry import Registry, load_registry
from forecaster.options import ALIASES, DEFAULT_FOLDS, OPTION_TYPES, FitKeywords, FitOptions, typed, whole
from forecaster.runtime import progress as progress_
from forecaster.runtime.files import write_atomic
from forecaster.training.backtest import ID, Backtest, backtest_data

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Result = TypeVar("Result")
Parameters = ParamSpec("Parameters")
#: Python keywords that are the command line's other names of an option
KEYWORD_ALIASES = {**ALIASES, "target": "targets"}
#: keywords of predict and backtest, which fit's own options are not: where each belongs
ELSEWHERE = {"levels": "Model.predict or backtest", "recent": "Model.predict", "folds": "backtest", "step": "backtest"}
#: the keywords of fit, predict and backtest: the options an error may name as ``window=``
KEYWORDS = {*OPTION_TYPES, *KEYWORD_ALIASES, *ELSEWHERE}


def _python_errors(function: Callable[Parameters, Result]) -> Callable[Parameters, Result]:
    """Errors raised below leave with their options named as this interface names them (``window=``), and a keyword
    the function does not take is one too, with the one meant (``level=``: did you mean levels=?), as fit's."""
    parameters = inspect.signature(function).parameters
    named = [name for name, parameter in parameters.items() if parameter.kind is not parameter.VAR_KEYWORD]
    takes_any = len(named) < len(parameters)  # **options: options_from checks them

    @functools.wraps(function)
    def wrapped(*args: Parameters.args, **kwargs: Parameters.kwargs) -> Result:
        try:
            for keyword in kwargs:
                if keyword not in named and not takes_any:
                    refuse_keyword(keyword, named, function.__qualname__)
            return function(*args, **kwargs)
        except ForecasterError as exc:
            exc.args = (render(str(exc), "python", KEYWORDS),)
            raise

    return wrapped


def refuse_keyword(keyword: str, known: Collection[str], taker: str) -> typing.NoReturn:
    """A :class:`BadInput` for a keyword ``taker`` does not take, naming the close one it may have meant."""
    close = difflib.get_close_matches(keyword, sorted(known), n=1)
    if close:
        raise BadInput(f"unknown option {keyword}= (did you mean {close[0]}=?)")
    if keyword in OPTION_TYPES or keyword in KEYWORD_ALIASES:
        raise BadInput(f"{keyword}= is an option of a fit, not of {taker}: give it to forecaster.fit")
    raise BadInput(f"unknown option {keyword}= of {taker}")


def _registry() -> Registry:
    """The installed cells; each broken plugin is a warning, as the command line's warning line is."""
    registry = load_registry()
    for problem in registry.problems:
        warnings.warn(str(problem), PluginWarning, stacklevel=3)
    return registry


class PluginWarning(UserWarning):
    """A plugin, or one of its cells, that could not be registered: the other cells work."""


def options_from(keywords: dict[str, Any], taker: str = "fit", own: Collection[str] = ()) -> FitOptions:
    """Keyword arguments of ``taker`` (fit or backtest, whose ``own`` keywords they are not) -> checked FitOptions; an
    unknown keyword is a :class:`BadInput` naming it (and a close one, of the fit options or ``own``)."""
    given: dict[str, Any] = {}
    for keyword, value in keywords.items():
        name = KEYWORD_ALIASES.get(keyword, keyword)
        if keyword in ELSEWHERE:
            raise BadInput(f"{keyword}= is not an option of a fit: give it to {ELSEWHERE[keyword]}")
        if name not in OPTION_TYPES:
            refuse_keyword(keyword, [*OPTION_TYPES, *KEYWORD_ALIASES, *own], taker)
        if name in given:
            raise BadInput(f"{keyword}= and another name of it were both given; give one")
        one_name = typing.get_origin(OPTION_TYPES[name]) is tuple and isinstance(value, str)  # targets="sales"
        given[name] = typed((value,) if one_name else value, OPTION_TYPES[name], f"{keyword}=")
    options = FitOptions(**given)
    options.check()
    return options


@_python_errors
def fit(data: Data, *, limits: limits_.Given = None, progress: bool = True, **options: Unpack[FitKeywords]) -> Model:
    """Train a model on ``data``: a CSV file's path, or a DataFrame (wide: a time column or a DatetimeIndex and one
    column per series; long: ``id_col``, ``time_col`` and ``value_col``). ``options`` are `forecaster fit`'s, as
    keywords (``horizon=12``, ``cell="torch-lstm"``, ``season=12``...). The model is in memory: ``model.save(path)``
    writes it, ``model.predict()`` forecasts, ``model.report`` tells how the fit went. ``limits`` raises or lowers
    what a file may cost to read (``{"rows": 50_000_000}``: docs/operations.md, Bounded input). ``progress``: a
    training bar in a terminal or a notebook (``False``: none)."""
    from forecaster.training.pipeline import fit as fit_model

    with limits_.within(limits), progress_.wanted(progress):
        fit_options = options_from(dict(options), "fit", ("limits", "progress"))
        header.check_if_file(data)  # before the plugins and the workers
        model, _ = fit_model(data, fit_options, _registry())
    return _in_python_terms(model)


@_python_errors
def load(path: str | os.PathLike, *, limits: limits_.Given = None) -> Model:
    """A model directory written by `forecaster fit`, a batch job or :meth:`Model.save`; ``limits`` as fit's."""
    return Model.load(path, limits=limits)


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
    folds: SupportsIndex = DEFAULT_FOLDS,
    step: SupportsIndex | None = None,
    levels: float | Sequence[float] = (),
    limits: limits_.Given = None,
    progress: bool = True,
    **options: Unpack[FitKeywords],
) -> PythonBacktest:
    """Rolling-origin evaluation against naive, seasonal naive and drift, as `forecaster backtest` does; the result's
    ``metrics`` is a DataFrame (scope, series, method, mae, rmse, smape, mase), ``coverage`` the intervals' coverage;
    ``limits`` and ``progress`` as fit's."""
    with limits_.within(limits), progress_.wanted(progress):
        fit_options = options_from(dict(options), "backtest", ("folds", "step", "levels", "limits", "progress"))
        steps = None if step is None else whole(step, "--step")
        header.check_if_file(data)  # before the plugins and the folds
        result, table = backtest_data(
            data, fit_options, _registry(), whole(folds, "--folds"), steps, check_levels(levels)
        )
    fields = {field.name: getattr(result, field.name) for field in dataclasses.fields(result)}
    return PythonBacktest(**fields | {"forecasts": with_ids(result.forecasts, ID, table.id_type)})


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

    @classmethod
    @_python_errors
    def load(
        cls, directory: str | os.PathLike, registry: Registry | None = None, *, limits: limits_.Given = None
    ) -> Model:
        """A model directory, as :func:`forecaster.load` reads it: ``Model.load("models/stock")``. ``registry``: the
        cells to build it with (default: the installed ones, a broken plugin a :class:`PluginWarning`)."""
        with limits_.within(limits):
            return _in_python_terms(TrainedModel.load(directory, registry or _registry()))

    @_python_errors
    def plot(
        self,
        forecast: Forecast | None = None,
        levels: float | Sequence[float] | None = None,
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
            common = common_levels(self.card.intervals.quantiles)
            forecast = self.forecast(levels=common if levels is None else levels)
        return forecast_figure(forecast, series, covariates=covariates)

    @_python_errors
    def save_report(
        self, path: str | os.PathLike, levels: float | Sequence[float] | None = None, recent: Data | None = None
    ) -> Path:
        """Write the model's report at ``path``, atomically: one self-contained HTML page (it opens offline) of its
        fit, then every series' forecast with its intervals at ``levels`` (by default 80% and 95%, where the model
        calibrates them) beside its held-out errors, as `forecaster report` writes it; ``recent``: the series as
        this data has them (a CSV's path or a DataFrame, as predict's), forecast from its end and drawn with its
        history. Returns the path."""
        from forecaster.report import pages

        return write_atomic(path, pages.of_model(self, levels, recent), "path")


class PythonBacktest(Backtest):
    """A :class:`~forecaster.training.backtest.Backtest` that draws itself, and whose methods' errors name Python's
    keywords: what backtest returns."""

    score = _python_errors(Backtest.score)

    @_python_errors
    def plot(self, series: Sequence[str] | None = None, history_points: int = 200) -> Figure:
        """A matplotlib Figure (drawn inline in a notebook): per series (``series``: these only), the actual values
        around the test period and each fold's first forecast; `forecaster backtest --plot` saves the same."""
        from forecaster.plots import backtest_figure

        return backtest_figure(self.actual, self.folds, series, history_points)

    @_python_errors
    def save_report(self, path: str | os.PathLike, source: str = "the data") -> Path:
        """Write the backtest's report at ``path``, atomically: one self-contained HTML page of its metrics and
        coverage, then every series' folds, forecasts against actual values with the baselines, as `forecaster
        backtest --report` writes it; ``source`` names the data in its title. Returns the path."""
        from forecaster.report import pages

        return write_atomic(path, pages.of_backtest(self, source), "path")


def _in_python_terms(model: TrainedModel) -> Model:
    return Model(model.card, model.network, model.directory, model.fit_report)
