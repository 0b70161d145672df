"""A run's page with 10,000 attempts, measured in a real headless Chromium.

Builds a project of 10 daily assets x 1,000 days whose lineage is written straight into
DuckDB as one run (bench/status_scale.py's writer: every node built once, each with its
attempt, spread over ten minutes), starts `assetflow ui`, then measures (medians of
--repeats): the run page from navigation to its Gantt drawn (the page draws the rows in view,
and more as they scroll into view; the bench scrolls to check), and the API's own time and
size for /api/runs/RUN.

    python bench/gantt.py [--attempts 10000] [--repeats 3]

Target (issue 34): the Gantt of 10,000 attempts drawn <= 1 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
import status_scale  # noqa: E402
from ui_scale import CHROMIUM, start_ui, timed_get  # noqa: E402

ASSETS = 10
# When the frame with the Gantt's first bars was made, from navigation start: the first bar
# inserted, then the next animation frame (before it paints) and a task (after it).
FIRST_FRAME = """
window.__ganttDrawn = new Promise((resolve) => {
  new MutationObserver((_, seen) => {
    if (!document.querySelector("#gantt .bar")) return;
    seen.disconnect();
    requestAnimationFrame(() => setTimeout(() => resolve(performance.now()), 0));
  }).observe(document, { subtree: true, childList: true });
});
"""


def build(work: Path, attempts: int) -> Path:
    from assetflow.defs.loader import load_definitions

    status_scale.DAYS = attempts // ASSETS
    project = work / f"gantt_{attempts}"
    shutil.rmtree(project, ignore_errors=True)
    (project / "definitions").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[tool.assetflow]\n")
    source, edges = status_scale.build_definitions(ASSETS)
    (project / "definitions" / "synthetic.py").write_text(source)
    defs = load_definitions(project / "definitions")
    warehouse = project / "warehouse" / "warehouse.duckdb"
    code = {n: s.code_version for n, s in defs.assets.items()}
    status_scale.write_lineage(warehouse, code, edges)
    with duckdb.connect(str(warehouse)) as conn:  # one run of ten minutes, attempts in turn
        conn.execute(
            "UPDATE assetflow.materializations SET"
            " started_at = TIMESTAMP '2025-05-31 02:00:00' + to_milliseconds(attempt_id * 60),"
            " ended_at = TIMESTAMP '2025-05-31 02:00:00' + to_milliseconds(attempt_id * 60 + 55)"
        )
        conn.execute(
            "INSERT INTO assetflow.runs (run_id, trigger, selection, started_at, ended_at,"
            " status, pid, planned, succeeded, verified, failed, skipped, message)"
            " SELECT 'bench', 'backfill', '{}', min(started_at), max(ended_at), 'success', 1,"
            " count(*), count(*), 0, 0, 0, NULL FROM assetflow.materializations"
        )
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("bench/.work"))
    options = parser.parse_args()
    project = build(options.work, options.attempts)
    server, base = start_ui(project, dict(os.environ))
    try:
        api = [timed_get(f"{base}/api/runs/bench") for _ in range(options.repeats + 1)][1:]
        from playwright.sync_api import sync_playwright

        drawn, seen = [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.add_init_script(FIRST_FRAME)
            for _ in range(options.repeats + 1):
                page.goto("about:blank")
                page.goto(f"{base}/#run/bench")
                page.wait_for_selector("#gantt .bar", timeout=120_000)
                seen.append(page.evaluate("performance.now()") / 1000)  # Playwright saw it
                drawn.append(page.evaluate("window.__ganttDrawn") / 1000)
            bars = page.evaluate("document.querySelectorAll('#gantt .bar').length")
            rows = int(page.locator("#gantt").get_attribute("height")) // 16
            page.mouse.wheel(0, 80_000)  # scrolled half-way down: those rows are drawn too
            page.wait_for_function(
                "[...document.querySelectorAll('#gantt .bar')].some(b => b.dataset.row > 4000)"
            )
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    print(f"{rows:,} attempts of one run; {bars} bars drawn at first (those in view, and more)")
    print(f"run page, Gantt drawn  {statistics.median(drawn[1:]):5.2f} s  (<= 1 s; its frame made)")
    print(f"                       {statistics.median(seen[1:]):5.2f} s  (Playwright saw the bars)")
    print(
        f"/api/runs/bench        {statistics.median(t for t, _ in api):5.2f} s, {api[0][1]:,} bytes"
    )
    print(f"medians of {options.repeats}, warm server")


if __name__ == "__main__":
    main()
