"""Shared helpers: run the installed `forecaster` command as a user would."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
FORECASTER = Path(sys.executable).with_name("forecaster")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests that share a fixture made once per module run on one worker (xdist's --dist loadgroup), so that it is
    made once; every other test goes to whichever worker is free, a slow file's tests to several at once."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        definitions = getattr(item, "_fixtureinfo", None)
        if definitions and any(defs[-1].scope == "module" for defs in definitions.name2fixturedefs.values()):
            item.add_marker(pytest.mark.xdist_group(item.path.stem))


def run(
    *args: object, cwd: Path | None = None, env: dict | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run the installed console script; never raises on a non-zero exit."""
    assert FORECASTER.exists(), f"the forecaster command is not installed beside {sys.executable}"
    return subprocess.run(
        [str(FORECASTER), *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


#: another process writing a model directory: its lock held until stdin closes
HOLDING = (
    "import sys\n"
    "from pathlib import Path\n"
    "from forecaster.model.directory import writing\n"
    "with writing(Path(sys.argv[1])):\n"
    "    print('held', flush=True)\n"
    "    sys.stdin.read()\n"
)


@contextlib.contextmanager
def written_by_another_process(target: Path) -> Iterator[subprocess.Popen]:
    """Within: another process holds the lock of the model directory ``target``, as a fit does from its start; it
    lets go, and ends with exit code 0, on the way out."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDING, str(target)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield holder
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0


def descendants(pid: int, depth: int) -> set[int]:
    """The processes ``depth`` generations below ``pid`` (1: its children), read from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    generation = {pid}
    for _ in range(depth):
        generation = {child for child, parent in parents.items() if parent in generation}
    return generation


def wait_for_descendants(process: subprocess.Popen, depth: int, count: int = 1, timeout: float = 300) -> set[int]:
    """Wait for the event, not a time: ``count`` processes ``depth`` generations below ``process`` (a fit's members
    train in its fork server's children, a batch's jobs in its own). The timeout only ends a test that hangs."""
    found: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(found) < count and process.poll() is None and time.monotonic() < deadline:
        found = descendants(process.pid, depth)
        time.sleep(0.05)
    assert len(found) >= count, f"no {count} processes {depth} generations below {process.pid} appeared"
    return found


def invoke(*args: object) -> subprocess.CompletedProcess:
    """Run ``forecaster ARGS`` in this process, through the same main() and its exit codes, without a new process's
    imports.

    For what does not depend on the process itself; signals, exit by a
    signal and the installed script's start are tested with :func:`run`.
    """
    from forecaster.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    handlers = {
        signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)
    }  # main() leaves them ignored
    with (
        mock.patch.object(sys, "argv", ["forecaster", *map(str, args)]),
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        try:
            main()
        except SystemExit as exc:
            code = exc.code
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
    return subprocess.CompletedProcess(args, code, stdout.getvalue(), stderr.getvalue())


def permissions_apply() -> list[str]:
    """The command prefix under which file permissions bind: root's capabilities to bypass them dropped, when root.

    Skips the test when running as root without setpriv to drop them.
    """
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: permissions would not apply")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


def assert_clean_error(result: subprocess.CompletedProcess, *fragments: str, code: int = 2) -> None:
    """Exit ``code``, one line on stderr mentioning every fragment, no traceback."""
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip() and "warning:" not in line]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture(scope="session")
def recent_stocks(tmp_path_factory) -> Path:
    """The last 300 trading days of data/stock.csv: real, small, four series."""
    path = tmp_path_factory.mktemp("data") / "recent.csv"
    lines = (DATA / "stock.csv").read_text().splitlines()
    path.write_text("\n".join([lines[0], *lines[-300:]]) + "\n")
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A model of the tutorial's data fitted in two epochs: for tests of what surrounds a model."""
    out = tmp_path_factory.mktemp("models") / "tiny"
    result = invoke(
        "fit", DATA / "statquest.csv", "--window", 4, "--horizon", 1, "--hidden-size", 2, "--epochs", 2, "--out", out
    )
    assert result.returncode == 0, result.stderr
    return out


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, Path)):
        return json.dumps(str(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    if isinstance(value, dict):  # an inline table
        return "{" + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + "}"
    return str(value)


def jobs_file(directory: Path, *jobs: dict, defaults: dict | None = None, top: dict | None = None) -> Path:
    """A jobs file for `forecaster batch`: the top-level keys, [defaults], then one [[job]] table per job."""
    lines = [f"{key} = {toml_value(value)}" for key, value in (top or {}).items()]
    lines += ["[defaults]", *(f"{key} = {toml_value(value)}" for key, value in (defaults or {}).items())]
    for job in jobs:
        lines += ["", "[[job]]", *(f"{key} = {toml_value(value)}" for key, value in job.items())]
    path = directory / "jobs.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


#: matplotlib's tab:blue and tab:orange: history or actual values, and forecasts with their intervals
PLOT_COLOURS = {"history": (31, 119, 180), "forecast": (255, 127, 14)}


class Terminal(io.StringIO):
    """Standard error as a terminal: where a run draws its progress bar."""

    def isatty(self) -> bool:
        return True


def redraws(screen: Terminal) -> list[str]:
    """Each state of the line a bar drew on ``screen``, in order."""
    return [line.strip() for line in screen.getvalue().split("\r") if line.strip()]


def assert_a_drawn_plot(path: Path) -> None:
    """A PNG of sensible size in which the history and the forecast were both drawn: empty axes would not pass."""
    from matplotlib import image

    pixels = image.imread(path)
    assert pixels.shape[0] >= 200 and pixels.shape[1] >= 400
    rgb = (pixels[..., :3] * 255).round()
    for what, colour in PLOT_COLOURS.items():
        drawn = (abs(rgb - colour).max(axis=-1) <= 8).sum()
        assert drawn >= 30, f"{path}: {what} not drawn ({drawn} pixels of {colour})"


PROMETHEUS_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
PROMETHEUS_SAMPLE = re.compile(r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)(?: -?\d+)?")
PROMETHEUS_LABEL = re.compile(r'(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\\n]|\\[\\"n])*)"(?:,|$)')


def parse_prometheus(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The samples of a file in the Prometheus text exposition format, checked by its rules.

    Lines end in a line feed; # HELP and # TYPE name a valid metric, TYPE at
    most once and before the family's first sample; a family's samples are
    not interleaved with another's; label values escape only \\\\, \\" and \\n;
    values are Go floats (NaN, +Inf, -Inf allowed); no sample twice.
    """
    assert text.endswith("\n"), "the last line ends with a line feed"
    samples: dict = {}
    typed: set[str] = set()
    families: list[str] = []
    unescape = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
    for line in text.split("\n")[:-1]:
        if line.startswith("#"):
            words = line.split(" ", 3)
            if len(words) >= 3 and words[1] in ("HELP", "TYPE"):
                assert PROMETHEUS_NAME.fullmatch(words[2]), line
                if words[1] == "TYPE":
                    assert words[2] not in typed and words[2] not in families, f"TYPE once, before the samples: {line}"
                    assert len(words) == 4 and words[3] in ("counter", "gauge", "histogram", "summary", "untyped"), line
                    typed.add(words[2])
            continue
        match = PROMETHEUS_SAMPLE.fullmatch(line)
        assert match, f"not a sample line: {line!r}"
        body = match["labels"] or ""
        labels = list(PROMETHEUS_LABEL.finditer(body))
        assert "".join(label[0] for label in labels) == body, f"bad labels: {line!r}"
        key = (
            match["name"],
            tuple((label["name"], re.sub(r'\\[\\"n]', lambda m: unescape[m[0]], label["value"])) for label in labels),
        )
        if not families or families[-1] != match["name"]:
            assert match["name"] not in families, (
                f"the samples of {match['name']} are interleaved with another family's"
            )
            families.append(match["name"])
        assert key not in samples, f"a sample twice: {line!r}"
        samples[key] = float(match["value"].replace("Inf", "inf"))
    return samples


def polars_frame() -> object:
    """A stand-in for a polars DataFrame: an object of a class of polars' module, by which name alone forecaster knows
    it (polars is no dependency of forecaster's, and is not installed here)."""
    return type("DataFrame", (), {"__module__": "polars.dataframe.frame"})()


#: Debian's Chromium, which the browser tests drive (installed by them when missing: `chromium_path`)
CHROMIUM = Path("/usr/bin/chromium")
#: headless, and nothing of Chromium's own reaching out to the network (its updates, sync, first-run pages), which a
#: machine without one answers with refusals; --no-sandbox: run as root
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> Path:
    """Debian's Chromium, installed with apt-get when it is missing and this is root on Debian (as CI is); otherwise
    the browser tests are skipped, saying why, except under CI, where they fail: a green run must have run them."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() == 0 and shutil.which("apt-get"):
        quiet = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
            subprocess.run(command, env=quiet, capture_output=True, check=False, timeout=900)
    if CHROMIUM.exists():
        return CHROMIUM
    reason = f"no {CHROMIUM}, and it could not be installed (apt-get install chromium, as root on Debian)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session, driven by Playwright, which never downloads a browser of its own here:
    it launches Debian's."""
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(path), args=CHROMIUM_ARGS)
        yield launched
        launched.close()
