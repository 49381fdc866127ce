"""The docs and the code agree (datasette's idea): every option, key, hook, exit code and public name is documented,
every command the README and docs/ show is one the CLI accepts (parsed by click in-process, nothing run), and
docs/design.md describes every module of the package and no other."""

from __future__ import annotations

import re
import shlex
from dataclasses import fields
from pathlib import Path

import click
import pytest

from forecaster import hookspecs
from forecaster.batch.jobs_file import JOB_KEYS, TOP_KEYS
from forecaster.cli import cli
from forecaster.options import FitOptions

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCS = README + "".join(path.read_text() for path in sorted((ROOT / "docs").glob("*.md")))
#: fit options that are not command-line flags of their own
NOT_FLAGS = {"targets": "--target", "date_col": "--date-col"}


def flags_of(command: click.Command) -> set[str]:
    return {
        flag
        for parameter in command.params
        for flag in getattr(parameter, "opts", []) + getattr(parameter, "secondary_opts", [])
        if flag.startswith("-")
    }


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
    assert re.search(rf"^\| {code}(, \d+)* \|", README, re.MULTILINE) or re.search(
        rf"^\| \d+, {code} \|", README, re.MULTILINE
    ), code


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
            if (
                words
                and Path(words[0]).name == "forecaster"
                and (line.startswith("    ") or not line.startswith(("|", "`")))
            ):
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
    command, rest = command_of(words)
    known = flags_of(command) | {"--help", "-h"}
    for word in rest:
        if word.startswith("--"):
            assert word.split("=")[0] in known, f"forecaster {' '.join(words)}: {command.name} has no option {word}"


def command_of(words: list[str]) -> tuple[click.Command, list[str]]:
    """The command that ``words`` (the arguments after ``forecaster`` and its own flags) run, through groups as click
    resolves them (``batch jobs.toml`` is the batch group's default command, run), and the words left for it."""
    command: click.Command = cli
    while isinstance(command, click.Group) and words:
        _, found, words = command.resolve_command(click.Context(command), words)
        assert found is not None, words
        command = found
    return command, words


@pytest.mark.parametrize("name", [name for name in __import__("forecaster").__all__ if name != "__version__"])
def test_every_public_name_is_documented(name):
    assert f"forecaster.{name}" in DOCS or f"`{name}`" in DOCS, f"forecaster.{name} is not in README.md or docs/"


# --- docs/: their commands, and docs/design.md's map of the modules -------------------------------------------------

DOC_FILES = sorted((ROOT / "docs").glob("*.md"))
DESIGN = (ROOT / "docs" / "design.md").read_text()
#: words that may stand before the command: they run it rather than being it (sudo's -u takes a value)
LAUNCHERS = {"exec", "srun", "sudo", "nohup", "time", "env", "-"}
#: fenced blocks whose lines are shell commands (a Python, TOML or INI block may say "forecaster" in other senses)
SHELL_FENCES = {"", "bash", "sh", "shell", "console", "crontab", "yaml"}


def code_of(text: str) -> list[tuple[str, bool]]:
    """The shell lines of a Markdown text, each with whether it is a whole command: lines of indented and shell-fenced
    code blocks (backslash continuations joined) are; inline code, which often names a command in passing, is not."""
    lines, fence = [], None
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fence = line.strip()[3:] if fence is None else None
        elif (fence is None and line.startswith("    ")) or fence in SHELL_FENCES:
            lines.append(line.strip())
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines)).splitlines()
    inline = [
        span.replace("\n", " ")
        for span in re.findall(r"(?<!`)`([^`]+)`(?!`)", re.sub(r"```.*?```", "", text, flags=re.S))
    ]
    return [(line, True) for line in joined if line and not line.startswith("#")] + [(span, False) for span in inline]


def command_words(line: str) -> list[list[str]]:
    """The argument lists of the forecaster commands on a shell line: `forecaster ...`, `.venv/bin/forecaster ...`,
    `python -m forecaster ...`, also after `cd dir &&`, `VAR=value`, `exec`, `srun` or `sudo -u user`."""
    found = []
    for part in re.split(r"&&|\|\||;|\|", line.split(" #")[0]):
        try:
            words = shlex.split(part)
        except ValueError:
            continue
        for index, word in enumerate(words):
            if Path(word).name != "forecaster" or (index > 0 and words[index - 1] == "-u"):  # not sudo's user
                continue
            before = words[:index]
            launched = all(
                w in LAUNCHERS
                or ("=" in w and not w.startswith("-"))
                or (k > 0 and before[k - 1] == "-u")
                or (w == "-u" and "sudo" in before)
                for k, w in enumerate(before)
            )
            if launched or (before and before[-1] == "-m"):
                arguments = words[index + 1 :]
                redirected = [
                    k for k, w in enumerate(arguments) if re.fullmatch(r"\d?>>?(&\d)?", w)
                ]  # `>> fit.log 2>&1`
                found.append(
                    [
                        w
                        for k, w in enumerate(arguments)
                        if k not in redirected and k - 1 not in redirected and not re.match(r"\d?>", w)
                    ]
                )
                break
    return found


