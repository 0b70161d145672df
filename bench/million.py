"""A million partitions in one asset: five-minute windows over ten years, rolled up.

    python bench/million.py [--years 10] [--repeats 3]

A source and an asset of five-minute windows (`minutely(every=5)`: 1,052,064 partitions over
ten years, each due 30 minutes after its window ends: status checks every deadline), an hourly
roll-up reading its twelve windows and a daily roll-up reading its 24 hours. The lineage of a
full backfill is written straight into DuckDB (every node built once, every input recorded,
every source window observed), one source window is changed, then these run as whole
processes (Python start included), each with its peak RSS:

- `status --json`: every node's state (the changed window, its hour and its day are stale);
- `materialize --dry-run --json`: the plan over everything (those three nodes);
- `backfill --from DAY --to DAY --dry-run --json`: planning one day (288 + 24 + 1 nodes),
  also in this process (modules loaded: what planning costs, not Python's start).

Targets (issue 33 item 2): status <= 1 s and <= 500 MB, planning a one-day backfill <= 0.2 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from status_scale import settle_nodes, timed  # noqa: E402  (timed: seconds, peak RSS, first line)

START = dt.datetime(2015, 1, 1)
NOW = "2025-06-01T00:00:00"
DEFINITIONS = """
import datetime as dt
import os
from assetflow import asset, daily, hourly, minutely, source

FIVE = minutely("{start}", "{end}T23:55", every=5)
CHANGED = os.environ.get("BENCH_CHANGED_PARTITION")


@source(partitions=FIVE, observe=lambda key: "v2" if key == CHANGED else "v1")
def src(ctx):
    return "SELECT 1 AS x"


@asset(partitions=FIVE, sla=dt.timedelta(minutes=30))
def five(ctx, src):
    return "SELECT 1 AS x"


@asset(partitions=hourly("{start}T00", "{end}T23"))
def per_hour(ctx, five):
    return "SELECT 1 AS x"


@asset(partitions=daily("{start}", "{end}"))
def per_day(ctx, per_hour):
    return "SELECT 1 AS x"
