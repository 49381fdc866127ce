"""Command-line options that the commands of several modules share: ``--limit``, which every command reading files
takes (cli.py's fit, predict and backtest, and cli_batch.py's modes of `forecaster batch`)."""

from __future__ import annotations

import click


def limit_option(command):
    """``--limit NAME=VALUE`` (repeatable): the command reads its files within these limits (forecaster.data.limits),
    from the moment its options are parsed to its end."""

    def apply(context: click.Context, _: click.Parameter, values: tuple[str, ...]) -> None:
        if values:
            from forecaster.data import limits

            context.with_resource(limits.applied(limits.Limits.parse(values)))

    return click.option(
        "--limit",
        multiple=True,
        metavar="NAME=VALUE",
        expose_value=False,
        callback=apply,
        help="Raise or lower a limit on what an input may cost (repeatable): input_bytes, ratio, line_bytes, rows, "
        "columns, model_json_bytes; e.g. --limit rows=50000000 --limit input_bytes=20GB. See docs/operations.md.",
    )(command)
