"""Environments on the example's full year (issue 31): what making one costs, what a change
built in one computes, the diff against the floor, the promotion, a revert, and kill -9
during promotions.

On a fresh copy of the example (2013 built with batches of 31 days):

1. `env create` in process (the warehouse open for writing, as the command has it): median
   seconds and the file's growth after closing; then the same as a whole process;
2. one asset's code changed (`--change delays`: `daily_carrier_delays` rounds a delay to one
   decimal, a few rows a day; `--change raw`: `raw_flights` gives distances in kilometres,
   every flight); `--env dev materialize` over 30 days (`--days`) must compute exactly the
   nodes its dry run planned but those it verified (their inputs' data came out the same:
   nothing to compute), and production's tables must hold the very same rows before and
   after;
3. `env diff dev` in process against the floor: plain DuckDB reading the partitions whose
   data differs, both sides, once (the same file, the same connection kind), and against
   plain SQL's row diff (EXCEPT ALL both ways, counted), medians, alternated;
4. `env promote dev` in process; then production's dry run over the 30 days plans none of
   the promoted nodes, and their rows equal a clean rebuild with the new code;
5. the change reverted in a new environment: nodes computed (0 is the goal);
6. `--kills N` trials: `env promote dev` as a process killed (-9) at a random moment; the
   warehouse must then hold production wholly as before or wholly as after.

With `--storage delta` the example's tables are Delta Lake tables (`lake/`): the same
steps, and after each killed promotion the next writer must finish it if it had begun.

    python bench/envs.py [--repeats 5] [--kills 20] [--storage delta] [--days 30]
                         [--change delays|raw]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from backfill_year import fresh_project  # a copy of the example, its landing files too

NOW = "2014-06-01T00:00:00"
RANGE = ["--from", "2013-03-01", "--to", "2013-03-30"]  # --days sets its length
CHANGES = {  # --change: what the branch changes, as (old text, new text) of flights.py
    # a daily aggregate rounds a delay to one decimal: a few rows a day, in two assets
    "delays": ("round(avg(dep_delay), 2) AS avg_dep_delay", "round(avg(dep_delay), 1) AS avg_dep_delay"),
    # the raw flights' distance in kilometres: every flight of a day, and the routes
    "raw": ("arr_delay, air_time, distance,", "arr_delay, air_time, round(distance * 1.609344)::INTEGER AS distance,"),
}  # fmt: skip


def assetflow(project: Path, *args: str) -> str:
    env = {**os.environ, "ASSETFLOW_EXAMPLE_BATCH": "31", "COLUMNS": "200"}
    command = [sys.executable, "-m", "assetflow", "--now", NOW, *args]
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")
    return done.stdout


def edit(project: Path, old: str, new: str) -> None:
    path = project / "definitions" / "flights.py"
    path.write_text(path.read_text().replace(old, new))


LAKE: list[str] = []  # the settings that put the tables on Delta Lake (--storage delta)


def on_lake(project: Path) -> Path:
    with (project / "pyproject.toml").open("a") as settings:
        settings.writelines(LAKE)
    return project


def warehouse(project: Path) -> Path:
    return project / "warehouse" / "warehouse.duckdb"


def prod_state(path: Path) -> dict[str, tuple]:
    """Every production table's row count and order-independent hash, and prod's nodes."""
    with duckdb.connect(str(path)) as conn:  # read-write: a killed writer's log is replayed
        tables = [t for (t,) in conn.execute(  # (views over Delta tables' files, on Delta)
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' UNION"
            " SELECT view_name FROM duckdb_views() WHERE schema_name = 'main' AND NOT internal"
            " ORDER BY 1"
        ).fetchall()]  # fmt: skip
        state = {
            t: conn.execute(f'SELECT count(*), sum(hash(x)) FROM main."{t}" x').fetchall()[0]
            for t in tables
        }
        state["nodes"] = conn.execute(  # each node's latest record, merged or not
            "SELECT count(*), sum(hash(asset, partition, v, c)) FROM (SELECT asset, partition,"
            " arg_max(data_version, materialization_id) AS v,"
            " arg_max(code_version, materialization_id) AS c FROM assetflow.materializations"
            " WHERE env = 'prod' GROUP BY ALL)"
        ).fetchall()[0]
    return state


def session(project: Path):  # noqa: ANN201 - the app's Session, imported late
    from assetflow.app.config import load_project
    from assetflow.app.session import Session
    from assetflow.run.clock import WallClock

    return Session(load_project(project), WallClock())


def time_create(project: Path, repeats: int) -> tuple[float, int, float]:
    """Median seconds of `create_env` on an open writer, the file's growth over all of
    them, and the median whole `assetflow env create` process."""
    from assetflow.app.environments import drop_env

    path, seconds, growth = warehouse(project), [], 0
    for i in range(repeats):
        before = path.stat().st_size
        with session(project) as s:
            store = s.writer()
            started = time.perf_counter()
            store.create_env(f"bench{i}", "prod", s.clock())
            seconds.append(time.perf_counter() - started)
        growth = max(growth, path.stat().st_size - before)
        with session(project) as s:
            drop_env(s, f"bench{i}")
    whole = []
    for i in range(repeats):
        started = time.perf_counter()
        assetflow(project, "env", "create", f"whole{i}")
        whole.append(time.perf_counter() - started)
        assetflow(project, "env", "drop", f"whole{i}")
    return statistics.median(seconds), growth, statistics.median(whole)


def planned(project: Path, env: str) -> set[tuple[str, str]]:
    plan = json.loads(
        assetflow(project, "--env", env, "materialize", *RANGE, "--dry-run", "--json", "--nodes")
    )
    return {(n["asset"], n["partition"]) for n in plan["nodes"]}


def computed(project: Path, env: str) -> set[tuple[str, str]]:
    with duckdb.connect(str(warehouse(project)), read_only=True) as conn:
        rows = conn.execute(
            "SELECT asset, partition FROM assetflow.materializations WHERE env = ?"
            " AND reused_from IS NULL AND data_version IS NOT NULL",
            [env],
        ).fetchall()
    return set(rows)


def time_diff(project: Path, repeats: int) -> tuple[float, float, float, int]:
    """Median seconds of the diff in process, of the floor and of a plain SQL row diff, and
    the rows it compared."""
    from assetflow.app.environments import diff_env

    with duckdb.connect(str(warehouse(project)), read_only=True) as conn:
        differing = conn.execute(  # dev's nodes whose data is not prod's: what the diff reads
            "SELECT d.asset, list(d.partition) FROM assetflow.nodes d JOIN assetflow.nodes p"
            " ON p.env = 'prod' AND p.asset = d.asset AND p.partition_index = d.partition_index"
            " WHERE d.env = 'dev' AND d.data_version IS DISTINCT FROM p.data_version GROUP BY 1"
        ).fetchall()
        # The best plain DuckDB does: the range first (DuckDB skips the row groups outside
        # it), then a semi join on the keys given as a list parameter (inlined, hundreds of
        # keys cost more to optimize than the rows cost to read).
        sides = " UNION ALL ".join(
            f'SELECT count(*) AS n, sum(hash(x)) AS h FROM {schema}."{asset}" x'
            f" WHERE _partition BETWEEN '{min(keys)}' AND '{max(keys)}'"
            f" AND _partition IN (SELECT unnest($k{i}))"
            for i, (asset, keys) in enumerate(differing)
            for schema in ("_env_dev", "main")
        )
        floor_sql = f"SELECT sum(n), sum(h) FROM ({sides})"
        # What a user would write in plain SQL for a row diff: EXCEPT ALL both ways, counted.
        plain_sql = " UNION ALL ".join(
            f"SELECT (SELECT count(*) FROM ({mine} EXCEPT ALL {theirs}))"
            f" + (SELECT count(*) FROM ({theirs} EXCEPT ALL {mine}))"
            for i, (asset, keys) in enumerate(differing)
            for where in [f"_partition BETWEEN '{min(keys)}' AND '{max(keys)}'"
                          f" AND _partition IN (SELECT unnest($k{i}))"]
            for mine, theirs in [(f'SELECT * FROM _env_dev."{asset}" WHERE {where}',
                                  f'SELECT * FROM main."{asset}" WHERE {where}')]
        )  # fmt: skip
        given = {f"k{i}": keys for i, (_, keys) in enumerate(differing)}
        rows = conn.execute(floor_sql, given).fetchall()[0][0]
        conn.execute(plain_sql, given).fetchall()
        floors, diffs, plain = [], [], []
        with session(project) as s:
            diff_env(s, "dev")  # warmed, as the floor's first statement above
            for _ in range(repeats):  # alternated, so that all see the machine alike
                started = time.perf_counter()
                conn.execute(floor_sql, given).fetchall()
                floors.append(time.perf_counter() - started)
                started = time.perf_counter()
                diff_env(s, "dev")
                diffs.append(time.perf_counter() - started)
                started = time.perf_counter()
                conn.execute(plain_sql, given).fetchall()
                plain.append(time.perf_counter() - started)
    medians = (statistics.median(diffs), statistics.median(floors), statistics.median(plain))
    return (*medians, int(rows))


def same_rows(a: Path, b: Path, table: str, keys: list[str]) -> bool:
    query = f'SELECT * FROM main."{table}" WHERE list_contains({keys!r}, _partition) ORDER BY ALL'
    with (
        duckdb.connect(str(a), read_only=True) as one,
        duckdb.connect(str(b), read_only=True) as two,
    ):
        return one.execute(query).fetchall() == two.execute(query).fetchall()


def kill_trials(
    snapshot: Path, work: Path, before: dict, after: dict, trials: int
) -> tuple[int, int, int]:
    """(wholly before, wholly after, neither) over `trials` promotions killed at random."""
    project = work / "kills"
    tally = [0, 0, 0]
    for trial in range(trials):
        shutil.rmtree(project, ignore_errors=True)
        shutil.copytree(snapshot, project)
        env = {**os.environ, "ASSETFLOW_EXAMPLE_BATCH": "31"}
        process = subprocess.Popen(
            [sys.executable, "-m", "assetflow", "--now", NOW, "env", "promote", "dev"],
            cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # (a Delta promotion's process starts in ~0.9 s and runs ~0.7 s more)
        time.sleep(random.Random(trial).uniform(*((0.5, 2.5) if LAKE else (0.2, 1.2))))
        process.send_signal(signal.SIGKILL)
        process.wait()
        found = prod_state(warehouse(project))
        with duckdb.connect(str(warehouse(project)), read_only=True) as conn:
            began = conn.execute("SELECT count(*) FROM assetflow.meta WHERE key = 'promoting'")
            pending = began.fetchall()[0][0]
        if pending:  # Delta: begun, not recorded; the next writer finishes it
            assetflow(project, "env", "create", "next")
            if prod_state(warehouse(project)) != after:
                found = {}
        tally[0 if found == before else 1 if found == after else 2] += 1
    return tally[0], tally[1], tally[2]


def prod_files(project: Path) -> set[Path]:
    """The data files of production's Delta tables (none on the warehouse file)."""
    lake = project / "lake"
    return set(lake.glob("*/*.parquet")) if lake.is_dir() else set()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--storage", choices=("duckdb", "delta"), default="duckdb")
    parser.add_argument("--days", type=int, default=30, help="the change's range, from March 1")
    parser.add_argument("--change", choices=sorted(CHANGES), default="delays")
    options = parser.parse_args()
    old, new = CHANGES[options.change]
    last = dt.date(2013, 3, 1) + dt.timedelta(days=options.days - 1)
    RANGE[3] = min(last, dt.date(2013, 12, 31)).isoformat()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        project = fresh_project(work)
        if options.storage == "delta":
            LAKE.append('storage = "delta"\nstorage_path = "lake"\n')
            on_lake(project)
        assetflow(project, "backfill", "--from", "2013-01-01", "--to", "2013-12-31", "--yes")
        create, growth, whole = time_create(project, options.repeats)
        print(f"env create: {create * 1000:.1f} ms in process (median of {options.repeats}),"
              f" file growth at most {growth:,} bytes; whole process {whole:.2f} s")  # fmt: skip

        assetflow(project, "env", "create", "dev")
        edit(project, old, new)
        prod_before = prod_state(warehouse(project))
        predicted = planned(project, "dev")
        started = time.perf_counter()
        assetflow(project, "--env", "dev", "materialize", *RANGE)
        seconds = time.perf_counter() - started
        built = computed(project, "dev")
        same_prod = prod_state(warehouse(project)) == prod_before
        with duckdb.connect(str(warehouse(project)), read_only=True) as conn:
            (verified,) = conn.execute(
                "SELECT sum(verified) FROM assetflow.runs WHERE env = 'dev'"
            ).fetchone()
        exact = built <= predicted and len(built) + verified == len(predicted)
        print(f"--env dev materialize over {options.days} days: {len(built)} nodes computed in {seconds:.2f} s"
              f" and {verified} verified, {'exactly' if exact else 'NOT'} the {len(predicted)} its"
              f" dry run planned; production {'unchanged' if same_prod else 'CHANGED'}")  # fmt: skip

        diff, floor, plain, rows = time_diff(project, options.repeats)
        print(f"env diff dev: {diff * 1000:.1f} ms in process, floor (both sides' {rows:,} rows"
              f" read once) {floor * 1000:.1f} ms: {diff / floor:.1f}x; plain SQL's row diff"
              f" (EXCEPT ALL both ways) {plain * 1000:.1f} ms: {diff / plain:.2f}x")  # fmt: skip

        snapshot = work / "before_promote"
        shutil.copytree(project, snapshot)
        from assetflow.app.environments import promote_env

        files_before = prod_files(project)
        with session(project) as s:
            started = time.perf_counter()
            done = promote_env(s, "dev")
            promote = time.perf_counter() - started
        added = list(prod_files(project) - files_before)
        linked = [f for f in added if f.stat().st_nlink > 1]
        written = sum(f.stat().st_size for f in added if f.stat().st_nlink == 1)
        prod_after = prod_state(warehouse(project))
        again = planned(project, "prod") & built
        clean = on_lake(fresh_project(work / "clean"))
        edit(clean, old, new)
        assetflow(clean, "backfill", "--from", "2013-01-01", "--to", "2013-12-31", "--yes")
        equal = all(
            same_rows(warehouse(project), warehouse(clean), asset, keys)
            for asset, keys in done.partitions.items()
        )
        print(f"env promote dev: {done.count} nodes in {promote * 1000:.0f} ms; production then"
              f" plans {len(again)} of them again; rows {'equal' if equal else 'DIFFER from'}"
              " a clean rebuild with the new code")  # fmt: skip
        if options.storage == "delta":
            print(f"  prod's tables gained {len(linked)} files linked from dev's"
                  f" ({sum(f.stat().st_size for f in linked):,} bytes, not copied) and"
                  f" {len(added) - len(linked)} written ({written:,} bytes: rows of prod's"
                  " partitions outside the promotion, rewritten out of the files it replaced)")  # fmt: skip

        edit(project, new, old)
        assetflow(project, "env", "create", "revert")
        assetflow(project, "--env", "revert", "materialize", *RANGE)
        print(
            f"the change reverted in a new environment: {len(computed(project, 'revert'))}"
            " nodes computed"
        )

        if options.kills:
            whole_before, whole_after, neither = kill_trials(
                snapshot, work, prod_before, prod_after, options.kills
            )
            print(f"kill -9 during env promote, {options.kills} trials: {whole_before} wholly"
                  f" before, {whole_after} wholly after, {neither} neither")  # fmt: skip


if __name__ == "__main__":
    main()
