"""The page where there is more than it draws at once, in a real headless Chromium: an asset
with more partitions than cells (a cell a day with its counts; a click opens the day), and a
run with more attempts than a screen (the Gantt draws rows as they come into view)."""

import json

import pytest
from test_ui_browser import CHROMIUM, REQUIRED, cli, page, serving  # noqa: F401

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None and not REQUIRED, reason="no chromium here: apt-get install chromium"
    ),
]

PIPELINE = """
from assetflow import asset, minutely


@asset(partitions=minutely("2024-01-01", "2024-01-20", every=5))
def ticks(ctx):
    return f"SELECT '{ctx.partition}' AS at"
"""
NOW = "2024-02-01T00:00:00"


@pytest.fixture
def served(project):
    project.write("definitions/pipeline.py", PIPELINE)
    hour = ["--from", "2024-01-05T10:00", "--to", "2024-01-05T10:55"]
    assert cli(project, "--now", NOW, "materialize", *hour).returncode == 0
    with serving(project, "--now", NOW) as base:
        yield project, base


def test_a_five_minute_asset_is_drawn_a_day_a_cell_and_a_day_opens(served, page):  # noqa: F811
    project, base = served
    status = json.loads(cli(project, "--now", NOW, "status", "ticks", "--json").stdout)
    counts = status["assets"][0]["counts"]
    # 2024-01-01T00:00 up to the end's instant, 2024-01-20T00:00: 19 days and a window
    assert counts["fresh"] == 12 and counts["missing"] == 19 * 288 + 1 - 12
    page.goto(f"{base}/#asset/ticks")
    page.wait_for_selector("#grid .cell")
    cells = page.locator("#grid .cell")
    assert cells.count() == 20  # 5,473 partitions: a cell a day
    summary = page.locator("#asset-summary").inner_text()
    assert "(a cell a day)" in summary
    assert f"{counts['fresh']} fresh" in summary and f"{counts['missing']:,} missing" in summary
    day = page.locator('#grid .cell[data-key="2024-01-05"]')
    assert day.get_attribute("title") == (
        "2024-01-05T00:00..2024-01-05T23:55: 12 fresh, 0 stale, 276 missing, 0 failed — missing"
    )
    day.click()
    page.wait_for_function("document.querySelectorAll('#grid .cell').length === 288")
    assert "#asset/ticks/2024-01-05T00:00..2024-01-05T23:55" in page.url
    fresh = page.locator("#grid .cell.fresh")
    assert fresh.count() == 12 and fresh.first.get_attribute("data-key") == "2024-01-05T10:00"
    # One partition's cell is a node again: its why.
    fresh.first.click()
    page.wait_for_selector("#why:not([hidden])")
    assert "ticks[2024-01-05T10:00]" in page.locator("#why").inner_text()


def test_a_long_runs_gantt_draws_the_rows_in_view_and_more_as_they_scroll_in(project, page):  # noqa: F811
    project.write("definitions/pipeline.py", PIPELINE)
    hours = ["--from", "2024-01-02T00:00", "--to", "2024-01-02T19:55"]  # 240 windows
    assert cli(project, "--now", NOW, "materialize", *hours).returncode == 0
    run_id = json.loads(cli(project, "runs", "--json").stdout)[0]["run_id"]
    with serving(project, "--now", NOW) as base:
        page.goto(f"{base}/#run/{run_id}")
        page.wait_for_selector("#gantt rect.bar")
        bars = page.locator("#gantt rect.bar")
        first = bars.count()
        assert 0 < first < 240  # what is in view, and a margin
        rows = [int(r) for r in bars.evaluate_all("bs => bs.map(b => b.dataset.row)")]
        assert rows == list(range(first))
        page.locator("#gantt").scroll_into_view_if_needed()
        page.mouse.wheel(0, 240 * 16)
        page.wait_for_function("document.querySelector('#gantt rect.bar[data-row=\"239\"]')")
        drawn = bars.evaluate_all("bs => bs.map(b => Number(b.dataset.row))")
        assert len(set(drawn)) == len(drawn) and first < len(drawn) < 240  # none twice
        last = page.locator('#gantt rect.bar[data-row="239"]')
        assert last.get_attribute("data-status") == "success"


MULTI = """
from assetflow import asset, daily, multi, static


@asset(partitions=multi(day=daily("2024-01-01", "2024-01-10"), region=static("eu", "us", "apac")))
def sales(ctx):
    return "SELECT 1 AS n"
"""


def test_a_multi_dimension_asset_shows_one_key_of_a_dimension_when_picked(project, page):  # noqa: F811
    project.write("definitions/pipeline.py", MULTI)
    assert cli(project, "--now", NOW, "materialize", "--partition", "2024-01-03|us").returncode == 0
    with serving(project, "--now", NOW) as base:
        page.goto(f"{base}/#asset/sales")
        page.wait_for_selector("#grid .cell")
        assert page.locator("#grid .cell").count() == 30
        picker = page.locator('#dimension-picker select[data-dimension="region"]')
        assert picker.locator("option").all_inner_texts() == ["all 3", "eu", "us", "apac"]
        picker.select_option("us")
        page.wait_for_function("document.querySelectorAll('#grid .cell').length === 10")
        keys = page.locator("#grid .cell").evaluate_all("cs => cs.map(c => c.dataset.key)")
        assert keys == [f"2024-01-{d:02d}|us" for d in range(1, 11)]
        assert page.locator("#grid .cell.fresh").get_attribute("data-key") == "2024-01-03|us"
        summary = page.locator("#asset-summary").inner_text()
        assert "shown 2024-01-01|us..2024-01-10|us: 9 missing, 1 fresh" in summary
        assert (
            page.locator('#dimension-picker select[data-dimension="region"]').input_value() == "us"
        )
        page.locator('#dimension-picker select[data-dimension="region"]').select_option("")
        page.wait_for_function("document.querySelectorAll('#grid .cell').length === 30")
