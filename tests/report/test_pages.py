"""The report's page without a browser: what it embeds, what it allows, where it is written, what it imports, and the
doors' refusals (tests/report/test_in_browser.py opens the pages in Chromium)."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import DATA, FORECASTER, assert_clean_error, invoke, run
from forecaster.report.drawing import panel
from forecaster.report.page import Column, Page, Row, drawn, embedded, render


def _page(name: str) -> str:
    return render(
        Page(
            title=f"a report of {name}",
            lead=name,
            sections=[],
            columns=[Column("Series", numeric=False)],
            rows=[Row([name], [name], [])],
            sort=(0, False),
        )
    )


def test_embedded_data_cannot_end_its_script_element():
    hostile = "</script><!-- <script> & \u2028\u2029 'quoted\" é"
    found = embedded({"name": hostile})
    assert not set("<>&\u2028\u2029") & set(found)
    assert json.loads(found) == {"name": hostile}  # the same text, once the page's script parses it


def test_the_page_runs_its_own_script_alone_and_loads_nothing():
    page = _page("</script><script>alert(1)</script>")
    policy = html.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)[1])
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1  # the page's own; the name is text, its script tags escaped
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy
    assert "default-src 'none'" in policy and "unsafe" not in policy
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in page
    assert not re.search(r"\ssrc=|<link|@import|url\(|https?://(?!www\.w3\.org/2000/svg)", page)  # nothing fetched


def test_drawn_values_keep_four_digits_and_say_nothing_of_what_is_not_a_number():
    found = drawn([1234.5678, 0.000123456, 2.0, float("nan"), float("inf"), -7.0])
    assert found == [1235, 0.0001235, 2, None, None, -7]


def test_a_panel_places_each_line_at_its_own_times():
    days = pd.date_range("2024-01-01", periods=6, freq="D")
    history = ("h", pd.DatetimeIndex([days[0], days[1], days[3]]).as_unit("s"), [1.0, 2.0, 3.0])  # a gap on the 3rd
    previous = ("p", list(days[2:5]), [9.0, 9.0, 9.0])
    found = panel([history, previous], [(0, list(days[4:6]), np.array([0.0, 0.0]), np.array([5.0, 5.0]))], days[4])
    assert found.points == 6 and found.origin == 4
    assert found.lines == [("h", 0, [1, 2, None, 3]), ("p", 2, [9, 9, 9])]
    assert found.bands == [(0, 4, [0, 0], [5, 5])]
    assert found.labels == ("2024-01-01", "2024-01-05", "2024-01-06")


def _imported(*args) -> str:
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    result = subprocess.run([str(FORECASTER), *map(str, args)], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_a_models_report_beside_it_imports_no_lightning(tiny_model):
    imported = _imported("report", tiny_model)
    assert "lightning" not in imported and "sklearn" not in imported
    page = tiny_model.with_name(tiny_model.name + ".html").read_text()
    assert f"<title>forecaster: the model {tiny_model}</title>" in page
    assert set(os.listdir(tiny_model)) == {"model.json", "weights.safetensors"}  # beside it, never in it


def test_a_nights_report_imports_no_torch(tmp_path):
    summary = tmp_path / "summary-2026-03-01.json"
    failed = {"name": "shops", "input": "in.csv", "model": "m", "status": "failed", "error": "no such file"}
    document = {"format_version": 1, "jobs_file": "jobs.toml", "status": "failed", "jobs": [failed]}
    summary.write_text(json.dumps(document))
    imported = _imported("report", summary)
    assert " torch" not in imported and "lightning" not in imported
    page = (tmp_path / "summary-2026-03-01.html").read_text()
    assert '<a href="#job-0">shops</a>: failed: no such file' in page


def test_a_models_report_drawn_from_its_data(tmp_path, tiny_model):
    def history(*args) -> list:
        assert invoke("report", tiny_model, "--out", tmp_path / "r.html", *args).returncode == 0
        data = re.search(r'id="report-data">(.*?)</script>', (tmp_path / "r.html").read_text(), re.S)[1]
        return json.loads(data)["rows"][0][2][0]["l"][0][2]  # the first row's panel's first line: its history

    kept = history()
    assert len(kept) == 4  # the window model.json keeps
    drawn = history("--csv", DATA / "statquest.csv")
    assert len(drawn) > len(kept) and drawn[-4:] == kept  # the data's: longer, ending as the model's


def test_a_models_exceptions_rank_its_series_against_seasonal_naive_even_one_fitted_before_it_was_kept(tmp_path):
    """The exceptions and the table's ratio are the model's held-out MAE over seasonal naive's, as model.json keeps
    both (naive's would list other figures); a model.json written before seasonal naive's errors were kept is still
    read, and its page says they are not known rather than that no series is worse."""
    rng = np.random.default_rng(7)
    weeks = [5.0, 40, 10, 60, 20, 80, 30]
    week = np.concatenate([np.tile(weeks, 6), np.tile(weeks[::-1], 4)])  # a new season: seasonal naive's at once
    frame = pd.DataFrame({"a": week + rng.normal(0, 0.5, 70), "b": 2 * week + rng.normal(0, 0.5, 70)})
    frame.insert(0, "date", pd.date_range("2024-01-01", periods=70, freq="D").strftime("%Y-%m-%d"))
    frame.to_csv(tmp_path / "weekly.csv", index=False)
    fast = ("--members", 1, "--epochs", 2, "--hidden-size", 2, "--horizon", 7, "--no-fallback")
    assert invoke("fit", tmp_path / "weekly.csv", "--out", tmp_path / "m", *fast).returncode == 0
    assert invoke("report", tmp_path / "m", "--out", tmp_path / "r.html").returncode == 0
    page = html.unescape((tmp_path / "r.html").read_text())
    card = json.loads((tmp_path / "m" / "model.json").read_text())
    for name, scores in card["metrics"]["series"].items():
        relative = scores["model"]["mae"] / scores["seasonal_naive"]["mae"]
        assert relative > 1 and scores["naive"]["mae"] > 2 * scores["seasonal_naive"]["mae"]
        assert f"{name}</a>: {relative:.3f} times the seasonal naive forecast's error" in page
    assert "seasonal naive MAE" in page  # the fit's summary, as fit printed it

    def unkept(card: dict) -> None:
        metrics = card["metrics"]
        for scores in [metrics, *metrics["series"].values()]:
            del scores["seasonal_naive"]

    edit = json.loads((tmp_path / "m" / "model.json").read_text())
    unkept(edit)
    (tmp_path / "m" / "model.json").write_text(json.dumps(edit))
    assert invoke("report", tmp_path / "m", "--out", tmp_path / "old.html").returncode == 0
    old = html.unescape((tmp_path / "old.html").read_text())
    assert "Not known: this model.json was written by a forecaster that kept only the naive forecast's errors" in old
    assert "times the seasonal naive forecast's error" not in old
    assert invoke("predict", tmp_path / "m", "--out", tmp_path / "f.csv").returncode == 0


def test_the_doors_refuse_before_any_work(tmp_path, tiny_model):
    assert_clean_error(invoke("report", tmp_path / "nowhere"), "nowhere: no such model directory or batch summary")
    assert_clean_error(invoke("report", tiny_model, "--out", tmp_path), str(tmp_path), "a directory", "--out")
    assert_clean_error(invoke("report", tiny_model, "--csv", tmp_path / "none.csv"), "none.csv")
    (tmp_path / "not-a-summary.json").write_text("{}")
    assert_clean_error(invoke("report", tmp_path / "not-a-summary.json"), "not-a-summary.json")
    os.mkfifo(tmp_path / "fifo.html")
    result = run("fit", DATA / "statquest.csv", "--out", tmp_path / "m", "--report", tmp_path / "fifo.html")
    assert_clean_error(result, "fifo.html", "a FIFO", "--report")
    assert not (tmp_path / "m").exists()  # refused before training


def test_a_jobs_files_report_key(tmp_path):
    from conftest import jobs_file

    job = {"name": "a", "input": str(DATA / "statquest.csv"), "model": "m", "output": "f.csv"}
    jobs = jobs_file(tmp_path, job, top={"report": "public/night-{date}.html"})
    plan = json.loads(invoke("batch", jobs, "--dry-run", "--json").stdout)
    assert re.fullmatch(re.escape(str(tmp_path / "public" / "night-")) + r"\d{4}-\d{2}-\d{2}\.html", plan["report"])
    assert "--report" not in invoke("batch", jobs, "--dry-run", "--report", tmp_path / "x.html").stderr
    (tmp_path / "public").mkdir()
    os.mkfifo(tmp_path / "x.html")
    assert_clean_error(invoke("batch", jobs, "--dry-run", "--report", tmp_path / "x.html"), "a FIFO", "--report")
    shard = json.loads(invoke("batch", "dry-run", jobs, "--json", "--shard", "2/3").stdout)
    assert shard["report"] == plan["report"].removesuffix(".html") + ".shard-2-of-3.html"  # a shard's own page
    given = json.loads(invoke("batch", "dry-run", jobs, "--json", "--report", tmp_path / "n-{date}.html").stdout)
    date = re.search(r"\d{4}-\d{2}-\d{2}", plan["report"])[0]
    assert given["report"] == str(tmp_path / f"n-{date}.html")  # --report's, its {date} filled
    bad = jobs_file(tmp_path, job, top={"report": "night-{name}.html"})
    assert_clean_error(invoke("batch", bad, "--dry-run"), "key 'report'", "{name}")


@pytest.mark.parametrize("levels", [(99.9,)])
def test_a_level_the_model_cannot_draw_is_refused(tiny_model, tmp_path, levels):
    result = invoke("report", tiny_model, "--out", tmp_path / "r.html", *(f"--level={level}" for level in levels))
    assert_clean_error(result, "99.9")
    assert not (tmp_path / "r.html").exists()


def _summary(path, jobs_file, *jobs):
    path.write_text(json.dumps({"format_version": 1, "jobs_file": jobs_file, "status": "ok", "jobs": list(jobs)}))
    return path


def test_the_last_runs_forecast_is_the_one_the_newest_earlier_summary_names(tmp_path):
    from forecaster.report.night import last_forecasts

    def job(name, output):
        return {"name": name, "input": "in.csv", "model": "m", "status": "ok", "output": str(tmp_path / output)}

    for name in ("a-1.csv", "a-2.csv", "b.csv"):
        (tmp_path / name).write_text("date,x\n")
    oldest = _summary(tmp_path / "summary-1.json", "jobs.toml", job("a", "a-1.csv"), job("b", "b.csv"))
    other = _summary(tmp_path / "summary-x.json", "other.toml", job("a", "a-1.csv"))
    earlier = _summary(tmp_path / "summary-2.json", "jobs.toml", job("a", "a-2.csv"), job("b", "b.csv"))
    (tmp_path / "summary-junk.json").write_text("not a summary")
    tonight = _summary(tmp_path / "summary-3.json", "jobs.toml", job("a", "a-3.csv"), job("b", "b.csv"))
    for age, path in enumerate([oldest, other, earlier, tonight]):
        os.utime(path, ns=(age * 10**9, age * 10**9))
    found = last_forecasts(tonight, json.loads(tonight.read_text()))
    # a: the newest earlier run's of the same jobs file; b: replaced each night (one name), so nothing to compare
    assert found == {"a": tmp_path / "a-2.csv"}


def test_a_change_is_measured_over_the_times_both_forecast():
    from forecaster.report.night import change

    days = list(pd.date_range("2026-03-02", periods=4, freq="D"))
    before = pd.Series([10.0, 10.0, 10.0, 10.0], index=pd.date_range("2026-03-01", periods=4, freq="D"))
    assert change(np.array([11.0, 11.0, 11.0, 99.0]), days, before) == pytest.approx(10.0)  # the 99 has no partner
    assert change(np.array([1.0]), days[:1], pd.Series([0.0], index=days[:1])) is None  # no level to say it of


def test_a_nights_page_says_whose_run_it_was_and_which_failures_may_pass_on_a_retry(tmp_path):
    from forecaster.report.night import night_page
    from forecaster.report.page import render

    late = {"name": "shops", "status": "late", "error": "shops.csv: no such file", "retryable": True}
    bad = {"name": "stocks", "status": "failed", "error": "stock.csv: no rows", "retryable": False}
    document = {
        "jobs_file": "jobs.toml",
        "run_id": "scheduled__2026-03-01",
        "run_id_from": "AIRFLOW_CTX_DAG_RUN_ID",
        "project": "retail",
        "shard": "2/4",
        "host": "batch-7",
        "status": "failed",
        "exit_code": 1,
        "jobs": [late, bad],
    }
    text = html.unescape(render(night_page(document, None)))
    for fact in ("retail", "scheduled__2026-03-01 (from AIRFLOW_CTX_DAG_RUN_ID)", "2/4", "batch-7"):
        assert f"<dd>{fact}</dd>" in text
    assert "shops</a>: late: shops.csv: no such file (may pass on a retry)" in text
    assert "stocks</a>: failed: stock.csv: no rows (fails again until fixed)" in text


def test_a_run_without_a_summary_still_writes_its_page(tmp_path):
    from conftest import jobs_file

    missing = {"name": "shops", "input": "shops.csv", "model": "m", "output": "f.csv"}
    result = invoke("batch", jobs_file(tmp_path, missing), "--report", tmp_path / "night-{date}.html")
    assert result.returncode == 75 and "report written to" in result.stderr  # the missing feed is late: retryable
    (page,) = tmp_path.glob("night-*.html")
    text = page.read_text()
    assert '<a href="#job-0">shops</a>: late: ' in text and "not written (no summary key or --summary)" in text
