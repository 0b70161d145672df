"""The embedded worker: runs a Task on a thread of this process, against the warehouse.

It computes the asset's rows on the thread's cursor (SQL over the mapped upstream
partitions) and commits data, lineage and check results through one store writer call, in
one transaction. A worker in another process would compute with `compute.compute_arrow` and
hand the rows back for the coordinator to write the same way.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from assetflow.core.checks import CheckFailed, sql_literal
from assetflow.core.definitions import Definitions
from assetflow.core.multi import MultiPartitions
from assetflow.core.partitions import compact_ranges
from assetflow.core.records import CheckResult, NodeWrite
from assetflow.core.specs import AssetSpec
from assetflow.core.sql_lineage import tables_read
from assetflow.errors import AssetflowError, DataError, DefinitionError, UpstreamMissingError
from assetflow.run.audit import run_checks
from assetflow.run.clock import Clock
from assetflow.run.compute import Context, input_sql, node_query, release, result_view
from assetflow.run.contract import enforce, not_null_columns
from assetflow.run.runlog import NodeLog, bound
from assetflow.run.task import Task, TaskResult, node_reads
from assetflow.store.store import Store
from assetflow.store.tables import arrow_table, once_had_column
from assetflow.store.writer import KEY_COLUMN, Contract, Wrote

Offload = Callable[[Task, dict[str, Any]], Any]
_SQL_MISTAKES = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)
# What the data itself got wrong: retrying cannot help (docs/operations.md has the table).
# DuckDB's DataError covers conversion, out-of-range and type-mismatch errors.
_ENGINE_DATA_ERRORS = (duckdb.DataError, duckdb.InvalidInputException, duckdb.ConstraintException)
_PYTHON_DATA_ERRORS = (ArithmeticError, ValueError, TypeError, LookupError)
_WRITE_CONFLICT_TRIES = 6
_CONFLICT_WAIT = 0.02  # seconds before the second try, doubling: 0.62 s in all
T = TypeVar("T")
_MISSING_COLUMN = re.compile(r'Referenced column "([^"]+)" not found')
_MISSING_TABLE = re.compile(r"Table with name (\w+) does not exist")


class GroupSplit(Exception):
    """A group's nodes cannot be written together: each runs alone instead."""


