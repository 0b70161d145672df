"""Inserting many metadata rows in one statement: shared by the store and its writer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import duckdb

from assetflow.core.records import CheckResult

CHECK_COLUMNS = (
    "run_id, asset, partition, partition_index, materialization_id, check_name, severity,"
    " passed, failing_rows, message, samples, checked_at"
)

# (node as (asset, partition, index), the materialization it checked, its results)
Checked = tuple[tuple[str, str, int], int | None, Sequence[CheckResult]]


def values_relation(
    rows: Sequence[Sequence[Any]], columns: Sequence[tuple[str, str]], alias: str = "v"
) -> tuple[str, list[Any]]:
    """`rows` (values in the order of `columns`: (name, type) pairs) as a relation
    `(...) alias(names)` for one statement, and its parameters: a few rows as scalar
    parameters, more as one list per column (scalars convert faster for a row or two; a
    VALUES row per row binds several times slower than lists for 31)."""
    names = ", ".join(name for name, _ in columns)
    if len(rows) <= 4:
        row = "(" + ", ".join(f"?::{kind}" for _, kind in columns) + ")"
        params = [value for r in rows for value in r]
        return f"(VALUES {', '.join([row] * len(rows))}) {alias}({names})", params
    selects = ", ".join(f"unnest(?::{kind}[])" for _, kind in columns)
    lists = [list(column) for column in zip(*rows, strict=True)]
    return f"(SELECT {selects}) {alias}({names})", lists


class RowInserter:
    """Knows the column types of assetflow's tables once it has seen them."""

    def __init__(self) -> None:
        self._types: dict[str, dict[str, str]] = {}

    def insert(
        self,
        conn: duckdb.DuckDBPyConnection,
        table: str,
        columns: str,
        rows: Sequence[tuple[Any, ...]],
    ) -> None:
        """Many rows in one statement (a statement costs ~0.5 ms in DuckDB), through `conn`
        (a worker's cursor, inside its transaction, or the store's connection)."""
        if not rows:
            return
        types = self._column_types(table, conn)
        typed = [(n, types[n]) for n in (c.strip() for c in columns.split(","))]
        relation, params = values_relation(rows, typed)
        conn.execute(f"INSERT INTO assetflow.{table} ({columns}) SELECT * FROM {relation}", params)

    def insert_checks(
        self,
        conn: duckdb.DuckDBPyConnection,
        run_id: str | None,
        checked: Sequence[Checked],
        checked_at: dt.datetime,
    ) -> None:
        rows = [
            (run_id, *node, mid, r.check, r.severity, r.passed, r.failing_rows, r.message,
             r.samples_json(), checked_at)
            for node, mid, results in checked
            for r in results
        ]  # fmt: skip
        self.insert(conn, "check_results", CHECK_COLUMNS, rows)

    def _column_types(self, table: str, conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
        cached = self._types.get(table)
        if cached is None:
            rows = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'assetflow' AND table_name = ?",
                [table],
            ).fetchall()
            cached = self._types[table] = dict(rows)
        return cached
