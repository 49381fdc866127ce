"""Real installs: the example plugin and deliberately broken plugins, built by pip and used through the command.

pip builds each distribution from its source folder (offline:
--no-build-isolation --no-index) and installs it with --target into a
temporary folder; the commands run with that folder on PYTHONPATH, which
Python searches for modules and entry points exactly as it searches
site-packages. The test environment itself never changes, so tests running
beside these never see the plugins.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from conftest import ROOT, assert_clean_error, run
from forecaster.errors import BadInput
from forecaster.nn.registry import DISABLE_VARIABLE, Problem, RegisteredCell, Registry

PLUGIN_SOURCE = ROOT / "plugins" / "forecaster-gru"
SMALL = ("--window", 8, "--horizon", 3, "--hidden-size", 4, "--epochs", 3, "--seed", 7)
#: SMALL on one member, trained in the fit's own process, without a fork server importing Lightning anew (8 s of CPU):
#: for the fits whose subject is not where members train (gru_model's members train on the server's workers)
ALONE = (*SMALL, "--members", 1)

#: distribution -> (its module, words the reason it is skipped must contain); each fails in its own way
BROKEN = {
    "forecaster-missing-dependency": (
        "import a_package_that_is_not_installed\n",
        ["import failed", "ModuleNotFoundError", "a_package_that_is_not_installed"],
    ),
    "forecaster-exits": ("raise SystemExit('no GPU, giving up')\n", ["import failed", "SystemExit", "no GPU"]),
    "forecaster-raising-hook": (
        """
        from forecaster.hookspecs import hookimpl

        @hookimpl
        def register_cells(register):
            raise RuntimeError("the hook failed")
        """,
        ["register_cells raised", "RuntimeError", "the hook failed"],
    ),
    "forecaster-lstm-clone": (
        """
        from forecaster.hookspecs import hookimpl

        @hookimpl
        def register_cells(register):
            register("lstm", "torch.nn:LSTM", "a second lstm")
        """,
        ["'lstm'", "already taken by forecaster"],
    ),
    "forecaster-not-a-cell": (
        """
        from forecaster.hookspecs import hookimpl

        @hookimpl
        def register_cells(register):
            register("answer", 42, "a number, not a cell")
        """,
        ["'answer'", "builder must be callable", "42"],
    ),
    "forecaster-misspelt-hook": (
        """
        from forecaster.hookspecs import hookimpl

        @hookimpl
        def register_cell(register):
            register("never", "torch.nn:GRU", "")
        """,
        ["unknown hook", "'register_cell'"],
    ),
    "forecaster-no-hookimpl": (
        """
        def register_cells(register):  # without @hookimpl pluggy never calls it
            register("unmarked", "torch.nn:GRU", "")
        """,
        ["registers no cells", "hookimpl"],
    ),
}
#: registers fine, but what its builder returns is no torch.nn.Module: found when the cell is built
NOT_A_MODULE = (
    "forecaster-dict-cell",
    """
    from forecaster.hookspecs import hookimpl

    @hookimpl
    def register_cells(register):
        register("dict-cell", "builtins:dict", "builds a dict")
    """,
)


def pip_install(target: Path, *sources: Path) -> None:
    """Build and install ``sources`` into ``target`` with this environment's pip, offline."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-build-isolation",
            "--no-index",
            "--no-deps",
            "--target",
            str(target),
            *map(str, sources),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def fake_distribution(root: Path, name: str, module: str) -> Path:
    """The source folder of distribution ``name`` 0.3.0: one module, also its entry point in the group forecaster."""
    package = name.replace("-", "_")
    (root / name / package).mkdir(parents=True)
    (root / name / package / "__init__.py").write_text(textwrap.dedent(module))
    (root / name / "setup.cfg").write_text(
        textwrap.dedent(f"""\
        [metadata]
        name = {name}
        version = 0.3.0

        [options]
        packages = {package}

        [options.entry_points]
        forecaster =
            {package} = {package}
        """)
    )
    shutil.copy(PLUGIN_SOURCE / "pyproject.toml", root / name)
    return root / name


