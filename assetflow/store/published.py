"""Lineage of writes committed elsewhere (`storage = "delta"`): a worker committed the
partitions to a Delta table and computed their data versions; the coordinator records them
here, with their check results and the commit's version, in one transaction. Commits a dead
coordinator never recorded are adopted from their metadata.

The view `main.ASSET` reads the Delta table's files as of a version (kept in `meta` as
`delta_view:ASSET`), so that status (the table's columns), `assetflow sql`, `check` and the
page see Delta-stored assets as they see embedded ones. A run refreshes the views of what
it wrote at its end; a writer that finds a table's log ahead of its view refreshes it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import duckdb

from assetflow.core.checks import sql_literal
from assetflow.core.environments import PROD, split_table, table_name
from assetflow.core.records import CheckResult, NodeWrite, Published, Written
from assetflow.store.changes import Changes
from assetflow.store.connect import rollback
from assetflow.store.retention import SINCE_MARK
from assetflow.store.rows import RowInserter, values_relation
from assetflow.store.schema import MATERIALIZATION_COLUMNS, PARTITION_COLUMN
from assetflow.store.shape import record_removed
from assetflow.store.views import own_partitions
from assetflow.store.writer import inputs_text_of

_NAMES = ", ".join(c for c, _ in MATERIALIZATION_COLUMNS)


def record_published(
    cur: duckdb.DuckDBPyConnection,
    rows: RowInserter,
    writes: Sequence[NodeWrite],
    written: dict[str, Written],
    published: Published,
    checks: dict[str, tuple[CheckResult, ...]],
    now: dt.datetime,
    env: str,
    changes: Changes,
) -> dict[str, Written]:
    """Record a worker's Delta commit of `writes` in `env`: their materializations (data
    versions as the worker computed them), check results, the partitions it removed, the
    commit, and (outside prod) that the environment holds these partitions now — one
    transaction, journaled (changes.py). Returns what was written, with its ids."""
    asset, run_id = writes[0].asset, writes[0].run_id
    table_schema, version = published.table_schema, published.version
    values = [
        [w.run_id, w.asset, w.partition, w.partition_index, w.code_version,
         written[w.partition].data_version, written[w.partition].row_count, w.clipped,
         w.started_at, now, w.attempt, w.log_path, inputs_text_of(w), table_schema, env]
        for w in writes
    ]  # fmt: skip
    cur.execute("BEGIN TRANSACTION")
    try:
        ids = _insert(cur, values)
        checked = [
            (
                (w.asset, w.partition, w.partition_index),
                ids[w.partition],
                checks.get(w.partition, ()),
            )
            for w in writes
        ]
        rows.insert_checks(cur, run_id, checked, now)
        record_removed(cur, run_id, asset, published.removed, now)
        _commit_rows(cur, table_name(asset, env), version,
                     [(w.partition, ids[w.partition]) for w in writes], run_id, now)  # fmt: skip
        if env != PROD:
            own_partitions(cur, env, asset, [w.partition for w in writes])
        reshaped = published.removed or published.reshaped
        changes.commit(cur, None if reshaped else [(w.asset, w.partition_index) for w in writes])
    except BaseException:
        rollback(cur)
        raise
    return {key: Written(w.row_count, w.data_version, ids[key]) for key, w in written.items()}


def _insert(cur: duckdb.DuckDBPyConnection, values: list[list[Any]]) -> dict[str, int]:
    """Materializations with their values given; partition -> its id."""
    ids = "nextval('assetflow.materialization_ids'), nextval('assetflow.attempt_ids')"
    head = f"INSERT INTO assetflow.materializations (materialization_id, attempt_id, {_NAMES})"
    rows, params = values_relation(values, MATERIALIZATION_COLUMNS)
    found = cur.execute(
        f"{head} SELECT {ids}, * FROM {rows} RETURNING partition, materialization_id", params
    ).fetchall()
    return dict(found)


def _commit_rows(
    cur: duckdb.DuckDBPyConnection,
    asset: str,
    version: int,
    partitions: list[tuple[str | None, int | None]],
    run_id: str | None,
    now: dt.datetime,
) -> None:
    """The commit as recorded: a row per partition it wrote (one with none if it wrote none)."""
    keys, ids = zip(*(partitions or [(None, None)]), strict=True)
    cur.execute(
        "INSERT INTO assetflow.delta_commits SELECT ?, ?, unnest(?::VARCHAR[]),"
        " unnest(?::BIGINT[]), ?, ?",
        [asset, version, list(keys), list(ids), run_id, now],
    )


def record_commit(
    cur: duckdb.DuckDBPyConnection,
    table: str,
    version: int,
    run_id: str,
    now: dt.datetime,
    written: dict[str, Written] | None = None,
) -> None:
    """A commit recorded, so that it is not adopted: one that wrote no partition (a wipe's
    delete, a promotion's), or the partitions `written` (copied by a promotion or a reuse)."""
    found: list[tuple[str | None, int | None]] = [
        (key, w.materialization_id) for key, w in (written or {}).items()
    ]
    _commit_rows(cur, table, version, found, run_id, now)


def recorded_summary(cur: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int, int]]:
    """Per asset: the highest recorded version of its Delta table, how many versions are
    recorded from the base, and the base (every version below it is recorded: pruned). All
    of them are recorded up to the highest when count = highest - base + 1."""
    found = cur.execute(
        "SELECT asset, max(version), count(DISTINCT version), any_value(base)"
        f" FROM ({SINCE_MARK}) GROUP BY asset"
    ).fetchall()
    return {asset: (top, count, base) for asset, top, count, base in found}