class EmbeddedWorker:
    """Callable on any thread: `worker(task) -> TaskResult`. One cursor per thread per run."""

    def __init__(
        self,
        store: Store,
        defs: Definitions,
        root: Path,
        clock: Clock,
        offload: Offload | None = None,
    ) -> None:
        """`offload(task, inputs)`: where a Python asset's function runs instead of this
        thread (a cluster worker), given its inputs as Arrow tables and returning its rows
        as one; the write stays here. SQL assets always run here."""
        self.offload = offload
        self.store = store
        self.defs = defs
        self.root = root
        self.clock = clock
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._lock = threading.Lock()
        self._checked: set[str] = set()  # assets whose SQL reads were checked this run
        self.notes: list[str] = []  # warnings for the run (a dependency never read)

    def __call__(self, task: Task) -> TaskResult:
        spec = self.defs.assets[task.asset]
        log = NodeLog(Path(task.log_path), self.clock)
        log.begin(task.header)
        t0 = self.clock.monotonic()
        checks: dict[str, tuple[CheckResult, ...]] = {}
        calling: list[str] = []  # in a group: the partition whose function is being called
        try:
            with bound(log):
                wrote = self._write_with_retries(task, spec, log, checks, calling)
            reshaped = describe_reshape(wrote, spec)
            if reshaped:
                log.write(f"table changed shape: {reshaped}\n")
            for key_set, keys in wrote.keys_added:
                log.write(f"keys added to {key_set}: {', '.join(keys)}\n")
            return TaskResult(
                wrote.written, None, "", self.clock.monotonic() - t0, log.written, checks,
                reshaped, wrote.keys_added,
            )  # fmt: skip
        except Exception as exc:  # any failure of user code or of the write fails this attempt
            error, trace, failed = failure(task, spec, exc, calling)
            seconds = self.clock.monotonic() - t0
            return TaskResult({}, error, trace, seconds, log.written, failed=failed)
        finally:
            log.close()

    def close(self) -> None:
        with self._lock:
            for cur in self._cursors:
                cur.close()
            self._cursors.clear()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor, opened once per run (a cursor per task costs)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self.store.cursor()
            with self._lock:
                self._cursors.append(cur)
        return cur

    def _write_with_retries(
        self,
        task: Task,
        spec: AssetSpec,
        log: NodeLog,
        checks: dict[str, tuple[CheckResult, ...]],
        calling: list[str],
    ) -> Wrote:
        """Concurrent writers of one table can conflict: the write is tried again."""

        def write() -> Wrote:
            with self.store.storage_guard():  # a full disk is not a write conflict
                return self._compute_and_write(task, spec, log, checks, calling)

        return retry_conflicts(write, duckdb.TransactionException, log)

    def _compute_and_write(
        self,
        task: Task,
        spec: AssetSpec,
        log: NodeLog,
        checks: dict[str, tuple[CheckResult, ...]],
        calling: list[str],
    ) -> Wrote:
        """One call of the asset's function for the whole task (or, for a full refresh of
        an asset that computes one partition per call, one per node), one write of all its
        nodes."""
        cur = self._cursor()
        ctx = task_context(task, spec, cur, log)
        made: list[tuple[Context, str | None]] = []  # what each call registered, to release
        try:
            placed: str | None = KEY_COLUMN
            if task.calls_per_node(spec.batch_size):
                query = self._per_node_query(task, spec, cur, log, made, calling)
            else:
                query = self._call(spec, task, ctx, cur, made)
                placed = partition_expression(spec, task.nodes[0].partition)
            writes = task.nodes
            if log.written:  # the function logged or printed: the attempt records its file
                writes = tuple(dataclasses.replace(w, log_path=task.log_path) for w in writes)
            audit = self._auditor(spec, ctx, checks) if spec.checks else None
            contract = Contract(spec.contract, not_null_columns(spec)) if spec.columns else None
            return self.store.writer.write_nodes(
                cur, query, writes, self.clock, placed, audit, task.refresh, contract,
                spec.partitions.ordered_keys, spec.adds_keys,
            )  # fmt: skip
        except duckdb.BinderException as exc:
            had = lambda inputs, column: once_had_column(cur, inputs, column)  # noqa: E731
            error = removed_column_error(exc, spec, self.defs, had)
            if error is None:
                raise
            raise error from exc
        except duckdb.CatalogException as exc:
            found = _MISSING_TABLE.search(str(exc))
            if not found or found.group(1) not in {d.name for d in spec.deps}:
                raise
            up = self.defs.assets[found.group(1)].partitions
            empty = f" ({up.describe()})" if up.is_keyed else ""
            raise UpstreamMissingError(
                f"asset {task.asset} reads {found.group(1)}, which has no partitions yet{empty}",
                f"materialize {found.group(1)} first, or give its key set keys",
            ) from exc
        finally:
            for one, registered in made:
                release(cur, one, registered)

    def _call(
        self,
        spec: AssetSpec,
        task: Task,
        ctx: Context,
        cur: duckdb.DuckDBPyConnection,
        made: list[tuple[Context, str | None]],
    ) -> str:
        """Call the asset's function over the task's reads: the query of its rows, checked
        against its contract. `made` learns what to release afterwards."""
        reads = {rng.name: input_sql(rng, self.defs, self.root) for rng in task.reads}
        made.append((ctx, None))
        if self.offload is not None and not spec.returns_sql:
            inputs = {name: arrow_table(cur.sql(sql)) for name, sql in reads.items()}
            cur.register(result_view(ctx), self.offload(task, inputs))
            query = f"SELECT * FROM {result_view(ctx)}"
        else:
            query = node_query(spec, reads, ctx, self._check_reads)
        made[-1] = (ctx, query)
        if spec.columns:
            enforce(spec, cur, query)
        return query

    def _check_reads(self, spec: AssetSpec, sql: str) -> None:
        """Once per asset and run: the tables its SQL reads against its declared
        dependencies (an undeclared asset or source fails it; one never read is a warning)."""
        with self._lock:
            if spec.name in self._checked:
                return
            self._checked.add(spec.name)
        known = (set(self.defs.assets) | set(self.defs.sources)) - {spec.name}
        try:
            read = set(tables_read(sql)) & known
        except DefinitionError as exc:  # it does not parse: say which asset, and where
            self._checked.discard(spec.name)
            raise DefinitionError(
                f"{spec.where}: asset {spec.name}: {exc.message} (of the SQL it returns)"
            ) from None
        declared = {d.name for d in spec.deps}
        missing = sorted(read - declared)
        if missing:
            self._checked.discard(spec.name)
            them = "it" if len(missing) == 1 else "them"
            raise DefinitionError(
                f"{spec.where}: asset {spec.name} reads {', '.join(missing)} in its SQL but"
                f" does not declare {them}",
                "add a parameter of that name (or deps=[...]): its partitions are then mapped,"
                " and its changes make this asset stale",
            )
        unread = sorted(d.name for d in spec.deps if d.as_param and d.name not in read)
        if unread and spec.returns_sql:
            self.notes.append(
                f"{spec.where}: asset {spec.name} declares {', '.join(unread)} but its SQL"
                " never reads it"
            )

    def _per_node_query(
        self,
        task: Task,
        spec: AssetSpec,
        cur: duckdb.DuckDBPyConnection,
        log: NodeLog,
        made: list[tuple[Context, str | None]],
        calling: list[str],
    ) -> str:
        """The rows of every node of the task, each computed by its own call, in one query
        whose KEY_COLUMN says which partition a row belongs to. `calling` names the node
        being called (what fails then is that node's)."""
        parts = []
        first: tuple[str, list[str]] | None = None
        for node in task.nodes:
            calling[:] = [node.partition]
            one = dataclasses.replace(task, nodes=(node,), reads=node_reads(task, node))
            query = self._call(spec, one, task_context(one, spec, cur, log), cur, made)
            columns = cur.sql(query).columns  # binds, does not run
            if first is not None and sorted(columns) != sorted(first[1]):
                if task.grouped:  # fine alone (the table follows): not one write, though
                    calling.clear()
                    raise GroupSplit(f"{node.partition} returns other columns than {first[0]}")
                raise DefinitionError(
                    f"{spec.where}: asset {task.asset}[{node.partition}] returns columns"
                    f" {', '.join(columns)}, but [{first[0]}] returns {', '.join(first[1])}",
                    "every partition must return the same columns",
                )
            first = first or (node.partition, columns)
            key = sql_literal(node.partition)
            parts.append(f"SELECT *, {key} AS {KEY_COLUMN} FROM ({query})")
        calling.clear()
        return " UNION ALL BY NAME ".join(parts)

    def _auditor(self, spec: AssetSpec, ctx: Context, checks: dict[str, tuple[CheckResult, ...]]):  # noqa: ANN202 - the writer's Audit
        parts = spec.partitions

        def audit(
            cur: duckdb.DuckDBPyConnection, rows: str, write: NodeWrite
        ) -> tuple[CheckResult, ...]:
            """Write-audit-publish: every check over one partition's new rows, before commit."""
            start, end = parts.window(write.partition_index)
            node_ctx = dataclasses.replace(ctx, partition=write.partition, start=start, end=end)
            node = (write.asset, write.partition)
            now = write.started_at
            found = tuple(
                dataclasses.replace(r, node=node)
                for r in run_checks(spec.checks, cur, rows, node_ctx, now)
            )
            checks[write.partition] = found
            if any(r.blocking_failure for r in found):
                raise CheckFailed([r for results in checks.values() for r in results])
            return found

        return audit


