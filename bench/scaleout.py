"""Scale-out: the example on threads vs a Dask LocalCluster, Delta Lake vs the warehouse file.

    python bench/scaleout.py [--repeats 3] [--from 2013-01-01] [--to 2013-12-31] [--burn 0.2]

Each variant runs `assetflow backfill --from .. --to .. --yes` as a whole process (a local
cluster's start included) on a fresh copy of the example, with one more asset, `burn`: a
Python asset spending --burn seconds of pure-Python CPU per partition over raw_flights, the
kind of compute that threads (one GIL) cannot spread over cores and worker processes can.
Variants alternate within each repeat; every table of every variant is checked against the
default's (threads + the warehouse file) by an order-independent checksum.
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

import duckdb

REPO = Path(__file__).resolve().parent.parent

BURN = '''
import os
import time

from assetflow import asset
from .landing import YEAR_2013

SECONDS = float(os.environ.get("BURN_SECONDS", "0.2"))


@asset(partitions=YEAR_2013)
def burn(ctx, raw_flights):
    """Pure-Python CPU per partition (holds the GIL), then a small deterministic result."""
    rows = raw_flights.aggregate("count(*)").fetchall()[0][0]
    spin, until = 0, time.thread_time() + SECONDS  # this thread's CPU, not the process's
    while time.thread_time() < until:
        spin += 1
    return f"SELECT {rows} AS flights"
'''

VARIANTS = {
    "threads, warehouse file (default)": "",
    "threads, Delta": 'storage = "delta"\nstorage_path = "lake"\n',
    "Dask 1 worker, Delta": 'executor = "dask"\ndask_workers = 1\nstorage = "delta"\nstorage_path = "lake"\n',
    "Dask 2 workers, Delta": 'executor = "dask"\ndask_workers = 2\nstorage = "delta"\nstorage_path = "lake"\n',
    "Dask 2 workers, warehouse file": 'executor = "dask"\ndask_workers = 2\n',
}


def fresh_project(work: Path, settings: str, landing: Path | None) -> Path:
    project = work / "project"
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(REPO / "definitions", project / "definitions",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    (project / "definitions" / "burn.py").write_text(BURN)
    (project / "pyproject.toml").write_text(f"[tool.assetflow]\n{settings}")
    if landing is not None:
        shutil.copytree(landing, project / "landing")
    return project


def backfill(project: Path, lo: str, hi: str, burn: float) -> tuple[float, int]:
    env = {**os.environ, "BURN_SECONDS": str(burn), "COLUMNS": "120"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    args = [sys.executable, "-m", "assetflow", "--now", "2014-06-01T00:00:00", "backfill",
            "--from", lo, "--to", hi, "--yes"]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"backfill failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    line = next(x for x in done.stdout.splitlines() if "nodes materialized" in x)
    return seconds, int(line.split(" of ")[1].split()[0])


def checksums(project: Path) -> dict[str, tuple]:
    """Per asset table: row count and an order-independent sum of row hashes (values as
    text: Delta keeps HUGEINT sums as DECIMAL(38,0))."""
    out = {}
    with duckdb.connect(str(project / "warehouse" / "warehouse.duckdb"), read_only=True) as conn:
        names = [n for (n,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()]  # fmt: skip
        for name in sorted(names):
            cols = sorted(c for c in conn.table(f'"{name}"').columns)
            row = ", ".join(f'"{c}"::VARCHAR' for c in cols)
            out[name] = conn.execute(
                f'SELECT count(*), sum(hash(concat_ws(chr(31), {row}))) FROM "{name}"'
            ).fetchone()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--from", dest="lo", default="2013-01-01")
    parser.add_argument("--to", dest="hi", default="2013-12-31")
    parser.add_argument("--burn", type=float, default=0.2, help="CPU seconds per burn node")
    options = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    nodes = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        landing = None
        reference = None
        for _ in range(options.repeats):
            for name, settings in VARIANTS.items():
                project = fresh_project(work, settings, landing)
                seconds, nodes = backfill(project, options.lo, options.hi, options.burn)
                if landing is None:  # the first run cut the landing files: keep them
                    landing = work / "landing"
                    shutil.copytree(project / "landing", landing)
                sums = checksums(project)
                reference = reference or sums
                if sums != reference:
                    raise SystemExit(f"{name}: tables differ from the default's")
                times[name].append(seconds)
                print(f"  {name}: {seconds:.2f} s", file=sys.stderr)
    base = statistics.median(times[next(iter(VARIANTS))])
    print(f"\nThe example {options.lo}..{options.hi} plus `burn` ({options.burn} CPU s a"
          f" partition): {nodes:,} nodes, medians of {options.repeats}, whole processes;"
          " every variant's tables equal the default's\n")  # fmt: skip
    print("| variant | median | vs the default |")
    print("| --- | ---: | ---: |")
    for name, runs in times.items():
        median = statistics.median(runs)
        print(f"| {name} | {median:.2f} s | {median / base:.2f} × |")


if __name__ == "__main__":
    main()
