"""`forecaster batch`: the nightly runner's command line, one subcommand a mode (run, dry-run, status, rollback,
plan-shards), each with the options that apply to it; the run is the default, so ``forecaster batch jobs.toml`` runs.

The modes were once flags of one command (``--dry-run``, ``--status``, ``--rollback JOB``, ``--plan-shards N``,
``--json``); crontabs written then keep working: those flags, hidden, still choose the mode when given to the run
(:func:`_old_spelling`), with the same output and exit codes. Thin, as the rest of the command line: the work is in
:mod:`forecaster.batch.runner`, imported when a mode runs, so that ``--help`` imports nothing heavy.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from forecaster.batch.log import FORMATS
from forecaster.batch.log import configure as configure_logging
from forecaster.cli_options import limit_option
from forecaster.errors import BadInput

if TYPE_CHECKING:
    from forecaster.batch.runner import RunOptions


class DefaultGroup(click.Group):
    """A group whose first argument, when it names none of its commands, is its default command's: ``forecaster batch
    jobs.toml`` is ``forecaster batch run jobs.toml``, and so are options before the file and no argument at all.

    simonw/llm builds its default modes with the click-default-group package; the three overrides below are all
    batch needs, which a dependency last released in 2023 (its author's words in pallets/click#2520: not actively
    maintained) would not beat.
    """

    def __init__(self, *args, default: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.default = default
        self.ignore_unknown_options = True  # the default command's options, when they come before its arguments

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, args or [self.default])  # no argument: the run's own "Missing argument"

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        return super().resolve_command(ctx, args if args[0] in self.commands else [self.default, *args])

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # in the order of use below, not the alphabet's


@click.group(cls=DefaultGroup, default="run", subcommand_metavar="[MODE] JOBS_FILE [ARGS]...")
def batch() -> None:
    """Run the jobs of a TOML file unattended (for cron): refit or reuse, forecast, write atomically.

    \b
      forecaster batch jobs.toml                  run (the default mode)
      forecaster batch dry-run jobs.toml          say what a run would do
      forecaster batch status jobs.toml           the night's runs in one view
      forecaster batch rollback jobs.toml NAME    put a job's last model back
      forecaster batch plan-shards jobs.toml 4    plan 4 shards of even cost

    Exit 0 when every job succeeded, 1 when any failed, 2 when the file is
    invalid, 75 when another run holds the lock. See the README for the format.
    """


def _options(*options):
    """A list of click options as one decorator, the first on top."""

    def apply(command):
        for option in reversed(options):
            command = option(command)
        return command

    return apply


JOBS_FILE = click.argument("jobs_file", type=click.Path(dir_okay=False))
SHARD_OPTIONS = _options(
    click.option(
        "--shard",
        metavar="K/N",
        help="Run only the K-th of N shares of the jobs, by job name; its own lock and summary. 'auto': K and N from "
        "the scheduler (Kubernetes' JOB_COMPLETION_INDEX and JOB_COMPLETION_COUNT, or SLURM_ARRAY_TASK_ID and its "
        "count).",
    ),
    click.option(
        "--shard-plan",
        metavar="FILE",
        type=click.Path(dir_okay=False),
        help="With --shard: take each job's shard from this plan (plan-shards wrote it); other jobs by name.",
    ),
)
#: what a run chooses of the jobs file and writes where, which its dry run checks alike
RUN_OPTIONS = _options(
    click.option(
        "--job",
        "jobs",
        metavar="NAME",
        multiple=True,
        help="Run only this job (repeatable; a glob such as 'shops/*', or a glob job's name for all its files), with "
        "the run's lock, summary and metrics.",
    ),
    SHARD_OPTIONS,
    click.option(
        "--summary",
        type=click.Path(dir_okay=False),
        help="Write the JSON run summary here.  [default: the file's 'summary' key]",
    ),
    click.option(
        "--metrics",
        type=click.Path(dir_okay=False),
        help="Write Prometheus metrics here (the textfile collector's *.prom).",
    ),
    click.option(
        "--metrics-push",
        metavar="URL",
        help="Also push the metrics to this Prometheus Pushgateway (http://host:9091), grouped by project and shard.",
    ),
    click.option(
        "--report",
        type=click.Path(dir_okay=False),
        help="Write the run's HTML page here, after its summary: every job, and the series to look at (may hold "
        "{date}).  [default: the file's 'report' key]",
    ),
    click.option(
        "--run-id",
        metavar="ID",
        help="The run's id in its summary, JSON log lines and metrics, for every shard of a night alike.  [default: "
        "AIRFLOW_CTX_DAG_RUN_ID or SLURM_ARRAY_JOB_ID when the scheduler sets it, else the run's start and PID]",
    ),
    click.option(
        "--time-limit",
        metavar="DURATION",
        help="Stop the run's jobs after this long, e.g. 2h.  [default: the file's 'time_limit' key]",
    ),
)
LOG_OPTIONS = _options(
    click.option("--quiet", is_flag=True, help="Log errors only on stderr."),
    click.option(
        "--log-file", type=click.Path(dir_okay=False), help="Also append every log line to this file, --quiet or not."
    ),
    click.option(
        "--log-format",
        type=click.Choice(FORMATS),
        default="text",
        show_default=True,
        help="Log lines as text or as JSON objects.",
    ),
)
#: the runs' summaries, which status and plan-shards read
SUMMARIES = click.option(
    "--summary",
    type=click.Path(dir_okay=False),
    help="Read the runs' summaries by this path, as the runs were given it.  [default: the file's 'summary' key]",
)
#: the modes' flags before they were subcommands: given to the run, they choose the mode (_old_spelling)
OLD_SPELLINGS = _options(
    click.option("--dry-run", is_flag=True, hidden=True),
    click.option("--rollback", "rollback", metavar="JOB", multiple=True, hidden=True),
    click.option("--json", "as_json", is_flag=True, hidden=True),
    click.option("--plan-shards", type=int, hidden=True),
    click.option("--status", "show_status", is_flag=True, hidden=True),
)


@batch.command("run", short_help="Run every job (the default mode: forecaster batch JOBS_FILE).")
@JOBS_FILE
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Jobs run at once, each in a process of its own.",
)
@click.option(
    "--retry",
    is_flag=True,
    help="Run only the jobs that the night's summaries (the run id's, else today's) leave to retry: failures that may "
    "pass on another try, jobs not yet run. Exit as the night stands: 75 while any may pass on another try, 1 once "
    "only failures for good are left.",
)
@RUN_OPTIONS
@LOG_OPTIONS
@limit_option
@OLD_SPELLINGS
def run(
    jobs_file: str,
    quiet: bool,
    log_file: str | None,
    log_format: str,
    dry_run: bool,
    rollback: tuple[str, ...],
    as_json: bool,
    plan_shards: int | None,
    show_status: bool,
    **options,
) -> None:
    """Run every job (the default mode: forecaster batch JOBS_FILE).

    Exit 0 when every job succeeded, 1 when any failed, 2 when the file is
    invalid, 75 when another run holds the lock or every failure may pass on a
    rerun.
    """
    from forecaster.batch import runner

    settings = runner.RunOptions(**options)
    logging = (quiet, log_format, log_file)
    if dry_run or rollback or as_json or show_status or plan_shards is not None:
        _old_spelling(
            jobs_file,
            settings,
            logging,
            dry_run=dry_run,
            rollback=rollback,
            as_json=as_json,
            show_status=show_status,
            plan_shards=plan_shards,
        )
        return
    configure_logging(*logging)
    from forecaster.report.pages import of_night

    runner.run(jobs_file, settings, of_night)


@batch.command("dry-run", short_help="Say what a run would do and how it would end; change nothing.")
@JOBS_FILE
@RUN_OPTIONS
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON, a job an entry.")
@limit_option
def dry_run(jobs_file: str, as_json: bool, **options) -> None:
    """Check the file and the jobs' inputs as a run with these options would, print what it would do, and exit as it
    would; change nothing, take no lock."""
    from forecaster.batch import runner

    _print_dry_run(jobs_file, runner.RunOptions(**options), as_json)


@batch.command("status", short_help="One status for the night's runs, from their summaries.")
@JOBS_FILE
@SUMMARIES
@click.option(
    "--run-id",
    metavar="ID",
    help="The night is this run's (its summaries of today's and the day before's dates), as --retry reads it.  "
    "[default: AIRFLOW_CTX_DAG_RUN_ID or SLURM_ARRAY_JOB_ID when the scheduler sets it, else today's runs]",
)
@limit_option
def status(jobs_file: str, summary: str | None, run_id: str | None) -> None:
    """Print one status for the night's runs (shards, --job runs, reruns) from their summaries, each job as the newest
    records it; exit 0 when every job is ok, 75 when every failure may pass on a rerun, else 1. Runs nothing. The
    night is the run id a scheduler gives, else today."""
    from forecaster.batch import runner

    _print_status(jobs_file, runner.RunOptions(summary=summary, run_id=run_id))


@batch.command("rollback", short_help="Put back the model that a job's last refit replaced.")
@JOBS_FILE
@click.argument("names", metavar="JOB...", nargs=-1, required=True)
@click.option("--dry-run", is_flag=True, help="Check and print each swap; change nothing, take no lock.")
@SHARD_OPTIONS
@LOG_OPTIONS
@limit_option
def rollback(
    jobs_file: str, names: tuple[str, ...], dry_run: bool, quiet: bool, log_file: str | None, log_format: str, **shard
) -> None:
    """Put back the model that each JOB's last refit replaced (a name, a glob, or a glob job's name for all its
    files), under the run's lock (a shard's with --shard); run nothing else."""
    from forecaster.batch import runner

    _roll_back(jobs_file, names, runner.RunOptions(**shard), dry_run, (quiet, log_format, log_file))


@batch.command("plan-shards", short_help="Plan N shards of even cost from today's summaries.")
@JOBS_FILE
@click.argument("shards", type=int)
@SUMMARIES
@limit_option
def plan_shards(jobs_file: str, shards: int, summary: str | None) -> None:
    """Print a plan of SHARDS shards of even cost, from today's summaries, for every shard's --shard-plan."""
    from forecaster.batch import runner

    _print_plan(jobs_file, shards, runner.RunOptions(summary=summary))


def _old_spelling(
    jobs_file: str,
    settings: RunOptions,
    logging: tuple[bool, str, str | None],
    *,
    dry_run: bool,
    rollback: tuple[str, ...],
    as_json: bool,
    show_status: bool,
    plan_shards: int | None,
) -> None:
    """The modes as the run's flags that they were (``forecaster batch jobs.toml --dry-run``), for the crontabs and
    scripts that spell them so: each as its subcommand does it, the options of the run that it does not use ignored
    as they were, and the flags that do not go together refused in the words they were."""
    if plan_shards is not None:
        unused = (
            settings.shard,
            settings.shard_plan,
            settings.jobs,
            settings.metrics,
            settings.metrics_push,
            settings.report,
        )
        if any((dry_run, rollback, as_json, show_status, *unused, settings.time_limit, settings.run_id)):
            raise BadInput(
                "--plan-shards prints a plan of every job and runs nothing: give it alone (or with --summary)"
            )
        _print_plan(jobs_file, plan_shards, settings)
    elif show_status:
        if any((dry_run, rollback, as_json)):
            raise BadInput("--status reads the summaries and runs nothing: give it alone")
        _print_status(jobs_file, settings)
    elif as_json and (not dry_run or rollback):
        raise BadInput("--json prints a dry run's plan of the jobs: give --dry-run, without --rollback")
    elif rollback:
        _roll_back(jobs_file, rollback, settings, dry_run, logging)
    else:
        _print_dry_run(jobs_file, settings, as_json)


def _print_dry_run(jobs_file: str, settings: RunOptions, as_json: bool) -> None:
    from forecaster.batch import runner
    from forecaster.batch.summary import check_push_url

    if settings.metrics_push:  # refused as the run refuses it, before anything else
        check_push_url(settings.metrics_push)
    plan = runner.dry_run(jobs_file, settings)
    click.echo(json.dumps(plan.document, indent=2) if as_json else "\n".join(plan.lines))
    if plan.problem:
        raise plan.problem


def _print_status(jobs_file: str, settings: RunOptions) -> None:
    from forecaster.batch import runner

    report = runner.status(jobs_file, settings)
    click.echo("\n".join(report.lines))
    if report.problem:
        raise report.problem


def _roll_back(
    jobs_file: str, names: tuple[str, ...], settings: RunOptions, dry_run: bool, logging: tuple[bool, str, str | None]
) -> None:
    from forecaster.batch import runner

    if dry_run:  # the swaps it would make, each checked; no lock taken, nothing changed
        click.echo("\n".join(runner.roll_back_jobs(jobs_file, names, settings, dry_run=True)))
        return
    configure_logging(*logging)
    runner.roll_back_jobs(jobs_file, names, settings)


def _print_plan(jobs_file: str, shards: int, settings: RunOptions) -> None:
    from forecaster.batch import runner

    click.echo(json.dumps(runner.plan_shards(jobs_file, shards, settings), indent=2))
