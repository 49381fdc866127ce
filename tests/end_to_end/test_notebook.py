"""docs/notebook.ipynb run cell by cell in a real Jupyter kernel (nbclient), as a reader runs it: the worked example
(fit, forecast, merge with the actual values, plot two levels, cross-validate, score, save) never drifts from the
package, a fit or a backtest shows one updating bar and nothing else of its training, and what the notebook shows
stays small (issue 37: a fit's text bars were 62 KB of one cell, the executed notebook 337 KB).
"""

from __future__ import annotations

import json
import os
import re
import tempfile

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

NOTEBOOK = ROOT / "docs" / "notebook.ipynb"
#: the most a cell may show besides its picture: a table, a model's lines, a bar (one fit's text bars were 62 KB)
CELL_TEXT_BYTES = 8_000
#: the most one picture (a Figure's PNG) may take
PICTURE_BYTES = 120_000
#: the most the executed notebook may take, its two pictures included (it was 337 KB)
NOTEBOOK_BYTES = 260_000


@pytest.fixture(scope="module")
def executed() -> tuple[nbformat.NotebookNode, str]:
    """The executed notebook, and what its kernel wrote to its own terminal; a cell that raises fails the tests."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    # ipykernel shows what its child processes write (their file descriptors) unless it runs under pytest
    environment = {name: value for name, value in os.environ.items() if name != "PYTEST_CURRENT_TEST"}
    with tempfile.TemporaryFile("w+") as terminal:
        client.execute(env=environment, stderr=terminal)
        terminal.seek(0)
        return notebook, terminal.read()


@pytest.fixture(scope="module")
def cells(executed) -> dict[str, nbformat.NotebookNode]:
    """The executed notebook's code cells, by their first line."""
    return {cell.source.splitlines()[0]: cell for cell in executed[0].cells if cell.cell_type == "code"}


def stderr(cell: nbformat.NotebookNode) -> str:
    return "".join(output.text for output in cell.outputs if output.get("name") == "stderr")


def shown(cell: nbformat.NotebookNode, kind: str) -> list[str]:
    return [output.data[kind] for output in cell.outputs if kind in output.get("data", {})]


def returned(cell: nbformat.NotebookNode, kind: str = "text/plain") -> str:
    """What the cell's last expression shows as ``kind``."""
    (value,) = [output.data[kind] for output in cell.outputs if output.output_type == "execute_result"]
    return value


def bars(cell: nbformat.NotebookNode) -> list[str]:
    """What the cell shows as displays of their own (not its result): the bars."""
    return [output.data["text/plain"] for output in cell.outputs if output.output_type == "display_data"]


def test_a_fit_shows_one_updating_bar_and_the_model_in_a_few_lines(cells, executed):
    fit = cells["model = forecaster.fit(train, horizon=8, epochs=10)"]
    (bar,) = bars(fit)
    assert bar.startswith("training: 100%|") and "\n" not in bar and " steps/s]" in bar, "one line, updated in place"
    assert stderr(fit) == "", "nothing of the processes that train the members"
    lines = returned(fit).splitlines()
    assert lines[0] == "<forecaster.Model: cell lstm, 20 series, QS-JAN steps>" and len(lines) == 4
    assert re.fullmatch(r"  validation sMAPE [\d.]+% against the naive forecast's [\d.]+% \(\d+ windows\)", lines[2])
    terminal = executed[1]
    assert "steps" not in terminal and "\r" not in terminal and "lightning" not in terminal.lower(), terminal


def test_a_backtest_shows_one_bar_and_a_fit_without_progress_none(cells):
    backtest = cells["result = forecaster.backtest(tourism, horizon=8, folds=2, levels=[80, 95], epochs=10)"]
    (bar,) = bars(backtest)
    assert bar.startswith("fold 2 of 2: 100%|"), "both folds' fits on the backtest's one bar"
    assert stderr(backtest) == ""
    quiet = cells["final = forecaster.fit(tourism, horizon=8, epochs=10, progress=False)"]
    assert bars(quiet) == [] and stderr(quiet) == ""
    assert shown(quiet, "text/plain") == ["['model.json', 'weights.safetensors']"], "saved, loaded, forecasts the same"


def test_the_day_s_results_read_as_tables_and_figures(cells):
    assert "validation sMAPE" in shown(cells["model.report"], "text/plain")[0]
    assert "<table" in shown(cells["model.report"], "text/html")[0]
    assert "model-lo-95" in shown(cells["forecast = model.predict(levels=[80, 95])"], "text/html")[0]
    merged = cells['merged = test.merge(forecast, on=["unique_id", "ds"])'].outputs[0].text
    assert re.fullmatch(
        r"sMAPE [\d.]+% over 160 forecasts; \d+% of the actual values inside the 80% interval\n", merged
    )
    result = cells["result = forecaster.backtest(tourism, horizon=8, folds=2, levels=[80, 95], epochs=10)"]
    assert returned(result).startswith("<Backtest: 2 folds from ") and "seasonal-naive" in returned(result, "text/html")
    assert "cutoff" in shown(cells["cv = result.forecasts"], "text/html")[0]
    scored = shown(cells["""result.score(cv[cv["fold"] == 1]).query("scope == 'overall'")"""], "text/html")[0]
    assert scored.count("<td>overall</td>") == 4, "the model and each baseline, on the last fold"
    for plot in ('model.plot(levels=[80, 95], series=["Q1", "Q2"])', 'result.plot(series=["Q1", "Q2"])'):
        assert len(shown(cells[plot], "image/png")) == 1, plot


def test_what_the_notebook_shows_stays_small(executed, cells):
    for first, cell in cells.items():
        text = [
            {**output, "data": {kind: value for kind, value in output.get("data", {}).items() if kind != "image/png"}}
            for output in cell.outputs
        ]
        assert len(json.dumps(text)) < CELL_TEXT_BYTES, first
        for picture in shown(cell, "image/png"):
            assert len(picture) < PICTURE_BYTES, first
    assert len(nbformat.writes(executed[0])) < NOTEBOOK_BYTES