def task_context(
    task: Task, spec: AssetSpec, conn: duckdb.DuckDBPyConnection, log: NodeLog
) -> Context:
    """What the asset function receives as `ctx` for this task."""
    parts = spec.partitions
    first, last = task.nodes[0], task.nodes[-1]
    start = parts.window(first.partition_index)[0]
    return Context(
        asset=task.asset,
        partition=task.partition,
        start=start,
        end=parts.window(last.partition_index)[1],
        logical_date=start or first.started_at.date(),
        run_id=task.run_id,
        conn=conn,
        log=log.logger,
        partitions=tuple(n.partition for n in task.nodes),
        dims=parts.dimension_keys(first.partition),
    )


def describe_reshape(wrote: Wrote, spec: AssetSpec) -> str | None:
    """How a write changed its asset's table, one line for the run's summary and the log."""
    if wrote.reshape is None:
        return None
    line = wrote.reshape.describe()
    if wrote.removed and wrote.reshape.refresh:
        span = compact_ranges(list(wrote.removed), spec.partitions)
        line += f"; partitions outside the selection ({span}) were removed and are missing"
    elif wrote.removed:
        n = len(wrote.removed)
        span = compact_ranges(list(wrote.removed), spec.partitions)
        line += (
            f"; {n} partition{'s' if n > 1 else ''} ({span}) held values that could not be"
            " converted: their rows were removed and they are missing"
        )
    return line


