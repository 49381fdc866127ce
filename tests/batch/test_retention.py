"""Retention deletes a job's own older dated files and never anything else: real files on disk, no training."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest

from forecaster.batch.retention import Dated, Keep, prune
from forecaster.batch.templates import Template

NOW = datetime.datetime(2026, 3, 1, 2, 30, tzinfo=datetime.UTC)
OURS = ["sales-2026-02-26.csv", "sales-2026-02-27.csv", "sales-2026-02-28.csv", "sales-2026-03-01.csv"]
#: look-alikes: wrong shape, not a date, other job, other suffix, temporary files, hidden, in a subdirectory
OTHERS = [
    "sales-2026-02-30.csv",
    "sales-2026-2-27.csv",
    "sales-2026-02-27.csv.bak",
    "sales-2026-02-27.csvx",
    "xsales-2026-02-27.csv",
    "other-2026-02-27.csv",
    "sales-latest.csv",
    ".sales-2026-02-27.csv.tmp-1-x",
    "sales-20260227.csv",
    "sub/sales-2026-02-20.csv",
    "sales-2026-02-25.csv/inside.csv",
]


def populate(root: Path, names: list[str]) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)


def files(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file() or path.is_symlink()}


def dated(text: str, base: Path, numbered: bool = False) -> Dated:
    return Dated(
        Template.parse(text, ("date", "name", "stem"), "test"), base, {"name": "sales", "stem": "sales"}, numbered
    )


@pytest.mark.parametrize(
    "keep, deleted",
    [
        (Keep(count=2), ["sales-2026-02-26.csv", "sales-2026-02-27.csv"]),
        (Keep(count=10), []),
        (
            Keep(age=datetime.timedelta(days=2)),
            ["sales-2026-02-26.csv", "sales-2026-02-27.csv"],
        ),  # before 2026-02-27T02:30
        (
            Keep(age=datetime.timedelta(hours=1)),
            ["sales-2026-02-26.csv", "sales-2026-02-27.csv", "sales-2026-02-28.csv"],
        ),
    ],
)
def test_keep_deletes_the_jobs_older_forecasts_and_nothing_else(tmp_path, keep, deleted):
    out = tmp_path / "out"
    populate(out, OURS + OTHERS)
    (out / "sales-2026-02-24.csv").symlink_to(out / "sales-latest.csv")  # a link is not a file the job wrote
    before = files(out)
    gone = prune(keep, dated("out/{name}-{date}.csv", tmp_path), NOW, out / "sales-2026-03-01.csv")
    assert sorted(path.name for path in gone) == deleted
    assert files(out) == before - set(deleted), "only the job's own older forecasts are gone"
    assert (out / "sales-2026-03-01.csv").exists(), "today's forecast is never deleted, whatever keep says"


def test_dated_directories_are_removed_once_empty_and_the_root_stays(tmp_path):
    populate(
        tmp_path,
        [
            "out/2026-01/sales.csv",
            "out/2026-01/notes.txt",
            "out/2026-02/sales.csv",
            "out/2026-03/sales.csv",
            "out/archive/sales.csv",
        ],
    )
    gone = prune(Keep(count=1), dated("out/{date:%Y-%m}/{name}.csv", tmp_path), NOW, tmp_path / "out/2026-03/sales.csv")
    assert sorted(str(path.relative_to(tmp_path)) for path in gone) == [
        "out/2026-01/sales.csv",
        "out/2026-02/sales.csv",
    ]
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["2026-01", "2026-03", "archive"], (
        "2026-02 emptied and removed; 2026-01 holds someone's notes"
    )
    prune(Keep(count=1), dated("out/{date:%Y-%m}/{name}.csv", tmp_path), NOW, tmp_path / "elsewhere.csv")
    assert (tmp_path / "out").is_dir(), "the directory above the dated ones is never removed"


def test_summaries_of_one_day_are_kept_newest_first_by_their_number(tmp_path):
    runs = tmp_path / "runs"
    names = [
        "summary-2026-02-28.json",
        "summary-2026-03-01.json",
        "summary-2026-03-01.1.json",
        "summary-2026-03-01.2.json",
        "summary-2026-03-01.json.1",
        "summary-2026-03-01.x.json",
    ]
    populate(runs, names)
    for age, name in enumerate(reversed(names[:4])):  # written in this order, a minute apart
        os.utime(runs / name, (NOW.timestamp() - 60 * age,) * 2)
    gone = prune(
        Keep(count=2),
        dated("runs/summary-{date}.json", tmp_path, numbered=True),
        NOW,
        runs / "summary-2026-03-01.2.json",
    )
    assert sorted(path.name for path in gone) == ["summary-2026-02-28.json", "summary-2026-03-01.json"]
    assert files(runs) == {
        "summary-2026-03-01.1.json",
        "summary-2026-03-01.2.json",
        "summary-2026-03-01.json.1",
        "summary-2026-03-01.x.json",
    }


def test_a_glob_jobs_stems_keep_apart(tmp_path):
    """Two inputs a-b.csv and a.csv: a's forecasts do not include a-b's, whose names start alike."""
    populate(tmp_path, ["a-2026-02-01.csv", "a-2026-02-02.csv", "a-b-2026-01-01.csv"])
    history = Dated(Template.parse("{stem}-{date}.csv", ("date", "stem"), "test"), tmp_path, {"stem": "a"})
    assert [path.name for path in prune(Keep(count=1), history, NOW, tmp_path / "a-2026-02-02.csv")] == [
        "a-2026-02-01.csv"
    ]
    assert (tmp_path / "a-b-2026-01-01.csv").exists()
