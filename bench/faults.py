"""Fault trials: kill -9 at random moments, fault storms, racing writers, full disks,
hanging alert endpoints, hostile keys, promotions killed, polling readers.

    python bench/faults.py [--trials 5] [--seed 7] [--only KIND]

Each trial runs the real CLI in real processes on a fresh project (a file source of 25 daily
CSVs and a chain a -> b -> c over it), then checks the warehouse against a clean reference
run and its invariants:

- content: every table's rows equal the reference's — nothing missing (lost), nothing extra
  (duplicated);
- lineage equals data: every node's recorded data version is the version of the rows its
  table holds for it now;
- runs honest: no run left `running`; every finished run counts the nodes it committed;
- what the trial itself promises (a promotion wholly before or after; no log written outside
  the logs folder; a hanging endpoint does not hold the warehouse; a full disk is one line).

Prints one line per kind: trials / clean / lost / duplicated / broken (an invariant failed).
The disk-full trials mount a small tmpfs (root only; skipped otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

NOW = "2024-06-01T00:00:00"
DAYS = [f"2024-02-{d:02d}" for d in range(1, 26)]
DEFINITIONS = """
import os, random, time
from assetflow import RetryPolicy, asset, daily, file_sensor, project_defaults, source, webhook

DAYS = daily("2024-02-01", "2024-02-25")
STORM = float(os.environ.get("STORM", "0"))
BATCH = int(os.environ.get("BATCH", "1"))
PLUS = 1 + int(os.environ.get("CHANGE", "0"))  # a constant: counted in b's code version
HOOKS = [webhook("HOOK_URL", timeout=2.0)] if os.environ.get("HOOK_URL") else []
defaults = project_defaults(on_failure=HOOKS)

@source(partitions=DAYS, path="landing/{partition}.csv")
def src(ctx):
    return f"SELECT * FROM read_csv('{ctx.path}', header = true)"

@asset(partitions=DAYS, batch_size=BATCH, partition_by="day",
       retry=RetryPolicy(max_retries=int(os.environ.get("RETRIES", "6")), delay=0.01,
                         jitter="full"))
def a(ctx, src):
    time.sleep(float(os.environ.get("SLOW_SECONDS", "0")))
    if random.random() < STORM:
        raise ConnectionError("storm")
    return "SELECT n, n * 2 AS m, day FROM src"

@asset(partitions=DAYS, batch_size=BATCH, partition_by="day")
def b(ctx, a):
    return f"SELECT n, m + {PLUS} AS m, day FROM a"

@asset(partitions=DAYS)
def c(ctx, b):
    return "SELECT count(*) AS rows, sum(m) AS total FROM b"

landed = file_sensor("src")
"""
# Keys that come from data and try to leave the logs folder.
HOSTILE = """
from assetflow import asset, dynamic

@asset(adds_keys={"customers": "customer"})
def discovered(ctx):
    return "SELECT '../../../../escaped_from_data' AS customer UNION ALL SELECT 'fine'"

@asset(partitions=dynamic("customers"))
def per_customer(ctx):
    print(f"customer {ctx.partition}")  # a log line: a log file named for the key
    return f"SELECT '{ctx.partition}' AS customer"