def plugins(*sites: Path, **variables: str) -> dict[str, str]:
    """The environment of a command that sees the plugins installed in ``sites``."""
    return {"PYTHONPATH": os.pathsep.join(map(str, sites)), **variables}


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("forecaster: warning:")]


@pytest.fixture(scope="module")
def gru_site(tmp_path_factory) -> Path:
    """forecaster-gru, built from a copy of plugins/forecaster-gru (pip builds in the source folder) and installed."""
    root = tmp_path_factory.mktemp("gru")
    source = shutil.copytree(
        PLUGIN_SOURCE,
        root / "source",
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache"),
    )
    pip_install(root / "site", source)
    return root / "site"


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory) -> Path:
    """Every distribution of BROKEN and NOT_A_MODULE, installed together by one pip command."""
    root = tmp_path_factory.mktemp("broken")
    sources = [fake_distribution(root, name, module) for name, (module, _) in BROKEN.items()]
    pip_install(root / "site", *sources, fake_distribution(root, *NOT_A_MODULE))
    return root / "site"


@pytest.fixture(scope="module")
def gru_model(gru_site, recent_stocks, tmp_path_factory) -> Path:
    """A real small fit with the installed gru cell."""
    out = tmp_path_factory.mktemp("models") / "gru"
    result = run("fit", recent_stocks, "--cell", "gru", "--out", out, *SMALL, env=plugins(gru_site))
    assert result.returncode == 0, result.stderr
    assert "cell gru:" in result.stderr
    assert not warnings_in(result.stderr)
    return out


def test_the_installed_plugin_is_listed_with_its_distribution_and_version(gru_site):
    listed = run("cells", env=plugins(gru_site))
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr == ""
    row = next(line for line in listed.stdout.splitlines() if line.startswith("gru "))
    assert row.split()[1:3] == ["forecaster-gru", "1.0.0"]
    assert "Stage-by-stage GRU" in row

    as_json = json.loads(run("cells", "--json", env=plugins(gru_site)).stdout)
    assert {
        "name": "gru",
        "distribution": "forecaster-gru",
        "version": "1.0.0",
        "description": "Stage-by-stage GRU: reset, update, candidate memory, new memory",
    } in as_json["cells"]
    assert as_json["broken"] == [] and as_json["disabled"] == []


def test_the_plugin_depends_on_forecaster_and_the_test_environment_stays_clean(gru_site):
    (installed,) = metadata.Distribution.discover(name="forecaster-gru", path=[str(gru_site)])
    assert "forecaster>=0.1" in installed.requires
    assert [ep.value for ep in installed.entry_points if ep.group == "forecaster"] == ["forecaster_gru"]
    assert "gru" not in run("cells").stdout


def test_fit_and_predict_with_the_installed_cell(gru_model, gru_site):
    cell = json.loads((gru_model / "model.json").read_text())["cell"]
    assert cell == {"name": "gru", "distribution": "forecaster-gru", "version": "1.0.0"}

    predicted = run("predict", gru_model, env=plugins(gru_site))
    assert predicted.returncode == 0, predicted.stderr
    lines = predicted.stdout.splitlines()
    assert len(lines) == 1 + 3  # header and the horizon
    assert all(series in lines[0] for series in ("AAPL", "GOOG", "IBM", "MSFT"))


def test_predict_without_the_plugin_names_the_distribution_to_install(gru_model):
    assert_clean_error(
        run("predict", gru_model),
        str(gru_model),
        "its cell 'gru' comes from forecaster-gru 1.0.0",
        "not installed",
        "pip install 'forecaster-gru==1.0.0'",
    )


def test_predict_with_the_plugin_disabled_says_so(gru_model, gru_site):
    result = run("predict", gru_model, env=plugins(gru_site, **{DISABLE_VARIABLE: "forecaster-gru"}))
    assert_clean_error(result, "forecaster-gru 1.0.0", f"which {DISABLE_VARIABLE} blocks")


