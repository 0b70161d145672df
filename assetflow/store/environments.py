"""Environments in the warehouse file: made and dropped, compared with their parent from
lineage, and promoted into it, each in one transaction.

An environment holds only what it built (`assetflow.env_owned`, its rows in `_env_NAME`, its
nodes under its name); everything else it reads from its parent through its views
(views.py). Making one writes a row and two empty schemas, whatever the warehouse holds.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from assetflow.core.environments import Env, data_schema, read_schema
from assetflow.core.records import RunStatus
from assetflow.store.connect import transaction
from assetflow.store.schema import FIELD_SEP, INPUT_SEP, PARTITION_COLUMN, table_sql
from assetflow.store.tables import table_columns
from assetflow.store.views import RETAINED, own_partitions, refresh_env_view, sync_env_views
from assetflow.store.writer import schema_text

PROMOTE_TRIGGER = "promote"


@dataclass(frozen=True)
class Differing:
    """A node whose data differs between an environment and the one it is compared with:
    the versions on each side (None: no data there)."""

    asset: str
    partition: str
    version: str | None
    against: str | None


def create(conn: duckdb.DuckDBPyConnection, env: Env, now: dt.datetime) -> None:
    """Record `env` (its chain says its parent) and make its schemas and views."""
    assert env.parent is not None
    with transaction(conn):
        conn.execute(
            "INSERT INTO assetflow.environments VALUES (?, ?, ?)", [env.name, env.parent, now]
        )
        conn.execute(f'CREATE SCHEMA "{env.data_schema}"')
        conn.execute(f'CREATE SCHEMA "{env.read_schema}"')
        sync_env_views(conn, env)


def drop(conn: duckdb.DuckDBPyConnection, name: str) -> None:
    """Forget `name`: its record, what it held and its schemas. Its runs stay in history."""
    with transaction(conn):
        conn.execute("DELETE FROM assetflow.environments WHERE name = ?", [name])
        for table in ("env_owned", "nodes", "attempt_log"):
            conn.execute(f"DELETE FROM assetflow.{table} WHERE env = ?", [name])
        conn.execute(f'DROP SCHEMA IF EXISTS "{read_schema(name)}" CASCADE')
        conn.execute(f'DROP SCHEMA IF EXISTS "{data_schema(name)}" CASCADE')


# The nodes an environment holds itself, each with the version its parent's chain holds.
_DIFFERING = """
WITH own AS (
    SELECT asset, partition_index, partition, data_version, materialization_id
    FROM assetflow.nodes WHERE env = $env),
above AS (
    SELECT asset, partition_index,
           arg_min_null(data_version, list_position($chain, env)) AS data_version
    FROM assetflow.nodes
    WHERE list_contains($chain, env) AND (asset, partition_index) IN
          (SELECT (asset, partition_index) FROM own)
    GROUP BY ALL)
SELECT o.asset, o.partition, o.data_version, a.data_version, o.materialization_id
FROM own o LEFT JOIN above a USING (asset, partition_index)
ORDER BY o.asset, o.partition_index
"""


def held(conn: duckdb.DuckDBPyConnection, env: Env) -> list[tuple[Differing, int]]:
    """Every node `env` holds itself, with its parent's version, and its materialization."""
    rows = conn.execute(_DIFFERING, {"env": env.name, "chain": list(env.chain[1:])}).fetchall()
    return [(Differing(a, p, v, w), mid) for a, p, v, w, mid in rows]


def differing(conn: duckdb.DuckDBPyConnection, env: Env) -> list[Differing]:
    """The nodes whose data differs between `env` and its parent, from lineage alone."""
    return [d for d, _ in held(conn, env) if d.version != d.against]


