"""Reuse by partition: a node about to be computed whose code version and input versions
are those of a node some environment holds now (prod included) is the same data. Its rows
are copied from there into the environment's own table, and its materialization records
the one it came from (`reused_from`), in one transaction; nothing is computed.

Only a node whose own table (if any) has the holder's columns is reused: rows copied into
another shape would not be what their version says.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from assetflow.core.environments import Env, data_schema
from assetflow.core.records import NodeWrite, Written
from assetflow.store.changes import Changes
from assetflow.store.connect import transaction
from assetflow.store.schema import PARTITION_COLUMN, PENDING_INPUTS, table_sql
from assetflow.store.tables import table_columns
from assetflow.store.views import RETAINED, own_partitions, refresh_env_view
from assetflow.store.writer import inputs_text_of, schema_text


@dataclass(frozen=True)
class Held:
    """A node some environment holds now, the same data as the one to compute."""

    env: str
    materialization_id: int
    data_version: str
    row_count: int
    table_schema: str
    delta_table: str | None = None  # kept by a promotion on Delta: the table and version
    delta_version: int | None = None  # whose rows it is


# Nodes held now with this asset, partition and code version, in another environment, or
# kept when a promotion replaced them (RETAINED).
_CANDIDATES = f"""
SELECT n.env, n.materialization_id, n.data_version, m.row_count, m.table_schema,
       NULL, NULL
FROM assetflow.nodes n JOIN assetflow.materializations m USING (materialization_id)
WHERE n.asset = $asset AND n.partition_index = $index AND n.code_version = $code
  AND n.env <> $env AND n.data_version IS NOT NULL
UNION ALL
SELECT '{RETAINED}', m.materialization_id, m.data_version, m.row_count, m.table_schema,
       r.delta_table, r.delta_version
FROM assetflow.retained r JOIN assetflow.materializations m USING (materialization_id)
WHERE m.asset = $asset AND m.partition_index = $index AND m.code_version = $code
ORDER BY env = 'prod' DESC, env, materialization_id DESC
"""

_INPUTS_OF = f"""
SELECT input, input_index, coalesce(input_version, '') FROM assetflow.inputs
WHERE materialization_id = $mid
UNION ALL
SELECT input, input_index, coalesce(input_version, '') FROM ({PENDING_INPUTS})
WHERE materialization_id = $mid
"""


def _same_inputs(cur: duckdb.DuckDBPyConnection, mid: int, write: NodeWrite) -> bool:
    recorded = cur.execute(_INPUTS_OF, {"mid": mid}).fetchall()
    wanted = [(i.input, i.partition_index, i.version or "") for i in write.inputs]
    return sorted(recorded) == sorted(wanted)


def reusable(
    cur: duckdb.DuckDBPyConnection, env: Env, writes: Sequence[NodeWrite]
) -> dict[str, Held] | None:
    """What every node of `writes` would reuse, or None if one of them has nothing to."""
    found: dict[str, Held] = {}
    own = table_columns(cur, writes[0].asset, env.data_schema)
    for w in writes:
        rows = cur.execute(
            _CANDIDATES,
            {"asset": w.asset, "index": w.partition_index, "code": w.code_version,
             "env": env.name},
        ).fetchall()  # fmt: skip
        match = next(
            (Held(*r) for r in rows if _same_inputs(cur, r[1], w)
             and (not own or schema_text(own) == r[4])),
            None,
        )  # fmt: skip
        if match is None:
            return None
        found[w.partition] = match
    return found


def _rows_of(asset: str, held: Held) -> str:
    """Where a held node's rows are: its environment's own table, or the kept rows."""
    if held.env == RETAINED:
        kept = table_sql(asset, RETAINED)
        return f"(SELECT * EXCLUDE (_af_mid) FROM {kept} WHERE _af_mid = {held.materialization_id})"
    return table_sql(asset, data_schema(held.env))


def copy_reused(
    cur: duckdb.DuckDBPyConnection,
    env: Env,
    writes: Sequence[NodeWrite],
    held: dict[str, Held],
    now: dt.datetime,
    changes: Changes,
) -> dict[str, Written]:
    """The held rows copied into `env`'s own table and recorded as reused, one transaction
    (journaled: changes.py)."""
    asset = writes[0].asset
    table = table_sql(asset, env.data_schema)
    if not table_columns(cur, asset, env.data_schema):
        first = held[writes[0].partition]
        with changes.committing(None):  # a new table: its columns are what status compares
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM {_rows_of(asset, first)}"
                " WHERE false"
            )
            if not env.is_prod:
                refresh_env_view(cur, env, asset)
    with transaction(cur, changes, [(w.asset, w.partition_index) for w in writes]):
        for w in writes:
            h = held[w.partition]
            cur.execute(f"DELETE FROM {table} WHERE {PARTITION_COLUMN} = ?", [w.partition])
            cur.execute(
                f"INSERT INTO {table} BY NAME SELECT * FROM {_rows_of(asset, h)}"
                f" WHERE {PARTITION_COLUMN} = ?",
                [w.partition],
            )
        return record_reused(cur, env, writes, held, now)


def record_reused(
    cur: duckdb.DuckDBPyConnection,
    env: Env,
    writes: Sequence[NodeWrite],
    held: dict[str, Held],
    now: dt.datetime,
) -> dict[str, Written]:
    """Inside the transaction that copied their rows: `writes` recorded as reused from what
    `held` names, and (outside prod) held by `env` from now on."""
    written = {}
    for w in writes:
        h = held[w.partition]
        (mid,) = cur.execute(
            "INSERT INTO assetflow.materializations (materialization_id, attempt_id,"
            " run_id, asset, partition, partition_index, code_version, data_version,"
            " row_count, clipped, started_at, ended_at, attempt, log_path, inputs_text,"
            " table_schema, env, reused_from) VALUES (nextval("
            "'assetflow.materialization_ids'), nextval('assetflow.attempt_ids'),"
            " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING materialization_id",
            [w.run_id, w.asset, w.partition, w.partition_index, w.code_version,
             h.data_version, h.row_count, w.clipped, w.started_at, now, w.attempt,
             w.log_path, inputs_text_of(w), h.table_schema, env.name,
             h.materialization_id],
        ).fetchall()[0]  # fmt: skip
        written[w.partition] = Written(h.row_count, h.data_version, mid, h.materialization_id)
    if not env.is_prod:
        own_partitions(cur, env.name, writes[0].asset, [w.partition for w in writes])
    return written
