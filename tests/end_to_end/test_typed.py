"""The package's type hints reach its users' type checkers (issue 22): a py.typed marker in what pip installs, and
public signatures that mypy --strict accepts in a user's script without an ignore."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

SCRIPT = '''
"""A user's script: fit, predict, backtest, save and load, with limits."""

from pathlib import Path

import pandas as pd

import forecaster


def main(data: Path, out: Path) -> float:
    model: forecaster.Model = forecaster.fit(data, horizon=3, epochs=1, limits={"rows": 10_000})
    frame: pd.DataFrame = model.predict(levels=[80])
    model.save(out)
    again = forecaster.load(out)
    result = forecaster.backtest(data, folds=1, horizon=3)
    drawn = [again.plot(series=["a"]), result.plot()]
    return float(result.metrics["mae"].mean()) + len(frame) + again.horizon + len(drawn[0].axes)


def drawn(model: forecaster.Model) -> int:
    return len(model.plot(series="a").axes)


def wrong(data: Path) -> None:
    forecaster.fit(data, limits=5)
'''

#: torch's own hints take mypy ten seconds to read, and the script touches none of them
CONFIG = "[mypy]\nstrict = True\n\n[mypy-torch.*]\nfollow_imports = skip\n"


def test_mypy_strict_reads_the_installed_package_s_hints(tmp_path):
    """Installed as a user installs it (a wheel built by pip, not this checkout's editable finder, which mypy cannot
    follow): the script type-checks but for the one call that passes a number as limits."""
    source, site = tmp_path / "source", tmp_path / "site"
    source.mkdir()  # a copy: setuptools builds in the source folder, which is not the test's to write
    for name in ("pyproject.toml", "setup.cfg", "README.md"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(ROOT / "forecaster", source / "forecaster", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            site,
            source,
        ],
        check=True,
        capture_output=True,
    )
    assert (site / "forecaster" / "py.typed").is_file()
    (tmp_path / "user.py").write_text(SCRIPT)
    (tmp_path / "mypy.ini").write_text(CONFIG)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--cache-dir", tmp_path / "cache", "user.py"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": str(Path(sys.executable).parent)},
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and 'Argument "limits" to "fit" has incompatible type "int"' in errors[0], result.stdout
