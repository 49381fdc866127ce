"""Retention: after a success, delete the older dated files a template wrote, and nothing else.

A file is a candidate only when its whole path is one the job's own template
gives for some date (its name, stem and literal text as they are, the date
in the template's format and a real date), so a look-alike, another job's
file or anything written by hand beside them is never touched. The date is
read from the name, not from the file's times, which copies and backups
change.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from pathlib import Path

from forecaster.batch.templates import Template
from forecaster.errors import BadInput
from forecaster.options import parse_duration
from forecaster.runtime.files import remove_empty_directory, remove_file


@dataclass(frozen=True)
class Keep:
    """Which dated files to keep: the newest ``count``, or those dated within ``age`` of the run."""

    count: int | None = None
    age: datetime.timedelta | None = None

    @classmethod
    def parse(cls, value: int | str, where: str) -> Keep:
        """``keep = 14`` (files) or ``keep = "30d"`` (a duration)."""
        if isinstance(value, int):
            if value < 1:
                raise BadInput(
                    f"{where} must be at least 1 (the newest files kept), or a duration such as 30d, not {value}"
                )
            return cls(count=value)
        return cls(age=parse_duration(value, where))


@dataclass(frozen=True)
class Dated:
    """The files a template gives for every date: ``values`` fills its other placeholders; relative to ``base``."""

    template: Template
    base: Path
    values: dict = field(default_factory=dict)
    numbered: bool = False  #: also name.1.json, name.2.json...: summaries are never replaced

    def files(self) -> list[tuple[datetime.datetime, Path]]:
        """Every existing regular file this template wrote, with the date its name holds."""
        root, patterns = self._layout()
        found: list[tuple[datetime.datetime, Path]] = []
        _walk(root, patterns, [], found)
        return found

    def root(self) -> Path:
        """The directory above the first level the date names: nothing outside it is looked at."""
        return self._layout()[0]

    def _layout(self) -> tuple[Path, list]:
        levels = self.template.components()
        first = next(number for number, level in enumerate(levels) if level.uses("date"))
        root = (
            self.base
            / Path("/".join(level.fill(datetime.datetime.min, **self.values) for level in levels[:first])).expanduser()
        )
        return root, [
            level.dated(self.numbered and number == len(levels) - 1, **self.values)
            for number, level in enumerate(levels[first:], first)
        ]


def prune(keep: Keep, dated: Dated, start: datetime.datetime, current: Path) -> list[Path]:
    """Delete what ``keep`` does not keep of ``dated``'s files, never ``current``; returns the paths deleted.

    Directories the template names by date are removed once empty.
    """
    files = sorted(dated.files(), key=lambda item: (item[0], item[1].lstat().st_mtime_ns, item[1]), reverse=True)
    # newest first: by the date in the name, then (summaries of one day) by modification time
    if keep.count is not None:
        doomed = [path for _, path in files[keep.count :]]
    elif keep.age is not None:
        cutoff = start.replace(tzinfo=None) - keep.age
        doomed = [path for date, path in files if _local(date, start) < cutoff]
    root = dated.root()
    deleted = []
    for path in doomed:
        if path == current:
            continue
        remove_file(path)
        deleted.append(path)
        for directory in path.parents:
            if directory == root or not remove_empty_directory(directory):
                break
    return deleted


def _walk(directory: Path, patterns: list, dates: list, found: list) -> None:
    try:
        entries = list(os.scandir(directory))
    except OSError:  # absent or unreadable: nothing of ours to delete there
        return
    pattern, rest = patterns[0], patterns[1:]
    for entry in entries:
        matched = pattern.dates_in(entry.name)
        if matched is None:
            continue
        if rest:
            if entry.is_dir(follow_symlinks=False):
                _walk(Path(entry.path), rest, dates + matched, found)
        elif entry.is_file(follow_symlinks=False):
            date = _read_date(dates + matched)
            if date is not None:
                found.append((date, Path(entry.path)))


def _read_date(dates: list[tuple[str, str]]) -> datetime.datetime | None:
    """The date of the most detailed format among those a path holds; None for text of the right shape that is no
    date."""
    form, text = max(dates, key=lambda pair: len(pair[0]))
    try:
        return datetime.datetime.strptime(text, form)
    except ValueError:
        return None


def _local(date: datetime.datetime, start: datetime.datetime) -> datetime.datetime:
    """A date from a name, as the run's local wall-clock time (%z gives an aware one)."""
    return date.astimezone(start.tzinfo).replace(tzinfo=None) if date.tzinfo else date