def docs_commands() -> list[tuple[str, list[str], bool]]:
    """(file, arguments, whole) of each forecaster command in docs/*.md; see :func:`code_of` for ``whole``."""
    return [
        (path.name, words, whole and "..." not in words)
        for path in DOC_FILES
        for line, whole in code_of(path.read_text())
        for words in command_words(line)
        if words
    ]


def accepts(words: list[str], whole: bool = True) -> None:
    """Parse ``words`` as the command line would, in-process and without running anything: click raises if the
    command or an option is unknown and, for a whole command, if a value or an argument is wrong or missing.
    A command named in passing, or elided with ``...``, must exist with its options; its arguments may be missing."""
    elided = not whole
    words = [word for word in words if word != "..."]
    if {"--help", "-h", "--version"} & set(words):  # eager options print and exit: check the names only
        group_flags = flags_of(cli) | {"--help", "-h", "--version"}
        rest = [word for word in words if word not in group_flags]
        if rest:
            assert rest[0] in cli.commands, f"no command {rest[0]!r}"
            command, rest = command_of(rest)
            known = flags_of(command) | {"--help", "-h"}
            assert not [w for w in rest if w.startswith("-") and w.split("=")[0] not in known], words
        return
    with cli.make_context("forecaster", list(words), resilient_parsing=elided) as context:
        parse_below(cli, context, elided)


def parse_below(group: click.Group, context: click.Context, elided: bool) -> None:
    """Parse the command ``context``'s words left for below ``group``, as click resolves it (a group's default command
    too), and so on down."""
    rest = (
        [*context._protected_args, *context.args]
        if hasattr(context, "_protected_args")
        else [*context.protected_args, *context.args]
    )
    if not rest:
        return
    if group is cli:
        assert rest[0] in cli.commands, f"no command {rest[0]!r}; the commands are {sorted(cli.commands)}"
    name, command, words = group.resolve_command(context, rest)
    assert command is not None and name is not None
    with command.make_context(name, words, parent=context, resilient_parsing=elided) as below:
        if isinstance(command, click.Group):
            parse_below(command, below, elided)


def test_the_docs_show_commands():
    found = docs_commands()
    for name in ("operations.md", "scaling.md", "plugins.md"):
        assert any(file == name and whole for file, _, whole in found), (
            f"no forecaster command found in docs/{name}: is the parser still right?"
        )


@pytest.mark.parametrize(
    "file, words, whole",
    docs_commands(),
    ids=lambda value: (
        value
        if isinstance(value, str)
        else " ".join(value)[:50]
        if isinstance(value, list)
        else "whole"
        if value
        else "named"
    ),
)
def test_every_docs_command_is_one_the_cli_accepts(file, words, whole):
    try:
        accepts(words, whole)
    except click.ClickException as exc:
        pytest.fail(f"docs/{file}: forecaster {' '.join(words)}: {exc.format_message()}")


def package_modules() -> set[str]:
    """The package's modules as docs/design.md names them: paths below forecaster/, e.g. cli.py,
    nn/base.py."""
    package = ROOT / "forecaster"
    return {path.relative_to(package).as_posix() for path in package.rglob("*.py") if "__pycache__" not in path.parts}


def design_modules() -> set[str]:
    """The modules of design.md's "The modules" tables: the first cell of each row."""
    section = DESIGN.split("\n## The modules\n", 1)[1].split("\n## ", 1)[0]
    return {name.removeprefix("forecaster/") for name in re.findall(r"^\| `([\w/]+\.py)` \|", section, re.MULTILINE)}


def test_design_md_describes_every_module():
    missing = package_modules() - design_modules()
    assert not missing, f"modules with no row in docs/design.md's 'The modules': {sorted(missing)}"


def test_every_module_design_md_describes_exists():
    gone = design_modules() - package_modules()
    assert not gone, f"docs/design.md describes modules that do not exist: {sorted(gone)}"


