"""Bad usage and bad input: one line naming the problem, exit code 2, no traceback, nothing overwritten."""

from __future__ import annotations

import hashlib

import pytest

from conftest import DATA, assert_clean_error, invoke, written_by_another_process


def digest(directory) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(directory.iterdir())}


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_missing_file(tmp_path):
    assert_clean_error(invoke("fit", tmp_path / "nope.csv"), "nope.csv", "no such file")


def test_no_numeric_column(tmp_path):
    path = write(tmp_path, "labels.csv", "date,name\n2020-01-01,a\n2020-01-02,b\n")
    assert_clean_error(invoke("fit", path), "labels.csv", "no numeric column")


def test_too_few_rows_for_window_and_horizon(tmp_path):
    """Five days: a window can be padded, but a horizon of 4 leaves fewer than two values to read."""
    assert_clean_error(
        invoke("fit", DATA / "statquest.csv", "--window", 4, "--horizon", 4, "--out", tmp_path / "m"),
        "statquest.csv",
        "too few rows",
        "--horizon 4",
    )


def test_a_season_longer_than_every_series_is_refused(tmp_path):
    """144 months cannot show a cycle of 500: a model of it would be seasonal in name only (issue 25)."""
    assert_clean_error(
        invoke("fit", DATA / "airline.csv", "--season", 500, "--out", tmp_path / "m"),
        "--season 500 is longer than the longest series (144 values)",
    )
    assert not (tmp_path / "m").exists()
    assert_clean_error(  # a backtest names the whole series' length, not its first fold's
        invoke("backtest", DATA / "airline.csv", "--season", 500, "--folds", 5, "--horizon", 10),
        "--season 500 is longer than the longest series (144 values)",
    )


def test_unknown_cell_lists_the_installed_ones(tmp_path):
    """Refused as bad input (2) before the model directory is taken: not "another forecaster is writing" (75) while
    another process writes it, as when the suite's workers once ran two fits into the same default directory."""
    with written_by_another_process(tmp_path / "m"):
        assert_clean_error(
            invoke("fit", DATA / "statquest.csv", "--cell", "nosuch", "--out", tmp_path / "m"),
            "'nosuch'",
            "--cell",
            "lstm",
            "torch-lstm",
        )


@pytest.mark.parametrize(
    "option, value",
    [
        ("--window", 0),
        ("--horizon", -1),
        ("--hidden-size", 0),
        ("--lr", -0.1),
        ("--lr", 1e308),
        ("--epochs", 0),
        ("--gradient-clip", -1),
        ("--seed", -1),
    ],
)
def test_impossible_option_values(option, value):
    assert_clean_error(invoke("fit", DATA / "statquest.csv", option, value), option)


def test_missing_date_column_option(tmp_path):
    assert_clean_error(
        invoke("fit", DATA / "statquest.csv", "--date-col", "when", "--out", tmp_path / "m"),
        "statquest.csv",
        "'when'",
        "--date-col",
    )


def test_unknown_target(tmp_path):
    assert_clean_error(
        invoke("fit", DATA / "statquest.csv", "--target", "company_c", "--out", tmp_path / "m"),
        "'company_c'",
        "--target",
    )


@pytest.mark.parametrize("option, value", [("--accelerator", "gpu"), ("--devices", "abc")])
def test_devices_that_are_not_there(tmp_path, option, value):
    result = invoke(
        "fit", DATA / "statquest.csv", "--window", 4, "--horizon", 1, option, value, "--out", tmp_path / "m"
    )
    assert_clean_error(result, option)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("make", [lambda tmp: tmp / "missing", lambda tmp: tmp, lambda tmp: DATA])
def test_predict_needs_a_model_directory(make, tmp_path):
    assert_clean_error(invoke("predict", make(tmp_path)), "model directory")


def test_predict_csv_without_the_models_series(tiny_model, tmp_path):
    path = write(tmp_path, "other.csv", "day,company_a\n1,0\n2,1\n3,0\n4,1\n")
    assert_clean_error(invoke("predict", tiny_model, "--csv", path), "other.csv", "'company_b'")


def test_a_positive_series_that_turns_zero_is_refused_naming_it(tiny_model, tmp_path):
    """company_b was positive when fitted: read as ratios to its level, which a last value of 0 leaves without one."""
    path = write(tmp_path, "short.csv", "day,company_a,company_b\n1,0,1\n2,1,0\n")
    assert_clean_error(invoke("predict", tiny_model, "--csv", path), "short.csv", "'company_b'", "fit the model again")


def test_predict_out_must_not_be_a_directory(tiny_model, tmp_path):
    assert_clean_error(invoke("predict", tiny_model, "--out", tmp_path), "--out")


def test_failed_fit_leaves_the_existing_model_untouched(tiny_model, tmp_path):
    before = digest(tiny_model)
    bad = write(tmp_path, "bad.csv", "day,company_a,company_b\n1,0,1\n2,x,0\n")
    assert_clean_error(invoke("fit", bad, "--out", tiny_model), "bad.csv", "line 3", "'company_a'")
    assert digest(tiny_model) == before
    assert sorted(p.name for p in tiny_model.parent.iterdir() if p.name.startswith(".tiny.tmp")) == []


def test_fit_refuses_to_replace_a_directory_that_is_not_a_model(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    result = invoke("fit", DATA / "statquest.csv", "--window", 4, "--horizon", 1, "--epochs", 1, "--out", precious)
    assert_clean_error(result, str(precious), "not a model directory", "(--out)")
    assert (precious / "notes.txt").read_text() == "keep me"


def test_debug_shows_the_traceback(tmp_path):
    result = invoke("--debug", "fit", tmp_path / "nope.csv")
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "no such file" in result.stderr
