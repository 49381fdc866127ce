"""Compressed CSV files: their names; what they hold is tried with every command in test_bad_inputs.py."""

from __future__ import annotations

import gzip

import pytest

from conftest import DATA, invoke
from forecaster.data.compressed import csv_stem


@pytest.mark.parametrize(
    "name, stem",
    [
        ("data.csv.gz", "data"),
        ("data.CSV.ZST", "data"),
        ("data.gz", "data"),
        ("data.csv", "data"),
        ("data", "data"),
        ("v1.2.csv.xz", "v1.2"),
        ("data.tsv.bz2", "data"),
    ],
)
def test_the_stem_drops_the_compression_and_csv_suffixes(name, stem):
    assert csv_stem(name) == stem


def test_fit_names_the_default_model_after_the_uncompressed_stem(tmp_path, monkeypatch):
    (tmp_path / "airline.csv.gz").write_bytes(gzip.compress((DATA / "airline.csv").read_bytes()))
    monkeypatch.chdir(tmp_path)
    result = invoke("fit", "airline.csv.gz", "--window", 8, "--horizon", 2, "--hidden-size", 2, "--epochs", 1)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "models" / "airline" / "model.json").is_file()
