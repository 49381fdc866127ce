"""The jobs file of `forecaster batch`: TOML -> checked, expanded jobs; and whether each job refits.

What the file says is read here, whatever the command line then chooses of
it (--job, shards, overrides: :mod:`forecaster.batch.selection`).

Everything a user can get wrong in the file is caught here, before the lock
is taken or any data is read, and reported as one :class:`BadInput` line that
names the file, the job and the key: a cron run either starts with a plan
that makes sense or exits 2 having touched nothing.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import glob
import os
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from forecaster.batch.paths import check_value, confined, roots_of
from forecaster.batch.retention import Dated, Keep
from forecaster.batch.templates import Template
from forecaster.data import header, limits
from forecaster.data.compressed import csv_stem
from forecaster.data.limits import Limits
from forecaster.errors import BadInput, FeedLate, ForecasterError, render
from forecaster.model.card import RUN_OPTIONS, Card
from forecaster.model.directory import read_card
from forecaster.model.intervals import check_levels
from forecaster.model.jsonread import nesting
from forecaster.options import ALIASES, DEFAULT_FOLDS, OPTION_TYPES, FitOptions, parse_duration, typed
from forecaster.runtime.files import open_regular, refuse_foreign
from forecaster.training.pipeline import source_sha256

FIT_KEYS = OPTION_TYPES
#: a jobs file's most bytes: thousands of jobs take a few hundred kilobytes
MAX_BYTES = 4 * 2**20
#: the deepest a jobs file nests (arrays, tables, the parts of a dotted key); one forecaster reads nests 4 deep
MAX_DEPTH = 16
#: what the depth count skips: TOML's strings (multi-line first) and comments
TOML_SKIPPED = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*')
#: a dotted key's parts, each bare or a string (once strings are replaced by a letter): no value but a key has two
#: dots between such parts (a number has one, a date or time none)
DOTTED_KEY = re.compile(r"[\w-]+(?:[ \t]*\.[ \t]*[\w-]+){2,}")
#: a batch job is one process the runner times out and kills whole, sharing the machine with the run's other jobs and
#: whatever else runs: its fit trains its members one after another on one thread (unless its `threads` key says
#: more) and one device, never on several processes as `forecaster fit` may (docs/scaling.md)
ONE_PROCESS = {"threads": 1, "devices": "1"}
#: every key of a [[job]] table, with the type TOML must give it; [defaults] takes all but name
JOB_KEYS: dict[str, object] = {
    "name": str,
    "input": str,
    "model": str,
    "output": str,
    "latest": str,
    "refit": str,
    "levels": tuple[float, ...],
    "allow_shrink": bool,
    "max_age": str,
    "wait_for_input": str,
    "timeout": str,
    "keep": int | str,
    "limits": dict,
    "backtest": str,
    "folds": int,
    "step": int,
    **FIT_KEYS,
}
#: the keys of a job, and the other names of options: what an error may name as ``key 'window'``
KEYS = {*JOB_KEYS, *ALIASES}
REQUIRED_KEYS = ("name", "input", "model", "output")
TOP_KEYS: dict[str, object] = {
    "roots": tuple[str, ...],
    "summary": str,
    "lock": str,
    "keep": int | str,
    "time_limit": str,
    "project": str,
    "report": str,
    "defaults": dict,
    "job": list,
}
#: the placeholders each path may hold: {date} the run's date, {name} the job's name, {stem} its input file's name
PLACEHOLDERS = {
    "input": ("date", "name"),
    "model": ("date", "name", "stem"),
    "output": ("date", "name", "stem"),
    "latest": ("name", "stem"),
    "backtest": ("date", "name", "stem"),
    "summary": ("date",),
    "report": ("date",),
}
REFIT_HELP = "always, never, if-data-changed, or older-than:<duration> (90m, 12h, 7d)"


@dataclass(frozen=True)
class Refit:
    """When a job fits its model again instead of reusing the saved one."""

    policy: str  #: as written in the file
    max_age: datetime.timedelta | None = None  #: older-than's limit

    @classmethod
    def parse(cls, text: str, where: str) -> Refit:
        if text in ("always", "never", "if-data-changed"):
            return cls(text)
        if text.startswith("older-than:"):
            return cls(text, parse_duration(text.removeprefix("older-than:"), f"{where}: key 'refit': older-than"))
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
    latest: Path | None = None  #: a link to the newest forecast
    allow_shrink: bool = False  #: refit on fewer rows, or on a series that ends earlier, than the saved model saw
    max_age: datetime.timedelta | None = None  #: a newest row older than this is a stale feed
    #: how long after the run's start a missing or stale input is waited for before the job fails as late
    wait_for_input: datetime.timedelta | None = None
    timeout: datetime.timedelta | None = None
    keep: Keep | None = None  #: which of the forecasts of other dates to keep
    history: Dated | None = None  #: the forecasts of every date, for ``keep``
    limits: Limits = dataclasses.field(default_factory=Limits)  #: the run's limits, with the job's own values
    #: where a refit writes its backtest's forecasts (the cross-validation frame), and the backtest's folds and step
    backtest: Path | None = None
    folds: int = DEFAULT_FOLDS
    step: int | None = None


@dataclass(frozen=True)
class JobsFile:
    """What a jobs file says, read and checked on its own: every job, and the run's settings as the file gives them
    (a run's command line chooses among them: :mod:`forecaster.batch.selection`)."""

    path: Path
    jobs: list[Job]  #: every job of the file, a glob job's one a file
    summary: Template | None  #: relative to the file's folder
    lock: Path
    keep: Keep | None  #: which summaries of other runs to keep
    time_limit: datetime.timedelta | None
    now: datetime.datetime  #: the run's start, which every {date} of the jobs' paths stands for
    project: str | None = None  #: the file's 'project': the identity of its metrics (summary.project_identity)
    #: the run's HTML page (forecaster.report.night), written after its summary; relative to the file's folder
    report: Template | None = None


@dataclass(frozen=True)
class Decision:
    refit: bool
    reason: str  #: in words, for the log and the summary


def _document(path: Path) -> dict:
    """The jobs file's TOML, read within :data:`MAX_BYTES` and, before it is parsed, :data:`MAX_DEPTH` (Python's
    TOML reader recurses into nested arrays and tables, and holds every prefix of a dotted key)."""
    try:
        with open_regular(path) as stream:  # a FIFO named as the jobs file is refused, not waited on
            content = stream.read(MAX_BYTES + 1)
        if len(content) > MAX_BYTES:
            raise BadInput(f"{path}: more than the {MAX_BYTES:,} bytes a jobs file may have")
        text = content.decode("utf-8")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such jobs file") from None
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path}: not UTF-8 text (byte {exc.start + 1})") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot be read ({exc.strerror or exc})") from None
    depth = max(nesting(text, skipped=TOML_SKIPPED), _dotted_depth(text))
    if depth > MAX_DEPTH:
        raise BadInput(
            f"{path}: its arrays, tables or dotted keys nest {depth:,} levels deep, and a jobs file nests at most "
            f"{MAX_DEPTH}"
        )
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{path}: not valid TOML: {exc}") from None


