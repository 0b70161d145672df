"""Fault trials: kill -9 at random moments, fault storms, racing writers, polling readers.

    python bench/faults.py [--trials 5] [--seed 7]

Each trial runs the real CLI in real processes on a fresh project (a file source of 25 daily
CSVs and a chain a -> b -> c over it), then checks the warehouse against a clean reference
run: every node built once and only once where the work was not redone, no partition
missing (lost) and none with extra rows (duplicated). Prints one line per kind:
trials / clean / lost / duplicated (or failed reads).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

NOW = "2024-06-01T00:00:00"
DAYS = [f"2024-02-{d:02d}" for d in range(1, 26)]
DEFINITIONS = """
import os, random, time
from assetflow import RetryPolicy, asset, daily, file_sensor, source

DAYS = daily("2024-02-01", "2024-02-25")
STORM = float(os.environ.get("STORM", "0"))

@source(partitions=DAYS, path="landing/{partition}.csv")
def src(ctx):
    return f"SELECT * FROM read_csv('{ctx.path}', header = true)"

@asset(partitions=DAYS, retry=RetryPolicy(max_retries=6, delay=0.01, jitter="full"))
def a(ctx, src):
    time.sleep(float(os.environ.get("SLOW_SECONDS", "0")))
    if random.random() < STORM:
        raise ConnectionError("storm")
    return "SELECT n, n * 2 AS m FROM src"

@asset(partitions=DAYS)
def b(ctx, a):
    return "SELECT n, m + 1 AS m FROM a"

@asset(partitions=DAYS)
def c(ctx, b):
    return "SELECT count(*) AS rows, sum(m) AS total FROM b"

landed = file_sensor("src")
"""


def project(root: Path) -> Path:
    (root / "definitions").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.assetflow]\n")
    (root / "definitions" / "chain.py").write_text(DEFINITIONS)
    for i, day in enumerate(DAYS, start=1):
        rows = "".join(f"{i * 100 + k}\n" for k in range(i))
        (root / "landing").mkdir(exist_ok=True)
        (root / "landing" / f"{day}.csv").write_text("n\n" + rows)
    return root


def cli(root: Path, *args: str, slow: str = "0", **env: str) -> subprocess.Popen:
    full = {**os.environ, "SLOW_SECONDS": slow, **env}
    return subprocess.Popen(
        [sys.executable, "-m", "assetflow", "--project", str(root), "--now", NOW, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full,
    )  # fmt: skip


def finish(root: Path, *args: str, **env: str) -> int:
    done = cli(root, *args, **env)
    done.communicate(timeout=300)
    return done.returncode


def content(root: Path) -> dict[str, list]:
    with duckdb.connect(str(root / "warehouse" / "warehouse.duckdb"), read_only=True) as conn:
        return {
            t: conn.execute(f"SELECT * EXCLUDE (_partition) FROM {t} ORDER BY ALL").fetchall()
            for t in ("a", "b", "c")
        }


def verdict(root: Path, reference: dict[str, list]) -> str:
    """clean, lost (rows missing) or duplicated (extra rows)."""
    found = content(root)
    if found == reference:
        return "clean"
    extra = any(len(found[t]) > len(reference[t]) for t in found)
    return "duplicated" if extra else "lost"


def committed(root: Path) -> int:
    try:
        with duckdb.connect(str(root / "warehouse" / "warehouse.duckdb"), read_only=True) as c:
            return c.execute("SELECT count(*) FROM assetflow.materializations").fetchall()[0][0]
    except duckdb.Error:  # killed before the metadata schema existed
        return 0


MID_RUN: list[bool] = []  # per kill: did it land mid-run (some, not all, nodes committed)?


def kill_trial(root: Path, rng: random.Random, start: list[str], after: list[str]) -> None:
    victim = cli(root, *start, slow="0.05")
    time.sleep(rng.uniform(0.3, 2.5))
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    MID_RUN.append(0 < committed(root) < 75)
    for args in after:
        finish(root, *args.split())


def daemon_trial(root: Path, rng: random.Random) -> None:
    victim = cli(root, "daemon", "--interval", "0.3", slow="0.05")
    time.sleep(rng.uniform(0.5, 2.5))
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    again = cli(root, "daemon", "--interval", "0.3")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(1)
        try:
            if sum(map(len, content(root).values())) >= 25 * 3:
                break
        except duckdb.Error:  # the daemon holds the file: ask again
            continue
    again.send_signal(signal.SIGTERM)
    again.communicate(timeout=60)


def readers_trial(root: Path) -> tuple[int, int]:
    """Poll status --json through a whole run: (polls, failed polls)."""
    run = cli(root, "materialize", "--concurrency", "1", slow="0.05")
    polls = failed = 0
    while run.poll() is None:
        polls += 1
        failed += finish(root, "status", "--json") != 0
    run.communicate()
    return polls, failed


def racing_trial(root: Path) -> None:
    first, second = cli(root, "materialize"), cli(root, "materialize")
    first.communicate(timeout=300)
    second.communicate(timeout=300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    base = Path(tempfile.mkdtemp(prefix="assetflow-faults-"))
    reference_root = project(base / "reference")
    assert finish(reference_root, "materialize") == 0
    reference = content(reference_root)
    kinds = {
        "kill -9 during a backfill": lambda r: kill_trial(
            r, rng, ["backfill", "--from", DAYS[0], "--to", DAYS[-1], "--concurrency", "2"],
            [f"backfill --from {DAYS[0]} --to {DAYS[-1]}"],
        ),
        "kill -9 during a sensor tick": lambda r: kill_trial(r, rng, ["tick"], ["tick"]),
        "kill -9 of a daemon with a sensor": lambda r: daemon_trial(r, rng),
        "fault storm, p = 0.3": lambda r: finish(r, "materialize", STORM="0.3"),
        "two writers racing": racing_trial,
    }  # fmt: skip
    print(f"{'trial':36} trials clean lost duplicated")
    for name, trial in kinds.items():
        outcomes = []
        for n in range(args.trials):
            root = project(base / f"{name.split()[0]}{len(outcomes)}-{n}-{rng.random():.6f}")
            trial(root)
            outcomes.append(verdict(root, reference))
        counts = [outcomes.count(k) for k in ("clean", "lost", "duplicated")]
        mid = f"  ({sum(MID_RUN)} killed mid-run)" if MID_RUN else ""
        MID_RUN.clear()
        print(f"{name:36} {len(outcomes):6} {counts[0]:5} {counts[1]:4} {counts[2]:10}{mid}")
    polls = failed = 0
    for n in range(args.trials):
        p, f = readers_trial(project(base / f"readers-{n}"))
        polls, failed = polls + p, failed + f
    print(f"{'readers polling status during a run':36} {polls:6} polls, {failed} failed")
    print(json.dumps({"folder": str(base)}))


if __name__ == "__main__":
    main()
