"""The jobs file of `forecaster batch`: TOML -> checked, expanded jobs; and whether each job refits.

Everything a user can get wrong in the file is caught here, before the lock
is taken or any data is read, and reported as one :class:`BadInput` line that
names the file, the job and the key: a cron run either starts with a plan
that makes sense or exits 2 having touched nothing.
"""

from __future__ import annotations

import datetime
import difflib
import glob
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path

from forecaster.artifact import load_metadata
from forecaster.compressed import csv_stem
from forecaster.errors import BadInput, ForecasterError
from forecaster.fitting import source_sha256
from forecaster.intervals import check_levels
from forecaster.options import FitOptions

FIT_KEYS = typing.get_type_hints(FitOptions)
#: every key of a [[job]] table, with the type TOML must give it; [defaults] takes all but name
JOB_KEYS: dict[str, object] = {"name": str, "input": str, "model": str, "output": str, "refit": str, "levels": tuple[float, ...], **FIT_KEYS}
REQUIRED_KEYS = ("name", "input", "model", "output")
TOP_KEYS: dict[str, object] = {"summary": str, "lock": str, "defaults": dict, "job": list}
#: the placeholders each path may hold: {date} the run's local date, {name} the job's name, {stem} its input file's name
PLACEHOLDERS = {"input": ("date", "name"), "model": ("date", "name", "stem"), "output": ("date", "name", "stem"), "summary": ("date",)}
TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", dict: "a table", list: "an array"}
REFIT_HELP = "always, never, if-data-changed, or older-than:<N>h / older-than:<N>d"


@dataclass(frozen=True)
class Refit:
    """When a job fits its model again instead of reusing the saved one."""

    policy: str  #: as written in the file
    max_age: datetime.timedelta | None = None  #: older-than's limit

    @classmethod
    def parse(cls, text: str, where: str) -> Refit:
        if text in ("always", "never", "if-data-changed"):
            return cls(text)
        match = re.fullmatch(r"older-than:(\d+)([hd])", text)
        if match and int(match[1]) > 0:
            return cls(text, datetime.timedelta(**{"hours" if match[2] == "h" else "days": int(match[1])}))
        raise BadInput(f"{where}: key 'refit': {text!r} is not a policy; use {REFIT_HELP}")


@dataclass(frozen=True)
class Job:
    name: str
    input: Path
    model: Path
    output: Path
    refit: Refit
    levels: tuple[float, ...]
    options: FitOptions  #: options.horizon is also the forecast's horizon


@dataclass(frozen=True)
class Batch:
    path: Path
    jobs: list[Job]
    summary: Path | None
    lock: Path


@dataclass(frozen=True)
class Decision:
    refit: bool
    reason: str  #: in words, for the log and the summary


def load_jobs(path: Path, today: datetime.date, summary: str | None = None) -> Batch:
    """Read, check and expand the jobs file; relative paths in it are relative to its directory.

    ``summary``, from --summary, replaces the file's and is relative to the working directory.
    """
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{path}: no such jobs file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{path}: not valid TOML: {exc}") from None
    top = _checked(document, TOP_KEYS, f"{path}")
    defaults = _checked(top.get("defaults", {}), {key: kind for key, kind in JOB_KEYS.items() if key != "name"}, f"{path}: [defaults]")
    if "refit" in defaults:
        Refit.parse(defaults["refit"], f"{path}: [defaults]")
    tables = top.get("job", [])
    if not tables or not all(isinstance(table, dict) for table in tables):
        raise BadInput(f"{path}: no jobs: add a [[job]] table for each input")
    base = path.parent
    names: set[str] = set()
    jobs: list[Job] = []
    for number, table in enumerate(tables, 1):
        label = f"{path}: job {table['name']!r}" if isinstance(table.get("name"), str) else f"{path}: job {number}"
        settings = {**defaults, **_checked(table, JOB_KEYS, label)}
        missing = [key for key in REQUIRED_KEYS if not settings.get(key)]
        if missing:
            raise BadInput(f"{label}: {'empty' if missing[0] in settings else 'missing'} key {missing[0]!r}")
        if settings["name"] in names:
            raise BadInput(f"{label}: a second job of this name; job names must be unique")
        names.add(settings["name"])
        jobs += _expand(settings, base, today, label)
    _check_distinct(jobs, path)
    if summary is not None:
        summary = Path(_fill(summary, "summary", "--summary", date=today))
    elif "summary" in top:
        summary = _path(base, _fill(top["summary"], "summary", f"{path}", date=today))
    return Batch(path, jobs, summary,
                 _path(base, top["lock"]) if "lock" in top else path.with_name(path.name + ".lock"))


def _path(base: Path, text: str) -> Path:
    return base / Path(text).expanduser()