def recorded_versions(cur: duckdb.DuckDBPyConnection, asset: str) -> set[int]:
    """The versions of the asset's Delta table whose lineage is recorded."""
    found = cur.execute(
        "SELECT DISTINCT version FROM assetflow.delta_commits WHERE asset = ?", [asset]
    ).fetchall()
    return {v for (v,) in found}


def adopt(
    cur: duckdb.DuckDBPyConnection,
    table: str,
    version: int,
    lineage: dict[str, Any],
    now: dt.datetime,
) -> list[str]:
    """Record a commit to the Delta table `table` (`table_name`) that a dead coordinator
    never recorded, from its metadata (`lineage`, {} for a commit assetflow did not make;
    a promotion's commits are recorded by the promotion). A partition a later recorded
    commit wrote again keeps that one. Returns the partitions adopted. One transaction."""
    env = lineage.get("env", PROD)
    asset = split_table(table)[1]
    ours = table_name(str(lineage.get("asset")), env) == table and "promotion" not in lineage
    nodes = lineage.get("nodes") if ours else None
    cur.execute("BEGIN TRANSACTION")
    try:
        if ours and lineage.get("wiped"):  # a wipe whose removal was never recorded
            record_removed(cur, lineage["run_id"], asset, lineage["wiped"], now)
        later = {
            p
            for (p,) in cur.execute(
                "SELECT DISTINCT partition FROM assetflow.delta_commits"
                " WHERE asset = ? AND version > ? AND partition IS NOT NULL",
                [table, version],
            ).fetchall()
        }
        values = [
            [lineage["run_id"], asset, n["partition"], n["index"], lineage["code_version"],
             n["data_version"], n["row_count"], n["clipped"],
             dt.datetime.fromisoformat(n["started_at"]), now, lineage["attempt"], None,
             n["inputs"], lineage["table_schema"], env]
            for n in nodes or () if n["partition"] not in later
        ]  # fmt: skip
        ids = _insert(cur, values) if values else {}
        _commit_rows(cur, table, version, list(ids.items()), lineage.get("run_id"), now)
        if ids and env != PROD:
            own_partitions(cur, env, asset, sorted(ids))
        cur.execute("COMMIT")
    except BaseException:
        rollback(cur)
        raise
    return sorted(ids)


def refresh_view(
    cur: duckdb.DuckDBPyConnection, table: str, source: str | None, version: int | None
) -> None:
    """The Delta table's view (`main.ASSET`, an environment's `_env_NAME.ASSET`) over what
    reads it as of `version` (`delta_source`, `remote_source`; None: no view), and the
    version noted."""
    schema, asset = split_table(table)
    if source is None:
        cur.execute(f'DROP VIEW IF EXISTS "{schema}"."{asset}"')
    else:
        cur.execute(f'CREATE OR REPLACE VIEW "{schema}"."{asset}" AS SELECT * FROM {source}')
    key = f"delta_view:{table}"
    cur.execute("DELETE FROM assetflow.meta WHERE key = ?", [key])
    cur.execute("INSERT INTO assetflow.meta VALUES (?, ?)", [key, str(version)])


def delta_source(files: Sequence[str]) -> str | None:
    """What the view of a Delta table in a folder reads: its data files (none: no view)."""
    return parquet_scan(files) if files else None


def remote_source(table: str) -> str:
    """What the view of a Delta table on object storage reads: its dataset as each session
    registers it (DuckDB reads remote files only with its httpfs extension)."""
    return f'"{remote_name(table)}"'


def remote_name(table: str) -> str:
    """The name a session registers a remote Delta table's dataset under."""
    return f"delta:{table}"


def parquet_scan(files: Sequence[str], filename: bool = False) -> str:
    """DuckDB's read of a Delta table's data files (local ones: remote files need httpfs),
    with the partition column (and each row's file as `filename`). A table partitioned by
    the key (one folder per partition; tables made before 2026-12) has it in its paths; a
    clustered one in its files."""
    listed = ", ".join(sql_literal(f) for f in files)
    hive = all(f"/{PARTITION_COLUMN}=" in f.replace("\\", "/") for f in files)
    key = f"hive_partitioning = true, hive_types = {{'{PARTITION_COLUMN}': VARCHAR}}"
    return (
        f"read_parquet([{listed}], {key if hive else 'hive_partitioning = false'},"
        f" union_by_name = true{', filename = true' if filename else ''})"
    )


def view_versions(cur: duckdb.DuckDBPyConnection) -> dict[str, int | None]:
    """The Delta version each table's view reads (None: it was made of no table)."""
    found = cur.execute(
        "SELECT substr(key, 12), value FROM assetflow.meta WHERE key LIKE 'delta_view:%'"
    ).fetchall()
    return {asset: None if v == "None" else int(v) for asset, v in found}
