"""Benchmark of the report page for many series: its size, and how soon a browser shows it.

    .venv/bin/python bench/report.py                       # 1,000 and 50,000 series
    .venv/bin/python bench/report.py --series 1000 --repeats 5

For each count, writes a wide CSV of that many synthetic series of ``--rows``
business days (bench/batch.py's generator: a level, a trend, a weekly season
and noise, seed 0), fits a small real model on it (`forecaster fit --epochs 1
--members 1 --hidden-size 4`: the page's size does not depend on how well it
learnt), then times `forecaster report MODEL` (the command, start to end:
loading the model, forecasting every series, writing the page) and opens the
page ``--repeats`` times in headless Debian Chromium (Playwright, a fresh page
each time, the file from disk as a user opens it), reading from the browser
itself: first contentful paint (the Paint Timing API's
``first-contentful-paint``: the summary is on screen), the load event's end,
and when the table's first page of rows and drawings is there (polled every
10 ms). Prints a Markdown table of the medians; bench/report.md records it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from batch import write_data  # bench/batch.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from conftest import CHROMIUM_ARGS, chromium_path  # noqa: E402  the suite's own launch of Debian's Chromium

FORECASTER = str(Path(sys.executable).with_name("forecaster"))


def fit(csv: Path, model: Path) -> float:
    started = time.monotonic()
    subprocess.run(
        [FORECASTER, "fit", csv, "--out", model, "--epochs", "1", "--members", "1", "--hidden-size", "4"],
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


def report(model: Path, page: Path) -> float:
    started = time.monotonic()
    subprocess.run([FORECASTER, "report", model, "--out", page], check=True, capture_output=True)
    return time.monotonic() - started


def opened(browser, page_file: Path) -> dict[str, float]:
    """Milliseconds from navigation: first contentful paint, load event end, the table's first page shown."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(page_file.as_uri(), wait_until="commit")
    deadline = time.monotonic() + 120
    while page.evaluate("document.querySelectorAll('#series-table tbody svg').length") == 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{page_file}: the table never showed")
        time.sleep(0.01)
    table = page.evaluate("performance.now()")
    page.wait_for_load_state("load")
    found = page.evaluate(  # the paint's entry may reach the timeline after the load: waited for, not assumed there
        """() => new Promise((resolve) => {
            const done = () => {
                const paint = performance.getEntriesByName('first-contentful-paint')[0];
                if (paint) {
                    resolve({paint: paint.startTime, load: performance.getEntriesByType('navigation')[0].loadEventEnd});
                }
                return Boolean(paint);
            };
            if (!done()) new PerformanceObserver(done).observe({type: 'paint', buffered: true});
        })"""
    )
    page.close()
    return {"paint": found["paint"], "load": found["load"], "table": table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, nargs="+", default=[1000, 50000])
    parser.add_argument("--rows", type=int, default=60, help="business days per series")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print("| series | fit s | `forecaster report` s | page MB | first contentful paint ms | load event ms | table ms |")
    print("|---|---|---|---|---|---|---|")
    with sync_playwright() as driver, tempfile.TemporaryDirectory() as scratch:
        browser = driver.chromium.launch(executable_path=str(chromium_path()), args=CHROMIUM_ARGS)
        for series in args.series:
            directory = Path(scratch) / str(series)
            directory.mkdir()
            write_data(directory, series, 1, args.rows)
            fitting = fit(directory / "part-0000.csv", directory / "model")
            writing = report(directory / "model", directory / "report.html")
            runs = [opened(browser, directory / "report.html") for _ in range(args.repeats)]
            median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            size = (directory / "report.html").stat().st_size / 1e6
            print(f"<!-- {series:,} series: load average {os.getloadavg()[0]:.1f} after opening -->", flush=True)
            print(
                f"| {series:,} | {fitting:.0f} | {writing:.1f} | {size:.1f} | {median['paint']:.0f} | "
                f"{median['load']:.0f} | {median['table']:.0f} |",
                flush=True,
            )
        browser.close()


if __name__ == "__main__":
    main()