# What a promoted node records in its new environment: the materialization it came from,
# with its inputs (moved into `inputs` when it was merged) as text again.
_PROMOTED = f"""
INSERT INTO assetflow.materializations
    (materialization_id, run_id, asset, partition, partition_index, code_version,
     data_version, row_count, clipped, started_at, ended_at, inputs_text, table_schema, env,
     reused_from)
SELECT nextval('assetflow.materialization_ids'), $run, m.asset, m.partition, m.partition_index,
       m.code_version, m.data_version, m.row_count, m.clipped, $now, $now,
       coalesce(m.inputs_text, (
           SELECT string_agg(i.input || chr({ord(FIELD_SEP)}) || i.input_partition
                             || chr({ord(FIELD_SEP)}) || i.input_index || chr({ord(FIELD_SEP)})
                             || coalesce(i.input_version, ''), chr({ord(INPUT_SEP)})
                             ORDER BY i.input, i.input_index)
           FROM assetflow.inputs i WHERE i.materialization_id = m.materialization_id)),
       $schema, $target, m.materialization_id
FROM assetflow.materializations m
WHERE list_contains($mids, m.materialization_id)
ORDER BY m.partition_index
"""


# How rows kept elsewhere (Delta Lake) were moved before the promotion is recorded: given
# the transaction's cursor, an asset and its partitions, records the commits and returns the
# target table's columns as lineage records them, and where the rows it replaced are still
# read: (Delta table, version).
Moved = Callable[[duckdb.DuckDBPyConnection, str, list[str]], tuple[str, tuple[str, int]]]


def promotion_plan(conn: duckdb.DuckDBPyConnection, env: Env) -> dict[str, list[tuple[str, int]]]:
    """Per asset, the partitions `env` holds itself, each with its materialization."""
    per_asset: dict[str, list[tuple[str, int]]] = {}
    for node, mid in held(conn, env):
        per_asset.setdefault(node.asset, []).append((node.partition, mid))
    return per_asset


def promote(
    conn: duckdb.DuckDBPyConnection,
    env: Env,
    run_id: str,
    now: dt.datetime,
    moved: Moved | None = None,
) -> dict[str, list[str]]:
    """Everything `env` holds itself becomes its parent's, in one transaction: the rows
    replace the parent's partitions (copied here, or `moved` already), the parent's lineage
    records each node as promoted from `env`'s materialization, and `env` reads them from
    its parent again; a pending promotion's record is gone with it. Returns the partitions
    promoted per asset."""
    assert env.parent is not None
    target = Env(env.chain[1:])
    per_asset = promotion_plan(conn, env)
    planned = sum(len(found) for found in per_asset.values())
    with transaction(conn):
        conn.execute(
            "INSERT INTO assetflow.runs (run_id, trigger, selection, started_at, ended_at,"
            " status, planned, succeeded, verified, failed, skipped, env, message)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, ?, ?)",
            [run_id, PROMOTE_TRIGGER, json.dumps({"assets": sorted(per_asset), "from": None,
             "to": None}), now, now, RunStatus.SUCCESS, planned, planned, target.name,
             f"promoted from {env.name}"],
        )  # fmt: skip
        for asset, held_here in per_asset.items():
            keys = [k for k, _ in held_here]
            if moved is None:  # the warehouse file: the rows move in this transaction
                _retain(conn, target, asset, keys, now)
                schema = _copy_rows(conn, env, target, asset, keys)
                conn.execute(
                    f"DELETE FROM {table_sql(asset, env.data_schema)}"
                    f" WHERE list_contains(?, {PARTITION_COLUMN})",
                    [keys],
                )
            else:
                schema, replaced = moved(conn, asset, keys)
                _keep(conn, target, asset, keys, now, replaced)
            conn.execute(
                _PROMOTED,
                {"run": run_id, "now": now, "schema": schema, "target": target.name,
                 "mids": [m for _, m in held_here]},
            )  # fmt: skip
            if not target.is_prod:
                own_partitions(conn, target.name, asset, keys)
        for table in ("env_owned", "nodes"):
            conn.execute(f"DELETE FROM assetflow.{table} WHERE env = ?", [env.name])
        conn.execute("DELETE FROM assetflow.meta WHERE key = ?", [PENDING])
    return {asset: [k for k, _ in found] for asset, found in per_asset.items()}


PENDING = "promoting"  # meta: a promotion whose rows are moving elsewhere (Delta Lake)


