"""A batch job's new files, written beside their targets and put in place together once the whole job has worked.

Each new model, forecast or link is written into a staging directory of its
own beside its target (:func:`forecaster.runtime.files.staging_directory`),
so that what a job killed outright leaves is removed by the next writer of
that target. Until :meth:`Staging.commit`, which renames them all into place
with SIGINT and SIGTERM held back, the previous model, forecast and link stay
as they were: a job that fails at any step, or is stopped, changes nothing.
The model replaced is kept beside the new one as ``<model>.previous``
(:func:`forecaster.model.directory.install`), and ``--rollback`` puts it back.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from forecaster.errors import WriteFailed
from forecaster.model import directory
from forecaster.runtime import files
from forecaster.runtime.interrupts import deferred_signals


class Staging:
    """Paths to write a job's new files at; :meth:`commit` puts them in place, leaving the ``with`` block removes the
    rest."""

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path, str]] = []  #: (staged, target, the key that named it)
        self._directories = contextlib.ExitStack()

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._directories.close()

    def model(self, target: Path) -> Path:
        """Where to fit the job's new model, to replace ``target``."""
        directory.refuse_unreplaceable(target, "key 'model'")
        return self._place(target, "model", "the model (key 'model')")

    def file(self, target: Path, key: str) -> Path:
        """Where to write the new version of the file ``target`` (named by the job's ``key`` in errors)."""
        files.refuse_foreign(target, f"key {key!r}")
        return self._place(target, key, f"it (key {key!r})")

    def link(self, target: Path, to: Path) -> None:
        """Make ``target`` a symbolic link to ``to`` (relative, so the directory can move)."""
        staged = self.file(target, "latest")
        with self.named_as_targets(), files.reporting_write_errors(staged, "it (key 'latest')"):
            files.make_link(staged, os.path.relpath(to, target.parent))

    @contextlib.contextmanager
    def named_as_targets(self) -> Iterator[None]:
        """A failure to write a staged file names the file it was to replace, not the temporary place it was written
        at."""
        try:
            yield
        except WriteFailed as exc:
            message = str(exc)
            for staged, target, _ in self._staged:
                message = message.replace(str(staged), str(target))
            raise WriteFailed(message, exc.retryable) from exc

    def commit(self) -> None:
        """Rename everything staged into place; the model replaced becomes ``<model>.previous``."""
        for _, target, key in self._staged:  # all checked before any is renamed: a job commits whole or not at all
            if key == "model":
                directory.refuse_unreplaceable(target, "key 'model'")
            else:
                files.refuse_foreign(target, f"key {key!r}")
        with deferred_signals():
            for staged, target, key in self._staged:
                if key == "model":
                    directory.install(staged, target, "key 'model'")
                else:
                    files.move_into_place(staged, target, f"key {key!r}")

    def _place(self, target: Path, key: str, what: str) -> Path:
        with files.reporting_write_errors(target, what):
            files.make_directory(target.parent)
            files.recover(target)  # what an earlier job killed outright left beside it
            staging = self._directories.enter_context(files.staging_directory(target))
        self._staged.append((staging / target.name, target, key))
        return staging / target.name