def partition_expression(spec: AssetSpec, first_key: str) -> str | None:
    """SQL giving each output row's partition key from the asset's partition_by column (with
    several dimensions, the batch's other parts are those of its first key)."""
    if spec.partition_by is None:
        return None
    parts = spec.partitions
    time_key = parts.sql_key(f'CAST("{spec.partition_by}" AS TIMESTAMP)')
    if not isinstance(parts, MultiPartitions) or time_key is None:
        return time_key
    fixed = first_key.split("|")
    pieces = [
        time_key if dim.is_time else sql_literal(fixed[i]) for i, (_, dim) in enumerate(parts.dims)
    ]
    return " || '|' || ".join(pieces)


def retry_conflicts(write: Callable[[], T], conflict: type[Exception], log: NodeLog) -> T:
    """`write()`, tried again (computed anew) while it fails with a write conflict: another
    writer's transaction on the table won, or is still open (one changing the table's
    columns takes a while). The waits are real, even under --now."""
    for tries in range(1, _WRITE_CONFLICT_TRIES + 1):
        try:
            return write()
        except conflict:
            if tries == _WRITE_CONFLICT_TRIES:
                raise
            log.write(f"write conflict, trying the write again ({tries})\n")
            time.sleep(_CONFLICT_WAIT * 2 ** (tries - 1))
    raise AssertionError("unreachable")


def removed_column_error(
    exc: duckdb.BinderException,
    spec: AssetSpec,
    defs: Definitions,
    once_had: Callable[[list[str], str], list[str]],
) -> DefinitionError | None:
    """The error of an asset that reads a column its upstream no longer returns, naming
    both assets and the column (`once_had(assets, column)`: those of the assets whose table
    had the column and has it no more); None for another binder error."""
    gone = _MISSING_COLUMN.search(str(exc))
    inputs = [d.name for d in spec.deps if d.name in defs.assets]
    had = once_had(inputs, gone.group(1)) if gone else []
    if not gone or not had:
        return None
    which = "it no longer returns" if len(had) == 1 else "they no longer return"
    return DefinitionError(
        f"{spec.where}: asset {spec.name} reads column {gone.group(1)} of"
        f" {' and '.join(had)}, which {which}",
        f"update {spec.name}, or bring the column back in {had[0]}",
    )


def failure(
    task: Task, spec: AssetSpec, exc: Exception, calling: list[str]
) -> tuple[BaseException, str, str | None]:
    """A failed attempt's error (see `classify`) and traceback, and in a group the partition
    whose own call raised (None when the group's write failed: no one node's)."""
    failed = calling[0] if task.grouped and calling else None
    error = classify(exc, spec, f"{task.asset}[{failed or task.nodes[0].partition}]")
    return error, traceback.format_exc(), failed


def classify(exc: Exception, spec: AssetSpec, label: str) -> BaseException:
    """Turn what a node raised into the error the run reports, by what it is: an SQL mistake
    is the definition's; DuckDB's conversion, out-of-range, invalid-input, type and
    constraint errors and Python's arithmetic, value, type and lookup errors are the data's
    (never retried, unless the asset's `retry_on` names them); anything else (network,
    timeouts, OS resources, write conflicts, the unknown) stays transient."""
    if isinstance(exc, AssetflowError):
        return exc
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, _SQL_MISTAKES):
        return DefinitionError(f"{spec.where}: asset {label}: SQL error: {first_line}")
    if spec.retry_on and isinstance(exc, spec.retry_on):
        return exc
    if isinstance(exc, _ENGINE_DATA_ERRORS):  # every report of it names the node already
        return DataError(first_line)
    if isinstance(exc, _PYTHON_DATA_ERRORS):
        return DataError(f"{type(exc).__name__}: {first_line}")
    return exc
