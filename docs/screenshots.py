"""The README's pictures of the three reports (docs/report-*.png), made from the sample data as a user makes them.

    .venv/bin/python docs/screenshots.py

A model of data/tourism_quarterly.csv (`forecaster fit --report`), a backtest
of data/airline.csv (`forecaster backtest --report`), and a second night of a
batch of three jobs (tourism, stocks and one whose feed is missing), each
opened in headless Debian Chromium (the test suite's launch) and shot at 1400
pixels wide, the first 1,600 pixels of the page. Small fits (2 epochs, one
member): the pictures show the page, not a good model.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from conftest import CHROMIUM_ARGS, chromium_path, jobs_file  # noqa: E402  the suite's own helpers

FORECASTER = str(Path(sys.executable).with_name("forecaster"))
SMALL = ["--epochs", "2", "--members", "1", "--hidden-size", "4"]
HEIGHT = 1600


def forecaster(*args: object, ok: tuple[int, ...] = (0,)) -> None:
    result = subprocess.run([FORECASTER, *map(str, args)], capture_output=True, text=True, check=False)
    if result.returncode not in ok:
        raise SystemExit(result.stderr)


def pages(scratch: Path) -> dict[str, Path]:
    data = ROOT / "data"
    forecaster("fit", data / "tourism_quarterly.csv", "--horizon", 8, *SMALL, "--out", scratch / "fitted",
               "--report", scratch / "model.html")  # fmt: skip
    forecaster("backtest", data / "airline.csv", "--folds", 3, "--level", 80, "--level", 95, *SMALL,
               "--report", scratch / "backtest.html")  # fmt: skip
    (scratch / "feeds").mkdir()
    tourism = pd.read_csv(data / "tourism_quarterly.csv")
    lines = (data / "stock.csv").read_text().splitlines()
    jobs = [
        {"name": "tourism", "input": "feeds/tourism.csv", "model": "models/tourism", "horizon": 8},
        {"name": "stocks", "input": "feeds/stock.csv", "model": "models/stock", "horizon": 5},
        {"name": "shops", "input": "feeds/shops.csv", "model": "models/shops", "output": "forecasts/shops.csv"},
    ]
    top = {"summary": "runs/summary-{date}.json", "report": "night.html"}
    for night, epochs in (("1", 2), ("2", 3)):  # the first night's feeds a step shorter: the forecasts move
        short = night == "1"
        feed = tourism.groupby("unique_id").head(-1) if short else tourism
        feed.to_csv(scratch / "feeds" / "tourism.csv", index=False)
        (scratch / "feeds" / "stock.csv").write_text("\n".join([lines[0], *lines[-301 : -1 if short else None]]) + "\n")
        dated = [{"output": f"forecasts/{job['name']}-{night}.csv", **job} for job in jobs]
        defaults = {"epochs": epochs, "members": 1, "hidden_size": 4, "levels": [80, 95], "refit": "always"}
        forecaster("batch", jobs_file(scratch, *dated, defaults=defaults, top=top), ok=(75,))  # the missing feed: late
    return {"model": scratch / "model.html", "backtest": scratch / "backtest.html", "night": scratch / "night.html"}


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as driver:
        made = pages(Path(scratch))
        browser = driver.chromium.launch(executable_path=str(chromium_path()), args=CHROMIUM_ARGS)
        for kind, page_file in made.items():
            page = browser.new_page(viewport={"width": 1400, "height": HEIGHT})
            page.goto(page_file.as_uri())
            page.locator("#series-table tbody svg").first.wait_for()
            page.screenshot(path=str(ROOT / "docs" / f"report-{kind}.png"), full_page=False)
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
