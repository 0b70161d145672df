"""Wiping partitions: their rows deleted and their removal recorded, in one transaction."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from assetflow.core.records import RunStatus
from assetflow.store.connect import rollback
from assetflow.store.published import record_commit, refresh_view
from assetflow.store.schema import in_partitions
from assetflow.store.shape import record_removed
from assetflow.store.store import Store
from assetflow.store.tables import table_columns

WIPE_TRIGGER = "wipe"


@dataclass(frozen=True)
class Deleted:
    """Rows deleted from an asset's Delta table by commit `version`; `source` what its view
    reads after it (published.delta_source, remote_source)."""

    rows: int
    version: int
    source: str | None


def wipe_partitions(
    store: Store,
    run_id: str,
    wiped: dict[str, Sequence[str]],
    now: dt.datetime,
    pid: int,
    elsewhere: dict[str, Deleted] | None = None,
) -> dict[str, int]:
    """Delete the rows of each asset's partitions (asset -> keys) and record them removed
    (`missing`; their readers `upstream_changed`), all in one transaction, recorded as a run
    with trigger `wipe`. Returns the rows deleted per asset. `elsewhere`: the rows were
    deleted from the assets' Delta tables already (asset -> what that commit did); the
    commit and the table's view are recorded with the removal."""
    conn = store.conn
    count = sum(len(keys) for keys in wiped.values())
    selection = json.dumps({"wipe": {a: list(k) for a, k in wiped.items()}})
    deleted: dict[str, int] = {}
    conn.execute("BEGIN TRANSACTION")
    try:
        store.start_run(run_id, WIPE_TRIGGER, selection, now, pid, count)
        for asset, keys in wiped.items():
            deleted[asset] = 0
            if elsewhere is not None:
                done = elsewhere.get(asset)
                if done is not None:
                    deleted[asset] = done.rows
                    record_commit(conn, asset, done.version, run_id, now)
                    refresh_view(conn, asset, done.source, done.version)
            elif table_columns(conn, asset):  # a list, not a range: keys need not be contiguous
                where = in_partitions(list(keys), ordered=False)
                found = conn.execute(f'DELETE FROM main."{asset}" WHERE {where}').fetchone()
                deleted[asset] = found[0] if found else 0
            record_removed(conn, run_id, asset, keys, now)
        store.finish_run(run_id, RunStatus.SUCCESS, now, (count, count, 0, 0, 0))
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return deleted
