"""Status and dry-run planning at millions of nodes.

Builds a synthetic project of N daily assets x 3,650 partitions (10 years), writes its
lineage record straight into DuckDB (every node materialized, every input recorded), changes
one source partition, then times `assetflow status` and `assetflow materialize --dry-run`
as whole processes (Python start included) and reports their peak RSS.

    python bench/status_scale.py                 # 1,000 assets (3.65 M nodes)
    python bench/status_scale.py --assets 100 --assets 1000 --assets 10000
    python bench/status_scale.py --assets 100 --days 365 --customers 100   # day x customer

With `--customers K` every asset is partitioned by day x customer (a static dimension of K
keys): each asset reads its upstream's same customer, the first layer the daily source.

The DAG is layered like a real warehouse: ten layers, each asset reading one or two assets of
the layer above (the first layer reads the source), 20 % of edges a trailing 7-day window.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

START = dt.date(2015, 1, 1)
DAYS = 3650
NOW = "2025-06-01T00:00:00"
LAYERS = 10
TIME_SIZE = 1 << 24  # assetflow.core.multi: the time index is innermost in a packed index


def build_definitions(
    n_assets: int, customers: int = 0, seed: int = 7
) -> tuple[str, list[tuple[str, str, int]]]:
    """Python source of the definitions, and the edges (downstream, upstream, window start)."""
    rng = random.Random(seed)
    end = START + dt.timedelta(days=DAYS - 1)
    keys = ", ".join(f'"c{c}"' for c in range(customers))
    lines = [
        "import os",
        "from assetflow import asset, daily, multi, source, static, window",
        f'DAYS = daily("{START}", "{end}")',
        f"PARTS = multi(day=DAYS, customer=static({keys}))" if customers else "PARTS = DAYS",
        'CHANGED = os.environ.get("BENCH_CHANGED_PARTITION")',
        "",
        "@source(partitions=DAYS, observe=lambda key: 'v2' if key == CHANGED else 'v1')",
        "def src(ctx):",
        '    return "SELECT 1 AS x"',
        "",
    ]
    per_layer = max(1, n_assets // LAYERS)
    edges: list[tuple[str, str, int]] = []
    for i in range(n_assets):
        layer = i // per_layer
        if layer == 0:
            deps = ["src"]
        else:
            above = range((layer - 1) * per_layer, min(layer * per_layer, n_assets))
            deps = [
                f"a{j}"
                for j in sorted(rng.sample(list(above), k=min(len(above), rng.choice([1, 2]))))
            ]
        windows = {d: (-6 if rng.random() < 0.2 else 0) for d in deps}
        mapping = ", ".join(f'"{d}": window({w}, 0)' for d, w in windows.items() if w)
        lines += [
            f"@asset(partitions=PARTS, deps={{{mapping}}})",
            f"def a{i}(ctx, {', '.join(deps)}):",
            f'    return "SELECT {i} AS x"',
            "",
        ]
        edges += [(f"a{i}", d, w) for d, w in windows.items()]
    return "\n".join(lines), edges


def write_lineage(
    warehouse: Path, code_versions: dict[str, str], edges, customers: int = 0
) -> None:
    """Every node materialized once, with its inputs, as if a full backfill had run."""
    from assetflow.store.store import Store

    store = Store.open(warehouse)
    conn = store.conn
    conn.execute("CREATE TEMP TABLE code (asset VARCHAR, code_version VARCHAR)")
    conn.executemany("INSERT INTO code VALUES (?, ?)", list(code_versions.items()))
    conn.execute("CREATE TEMP TABLE edges (asset VARCHAR, input VARCHAR, lo INTEGER)")
    conn.executemany("INSERT INTO edges VALUES (?, ?, ?)", edges)
    first = START.toordinal()
    day = f"strftime(DATE '{START}' + i::INTEGER, '%Y-%m-%d')"
    conn.execute(
        f"""
        CREATE TEMP TABLE nodes AS
        SELECT c.asset, i AS offset_, cu AS customer, cu * {TIME_SIZE} + {first} + i AS idx,
               {day} || CASE WHEN {customers} > 0 THEN '|c' || cu ELSE '' END AS partition,
               c.code_version
        FROM code c, range({DAYS}) r(i), range(greatest({customers}, 1)) k(cu)
        """
    )
    conn.execute(
        """
        INSERT INTO assetflow.materializations (materialization_id, run_id, asset, partition,
            partition_index, code_version, data_version, row_count, clipped, started_at,
            ended_at, attempt_id, attempt)
        SELECT row_number() OVER () AS materialization_id, 'bench', asset, partition, idx,
               code_version, left(md5(asset || partition), 16), 1,
               CASE WHEN offset_ < 6 THEN 'clipped' END, now(), now(),
               row_number() OVER () AS attempt_id, 1
        FROM nodes ORDER BY asset, idx
        """
    )
    conn.execute(
        f"""
        INSERT INTO assetflow.inputs
        SELECT materialization_id, input, p, i, CASE WHEN input = 'src' THEN 'v1'
               ELSE left(md5(input || p), 16) END
        FROM (
            SELECT m.materialization_id, e.input,
                   strftime(DATE '{START}' + (m.partition_index % {TIME_SIZE} - {first} + k.k)::INTEGER,
                            '%Y-%m-%d')
                   || CASE WHEN {customers} > 0 AND e.input <> 'src'
                           THEN '|c' || (m.partition_index // {TIME_SIZE}) ELSE '' END AS p,
                   CASE WHEN e.input = 'src' THEN m.partition_index % {TIME_SIZE}
                        ELSE m.partition_index END + k.k AS i
            FROM assetflow.materializations m
            JOIN edges e ON e.asset = m.asset
            JOIN range(-6, 1) k(k) ON k.k >= e.lo
            WHERE m.partition_index % {TIME_SIZE} - {first} + k.k >= 0)
        """
    )
    settle_nodes(conn)
    conn.execute(
        f"""
        INSERT INTO assetflow.observations (run_id, source, partition, version, detail, observed_at)
        SELECT 'bench', 'src', strftime(DATE '{START}' + i::INTEGER, '%Y-%m-%d'), 'v1', '', now()
        FROM range({DAYS}) r(i)
        """
    )
    store.close()


def settle_nodes(conn: duckdb.DuckDBPyConnection) -> None:
    """Every materialization written straight into the record becomes its node's latest,
    as the end of a run leaves them (nodes merged up to the watermark)."""
    conn.execute(
        "INSERT INTO assetflow.nodes BY NAME SELECT asset, partition_index, partition,"
        " materialization_id, code_version, data_version, clipped, false AS rebuilt"
        " FROM assetflow.materializations"
    )
    conn.execute(
        "UPDATE assetflow.meta SET value = (SELECT max(materialization_id)"
        " FROM assetflow.materializations)::VARCHAR WHERE key = 'nodes_watermark'"
    )


def timed(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MB, and the last line of output of one CLI process."""
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "assetflow", "--now", NOW, *args],
        cwd=cwd, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    rss_kb = int(done.stderr.strip().splitlines()[-1])
    if done.returncode != 0:
        raise SystemExit(f"{args} failed: {done.stderr[-2000:]}")
    return seconds, rss_kb // 1024, done.stdout.strip().splitlines()[0][:100]


