"""The Delta worker: runs a Task anywhere (a thread here, a Dask worker elsewhere) without
the coordinator's warehouse, and commits its partitions to Delta Lake.

It reads exactly the mapped upstream partitions from their Delta tables (sources from
their files), computes the asset's rows in an in-memory DuckDB, runs the contract and the
blocking checks over the staged rows — a failure commits nothing — and replaces the
task's partitions in one Delta commit whose metadata carries the lineage. The data version
of each partition is computed here, over the rows as written, with the embedded store's
formula; the coordinator records it (`store.published`).
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from assetflow.core.checks import CheckFailed, sql_literal
from assetflow.core.definitions import Definitions
from assetflow.core.records import CheckResult, InputRange, Published, Written
from assetflow.core.specs import AssetSpec
from assetflow.defs.loader import load_definitions
from assetflow.errors import UpstreamMissingError
from assetflow.run.audit import run_checks
from assetflow.run.clock import Clock
from assetflow.run.compute import Context, input_sql, node_query
from assetflow.run.contract import enforce, not_null_columns
from assetflow.run.delta import DeltaStorage, StaleRead, arrow_schema, delta_types, not_null
from assetflow.run.runlog import NodeLog, bound
from assetflow.run.task import Task, TaskResult, node_reads
from assetflow.run.worker import (
    describe_reshape,
    failure,
    partition_expression,
    removed_column_error,
    retry_conflicts,
    task_context,
)
from assetflow.store.schema import PARTITION_COLUMN
from assetflow.store.shape import Reshape
from assetflow.store.tables import arrow_table, relation_columns
from assetflow.store.writer import (
    VERSION_SQL,
    Wrote,
    inputs_text_of,
    refuse_nulls,
    row_hashes_sql,
    schema_text,
    stray_error,
)

_STAGE = "_af_stage"
_THREAD = threading.local()


def _database() -> duckdb.DuckDBPyConnection:
    """This thread's in-memory DuckDB (opening one per task costs more than the task's SQL);
    each task works on a cursor of its own."""
    found = getattr(_THREAD, "database", None)
    if found is None:
        found = _THREAD.database = duckdb.connect()
    return found


@dataclass(frozen=True)
class WorkerEnv:
    """What a worker process needs besides the task; pickles."""

    definitions_dir: str
    root: str  # the project folder: sources' files are relative to it
    storage: DeltaStorage
    stamp: str  # the definitions' code versions: a changed project is loaded again
    keysets: dict[str, Any] = field(default_factory=dict)  # dynamic keys, as stored


@functools.lru_cache(maxsize=4)
def _definitions(folder: str, stamp: str, keysets: tuple[tuple[str, Any], ...]) -> Definitions:
    defs = load_definitions(Path(folder))
    return defs.with_keys(dict(keysets)) if keysets else defs


def run_remote(env: WorkerEnv, task: Task) -> TaskResult:
    """Run in a worker process: load the definitions once per process, then run the task."""
    keysets = tuple(sorted(env.keysets.items()))
    defs = _definitions(env.definitions_dir, env.stamp, keysets)
    return DeltaWorker(defs, Path(env.root), env.storage)(task)


class DeltaWorker:
    """`worker(task) -> TaskResult`; never raises for the task's own failure."""

    def __init__(
        self, defs: Definitions, root: Path, storage: DeltaStorage, clock: Clock | None = None
    ) -> None:
        self.defs, self.root, self.storage = defs, root, storage
        self.clock = clock or Clock()

    def __call__(self, task: Task) -> TaskResult:
        spec = self.defs.assets[task.asset]
        log = NodeLog(Path(task.log_path))
        log.begin(task.header)
        t0 = self.clock.monotonic()
        checks: dict[str, tuple[CheckResult, ...]] = {}
        calling: list[str] = []  # in a group: the partition whose function is being called
        try:

            def commit() -> tuple[dict[str, Written], Published]:
                return self._compute_and_commit(task, spec, log, checks, calling)

            with bound(log):  # rows made from a table version that lost a race: anew
                written, published = retry_conflicts(commit, StaleRead, log)
            return TaskResult(
                written, None, "", self.clock.monotonic() - t0, log.written, checks,
                published=published,
            )  # fmt: skip
        except Exception as exc:  # any failure of user code or of the commit fails the attempt
            error, trace, failed = failure(task, spec, exc, calling)
            seconds = self.clock.monotonic() - t0
            return TaskResult({}, error, trace, seconds, log.written, checks, failed=failed)
        finally:
            log.close()

    def _compute_and_commit(
        self,
        task: Task,
        spec: AssetSpec,
        log: NodeLog,
        checks: dict[str, tuple[CheckResult, ...]],
        calling: list[str],
    ) -> tuple[dict[str, Written], Published]:
        conn = _database().cursor()  # its own temp tables and views, dropped on close
        try:
            keys = [n.partition for n in task.nodes]
            try:
                self._stage(conn, task, spec, log, keys, calling)
            except duckdb.BinderException as exc:
                had = lambda assets, column: [  # noqa: E731
                    a for a in assets if self.storage.once_had_column(a, column)
                ]
                error = removed_column_error(exc, spec, self.defs, had)
                if error is None:
                    raise
                raise error from exc
            columns = relation_columns(
                conn.sql(f"SELECT * EXCLUDE ({PARTITION_COLUMN}) FROM {_STAGE}")
            )
            # Rows outside the task's partitions, or NULL where the contract forbids it.
            refuse_strays(conn, task.asset, PARTITION_COLUMN, keys, spec.partition_by)
            if spec.columns and not_null_columns(spec):
                refuse_nulls(conn, task.asset, _STAGE, not_null_columns(spec), "true")
            if spec.checks:
                self._audit(conn, task, spec, log, checks)
            written = self._versions(conn, keys, columns)
            schema = schema_text(columns)
            reshape, removed, read_at = self._reshape(conn, task, columns, keys)
            rows = delta_types(arrow_table(conn.sql(f"SELECT * FROM {_STAGE}")), task.asset)
            rows = not_null(rows, not_null_columns(spec) if spec.columns else [])
            lineage = _lineage(task, written, schema)
            whole = task.refresh or read_at is not None
            version = self.storage.commit(task.asset, rows, keys, lineage, whole, read_at)
            said = describe_reshape(Wrote(written, reshape or None, tuple(removed)), spec)
            if said:
                log.write(f"table changed shape: {said}\n")
            return written, Published(version, schema, said, tuple(removed))
        finally:
            conn.close()

    def _reshape(
        self, conn: duckdb.DuckDBPyConnection, task: Task, columns: dict[str, str], keys: list[str]
    ) -> tuple[Reshape, list[str], int | None]:
        """How this write changes the asset's table, decided as the warehouse's writer
        decides it, the partitions whose rows have to go, and the table version the stage
        was completed from. When a column goes or changes type, the table's other
        partitions join the stage with the new columns (cast; those holding values that
        cannot be cast are left out), to replace the whole table as of that version."""
        delta = self.storage.table(task.asset)  # its version, columns and rows read together
        if delta is None:
            return Reshape(task.asset), [], None
        conn.register("_af_shape", arrow_schema(delta).empty_table())
        table = relation_columns(conn.sql(f"SELECT * EXCLUDE ({PARTITION_COLUMN}) FROM _af_shape"))
        conn.unregister("_af_shape")
        reshape = Reshape.between(task.asset, table, columns)
        if not (task.refresh or reshape.dropped or reshape.retyped):
            return reshape, [], None
        conn.register("_af_others", delta.to_pyarrow_dataset())
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
            f"INSERT INTO {_STAGE} SELECT {select}, {PARTITION_COLUMN} {others}"
            f" AND NOT list_contains(?, {PARTITION_COLUMN})",
            [keys, removed],
        )
        return reshape, removed, delta.version()

    def _stage(
        self,
        conn: duckdb.DuckDBPyConnection,
        task: Task,
        spec: AssetSpec,
        log: NodeLog,
        keys: list[str],
        calling: list[str],
    ) -> None:
        """The task's rows, each with its partition key, as an Arrow-typed temp table (its
        types are those the Delta table will hold). `calling`: as the embedded worker's."""
        if task.calls_per_node(spec.batch_size) and len(task.nodes) > 1:
            parts = []
            for i, node in enumerate(task.nodes):
                calling[:] = [node.partition]
                one = dataclasses.replace(task, nodes=(node,), reads=node_reads(task, node))
                query = self._query(conn, one, spec, log, f"_{i}")
                parts.append(f"SELECT *, {sql_literal(node.partition)} AS {PARTITION_COLUMN}"
                             f" FROM ({query})")  # fmt: skip
            select = " UNION ALL BY NAME ".join(parts)
            calling.clear()
        else:
            query = self._query(conn, task, spec, log)
            placed = sql_literal(keys[0])
            if len(keys) > 1:
                placed = partition_expression(spec, keys[0]) or placed
            select = f"SELECT *, ({placed})::VARCHAR AS {PARTITION_COLUMN} FROM ({query})"
        # The types Delta keeps (HUGEINT as DECIMAL, time zones as UTC, ...), so that the
        # versions computed here are over the rows as the table holds them.
        staged = delta_types(arrow_table(conn.sql(select)), task.asset)
        conn.register("_af_staged_arrow", staged)
        conn.execute(f"CREATE TEMP TABLE {_STAGE} AS SELECT * FROM _af_staged_arrow")
        conn.unregister("_af_staged_arrow")

    def _query(
        self,
        conn: duckdb.DuckDBPyConnection,
        task: Task,
        spec: AssetSpec,
        log: NodeLog,
        tag: str = "",
    ) -> str:
        """The task's query; its inputs are views named with `tag` (one set per node when
        the nodes are called one by one: the query is run after the last call)."""
        reads = {rng.name: self._read(conn, rng, tag) for rng in task.reads}
        ctx: Context = task_context(task, spec, conn, log)
        query = node_query(spec, reads, ctx)
        if spec.columns:
            enforce(spec, conn, query)
        return query

    def _read(self, conn: duckdb.DuckDBPyConnection, rng: InputRange, tag: str) -> str:
        """A SELECT of exactly the upstream partitions in `rng`, from its Delta table."""
        if rng.is_source:
            return input_sql(rng, self.defs, self.root)
        found = self.storage.dataset(rng.name, list(rng.keys) or None)
        if found is None:
            raise UpstreamMissingError(
                f"{rng.name} has no Delta table yet at {self.storage.uri(rng.name)}",
                f"materialize {rng.name} first",
            )
        view = f"_af_input_{rng.name}{tag}"
        conn.register(view, found)
        where = "" if rng.keys else " WHERE false"  # clipped away: the shape, no rows
        return f'SELECT * EXCLUDE ({PARTITION_COLUMN}) FROM "{view}"{where}'

    @staticmethod
    def _audit(
        conn: duckdb.DuckDBPyConnection,
        task: Task,
        spec: AssetSpec,
        log: NodeLog,
        checks: dict[str, tuple[CheckResult, ...]],
    ) -> None:
        """Write-audit-publish: every check over each partition's staged rows; a blocking
        failure raises before anything is committed."""
        parts = spec.partitions
        ctx = task_context(task, spec, conn, log)
        for write in task.nodes:
            conn.execute(
                f"CREATE OR REPLACE TEMP VIEW _af_audit AS SELECT * EXCLUDE ({PARTITION_COLUMN})"
                f" FROM {_STAGE} WHERE {PARTITION_COLUMN} = {sql_literal(write.partition)}"
            )
            start, end = parts.window(write.partition_index)
            one = dataclasses.replace(ctx, partition=write.partition, start=start, end=end)
            node = (write.asset, write.partition)
            found = tuple(
                dataclasses.replace(r, node=node)
                for r in run_checks(spec.checks, conn, "_af_audit", one, write.started_at)
            )
            checks[write.partition] = found
            if any(r.blocking_failure for r in found):
                raise CheckFailed([r for results in checks.values() for r in results])

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


def _lineage(task: Task, written: dict[str, Written], schema: str) -> dict[str, Any]:
    """What the coordinator records for this write, carried in the Delta commit: enough to
    adopt the write if the coordinator dies before recording it."""
    return {
        "run_id": task.run_id,
        "asset": task.asset,
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