def _dotted_depth(text: str) -> int:
    """The most parts of a dotted key (``a.b.c`` is 3), counted outside strings and comments (a string in a key is
    one part)."""
    keys = TOML_SKIPPED.sub(lambda found: "" if found[0].startswith("#") else "s", text)
    return max((found[0].count(".") + 1 for found in DOTTED_KEY.finditer(keys)), default=0)


def read_jobs(path: Path, now: datetime.datetime) -> JobsFile:
    """Read, check and expand the jobs file, whatever a run's command line will choose of it: a file wrong on its own
    is refused however it is run. Relative paths in it are relative to its directory; ``now`` is the run's start,
    for {date}."""
    path = Path(path).absolute()
    top = _checked(_document(path), TOP_KEYS, f"{path}")
    summary = _template(top, path, "summary")
    return JobsFile(
        path,
        _jobs(top, path, now),
        summary,
        lock=path_in(path.parent, top["lock"]) if "lock" in top else path.with_name(path.name + ".lock"),
        keep=_keep(top, path, summary),
        time_limit=parse_duration(top["time_limit"], f"{path}: key 'time_limit'") if "time_limit" in top else None,
        now=now,
        project=_project(top, path),
        report=_template(top, path, "report"),
    )


def _template(top: dict, path: Path, key: str) -> Template | None:
    """The file's path of the run's own (``summary``, ``report``), checked for its placeholders."""
    return Template.parse(top[key], PLACEHOLDERS[key], f"{path}: key {key!r}") if key in top else None


