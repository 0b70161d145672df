"""`env promote` on Delta Lake: an environment's own partitions moved into its parent's
Delta tables, kill-safely, without copying their rows.

Delta commits cannot join the warehouse's transaction, and each asset is a table of its own,
so a promotion is three steps: a record that it began (`environments.begin_pending`), per
asset the target's commits (one removing its files of the promoted partitions and adding the
environment's; before it, where the target's files hold other partitions too, Delta's delete
of the promoted ones they share) and one taking the files out of the environment's table
(each naming the promotion and its step), then one warehouse transaction recording the
lineage, the commits and the views. Readers see the tables through those views, which move
in that last transaction only: before it, every reader sees the target wholly as it was. A
process that dies on the way leaves the record; the next one to open the warehouse for
writing finishes the promotion (the steps it finds made are not made again).

deltalake resolves a table's files inside its own folder, so the environment's files are
linked into the target's: a hard link in a folder, a copy made by the object store itself
(no byte passes through this process) on S3 and its kin. Each table then holds its own name
for the file: a vacuum of one never takes the other's. Where the files cannot be linked as
they are (a file also holding partitions the promotion does not move, different columns, a
table partitioned by folder, no target table yet), the rows are copied in one commit. The
assets' tables are moved at once, on threads (deltalake's writes let go of the GIL).
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import datetime as dt
import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import duckdb
import pyarrow as pa

from assetflow.core.environments import Env, chain_of, table_name
from assetflow.errors import StorageError
from assetflow.run.cluster import refresh_views
from assetflow.run.delta import DeltaStorage, file_reader
from assetflow.run.delta_types import arrow_schema
from assetflow.store import environments
from assetflow.store.published import parquet_scan, record_commit
from assetflow.store.schema import PARTITION_COLUMN
from assetflow.store.store import Store
from assetflow.store.tables import table_columns
from assetflow.store.writer import schema_text


@dataclasses.dataclass(frozen=True)
class Promotion:
    """One promotion's run: its id (named in each commit it makes), when it happens (naive
    UTC: its records, and when the files it takes out left their tables), and whether it
    finishes what a dead process began (then the steps made are looked for first)."""

    run_id: str
    at: dt.datetime
    resuming: bool = False


def promote(
    store: Store, storage: DeltaStorage, run_id: str, now: dt.datetime
) -> dict[str, list[str]]:
    """`store`'s environment's own partitions made its parent's; per asset, the partitions."""
    with contextlib.closing(store.cursor()) as cur:
        environments.begin_pending(cur, run_id, store.env.name)
    return _finish(store, storage, store.env, Promotion(run_id, now))


def finish_pending(store: Store, storage: DeltaStorage, now: dt.datetime) -> str | None:
    """A promotion a dead process began, finished; the environment it promoted, if any."""
    with contextlib.closing(store.cursor()) as cur:
        found = environments.pending(cur)
    if found is None:
        return None
    env = chain_of(found["env"], store.environments())
    _finish(store, storage, env, Promotion(found["run_id"], now, resuming=True))
    return env.name


def _finish(
    store: Store, storage: DeltaStorage, env: Env, promotion: Promotion
) -> dict[str, list[str]]:
    target, run_id, now = Env(env.chain[1:]), promotion.run_id, promotion.at
    with contextlib.closing(store.cursor()) as cur:
        plan = environments.promotion_plan(cur, env)
    with ThreadPoolExecutor(max_workers=max(1, min(4, len(plan)))) as pool:  # tables apart
        moving = {
            asset: pool.submit(move, storage, env, asset, [k for k, _ in found], promotion)
            for asset, found in plan.items()
        }
        commits = {asset: future.result() for asset, future in moving.items()}

    def moved(
        conn: duckdb.DuckDBPyConnection, asset: str, keys: list[str]
    ) -> tuple[str, tuple[str, int]]:
        # (`conn` is the store's own connection, in the promotion's transaction)
        made, cleared = commits[asset]
        for version in made:
            record_commit(conn, table_name(asset, target.name), version, run_id, now)
        if cleared is not None:
            record_commit(conn, table_name(asset, env.name), cleared, run_id, now)
        refresh_views(store, storage, [table_name(asset, n) for n in (target.name, env.name)])
        # the rows replaced stay readable in the version before the promotion's commits
        kept = (table_name(asset, target.name), made[0] - 1)
        return schema_text(table_columns(conn, asset, target.data_schema)), kept

    return store.promote_env(run_id, now, env, moved)