"""


def write_lineage(warehouse: Path, code: dict[str, str], years: int) -> None:
    """Every node built once with its inputs, and every source window observed as v1."""
    from assetflow.store.store import Store

    days = (START.replace(year=START.year + years) - START).days
    epoch_minutes = int((START - dt.datetime(1970, 1, 1)).total_seconds()) // 60
    windows, hours = days * 288, days * 24
    store = Store.open(warehouse)
    conn = store.conn
    units = [  # asset, count, index of the first, minutes per window, key format
        ("five", windows, epoch_minutes // 5, 5, "%Y-%m-%dT%H:%M"),
        ("per_hour", hours, epoch_minutes // 60, 60, "%Y-%m-%dT%H"),
        ("per_day", days, START.toordinal(), 1440, "%Y-%m-%d"),
    ]
    conn.execute(
        "CREATE TEMP TABLE nodes (asset VARCHAR, i BIGINT, idx BIGINT, starts TIMESTAMP,"
        " partition VARCHAR, code_version VARCHAR)"
    )
    for asset, count, first, minutes, shown in units:
        conn.execute(
            f"""
            INSERT INTO nodes SELECT '{asset}', i, {first} + i,
                TIMESTAMP '{START}' + to_minutes(i * {minutes}),
                strftime(TIMESTAMP '{START}' + to_minutes(i * {minutes}), '{shown}'), ?
            FROM range({count}) r(i)
            """,
            [code[asset]],
        )
    conn.execute(
        """
        INSERT INTO assetflow.materializations (materialization_id, run_id, asset, partition,
            partition_index, code_version, data_version, row_count, clipped, started_at,
            ended_at, attempt_id, attempt)
        SELECT row_number() OVER (), 'bench', asset, partition, idx, code_version,
               left(md5(asset || partition), 16), 1, NULL, now(), now(), row_number() OVER (), 1
        FROM nodes ORDER BY asset, idx
        """
    )
    # five reads its source window; an hour its twelve windows; a day its 24 hours.
    conn.execute(
        """
        INSERT INTO assetflow.inputs
        SELECT m.materialization_id, 'src', m.partition, m.partition_index, 'v1'
        FROM assetflow.materializations m WHERE m.asset = 'five'
        UNION ALL
        SELECT d.materialization_id, u.asset, u.partition, u.idx,
               left(md5(u.asset || u.partition), 16)
        FROM assetflow.materializations d JOIN nodes n ON n.asset = d.asset
             AND n.idx = d.partition_index
        JOIN nodes u ON u.asset = CASE d.asset WHEN 'per_hour' THEN 'five' ELSE 'per_hour' END
             AND u.starts >= n.starts
             AND u.starts < n.starts + CASE d.asset WHEN 'per_hour' THEN INTERVAL 1 HOUR
                                                   ELSE INTERVAL 1 DAY END
        WHERE d.asset IN ('per_hour', 'per_day')
        """
    )
    settle_nodes(conn)
    conn.execute(
        "INSERT INTO assetflow.observations (run_id, source, partition, version, detail,"
        " observed_at) SELECT 'bench', 'src', partition, 'v1', '', now() FROM nodes"
        " WHERE asset = 'five'"
    )
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("bench/.work"))
    options = parser.parse_args()
    from assetflow.defs.loader import load_definitions

    end = START.replace(year=START.year + options.years) - dt.timedelta(days=1)
    project = options.work / f"million_{options.years}"
    shutil.rmtree(project, ignore_errors=True)
    (project / "definitions").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[tool.assetflow]\n")
    source = DEFINITIONS.replace("{start}", f"{START:%Y-%m-%d}").replace("{end}", f"{end:%Y-%m-%d}")
    (project / "definitions" / "five.py").write_text(source)
    defs = load_definitions(project / "definitions")
    warehouse = project / "warehouse" / "warehouse.duckdb"
    write_lineage(warehouse, {n: s.code_version for n, s in defs.assets.items()}, options.years)
    day = (START + dt.timedelta(days=min(1000, 150 * options.years))).date().isoformat()
    env = {**os.environ, "BENCH_CHANGED_PARTITION": f"{day}T13:35", "COLUMNS": "100"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # modules compiled once, as on a user's machine
    timed(["status", "--json"], env, project)  # untimed warm-up
    print(
        f"five-minute windows over {options.years} years: {defs.assets['five'].partitions.describe()}"
    )
    print(f"{'command':58} {'median s':>9} {'peak MB':>8}  first line")
    for args in (
        ["status", "--json"],
        ["materialize", "--dry-run", "--json"],
        ["backfill", "--from", day, "--to", day, "--dry-run", "--json"],
    ):
        runs = [timed(args, env, project) for _ in range(options.repeats)]
        median = statistics.median(r[0] for r in runs)
        print(f"{' '.join(args):58} {median:9.2f} {max(r[1] for r in runs):8,}  {runs[0][2][:40]}")
    print(f"medians of {options.repeats}; whole processes, Python start included")
    one_day = ["backfill", "--from", day, "--to", day, "--dry-run", "--json"]
    print(f"planning one day in process: {in_process(project, one_day, env, 5) * 1000:.0f} ms")


def in_process(project: Path, args: list[str], env: dict[str, str], repeats: int) -> float:
    """Median seconds of the command run in this process, after one untimed run."""
    from click.testing import CliRunner

    from assetflow.cli import cli

    command = ["--project", str(project), "--now", NOW, *args]
    os.environ.update(env)
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        result = CliRunner().invoke(cli, command)
        times.append(time.perf_counter() - started)
        assert result.exit_code == 0, result.output
    return statistics.median(times[1:])


if __name__ == "__main__":
    main()
