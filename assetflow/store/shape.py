"""An asset's table follows the columns its asset returns, with no silent wrong data.

What a write changes about its table, decided from the table's columns and the rows' columns
(`Reshape`), and applied inside the write's own transaction:
- a new column is added (older partitions read NULL in it and are `schema_changed`);
- a column the asset no longer returns is dropped, so a reader that still asks for it fails
  loudly instead of reading NULLs;
- a column whose type changed is cast in place; the rows of partitions that cannot be cast
  are removed and those partitions recorded as removed (`missing`; their readers'
  `upstream_changed`), and the run says which;
- a full refresh replaces the table by one made from the rows' columns.

Part of the store: it writes assetflow's metadata (the removal records).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb

from assetflow.core.environments import PROD, data_schema
from assetflow.store.schema import PARTITION_COLUMN, table_sql


@dataclass(frozen=True)
class Reshape:
    """How one write changes its asset's table."""

    asset: str
    added: dict[str, str] = field(default_factory=dict)
    dropped: tuple[str, ...] = ()
    retyped: dict[str, tuple[str, str]] = field(default_factory=dict)  # column -> (old, new)
    refresh: bool = False  # the table is replaced by one of the rows' columns

    @staticmethod
    def between(asset: str, table: dict[str, str], rows: dict[str, str]) -> Reshape:
        """From the table's columns (without the partition column; empty: no table yet) to
        the columns of the rows to write."""
        if not table:
            return Reshape(asset)
        return Reshape(
            asset,
            added={c: t for c, t in rows.items() if c not in table},
            dropped=tuple(c for c in table if c not in rows),
            retyped={c: (table[c], t) for c, t in rows.items() if c in table and table[c] != t},
        )

    def __bool__(self) -> bool:
        return bool(self.added or self.dropped or self.retyped or self.refresh)

    def describe(self) -> str:
        """One line: `evo: column v INTEGER -> VARCHAR, w added, x removed`."""
        if self.refresh:
            return f"{self.asset}: table rebuilt from scratch (full refresh)"
        parts = [f"{c} {old} -> {new}" for c, (old, new) in self.retyped.items()]
        parts += [f"{c} {t} added" for c, t in self.added.items()]
        parts += [f"{c} removed" for c in self.dropped]
        return f"{self.asset}: column {', '.join(parts)}"


def apply(
    cur: duckdb.DuckDBPyConnection,
    reshape: Reshape,
    rows: dict[str, str],
    writing: Sequence[str],
    env: str = PROD,
) -> list[str]:
    """Inside the write's transaction, before its delete and insert: drop the columns that
    went, cast the retyped ones (or rebuild the table for a refresh). Returns the
    partitions, other than those being written, whose rows had to go. `env`: the environment
    whose own table this is."""
    schema = data_schema(env)
    table = table_sql(reshape.asset, schema)
    if reshape.refresh:
        gone = cur.execute(
            "SELECT partition FROM assetflow.materializations WHERE asset = ? AND env = ?"
            " GROUP BY partition HAVING arg_max(data_version IS NOT NULL, materialization_id)"
            " AND NOT list_contains(?, partition) ORDER BY partition",
            [reshape.asset, env, list(writing)],
        ).fetchall()
        cur.execute(f"DROP TABLE IF EXISTS {table}")
        cur.execute(create_table_sql(reshape.asset, rows, schema=schema))
        return [p for (p,) in gone]
    for name in reshape.dropped:
        cur.execute(f'ALTER TABLE {table} DROP COLUMN IF EXISTS "{name}"')
    removed: set[str] = set()
    for name, (_, new) in reshape.retyped.items():
        uncastable = f'"{name}" IS NOT NULL AND try_cast("{name}" AS {new}) IS NULL'
        removed.update(_partitions(cur, table, uncastable, writing))
        cur.execute(
            f'ALTER TABLE {table} ALTER COLUMN "{name}" SET DATA TYPE {new}'
            f' USING try_cast("{name}" AS {new})'
        )
    if removed:
        cur.execute(
            f"DELETE FROM {table} WHERE list_contains(?, {PARTITION_COLUMN})", [sorted(removed)]
        )
    return sorted(removed)


def create_table_sql(
    asset: str, columns: dict[str, str], if_missing: bool = False, schema: str = "main"
) -> str:
    defined = ", ".join(f'"{name}" {kind}' for name, kind in columns.items())
    exists = "IF NOT EXISTS " if if_missing else ""
    table = table_sql(asset, schema)
    return f"CREATE TABLE {exists}{table} ({defined}, {PARTITION_COLUMN} VARCHAR)"


def record_removed(
    cur: duckdb.DuckDBPyConnection,
    run_id: str,
    asset: str,
    partitions: Sequence[str],
    now: dt.datetime,
    env: str = PROD,
) -> None:
    """Record that these partitions' rows are gone: a materialization without a data version
    (no attempt) is their latest, so they are `missing` and their readers see their input
    changed. Every partition ever written has a materialization to take its index from."""
    if not partitions:
        return
    cur.execute(
        "INSERT INTO assetflow.materializations (materialization_id, run_id, asset, partition,"
        " partition_index, row_count, started_at, ended_at, env)"
        " SELECT nextval('assetflow.materialization_ids'), ?, asset, partition, partition_index,"
        " 0, ?, ?, ? FROM (SELECT DISTINCT asset, partition, partition_index"
        " FROM assetflow.materializations WHERE asset = ? AND list_contains(?, partition))",
        [run_id, now, now, env, asset, list(partitions)],
    )


def _partitions(
    cur: duckdb.DuckDBPyConnection, table: str, where: str, writing: Sequence[str]
) -> list[str]:
    """Partitions of the table with a row matching `where`, other than those being written."""
    rows = cur.execute(
        f"SELECT DISTINCT {PARTITION_COLUMN} FROM {table}"
        f" WHERE {where} AND NOT list_contains(?, {PARTITION_COLUMN}) ORDER BY 1",
        [list(writing)],
    ).fetchall()
    return [p for (p,) in rows]
