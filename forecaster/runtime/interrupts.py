"""SIGINT and SIGTERM as an exception, so that every ``finally`` runs on the way out.

Temporary files are removed and previous outputs stay as they were; the
command exits 130 or 143, as a shell reports a process stopped by the signal.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from forecaster.errors import Interrupted

if TYPE_CHECKING:
    from types import FrameType

    #: what signal.signal takes and returns
    Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_stopping = False


def _raise(signum: int, frame: object) -> None:
    """Raise :class:`Interrupted` once.

    Later signals are dropped rather than set to SIG_IGN: one stop is enough,
    and a second must not cut the clean-up short.
    """
    global _stopping
    if not _stopping:
        _stopping = True
        raise Interrupted(signum, f"interrupted by {signal.Signals(signum).name}")


def raise_on_signals() -> dict[int, Handler]:
    """From now on the first SIGINT or SIGTERM raises :class:`Interrupted`; returns the handlers replaced."""
    global _stopping
    _stopping = False
    return {signum: signal.signal(signum, _raise) for signum in SIGNALS}


def ignore_signals() -> None:
    """From now on SIGINT and SIGTERM are ignored: for a process whose work is over and whose exit code is known.

    Its interpreter still takes a second or so to shut down (torch's
    teardown); a signal then, with the default handlers back, would kill it
    by that signal instead of letting it exit 130 or 143 as it was about to.
    """
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


@contextlib.contextmanager
def raising_on_signals() -> Iterator[None]:
    previous = raise_on_signals()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for a few renames that must not be cut in half."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
