"""A CSV's cells, parsed a chunk of rows at a time and kept compact: a column of numbers (and blanks) as numbers, any
other as categories of its text.

pandas holds a chunk's cells as Python strings only while it parses that
chunk: a long file of a million rows then costs its numbers (8 bytes a cell)
and its few distinct ids and dates, not three million strings (issue 23).
What the file writes is kept where it is read as text: a series' id ("007"
stays "007"), a static covariate, a date, a cell that is not a number.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

#: rows parsed at a time
CHUNK_ROWS = 65_536
#: cells that are no value: a gap
BLANKS = ("", "NaN", "nan", "NA", "null")

#: a column of one chunk: its numbers (blanks NaN), or its text
Part = pd.Series | pd.Categorical


def is_numbers(column: pd.Series) -> bool:
    """Whether a column of :func:`joined` holds numbers (every cell was a number or blank), not text."""
    return pd.api.types.is_numeric_dtype(column.dtype) and not isinstance(column.dtype, pd.CategoricalDtype)


def parsed(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Text cells as numbers (blanks NaN, and NaN too where a cell is not a number), and where they are blank."""
    stripped = text.str.strip()
    blank = stripped.isin(BLANKS)
    return pd.to_numeric(stripped.mask(blank), errors="coerce"), blank


def compact(chunk: pd.DataFrame, as_text: Collection[str]) -> dict[str, Part]:
    """A chunk's columns as numbers where every cell is a number or blank (pandas' parser made most of them numbers
    already), unless named in ``as_text``; else as categories of their text, a blank cell as ""."""
    parts: dict[str, Part] = {}
    for column in chunk.columns:
        cells = chunk[column]
        if cells.dtype.kind in "iuf":
            parts[column] = cells.reset_index(drop=True)
            continue
        text = cells.fillna("").astype(str)  # True and False are no numbers, nor an integer of 2**64 text
        if column not in as_text:
            numbers, blank = parsed(text)  # numbers the parser left as text: " 1.5 ", say
            if not (numbers.isna() & ~blank).any():
                parts[column] = numbers.reset_index(drop=True)
                continue
        parts[column] = pd.Categorical(text.to_numpy(dtype=object))
    return parts


def joined(chunks: Iterable[dict[str, Part]], columns: list[str]) -> pd.DataFrame:
    """The chunks' columns end to end: numbers where every chunk's are; else text, a number of a chunk read as
    numbers written back as text (blank for a blank cell: the spelling of such a number is all that differs)."""
    parts: dict[str, list[Part]] = {column: [] for column in columns}
    for chunk in chunks:
        for column in columns:
            parts[column].append(chunk[column])
    whole: dict[str, pd.Series] = {}
    for column, pieces in parts.items():
        numbers = [piece for piece in pieces if isinstance(piece, pd.Series)]
        if len(numbers) == len(pieces):
            whole[column] = pd.Series(np.concatenate([piece.to_numpy() for piece in numbers]))
        else:
            whole[column] = pd.Series(union_categoricals([_as_text(piece) for piece in pieces], ignore_order=True))
    return pd.DataFrame(whole, columns=columns)


def _as_text(piece: Part) -> pd.Categorical:
    if isinstance(piece, pd.Categorical):
        return piece
    return pd.Categorical(np.where(piece.isna(), "", piece.astype(str)).astype(object))
