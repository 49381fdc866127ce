"""The errors the command line turns into one line on stderr and an exit code.

Code below the CLI raises these instead of printing or exiting, so that every
layer stays usable as a library and the exit codes agreed in DESIGN.md live in
one place.
"""


class ForecasterError(Exception):
    """The work failed (exit code 1): training diverged, a job failed."""

    exit_code = 1


class Busy(ForecasterError):
    """Another batch run holds the lock (exit code 75, EX_TEMPFAIL: cron may simply try again later)."""

    exit_code = 75


class Interrupted(ForecasterError):
    """SIGINT or SIGTERM stopped the work (exit code 128 + the signal: 130 or 143, as shells report it)."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class BadInput(ForecasterError):
    """Bad usage or bad input (exit code 2): the message names the file, row or option."""

    exit_code = 2


class WriteFailed(ForecasterError):
    """An output could not be written (exit code 1): the disk is full, read-only or not ours to write; the old file stays."""


class TrainingFailed(ForecasterError):
    """Training produced no usable model (exit code 1)."""


class OtherRankDone(ForecasterError):
    """Distributed training ended in a process that is not global rank 0 (exit code 0, nothing printed).

    Rank 0 alone scores, saves and reports the model; the other processes
    that Lightning, torchrun or SLURM started for the same fit leave quietly,
    having written nothing.
    """

    exit_code = 0
