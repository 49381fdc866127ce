"""The Python face: fit a path or a DataFrame, predict, save and load, backtest, list cells; errors in Python's
terms."""

from __future__ import annotations

import dataclasses
import functools
import io
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import forecaster
from conftest import DATA, ROOT, invoke

TINY = {"members": 1, "hidden_size": 4, "epochs": 2, "seed": 3}


@pytest.fixture(scope="module")
def airline() -> pd.DataFrame:
    return pd.read_csv(DATA / "airline.csv", parse_dates=["date"]).set_index("date")


@pytest.fixture(scope="module")
def model(airline):
    return forecaster.fit(airline, horizon=6, **TINY)


def test_import_forecaster_loads_neither_pandas_nor_torch():
    code = "import sys, forecaster; print(sorted({'pandas', 'torch', 'lightning'} & set(sys.modules)))"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )


def test_lightning_is_silent_inside_and_after_a_catch_warnings_block():
    """A block restores the filters on exit, those set inside it by a first fit too: Lightning's notes must not come
    back in the fits after it. A fresh process, so that the fit's modules are first imported inside the block; one
    member, trained in this process, where the filters in force are the caller's."""
    code = f"""
import warnings
import forecaster
options = dict(window=4, horizon=1, epochs=2, members=1, hidden_size=2)
with warnings.catch_warnings():
    forecaster.fit({str(DATA / "statquest.csv")!r}, **options)
with warnings.catch_warnings(record=True) as caught:
    forecaster.fit({str(DATA / "statquest.csv")!r}, **options)
forecaster.fit({str(DATA / "statquest.csv")!r}, **options)
print([f"{{w.filename}}: {{w.message}}" for w in caught])
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n", "nothing in the warnings record"
    assert done.stderr == "", "nor on stderr"


def test_a_dataframe_fits_as_its_csv_does(model, airline, tmp_path):
    """A DatetimeIndex is the time axis; the same options on the CSV file give the same model."""
    assert model.series == ("passengers",) and model.horizon == 6 and model.card.time.frequency == "MS"
    assert model.report.metrics_on == "validation" and model.directory is None
    from_csv = forecaster.fit(DATA / "airline.csv", horizon=6, **TINY)
    pd.testing.assert_frame_equal(model.predict(), from_csv.predict())


def test_predict_is_the_command_lines_forecast(model, tmp_path):
    """Saved and loaded, the model forecasts what `forecaster predict` prints, from the end or from newer rows."""
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "model.json").is_file() and model.directory == tmp_path / "m"
    loaded = forecaster.load(tmp_path / "m")
    printed = invoke("predict", tmp_path / "m", "--level", 80)
    assert printed.returncode == 0, printed.stderr
    assert loaded.forecast(levels=[80]).to_csv() == printed.stdout
    frame = loaded.predict(levels=[80])  # the same numbers, indexed by time, the bounds named as Nixtla's tools do
    assert frame.index.name == "date" and list(frame.columns) == ["passengers", "passengers-lo-80", "passengers-hi-80"]
    written = pd.read_csv(io.StringIO(printed.stdout), index_col="date", parse_dates=True)
    np.testing.assert_allclose(frame.to_numpy(), written.to_numpy(), rtol=1e-6)
    recent = pd.read_csv(DATA / "airline.csv").iloc[:-12]
    earlier = loaded.predict(recent=recent)
    assert earlier.index[0] == pd.Timestamp("1960-01-01") and not np.allclose(
        earlier["passengers"], frame["passengers"]
    )


def test_a_saved_model_replaces_the_old_by_renaming_its_directory(model, airline, tmp_path):
    """A reader holding the old model's files open keeps reading the old model, whole, while the new one is saved."""
    target = tmp_path / "m"
    model.save(target)
    old_inode, old_card = target.stat().st_ino, (target / "model.json").read_bytes()
    with open(target / "model.json", "rb") as card, open(target / "weights.safetensors", "rb") as weights:
        old_weights = (target / "weights.safetensors").read_bytes()
        forecaster.fit(airline, horizon=6, **{**TINY, "seed": 4}).save(target)
        assert card.read() == old_card and weights.read() == old_weights  # not rewritten in place
    assert target.stat().st_ino != old_inode  # a new directory took the old one's name
    assert (target / "weights.safetensors").read_bytes() != old_weights
    # the old one kept as m.previous, whole; no leftovers beside them, not even a lock file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "m.previous"]
    assert (target.with_name("m.previous") / "model.json").read_bytes() == old_card


