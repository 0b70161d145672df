"""The web page at scale, measured in a real headless Chromium with the Performance API.

Over bench/status_scale.py's project of 1,000 daily assets x 3,650 days (run that first:
`python bench/status_scale.py --assets 1000 --repeats 1`), it starts `assetflow ui`, warms
it once, then measures (medians of --repeats):

- graph first paint: from navigation start to every asset box drawn;
- one asset's grid: from the click on an asset to its 3,650 cells drawn;
- one asset's page opened by its link (`#asset/NAME`), status read anew: from navigation
  start to its cells drawn (with `--project bench/.work/million_10 --asset five`, after
  `python bench/million.py`: ten years of five-minute windows drawn a cell a day);
- the graph's JSON size, and the API's own time for /api/graph and /api/assets/NAME.

    python bench/ui_scale.py [--project bench/.work/assets_1000_3650_0] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOW = "2025-06-01T00:00:00"
FRESH_FOR = 5.0  # assetflow.web.server.FRESH_FOR
CHROMIUM = next(p for p in ("/usr/bin/chromium", "/usr/lib/chromium/chromium") if Path(p).exists())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed_get(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        body = response.read()
    return time.perf_counter() - started, len(body)


def start_ui(project: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """`assetflow ui` over the project on a free port, once it answers: the process and its
    base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "assetflow", "--project", str(project), "--now", NOW,
         "ui", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(200):
        try:
            timed_get(f"{base}/api/runs")
            break
        except OSError:
            time.sleep(0.1)
    return server, base


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--project", type=Path, default=REPO / "bench/.work/assets_1000_3650_0")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--asset", default="a500")
    options = parser.parse_args()
    if not (options.project / "warehouse").exists():
        raise SystemExit(f"{options.project}: run bench/status_scale.py first")
    env = {**os.environ, "BENCH_CHANGED_PARTITION": "2020-06-23"}
    server, base = start_ui(options.project, env)
    try:
        timed_get(f"{base}/api/graph")  # warm: definitions loaded, caches filled
        api_graph = [timed_get(f"{base}/api/graph") for _ in range(options.repeats)]
        fresh = []  # a status read anew: the page keeps one for FRESH_FOR seconds
        for _ in range(options.repeats):
            time.sleep(FRESH_FOR + 0.2)
            fresh.append(timed_get(f"{base}/api/graph")[0])
        api_grid = [
            timed_get(f"{base}/api/assets/{options.asset}")[0] for _ in range(options.repeats)
        ]
        from playwright.sync_api import sync_playwright

        paints, warm_paints, grids, direct = [], [], [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            assets = len(json.loads(urllib.request.urlopen(f"{base}/api/graph").read())["assets"])
            drawn = f"document.querySelectorAll('#graph .node').length === {assets}"
            for n in range(2 * options.repeats):  # a status read anew, then one kept
                if n % 2 == 0:
                    time.sleep(FRESH_FOR + 0.2)
                page.goto(f"{base}/")
                page.wait_for_function(drawn, timeout=60000)
                paint = page.evaluate("performance.now()") / 1000
                (paints if n % 2 == 0 else warm_paints).append(paint)
                page.evaluate("window.__t0 = performance.now()")
                page.locator(f'#graph .node[data-name="{options.asset}"]').click()
                page.wait_for_function("document.querySelectorAll('#grid .cell').length > 0")
                grids.append(page.evaluate("performance.now() - window.__t0") / 1000)
            for _ in range(options.repeats):  # a link to the asset's page, status read anew
                time.sleep(FRESH_FOR + 0.2)
                page.goto("about:blank")
                page.goto(f"{base}/#asset/{options.asset}")
                page.wait_for_function("document.querySelectorAll('#grid .cell').length > 0")
                direct.append(page.evaluate("performance.now()") / 1000)
                cells = page.evaluate("document.querySelectorAll('#grid .cell').length")
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    kept = statistics.median(t for t, _ in api_graph)
    print(f"graph first paint  {statistics.median(paints):5.2f} s, status read anew  (<= 1 s)")
    print(
        f"                   {statistics.median(warm_paints):5.2f} s, status kept ({FRESH_FOR:g} s)"
    )
    print(
        f"asset grid         {statistics.median(grids):5.2f} s, clicked from the graph (<= 0.5 s)"
    )
    print(
        f"asset page         {statistics.median(direct):5.2f} s, opened by its link, status read"
        f" anew, {cells:,} cells (<= 1 s)"
    )
    print(f"/api/graph         {statistics.median(fresh):5.2f} s read anew, {kept:.2f} s kept,"
          f" {api_graph[0][1]:,} bytes (<= 300 KB)")  # fmt: skip
    print(f"/api/assets/{options.asset}    {statistics.median(api_grid):5.2f} s")
    print(f"medians of {options.repeats}, warm server, {assets} boxes")


if __name__ == "__main__":
    main()
