"""One batch run at a time: :func:`forecaster.runtime.files.lock` on the jobs file's lock file, never waiting.

One run at a time on each job is the job's model directory's own lock
(:func:`forecaster.model.directory.writing`), which a fit or a save into that
directory takes too.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from forecaster.runtime import files


def run_lock(path: Path) -> contextlib.AbstractContextManager[str]:
    """Hold the run's lock at ``path`` for the ``with`` block; yields what a previous run that died holding it left in
    the file ("" when the last run ended cleanly). :class:`Busy` naming the holder when another run has it."""
    return files.lock(path, busy="another batch run holds the lock ({holder}); not starting a second one")
