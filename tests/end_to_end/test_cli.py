"""`forecaster fit`, `predict` and `cells` end to end: through main() in this process, and the installed command where
the process itself is tested."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import struct
import subprocess
import sys
import termios

import pandas as pd
import pytest

from conftest import DATA, FORECASTER, assert_a_drawn_plot, assert_clean_error, invoke

SMALL = ("--window", 8, "--horizon", 3, "--hidden-size", 4, "--epochs", 8, "--patience", 2, "--seed", 7)


@pytest.fixture(scope="module")
def fitted(recent_stocks, tmp_path_factory):
    """One small real fit shared by the tests that only read its results: in this process, where Lightning is imported
    already (the installed command's own start is tested apart)."""
    out = tmp_path_factory.mktemp("models") / "recent"
    result = invoke("fit", recent_stocks, "--out", out, *SMALL, "--json")
    assert result.returncode == 0, result.stderr
    return out, json.loads(result.stdout), result.stderr


def read_forecast(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text))


def test_tutorial_example_forecasts_day_five(tmp_path):
    """StatQuest's LSTM by hand: after days 1-4, company A goes to 0 and company B to 1."""
    model = tmp_path / "statquest"
    fitted = invoke(
        "fit",
        DATA / "statquest.csv",
        "--cell",
        "lstm",
        "--window",
        4,
        "--horizon",
        1,
        "--hidden-size",
        1,
        "--scaler",
        "none",
        "--seed",
        42,
        "--out",
        model,
    )
    assert fitted.returncode == 0, fitted.stderr
    assert "no validation split" in fitted.stderr
    first_four = tmp_path / "days1-4.csv"
    first_four.write_text("\n".join((DATA / "statquest.csv").read_text().splitlines()[:5]) + "\n")
    predicted = invoke("predict", model, "--csv", first_four, "--horizon", 1)
    assert predicted.returncode == 0, predicted.stderr
    forecast = read_forecast(predicted.stdout)
    assert list(forecast.columns) == ["day", "company_a", "company_b"]
    assert forecast["day"].tolist() == [5]
    assert abs(forecast["company_a"][0] - 0) < 0.05
    assert abs(forecast["company_b"][0] - 1) < 0.05


def test_model_directory_holds_json_and_safetensors_only(fitted):
    out, _, _ = fitted
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "weights.safetensors"]
    metadata = json.loads((out / "model.json").read_text())
    assert metadata["format_version"] == 5 and metadata["forecaster_version"] == "0.4.0"
    assert metadata["cell"] == {"name": "lstm", "distribution": "forecaster", "version": "0.4.0"}
    assert metadata["hyperparameters"]["window"] == 8 and metadata["hyperparameters"]["horizon"] == 3
    assert metadata["series"] == ["AAPL", "GOOG", "IBM", "MSFT"]
    assert metadata["time"] == {
        "column": "date",
        "kind": "datetime",
        "frequency": "B",
        "last": "2013-03-01T00:00:00",
        "origin": "2011-12-19T00:00:00",
    }  # the first row: position 0 of the season
    assert set(metadata["preparations"]) == set(metadata["series"])
    assert {p["reading"] for p in metadata["preparations"].values()} == {"ratio"}  # prices are positive
    assert {"model", "naive", "windows", "series"} <= set(metadata["metrics"])
    header_length = int.from_bytes((out / "weights.safetensors").read_bytes()[:8], "little")
    header = json.loads((out / "weights.safetensors").read_bytes()[8 : 8 + header_length])
    assert "cells.0.wlr1" in header and "heads.0.weight" in header
    assert not list(out.parent.glob(".recent.tmp-*")), "the staging directory was left behind"


