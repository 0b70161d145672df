"""The screenshots in docs/ui.md, made from the example on real data (not by hand).

    python docs/screenshots/make.py      # writes docs/screenshots/*.png (needs chromium)

It copies the example into a temporary folder, materializes January 2013, lands a late
correction for 2013-01-15 (so that day and what reads it are stale), starts `assetflow ui`
and photographs the graph, a grid with a node's panel open, and a run's timeline.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CHROMIUM = next(p for p in ("/usr/bin/chromium", "/usr/lib/chromium/chromium") if Path(p).exists())


def assetflow(root: Path, *args: str, wait: bool = True):  # noqa: ANN201
    command = [sys.executable, "-m", "assetflow", "--project", str(root), *args]
    if wait:
        return subprocess.run(command, check=True, capture_output=True, text=True)
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "example"
        root.mkdir()
        shutil.copytree(REPO / "definitions", root / "definitions",
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
        (root / "pyproject.toml").write_text(
            '[tool.assetflow]\nfrom = "2013-01-01"\nto = "2013-01-31"\n'
        )
        assetflow(root, "materialize")
        late = root / "landing" / "flights" / "2013-01-15.csv"
        lines = late.read_text().splitlines()
        late.write_text("\n".join([*lines, lines[1]]) + "\n")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = assetflow(root, "ui", "--port", str(port), wait=False)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"{base}/api/runs")
                    break
                except OSError:
                    time.sleep(0.1)
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM, args=["--headless", "--no-sandbox"]
                )
                page = browser.new_page(viewport={"width": 1100, "height": 420})
                page.goto(f"{base}/")
                page.wait_for_selector("#graph .node")
                page.screenshot(path=str(HERE / "graph.png"))
                page.set_viewport_size({"width": 1100, "height": 640})
                page.goto(f"{base}/#asset/rolling_7d_delays")
                page.wait_for_selector("#grid .cell")
                page.locator('#grid .cell[data-key="2013-01-17"]').click()
                page.wait_for_selector("#why:not([hidden])")
                page.screenshot(path=str(HERE / "grid.png"), full_page=True)
                page.click("#plan-button")
                page.wait_for_selector("#plan li")
                page.click("#run-button")
                page.wait_for_selector("#run-state[data-status]", timeout=120000)
                page.goto(f"{base}/#runs")
                page.wait_for_selector("#runs-table tr.run")
                page.locator("#runs-table tr.run").first.click()
                page.wait_for_selector("#gantt rect.bar")
                page.screenshot(path=str(HERE / "run.png"), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(10)
    print("wrote", ", ".join(str(p.relative_to(REPO)) for p in sorted(HERE.glob("*.png"))))


if __name__ == "__main__":
    main()
