"""Where a jobs file's templated paths may lead: a job's files stay under the jobs file's folder or a named root.

A template's literal text is the operator's to write, anywhere; what fills
its placeholders is not: a job's name is any string, a glob's file stem is
any file's name, and either, or a symbolic link on the way, could carry a
model or a forecast out of the place the template names. So a job name or
a stem that is absolute, holds a ``..`` component or a NUL is refused
(:func:`check_value`), and a path built from a template with a placeholder
must resolve, symbolic links followed, under the jobs file's folder or one
of the ``roots`` the file names (:func:`confined`). Either refusal is one
:class:`BadInput` naming the job and key, before any job runs.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from forecaster.errors import BadInput, shown


def check_value(value: str, where: str) -> None:
    """A job's name or an input's stem, as it fills a path: refused when empty, absolute, with a ``..`` component
    or a NUL; ``where`` names the job and key."""
    if "\0" in value:
        raise BadInput(f"{where}: {shown(value)} holds a NUL character; a name fills paths, and a path cannot")
    parts = PurePosixPath(value).parts
    if parts in ((), (".",)) or PurePosixPath(value).is_absolute() or ".." in parts:
        raise BadInput(
            f"{where}: {shown(value)} would lead a path it fills out of its folder (empty, absolute or with a '..'); "
            "name the job with plain words"
        )


def roots_of(base: Path, named: tuple[str, ...]) -> tuple[Path, ...]:
    """The folders templated paths may lead into: the jobs file's folder ``base`` and those it names (relative to
    it), symbolic links resolved."""
    return tuple(Path(os.path.realpath(base / Path(root).expanduser())) for root in ("", *named))


def confined(path: Path, roots: tuple[Path, ...], where: str) -> Path:
    """``path``, built from a template with a placeholder, unless it resolves (symbolic links followed) to anywhere
    but strictly below one of ``roots``; ``where`` names the job and key."""
    resolved = Path(os.path.realpath(path))
    if not any(root in resolved.parents for root in roots):
        listed = " or ".join(str(root) for root in roots)
        raise BadInput(
            f"{where}: {path} leads to {resolved}, outside {listed}; a path built from a template stays under the "
            "jobs file's folder, or a folder named in the file's 'roots'"
        )
    return path