def test_preparations_are_fitted_on_training_rows_then_on_every_row_for_the_final_fit(tmp_path):
    """A series with negative values is read in differences; the model saved after the final fit on every window
    carries a scaler fitted on every row, the held-out ones included (they train then), not the first training's."""
    frame = pd.read_csv(DATA / "airline.csv")
    frame["passengers"] -= 300
    csv = tmp_path / "shifted.csv"
    frame.to_csv(csv, index=False)
    result = invoke(
        "fit", csv, "--horizon", 3, "--season", 1, "--hidden-size", 2, "--members", 1, "--epochs", 1,
        "--out", tmp_path / "m", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["final_epochs"] > 0
    saved = json.loads((tmp_path / "m" / "model.json").read_text())["preparations"]["passengers"]
    assert saved["reading"] == "difference" and saved["season"] is None
    assert saved["scaler"]["center"] == pytest.approx(frame["passengers"].mean())
    training_rows = len(frame) - round(0.2 * len(frame))  # one series: a fifth of it validates
    assert saved["scaler"]["center"] != pytest.approx(frame["passengers"][:training_rows].mean())


def test_fit_reports_metrics_against_naive(fitted):
    _, report, stderr = fitted
    assert report["metrics_on"] == "validation"
    assert report["validation_windows"] > 0 and report["train_windows"] > report["validation_windows"]
    for who in ("model", "naive"):
        assert report["metrics"][who]["mae"] > 0 and report["metrics"][who]["rmse"] >= report["metrics"][who]["mae"]
    assert report["epochs_run"] <= 8 and report["best_epoch"] <= report["epochs_run"]
    assert stderr == "", "with --json the summary goes to stdout only"


def test_human_summary_on_stderr_and_the_default_model_directory_is_named_after_the_csv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(
        "fit",
        DATA / "statquest.csv",
        "--window",
        4,
        "--horizon",
        1,
        "--hidden-size",
        2,
        "--epochs",
        5,
        "--members",
        1,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "cell lstm: 5 epochs" in result.stderr
    assert "MAE" in result.stderr and "RMSE" in result.stderr and "naive (last value)" in result.stderr
    assert f"model written to {os.path.join('models', 'statquest')}" in result.stderr
    assert (tmp_path / "models" / "statquest" / "model.json").is_file()


def test_predict_continues_trading_days(fitted):
    out, _, _ = fitted
    result = invoke("predict", out)
    assert result.returncode == 0, result.stderr
    forecast = read_forecast(result.stdout)
    assert list(forecast.columns) == ["date", "AAPL", "GOOG", "IBM", "MSFT"]
    assert forecast["date"].tolist() == ["2013-03-04", "2013-03-05", "2013-03-06"]  # 2013-03-01 was a Friday
    last = pd.read_csv(DATA / "stock.csv").iloc[-1]
    for column in ("AAPL", "GOOG", "IBM", "MSFT"):  # inverse-scaled: in the data's own units
        assert abs(forecast[column][0] / last[column] - 1) < 0.2


def test_predict_beyond_trained_horizon_is_recursive_and_says_so(fitted, tmp_path):
    out, _, _ = fitted
    target = tmp_path / "forecast.csv"
    result = invoke("predict", out, "--horizon", 5, "--out", target)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "recursive" in result.stderr
    forecast = pd.read_csv(target)
    assert len(forecast) == 5
    assert forecast["date"].iloc[-1] == "2013-03-08"
    first_three = read_forecast(invoke("predict", out).stdout)
    pd.testing.assert_frame_equal(forecast.head(3), first_three)


@pytest.mark.parametrize("horizon", [0, -3])
def test_predict_refuses_a_horizon_below_one(fitted, horizon):
    out, _, _ = fitted
    assert_clean_error(invoke("predict", out, "--horizon", horizon), "--horizon")


def test_predict_refuses_a_newer_csv_whose_times_are_of_another_kind(tiny_model, tmp_path):
    """The tutorial's model counts days as integers: a newer file with dates there is refused, not an internal error."""
    newer = tmp_path / "newer.csv"
    newer.write_text("day,company_a,company_b\n2026-01-01,0,1\n2026-01-02,0.5,0.5\n2026-01-03,1,1\n")
    assert_clean_error(
        invoke("predict", tiny_model, "--csv", newer),
        f"{newer}: its times are dates, and the model was fitted on integers",
    )


def test_predict_from_newer_csv_uses_its_last_rows(fitted, recent_stocks, tmp_path):
    out, _, _ = fitted
    frame = pd.read_csv(recent_stocks)
    older = tmp_path / "older.csv"
    frame.head(100).to_csv(older, index=False)
    result = invoke("predict", out, "--csv", older)
    assert result.returncode == 0, result.stderr
    forecast = read_forecast(result.stdout)
    next_day = pd.Timestamp(frame["date"][99]) + pd.offsets.BDay(1)
    assert forecast["date"][0] == next_day.strftime("%Y-%m-%d")
    assert not forecast.equals(read_forecast(invoke("predict", out).stdout))


def test_same_seed_same_model(fitted, recent_stocks, tmp_path):
    out, _, _ = fitted
    again = tmp_path / "again"
    assert invoke("fit", recent_stocks, "--out", again, *SMALL).returncode == 0
    assert (again / "weights.safetensors").read_bytes() == (out / "weights.safetensors").read_bytes()
    other = tmp_path / "other"
    assert invoke("fit", recent_stocks, "--out", other, *SMALL[:-1], 8, "--epochs", 1).returncode == 0
    assert (other / "weights.safetensors").read_bytes() != (out / "weights.safetensors").read_bytes()


def test_torch_lstm_cell_and_accelerator_pass_through(recent_stocks, tmp_path):
    result = invoke(
        "fit",
        recent_stocks,
        "--cell",
        "torch-lstm",
        "--accelerator",
        "cpu",
        "--devices",
        1,
        "--out",
        tmp_path / "m",
        *SMALL,
        "--epochs",  # one: what reaches the trainer is the subject, not what it learns
        1,
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "m" / "model.json").read_text())["cell"]["name"] == "torch-lstm"
    assert invoke("predict", tmp_path / "m").returncode == 0


def test_cells_lists_builtins_with_distribution():
    result = invoke("cells")
    assert result.returncode == 0
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()}
    assert rows["lstm"][1:3] == ["forecaster", "0.4.0"]
    assert rows["torch-lstm"][1:3] == ["forecaster", "0.4.0"]
    listing = json.loads(invoke("cells", "--json").stdout)
    assert {cell["name"] for cell in listing["cells"]} >= {"lstm", "torch-lstm"}
    assert all(cell["description"] for cell in listing["cells"])