def test_every_file_design_md_names_exists():
    named = set(re.findall(r"(?<![\w/.-])((?:[\w-]+/)*[\w-]+\.(?:py|md))\b", DESIGN))
    places = [ROOT, ROOT / "forecaster", ROOT / "docs"]
    gone = sorted(
        name
        for name in named
        if not any((place / name).exists() for place in places)
        and not (name.endswith(".py") and any((ROOT / "forecaster").rglob(Path(name).name)))
    )
    assert not gone, f"docs/design.md names files that do not exist: {gone}"


def package_imports() -> dict[str, set[str]]:
    """Each module of the package (``forecaster.model.card``) -> the package's modules it imports, counting imports
    inside functions and under TYPE_CHECKING."""
    import ast

    package = ROOT / "forecaster"
    graph: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "forecaster":
                for alias in node.names:  # `from forecaster.model import card` imports a module, not a name
                    submodule = f"{node.module}.{alias.name}"
                    imported.add(
                        submodule if (ROOT / Path(*submodule.split("."))).with_suffix(".py").exists() else node.module
                    )
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names if alias.name.split(".")[0] == "forecaster"}
        graph[module] = imported - {module}
    return graph


def test_the_package_imports_form_no_cycle():
    """docs/design.md says so, counting imports inside functions and under TYPE_CHECKING."""
    import graphlib

    try:
        graphlib.TopologicalSorter(package_imports()).prepare()
    except graphlib.CycleError as cycle:
        pytest.fail(f"an import cycle: {' -> '.join(cycle.args[1])}")


def design_rooms() -> dict[str, set[str]]:
    """design.md's "The rooms" table: each room -> what it may import (rooms, or modules of the top such as
    hookspecs.py)."""
    section = DESIGN.split("\n## The rooms\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([\w/]+)` \|.*\| (.+) \|$", section, re.MULTILINE)
    return {room: set(re.findall(r"`([\w/.]+)`", allowed)) for room, allowed in rows}


def room_of(module: str) -> str:
    """``forecaster.model.card`` -> ``model/``; the top level's errors and options -> ``base``, the rest ``top``."""
    parts = module.split(".")[1:]
    if len(parts) > 1 or (parts and (ROOT / "forecaster" / parts[0]).is_dir()):
        return f"{parts[0]}/"
    return "base" if parts in (["errors"], ["options"]) else "top"


def test_design_md_names_every_room():
    rooms = {room_of(module) for module in package_imports()}
    assert rooms == set(design_rooms()), f"rooms in the package {sorted(rooms)}, in design.md {sorted(design_rooms())}"


def test_no_room_imports_a_room_above_it():
    """Each import stays in its room or goes down to a room design.md's table lets it import."""
    rooms = design_rooms()
    upward = []
    for module, imported in sorted(package_imports().items()):
        room = room_of(module)
        allowed = rooms[room]
        for target in sorted(imported):
            file = target.split(".")[-1] + ".py"
            if target == "forecaster" or room_of(target) in {room, *allowed} or file in allowed:
                continue
            upward.append(f"{module} ({room}) imports {target} ({room_of(target)})")
    assert not upward, "imports that run up: " + "; ".join(upward)


@pytest.mark.parametrize("code", ["0", "1", "2", "75", "130, 143"])
def test_every_exit_code_is_in_design_md(code):
    assert re.search(rf"^\| {code} \|", DESIGN, re.MULTILINE), f"exit code {code} has no row in docs/design.md's table"


def test_every_error_class_is_in_design_md():
    from forecaster import errors

    classes = [
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.ForecasterError)
    ]
    assert classes
    for name in classes:
        assert f"`{name}`" in DESIGN, f"errors.{name} is not in docs/design.md's exit code table"


def test_every_conformance_check_is_in_plugins_md():
    from forecaster.testing import CHECKS

    guide = (ROOT / "docs" / "plugins.md").read_text()
    for check in CHECKS:
        assert re.search(rf"^\| `{re.escape(check)}` \|", guide, re.MULTILINE), (
            f"check {check!r} is not in docs/plugins.md's table"
        )


def test_the_plugin_guide_counts_the_kits_tests_as_they_are():
    """It said "nine tests" when there were ten."""
    from forecaster.testing import CHECKS

    words = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
    guide = (ROOT / "docs" / "plugins.md").read_text()
    said = re.search(r"(\w+) tests, one per property", guide)
    assert said and said[1].lower() == words[len(CHECKS) - 1], said


def test_ci_runs_the_readmes_test_command():
    """The README's second command, as CI runs it: the install that lets a type checker see the package is tested."""
    test_command = next(
        line.strip() for line in README.splitlines() if line.startswith("    ") and "python -m pytest" in line
    )
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()