def _checked(table: dict, kinds: dict[str, object], where: str) -> dict:
    """``table`` with every value checked against its key's type; unknown keys are errors."""
    if not isinstance(table, dict):
        raise BadInput(f"{where}: must be a table")
    checked = {}
    for key, value in table.items():
        if key not in kinds:
            close = difflib.get_close_matches(key, kinds, n=1)
            raise BadInput(f"{where}: unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else f"; known keys: {', '.join(kinds)}"))
        checked[key] = _convert(value, kinds[key], f"{where}: key {key!r}")
    return checked


def _convert(value: object, kind: object, where: str) -> object:
    if isinstance(kind, types.UnionType):  # "int | None": TOML has no null, so only the other type can be written
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, list):
            raise BadInput(f"{where}: must be an array, not {value!r}")
        return tuple(_convert(item, typing.get_args(kind)[0], where) for item in value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadInput(f"{where}: must be {TYPE_NAMES.get(kind, kind)}, not {value!r}")
    return value


def _expand(settings: dict, base: Path, today: datetime.date, label: str) -> list[Job]:
    """One job per input file: a glob input gives one job per match, named ``name/stem``."""
    name = settings["name"]
    refit = Refit.parse(settings.get("refit", "if-data-changed"), label)
    try:
        options = FitOptions(**{key: value for key, value in settings.items() if key in FIT_KEYS})
        options.check()
    except BadInput as exc:  # its messages name command-line options: name the file's keys instead
        raise BadInput(f"{label}: " + re.sub(r"--([a-z][a-z-]*)", lambda option: f"key {option[1].replace('-', '_')!r}", str(exc))) from None
    try:
        levels = check_levels(settings.get("levels", ()))
    except BadInput as exc:
        raise BadInput(f"{label}: key 'levels': {exc}") from None
    pattern = _path(base, _fill(settings["input"], "input", label, date=today, name=name))
    is_glob = glob.has_magic(str(pattern))
    inputs = sorted(Path(match) for match in glob.glob(str(pattern))) if is_glob else []
    jobs = []
    for source in inputs or [pattern]:  # a glob matching nothing stays one job, which fails saying so
        values = {"date": today, "name": name, "stem": csv_stem(source)}
        jobs.append(Job(name=f"{name}/{values['stem']}" if inputs else name, input=source,
                        model=_path(base, _fill(settings["model"], "model", label, **values)),
                        output=_path(base, _fill(settings["output"], "output", label, **values)),
                        refit=refit, levels=levels, options=options))
    return jobs


def _fill(template: str, key: str, where: str, **values: object) -> str:
    """``template`` with its placeholders filled; {date:%Y%m%d} formats the date as strftime does."""
    allowed = {name: value for name, value in values.items() if name in PLACEHOLDERS[key]}
    try:
        return template.format_map(allowed)
    except KeyError as exc:
        raise BadInput(f"{where}: key {key!r}: unknown placeholder {{{exc.args[0]}}}; it may use "
                       + ", ".join(f"{{{name}}}" for name in PLACEHOLDERS[key])) from None
    except (ValueError, IndexError, AttributeError) as exc:
        raise BadInput(f"{where}: key {key!r}: cannot fill in {template!r} ({exc}); write {{{{ and }}}} for literal braces") from None


def _check_distinct(jobs: list[Job], path: Path) -> None:
    """Two jobs writing one model or one output would overwrite each other's work."""
    for key in ("model", "output"):
        writers: dict[str, str] = {}
        for job in jobs:
            target = os.path.normpath(getattr(job, key))
            if target in writers:
                raise BadInput(f"{path}: jobs {writers[target]!r} and {job.name!r} both write the {key} {target}; "
                               f"give each its own (a glob job needs {{stem}} in its {key} path)")
            writers[target] = job.name


def decide(job: Job, now: datetime.datetime) -> Decision:
    """Whether ``job`` refits its model under its policy, and why; raises when the job cannot run."""
    if job.input.is_dir():
        raise BadInput(f"{job.input}: is a directory, not a CSV file")
    if not job.input.is_file():
        raise BadInput(f"{job.input}: " + ("no file matches this pattern" if glob.has_magic(str(job.input)) else "no such file"))
    if job.refit.policy == "always":
        return Decision(True, "refit is 'always'")
    try:
        metadata = load_metadata(job.model)
    except BadInput as exc:
        if job.refit.policy == "never":
            raise ForecasterError(f"{exc}, and refit is 'never'") from None
        return Decision(True, "no saved model yet" if not job.model.exists() else f"the saved model is unusable ({exc})")
    if job.refit.policy == "never":
        return Decision(False, "refit is 'never'")
    changed = changed_options(metadata, job.options)
    if changed:
        return Decision(True, f"the fit options changed ({changed})")
    if job.refit.max_age is None:
        recorded = (metadata.get("training") or {}).get("source_sha256")
        if recorded is None:
            return Decision(True, "the saved model records no hash of its input")
        if recorded != source_sha256(job.input):
            return Decision(True, "the input changed")
        return Decision(False, "the input is unchanged")
    try:
        created = datetime.datetime.fromisoformat(metadata["created"])
    except (KeyError, TypeError, ValueError):
        return Decision(True, "the saved model has no valid creation time")
    if created.tzinfo is None:
        created = created.replace(tzinfo=datetime.timezone.utc)
    age = now - created
    hours = age.total_seconds() / 3600
    words = f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"
    return Decision(age > job.refit.max_age, f"the model is {words} old ({job.refit.policy})")


def changed_options(metadata: dict, options: FitOptions) -> str:
    """The saved hyper-parameters, series selection and cell that differ from ``options``, as "key old -> new"; "" if none."""
    saved = {**(metadata.get("hyperparameters") or {}), **(metadata.get("selection") or {}), "cell": (metadata.get("cell") or {}).get("name")}
    wanted = {field.name: getattr(options, field.name) for field in fields(options)}
    wanted["targets"] = list(wanted["targets"])  # JSON has lists, not tuples
    return ", ".join(f"{key} {saved[key]!r} -> {wanted[key]!r}" for key in sorted(saved) if key in wanted and saved[key] != wanted[key])
