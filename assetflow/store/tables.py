"""Asset tables as data: their columns, their rows, and what they used to have.

Part of the store. Every function takes the connection (or a worker's cursor) to use.
"""

from __future__ import annotations

from typing import Any

import duckdb

from assetflow.store.schema import PARTITION_COLUMN, table_sql


def table_columns(
    cur: duckdb.DuckDBPyConnection, asset: str, schema: str = "main"
) -> dict[str, str]:
    """An asset table's columns and types in table order, without the partition column,
    as the catalog spells them (empty: no table). `schema`: an environment's own rows
    (`_env_NAME`), or its view of the asset (`NAME`)."""
    rows = cur.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = ? AND table_name = ? AND column_name <> ?"
        " ORDER BY ordinal_position",
        [schema, asset, PARTITION_COLUMN],
    ).fetchall()
    return dict(rows)


def read_partitions(
    cur: duckdb.DuckDBPyConnection, asset: str, where: str | None, schema: str = "main"
) -> Any:
    """An asset's rows (those matching `where`, a condition from schema.in_partitions; all
    when None) as a `pyarrow.Table`, with the partition column; None when the asset has no
    table yet."""
    if not table_columns(cur, asset, schema):
        return None
    condition = f" WHERE {where}" if where else ""
    return arrow_table(cur.sql(f"SELECT * FROM {table_sql(asset, schema)}{condition}"))


def once_had_column(
    cur: duckdb.DuckDBPyConnection, assets: list[str], column: str, schema: str = "main"
) -> list[str]:
    """Those of `assets` whose table once had `column` (as their materializations record)
    and has it no more."""
    rows = cur.execute(
        "SELECT DISTINCT asset FROM assetflow.materializations"
        " WHERE list_contains(?, asset) AND list_contains(list_transform("
        "   string_split(table_schema, ','), lambda c: split_part(c, ' ', 1)), ?)"
        " AND asset NOT IN (SELECT table_name FROM information_schema.columns"
        "   WHERE table_schema = ? AND column_name = ?) ORDER BY asset",
        [assets, column, schema, column],
    ).fetchall()
    return [a for (a,) in rows]


def relation_columns(relation: duckdb.DuckDBPyRelation) -> dict[str, str]:
    """A relation's columns and their types, as DuckDB names them (binding it, not running)."""
    return dict(zip(relation.columns, map(str, relation.types), strict=True))


def arrow_table(relation: duckdb.DuckDBPyRelation) -> Any:
    """A relation's rows as a `pyarrow.Table` (DuckDB 2 renamed fetch_arrow_table)."""
    fetch = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return fetch()
