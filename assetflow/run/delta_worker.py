"""The worker on Delta Lake: runs a Task anywhere (a thread here, a Dask worker elsewhere)
without the coordinator's warehouse, and commits its partitions to Delta Lake.

The pipeline is the one worker's (run/worker.py); here are its storage's parts. It reads
exactly the mapped upstream partitions from their Delta tables (sources from their files),
computes in an in-memory DuckDB, stages the rows, refuses strays and forbidden NULLs, runs
the blocking checks over the staged rows — a failure commits nothing — and replaces the
task's partitions in one Delta commit whose metadata carries the lineage. The data version
of each partition is computed here, over the rows as written, with the embedded store's
formula; the coordinator records it (`store.published`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from assetflow.core.checks import sql_literal
from assetflow.core.definitions import Definitions
from assetflow.core.environments import table_name
from assetflow.core.records import InputRange, Published, Written
from assetflow.core.specs import AssetSpec
from assetflow.defs.loader import load_definitions
from assetflow.errors import UpstreamMissingError
from assetflow.run.clock import Clock
from assetflow.run.compute import input_sql
from assetflow.run.contract import not_null_columns
from assetflow.run.delta import DeltaStorage, StaleRead
from assetflow.run.delta_types import arrow_schema, delta_types, not_null, readable_dataset
from assetflow.run.runlog import NodeLog
from assetflow.run.task import Task, TaskResult
from assetflow.run.worker import Rows, Worker, describe_reshape
from assetflow.store.schema import PARTITION_COLUMN, in_partitions
from assetflow.store.shape import Reshape
from assetflow.store.tables import arrow_table, relation_columns
from assetflow.store.writer import (
    KEY_COLUMN,
    VERSION_SQL,
    Audit,
    Wrote,
    inputs_text_of,
    partition_view,
    refuse_nulls,
    row_hashes_sql,
    schema_text,
    stray_error,
)

_STAGE = "_af_stage"
_THREAD = threading.local()


def _database(at_once: int) -> duckdb.DuckDBPyConnection:
    """This thread's in-memory DuckDB (opening one per task costs more than the task's SQL);
    each task works on a cursor of its own. `at_once`: the tasks the run has running at a
    time, which share the machine's cores: each database takes its share (a task's rows are
    a batch's, and DuckDB's threads for a small query cost more than they give)."""
    found = getattr(_THREAD, "database", None)
    if found is None:
        threads = max(1, (os.cpu_count() or 1) // max(1, at_once))
        found = _THREAD.database = duckdb.connect(config={"threads": threads})
    return found


@dataclass(frozen=True)
class WorkerEnv:
    """What a worker process needs besides the task; pickles."""

    definitions_dir: str
    root: str  # the project folder: sources' files are relative to it
    storage: DeltaStorage
    stamp: str  # the definitions' code versions: a changed project is loaded again
    keysets: dict[str, Any] = field(default_factory=dict)  # dynamic keys, as stored
    at_once: int = 1  # the run's concurrency (see _database)


@functools.lru_cache(maxsize=4)
def _definitions(folder: str, stamp: str, keysets: tuple[tuple[str, Any], ...]) -> Definitions:
    defs = load_definitions(Path(folder))
    return defs.with_keys(dict(keysets)) if keysets else defs


def run_remote(env: WorkerEnv, task: Task) -> TaskResult:
    """Run in a worker process: load the definitions once per process, then run the task."""
    keysets = tuple(sorted(env.keysets.items()))
    defs = _definitions(env.definitions_dir, env.stamp, keysets)
    return DeltaWorker(defs, Path(env.root), env.storage, env.at_once)(task)


class DeltaWorker(Worker):
    """The worker on Delta Lake: its cursor is an in-memory DuckDB of its own."""

    conflict = StaleRead  # rows made from a table version that lost a race: anew

    def __init__(
        self,
        defs: Definitions,
        root: Path,
        storage: DeltaStorage,
        at_once: int = 1,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(defs, root, clock or Clock())
        self.storage, self.at_once = storage, at_once

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        conn = _database(self.at_once).cursor()  # its own temp tables and views, dropped on close
        try:
            yield conn
        finally:
            conn.close()

    def _once_had(self, assets: list[str], column: str) -> list[str]:
        return [a for a in assets if self.storage.once_had_column(a, column)]

    def _write(
        self,
        conn: duckdb.DuckDBPyConnection,
        task: Task,
        spec: AssetSpec,
        rows: Rows,
        audit: Audit | None,
        log: NodeLog,
    ) -> tuple[Wrote, Published | None]:
        keys, name = [n.partition for n in task.nodes], table_name(task.asset, task.env)
        staged = self._stage(conn, rows, keys, task.asset)
        columns = relation_columns(conn.sql(f"SELECT * EXCLUDE ({PARTITION_COLUMN}) FROM {_STAGE}"))
        # Rows outside the task's partitions (placed by partition_by: a key given to each
        # call, or a task's one partition, cannot be), or NULL where the contract forbids it.
        if rows.placed not in (None, KEY_COLUMN) and len(keys) > 1:
            refuse_strays(conn, task.asset, PARTITION_COLUMN, keys, spec.partition_by)
        if spec.columns and not_null_columns(spec):
            refuse_nulls(conn, task.asset, _STAGE, not_null_columns(spec), "true")
        if audit is not None:  # write-audit-publish, over the stage
            audit(
                conn, _STAGE, task.nodes, lambda key: partition_view(conn, _STAGE, key, "_af_audit")
            )
        written = self._versions(conn, keys, columns)
        schema = schema_text(columns)
        reshape, removed, read_at = self._reshape(conn, task, name, columns, keys)
        if read_at is not None:  # the stage now holds the whole table
            staged = delta_types(arrow_table(conn.sql(f"SELECT * FROM {_STAGE}")), task.asset)
        table = not_null(staged, not_null_columns(spec) if spec.columns else [])
        lineage = commit_lineage(task, written, schema)
        whole = task.refresh or read_at is not None
        version = self.storage.commit(name, table, keys, lineage, whole, read_at)
        wrote = Wrote(written, reshape or None, tuple(removed))
        return wrote, Published(version, schema, describe_reshape(wrote, spec), tuple(removed))

    def _reshape(
        self,
        conn: duckdb.DuckDBPyConnection,
        task: Task,
        name: str,
        columns: dict[str, str],
        keys: list[str],
    ) -> tuple[Reshape, list[str], int | None]:
        """How this write changes the asset's table, decided as the warehouse's writer
        decides it, the partitions whose rows have to go, and the table version the stage
        was completed from. When a column goes or changes type, the table's other
        partitions join the stage with the new columns (cast; those holding values that
        cannot be cast are left out), to replace the whole table as of that version."""
        delta = self.storage.table(name)  # its version, columns and rows read together
        if delta is None:
            return Reshape(task.asset), [], None
        table = _columns_of(conn, delta)
        reshape = Reshape.between(task.asset, table, columns)
        if not (task.refresh or reshape.dropped or reshape.retyped):
            return reshape, [], None
        conn.register("_af_others", readable_dataset(delta))
        others = f"FROM _af_others WHERE NOT list_contains(?, {PARTITION_COLUMN})"
        if task.refresh:  # the partitions not refreshed are gone with the old table
            gone = conn.execute(f"SELECT DISTINCT {PARTITION_COLUMN} {others} ORDER BY 1", [keys])
            return Reshape(task.asset, refresh=True), [p for (p,) in gone.fetchall()], None
        cast = {c: new for c, (_, new) in reshape.retyped.items()}
        uncastable = " OR ".join(
            f'("{c}" IS NOT NULL AND try_cast("{c}" AS {new}) IS NULL)' for c, new in cast.items()
        )
        uncast = conn.execute(
            f"SELECT DISTINCT {PARTITION_COLUMN} {others} AND ({uncastable or 'false'}) ORDER BY 1",
            [keys],
        ).fetchall()
        removed = [p for (p,) in uncast]
        select = ", ".join(
            f'try_cast("{c}" AS {kind}) AS "{c}"' if c in cast
            else f'"{c}"' if c in table else f'NULL::{kind} AS "{c}"'
            for c, kind in columns.items()
        )  # fmt: skip
        conn.execute(
            f"CREATE TEMP TABLE _af_whole AS SELECT * FROM {_STAGE} UNION ALL BY NAME"
            f" SELECT {select}, {PARTITION_COLUMN} {others}"
            f" AND NOT list_contains(?, {PARTITION_COLUMN})",
            [keys, removed],
        )
        conn.unregister(_STAGE)
        conn.execute(f"CREATE TEMP VIEW {_STAGE} AS SELECT * FROM _af_whole")
        return reshape, removed, delta.version()

    @staticmethod
    def _stage(
        conn: duckdb.DuckDBPyConnection, rows: Rows, keys: list[str], asset: str
    ) -> pa.Table:
        """The task's rows, each with its partition key, as the Arrow table the commit
        writes (with the types the Delta table will hold), registered as _STAGE."""
        # Several partitions: sorted by partition, so that the file's statistics of the key
        # are tight (a read of some partitions skips the files that cannot hold them).
        if rows.placed == KEY_COLUMN:  # each node computed by its own call
            key = f"{KEY_COLUMN}::VARCHAR AS {PARTITION_COLUMN}"
            select = (
                f"SELECT * EXCLUDE ({KEY_COLUMN}), {key} FROM ({rows.query})"
                f" ORDER BY {PARTITION_COLUMN}"
            )
        elif rows.placed and len(keys) > 1:  # placed by partition_by
            select = (
                f"SELECT *, ({rows.placed})::VARCHAR AS {PARTITION_COLUMN} FROM ({rows.query})"
                f" ORDER BY {PARTITION_COLUMN}"
            )
        else:
            select = f"SELECT *, {sql_literal(keys[0])} AS {PARTITION_COLUMN} FROM ({rows.query})"
        # The types Delta keeps (HUGEINT as DECIMAL, time zones as UTC, ...), so that the
        # versions computed here are over the rows as the table holds them.
        staged = delta_types(arrow_table(conn.sql(select)), asset)
        conn.register(_STAGE, staged)
        return staged

    def _input(self, conn: duckdb.DuckDBPyConnection, task: Task, rng: InputRange, tag: str) -> str:
        """A SELECT of exactly the upstream partitions in `rng`: from prod's Delta table,
        and in an environment those it (or one above it) holds from that one's table."""
        if rng.is_source:
            return input_sql(rng, self.defs, self.root)
        keys, parts = list(rng.keys), []
        for env, held in ((e, set(k)) for n, e, k in task.held if n == rng.name):
            mine = [k for k in keys if k in held]
            if mine:
                parts.append(self._read(conn, rng, table_name(rng.name, env), mine, f"{tag}_{env}"))
                keys = [k for k in keys if k not in held]
        if keys or not parts:
            parts.append(self._read(conn, rng, rng.name, keys, tag))
        return " UNION ALL BY NAME ".join(parts)

    def _read(
        self,
        conn: duckdb.DuckDBPyConnection,
        rng: InputRange,
        name: str,
        keys: list[str],
        tag: str,
    ) -> str:
        """A SELECT of partitions `keys` of `rng`'s asset from the Delta table `name`."""
        table = self.storage.table(name)
        if table is None:
            raise UpstreamMissingError(
                f"{rng.name} has no Delta table yet at {self.storage.uri(name)}",
                f"materialize {rng.name} first",
            )
        # The files of those partitions may hold others; clipped away: the shape, no rows.
        # A range only for all of `rng`'s keys: a part of them may skip some in between.
        ordered = rng.partitions.ordered_keys and len(keys) == len(rng.keys)
        where = in_partitions(keys, ordered) if keys else "false"
        scan = self.storage.scan(conn, table, keys, f"_af_input_{rng.name}{tag}")
        return f"SELECT * EXCLUDE ({PARTITION_COLUMN}) FROM {scan} WHERE {where}"

    @staticmethod
    def _versions(
        conn: duckdb.DuckDBPyConnection, keys: list[str], columns: dict[str, str]
    ) -> dict[str, Written]:
        """Each partition's row count and data version, over the rows as written (a
        partition with no rows has the empty version, as in the embedded store)."""
        version = VERSION_SQL.format(n="coalesce(v.n, 0)", h="coalesce(v.h, 0)")
        rows = conn.execute(
            f"SELECT k.key, coalesce(v.n, 0), {version} FROM unnest(?::VARCHAR[]) k(key)"
            f" LEFT JOIN (SELECT {PARTITION_COLUMN} AS p, count(*) AS n,"
            f" {row_hashes_sql(columns)} AS h FROM {_STAGE} GROUP BY 1) v ON v.p = k.key",
            [schema_text(columns), keys],
        ).fetchall()
        return {key: Written(n, version, 0) for key, n, version in rows}