def bench(n_assets: int, work: Path, repeats: int, customers: int = 0) -> dict[str, object]:
    import os

    from assetflow.defs.loader import load_definitions

    project = work / f"assets_{n_assets}_{DAYS}_{customers}"
    shutil.rmtree(project, ignore_errors=True)
    (project / "definitions").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[tool.assetflow]\n")
    source, edges = build_definitions(n_assets, customers)
    (project / "definitions" / "synthetic.py").write_text(source)
    defs = load_definitions(project / "definitions")
    t0 = time.perf_counter()
    write_lineage(
        project / "warehouse" / "warehouse.duckdb",
        {n: s.code_version for n, s in defs.assets.items()},
        edges,
        customers,
    )
    build_seconds = time.perf_counter() - t0
    with duckdb.connect(str(project / "warehouse" / "warehouse.duckdb"), read_only=True) as conn:
        nodes = conn.execute("SELECT count(*) FROM assetflow.materializations").fetchall()[0][0]
        inputs = conn.execute("SELECT count(*) FROM assetflow.inputs").fetchall()[0][0]
    changed = (START + dt.timedelta(days=min(2000, DAYS // 2))).isoformat()
    # As on a normal machine, modules are compiled once and read from __pycache__ after
    # (this environment may set PYTHONDONTWRITEBYTECODE): one untimed warm-up run first.
    env = {**os.environ, "BENCH_CHANGED_PARTITION": changed, "COLUMNS": "100"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    timed(["status", "--json"], env, project)
    results: dict[str, object] = {
        "assets": n_assets,
        "nodes": nodes,
        "inputs": inputs,
        "build_s": build_seconds,
    }
    for label, args in (
        ("status", ["status", "--json"]),
        ("dry_run", ["materialize", "--dry-run", "--json"]),
    ):
        runs = [timed(args, env, project) for _ in range(repeats)]
        results[f"{label}_s"] = statistics.median(r[0] for r in runs)
        results[f"{label}_rss_mb"] = max(r[1] for r in runs)
    plan = subprocess.run(
        [sys.executable, "-m", "assetflow", "--now", NOW, "materialize", "--dry-run", "--json"],
        cwd=project, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    results["planned"] = json.loads(plan)["planned"]
    return results


def main() -> None:
    global DAYS
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--assets", type=int, action="append", help="asset count (repeatable)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("bench/.work"))
    parser.add_argument("--days", type=int, default=DAYS, help="days per asset (3650)")
    parser.add_argument("--customers", type=int, default=0, help="a day x customer dimension")
    options = parser.parse_args()
    DAYS = options.days
    sizes = options.assets or [1000]
    print(
        f"{'assets':>7} {'nodes':>10} {'inputs':>11} {'planned':>8} {'status s':>9} {'RSS MB':>7} {'dry-run s':>10} {'RSS MB':>7}"
    )
    for n in sizes:
        r = bench(n, options.work, options.repeats, options.customers)
        print(
            f"{r['assets']:>7,} {r['nodes']:>10,} {r['inputs']:>11,} {r['planned']:>8,} "
            f"{r['status_s']:>9.2f} {r['status_rss_mb']:>7,} {r['dry_run_s']:>10.2f} {r['dry_run_rss_mb']:>7,}",
            flush=True,
        )
    print(f"medians of {options.repeats} runs each; whole processes, Python start included")


if __name__ == "__main__":
    main()
