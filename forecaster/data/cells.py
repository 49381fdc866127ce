"""A CSV's cells, parsed a chunk of rows at a time and kept compact: a column of numbers (and blanks) as numbers, any
other as categories of its text.

pandas holds a chunk's cells as Python strings only while it parses that
chunk: a long file of a million rows then costs its numbers (8 bytes a cell)
and its few distinct ids and dates, not three million strings (issue 23).
What the file writes is kept where it is read as text: a series' id ("007"
stays "007"), a static covariate, a date, a cell that is not a number.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

#: rows parsed at a time
CHUNK_ROWS = 65_536
#: cells that are no value: a gap
BLANKS = ("", "NaN", "nan", "NA", "null")


def is_numbers(column: pd.Series) -> bool:
    """Whether a column of :func:`joined` holds numbers (every cell was a number or blank), not text."""
    return is_numeric_kind(column.dtype)


def parsed(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Text cells as numbers (blanks NaN, and NaN too where a cell is not a number), and where they are blank."""
    stripped = text.str.strip()
    blank = stripped.isin(BLANKS)
    return pd.to_numeric(stripped.mask(blank), errors="coerce"), blank


def compact(chunk: pd.DataFrame, as_text: Collection[str]) -> pd.DataFrame:
    """A chunk's columns as numbers where every cell is a number or blank (pandas' parser made most of them numbers
    already), unless named in ``as_text``; else as categories of their text, a blank cell as "".

    The columns pandas parsed as numbers are kept together, as one block: a wide file's tens of thousands of series
    cost one selection, not a Series each."""
    parsed_as_numbers = chunk.dtypes.map(is_numeric_kind).to_numpy(dtype=bool)
    parts: dict[str, pd.Series] = {}
    for column in chunk.columns[~parsed_as_numbers]:  # the few: times, ids, names, numbers written oddly
        text = chunk[column].fillna("").astype(str)  # True and False are no numbers, nor an integer of 2**64 text
        if column not in as_text:
            numbers, blank = parsed(text)  # numbers the parser left as text: " 1.5 ", say
            if not (numbers.isna() & ~blank).any():
                parts[column] = numbers
                continue
        parts[column] = pd.Series(pd.Categorical(text.to_numpy(dtype=object)), index=text.index)
    whole = pd.concat([chunk.loc[:, parsed_as_numbers], pd.DataFrame(parts, index=chunk.index)], axis=1)
    return whole[chunk.columns].reset_index(drop=True)


def joined(chunks: Sequence[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """The chunks' columns end to end: numbers where every chunk's are; else text, a number of a chunk read as
    numbers written back as text (blank for a blank cell: the spelling of such a number is all that differs)."""
    if len(chunks) == 1:
        return chunks[0]
    numeric = np.logical_and.reduce([chunk.dtypes.map(is_numeric_kind).to_numpy(dtype=bool) for chunk in chunks])
    numbers = pd.concat([chunk.loc[:, numeric] for chunk in chunks], ignore_index=True)
    text = {
        column: pd.Series(union_categoricals([_as_text(chunk[column]) for chunk in chunks], ignore_order=True))
        for column in pd.Index(columns)[~numeric]
    }
    return pd.concat([numbers, pd.DataFrame(text, index=numbers.index)], axis=1)[columns]


def is_numeric_kind(dtype: object) -> bool:
    """Whether a column of this dtype holds numbers (integers or floats), not text categories nor booleans."""
    return getattr(dtype, "kind", "O") in "iuf"


def _as_text(piece: pd.Series) -> pd.Categorical:
    if isinstance(piece.dtype, pd.CategoricalDtype):
        return pd.Categorical(piece)
    return pd.Categorical(np.where(piece.isna(), "", piece.astype(str)).astype(object))
