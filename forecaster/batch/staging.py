"""A batch job's new files, written beside their targets and put in place together once the whole job has worked.

Each new model, forecast or link is written into a directory of its own
beside its target, named as artifact's temporary files are, so that what a
job killed outright leaves is removed by the next writer of that target
(:func:`forecaster.model.directory.recover`). Until :meth:`Staging.commit`, which
renames them all into place with SIGINT and SIGTERM held back, the previous
model, forecast and link stay as they were: a job that fails at any step,
or is stopped, changes nothing. The model replaced is kept beside the new
one as ``<model>.previous``, and :func:`roll_back` puts it back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from forecaster.errors import BadInput, WriteFailed
from forecaster.model.card import Card
from forecaster.model.directory import install_model, recover, reporting_write_errors, staging_directory
from forecaster.runtime.interrupts import deferred_signals

PREVIOUS_SUFFIX = ".previous"


def previous_model(model: Path) -> Path:
    """Where the model a job replaced is kept."""
    return model.with_name(model.name + PREVIOUS_SUFFIX)


class Staging:
    """Paths to write a job's new files at; :meth:`commit` puts them in place, leaving the ``with`` block removes the
    rest."""

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []  #: (staged, target)
        self._directories: list[Path] = []

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for directory in self._directories:
            shutil.rmtree(directory, ignore_errors=True)

    def model(self, target: Path) -> Path:
        """Where to fit the job's new model, to replace ``target``."""
        return self._place(target, "the model (key 'model')")

    def file(self, target: Path, key: str) -> Path:
        """Where to write the new version of the file ``target`` (named by the job's ``key`` in errors)."""
        if target.is_dir() and not target.is_symlink():
            raise BadInput(f"{target}: is a directory (key {key!r})")
        return self._place(target, f"it (key {key!r})")

    def link(self, target: Path, to: Path) -> None:
        """Make ``target`` a symbolic link to ``to`` (relative, so the directory can move)."""
        os.symlink(os.path.relpath(to, target.parent), self.file(target, "latest"))

    @contextlib.contextmanager
    def named_as_targets(self) -> Iterator[None]:
        """A failure to write a staged file names the file it was to replace, not the temporary place it was written
        at."""
        try:
            yield
        except WriteFailed as exc:
            message = str(exc)
            for staged, target in self._staged:
                message = message.replace(str(staged), str(target))
            raise WriteFailed(message, exc.retryable) from exc

    def commit(self) -> None:
        """Rename everything staged into place; the model replaced becomes ``<model>.previous``."""
        with deferred_signals():
            for staged, target in self._staged:
                if staged.is_dir() and not staged.is_symlink():
                    install_model(staged, target, previous_model(target))
                else:
                    os.replace(staged, target)

    def _place(self, target: Path, what: str) -> Path:
        with reporting_write_errors(target, what):
            target.parent.mkdir(parents=True, exist_ok=True)
            recover(target)  # what an earlier job killed outright left beside it
            directory = staging_directory(target)
        self._directories.append(directory)
        self._staged.append((directory / target.name, target))
        return directory / target.name


def roll_back(model: Path, rehearse: bool = False) -> str:
    """Swap ``model`` with the one it replaced (``rehearse``: check that it could, and change nothing); returns the
    creation time of the model put in place."""
    previous = previous_model(model)
    try:
        created = Card.read(previous).created
    except BadInput as exc:
        raise BadInput(f"{model}: no previous model to roll back to ({exc})") from None
    if not rehearse:
        install_model(previous, model, previous)
    return created.isoformat()
