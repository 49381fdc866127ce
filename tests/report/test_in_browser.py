"""The reports opened in a real browser: headless Debian Chromium, driven by Playwright (the session's `browser`).

Each kind of report is made as a user makes it (a model's from Python, a
backtest's from Python, a night's by `forecaster batch`, twice) from small
real fits, opened from its file as a user opens it, and read as a person
would: the title, the rows of the table, sorting, the search, a drawing a
row shown, the links of the exceptions. A screenshot of each is kept in
tests/artefacts/ (git-ignored). A model whose series are named with markup
and scripts shows the names as text and runs nothing.
"""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from playwright.sync_api import expect

import forecaster
from conftest import DATA, ROOT, jobs_file, run

ARTEFACTS = ROOT / "tests" / "artefacts"
#: series names a report must show as text, running nothing: each would set window.pwned if it ran
HOSTILE = [
    "</script><script>window.pwned = 1</script>",
    '<img src=x onerror="window.pwned = 2">',
    "\"quoted\" & 'single' <b>bold</b>",
    "line\u2028separated\u2029too",
]
SERIES = 64  #: more than a page of the table (50 rows)
TINY = {"members": 1, "epochs": 2, "hidden_size": 2, "threads": 1, "progress": False}


def _many_series(path):
    """A wide CSV of SERIES daily series of 40 days: a level, a weekly season and noise; the first ones named with
    markup."""
    rng = np.random.default_rng(0)
    names = HOSTILE + [f"s{k:02d}" for k in range(SERIES - len(HOSTILE))]
    level = rng.uniform(10, 100, len(names))
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["date", *names])
        for day in range(40):
            values = level * (1 + 0.1 * np.sin(2 * np.pi * day / 7)) + rng.normal(0, 1, len(names))
            writer.writerow([str(np.datetime64("2024-01-01") + day), *np.round(values, 3)])
    return names


@pytest.fixture(scope="module")
def model_report(tmp_path_factory):
    directory = tmp_path_factory.mktemp("model-report")
    names = _many_series(directory / "many.csv")
    model = forecaster.fit(directory / "many.csv", horizon=7, **TINY)
    return model.save_report(directory / "many.html", recent=directory / "many.csv"), names  # drawn with its history


