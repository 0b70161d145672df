"""Backfill the example's full year (2013) with and without batching.

Each run starts from an empty warehouse in a fresh copy of the example project and runs
`assetflow backfill --from 2013-01-01 --to 2013-12-31 --yes` as a whole process. Batching
(up to 31 days per task for raw_flights, daily_carrier_delays, rolling_7d_delays and
weather_daily) is switched by ASSETFLOW_EXAMPLE_BATCH, which the example's definitions read.

    python bench/backfill_year.py [--repeats 3] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def fresh_project(work: Path) -> Path:
    project = work / "project"
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    shutil.copytree(
        REPO / "definitions", project / "definitions", ignore=shutil.ignore_patterns("__pycache__")
    )
    (project / "pyproject.toml").write_text("[tool.assetflow]\n")
    landing = REPO / "landing"
    if (landing / ".complete").exists():
        shutil.copytree(landing, project / "landing")
    return project


def backfill(project: Path, batch: int, concurrency: int) -> tuple[float, int]:
    env = {**os.environ, "ASSETFLOW_EXAMPLE_BATCH": str(batch), "COLUMNS": "120"}
    args = [sys.executable, "-m", "assetflow", "--now", "2014-06-01T00:00:00", "backfill",
            "--from", "2013-01-01", "--to", "2013-12-31", "--yes", "--concurrency", str(concurrency)]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"backfill failed: {done.stderr[-2000:]}")
    line = next(x for x in done.stdout.splitlines() if "nodes materialized" in x)
    return seconds, int(line.split(" of ")[1].split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        figures: dict[int, list[float]] = {31: [], 1: []}
        nodes = 0
        for _ in range(options.repeats):
            for batch in (31, 1):  # alternate, so drift in the machine hits both alike
                seconds, nodes = backfill(fresh_project(work), batch, options.concurrency)
                figures[batch].append(seconds)
                print(f"  batch {batch:>2}: {seconds:6.2f} s", flush=True)
    batched, single = statistics.median(figures[31]), statistics.median(figures[1])
    print(f"full-year backfill of the example, {nodes} nodes, concurrency {options.concurrency},"
          f" median of {options.repeats}:")  # fmt: skip
    print(f"  one task per partition : {single:6.2f} s ({single / nodes * 1000:.1f} ms per node)")
    print(f"  batches of up to 31    : {batched:6.2f} s ({batched / nodes * 1000:.1f} ms per node)")
    print(f"  speed-up               : {single / batched:6.1f}x")


if __name__ == "__main__":
    main()