def pending(conn: duckdb.DuckDBPyConnection) -> dict[str, str] | None:
    """The promotion recorded as moving rows and not yet recorded done: its run and env."""
    found = conn.execute("SELECT value FROM assetflow.meta WHERE key = ?", [PENDING]).fetchall()
    return json.loads(found[0][0]) if found else None


def begin_pending(conn: duckdb.DuckDBPyConnection, run_id: str, env: str) -> None:
    """Record that a promotion of `env` starts moving rows: whoever opens the warehouse
    next finishes it, should this process die."""
    with transaction(conn):
        conn.execute("DELETE FROM assetflow.meta WHERE key = ?", [PENDING])
        conn.execute(
            "INSERT INTO assetflow.meta VALUES (?, ?)",
            [PENDING, json.dumps({"run_id": run_id, "env": env})],
        )


def _keep(
    conn: duckdb.DuckDBPyConnection,
    target: Env,
    asset: str,
    keys: list[str],
    now: dt.datetime,
    delta: tuple[str, int] | None = None,
) -> list[tuple[int, str]]:
    """The target's own nodes a promotion replaces, recorded as kept for reuse (a revert):
    their rows read from version `delta[1]` of the Delta table `delta[0]`, or (None) copied
    aside by _retain. Returns (materialization, partition) of each."""
    nodes = conn.execute(
        "SELECT materialization_id, partition FROM assetflow.nodes WHERE env = ? AND asset = ?"
        " AND list_contains(?, partition) AND data_version IS NOT NULL",
        [target.name, asset, keys],
    ).fetchall()
    if nodes:
        conn.execute(
            "INSERT INTO assetflow.retained SELECT unnest(?::BIGINT[]), ?, ?, ?, ?",
            [[m for m, _ in nodes], asset, now, *(delta or (None, None))],
        )
    return nodes


def _retain(
    conn: duckdb.DuckDBPyConnection, target: Env, asset: str, keys: list[str], now: dt.datetime
) -> None:
    """The target's own nodes about to be replaced kept, rows and all, for reuse (a revert)."""
    nodes = _keep(conn, target, asset, keys, now)
    if not nodes:
        return
    table, kept = table_sql(asset, target.data_schema), table_sql(asset, RETAINED)
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {RETAINED}")
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {kept} AS SELECT *, 0::BIGINT AS _af_mid FROM {table}"
        " WHERE false"
    )
    for name, kind in table_columns(conn, asset, target.data_schema).items():
        conn.execute(f'ALTER TABLE {kept} ADD COLUMN IF NOT EXISTS "{name}" {kind}')
    conn.execute(
        f"INSERT INTO {kept} BY NAME SELECT t.*, n.mid AS _af_mid FROM {table} t JOIN"
        " (SELECT unnest(?::BIGINT[]) AS mid, unnest(?::VARCHAR[]) AS p) n"
        f" ON t.{PARTITION_COLUMN} = n.p",
        [[m for m, _ in nodes], [p for _, p in nodes]],
    )


def _copy_rows(
    conn: duckdb.DuckDBPyConnection, env: Env, target: Env, asset: str, keys: list[str]
) -> str:
    """The partitions `keys` of `env`'s own table copied over the target's own table (made,
    or given the columns it lacks); returns the target table's columns as lineage records
    them."""
    mine = table_columns(conn, asset, env.data_schema)
    table = table_sql(asset, target.data_schema)
    theirs = table_columns(conn, asset, target.data_schema)
    if not theirs:
        source = table_sql(asset, env.data_schema)
        conn.execute(f"CREATE TABLE {table} AS SELECT * FROM {source} WHERE false")
        if not target.is_prod:
            refresh_env_view(conn, target, asset)
    for name, kind in mine.items():
        if name not in theirs:
            conn.execute(f'ALTER TABLE {table} ADD COLUMN IF NOT EXISTS "{name}" {kind}')
    where = f"list_contains(?, {PARTITION_COLUMN})"
    conn.execute(f"DELETE FROM {table} WHERE {where}", [keys])
    conn.execute(
        f"INSERT INTO {table} BY NAME SELECT * FROM {table_sql(asset, env.data_schema)}"
        f" WHERE {where}",
        [keys],
    )
    return schema_text(table_columns(conn, asset, target.data_schema))
