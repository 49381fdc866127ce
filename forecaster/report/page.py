"""The report's page: one HTML file holding everything it needs, its style, its script and its data.

The summary and the exceptions are HTML made here, readable without
JavaScript and in print; the table of every series is made in the browser
by the page's own script (``page.js``) from data embedded as JSON, a page of
rows at a time, each row's drawing (SVG) made when it is shown, so that
50,000 series stay a file a browser opens in seconds (bench/report.md).

Nothing reaches the page as markup but what is made here: text is escaped
(:func:`text`), and the embedded JSON escapes ``<``, ``>``, ``&`` and the
line separators U+2028 and U+2029, so that no name can close its script
element. A Content-Security-Policy lets the page run its own script alone,
by its SHA-256 hash, and load nothing: no server, no network, no other file.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from forecaster import __version__

#: the lines a drawing may hold: the data's code -> (its CSS class's suffix, what it is in words)
LINES = {
    "h": ("history", "history"),
    "a": ("history", "actual values"),
    "f": ("forecast", "forecast"),
    "p": ("previous", "last run's forecast"),
    "n": ("naive", "naive forecast"),
    "s": ("seasonal-naive", "seasonal naive forecast"),
    "d": ("drift", "drift forecast"),
}
#: the significant digits a drawing's values keep: a drawing 80 pixels high shows no more
DRAWN_DIGITS = 4


class Html(str):
    """Text that is markup already: :func:`element` puts it in as it is, and escapes any other text."""


def text(value: object) -> Html:
    """``value`` as text in HTML: ``<``, ``>``, ``&`` and quotes escaped."""
    return Html(html.escape(str(value), quote=True))


def element(name: str, *children: object, **attributes: object) -> Html:
    """``<name attributes>children</name>``; attributes named with ``_`` for ``-`` (``aria_sort``), ``class_`` for
    ``class``; a False or None attribute left out, True written bare."""
    said = "".join(
        f" {key.rstrip('_').replace('_', '-')}" + ("" if value is True else f'="{text(value)}"')
        for key, value in attributes.items()
        if value is not None and value is not False
    )
    inside = "".join(child if isinstance(child, Html) else text(child) for child in children)
    return Html(f"<{name}{said}>{inside}</{name}>")


def joined(parts: Iterable[object]) -> Html:
    return Html("".join(part if isinstance(part, Html) else text(part) for part in parts))


@dataclass(frozen=True)
class Column:
    """A column of the series' table: sorted by its rows' values, shown as their texts."""

    label: str
    numeric: bool = True
    first: str = "descending"  #: the direction of a first click on its header
    up: str = "lowest first"  #: an ascending sort, in words
    down: str = "highest first"
    help: str = ""  #: what it holds, said under the table

    def to_json(self) -> dict:
        return {"label": self.label, "numeric": self.numeric, "first": self.first, "up": self.up, "down": self.down}


#: the column of series (or jobs) names
def name_column(label: str = "Series") -> Column:
    return Column(label, numeric=False, first="ascending", up="A to Z", down="Z to A")


@dataclass
class Panel:
    """One drawing's panel: lines and interval bands on a time axis of ``points`` steps, labelled at its first time,
    its forecast origin and its last time (``labels``); the forecast starts at step ``origin``."""

    labels: tuple[str, str, str]
    origin: int
    points: int
    lines: list[tuple[str, int, list[float | None]]] = field(default_factory=list)  #: (LINES code, first step, values)
    bands: list[tuple[int, int, list[float | None], list[float | None]]] = field(default_factory=list)
    caption: str = ""

    def to_json(self) -> dict:
        return {
            "a": list(self.labels),
            "o": self.origin,
            "n": self.points,
            "l": [[code, offset, values] for code, offset, values in self.lines],
            "b": [[level, offset, lower, upper] for level, offset, lower, upper in self.bands],
            "c": self.caption,
        }


@dataclass
class Row:
    values: list[float | str | None]  #: per column, what it sorts by (None: last, either way)
    texts: list[str]  #: per column, what it shows
    panels: list[Panel]

    def number(self, column: int) -> float | None:
        """The value of a numeric column: None where there is none."""
        value = self.values[column]
        return float(value) if isinstance(value, (int, float)) else None


def ranked(rows: Sequence[Row], column: int, beyond: float = -math.inf, descending: bool = True) -> list[int]:
    """The rows whose value of ``column`` is past ``beyond`` (above it, or below it when not ``descending``), the
    farthest first."""
    sign = 1 if descending else -1
    found = [
        (k, value)
        for k, row in enumerate(rows)
        if (value := row.number(column)) is not None and sign * value > sign * beyond
    ]
    return [k for k, _ in sorted(found, key=lambda pair: -sign * pair[1])]


@dataclass
class Page:
    """A report: its title, its HTML sections (made with :func:`element`), and its table of series."""

    title: str
    lead: str  #: one line under the title: what this is a report of
    sections: list[Html]
    columns: list[Column]
    rows: list[Row]
    sort: tuple[int, bool]  #: the column sorted by at first, and whether descending
    header: int = 0  #: the column naming a row (its row header)
    searched: tuple[int, ...] = (0,)  #: the columns the search box looks in
    levels: tuple[float, ...] = ()  #: the interval levels drawn, narrowest first (band 0, 1, 2)
    lines: tuple[str, ...] = ("h", "f")  #: the kinds of line the drawings hold, for the legend
    table_note: str = ""


def drawn(values: Iterable[float] | np.ndarray) -> list[float | None]:
    """Values as a drawing keeps them: DRAWN_DIGITS significant digits, whole numbers without a point, None for
    what is not a finite number. In numpy, a power of ten at a time: a page of 50,000 series draws millions."""
    array = np.asarray(values, dtype=float)
    finite = np.isfinite(array)
    sized = np.where(finite & (array != 0), np.abs(array), 1.0)
    exponent = np.clip(DRAWN_DIGITS - 1 - np.floor(np.log10(sized)), -300, 300)  # within float64's powers of ten
    factor = 10.0 ** np.abs(exponent)  # exact up to 1e22: rounded by multiplying or dividing by it, not by its inverse
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        rounded = np.where(exponent >= 0, np.round(array * factor) / factor, np.round(array / factor) * factor)
    whole = finite & (rounded == np.floor(rounded)) & (np.abs(rounded) < 2**53)
    return [
        None if not ok else int(value) if integral else value
        for value, ok, integral in zip(rounded.tolist(), finite.tolist(), whole.tolist(), strict=True)
    ]


def embedded(data: object) -> str:
    """``data`` as JSON to embed in a script element: no ``<``, ``>`` or ``&`` (which could end the element or start
    a comment in it), nor U+2028 and U+2029, which some readers of JavaScript take for line ends."""
    found = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for character in "<>&\u2028\u2029":
        found = found.replace(character, f"\\u{ord(character):04x}")
    return found


@functools.cache
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _hash(content: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(content.encode("utf-8")).digest()).decode("ascii") + "'"


def policy(script: str, style: str) -> str:
    """The page's Content-Security-Policy: its own script and style, by their hashes, and nothing else at all."""
    return (
        f"default-src 'none'; script-src {_hash(script)}; style-src {_hash(style)}; img-src 'none'; "
        "base-uri 'none'; form-action 'none'"
    )