def _columns_of(conn: duckdb.DuckDBPyConnection, delta: Any) -> dict[str, str]:
    """A Delta table's columns (without the key) as DuckDB types, worked out once per
    schema on each thread (a task asks for its table's on every write)."""
    known = _THREAD.__dict__.setdefault("columns", {})  # Delta schema (JSON) -> columns
    schema = delta.schema().to_json()
    if schema not in known:
        conn.register("_af_shape", arrow_schema(delta).empty_table())
        known[schema] = relation_columns(
            conn.sql(f"SELECT * EXCLUDE ({PARTITION_COLUMN}) FROM _af_shape")
        )
        conn.unregister("_af_shape")
    return dict(known[schema])


def commit_lineage(task: Task, written: dict[str, Written], schema: str) -> dict[str, Any]:
    """What the coordinator records for this write, carried in the Delta commit: enough to
    adopt the write if the coordinator dies before recording it."""
    return {
        "run_id": task.run_id,
        "asset": task.asset,
        "env": task.env,
        "code_version": task.code_version,
        "attempt": task.attempt,
        "table_schema": schema,
        "nodes": [
            {
                "partition": n.partition,
                "index": n.partition_index,
                "data_version": written[n.partition].data_version,
                "row_count": written[n.partition].row_count,
                "clipped": n.clipped,
                "started_at": n.started_at.isoformat(),
                "inputs": inputs_text_of(n),
            }
            for n in task.nodes
        ],
    }


def refuse_strays(
    cur: duckdb.DuckDBPyConnection,
    asset: str,
    placed: str,
    keys: list[str],
    partition_by: str | None,
) -> None:
    """A data error if staged rows (_STAGE) fall outside the partitions `keys`, by `placed`
    (the SQL giving a row's key). (The warehouse's writer counts them in its transaction.)"""
    stray = cur.execute(
        f"SELECT count(*) FROM {_STAGE}"
        f" WHERE NOT coalesce(list_contains(?, ({placed})::VARCHAR), false)",
        [keys],
    ).fetchall()[0][0]
    if stray:
        raise stray_error(asset, stray, keys, partition_by)