def _project(top: dict, path: Path) -> str | None:
    """The file's 'project', which names its runs' metrics: a line of printable text."""
    project = top.get("project")
    if project is not None and not (project.strip() and project.isprintable() and len(project) <= 200):
        raise BadInput(f"{path}: key 'project': {project!r} is not a name: one line of printable text, 200 at most")
    return project


def _jobs(top: dict, path: Path, now: datetime.datetime) -> list[Job]:
    """Every job of the file, [defaults] applied and globs expanded, each name given once and no two writing one
    file."""
    defaults = _defaults(top, path)
    tables = top.get("job", [])
    if not tables or not all(isinstance(table, dict) for table in tables):
        raise BadInput(f"{path}: no jobs: add a [[job]] table for each input")
    roots = roots_of(path.parent, top.get("roots", ()))
    names: set[str] = set()
    jobs: list[Job] = []
    for number, table in enumerate(tables, 1):
        label = f"{path}: job {table['name']!r}" if isinstance(table.get("name"), str) else f"{path}: job {number}"
        settings = _settings(defaults, table, label)
        if settings["name"] in names:
            raise BadInput(f"{label}: a second job of this name; job names must be unique")
        names.add(settings["name"])
        jobs += _expand(settings, path.parent, now, label, roots)
    _check_distinct(jobs, path)
    return jobs


def _defaults(top: dict, path: Path) -> dict:
    """The file's [defaults]: every key of a job but its name."""
    defaults = _checked(
        top.get("defaults", {}), {key: kind for key, kind in JOB_KEYS.items() if key != "name"}, f"{path}: [defaults]"
    )
    if "refit" in defaults:
        Refit.parse(defaults["refit"], f"{path}: [defaults]")
    return defaults


def _settings(defaults: dict, table: dict, label: str) -> dict:
    """A [[job]] table's keys over the defaults', the required ones given."""
    settings = {**defaults, **_checked(table, JOB_KEYS, label)}
    missing = [key for key in REQUIRED_KEYS if not settings.get(key)]
    if missing:
        raise BadInput(f"{label}: {'empty' if missing[0] in settings else 'missing'} key {missing[0]!r}")
    return settings


def _keep(top: dict, path: Path, summary: Template | None) -> Keep | None:
    """The file's ``keep``: which of its dated summaries to keep, refused where its summary path has no date."""
    if "keep" not in top:
        return None
    keep = Keep.parse(top["keep"], f"{path}: key 'keep'")
    if not (summary is not None and summary.uses("date")):
        raise BadInput(
            f"{path}: key 'keep': the summary path has no {{date}}, so there are no summaries of other runs to delete"
        )
    return keep


def path_in(base: Path, text: str) -> Path:
    """A path as the jobs file (or the command line) writes it, relative to ``base``, ``~`` expanded."""
    return base / Path(text).expanduser()


def _checked(table: dict, kinds: dict[str, object], where: str) -> dict:
    """``table`` with every value checked against its key's type, aliases (time_col) under their names; unknown keys are
    errors."""
    if not isinstance(table, dict):
        raise BadInput(f"{where}: must be a table")
    checked: dict[str, object] = {}
    written_as: dict[str, str] = {}
    for written, value in table.items():
        key = ALIASES[written] if ALIASES.get(written) in kinds else written
        if key not in kinds:
            close = difflib.get_close_matches(key, [*kinds, *ALIASES], n=1)
            raise BadInput(
                f"{where}: unknown key {key!r}"
                + (f" (did you mean {close[0]!r}?)" if close else f"; known keys: {', '.join(kinds)}")
            )
        if key in checked:
            raise BadInput(f"{where}: keys {written_as[key]!r} and {written!r} name the same option; give one")
        checked[key], written_as[key] = typed(value, kinds[key], f"{where}: key {written!r}:"), written
    return checked