def move(
    storage: DeltaStorage, env: Env, asset: str, keys: list[str], promotion: Promotion
) -> tuple[list[int], int | None]:
    """Partitions `keys` of `asset` committed to the parent's table from `env`'s, then
    removed from `env`'s: the parent's commits' versions (oldest first) and the removal's
    (None: the environment's table held none of them). A promotion resuming a dead
    process's makes no step it finds made."""
    assert env.parent is not None
    mine, theirs = table_name(asset, env.name), table_name(asset, env.parent)
    lineage = {"promotion": promotion.run_id, "asset": asset, "env": env.parent}
    made = _made_by(storage, theirs, promotion)
    files = None if ROWS in made else _linkable(storage, mine, theirs, keys)
    if ROWS not in made and files is None:  # copied: one commit replaces the partitions
        made[ROWS] = storage.commit(theirs, storage.rows(mine, keys, asset), keys, lineage)
    elif ROWS not in made:
        found = _holding(storage, theirs, keys)
        if (found.mixed or found.unknown) and CLEARED not in made:
            # Files holding other partitions too: the promoted partitions they share deleted
            # (Delta's delete writes those files again without them; on object storage,
            # where they cannot be read here, every promoted partition)
            shared = keys if found.unknown else found.shared
            cleared = _deleted(storage, theirs, shared, lineage)
            if cleared is not None:
                made[CLEARED] = cleared
            found = _holding(storage, theirs, keys)
        if found.mixed:
            raise StorageError(f"{theirs}: files still mix promoted partitions with others")
        linked = (mine, files or [])
        made[ROWS] = _commit_files(storage, theirs, found.only, promotion, lineage, ROWS, linked)
    cleared = _made_by(storage, mine, promotion).get(CLEARED)
    if cleared is None:
        cleared = (
            _commit_files(storage, mine, files, promotion, lineage, CLEARED)
            if files
            else _deleted(storage, mine, keys, lineage)
        )
    return sorted(made.values()), cleared


CLEARED, ROWS = "cleared", "rows"  # a promotion's steps on a table, named in its commits
# Text bounds shorter than this are whole values, so a file whose bounds are one such value
# holds that partition alone. Longer ones may be cut (Spark keeps 32 characters, deltalake
# 64; both raise a cut upper bound, but a writer that does not makes equal bounds lie): a
# file with equal long bounds is read.
_WHOLE = 32


def _made_by(storage: DeltaStorage, name: str, promotion: Promotion) -> dict[str, int]:
    """The steps a resuming promotion finds made on table `name` (among its latest two
    commits): their versions by step. (A promotion that begins has made none.)"""
    latest = storage.latest_version(name) if promotion.resuming else None
    if latest is None:
        return {}
    return {
        lineage.get("step", ROWS): version
        for version, lineage in storage.commits(name, latest - 2)
        if lineage.get("promotion") == promotion.run_id
    }


def _linkable(
    storage: DeltaStorage, mine: str, theirs: str, keys: list[str]
) -> list[dict[str, Any]] | None:
    """Table `mine`'s files that hold partitions `keys`, as deltalake lists them (theirs to
    link into `theirs`), or None when they cannot be: a file holding other partitions too,
    or tables whose columns differ, that are partitioned by folder, or no target table."""
    source, target = storage.table(mine), storage.table(theirs)
    if source is None or target is None or arrow_schema(source) != arrow_schema(target):
        return None
    if source.metadata().partition_columns or target.metadata().partition_columns:
        return None
    found = _holding(storage, mine, keys)
    if found.mixed:
        return None
    if found.unknown:  # on object storage: any row of another partition in those files
        with file_reader() as conn:
            scan = storage.scan(conn, source, keys, "_af_linked")
            stray = conn.execute(
                f"SELECT count(*) FROM {scan} WHERE NOT list_contains(?, {PARTITION_COLUMN})",
                [keys],
            ).fetchall()[0][0]
        if stray:
            return None
    return found.only + found.unknown


@dataclasses.dataclass(frozen=True)
class Holding:
    """A table's files holding some of the partitions a promotion moves, as deltalake lists
    them: holding nothing else (`only`), holding other partitions too (`mixed`, and the
    promoted partitions among theirs: `shared`), or not known (`unknown`: files on object
    storage whose statistics span several partitions, which DuckDB cannot read here)."""

    only: list[dict[str, Any]]
    mixed: list[dict[str, Any]]
    shared: list[str]
    unknown: list[dict[str, Any]]


