"""The errors the command line turns into one line on stderr and an exit code.

Code below the CLI raises these instead of printing or exiting, so that every
layer stays usable as a library and the exit codes of docs/design.md live in
one place.
"""

import re
from collections.abc import Collection, Sequence

#: how library messages name an option: by its command-line flag, which :func:`render` renames for other interfaces
OPTION_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z-]*)")
#: command-line flags whose jobs-file key and Python keyword is not simply the flag with _ for -
KEY_OF_FLAG = {"level": "levels", "target": "targets"}
INTERFACES = ("cli", "jobs", "python")


def render(message: str, interface: str, names: Collection[str] = ()) -> str:
    """A library message with its options named as ``interface`` names them.

    Library code names an option by its command-line flag, ``--window``; the
    command line shows that, a jobs file ``key 'window'``, Python the keyword
    ``window=``. Each interface renders every error at its boundary, so a
    message raised deep in a fit reads in the terms its reader typed. Only
    flags whose name is one of the interface's ``names`` are renamed: a
    command the message suggests (``forecaster fit x.csv --out m``) stays as
    it is typed.
    """
    if interface == "cli":
        return message

    def named(flag: re.Match) -> str:
        key = KEY_OF_FLAG.get(flag[1], flag[1].replace("-", "_"))
        if key not in names:
            return flag[0]
        return f"key {key!r}" if interface == "jobs" else f"{key}="

    return OPTION_FLAG.sub(named, message)


#: sysexits' EX_TEMPFAIL: the same work may succeed if tried again later (a lock held, a full disk, a timeout)
RETRY_LATER = 75


class ForecasterError(Exception):
    """The work failed (exit code 1): training diverged, a job failed."""

    exit_code = 1
    retryable = False  #: whether the same work may succeed later, unchanged (a batch's exit code and summary say it)


class Busy(ForecasterError):
    """Another batch run holds the lock (exit code 75, EX_TEMPFAIL: cron may simply try again later)."""

    exit_code = RETRY_LATER
    retryable = True


class RetryLater(ForecasterError):
    """Every job that failed may succeed if the run is tried again (exit code 75): timed out, stopped by the run's time
    limit, crashed, or out of disk space."""

    exit_code = RETRY_LATER
    retryable = True


class FeedLate(ForecasterError):
    """A batch job's input is missing, or its newest row older than the job's ``max_age``: a feed that is usually late
    rather than wrong, so the job may succeed on another run (exit code 75); its ``wait_for_input`` says how long the
    run waits for it first."""

    exit_code = RETRY_LATER
    retryable = True


class Interrupted(BaseException):
    """SIGINT or SIGTERM stopped the work (exit code 128 + the signal: 130 or 143, as shells report it).

    Not an Exception, as KeyboardInterrupt is not: raised by the signal
    handler wherever the main thread happens to be, it must not be swallowed
    by an ``except Exception`` there (a library's fallback around an import,
    a job's "the others go on"), which would leave the work running and the
    signal spent.
    """

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class BadInput(ForecasterError):
    """Bad usage or bad input (exit code 2): the message names the file, row or option."""

    exit_code = 2


class WriteFailed(ForecasterError):
    """An output could not be written: the disk is full, read-only or not ours to write; the old file stays.
    Retryable when the disk or quota was full, which the next run may find freed (exit code 75, as a scheduler's
    retry policy reads it); else exit code 1."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.exit_code = RETRY_LATER if retryable else 1


class TrainingFailed(ForecasterError):
    """Training produced no usable model (exit code 1)."""


class OtherRankDone(ForecasterError):
    """Distributed training ended in a process that is not global rank 0 (exit code 0, nothing printed).

    Rank 0 alone scores, saves and reports the model; the other processes
    that Lightning, torchrun or SLURM started for the same fit leave quietly,
    having written nothing.
    """

    exit_code = 0


class ForecasterWarning(UserWarning):
    """Something the user should know of a result that is still given: Python's warnings say it, pointing at the
    user's call, and the command line as a ``forecaster: warning:`` line in its own words."""


class HorizonWarning(ForecasterWarning):
    """A forecast beyond the horizon the model was trained for: the later steps are forecast from earlier
    forecasts, and their intervals widened by guesswork (sqrt(step)), not calibrated."""


def shown(value: object, most: int = 60) -> str:
    """A value as a message quotes it: its repr, cut short after ``most`` characters (a file may hold any)."""
    text = repr(value)
    return text if len(text) <= most else text[:most] + "..."


def listed(items: Sequence[str], most: int = 5) -> str:
    """The first ``most`` of ``items`` for a note, and how many more there are."""
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")
