"""The command line: parse options, call the library, print. No forecasting logic here.

Heavy libraries (pandas, torch, Lightning) are imported inside the commands
that need them, so ``--help`` and ``cells`` answer at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import traceback
from dataclasses import fields
from pathlib import Path
from typing import NoReturn

import click

from forecaster import __version__
from forecaster.cli_batch import batch
from forecaster.cli_options import limit_option
from forecaster.errors import BadInput, ForecasterError, Interrupted, OtherRankDone
from forecaster.options import ALIASES, DEFAULT_FOLDS, FILL_POLICIES, SCALERS, STRATEGIES, FitOptions
from forecaster.runtime import warned
from forecaster.runtime.interrupts import ignore_signals, raise_on_signals

DEFAULTS = {field.name: field.default for field in fields(FitOptions)}
REPORT_HELP = "Also write one HTML page of {}, self-contained (it opens offline), here."
STRICT_VARIABLE = "FORECASTER_STRICT_PLUGINS"
_debug = False


def _registry():
    """The installed cells; a broken plugin is a warning line, or the error under --strict."""
    from forecaster.nn.registry import build_every_cell, load_registry

    registry = load_registry()
    strict = click.get_current_context().find_root().params.get("strict")
    if strict:
        build_every_cell(registry)
    if registry.problems and strict:
        raise ForecasterError("; ".join(map(str, registry.problems)) + f" (--strict or {STRICT_VARIABLE})")
    for problem in registry.problems:
        click.echo(f"forecaster: warning: {problem}", err=True)
    return registry


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="forecaster")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.option(
    "--strict",
    is_flag=True,
    envvar=STRICT_VARIABLE,
    help=f"Stop on a broken plugin instead of warning (for CI; or set {STRICT_VARIABLE}=1).",
)
def cli(debug: bool, strict: bool) -> None:
    """Forecast the series in a CSV file with a recurrent network whose cell is a plugin.

    \b
      forecaster fit data/stock.csv          train, save models/stock
      forecaster predict models/stock        forecast the next values
      forecaster report models/stock         one HTML page of the model: models/stock.html
      forecaster cells                       list the installed cells
    """
    global _debug
    _debug = debug


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def cells(as_json: bool) -> None:
    """List the recurrent cells that --cell accepts, and broken or disabled plugins."""
    from forecaster.nn.registry import DISABLE_VARIABLE

    registry = _registry()
    if as_json:
        listing = {
            "cells": [
                {"name": c.name, "distribution": c.distribution, "version": c.version, "description": c.description}
                for c in registry.cells.values()
            ],
            "broken": [
                {"distribution": p.distribution, "version": p.version, "cell": p.cell or None, "reason": p.reason}
                for p in registry.problems
            ],
            "disabled": [{"distribution": name, "version": version} for name, version in registry.disabled.items()],
        }
        click.echo(json.dumps(listing, indent=2))
        return
    rows = [(c.name, f"{c.distribution} {c.version}", c.description) for c in registry.cells.values()]
    rows += [("(broken)", f"{p.distribution} {p.version}", p.reason) for p in registry.problems]
    rows += [
        ("(disabled)", f"{name} {version}", f"blocked by {DISABLE_VARIABLE}")
        for name, version in registry.disabled.items()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for name, provider, description in rows:
        click.echo(f"{name:<{widths[0]}}  {provider:<{widths[1]}}  {description}".rstrip())


def fit_options(command):
    """The options shared by `fit` and `backtest`: how to read the CSV and how to train."""
    for option in reversed(FIT_OPTIONS):
        command = option(command)
    return command


def _flags(option: str) -> list[str]:
    """The command-line flags of a fit option: its own and its aliases (options.ALIASES)."""
    return [
        f"--{name.replace('_', '-')}"
        for name in (option, *(alias for alias, target in ALIASES.items() if target == option))
    ]


FIT_OPTIONS = [
    click.option(
        "--cell", default=DEFAULTS["cell"], show_default=True, help="Recurrent cell (see 'forecaster cells')."
    ),
    click.option(*_flags("date_col"), "date_col", help="The time column.  [default: detected]"),
    click.option(
        "--target",
        "targets",
        multiple=True,
        help="A series to forecast: a column, or an id of a long file (repeatable).  [default: all]",
    ),
    click.option(
        "--freq",
        help="The time axis' step, where the rows do not show it: a pandas frequency (D, B, W-SUN, MS, QS, h, 15min) "
        "or an integer axis' step.  [default: inferred from the times]",
    ),
    click.option("--id-col", help="Long format: the column naming each row's series."),
    click.option("--value-col", help="Long format: the column of values.  [default: the only other column]"),
    click.option(
        "--past",
        multiple=True,
        help="A covariate column known up to the forecast origin only, such as a measured temperature (repeatable).",
    ),
    click.option(
        "--future",
        multiple=True,
        help="A covariate column known for the horizon too, such as a working-day flag; predict needs its values "
        "after the last value (repeatable).",
    ),
    click.option(
        "--static",
        multiple=True,
        help="Long format: a column constant within each series, a number or a category (repeatable).",
    ),
    click.option(
        "--calendar/--no-calendar",
        default=DEFAULTS["calendar"],
        show_default=True,
        help="Read the hour of day (sub-daily data), day of week and day of year (daily too) as cyclic features, but "
        "for the cycle the season already is and any the data does not cover twice.",
    ),
    click.option(
        "--holidays",
        help="Read a country's public holidays (the holidays package): US, GB, AU-VIC...  [default: none]",
    ),
    click.option(
        "--fill",
        type=click.Choice(FILL_POLICIES),
        default=DEFAULTS["fill"],
        show_default=True,
        help="What to do with gaps after a series' first value.",
    ),
    click.option(
        "--window",
        type=int,
        help="Past values the model reads.  [default: two seasons, at least 8, at most the longest series]",
    ),
    click.option(
        "--horizon", type=int, default=DEFAULTS["horizon"], show_default=True, help="Future values the model forecasts."
    ),
    click.option(
        "--season",
        type=int,
        help="Steps in a season (12 for monthly data), for deseasonalising, the window and "
        "seasonal naive.  [default: from the frequency: a day of sub-daily steps, 7 daily, 5 trading days, 52 weekly, "
        "12 monthly, 4 quarterly, else 1]",
    ),
    click.option(
        "--hidden-size", type=int, default=DEFAULTS["hidden_size"], show_default=True, help="Memories in the cell."
    ),
    click.option(
        "--members",
        type=int,
        default=DEFAULTS["members"],
        show_default=True,
        help="Networks trained side by side from different initial weights; the forecast is their median.",
    ),
    click.option(
        "--fallback/--no-fallback",
        default=DEFAULTS["fallback"],
        show_default=True,
        help="Forecast a series by seasonal naive (naive without a season) when its held-out windows show that better.",
    ),
    click.option(
        "--threads",
        type=int,
        help="Processes that train members at once, one core each.  [default: the cores this process may use]",
    ),
    click.option(
        "--time-limit",
        type=float,
        help="Seconds the training may take: the members share them, each stopping at its share with its best "
        "epoch; the summary says what the limit cut.  [default: no limit]",
    ),
    click.option(
        "--scaler",
        type=click.Choice(SCALERS),
        default=DEFAULTS["scaler"],
        show_default=True,
        help="Per-series scaling, fitted on training rows.",
    ),
    click.option(
        "--epochs",
        type=int,
        help="Most training epochs (early stopping may end sooner).  [default: 100; more on tiny data]",
    ),
    click.option("--lr", type=float, default=DEFAULTS["lr"], show_default=True, help="Adam learning rate."),
    click.option(
        "--batch-size", type=int, help="Windows per optimiser step.  [default: from the number of windows, 16 to 256]"
    ),
    click.option(
        "--patience",
        type=int,
        help="Epochs without improvement before stopping.  [default: about 1,000 optimiser steps, 10 to 30 epochs]",
    ),
    click.option(
        "--gradient-clip",
        type=float,
        default=DEFAULTS["gradient_clip"],
        show_default=True,
        help="Largest gradient norm per step; 0: no clipping.",
    ),
    click.option(
        "--seed", type=int, default=DEFAULTS["seed"], show_default=True, help="Same seed, same machine: same model."
    ),
    click.option(
        "--accelerator",
        default=DEFAULTS["accelerator"],
        show_default=True,
        help="Passed to Lightning: cpu, gpu, auto...",
    ),
    click.option(
        "--devices",
        default=DEFAULTS["devices"],
        show_default=True,
        help="Passed to Lightning: a count, a list, or auto.",
    ),
    click.option(
        "--strategy",
        type=click.Choice(STRATEGIES),
        default=DEFAULTS["strategy"],
        show_default=True,
        help="Passed to Lightning: ddp trains one process per device, on every node (fit only; see docs/scaling.md).",
    ),
    click.option(
        "--num-nodes",
        type=int,
        default=DEFAULTS["num_nodes"],
        show_default=True,
        help="Passed to Lightning: machines taking part in a ddp fit.",
    ),
]


@cli.command()
@click.argument("csv", type=click.Path(dir_okay=True))
@click.option("--out", type=click.Path(), help="Model directory to write.  [default: models/<csv name>]")
@fit_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.option("--report", type=click.Path(dir_okay=False), help=REPORT_HELP.format("the model: its fit, every series"))
@limit_option
def fit(csv: str, out: str | None, as_json: bool, report: str | None, targets: tuple[str, ...], **options) -> None:
    """Train a model on the series of CSV and save it as a model directory."""
    from dataclasses import replace

    from forecaster.data import header
    from forecaster.runtime.files import refuse_foreign
    from forecaster.training import members

    fit_options = FitOptions(targets=targets, **options)
    fit_options.check()
    if report:
        refuse_foreign(Path(report), "--report")  # before training, not after
    header.check(csv)  # a bad file costs its first line and its measure, not the workers' start
    # then, before this process's own imports: the workers' imports of torch and Lightning are what a fit on
    # several cores waits for
    members.start_workers(members.workers(fit_options))

    from forecaster.model.directory import refuse_unreplaceable, writing
    from forecaster.runtime.processes import launched_rank
    from forecaster.training.pipeline import default_model_dir
    from forecaster.training.pipeline import fit as fit_model

    out_dir = Path(out) if out is not None else default_model_dir(csv)
    refuse_unreplaceable(out_dir, "--out")  # before training, not after
    registry = _registry()
    registry.get(fit_options.cell)  # an unknown --cell is bad input (2), whoever writes the directory now (75)
    # held from now until the model is in place, by the process that saves it: a second fit waits for nothing
    with writing(out_dir) if launched_rank() == 0 else contextlib.nullcontext():
        model, summary = fit_model(csv, fit_options, registry, distributed=True)
        summary = replace(summary, model_dir=str(model.save(out_dir)))
    if report:
        from forecaster.report import pages
        from forecaster.runtime.files import write_atomic

        # drawn with the data's history; a model reading future covariates would need their values past its end
        recent = None if model.card.covariates.future else csv
        write_atomic(report, pages.of_model(model, recent=recent), "--report")
    if as_json:
        click.echo(json.dumps(summary.to_json()))
    else:
        click.echo(summary.summary(), err=True)


@cli.command()
@click.argument("source", type=click.Path())
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Write the page here.  [default: beside SOURCE: models/stock.html, summary-2026-03-01.html]",
)
@click.option(
    "--level",
    "levels",
    type=float,
    multiple=True,
    help="A model's intervals to draw, in percent (repeatable).  [default: 80 and 95, where the model calibrates them]",
)
@click.option(
    "--csv",
    "csv",
    type=click.Path(),
    help="A model's series as this data has them (its training CSV, or newer): forecast from its end and drawn with "
    "its history, as predict --csv.  [default: the last values model.json keeps, a window or a season]",
)
@limit_option
def report(source: str, out: str | None, levels: tuple[float, ...], csv: str | None) -> None:
    """Write one HTML page of a model directory (its fit, then every series' forecast and held-out errors) or of a
    batch run's JSON summary (every job, and the series to look at); self-contained, it opens offline."""
    from forecaster.data import header
    from forecaster.report import pages
    from forecaster.runtime.files import refuse_foreign, write_atomic

    where = Path(source)
    target = Path(out) if out else pages.default_path(where)
    refuse_foreign(target, "--out")
    header.check_if_file(csv)  # before the model and torch, as predict checks it
    if where.is_dir():
        from forecaster.model.trained import Model

        model = Model.load(where, _registry())
        write_atomic(target, pages.of_model(model, levels or None, csv))
    elif where.is_file():
        if levels or csv:
            raise BadInput(
                f"--level and --csv are a model's; {source} is a batch summary, drawn from its jobs' own files"
            )
        from forecaster.batch.summary import read_summary

        document = read_summary(where)
        write_atomic(target, pages.of_night(document, where))
    else:
        raise BadInput(f"{source}: no such model directory or batch summary")
    click.echo(f"forecaster: report written to {target}", err=True)


@cli.command()
@click.argument("model_dir", type=click.Path())
def restore(model_dir: str) -> None:
    """Put back the model that the last fit or save into MODEL_DIR replaced (kept as MODEL_DIR.previous), keeping the
    one now there as MODEL_DIR.previous: run it again to undo it."""
    from forecaster.model.directory import previous_model
    from forecaster.model.directory import restore as restore_model

    card = restore_model(Path(model_dir))
    click.echo(
        f"{model_dir}: the model created {card.created.isoformat(timespec='seconds')} is back; the one it replaced is "
        f"{previous_model(Path(model_dir))}",
        err=True,
    )


@cli.command()
@click.argument("model_dir", type=click.Path())
@click.option(
    "--csv", "csv", type=click.Path(), help="Forecast from this newer data instead of the training data's end."
)
@click.option(
    "--horizon",
    type=int,
    help="Steps to forecast; beyond the trained horizon is recursive.  [default: the trained one]",
)
@click.option(
    "--level",
    "levels",
    type=float,
    multiple=True,
    help="Add a prediction interval of this coverage in percent (repeatable), e.g. --level 80 --level 95.",
)
@click.option(
    "--future",
    "future",
    type=click.Path(dir_okay=False),
    help="A CSV of the future-known covariates' values over the horizon: a time column and theirs (and the id column "
    "of a long file).",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write the forecast CSV here.  [default: stdout]")
@click.option(
    "--plot", type=click.Path(dir_okay=False), help="Draw the history and forecast of each series to this PNG file."
)
@click.option("--plot-covariates", is_flag=True, help="Draw the covariates under each series in --plot.")
@limit_option
def predict(
    model_dir: str,
    csv: str | None,
    horizon: int | None,
    levels: tuple[float, ...],
    future: str | None,
    out: str | None,
    plot: str | None,
    plot_covariates: bool,
) -> None:
    """Forecast the next values of every series of a saved model."""
    from forecaster.data import header
    from forecaster.runtime.files import refuse_foreign, write_atomic

    if plot_covariates and not plot:
        raise BadInput("--plot-covariates draws under --plot: give --plot FILE too")
    for path, option in ((out, "--out"), (plot, "--plot")):
        if path:
            refuse_foreign(Path(path), option)  # before the model is loaded and the forecast made
    for given in (csv, future):  # as cheaply as fit refuses them: before the model, torch and pandas
        header.check_if_file(given)

    from forecaster.model.trained import Model

    result = Model.load(model_dir, _registry()).forecast(horizon, levels, csv, future)
    for note in result.notes:
        click.echo(f"forecaster: note: {note}", err=True)
    text = result.to_csv()
    if plot:
        from forecaster.plots import forecast_figure, save_png

        save_png(forecast_figure(result, covariates=plot_covariates), plot)
    if out:
        write_atomic(out, text)
    else:
        click.echo(text, nl=False)


cli.add_command(batch)


@cli.command()
@click.argument("csv", type=click.Path(dir_okay=True))
@fit_options
@click.option(
    "--folds",
    type=int,
    default=DEFAULT_FOLDS,
    show_default=True,
    help="Rolling origins, each with its own fit on the rows before it.",
)
@click.option(
    "--step",
    type=int,
    help="Rows between origins; each fold forecasts from every origin in its step.  [default: the horizon]",
)
@click.option(
    "--level",
    "levels",
    type=float,
    multiple=True,
    help="Report the empirical coverage of this interval level (repeatable).",
)
@click.option(
    "--out", type=click.Path(dir_okay=False), help="Write the metrics here: .json (with the folds' forecasts) or .csv."
)
@click.option(
    "--forecasts",
    type=click.Path(dir_okay=False),
    help="Write every forecast here as CSV, one row per series, cutoff and time: unique_id, ds, cutoff, fold, y, "
    "model, its bounds and each baseline, as statsforecast's cross_validation lays them out.",
)
@click.option(
    "--plot", type=click.Path(dir_okay=False), help="Draw actual values and each fold's forecast to this PNG file."
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False),
    help=REPORT_HELP.format("the backtest: its metrics and coverage, every series' folds"),
)
@limit_option
def backtest(
    csv: str,
    targets: tuple[str, ...],
    folds: int,
    step: int | None,
    levels: tuple[float, ...],
    out: str | None,
    forecasts: str | None,
    plot: str | None,
    report: str | None,
    **options,
) -> None:
    """Rolling-origin evaluation of the model against naive, seasonal naive and drift."""
    from forecaster.data import header
    from forecaster.runtime.files import refuse_foreign, write_atomic
    from forecaster.training import members

    fit_options = FitOptions(targets=targets, **options)
    fit_options.check()
    for path, option in ((out, "--out"), (forecasts, "--forecasts"), (plot, "--plot"), (report, "--report")):
        if path:
            refuse_foreign(Path(path), option)  # before the folds are trained
    header.check(csv)  # before torch and the plugins
    # then, before this process's own imports, as fit does: the workers' imports are what the first fold waits for
    members.start_workers(members.workers(fit_options))

    from forecaster.training.backtest import backtest_data

    result, _ = backtest_data(csv, fit_options, _registry(), folds, step, levels)
    click.echo(result.format_table(), err=True)
    if out:
        write_atomic(out, result.to_json_text() if out.endswith(".json") else result.to_csv())
    if forecasts:
        write_atomic(forecasts, result.forecasts_csv(), "--forecasts")
    if plot:
        from forecaster.plots import backtest_figure, save_png

        save_png(backtest_figure(result.actual, result.folds), plot)
    if report:
        from forecaster.report import pages

        write_atomic(report, pages.of_backtest(result, csv), "--report")


def main() -> None:
    """Run the CLI with the exit codes of docs/design.md and one-line errors.

    The first SIGINT or SIGTERM stops the work through every ``finally``
    (later ones are dropped); once the work is over, signals are ignored, so
    that the process ends with 130 or 143 however many arrive.
    """
    raise_on_signals()
    try:
        try:
            code = _run()
        finally:
            ignore_signals()
    except Interrupted as exc:  # the first signal came while another error was being reported
        click.echo(f"forecaster: error: {exc}", err=True)
        code = exc.exit_code
    sys.exit(code)


def command() -> NoReturn:
    """The installed `forecaster` command: :func:`main`, then out without the interpreter's teardown.

    Once the work has succeeded and its output is flushed, tearing down
    torch's and Lightning's thousands of modules only keeps the user waiting:
    about a second of every command's wall time here (bench/performance.md).
    Nothing is left to wait for by then: workers, jobs and Lightning's other
    ranks have been waited for, and files are written. A command that failed
    or was interrupted, and an output that cannot be flushed (a closed pipe),
    leave through the ordinary exit, whose clean-up (a killed pool's
    semaphores, say) and reports are as before.
    """
    try:
        main()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
        logging.shutdown()
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            raise exc from None
        os._exit(0)
    raise AssertionError("main() always ends with SystemExit")


def _run() -> int:
    """The command's exit code, its error reported in one line, and each distinct warning of its run said once, in
    words (runtime/warned.py)."""
    with warned.recorded() as cautions:
        try:
            return _command()
        finally:
            for line in warned.said(cautions):
                click.echo(f"forecaster: warning: {line}", err=True)


def _command() -> int:
    """The command's exit code, its error reported in one line."""
    try:
        return cli.main(standalone_mode=False) or 0
    except click.ClickException as exc:  # usage errors too: one line, like every other error
        context = getattr(exc, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if context is not None else ""
        click.echo(f"forecaster: error: {exc.format_message()}{hint}", err=True)
        return exc.exit_code
    except OtherRankDone:
        return 0  # rank 0 reports for every process of a distributed fit
    except (click.Abort, KeyboardInterrupt):
        click.echo("forecaster: interrupted", err=True)
        return 130
    except ForecasterError as exc:
        if _debug:
            traceback.print_exc()
        click.echo(f"forecaster: error: {exc}", err=True)
        return exc.exit_code
    except Exception as exc:
        if _debug:
            traceback.print_exc()
        click.echo(
            f"forecaster: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True
        )
        return 1