def test_the_final_fit_trains_on_warm_for_a_quarter_of_the_best_steps_but_never_past_explicit_epochs(model, airline):
    assert model.card.training.final_epochs == TINY["epochs"]  # asked for 2: the 100-step floor gives way
    free = forecaster.fit(airline, horizon=6, **{**TINY, "epochs": None, "patience": 2, "members": 1})
    training, batch = free.card.training, free.card.hyperparameters.batch_size
    every_window = len(airline) - 6 - free.card.hyperparameters.window + 1  # one series, long enough to fill each
    best_steps = training.best_epoch * int(np.ceil(training.train_windows / batch))
    assert training.final_epochs == int(np.ceil(max(100, np.ceil(best_steps / 4)) / np.ceil(every_window / batch)))


def test_saving_over_a_directory_that_is_not_a_model_is_refused_naming_it(model, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine\n")
    with pytest.raises(forecaster.BadInput) as refused:
        model.save(tmp_path / "notes")
    assert str(refused.value) == (
        f"{tmp_path / 'notes'}: not a model directory: it holds todo.txt, which forecaster did not write; refusing to "
        "replace it"
    )
    assert (tmp_path / "notes" / "todo.txt").read_text() == "mine\n" and refused.value.exit_code == 2


def test_the_fit_reports_naive_errors_worked_out_by_hand(model, airline):
    """The naive forecast of each validation window (its last input value) and the seasonal naive one (the values a
    year before), scored on the series' last rows."""
    values, horizon, held_out = airline["passengers"].to_numpy(), 6, model.report.validation_windows
    first = len(values) - horizon - held_out + 1  # the validation windows' first targets: the series' last rows
    errors = np.array([values[t : t + horizon] - values[t - 1] for t in range(first, len(values) - horizon + 1)])
    naive = model.report.metrics["naive"]
    assert naive["mae"] == pytest.approx(np.abs(errors).mean()) and naive["rmse"] == pytest.approx(
        np.sqrt((errors**2).mean())
    )
    assert (
        model.report.metrics["series"]["passengers"]["naive"] == naive
    )  # one series: its own scores are the overall ones
    assert model.report.metrics["model"]["mae"] != naive["mae"]
    yearly = np.array(
        [values[t : t + horizon] - values[t - 12 : t - 12 + horizon] for t in range(first, len(values) - 5)]
    )
    seasonal = model.report.metrics["seasonal_naive"]
    assert seasonal["mae"] == pytest.approx(np.abs(yearly).mean()) and seasonal["mae"] < 0.6 * naive["mae"]


def test_a_long_dataframe_with_its_columns_named(airline):
    long = pd.concat(
        [
            airline.reset_index().assign(shop=shop, sales=airline["passengers"].to_numpy() * k)
            for k, shop in ((1, "north"), (3, "south"))
        ]
    )[["shop", "date", "sales"]]
    fitted = forecaster.fit(long, id_col="shop", time_col="date", value_col="sales", horizon=3, **TINY)
    frame = fitted.predict()
    assert list(frame.columns) == ["shop", "date", "model"] and sorted(frame["shop"].unique()) == ["north", "south"]
    south, north = (frame.loc[frame["shop"] == name, "model"].to_numpy() for name in ("south", "north"))
    assert np.all(south > 2 * north)  # each series in its own units


def test_backtest_returns_its_metrics_as_a_dataframe(airline):
    result = forecaster.backtest(airline, folds=1, horizon=3, **TINY)
    metrics = result.metrics
    assert list(metrics.columns) == ["scope", "series", "method", "mae", "rmse", "smape", "mase"]
    assert set(metrics["method"]) == {"model", "naive", "seasonal-naive", "drift"} and result.cell == "lstm"
    naive = metrics.query("scope == 'overall' and method == 'naive'")["mae"].item()
    values = airline["passengers"].to_numpy()
    origin = len(values) - 3 - 3 + 1  # one fold of three origins, the last forecast ending on the last row
    expected = np.mean(
        [abs(values[t + k] - values[t - 1]) for t in range(origin, origin + 3) for k in range(3) if t + k < len(values)]
    )
    assert naive == pytest.approx(expected)
    shown = result._repr_html_()  # a notebook's rendering: the folds, then the metrics as a table
    assert shown.startswith("<p>backtest: 1 folds from") and shown.count("<tr") == 1 + len(metrics)


def test_a_model_shows_itself_in_a_few_lines(model, tmp_path):
    model = dataclasses.replace(model, directory=None)  # as fitted, whatever the other tests did with it
    lines = repr(model).splitlines()
    assert lines[0] == "<forecaster.Model: cell lstm, series 'passengers', MS steps>"
    assert lines[1] == "  horizon 6, season 12, window 24, members 1"
    smape, naive = model.report.metrics["model"]["smape"], model.report.metrics["naive"]["smape"]
    assert lines[2].startswith(f"  validation sMAPE {smape:.4g}% against the naive forecast's {naive:.4g}% (")
    assert lines[3] == "  not saved: model.save(path) writes it"
    model.save(tmp_path / "m")
    assert repr(forecaster.load(tmp_path / "m")).splitlines()[1:] == [*lines[1:3], f"  saved at {tmp_path / 'm'}"]


def test_a_fit_report_is_a_table_in_a_notebook(model):
    frame = model.report.to_frame()
    assert list(frame.columns) == ["series", "method", "mae", "rmse", "smape"]
    assert frame.set_index("method").loc["model", "mae"] == model.report.metrics["series"]["passengers"]["model"]["mae"]
    shown = model.report._repr_html_()
    assert shown.startswith("<p>cell lstm: 2 epochs") and shown.count("<tr") == 1 + 3


def test_plots_are_figures_that_a_notebook_draws_inline(model, airline):
    """No file and no backend chosen: a notebook's own backend draws the Figure returned."""
    import matplotlib
    from matplotlib.figure import Figure

    backend = matplotlib.get_backend()
    figure = model.plot(levels=(80, 95))
    assert isinstance(figure, Figure) and matplotlib.get_backend() == backend
    [axis] = [axis for axis in figure.axes if axis.get_visible()]
    assert axis.get_title() == "passengers"
    history, forecast = (line.get_ydata() for line in axis.get_lines())
    assert len(history) > 6 and list(history) == list(airline["passengers"].to_numpy()[-len(history) :])
    assert len(forecast) == 1 + 6  # from the last value over the horizon
    assert len(axis.collections) == 2  # a band for each level the held-out windows calibrate
    with pytest.raises(forecaster.BadInput, match="series='nope' is not one of the series: passengers"):
        model.plot(series=["nope"])
    with pytest.raises(forecaster.BadInput, match="series= names no series"):
        model.plot(series=[])
    with pytest.raises(forecaster.BadInput, match=r"forecast= takes what model.forecast\(\) returns, not a DataFrame"):
        model.plot(model.predict())  # what a notebook user may try first
    assert len([axis for axis in model.plot(series="passengers").axes if axis.get_visible()]) == 1  # one name
    assert figure._repr_png_().startswith(b"\x89PNG")  # what a notebook draws, whatever its backend
    drawn = forecaster.backtest(airline, folds=2, horizon=3, **TINY).plot()
    assert [line.get_label() for line in drawn.axes[0].get_lines()][:2] == ["actual", "forecast"]


def test_cells_lists_the_installed_ones():
    listed = forecaster.cells()
    assert {"lstm", "torch-lstm"} <= set(listed["name"]) and list(listed.columns) == [
        "name",
        "distribution",
        "version",
        "description",
    ]


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: forecaster.fit(DATA / "airline.csv", horizon=0), ["horizon= must be at least 1"]),
        (lambda: forecaster.fit(DATA / "airline.csv", windw=3), ["unknown option windw=", "window="]),
        (lambda: forecaster.fit(DATA / "airline.csv", fill="guess"), ["fill="]),
        (lambda: forecaster.fit(DATA / "statquest.csv", horizon=4), ["too few rows", "horizon= 4"]),
        (lambda: forecaster.fit([1, 2, 3]), ["a pandas DataFrame"]),
        (lambda: forecaster.fit(DATA / "airline.csv", levels=[80]), ["levels= is not an option of a fit", "predict"]),
        (lambda: forecaster.fit(DATA / "airline.csv", window="8"), ["window= must be an integer, not '8'"]),
        (lambda: forecaster.fit(DATA / "airline.csv", horizon=2.5), ["horizon= must be an integer, not 2.5"]),
        (lambda: forecaster.fit(DATA / "airline.csv", devices=2), ["devices= must be a string, not 2"]),
        (lambda: forecaster.backtest(DATA / "airline.csv", step=0), ["step= must be at least 1, not 0"]),
        (lambda: forecaster.backtest(DATA / "airline.csv", folds=0), ["folds= must be at least 1, not 0"]),
    ],
)
def test_errors_are_exceptions_with_the_exit_code_naming_python_keywords(call, words):
    with pytest.raises(forecaster.BadInput) as raised:
        call()
    assert raised.value.exit_code == 2 and "--" not in str(raised.value)
    for word in words:
        assert word in str(raised.value)


