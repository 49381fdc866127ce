"""The one progress bar of a fit or a backtest: drawn where someone watches it (a terminal, or a Jupyter notebook)
and nobody said ``progress=False``, in the process the user runs, fed by every training of the run.

Whether it is drawn is decided in that process, before any worker is forked
(:func:`drawn`). Trainings tell their optimiser steps as :class:`Steps`
(:func:`told`): in that process straight to the bar, in a member's worker
through the worker's pipe to the fit (forecaster.training.members), which
hands them to the bar (:func:`shown`). A worker writes nothing itself: in a
notebook, the kernel copies what its children write to standard error both
into the cell and onto its own terminal, a line per redraw.

The bar is one line, tqdm's: in a terminal redrawn in place and cleared when
done; in a notebook one output that IPython updates in place (a display
update, not a stream of redraws), left at its end to say how long the run
took.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tqdm import tqdm

_wanted: ContextVar[bool] = ContextVar("progress", default=True)
#: the run's bar while a fit or a backtest runs and draws one
_bar: ContextVar[Bar | None] = ContextVar("bar", default=None)
#: in a member's worker: where its trainings' steps go (the pipe to the fit); None in the fit's own process
_sender: Callable[[Steps], None] | None = None
#: the notebook's line is this many characters wide: a bar of some length, not tqdm's 10 for a file of no width
NOTEBOOK_COLUMNS = 100
#: the line is redrawn at most this often (seconds), however many trainings tell their steps: tqdm's own pace
REDRAWN_EVERY = 0.1


@contextlib.contextmanager
def wanted(shown: bool) -> Iterator[None]:
    """Within: bars drawn only if ``shown`` (the Python API's ``progress=``)."""
    token = _wanted.set(shown)
    try:
        yield
    finally:
        _wanted.reset(token)


def drawn() -> bool:
    """Whether training here draws its bar: wanted, and standard error is a terminal or a notebook's."""
    return _wanted.get() and (sys.stderr.isatty() or in_notebook())


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython in a terminal has a terminal's standard error)."""
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


@dataclass(frozen=True)
class Steps:
    """A training's progress since it last told it: optimiser steps added to its plan, and steps taken."""

    planned: int = 0
    taken: int = 0


def told(steps: Steps) -> None:
    """A training's steps: from a worker to the fit's process, else to the run's bar."""
    if _sender is not None:
        _sender(steps)
    else:
        shown(steps)


def shown(steps: Steps) -> None:
    """``steps`` drawn on the run's bar, if it draws one."""
    bar = _bar.get()
    if bar is not None:
        bar.add(steps)


def send_to(sender: Callable[[Steps], None]) -> None:
    """In a member's worker: its trainings' steps go to ``sender``, the fit's process, rather than to a bar here."""
    global _sender
    _sender = sender


@contextlib.contextmanager
def one_bar() -> Iterator[None]:
    """Within: every training feeds one bar, drawn at the first steps told, if :func:`drawn`; closed on the way out.
    Nested (a backtest's fits), the outer one's."""
    if _bar.get() is not None or not drawn():
        yield
        return
    bar = Bar()
    token = _bar.set(bar)
    try:
        yield
    finally:
        _bar.reset(token)
        bar.close()


def stage(words: str) -> None:
    """What the run's bar says it is doing (``fold 2 of 3``), if it draws one."""
    bar = _bar.get()
    if bar is not None:
        bar.words = words


class Bar:
    """The run's line: tqdm's, over every optimiser step planned so far (a training's when it starts, so the total
    grows as the run goes on; those early stopping skips count as done)."""

    def __init__(self) -> None:
        self.words = "training"
        self._line: tqdm | None = None  #: made at the first steps: a run refused before it trains draws nothing

    def add(self, steps: Steps) -> None:
        if self._line is None:
            self._line = _line(self.words, steps.planned)
        elif steps.planned:  # a training starts: a few times a run
            self._line.set_description_str(self.words, refresh=False)
            self._line.total += steps.planned
            self._line.refresh()
        if steps.taken:
            self._line.update(steps.taken)

    def close(self) -> None:
        if self._line is not None:
            self._line.close()


def _line(words: str, total: int) -> tqdm:
    from tqdm import tqdm

    # redrawn by the clock alone (miniters=1), not after as many steps as it last took to pass REDRAWN_EVERY: steps come
    # in bursts from several processes
    options: dict[str, Any] = {
        "desc": words,
        "total": total,
        "unit": " steps",
        "mininterval": REDRAWN_EVERY,
        "miniters": 1,
    }
    if in_notebook():
        return tqdm(**options, file=_CellLine(), leave=True, ncols=NOTEBOOK_COLUMNS)
    return tqdm(**options, file=sys.stderr, leave=False, dynamic_ncols=True)


class _CellLine:
    """tqdm's file in a notebook: the line it last drew, shown as one output of the cell, updated in place."""

    encoding = "utf-8"  #: so tqdm draws its bar in blocks, not in #

    def __init__(self) -> None:
        from IPython.display import display

        self.text = self.shown = ""
        self.output = display({"text/plain": ""}, raw=True, display_id=True)

    def write(self, text: str) -> None:
        lines = [line.rstrip() for line in re.split(r"[\r\n]", text) if line.strip()]
        if lines:
            self.text = lines[-1]

    def flush(self) -> None:
        if self.text != self.shown and self.output is not None:
            self.output.update({"text/plain": self.text}, raw=True)
            self.shown = self.text