"""
TABLES = ("a", "b", "c")


def project(root: Path, delta: bool = False) -> Path:
    (root / "definitions").mkdir(parents=True)
    lake = '\nstorage = "delta"\nstorage_path = "lake"\n' if delta else "\n"
    (root / "pyproject.toml").write_text("[tool.assetflow]" + lake)
    (root / "definitions" / "chain.py").write_text(DEFINITIONS)
    for i, day in enumerate(DAYS, start=1):
        rows = "".join(f"{i * 100 + k},{day}\n" for k in range(i))
        (root / "landing").mkdir(exist_ok=True)
        (root / "landing" / f"{day}.csv").write_text("n,day\n" + rows)
    return root


def cli(root: Path, *args: str, slow: str = "0", **env: str) -> subprocess.Popen:
    full = {**os.environ, "SLOW_SECONDS": slow, "COLUMNS": "200", **env}
    return subprocess.Popen(
        [sys.executable, "-m", "assetflow", "--project", str(root), "--now", NOW, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full,
    )  # fmt: skip


def finish(root: Path, *args: str, **env: str) -> tuple[int, str]:
    done = cli(root, *args, **env)
    out, err = done.communicate(timeout=300)
    return done.returncode, out + err


def warehouse(root: Path) -> Path:
    return root / "warehouse" / "warehouse.duckdb"


def content(root: Path) -> dict[str, list]:
    with duckdb.connect(str(warehouse(root)), read_only=True) as conn:
        return {
            t: conn.execute(f"SELECT * EXCLUDE (_partition) FROM main.{t} ORDER BY ALL").fetchall()
            for t in TABLES
        }


def lineage_equals_data(conn: duckdb.DuckDBPyConnection) -> bool:
    """Every prod node's recorded data version is the version of the rows its table holds
    for it (the writer's formula, over the table as it is now)."""
    from assetflow.store.writer import VERSION_SQL, row_hashes_sql, schema_text

    for table in TABLES:
        columns = dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema ="
            " 'main' AND table_name = ? AND column_name <> '_partition' ORDER BY ordinal_position",
            [table],
        ).fetchall())  # fmt: skip
        version = VERSION_SQL.format(n="count(*)", h=row_hashes_sql(columns))
        held = dict(conn.execute(
            f"SELECT _partition, {version} FROM main.{table} GROUP BY _partition",
            [schema_text(columns)],
        ).fetchall())  # fmt: skip
        recorded = dict(conn.execute(
            "SELECT partition, v FROM (SELECT partition, arg_max_null(data_version,"
            " materialization_id) AS v FROM assetflow.materializations WHERE asset = ? AND"
            " env = 'prod' GROUP BY partition) WHERE v IS NOT NULL",
            [table],
        ).fetchall())  # fmt: skip
        if held != recorded:
            return False
    return True


def runs_honest(conn: duckdb.DuckDBPyConnection) -> bool:
    """No run left running; a successful run counts what it committed."""
    (running,) = conn.execute(
        "SELECT count(*) FROM assetflow.runs WHERE status = 'running'"
    ).fetchall()[0]
    (miscounted,) = conn.execute(
        "SELECT count(*) FROM assetflow.runs r WHERE status IN ('success', 'failed', 'partial')"
        " AND trigger <> 'promote' AND succeeded <> (SELECT count(*)"
        "   FROM assetflow.materializations m"
        "   WHERE m.run_id = r.run_id AND m.attempt_id IS NOT NULL)"
    ).fetchall()[0]
    return running == 0 and miscounted == 0


def verdict(root: Path, *references: dict[str, list], delta: bool = False) -> str:
    """clean; lost (rows missing) or duplicated (extra rows) against the closest reference;
    broken (an invariant failed)."""
    found = content(root)
    if found not in references:
        extra = any(len(found[t]) > len(references[0][t]) for t in found)
        return "duplicated" if extra else "lost"
    with duckdb.connect(str(warehouse(root))) as conn:  # read-write: replays a killed log
        if not runs_honest(conn) or not (delta or lineage_equals_data(conn)):
            return "broken"
    return "clean"


def committed(root: Path) -> int:
    try:
        with duckdb.connect(str(warehouse(root)), read_only=True) as c:
            return c.execute("SELECT count(*) FROM assetflow.materializations").fetchall()[0][0]
    except duckdb.Error:  # killed before the metadata schema existed (or while it was held)
        return 0


MID_RUN: list[bool] = []  # per kill: did it land mid-run (some, not all, nodes committed)?


def kill_trial(
    root: Path, rng: random.Random, start: list[str], after: list[str], **env: str
) -> None:
    victim = cli(root, *start, slow="0.05", **env)
    time.sleep(rng.uniform(0.3, 2.5))
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    MID_RUN.append(0 < committed(root) < 75)
    for args in after:
        finish(root, *args.split(), **env)


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
        failed += finish(root, "status", "--json")[0] != 0
    run.communicate()
    return polls, failed


def storm_trial(root: Path) -> None:
    """30 % of attempts raise a transient error, 6 retries each. A node may still fail all 7
    (0.3^7 a node): the run must then say so (exit 1, the node failed), and running it again
    completes what is missing."""
    code, said = finish(root, "materialize", STORM="0.3")
    if code != 0:
        if code != 1 or "failed" not in said:
            PROBLEMS.append(f"a fault storm ended {code} without naming a failure")
        FAILED_HONESTLY.append(True)
        finish(root, "materialize")