@pytest.mark.parametrize("saved_with", ["2.1.0", "0.9.0"])
def test_predict_refuses_weights_of_another_major_version(gru_model, gru_site, tmp_path, saved_with):
    model = shutil.copytree(gru_model, tmp_path / "model")
    described = json.loads((model / "model.json").read_text())
    described["cell"]["version"] = saved_with
    (model / "model.json").write_text(json.dumps(described))

    assert_clean_error(
        run("predict", model, env=plugins(gru_site)),
        f"comes from forecaster-gru {saved_with}",
        "forecaster-gru 1.0.0 is installed, a different major version",
        f"pip install 'forecaster-gru=={saved_with}'",
    )


def test_broken_plugins_warn_once_each_and_are_listed_as_broken(gru_site, broken_site):
    listed = run("cells", env=plugins(gru_site, broken_site))
    assert listed.returncode == 0, listed.stderr

    warnings = warnings_in(listed.stderr)
    assert len(warnings) == len(BROKEN) == len(listed.stderr.splitlines())
    broken_rows = [line for line in listed.stdout.splitlines() if line.startswith("(broken)")]
    for name, (_, words) in BROKEN.items():
        (warning,) = [line for line in warnings if f" {name} " in line]
        (row,) = [line for line in broken_rows if f" {name} " in line]
        plugin = f"forecaster: warning: plugin {name} 0.3.0"
        clash = name == "forecaster-lstm-clone"  # refuses the one cell, not the plugin
        assert warning.startswith(f"{plugin}: cell 'lstm' not registered: " if clash else f"{plugin} skipped: ")
        for word in words:
            assert word in warning and word in row
    cells = {line.split()[0]: line.split()[1] for line in listed.stdout.splitlines() if not line.startswith("(")}
    assert cells == {
        "lstm": "forecaster",
        "torch-lstm": "forecaster",
        "gru": "forecaster-gru",
        "dict-cell": "forecaster-dict-cell",
    }


def test_from_python_each_broken_plugin_is_a_warning(gru_site, broken_site):
    code = (
        "import warnings, forecaster\n"
        "from forecaster.api import PluginWarning\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    names = list(forecaster.cells()['name'])\n"
        "print(repr(([str(w.message) for w in caught if w.category is PluginWarning], names)))\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, **plugins(gru_site, broken_site)},
    )
    assert shown.returncode == 0, shown.stderr
    warned, names = ast.literal_eval(shown.stdout)
    assert len(warned) == len(BROKEN) and "gru" in names
    for name, (_, words) in BROKEN.items():
        (warning,) = [line for line in warned if f" {name} " in line]
        assert all(word in warning for word in words)


def test_what_a_plugin_prints_goes_to_stderr_not_into_the_forecast(gru_model, gru_site, tmp_path):
    loud = tmp_path / "site"
    pip_install(
        loud,
        fake_distribution(
            tmp_path,
            "forecaster-loud",
            """
        from forecaster.hookspecs import hookimpl

        print("hello from a plugin")

        @hookimpl
        def register_cells(register):
            print("registering")
            register("loud", "torch.nn:GRU", "a cell that talks")
        """,
        ),
    )
    predicted = run("predict", gru_model, env=plugins(gru_site, loud))
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stderr.splitlines() == ["hello from a plugin", "registering"]
    assert predicted.stdout.splitlines()[0].startswith("date,") and len(predicted.stdout.splitlines()) == 1 + 3


def test_the_other_cells_work_beside_broken_plugins(gru_model, gru_site, broken_site):
    predicted = run("predict", gru_model, env=plugins(gru_site, broken_site))
    assert predicted.returncode == 0, predicted.stderr
    assert len(predicted.stdout.splitlines()) == 1 + 3
    assert len(warnings_in(predicted.stderr)) == len(BROKEN)


