"""Whether training draws a progress bar: where someone watches it (a terminal, or a Jupyter notebook) and nobody
said ``progress=False``.

Decided in the process the user runs, before any worker is forked: a
member's worker writes to the fit's standard error without being a
terminal or a notebook itself (in a notebook, the kernel shows what its
children write there).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from contextvars import ContextVar

_wanted: ContextVar[bool] = ContextVar("progress", default=True)


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
