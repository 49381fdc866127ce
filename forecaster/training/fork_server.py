"""Imported by the fork server alone (members.PRELOAD), never by a fit: the server ends with its fit, and how the
workers it forks fail to start.

Imported first, before Lightning: multiprocessing's server notices that its
fit has gone only once its imports are done, which took 25 to 80 s on a busy
machine after a fit interrupted as it started (280-400 MB meanwhile). It
ends with the fit instead, whatever ended the fit (processes.end_with_named:
the fit's pid, in the environment the fit started it with).

A fit interrupted while the server is forking a worker closes its pipes
on its way out; the half-started worker then fails to read them (pickle
data cut short, a closed pipe) and the fork server printed its traceback
under the fit's one line "forecaster: error: interrupted by SIGINT". Those
failures, which say that the fit went away, end the worker quietly. Any
other failure to start (a plan that cannot be unpickled, say) is printed as
Python prints it, for the fit's "ended before sending their weights" to be
explained.
"""

from __future__ import annotations

import pickle
import sys

from forecaster.runtime.processes import end_with_named

end_with_named()

#: what a worker meets when the fit that asked for it has gone: its pipes closed
FIT_GONE = (EOFError, BrokenPipeError, ConnectionResetError)


def _fit_went_away(kind: type[BaseException], value: BaseException) -> bool:
    return issubclass(kind, FIT_GONE) or (issubclass(kind, pickle.UnpicklingError) and "truncated" in str(value))


def _quiet_when_the_fit_went_away(kind, value, trace) -> None:  # sys.excepthook's shape
    if not _fit_went_away(kind, value):
        sys.__excepthook__(kind, value, trace)


sys.excepthook = _quiet_when_the_fit_went_away