def test_a_builder_that_returns_no_module_fails_in_one_line(gru_site, broken_site, recent_stocks, tmp_path):
    result = run(
        "fit",
        recent_stocks,
        "--cell",
        "dict-cell",
        "--out",
        tmp_path / "model",
        *ALONE,
        env=plugins(gru_site, broken_site),
    )
    assert_clean_error(
        result, "cell 'dict-cell' of forecaster-dict-cell 0.3.0", "returned a dict, not a torch.nn.Module", code=1
    )
    assert not (tmp_path / "model").exists()


def test_a_cell_whose_outputs_are_not_numbers_is_named_before_training_not_blamed_on_the_learning_rate(
    recent_stocks, tmp_path
):
    """A hostile plugin's cell that returns NaN: fit stops before training (no "diverged", no --lr advice), naming the
    cell, its distribution and version."""
    site = tmp_path / "site"
    pip_install(
        site,
        fake_distribution(
            tmp_path,
            "forecaster-nan-cell",
            """
        import torch
        from forecaster.hookspecs import hookimpl

        class NanCell(torch.nn.GRU):
            def __init__(self, input_size, hidden_size):
                super().__init__(input_size, hidden_size, batch_first=True)

            def forward(self, inputs, state=None):
                outputs, last = super().forward(inputs)
                return outputs * float("nan"), (last[0],)

        @hookimpl
        def register_cells(register):
            register("nan", NanCell, "outputs NaN")
        """,
        ),
    )
    result = run("fit", recent_stocks, "--cell", "nan", "--out", tmp_path / "model", *ALONE, env=plugins(site))
    assert_clean_error(
        result, "cell 'nan' of forecaster-nan-cell 0.3.0: breaks the cell contract", "not all finite (NaN)", code=1
    )
    assert "diverged" not in result.stderr and "--lr" not in result.stderr
    assert not (tmp_path / "model").exists()


def test_disabled_plugins_are_neither_loaded_nor_warned_about(gru_site, broken_site):
    # one blocked by its distribution's name, one by its entry point's
    disabled = run(
        "cells", env=plugins(gru_site, broken_site, **{DISABLE_VARIABLE: "forecaster-exits, forecaster_raising_hook"})
    )
    assert disabled.returncode == 0, disabled.stderr

    warned = " ".join(warnings_in(disabled.stderr))
    assert "forecaster-exits" not in warned and "forecaster-raising-hook" not in warned
    assert len(warnings_in(disabled.stderr)) == len(BROKEN) - 2
    assert [line.split()[:2] for line in disabled.stdout.splitlines() if line.startswith("(disabled)")] == [
        ["(disabled)", "forecaster-exits"],
        ["(disabled)", "forecaster-raising-hook"],
    ]


@pytest.mark.parametrize("strict", [("--strict",), ("FORECASTER_STRICT_PLUGINS", "1")], ids=["option", "variable"])
def test_strict_turns_broken_plugins_into_an_error(gru_site, broken_site, strict):
    option, variables = (strict, {}) if len(strict) == 1 else ((), dict([strict]))
    failed = run(*option, "cells", env=plugins(gru_site, broken_site, **variables))
    assert_clean_error(
        failed,
        *BROKEN,
        "plugin forecaster-dict-cell 0.3.0: cell 'dict-cell' not registered",
        "not a torch.nn.Module",
        "--strict",
        code=1,
    )

    every_broken_one = ",".join([*BROKEN, NOT_A_MODULE[0]])
    passed = run(
        *option, "cells", env=plugins(gru_site, broken_site, **{DISABLE_VARIABLE: every_broken_one}, **variables)
    )
    assert passed.returncode == 0, passed.stderr
    assert "gru " in passed.stdout


# --- which installed cell may rebuild saved weights (Registry.saved_cell), one case at a time ---


def gru_registry(version: str = "1.4.2") -> Registry:
    return Registry(cells={"gru": RegisteredCell("gru", "", "forecaster_gru.cell:StageGRU", "forecaster-gru", version)})