FAILED_HONESTLY: list[bool] = []  # storm runs that exhausted a node's retries and said so


def racing_trial(root: Path) -> None:
    first, second = cli(root, "materialize"), cli(root, "materialize")
    first.communicate(timeout=300)
    second.communicate(timeout=300)


PROBLEMS: list[str] = []  # what a trial saw break that content cannot show


def promote_trial(root: Path, rng: random.Random) -> None:
    """prod built; dev holds a change of b (and c); `env promote dev` killed at a random
    moment: prod is then wholly before or after (checked by the verdict against both
    references); a second promote completes it."""
    finish(root, "materialize")
    finish(root, "env", "create", "dev")
    finish(root, "--env", "dev", "materialize", CHANGE="1")
    victim = cli(root, "env", "promote", "dev")
    time.sleep(rng.uniform(0.2, 1.2))
    victim.send_signal(signal.SIGKILL)
    victim.wait()


def hostile_trial(root: Path) -> None:
    (root / "definitions" / "keys.py").write_text(HOSTILE)
    finish(root, "materialize")
    finish(root, "materialize")  # per_customer, now that its keys exist
    escaped = [p for p in root.rglob("*escaped_from_data*") if "logs" not in p.parts]
    escaped += list(root.parent.glob("*escaped_from_data*"))
    if escaped:
        PROBLEMS.append(f"hostile keys: a file outside the logs: {escaped[0]}")
    (root / "definitions" / "keys.py").unlink()


def silent_endpoint() -> tuple[str, Callable[[], None]]:
    """An HTTP endpoint that accepts and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()

    def close() -> None:
        stop.set()
        for conn in held:
            conn.close()
        server.close()

    return f"http://127.0.0.1:{server.getsockname()[1]}/hook", close


def hanging_trial(root: Path) -> None:
    """Every `a` fails (no retries) and alerts an endpoint that never answers: the run ends
    soon and lets the warehouse go; the next run completes everything."""
    url, close = silent_endpoint()
    try:
        started = time.monotonic()
        finish(root, "materialize", STORM="1", RETRIES="0", HOOK_URL=url)
        seconds = time.monotonic() - started
        if seconds > 20:
            PROBLEMS.append(f"a hanging endpoint held the run {seconds:.0f} s")
        code, _ = finish(root, "materialize", HOOK_URL=url)  # refused if still held
        if code != 0:
            PROBLEMS.append("after a hanging endpoint, the next run failed")
    finally:
        close()


def disk_full_trial(root: Path, rng: random.Random) -> None:
    """The warehouse's folder on a tmpfs that fills up at a random moment of a run: the run
    stops with one line (or ends, if it had written all it needed), what it committed
    intact; given room again, the next run completes."""
    folder = root / "warehouse"
    folder.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(folder)], check=True)
    try:
        victim = cli(root, "materialize", "--concurrency", "1", slow="0.03")
        time.sleep(rng.uniform(0.5, 2.5))
        filler = folder / "filler"
        with filler.open("wb") as out:  # every byte left, taken
            try:
                while True:
                    out.write(b"\0" * 65536)
                    out.flush()
            except OSError:
                pass
        said = "".join(victim.communicate(timeout=300))
        if "Traceback" in said or "internal error" in said:
            PROBLEMS.append(f"disk full: {said.strip().splitlines()[-1]}")
        FULL.append(victim.returncode != 0)
        filler.unlink()
        if victim.returncode != 0 and _last_run_status(root) not in ("failed", "partial"):
            PROBLEMS.append(f"disk full: the run was left {_last_run_status(root)}")
        finish(root, "materialize")
        shutil.copytree(folder, root / "kept")  # the verdict reads it after the unmount
    finally:
        subprocess.run(["umount", str(folder)], check=False)
    shutil.rmtree(folder, ignore_errors=True)
    (root / "kept").rename(folder)


FULL: list[bool] = []  # per disk-full trial: did the run stop on the full disk?


def _last_run_status(root: Path) -> str | None:
    """The latest run's status as recorded (before any other writer could mark it)."""
    try:
        with duckdb.connect(str(warehouse(root)), read_only=True) as conn:
            found = conn.execute(
                "SELECT status FROM assetflow.runs ORDER BY started_at DESC LIMIT 1"
            ).fetchall()
    except duckdb.Error:  # no warehouse could be made at all
        return "failed"
    return found[0][0] if found else "failed"


