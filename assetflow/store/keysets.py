"""Dynamic partitions' key sets, stored in the warehouse (`assetflow.partition_keys`).

A key's index is given once, when the key is first added (the next integer of its set), and
kept for good: lineage records partitions by index. Removing a key marks it removed; adding
it again brings back the same index, and so its lineage.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from assetflow.core.partitions import DynamicKeys
from assetflow.store.connect import rollback


def read_keysets(conn: duckdb.DuckDBPyConnection, names: list[str]) -> dict[str, DynamicKeys]:
    """Every key ever added to the named sets: (index, key, still there), by index."""
    rows = conn.execute(
        "SELECT name, idx, key, removed_at IS NULL FROM assetflow.partition_keys"
        " WHERE list_contains(?, name) ORDER BY name, idx",
        [names],
    ).fetchall()
    out: dict[str, list[tuple[int, str, bool]]] = {name: [] for name in names}
    for name, idx, key, active in rows:
        out[name].append((idx, key, active))
    return {name: tuple(keys) for name, keys in out.items()}


def add_keys(
    conn: duckdb.DuckDBPyConnection, name: str, keys: list[str], now: dt.datetime
) -> list[str]:
    """Add keys to a set, in order, in one transaction; returns those that were not there
    (already present ones change nothing)."""
    conn.execute("BEGIN TRANSACTION")
    try:
        added = insert_keys(conn, name, keys, now)
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return added


def insert_keys(
    conn: duckdb.DuckDBPyConnection, name: str, keys: list[str], now: dt.datetime
) -> list[str]:
    """add_keys within the caller's transaction (a write that adds keys with its rows)."""
    existing = read_keysets(conn, [name])[name]
    known = {key: active for _, key, active in existing}
    start = max((i for i, _, _ in existing), default=-1) + 1
    added = [k for k in dict.fromkeys(keys) if not known.get(k, False)]
    back = [k for k in added if k in known]
    new = [k for k in added if k not in known]
    if back:
        conn.execute(
            "UPDATE assetflow.partition_keys SET removed_at = NULL, added_at = ?"
            " WHERE name = ? AND list_contains(?, key)",
            [now, name, back],
        )
    if new:
        conn.executemany(
            "INSERT INTO assetflow.partition_keys VALUES (?, ?, ?, ?, NULL)",
            [(name, key, start + n, now) for n, key in enumerate(new)],
        )
    return added


def remove_keys(
    conn: duckdb.DuckDBPyConnection, name: str, keys: list[str], now: dt.datetime
) -> list[str]:
    """Mark keys removed; returns those that were there."""
    rows = conn.execute(
        "UPDATE assetflow.partition_keys SET removed_at = ? WHERE name = ?"
        " AND list_contains(?, key) AND removed_at IS NULL RETURNING key",
        [now, name, list(keys)],
    ).fetchall()
    found = {k for (k,) in rows}
    return [k for k in keys if k in found]
