"""Imported by the fork server alone (members.PRELOAD), never by a fit: how the workers it forks fail to start.

A fit interrupted while its pool is forking a worker removes the pool's
semaphores on its way out; the half-started worker then fails to unpickle
them and the fork server printed its traceback under the fit's one line
"forecaster: error: interrupted by SIGINT". A worker that cannot start
ends quietly instead: its fit, if still running, reports the broken pool
itself, in one line (exit 1).
"""

from __future__ import annotations

import sys


def _quiet(kind, value, trace) -> None:  # sys.excepthook's shape
    """A worker's start-up failure, unsaid: see the module's docstring."""


sys.excepthook = _quiet