def render(page: Page) -> str:
    """The page as one self-contained HTML document."""
    script, style = _asset("page.js"), _asset("page.css")
    data = {
        "columns": [column.to_json() for column in page.columns],
        "sort": list(page.sort),
        "header": page.header,
        "searched": list(page.searched),
        "lines": {code: list(LINES[code]) for code in LINES},
        "rows": [[row.values, row.texts, [panel.to_json() for panel in row.panels]] for row in page.rows],
    }
    head = joined(
        [
            Html('<meta charset="utf-8">'),
            Html(f'<meta http-equiv="Content-Security-Policy" content="{text(policy(script, style))}">'),
            Html('<meta name="viewport" content="width=device-width, initial-scale=1">'),
            Html(f'<meta name="generator" content="forecaster {text(__version__)}">'),
            element("title", page.title),
            Html(f"<style>{style}</style>"),
        ]
    )
    body = joined(
        [
            element("a", "Skip to the table of series", href="#series", class_="skip"),
            element("h1", page.title),
            element("p", page.lead, class_="lead"),
            *page.sections,
            _series_section(page),
            Html(f'<script type="application/json" id="report-data">{embedded(data)}</script>'),
            Html(f"<script>{script}</script>"),
        ]
    )
    return f'<!DOCTYPE html>\n<html lang="en">\n<head>{head}</head>\n<body>{body}</body>\n</html>\n'