def _expand(settings: dict, base: Path, now: datetime.datetime, label: str, roots: tuple[Path, ...]) -> list[Job]:
    """One job per input file: a glob input gives one job per match, named ``name/stem``; each path it writes that a
    template's placeholders built stays under ``roots``."""
    name = settings["name"]
    check_value(name, f"{label}: key 'name'")
    refit = Refit.parse(settings.get("refit", "if-data-changed"), label)
    try:
        options = FitOptions(**{**ONE_PROCESS, **{key: value for key, value in settings.items() if key in FIT_KEYS}})
        options.check()
        _check_one_process(options)
        levels = check_levels(settings.get("levels", ()))
    except BadInput as exc:  # its messages name command-line options: name the file's keys instead
        raise BadInput(f"{label}: {render(str(exc), 'jobs', KEYS)}") from None
    templates = {
        key: Template.parse(settings[key], PLACEHOLDERS[key], f"{label}: key {key!r}")
        for key in ("input", "model", "output", "latest", "backtest")
        if key in settings
    }
    _check_backtest(settings, label)
    keep = Keep.parse(settings["keep"], f"{label}: key 'keep'") if "keep" in settings else None
    if keep is not None and not templates["output"].uses("date"):
        raise BadInput(
            f"{label}: key 'keep': the output path has no {{date}}, so there are no forecasts of other dates to delete"
        )
    job_limits = Limits.of(settings.get("limits"), f"{label}: key 'limits'", base=limits.current())
    durations = {
        key: parse_duration(settings[key], f"{label}: key {key!r}") if key in settings else None
        for key in ("max_age", "wait_for_input", "timeout")
    }
    pattern = path_in(base, templates["input"].fill(now, name=name))
    is_glob = glob.has_magic(str(pattern))
    inputs = sorted(Path(match) for match in glob.glob(str(pattern))) if is_glob else []
    jobs = []
    for source in inputs or [pattern]:  # a glob matching nothing stays one job, which fails saying so
        values = {"name": name, "stem": csv_stem(source)}
        check_value(values["stem"], f"{label}: key 'input' ({source})")
        paths = {
            key: path_in(base, template.fill(now, **values)) for key, template in templates.items() if key != "input"
        }
        for key, template in templates.items():
            if key != "input" and any(template.uses(placeholder) for placeholder in PLACEHOLDERS[key]):
                confined(paths[key], roots, f"{label}: key {key!r}")
        for key in ("output", "latest", "backtest"):  # a device, FIFO, socket or folder there: the file's mistake
            if key in paths:
                try:
                    refuse_foreign(paths[key], f"key {key!r}")
                except BadInput as exc:
                    raise BadInput(f"{label}: {exc}") from None
        for key in ("latest", "backtest"):
            if paths.get(key) == paths["output"]:
                raise BadInput(f"{label}: key {key!r}: {paths[key]} is the output itself; name another file")
        jobs.append(
            Job(
                name=f"{name}/{values['stem']}" if inputs else name,
                input=source,
                model=paths["model"],
                output=paths["output"],
                refit=refit,
                levels=levels,
                options=options,
                latest=paths.get("latest"),
                allow_shrink=settings.get("allow_shrink", False),
                keep=keep,
                history=Dated(templates["output"], base, values) if keep else None,
                limits=job_limits,
                backtest=paths.get("backtest"),
                folds=settings.get("folds", DEFAULT_FOLDS),
                step=settings.get("step"),
                **durations,
            )
        )
    return jobs


