"""One batch run at a time, and one run at a time on each job: :func:`forecaster.runtime.files.lock` on the jobs
file's lock file and on the job's model.

A job's lock is the model directory's own (``.<model>.lock``), which a fit or
a save into that directory takes too: while a job writes a model, no other
writer does, whichever door it came in by.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from forecaster.errors import WriteFailed
from forecaster.runtime import files


def run_lock(path: Path) -> contextlib.AbstractContextManager[str]:
    """Hold the run's lock at ``path`` for the ``with`` block; yields what a previous run that died holding it left in
    the file ("" when the last run ended cleanly). :class:`Busy` naming the holder when another run has it."""
    return files.lock(path, busy="another batch run holds the lock ({holder}); not starting a second one")


def job_lock(model: Path) -> contextlib.AbstractContextManager[str]:
    """One run at a time on a job, whatever run it is part of (the whole batch, a shard, a --job run), and no other
    writer of its model meanwhile. :class:`Busy` (retryable) while another holds it."""
    try:
        files.make_directory(model.parent)
    except OSError as exc:
        raise WriteFailed(f"{model.parent}: cannot make the model's directory ({exc.strerror or exc})") from None
    return files.lock(files.lock_file(model), busy="another run or fit is writing this job's model ({holder})")
