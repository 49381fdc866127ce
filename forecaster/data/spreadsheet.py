"""CSV text that a spreadsheet opens as data: a text cell it would run as a formula is neutralised.

Excel, LibreOffice Calc and Google Sheets take a cell that starts with
``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which some strip
first) for a formula, and a formula can fetch a URL or start a program
(OWASP, "CSV Injection"). The names in forecaster's CSVs are its users'
series names, ids and column names, any text: each such cell is written with
a single quote before it, as OWASP advises, which a spreadsheet shows and
does not run. Numbers and times are never changed, and names stay as they
are everywhere else: model.json, the Python API's frames, the plots.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

#: what a spreadsheet reads as the start of a formula
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutral(text: str) -> str:
    """``text`` as a cell a spreadsheet does not run: a quote before one that starts like a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def safe_csv(frame: pd.DataFrame, **options: Any) -> str:
    """``frame.to_csv(index=False, **options)``, its column names and the cells of its text columns neutralised."""
    safe = frame.rename(columns=lambda name: neutral(str(name)))
    for position, column in enumerate(safe.columns):
        values = safe.iloc[:, position]
        if values.dtype == object or isinstance(values.dtype, (pd.CategoricalDtype, pd.StringDtype)):
            safe[column] = values.map(lambda cell: neutral(cell) if isinstance(cell, str) else cell).astype(object)
    return safe.to_csv(index=False, **options)