@pytest.fixture
def page(browser):
    """A page of the session's browser; what it says on its console, its dialogs and its errors are kept."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.said = []  # type: ignore[attr-defined]
    opened.on("console", lambda message: opened.said.append(f"console {message.type}: {message.text}"))
    opened.on("pageerror", lambda error: opened.said.append(f"error: {error}"))
    opened.on("dialog", lambda dialog: (opened.said.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    yield opened
    context.close()


def _screenshot(page, name: str) -> None:
    ARTEFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / name), full_page=True)


def _row_names(page) -> list[str]:
    return page.locator("#series-table tbody th").all_text_contents()


def test_a_model_report(page, model_report):
    path, _ = model_report
    page.goto(path.as_uri())
    assert page.title() == f"forecaster: the model fitted on {path.parent / 'many.csv'}"
    assert page.locator("#series-table tbody tr").count() == 50  # a page of rows, not all 64
    assert page.locator("#series-table tbody svg.drawing").count() == 50  # a drawing a row shown, no more
    history = page.locator("#series-table tbody svg.drawing").first.get_attribute("aria-label")
    assert "2024-01-13 to 2024-02-16: history from " in history  # 4 horizons of the data: more than model.json keeps
    assert page.locator("#series-status").text_content().startswith(f"Showing 1\u201350 of {SERIES} series")
    ratios = [float(text) for text in page.locator("#series-table tbody td:nth-child(5)").all_text_contents()]
    assert ratios == sorted(ratios, reverse=True)  # worst against seasonal naive first, as the header's aria-sort says
    assert page.locator("th[data-column='4']").get_attribute("aria-sort") == "descending"
    _screenshot(page, "model-report.png")

    page.get_by_role("button", name="Next page").click()
    assert page.locator("#series-table tbody tr").count() == SERIES - 50
    assert page.locator("#series-table tbody svg.drawing").count() == SERIES - 50

    page.get_by_role("button", name="Series").click()  # by name, A to Z
    assert page.locator("th[data-column='0']").get_attribute("aria-sort") == "ascending"
    shown = _row_names(page)
    assert shown == sorted(shown, key=str.lower)[: len(shown)] and len(shown) == 50
    page.locator("th[data-column='0'] button").focus()
    page.keyboard.press("Enter")  # the keyboard sorts too: Z to A
    assert page.locator("th[data-column='0']").get_attribute("aria-sort") == "descending"
    assert _row_names(page)[0] == "s59"

    page.get_by_label("Search series").fill("s05")
    expect(page.locator("#series-table tbody tr")).to_have_count(1)  # a locator: the page's policy allows no eval
    assert _row_names(page) == ["s05"]
    assert "matching “s05”" in page.locator("#series-status").text_content()
    mae, naive, seasonal = page.locator("#series-table tbody td").all_text_contents()[:3]
    said = re.escape(f"MAE {mae} (naive {naive}, seasonal naive {seasonal})")
    assert re.search(rf"\n  s05 +{said}\n", page.locator("details pre").text_content())  # as fit's summary says
    assert not page.said  # type: ignore[attr-defined]


def test_a_hostile_model_shows_its_names_as_text_and_runs_nothing(page, model_report):
    path, names = model_report
    page.goto(path.as_uri())
    page.get_by_label("Search series").fill("<")  # the names with markup in them
    expect(page.locator("#series-table tbody tr")).to_have_count(3)  # a locator: the page's policy allows no eval
    assert sorted(_row_names(page)) == sorted(name for name in names if "<" in name)
    page.get_by_label("Search series").fill("separated")
    expect(page.locator("#series-table tbody tr")).to_have_count(1)  # a locator: the page's policy allows no eval
    assert _row_names(page) == [HOSTILE[3]]
    summary = page.locator("details pre").text_content()
    assert all(name[:30] in summary for name in HOSTILE[:3])  # the fit's summary, as text
    assert page.evaluate("window.pwned") is None
    assert page.locator("#series-table img, #series-table b, body > script").count() == 2  # the page's own two scripts
    assert not page.said  # type: ignore[attr-defined]  no dialog, no error, no script refused by the policy


def test_a_link_to_a_row_shows_and_draws_it(page, model_report):
    path, _ = model_report
    page.goto(path.as_uri() + f"#row-{SERIES - 1}")  # opened at a row: it is shown, drawn and focused
    row = page.locator(f"#row-{SERIES - 1}")
    assert row.count() == 1 and row.locator("svg.drawing").count() == 1
    assert page.evaluate("document.activeElement.closest('tr').id") == f"row-{SERIES - 1}"
    first = page.locator("#page-where").text_content() == "Page 1 of 2"  # where the table's order put the row
    page.get_by_role("button", name="Next page" if first else "Previous page").click()
    other = page.locator("#series-table tbody tr").first.get_attribute("id")
    page.get_by_role("button", name="Previous page" if first else "Next page").click()
    page.goto(path.as_uri() + f"#{other}")  # a link to a row of another page turns to it
    assert page.locator("#page-where").text_content() == f"Page {2 if first else 1} of 2"
    assert page.evaluate("document.activeElement.closest('tr').id") == other


def test_printed_without_controls(page, model_report):
    path, _ = model_report
    page.goto(path.as_uri())
    page.emulate_media(media="print")
    assert not page.get_by_label("Search series").is_visible()
    assert page.locator("#series-table tbody svg.drawing").first.is_visible()


def test_the_summary_and_exceptions_need_no_script(browser, model_report):
    path, _ = model_report
    context = browser.new_context(java_script_enabled=False)
    quiet = context.new_page()
    quiet.goto(path.as_uri())
    assert quiet.locator("h2#summary").is_visible() and quiet.locator("h2#exceptions").is_visible()
    assert "0.4.0" in quiet.locator("dl.facts").text_content()
    assert quiet.locator("#series-table tbody tr").count() == 0  # the table is the script's: it says so
    context.close()


def test_a_backtest_report(page, tmp_path):
    result = forecaster.backtest(DATA / "airline.csv", folds=2, levels=80, **TINY)
    path = result.save_report(tmp_path / "backtest.html", source="airline.csv")
    page.goto(path.as_uri())
    assert page.title() == "forecaster: backtest of airline.csv"
    assert page.locator("#series-table tbody tr").count() == 1
    drawing = page.locator("#series-table tbody svg.drawing")
    assert drawing.count() == 1 and drawing.locator(":scope > g").count() == 2  # a panel a fold
    for line in ("history", "forecast", "naive", "seasonal-naive", "drift"):
        assert drawing.locator(f"path.line-{line}").count() == 2, line
    coverage = f"{result.coverage['80']:.1%}"
    assert page.get_by_role("row", name=f"80% {coverage}").count() == 1  # as forecaster backtest prints it
    _screenshot(page, "backtest-report.png")
    assert not page.said  # type: ignore[attr-defined]


def test_a_nights_report(page, tmp_path):
    """Two nights: the first refits, the second reuses the model on a feed one day longer (its forecast moves), and
    one job fails both nights. The second night's page names the failure, the series that moved, and draws them
    with the first night's forecast."""
    (tmp_path / "data").mkdir()
    lines = (DATA / "stock.csv").read_text().splitlines()
    (tmp_path / "data" / "stock.csv").write_text("\n".join([lines[0], *lines[-200:-1]]) + "\n")
    night = {"name": "stocks", "input": "data/stock.csv", "model": "models/stock", "levels": [80]}
    missing = {"name": "shops", "input": "data/shops.csv", "model": "models/shops", "output": "forecasts/shops.csv"}
    top = {"summary": "runs/summary-{date}.json", "report": "public/night-{date}.html"}
    settings = {"horizon": 5, "epochs": 2, "members": 1, "hidden_size": 2}
    jobs = jobs_file(tmp_path, {**night, "output": "forecasts/stock-1.csv"}, missing, defaults=settings, top=top)
    assert run("batch", jobs).returncode == 75  # the missing feed is late: retryable
    (tmp_path / "data" / "stock.csv").write_text("\n".join([lines[0], *lines[-200:]]) + "\n")
    second = {**night, "output": "forecasts/stock-2.csv", "refit": "never"}
    jobs = jobs_file(tmp_path, second, missing, defaults=settings, top=top)
    result = run("batch", jobs, "--run-id", "night-2")
    assert result.returncode == 75, result.stderr
    pages = list((tmp_path / "public").glob("night-*.html"))
    assert len(pages) == 1  # the second night's replaced the first's: one date

    page.goto(pages[0].as_uri())
    assert page.title().startswith("forecaster: the night's batch, ")
    failed = page.locator("h3:text('Jobs that failed, were late or did not run') + ul li")
    assert failed.count() == 1 and "shops: late" in failed.text_content()
    assert "(may pass on a retry)" in failed.text_content()
    assert page.locator("dt:text('Run id') + dd").text_content() == "night-2 (from --run-id)"
    moved = page.locator("h3:text('Moved most since the last run') + ul a")
    assert moved.count() == 4  # every series moved with a day more of its feed
    assert page.locator("#series-table tbody tr").count() == 4
    assert page.locator("#series-table tbody path.line-previous").count() == 4  # the first night's forecast
    first = moved.first.text_content()
    moved.first.click()
    focused = page.evaluate("document.activeElement.closest('tr').id")
    assert page.locator(f"#{focused} th").text_content() == first.split(" / ")[1]
    _screenshot(page, "night-report.png")
    assert not page.said  # type: ignore[attr-defined]

    summary = json.loads(next((tmp_path / "runs").glob("summary-*.1.json")).read_text())
    assert [job["status"] for job in summary["jobs"]] == ["ok", "late"]