@pytest.mark.parametrize(
    "registry, words",
    [
        (Registry(), ["which is not installed", "pip install 'forecaster-gru==1.0.0'"]),
        (Registry(disabled={"forecaster-gru": "1.0.0"}), [f"which {DISABLE_VARIABLE} blocks"]),
        (
            Registry(problems=[Problem("forecaster-gru", "1.0.0", "import failed: ImportError: no torch")]),
            ["installed but broken: import failed: ImportError: no torch"],
        ),
        (
            Registry(cells={"gru": RegisteredCell("gru", "", "torch.nn:GRU", "other-gru", "1.0.0")}),
            ["but other-gru 1.0.0 provides 'gru' here", f"{DISABLE_VARIABLE}=other-gru"],
        ),
        (gru_registry("2.0.0"), ["forecaster-gru 2.0.0 is installed, a different major version"]),
    ],
    ids=["missing", "disabled", "broken", "taken", "major"],
)
def test_saved_cell_says_what_to_install(registry, words):
    with pytest.raises(BadInput) as refused:
        registry.saved_cell("gru", "forecaster-gru", "1.0.0")
    message = str(refused.value)
    assert message.startswith("its cell 'gru' comes from forecaster-gru 1.0.0")
    for word in words:
        assert word in message


@pytest.mark.parametrize("saved_with", ["1.0.0", "1.9", "1.4.2.post1"])
def test_saved_cell_accepts_the_same_major_version(saved_with):
    assert gru_registry().saved_cell("gru", "forecaster-gru", saved_with).version == "1.4.2"


def test_the_guide_shows_the_example_plugin_as_it_is():
    """docs/plugins.md quotes the worked case's files in full; a quote that drifted would mislead authors."""
    guide = (ROOT / "docs" / "plugins.md").read_text()
    quoted = re.findall(r"\*\*plugins/forecaster-gru/(\S+)\*\*\n\n```\w*\n(.*?)```\n", guide, flags=re.DOTALL)
    assert [path for path, _ in quoted] == [
        "pyproject.toml",
        "setup.cfg",
        "forecaster_gru/__init__.py",
        "forecaster_gru/cell.py",
    ]
    for path, text in quoted:
        assert text == (PLUGIN_SOURCE / path).read_text(), path


def test_a_plugin_written_from_the_guide_installs_lists_fits_and_predicts(recent_stocks, tmp_path):
    """docs/plugins.md's stub (forecaster-yours), its files taken from the guide's code blocks as a reader copies
    them, built and installed by pip, then listed, fitted and forecast through the command."""
    guide = (ROOT / "docs" / "plugins.md").read_text()
    quoted = re.findall(r"\*\*(forecaster-yours/\S+)\*\*\n\n```\w*\n(.*?)```\n", guide, flags=re.DOTALL)
    files = {name.replace("\\_", "_"): text for name, text in quoted}
    assert {"forecaster-yours/pyproject.toml", "forecaster-yours/forecaster_yours/__init__.py"} <= set(files)
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    pip_install(tmp_path / "site", tmp_path / "forecaster-yours")
    listed = run("cells", "--json", env=plugins(tmp_path / "site"))
    assert listed.returncode == 0, listed.stderr
    assert {"name": "yours", "distribution": "forecaster-yours"}.items() <= next(
        cell for cell in json.loads(listed.stdout)["cells"] if cell["name"] == "yours"
    ).items()
    out = tmp_path / "models" / "yours"
    # with covariates: the cell, written for the series alone, is built for more inputs and reads them unchanged
    covariates = ("--target", "AAPL", "--target", "MSFT", "--past", "IBM")
    fitted = run(
        "fit", recent_stocks, "--cell", "yours", "--out", out, *ALONE, *covariates, env=plugins(tmp_path / "site")
    )
    assert fitted.returncode == 0, fitted.stderr
    assert "cell yours:" in fitted.stderr and not warnings_in(fitted.stderr)
    assert "covariates: past IBM\n" in fitted.stderr  # 300 trading days: no year seen twice
    predicted = run("predict", out, env=plugins(tmp_path / "site"))
    assert predicted.returncode == 0, predicted.stderr
    assert len(predicted.stdout.splitlines()) == 1 + 3  # a header and the horizon's rows