def _check_one_process(options: FitOptions) -> None:
    """A job asking for several devices or nodes is refused when the file is read, by the run and its dry run alike:
    its fit would refuse to start them."""
    for key, value, one in (("devices", options.devices, "1"), ("num_nodes", options.num_nodes, 1)):
        if value != one:
            raise BadInput(
                f"key {key!r} is {value!r}: a batch job trains in one process, on one device; leave it out "
                "(run `forecaster fit` for a fit on several)"
            )


def _check_backtest(settings: dict, label: str) -> None:
    """A job's backtest keys: folds and step count rows of origins, and belong to a job that backtests."""
    for key in ("folds", "step"):
        if key in settings and "backtest" not in settings:
            raise BadInput(f"{label}: key {key!r} sets the backtest's origins: give key 'backtest', where to write it")
        if key in settings and settings[key] < 1:
            raise BadInput(f"{label}: key {key!r} must be at least 1, not {settings[key]}")


def _check_distinct(jobs: list[Job], path: Path) -> None:
    """Two jobs writing one model, output, latest link or backtest would overwrite each other's work."""
    for key in ("model", "output", "latest", "backtest"):
        writers: dict[str, str] = {}
        for job in jobs:
            if getattr(job, key) is None:
                continue
            target = os.path.normpath(getattr(job, key))
            if target in writers:
                raise BadInput(
                    f"{path}: jobs {writers[target]!r} and {job.name!r} both write the {key} {target}; "
                    f"give each its own (a glob job needs {{stem}} in its {key} path)"
                )
            writers[target] = job.name


def decide(job: Job, now: datetime.datetime) -> Decision:
    """Whether ``job`` refits its model under its policy, and why; raises when the job cannot run. Its saved model
    is read within the job's limits, as everything the job reads."""
    with limits.applied(job.limits):
        return _decided(job, now)


def _decided(job: Job, now: datetime.datetime) -> Decision:
    if job.input.is_dir():
        raise BadInput(f"{job.input}: is a directory, not a CSV file")
    if not job.input.is_file():  # not there yet: a feed is more often late than wrong
        raise FeedLate(
            f"{job.input}: " + ("no file matches this pattern" if glob.has_magic(str(job.input)) else "no such file")
        )
    header.check(job.input)  # here, in the run's own process: a bad input costs its first line, not torch's import
    if job.refit.policy == "always":
        return Decision(True, "refit is 'always'")
    try:
        card = read_card(job.model)
    except BadInput as exc:
        if job.refit.policy == "never":
            raise ForecasterError(f"{exc}, and refit is 'never'") from None
        return Decision(
            True, "no saved model yet" if not job.model.exists() else f"the saved model is unusable ({exc})"
        )
    if job.refit.policy == "never":
        return Decision(False, "refit is 'never'")
    changed = changed_options(card, job.options)
    if changed:
        return Decision(True, f"the fit options changed ({changed})")
    if job.refit.max_age is None:
        recorded = card.training.source_sha256
        if recorded is None:
            return Decision(True, "the saved model records no hash of its input")
        if recorded != source_sha256(job.input):
            return Decision(True, "the input changed")
        return Decision(False, "the input is unchanged")
    created = card.created
    if created.tzinfo is None:
        created = created.replace(tzinfo=datetime.UTC)
    age = now - created
    return Decision(age > job.refit.max_age, f"the model is {describe_age(age)} old ({job.refit.policy})")


def describe_age(age: datetime.timedelta) -> str:
    hours = age.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"


def changed_options(card: Card, options: FitOptions) -> str:
    """The fit options asked for when the model was saved that differ from ``options``, as "key old -> new"; "" if none.

    Options left open (None) are compared as asked for, not as the data
    decided them: the same job refits when its own options change, not when
    the data would choose anew. Where and how long a fit runs (RUN_OPTIONS) is no reason to refit.
    """

    def shown(value: object) -> str:
        return repr(list(value) if isinstance(value, tuple) else value)

    changed = [
        field.name
        for field in fields(options)
        if field.name not in RUN_OPTIONS and getattr(card.requested, field.name) != getattr(options, field.name)
    ]
    return ", ".join(
        f"{name} {shown(getattr(card.requested, name))} -> {shown(getattr(options, name))}" for name in sorted(changed)
    )
