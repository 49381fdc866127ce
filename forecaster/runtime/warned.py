"""Warnings from numpy, torch or Lightning told to the user in words, once each, without a file path or source line.

Python prints a warning with the file and line that raised it: a fit on
values near 1e300 printed numpy's ``overflow encountered in matmul`` under
this package's path, which tells a user nothing they can act on and looks
like a crash. A command records its warnings instead (:func:`recorded`) and
the command line says each distinct one once, at the end (:func:`said`).
Workers record theirs around each task and send them back with its result
(:func:`replay` raises them again in the fit's process). Warnings meant for
developers (deprecations) are left unsaid. forecaster's own warnings
(:class:`~forecaster.errors.ForecasterWarning`, raised by :func:`warn`) are
said in their own words, without a source.
"""

from __future__ import annotations

import builtins
import contextlib
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from forecaster.errors import ForecasterWarning

#: warnings about the code's future, not about the user's data or run
UNSAID = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
#: what a floating-point warning means, in words
ARITHMETIC = "values too large or too small for floating-point arithmetic"


@dataclass(frozen=True)
class Caution:
    """One warning as plain text: the category's name, where it came from (a library, not a file), the message."""

    category: str
    source: str  #: empty for forecaster's own warnings, which speak for themselves
    message: str

    def words(self) -> str:
        if self.category == "RuntimeWarning" and ("overflow" in self.message or "invalid value" in self.message):
            return f"{self.source}: {self.message} ({ARITHMETIC})"
        return f"{self.source}: {self.message}" if self.source else self.message


def warn(message: str, category: type[ForecasterWarning]) -> None:
    """Warn of ``message``, attributed to the first caller outside forecaster: the line of the user's script or
    notebook cell that asked (Python's filters then show it once per such line), however deep in the package it is
    raised and through whichever door it came."""
    frame, level = sys._getframe(1), 2
    while frame.f_back is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "forecaster":
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def _source(filename: str) -> str:
    """The library a file belongs to: the folder under site-packages, forecaster, or else python; ``<source>``, as
    :func:`replay` names a warning's origin, is that source."""
    if filename.startswith("<") and filename.endswith(">"):
        return filename[1:-1]
    parts = Path(filename).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts and parts.index(marker) + 1 < len(parts):
            return parts[parts.index(marker) + 1].removesuffix(".py")
    return "forecaster" if "forecaster" in parts else "python"


@contextlib.contextmanager
def recorded() -> Iterator[list[Caution]]:
    """Warnings raised inside, kept as :class:`Caution` rather than printed. The filters are left as they are (those a
    module adds while imported here stay), so what they ignore is still ignored."""
    caught: list[Caution] = []
    previous = warnings.showwarning

    def keep(message, category, filename, lineno, file=None, line=None) -> None:  # warnings.showwarning's shape
        if not issubclass(category, UNSAID):
            text = str(message).strip().splitlines()[0] if str(message).strip() else category.__name__
            floating_point = category is RuntimeWarning and " encountered in " in text  # numpy's, wherever it ran
            source = "" if issubclass(category, ForecasterWarning) else _source(filename)
            caught.append(Caution(category.__name__, "numpy" if floating_point else source, text))

    warnings.showwarning = keep
    try:
        yield caught
    finally:
        warnings.showwarning = previous


@contextlib.contextmanager
def taken(kind: type[Warning]) -> Iterator[list[str]]:
    """Warnings of ``kind`` raised inside, every one, kept as their messages for a caller that reports them its own
    way (a batch job, in its notes); any other warning goes where it went before."""
    kept: list[str] = []
    with warnings.catch_warnings():  # restores the filters and showwarning after
        previous = warnings.showwarning
        warnings.simplefilter("always", kind)

        def keep(message, category, filename, lineno, file=None, line=None) -> None:  # warnings.showwarning's shape
            if issubclass(category, kind):
                kept.append(str(message))
            else:
                previous(message, category, filename, lineno, file, line)

        warnings.showwarning = keep
        yield kept


def replay(cautions: list[Caution]) -> None:
    """Raise ``cautions`` (recorded in another process) again here, where this process records them."""
    for caution in cautions:
        category = getattr(builtins, caution.category, UserWarning)
        category = category if isinstance(category, type) and issubclass(category, Warning) else UserWarning
        warnings.warn_explicit(caution.message, category, f"<{caution.source}>", 0, module=caution.source, registry={})


def said(cautions: list[Caution]) -> list[str]:
    """One line per distinct caution, in the order first seen, with how often it came when more than once."""
    counts = Counter(caution.words() for caution in cautions)
    return [f"{words} ({count} times)" if count > 1 else words for words, count in counts.items()]
