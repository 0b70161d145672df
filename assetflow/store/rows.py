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
        names = [c.strip() for c in columns.split(",")]
        types = self._column_types(table, conn)
        if len(rows) <= 4:  # for a row or two, scalar parameters convert faster than lists
            row = "(" + ", ".join(f"?::{types[n]}" for n in names) + ")"
            params = [value for r in rows for value in r]
            conn.execute(
                f"INSERT INTO assetflow.{table} ({columns}) VALUES {', '.join([row] * len(rows))}",
                params,
            )
            return
        lists = [list(column) for column in zip(*rows, strict=True)]
        selects = ", ".join(f"unnest(?::{types[n]}[])" for n in names)
        conn.execute(f"INSERT INTO assetflow.{table} ({columns}) SELECT {selects}", lists)

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
