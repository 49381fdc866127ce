"""The docs and the code agree (datasette's idea): every option, key, hook and exit code is documented, and every
command the README shows is one the CLI accepts."""

from __future__ import annotations

import re
import shlex
from dataclasses import fields
from pathlib import Path

import click
import pytest

from forecaster import hookspecs
from forecaster.cli import cli
from forecaster.jobs import JOB_KEYS, TOP_KEYS
from forecaster.options import FitOptions

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCS = README + "".join(path.read_text() for path in sorted((ROOT / "docs").glob("*.md")))
#: fit options that are not command-line flags of their own
NOT_FLAGS = {"targets": "--target", "date_col": "--date-col"}


def flags_of(command: click.Command) -> set[str]:
    return {flag for parameter in command.params for flag in getattr(parameter, "opts", []) + getattr(parameter, "secondary_opts", [])
            if flag.startswith("-")}


@pytest.mark.parametrize("option", [field.name for field in fields(FitOptions)])
def test_every_fit_option_is_a_flag_of_fit_and_documented(option):
    flag = NOT_FLAGS.get(option, f"--{option.replace('_', '-')}")
    assert flag in flags_of(cli.commands["fit"]), flag
    assert f"`{flag}" in README, f"{flag} is not in README.md's table of fit options"


@pytest.mark.parametrize("key", sorted(set(JOB_KEYS) - {field.name for field in fields(FitOptions)}) + sorted(TOP_KEYS))
def test_every_batch_key_is_documented(key):
    assert f"`{key}`" in DOCS or f"[{key}]" in DOCS or f"[[{key}]]" in DOCS, f"jobs file key {key!r} is not documented"


def test_every_hook_is_documented():
    hooks = [name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "forecaster_spec")]
    assert hooks, "no hook specifications found"
    for hook in hooks:
        assert hook in (ROOT / "docs" / "plugins.md").read_text(), hook


@pytest.mark.parametrize("code", ["0", "1", "2", "75", "130", "143"])
def test_every_exit_code_is_in_the_readme_table(code):
    assert re.search(rf"^\| {code}(, \d+)* \|", README, re.MULTILINE) or re.search(rf"^\| \d+, {code} \|", README, re.MULTILINE), code


def readme_commands() -> list[list[str]]:
    """The forecaster command lines of README.md's code blocks and inline code, as arguments after the command."""
    commands = []
    lines = README.splitlines() + re.findall(r"`((?:\S*/)?forecaster [^`]*)`", README)
    for line in lines:
        text = line.strip()
        for part in re.split(r"&&|;|\|", text.split(" #")[0]):
            try:
                words = shlex.split(part)
            except ValueError:
                continue
            while words and "=" in words[0] and not words[0].startswith("-"):  # VAR=value before the command
                words = words[1:]
            if words and Path(words[0]).name == "forecaster" and (line.startswith("    ") or not line.startswith(("|", "`"))):
                words = [word for word in words if word != "..."]
                commands.append([word for word in words[1:] if not word.startswith(">")])
    return commands


def test_the_readme_shows_commands():
    assert len(readme_commands()) >= 15


@pytest.mark.parametrize("words", readme_commands(), ids=lambda words: " ".join(words)[:60])
def test_every_readme_command_is_one_the_cli_accepts(words):
    global_flags = flags_of(cli) | {"--help", "-h", "--version"}
    while words and words[0] in global_flags:
        words = words[1:]
    if not words:
        return
    assert words[0] in cli.commands, f"no command {words[0]!r}"
    known = flags_of(cli.commands[words[0]]) | {"--help", "-h"}
    for word in words[1:]:
        if word.startswith("--"):
            assert word.split("=")[0] in known, f"forecaster {words[0]} has no option {word}"


@pytest.mark.parametrize("name", [name for name in __import__("forecaster").__all__ if name != "__version__"])
def test_every_public_name_is_documented(name):
    assert f"forecaster.{name}" in DOCS or f"`{name}`" in DOCS, f"forecaster.{name} is not in README.md or docs/"