def _imported_modules(*args) -> str:
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    result = subprocess.run([str(FORECASTER), *map(str, args)], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_predict_imports_neither_lightning_nor_scikit_learn(fitted):
    out, _, _ = fitted
    imported = _imported_modules("predict", out)
    assert "| torch\n" in imported or " torch" in imported  # it did run the network
    assert "lightning" not in imported
    assert "sklearn" not in imported  # the scalers are stored as numbers, applied without scikit-learn


@pytest.mark.parametrize("args", [("--help",), ("cells",)])
def test_help_and_cells_import_no_torch(args):
    imported = _imported_modules(*args)
    assert " torch" not in imported and "lightning" not in imported and "pandas" not in imported


def _fit_with_stderr(args, stderr) -> int:
    return subprocess.run(
        [str(FORECASTER), *map(str, args)], stdout=subprocess.DEVNULL, stderr=stderr, timeout=300, check=False
    ).returncode


def test_progress_bar_only_on_a_terminal(tmp_path):
    args = ("fit", DATA / "statquest.csv", "--window", 4, "--horizon", 1, "--epochs", 3, "--members", 1)
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a new pty is 0 columns wide
    try:
        assert _fit_with_stderr((*args, "--out", tmp_path / "tty"), terminal) == 0
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
    piped = invoke(*args, "--out", tmp_path / "pipe")  # stderr not a terminal: the same decision in this process
    bar, _ = shown.decode(errors="replace").split("cell lstm: ", 1)  # the summary's first line
    assert bar.startswith("\rtraining: ") and " steps/s]" in bar, "the fit's one bar, redrawn in place"
    assert bar.endswith("\r") and not bar.rstrip("\r").rsplit("\r", 1)[-1].strip(), "and cleared before the summary"
    assert "training: " not in piped.stderr


def test_prediction_intervals_per_level(fitted):
    out, _, _ = fitted
    result = invoke("predict", out, "--level", 80, "--level", 95)
    assert result.returncode == 0, result.stderr
    forecast = read_forecast(result.stdout)
    assert list(forecast.columns[:6]) == [
        "date",
        "AAPL",
        "AAPL_lower_80",
        "AAPL_upper_80",
        "AAPL_lower_95",
        "AAPL_upper_95",
    ]
    for name in ("AAPL", "GOOG", "IBM", "MSFT"):
        assert (forecast[f"{name}_lower_95"] < forecast[f"{name}_lower_80"]).all()
        assert (forecast[f"{name}_lower_80"] < forecast[name]).all() and (
            forecast[name] < forecast[f"{name}_upper_80"]
        ).all()
        assert (forecast[f"{name}_upper_80"] < forecast[f"{name}_upper_95"]).all()
        width = forecast[f"{name}_upper_80"] - forecast[f"{name}_lower_80"]
        assert width.iloc[-1] >= width.iloc[0]  # later steps are no more certain


def test_predict_plot_is_a_real_picture_with_a_colour_per_level(fitted, tmp_path):
    """Each level's band has its own colour, in the bands (right of the first panel) and in the legend (its top
    left)."""
    from matplotlib import image

    from forecaster.plots import band_colours

    out, _, _ = fitted
    plot = tmp_path / "forecast.png"
    assert invoke("predict", out, "--level", 80, "--level", 90, "--plot", plot).returncode == 0
    assert_a_drawn_plot(plot)
    colours = {
        level: tuple(round(255 * channel) for channel in colour[:3]) for level, colour in band_colours([80, 90]).items()
    }
    assert len(set(colours.values())) == 2
    rgb = (image.imread(plot)[..., :3] * 255).round()
    height, width = rgb.shape[:2]
    legend, bands = rgb[: height // 4, : width // 5], rgb[: height // 2, width // 4 : width // 2]
    for level, colour in colours.items():
        for where, region in (("legend", legend), ("bands", bands)):
            assert (abs(region - colour).max(axis=-1) <= 2).sum() >= 20, (
                f"the {level}% colour {colour} is not in the {where}"
            )


@pytest.mark.parametrize(
    "args, code, torn_down",
    [(["cells"], 0, False), (["cells", "--no-such-option"], 2, True)],
)
def test_the_command_skips_the_interpreters_teardown_only_after_success(args, code, torn_down):
    """cli.command leaves a succeeded command at once, its output flushed; a failed one exits as Python does."""
    script = (
        "import atexit, sys\n"
        "atexit.register(print, 'torn down')\n"
        "from forecaster.cli import command\n"
        f"sys.argv = ['forecaster', *{args!r}]\n"
        "command()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == code, result.stderr
    assert ("torn down" in result.stdout) == torn_down
    if code == 0:
        assert any(line.startswith("torch-lstm ") for line in result.stdout.splitlines()), result.stdout
