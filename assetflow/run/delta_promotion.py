"""`env promote` on Delta Lake: an environment's own partitions moved into its parent's
Delta tables, kill-safely.

Delta commits cannot join the warehouse's transaction, and each asset is a table of its own,
so a promotion is three steps: a record that it began (`environments.begin_pending`), per
asset a commit replacing the target's partitions with the environment's rows and one
removing them from the environment's table (each carrying the promotion's run id), then one
warehouse transaction recording the lineage, the commits and the views. Readers see the
tables through those views, which move in that last transaction only: before it, every
reader sees the target wholly as it was. A process that dies on the way leaves the record;
the next one to open the warehouse for writing finishes the promotion (the commits it finds
made are not made again). deltalake (1.6) resolves every file of a table inside the table's
folder, so the rows are copied, not referenced: the cost grows with the promoted rows. The
assets' tables are moved at once, on threads (deltalake's writes let go of the GIL).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import duckdb

from assetflow.core.environments import Env, chain_of, table_name
from assetflow.run.cluster import refresh_views
from assetflow.run.delta import DeltaStorage
from assetflow.store import environments
from assetflow.store.published import record_commit
from assetflow.store.store import Store
from assetflow.store.tables import table_columns
from assetflow.store.writer import schema_text


def promote(
    store: Store, storage: DeltaStorage, run_id: str, now: dt.datetime
) -> dict[str, list[str]]:
    """`store`'s environment's own partitions made its parent's; per asset, the partitions."""
    with contextlib.closing(store.cursor()) as cur:
        environments.begin_pending(cur, run_id, store.env.name)
    return _finish(store, storage, store.env, run_id, now)


def finish_pending(store: Store, storage: DeltaStorage, now: dt.datetime) -> str | None:
    """A promotion a dead process began, finished; the environment it promoted, if any."""
    with contextlib.closing(store.cursor()) as cur:
        found = environments.pending(cur)
    if found is None:
        return None
    env = chain_of(found["env"], store.environments())
    _finish(store, storage, env, found["run_id"], now)
    return env.name


def _finish(
    store: Store, storage: DeltaStorage, env: Env, run_id: str, now: dt.datetime
) -> dict[str, list[str]]:
    target = Env(env.chain[1:])
    with contextlib.closing(store.cursor()) as cur:
        plan = environments.promotion_plan(cur, env)
    with ThreadPoolExecutor(max_workers=max(1, min(4, len(plan)))) as pool:  # tables apart
        moving = {
            asset: pool.submit(_move, storage, env, target, asset, [k for k, _ in found], run_id)
            for asset, found in plan.items()
        }
        commits = {asset: future.result() for asset, future in moving.items()}

    def moved(
        conn: duckdb.DuckDBPyConnection, asset: str, keys: list[str]
    ) -> tuple[str, tuple[str, int]]:
        # (`conn` is the store's own connection, in the promotion's transaction)
        for name, version in zip((target.name, env.name), commits[asset], strict=True):
            record_commit(conn, table_name(asset, name), version, run_id, now)
        refresh_views(store, storage, [table_name(asset, n) for n in (target.name, env.name)])
        # the rows replaced stay readable in the version before the promotion's commit
        kept = (table_name(asset, target.name), commits[asset][0] - 1)
        return schema_text(table_columns(conn, asset, target.data_schema)), kept

    return store.promote_env(run_id, now, env, moved)


def _move(
    storage: DeltaStorage, env: Env, target: Env, asset: str, keys: list[str], run_id: str
) -> tuple[int, int]:
    """Partitions `keys` of `asset` committed to the target's table from `env`'s, then
    removed from `env`'s: the two commits' versions. A commit already made by this
    promotion (the latest of its table) is not made again."""
    mine, theirs = table_name(asset, env.name), table_name(asset, target.name)
    lineage = {"promotion": run_id, "asset": asset, "env": target.name}
    cleared = _made_by(storage, mine, run_id)
    made = _made_by(storage, theirs, run_id)
    if cleared is not None and made is not None:
        return made, cleared
    if made is None:
        made = storage.commit(theirs, storage.rows(mine, keys, asset), keys, lineage)
    done = storage.delete(mine, keys, run_id, lineage)
    assert done is not None, f"{mine}: the environment's table is gone"
    return made, done[1]


def _made_by(storage: DeltaStorage, name: str, run_id: str) -> int | None:
    """The version of table `name`'s latest commit when this promotion made it."""
    latest = storage.latest_version(name)
    if latest is None:
        return None
    found = storage.commits(name, latest - 1)
    return latest if found and found[-1][1].get("promotion") == run_id else None
