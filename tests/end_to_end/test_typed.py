"""The package's type hints reach its users' type checkers (issues 22 and 37): installed as the README installs it,
mypy --strict finds the package, passes the README's own Python and the plugin guide's test, and fails a misspelt or
mistyped fit option."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from conftest import ROOT

README = (ROOT / "README.md").read_text()

SCRIPT = '''
"""A user's script: fit, predict, backtest, save and load, with limits; the lines marked "error" are mistakes."""

from pathlib import Path

import numpy as np
import pandas as pd

import forecaster


def main(data: Path, out: Path) -> float:
    model: forecaster.Model = forecaster.fit(data, horizon=np.int64(3), epochs=1, limits={"rows": 10_000})
    frame: pd.DataFrame = model.predict(levels=80, horizon=np.int64(2))
    model.save(out)
    again = forecaster.Model.load(out)
    result = forecaster.backtest(data, folds=1, horizon=3, scaler="robust", target="a")
    drawn = [again.plot(series=["a"]), result.plot()]
    epochs = again.report.epochs_run  # a fitted model's report, loaded or not, is never None
    return float(result.metrics["mae"].mean()) + len(frame) + len(drawn[0].axes) + epochs


def options() -> forecaster.FitKeywords:
    return {"horizon": 12, "members": 1}


def wrong(data: Path) -> None:
    forecaster.fit(data, limits=5)  # error
    forecaster.fit(data, horizn=12)  # error
    forecaster.fit(data, scaler="minmaxx")  # error
    forecaster.fit(data, epochs="3")  # error
    forecaster.backtest(data, horizon=3, fold=2)  # error
    forecaster.fit(data, **options())
'''

#: torch's own hints take mypy ten seconds to read, and the scripts touch none of them
CONFIG = "[mypy]\nstrict = True\n\n[mypy-torch.*]\nfollow_imports = skip\n"


def readme_install_options() -> list[str]:
    """The options the README's first command gives `pip install`, but for the quiet flag, the constraints and the
    editable target: how it asks for the package to be installed."""
    command = next(line for line in README.splitlines() if "pip install" in line and line.startswith("    "))
    words = shlex.split(command.split("pip install", 1)[1].split("&&")[0])
    kept, skip = [], False
    for word in words:
        if skip or word in ("-q", "-e"):
            skip = False
            continue
        skip = word in ("-c", "--constraint")
        if not (word.startswith(".") or skip):
            kept.append(word)
    return kept


def installed_as_the_readme_installs(tmp_path: Path) -> Path:
    """A copy of the package installed by the README's pip options, editable, into a fresh environment that sees this
    one's packages (pandas and its stubs, pytest) but not this one's forecaster; its Python."""
    source, environment = tmp_path / "source", tmp_path / "environment"
    source.mkdir()  # a copy: setuptools builds in the source folder, which is not the test's to write
    for name in ("pyproject.toml", "setup.cfg", "README.md"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(ROOT / "forecaster", source / "forecaster", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", environment], check=True)
    python = environment / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # this environment's packages, as a path entry: its own forecaster is behind a .pth file, which such an entry
    # does not run
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, *readme_install_options(), "-e", str(source)], check=True, capture_output=True)
    return python


def test_the_readme_install_options_are_read():
    assert readme_install_options() == ["--config-settings", "editable_mode=strict"]


def test_mypy_strict_reads_the_package_installed_as_the_readme_installs_it(tmp_path):
    """The README's own Python and the plugin guide's test pass; each marked mistake is an error, and nothing else."""
    python = installed_as_the_readme_installs(tmp_path)
    (readme_python,) = re.findall(r"```python\n(.*?)```", README, re.S)
    guide = (ROOT / "docs" / "plugins.md").read_text()
    (plugin_test,) = re.findall(r"\*\*forecaster-yours/tests/test_yours.py\*\*\n\n```python\n(.*?)```", guide, re.S)
    scripts = {"user.py": SCRIPT, "readme.py": readme_python, "test_yours.py": plugin_test}
    for name, text in scripts.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "mypy.ini").write_text(CONFIG)
    mypy = [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--cache-dir", tmp_path / "cache"]
    result = subprocess.run(
        [*mypy, "--python-executable", python, *scripts],
        cwd=tmp_path,
        env={"PATH": str(Path(sys.executable).parent)},
        capture_output=True,
        text=True,
        check=False,
    )
    found = {tuple(line.split(":")[:2]) for line in result.stdout.splitlines() if ": error:" in line}
    marked = {
        (name, str(number))
        for name, text in scripts.items()
        for number, line in enumerate(text.splitlines(), start=1)
        if line.endswith("# error")
    }
    assert len(marked) == 5 and found == marked, result.stdout
    assert 'Unexpected keyword argument "horizn" for "fit"' in result.stdout