def can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", help="run the kinds whose name contains this")
    parser.add_argument(
        "--keep", action="store_true", help="keep the trials' folder (removed by default)"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    base = Path(tempfile.mkdtemp(prefix="assetflow-faults-"))
    reference = content(_built(project(base / "reference")))
    changed = content(_built(project(base / "reference-changed"), CHANGE="1"))
    backfill = ["backfill", "--from", DAYS[0], "--to", DAYS[-1], "--concurrency", "2"]
    again = [f"backfill --from {DAYS[0]} --to {DAYS[-1]}"]
    kinds: dict[str, tuple[Callable[[Path], object], tuple[dict, ...], bool]] = {
        "kill -9 during a backfill": (lambda r: kill_trial(r, rng, backfill, again), (reference,), False),
        "kill -9 during a batched backfill": (
            lambda r: kill_trial(r, rng, backfill, again, BATCH="5"), (reference,), False),
        "kill -9 during a sensor tick": (lambda r: kill_trial(r, rng, ["tick"], ["tick"]), (reference,), False),
        "kill -9 of a daemon with a sensor": (lambda r: daemon_trial(r, rng), (reference,), False),
        "kill -9 during a Delta backfill": (lambda r: kill_trial(r, rng, backfill, again), (reference,), True),
        "kill -9 during env promote": (lambda r: promote_trial(r, rng), (reference, changed), False),
        "fault storm, p = 0.3": (storm_trial, (reference,), False),
        "two writers racing": (racing_trial, (reference,), False),
        "an alert endpoint that never answers": (hanging_trial, (reference,), False),
        "keys from data that climb out of logs/": (hostile_trial, (reference,), False),
        "disk full mid-run, then room": (lambda r: disk_full_trial(r, rng), (reference,), False),
    }  # fmt: skip
    if not can_mount():
        del kinds["disk full mid-run, then room"]
    if args.only:
        kinds = {k: v for k, v in kinds.items() if args.only in k}
    print(f"{'trial':40} trials clean lost duplicated broken", flush=True)
    total = 0
    for name, (trial, references, delta) in kinds.items():
        outcomes = []
        for n in range(args.trials):
            root = project(base / f"{name.split()[-1]}-{n}-{rng.random():.6f}", delta)
            trial(root)
            found = verdict(root, *references, delta=delta)
            outcomes.append("broken" if PROBLEMS and found == "clean" else found)
            if PROBLEMS:
                print(f"  {name} #{n}: {PROBLEMS[0]}", flush=True)
                PROBLEMS.clear()
            shutil.rmtree(root, ignore_errors=True)
        total += len(outcomes)
        counts = [outcomes.count(k) for k in ("clean", "lost", "duplicated", "broken")]
        mid = f"  ({sum(MID_RUN)} killed mid-run)" if MID_RUN else ""
        mid += f"  ({sum(FULL)} stopped by the full disk)" if FULL else ""
        mid += (
            f"  ({len(FAILED_HONESTLY)} ran out of retries, said so, re-run)"
            if FAILED_HONESTLY
            else ""
        )
        FAILED_HONESTLY.clear()
        MID_RUN.clear()
        FULL.clear()
        print(f"{name:40} {len(outcomes):6} {counts[0]:5} {counts[1]:4} {counts[2]:10}"
              f" {counts[3]:6}{mid}", flush=True)  # fmt: skip
    if not args.only or "readers" in args.only:
        polls = failed = 0
        for n in range(args.trials):
            p, f = readers_trial(project(base / f"readers-{n}"))
            polls, failed = polls + p, failed + f
        print(f"{'readers polling status during a run':40} {polls:6} polls, {failed} failed")
    print(json.dumps({"trials": total, "folder": str(base) if args.keep else None}))
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)


def _built(root: Path, **env: str) -> Path:
    code, said = finish(root, "materialize", **env)
    assert code == 0, said
    return root


if __name__ == "__main__":
    main()
