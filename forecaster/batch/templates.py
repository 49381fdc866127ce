"""The path templates of a jobs file: ``{date}``, ``{name}`` and ``{stem}``, and nothing more.

``str.format`` alone would also allow attribute access (``{name.__class__}``),
indexing (``{name[0]}``), conversions (``{name!r}``) and any format spec
(``{date:%Q}`` writes a literal ``%Q``). A template is parsed here, once,
and anything but a placeholder its key allows, or a strftime format of the
directives below after ``date``, is an error naming the key. The same parse
tells retention which existing files a template wrote on other dates.
"""

from __future__ import annotations

import datetime
import re
import string
from dataclasses import dataclass

from forecaster.errors import BadInput

#: what a shard's files add before their suffix (jobs.toml.shard-2-of-4.lock), and the text of any shard's
SHARD_TAG = "shard-{}-of-{}"
SHARD_TAG_PATTERN = r"shard-\d+-of-(?P<count>\d+)"  # the count named: a file's shard count

#: the strftime directives ``{date:...}`` may use, with the text each writes (to find older files by name);
#: no %c, %x or %X: their text depends on the locale and may hold a "/"
DIRECTIVES = {
    "Y": r"\d{4}",
    "y": r"\d\d",
    "m": r"\d\d",
    "d": r"\d\d",
    "H": r"\d\d",
    "M": r"\d\d",
    "S": r"\d\d",
    "j": r"\d{3}",
    "U": r"\d\d",
    "W": r"\d\d",
    "V": r"\d\d",
    "G": r"\d{4}",
    "u": r"\d",
    "w": r"\d",
    "a": r"\w+",
    "A": r"\w+",
    "b": r"\w+",
    "B": r"\w+",
    "p": r"\w+",
    "z": r"[+-]\d{4}",
    "%": "%",
}
ISO_DATE = "%Y-%m-%d"  #: what a bare {date} writes


@dataclass(frozen=True)
class Field:
    name: str
    spec: str = ""  #: a strftime format, for date only


@dataclass(frozen=True)
class Template:
    """A path as the jobs file writes it: literal text and placeholders."""

    parts: tuple[str | Field, ...]

    @classmethod
    def parse(cls, text: str, allowed: tuple[str, ...], where: str) -> Template:
        """Check ``text`` against the placeholders ``allowed``; ``where`` (file, job, key) names it in errors."""
        listing = ", ".join(f"{{{name}}}" for name in allowed) or "no placeholders"
        parts: list[str | Field] = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise BadInput(f"{where}: cannot read {text!r} ({exc}); write {{{{ and }}}} for literal braces") from None
        for literal, name, spec, conversion in parsed:
            if literal:
                parts.append(literal)
            if name is None:
                continue
            if name not in allowed:
                what = (
                    "unknown placeholder"
                    if name.isidentifier()
                    else "placeholders take no attribute, index or position:"
                )
                raise BadInput(f"{where}: {what} {{{name}}}; it may use {listing}")
            if conversion is not None or (spec and name != "date"):
                raise BadInput(
                    f"{where}: {{{name}}} takes no {'conversion' if conversion else 'format'}; "
                    "only {date} takes a strftime format"
                )
            if spec and not re.fullmatch(r"(?:[^%{}/]|%[" + "".join(DIRECTIVES) + "])+", spec):
                raise BadInput(
                    f"{where}: {{date:{spec}}} is not a strftime format of %Y, %m, %d, %H, %M, %S, %j, %U, %W, %V, %G, "
                    f"%u, %w, %a, %A, %b, %B, %p, %z or %% (without /: write {{date:%Y}}/{{date:%m}})"
                )
            parts.append(Field(name, spec or ""))
        return cls(tuple(parts))

    def uses(self, name: str) -> bool:
        return any(isinstance(part, Field) and part.name == name for part in self.parts)

    def fill(self, start: datetime.datetime, **values: str) -> str:
        """The path for the run that started at ``start``; ``values`` gives {name} and {stem}."""
        return "".join(
            part if isinstance(part, str) else _date(start, part.spec) if part.name == "date" else values[part.name]
            for part in self.parts
        )

    def tagged(self, tag: str) -> Template:
        """The template with ``.tag`` before the suffix of its file name (summary.json -> summary.shard-1-of-2.json)."""
        head, suffix = self._split_suffix()
        return Template((*head, f".{tag}{suffix}"))

    @property
    def suffix(self) -> str:
        """The file name's suffix when the template writes it literally (".json"); "" otherwise."""
        return self._split_suffix()[1]

    def _split_suffix(self) -> tuple[tuple[str | Field, ...], str]:
        last = self.parts[-1] if self.parts else ""
        if isinstance(last, str) and "." in last.rsplit("/", 1)[-1]:
            tail = last.rsplit("/", 1)[-1]
            hidden = tail.rindex(".") == 0 and (
                "/" in last or len(self.parts) == 1
            )  # ".profile" is a name, not a suffix
            if not hidden:
                suffix = tail[tail.rindex(".") :]
                return (*self.parts[:-1], last[: -len(suffix)]), suffix
        return self.parts, ""

    def components(self) -> list[Template]:
        """The template cut at each "/": one template per directory level and the file name."""
        levels: list[list[str | Field]] = [[]]
        for part in self.parts:
            pieces = part.split("/") if isinstance(part, str) else [part]
            levels[-1].append(pieces[0])
            levels += [[piece] for piece in pieces[1:]]
        return [Template(tuple(part for part in level if part != "")) for level in levels]

    def dated(self, numbered: bool = False, **values: str) -> DatedPattern:
        """The names this one-level template gives on any date, ``values`` filling {name} and {stem}.

        ``numbered``: also the names with ``.N`` before the suffix, as a
        summary that must not replace an earlier one is named.
        """
        parts, suffix = self._split_suffix() if numbered else (self.parts, "")
        pieces, formats = [], []
        for part in parts:
            if isinstance(part, str):
                pieces.append(re.escape(part))
            elif part.name == "date":
                formats.append(part.spec or ISO_DATE)
                pieces.append(f"({_date_pattern(part.spec or ISO_DATE)})")
            else:
                pieces.append(re.escape(values[part.name]))
        if numbered:
            pieces.append(r"(?:\.\d+)?" + re.escape(suffix))
        return DatedPattern(re.compile("".join(pieces)), tuple(formats))


@dataclass(frozen=True)
class DatedPattern:
    """A regular expression for a name as a template writes it, and the strftime format of each date in it."""

    regex: re.Pattern
    formats: tuple[str, ...]

    def dates_in(self, name: str) -> list[tuple[str, str]] | None:
        """(format, text) of each date written in ``name``; None when the template does not give ``name``."""
        match = self.regex.fullmatch(name)
        return None if match is None else list(zip(self.formats, match.groups(), strict=True))


def _date(start: datetime.datetime, spec: str) -> str:
    return start.strftime(spec) if spec else start.date().isoformat()


def _date_pattern(spec: str) -> str:
    return "".join(
        DIRECTIVES[token[1]] if token.startswith("%") else re.escape(token) for token in re.findall(r"%.|[^%]", spec)
    )
