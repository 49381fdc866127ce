"""The reports the doors write: a model's, a backtest's and a night's, each one HTML page as text.

`forecaster report`, the ``--report`` option of fit, backtest and batch, a
jobs file's ``report`` key and the Python methods ``Model.save_report`` and
``Backtest.save_report`` all come here; the doors write the text with
:func:`forecaster.runtime.files.write_atomic`. Nothing here imports torch or
Lightning: a model's forecast is the model's to make (torch, at its first
forecast), and a night's page reads files only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from forecaster.model.intervals import check_levels, common_levels
from forecaster.report.page import render

if TYPE_CHECKING:
    from forecaster.data.table import Data
    from forecaster.model.trained import Model
    from forecaster.training.backtest import Backtest


def of_model(model: Model, levels: float | Sequence[float] | None = None, recent: Data | None = None) -> str:
    """The page of ``model``: its fit, then every series' forecast with its intervals at ``levels`` (by default 80%
    and 95%, those of them the model calibrates) beside its held-out errors; forecast from ``recent`` (a CSV's path
    or a DataFrame of the series, as predict's ``--csv``) and drawn with its history, where given, else from the
    last values model.json keeps (a window or a season of them)."""
    from forecaster.report.fitted import model_page

    drawn = common_levels(model.card.intervals.quantiles) if levels is None else check_levels(levels)
    forecast = model.forecast(levels=drawn, recent=recent)
    where = str(model.directory) if model.directory else f"fitted on {model.card.training.source}"
    return render(model_page(model.card, model.report, forecast, where))


def of_backtest(backtest: Backtest, source: str) -> str:
    """The page of ``backtest`` of the data ``source``: its metrics and coverage, then every series' folds."""
    from forecaster.report.backtested import backtest_page

    return render(backtest_page(backtest, source))


def of_night(document: dict, summary: Path | None) -> str:
    """The page of a batch run, from its summary ``document`` (written at ``summary``, where the summaries of the
    runs before it are found beside it: None when it was not written)."""
    from forecaster.report.night import night_page

    return render(night_page(document, summary))


def default_path(source: Path) -> Path:
    """Where `forecaster report SOURCE` writes without ``--out``: beside a model directory (``models/stock.html``, never
    inside it, which holds the model's own files alone), or beside a summary (``summary-2026-03-01.html``)."""
    source = Path(source)
    return source.with_name(source.name + ".html") if source.is_dir() else source.with_suffix(".html")
