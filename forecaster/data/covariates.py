"""A CSV file's covariate columns -> per-series frames beside the series: what else is known of the past and future.

Three kinds (docs/covariates.md): past-observed columns (known up to a
forecast's origin), future-known columns (known for the horizon too, from
rows beyond a series' last value) and, in a long file, static columns (one
value a series, numeric or a category). Every error names the file, the
column and the line or series, as :mod:`forecaster.data.table` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecaster.data import cells
from forecaster.data.cells import BLANKS
from forecaster.errors import BadInput


@dataclass(frozen=True)
class Covariates:
    """The covariate columns of a table, per series, on its time axis and the future rows after it."""

    #: name -> (times, series) float frame: its index is the table's rows and then any future rows
    columns: dict[str, pd.DataFrame]
    #: name -> series -> its value as the file writes it: a fit decides whether the column is numeric or categorical
    statics: dict[str, pd.Series]

    @classmethod
    def none(cls) -> Covariates:
        return cls({}, {})


def numbers(text: pd.Series, name: str, column: str, lines: np.ndarray) -> pd.Series:
    """A column of cells (numbers, or text: :mod:`forecaster.data.cells`) as float64, blank cells NaN; a cell that is
    not a number is refused naming its line."""
    if cells.is_numbers(text):
        parsed = text
    else:
        parsed, blank = cells.parsed(text)
        bad = parsed.isna().to_numpy() & ~blank.to_numpy()
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            cell = text.iloc[first].strip()
            raise BadInput(f"{name}: line {lines[first]}: {cell!r} in column {column!r} is not a number")
    infinite = np.isinf(parsed.to_numpy(dtype="float64"))
    if infinite.any():
        raise BadInput(f"{name}: line {lines[int(np.flatnonzero(infinite)[0])]}: infinite value in column {column!r}")
    return parsed.astype("float64")


def require_columns(frame: pd.DataFrame, name: str, columns: Sequence[str], kind: str) -> None:
    for column in columns:
        if column not in frame.columns:
            raise BadInput(f"{name}: no column {column!r} (--{kind}); columns are {', '.join(frame.columns)}")


def wide(
    frame: pd.DataFrame, name: str, times: pd.Index, lines: np.ndarray, series: list[str], columns: Sequence[str]
) -> dict[str, pd.DataFrame]:
    """A wide file's covariate columns, each shared by every series: (times, series) frames, rows in time order."""
    found = {}
    for column in columns:
        values = numbers(frame[column], name, column, lines).to_numpy()
        found[column] = pd.DataFrame(np.repeat(values[:, None], len(series), axis=1), index=times, columns=series)
    return found


def long(
    rows: pd.DataFrame, name: str, series: Sequence[str], columns: Sequence[str], statics: Sequence[str]
) -> Covariates:
    """A long file's covariate columns per series. ``rows`` has the columns ``id``, ``time`` and ``line`` and the
    covariates' cells as text, one row per (series, time)."""
    lines = rows["line"].to_numpy()
    frames = {}
    for column in columns:
        parsed = rows.assign(number=numbers(rows[column], name, column, lines).to_numpy())
        frame = parsed.pivot(index="time", columns="id", values="number").sort_index()
        frame.columns.name = None
        frame.index.name = None
        frames[column] = frame.reindex(columns=list(series))
    found = {}
    for column in statics:
        text = rows[column].str.strip()
        given = rows.assign(text=text)[~text.isin(BLANKS)]
        values = {}
        for series_name, group in given.groupby("id", sort=False):
            distinct = pd.unique(group["text"])
            if len(distinct) > 1:
                lines_of = group["line"].to_numpy()
                second = int(np.flatnonzero(group["text"].to_numpy() != distinct[0])[0])
                raise BadInput(
                    f"{name}: static column {column!r} varies within series {series_name!r}: {distinct[0]!r} on line "
                    f"{lines_of[0]}, {distinct[1]!r} on line {lines_of[second]}"
                )
            values[series_name] = distinct[0]
        missing = [each for each in series if each not in values]
        if missing:
            raise BadInput(f"{name}: static column {column!r} has no value for series {missing[0]!r}")
        found[column] = pd.Series({each: str(values[each]) for each in series}, dtype=object)
    return Covariates(frames, found)
