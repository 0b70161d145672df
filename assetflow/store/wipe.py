"""Wiping partitions: their rows deleted and their removal recorded, in one transaction."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import duckdb

from assetflow.core.records import RunStatus
from assetflow.store.schema import in_partitions
from assetflow.store.shape import record_removed

WIPE_TRIGGER = "wipe"


def holding_data(conn: duckdb.DuckDBPyConnection, asset: str, keys: Sequence[str]) -> list[str]:
    """Those of `keys` whose latest record of `asset` has data (wiping the others changes
    nothing), in the order given."""
    rows = conn.execute(
        "SELECT partition FROM assetflow.materializations"
        " WHERE asset = ? AND list_contains(?, partition)"
        " GROUP BY partition HAVING arg_max(data_version IS NOT NULL, materialization_id)",
        [asset, list(keys)],
    ).fetchall()
    found = {p for (p,) in rows}
    return [k for k in keys if k in found]


def wipe_partitions(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    wiped: dict[str, Sequence[str]],
    now: dt.datetime,
) -> dict[str, int]:
    """Delete the rows of each asset's partitions (asset -> keys) and record them removed
    (`missing`; their readers `upstream_changed`), all in one transaction, recorded as a run
    with trigger `wipe`. Returns the rows deleted per asset."""
    count = sum(len(keys) for keys in wiped.values())
    selection = json.dumps({"wipe": {a: list(k) for a, k in wiped.items()}})
    tables = {
        name
        for (name,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    }
    deleted: dict[str, int] = {}
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(
            "INSERT INTO assetflow.runs (run_id, trigger, selection, started_at, ended_at,"
            " status, planned, succeeded, verified, failed, skipped)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0)",
            [run_id, WIPE_TRIGGER, selection, now, now, RunStatus.SUCCESS, count, count],
        )
        for asset, keys in wiped.items():
            deleted[asset] = 0
            if asset in tables:  # a list, not a range: the keys need not be contiguous
                where = in_partitions(list(keys), ordered=False)
                found = conn.execute(f'DELETE FROM main."{asset}" WHERE {where}').fetchone()
                deleted[asset] = found[0] if found else 0
            record_removed(conn, run_id, asset, keys, now)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return deleted