def _series_section(page: Page) -> Html:
    heads = [
        element(
            "th",
            element("button", column.label, type="button"),
            scope="col",
            class_="number" if column.numeric else None,
            data_column=number,
            aria_sort=("descending" if page.sort[1] else "ascending") if number == page.sort[0] else "none",
        )
        for number, column in enumerate(page.columns)
    ]
    heads.append(element("th", "Drawing", scope="col"))
    helps = [
        element("li", element("strong", column.label), ": ", column.help) for column in page.columns if column.help
    ]
    return element(
        "section",
        element("h2", f"Every series ({len(page.rows):,})", id="series"),
        legend(page.lines, page.levels),
        element(
            "div",
            element("label", "Search series ", for_="series-search"),
            Html('<input id="series-search" type="search" autocomplete="off" aria-controls="series-table">'),
            element("span", id="series-status", role="status", aria_live="polite"),
            id="series-controls",
            class_="controls",
            hidden=True,
        ),
        element(
            "noscript",
            element(
                "p",
                "The table of series is drawn by the page's script: the summary and the exceptions above need none.",
            ),
        ),
        element(
            "div",
            element(
                "table",
                element("caption", "Sortable: the headers are buttons; a drawing a series shown.", class_="skip"),
                element("thead", element("tr", *heads)),
                element("tbody"),
                id="series-table",
            ),
            class_="scrolls",
        ),
        element(
            "nav",
            element("button", "Previous page", type="button", id="page-previous"),
            element("span", id="page-where"),
            element("button", "Next page", type="button", id="page-next"),
            id="series-pager",
            class_="pager",
            aria_label="Pages of the table",
            hidden=True,
        ),
        element("ul", *helps) if helps else Html(""),
        element("p", page.table_note) if page.table_note else Html(""),
        aria_labelledby="series",
    )


def legend(lines: Sequence[str], levels: Sequence[float]) -> Html:
    """What the drawings' lines and bands are: each drawn as the drawings draw it."""
    items = [
        element(
            "li",
            Html(
                f'<svg width="34" height="10" aria-hidden="true"><path class="line line-{LINES[code][0]}" '
                'd="M1 5H33"/></svg>'
            ),
            LINES[code][1],
        )
        for code in lines
    ]
    items += [
        element(
            "li",
            Html(
                f'<svg width="34" height="10" aria-hidden="true"><rect class="band band-{k}" width="34" height="10"/>'
                "</svg>"
            ),
            f"{level:g}% interval",
        )
        for k, level in enumerate(levels)
    ]
    return element("ul", *items, class_="legend", aria_label="What the drawings show")


def facts(pairs: Sequence[tuple[str, object]]) -> Html:
    """A list of named facts: each a term and what it is (text, or markup made with :func:`element`)."""
    return element(
        "dl", *(joined([element("dt", name), element("dd", value)]) for name, value in pairs), class_="facts"
    )


def table(
    heads: Sequence[str], rows: Sequence[Sequence[object]], numeric: Sequence[bool] = (), caption: str = ""
) -> Html:
    """A small table of the summary, readable without the script; ``numeric``: columns aligned as numbers."""
    aligned = list(numeric) + [False] * (len(heads) - len(numeric))
    return element(
        "table",
        element("caption", caption) if caption else Html(""),
        element(
            "thead",
            element(
                "tr",
                *(
                    element("th", head, scope="col", class_="number" if aligned[k] else None)
                    for k, head in enumerate(heads)
                ),
            ),
        ),
        element(
            "tbody",
            *(
                element(
                    "tr",
                    *(
                        element(
                            "th" if k == 0 else "td",
                            cell,
                            scope="row" if k == 0 else None,
                            class_="number" if aligned[k] else None,
                        )
                        for k, cell in enumerate(row)
                    ),
                )
                for row in rows
            ),
        ),
    )


def row_link(index: int, label: str) -> Html:
    """A link to row ``index`` of the table of series, which the page's script shows and draws."""
    return element("a", label, href=f"#row-{index}")


def exceptions(title: str, items: Sequence[Html], empty: str, more: str = "") -> Html:
    """A titled list of exceptions, each linking to its row; ``empty`` when there are none; ``more`` after it."""
    if not items:
        return joined([element("h3", title), element("p", empty, class_="none")])
    return joined(
        [element("h3", title), element("ul", *items, class_="exceptions"), element("p", more) if more else ""]
    )