def test_a_models_own_errors_name_python_keywords_too(model):
    with pytest.raises(forecaster.BadInput, match=r"^horizon= must be at least 1"):
        model.predict(horizon=0)


def test_plugin_authors_import_from_one_place():
    from forecaster.testing import check_cell

    assert forecaster.RecurrentCell.__module__ == "forecaster.nn.base"
    assert type(forecaster.hookimpl).__name__ == "HookimplMarker"
    assert callable(check_cell)


def test_the_stub_gives_every_lazy_public_name_from_its_module():
    """__init__.pyi is what a type checker sees of the lazy names: each one, imported from where __init__ finds it."""
    import ast

    stub = ast.parse((ROOT / "forecaster" / "__init__.pyi").read_text()).body
    imported = {alias.name: node.module for node in stub if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert imported == forecaster._PUBLIC


def test_no_module_hides_a_public_name():
    """A submodule named like a public function (forecaster/backtest.py once did) would replace it once imported."""
    import importlib
    import pkgutil
    import types

    for module in pkgutil.walk_packages(forecaster.__path__, "forecaster."):
        importlib.import_module(module.name)
    for name in forecaster.__all__:
        assert not isinstance(getattr(forecaster, name), types.ModuleType), name


def test_the_readmes_python_runs_as_written(tmp_path, monkeypatch):
    """Every line of README's "From Python" block, from a directory holding data/; training cut to one small epoch."""
    (block,) = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    (tmp_path / "data").symlink_to(DATA)
    monkeypatch.chdir(tmp_path)
    small = {"epochs": 1, "members": 1, "hidden_size": 4}
    monkeypatch.setattr(forecaster, "fit", functools.partial(forecaster.fit, **small))
    monkeypatch.setattr(forecaster, "backtest", functools.partial(forecaster.backtest, **small))
    names: dict = {}
    exec(compile(block, "README.md", "exec"), names)
    assert isinstance(names["model"], forecaster.Model) and (tmp_path / "models" / "stock" / "model.json").is_file()
    assert list(names["result"].metrics.columns) == ["scope", "series", "method", "mae", "rmse", "smape", "mase"]
