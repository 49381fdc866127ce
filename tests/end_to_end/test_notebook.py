"""docs/notebook.ipynb run cell by cell in a real Jupyter kernel (nbclient), as a reader runs it: the worked example
never drifts from the package, and training shows one updating bar in a notebook, none when asked not to (issue 22).
"""

from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

NOTEBOOK = ROOT / "docs" / "notebook.ipynb"


@pytest.fixture(scope="module")
def cells() -> dict[str, nbformat.NotebookNode]:
    """The executed notebook's code cells, by their first line; a cell that raises fails the tests."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    # ipykernel shows what its child processes write (their file descriptors) unless it runs under pytest
    client.execute(env={name: value for name, value in os.environ.items() if name != "PYTEST_CURRENT_TEST"})
    return {cell.source.splitlines()[0]: cell for cell in notebook.cells if cell.cell_type == "code"}


def stderr(cell: nbformat.NotebookNode) -> str:
    return "".join(output.text for output in cell.outputs if output.get("name") == "stderr")


def shown(cell: nbformat.NotebookNode, kind: str) -> list[str]:
    return [output.data[kind] for output in cell.outputs if kind in output.get("data", {})]


def test_the_fit_shows_one_updating_bar_and_the_model_reads_in_a_few_lines(cells):
    fit = cells["model = forecaster.fit(tourism, horizon=8)"]
    assert stderr(fit) == "", "nothing from the workers that train the members"
    bar, text = shown(fit, "text/plain")
    assert bar.startswith("training: 100%|") and "\n" not in bar, "one line, updated in place, fed by the workers"
    assert text.startswith("<forecaster.Model: cell lstm, 20 series, QS-JAN steps>") and len(text.splitlines()) == 4


def test_results_render_as_tables_and_figures_inline(cells):
    assert "<table" in shown(cells["model.report"], "text/html")[0]
    assert "model-lo-95" in shown(cells["forecast = model.predict(levels=[80, 95])"], "text/html")[0]
    for plot in ('model.plot(levels=[80, 95], series=["Q1", "Q2", "Q3", "Q4"])', 'result.plot(series=["Q1", "Q2"])'):
        assert len(shown(cells[plot], "image/png")) == 1, plot


def test_a_backtest_with_progress_false_is_silent(cells):
    backtest = cells["result = forecaster.backtest(tourism, horizon=8, folds=2, progress=False)"]
    assert stderr(backtest) == ""
    assert "seasonal-naive" in shown(backtest, "text/html")[0]


def test_the_saved_model_loads_and_forecasts_the_same(cells):
    assert shown(cells['path = Path(tempfile.mkdtemp()) / "tourism"'], "text/plain") == [
        "['model.json', 'weights.safetensors']"
    ]