def _holding(storage: DeltaStorage, name: str, keys: list[str]) -> Holding:
    """What table `name`'s files hold of partitions `keys`: a file whose statistics name one
    partition is not read; one whose statistics span several (or may have been cut short)
    is read for its partition column (a folder's; on object storage it is `unknown`)."""
    wanted, promoted, only, spanning = sorted(keys), set(keys), [], []
    for found in _files(storage.table(name)):
        low = (found.get("min") or {}).get(PARTITION_COLUMN)
        high = (found.get("max") or {}).get(PARTITION_COLUMN)
        if low is not None and low == high and (low in promoted or len(low) < _WHOLE):
            if low in promoted:
                only.append(found)
        elif low is None or high is None or low == high or _overlaps(wanted, low, high):
            spanning.append(found)
    if not spanning or not storage.is_local:
        return Holding(only, [], [], spanning)
    folder = os.path.join(storage.root.removeprefix("file://"), name)
    by_uri = {os.path.join(folder, f["path"]): f for f in spanning}
    with file_reader() as conn:
        pairs = conn.execute(
            f"SELECT DISTINCT filename, {PARTITION_COLUMN}"
            f" FROM {parquet_scan(list(by_uri), filename=True)}"
        ).fetchall()
    held: dict[str, set[str]] = {}
    for uri, key in pairs:
        held.setdefault(uri, set()).add(key)
    mixed, shared = [], set()
    for uri, partitions in held.items():
        ours = partitions & promoted
        if ours and partitions - ours:
            mixed.append(by_uri[uri])
            shared.update(ours)
        elif ours:
            only.append(by_uri[uri])
    return Holding(only, mixed, sorted(shared), [])


def _deleted(
    storage: DeltaStorage, name: str, keys: list[str], lineage: dict[str, Any]
) -> int | None:
    """Partitions `keys` deleted from table `name` by Delta's delete: the commit's version,
    None when the table held none of them (no commit)."""
    before = storage.latest_version(name)
    done = storage.delete(name, keys, lineage["promotion"], {**lineage, "step": CLEARED})
    assert done is not None, f"{name}: the table is gone"
    return None if done[1] == before else done[1]


def _files(table: Any) -> list[dict[str, Any]]:
    """A table's files, as deltalake lists its add actions (statistics as values). (Read
    as a stream: `pyarrow.table` of deltalake's table imports pandas, 0.3 s.)"""
    actions = table.get_add_actions(flatten=False)
    return pa.RecordBatchReader.from_stream(actions).read_all().to_pylist()


def _overlaps(wanted: list[str], low: str, high: str) -> bool:
    """Whether any of the sorted keys `wanted` lies within [low, high]."""
    at = bisect.bisect_left(wanted, low)
    return at < len(wanted) and wanted[at] <= high


def _commit_files(
    storage: DeltaStorage,
    name: str,
    removed: list[dict[str, Any]],
    promotion: Promotion,
    lineage: dict[str, Any],
    step: str,
    linked: tuple[str, list[dict[str, Any]]] = ("", []),
) -> int:
    """One commit to table `name` (`table_name`) carrying `lineage` and `step`: its files
    `removed` taken out, and the files of table `linked[0]` listed in `linked[1]` linked in
    beside its own and added: its version. A link a dead process made is used as it is."""
    source, files = linked
    named = {f"promoted-{promotion.run_id}-{f['path']}": f for f in files}  # its name: the file
    storage.link([(f"{source}/{f['path']}", f"{name}/{path}") for path, f in named.items()])
    added = [{**f, "path": path, "stats": _stats(f)} for path, f in named.items()]
    step_lineage = {**lineage, "step": step}
    return storage.commit_files(name, removed, added, step_lineage, promotion.at)


def _stats(found: dict[str, Any]) -> str:
    """A file's Delta statistics (JSON) from its add action as deltalake lists it: the row
    count, null counts, and the bounds of columns whose JSON form is plain (text, numbers,
    booleans, dates) — among them `_partition`, by which reads prune; a column without
    bounds is one no read can skip the file by."""

    def plain(bounds: dict[str, Any]) -> dict[str, Any]:
        kept: dict[str, Any] = {}
        for column, value in (bounds or {}).items():
            if isinstance(value, dt.datetime) or value is None:
                continue  # (a timestamp's JSON form is not worth the risk of a wrong skip)
            if isinstance(value, dt.date):
                kept[column] = value.isoformat()
            elif isinstance(value, str | int | bool) or (
                isinstance(value, float) and math.isfinite(value)
            ):
                kept[column] = value
        return kept

    nulls = {k: v for k, v in (found["null_count"] or {}).items() if isinstance(v, int)}
    return json.dumps(
        {
            "numRecords": found["num_records"],
            "minValues": plain(found["min"]),
            "maxValues": plain(found["max"]),
            "nullCount": nulls,
        }
    )
