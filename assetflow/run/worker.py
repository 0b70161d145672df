"""The worker: runs one Task, whatever the storage, and never raises for the task's own
failure.

One pipeline for every storage: compute the task's rows (one call of the asset's function,
or one per node), then hand them to the storage's write — which stages them, refuses rows
outside the task's partitions and NULLs the contract forbids, audits each partition with
its blocking checks, computes data versions and commits the partitions with their lineage,
all or nothing. The storage implements that write and where inputs come from:
`EmbeddedWorker` (run/embedded_worker.py, the warehouse file, one transaction) and
`DeltaWorker` (run/delta_worker.py, a Delta commit, anywhere).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb

from assetflow.core.checks import CheckFailed, sql_literal
from assetflow.core.definitions import Definitions
from assetflow.core.multi import MultiPartitions
from assetflow.core.partitions import compact_ranges
from assetflow.core.records import CheckResult, InputRange, NodeWrite, Published, Written
from assetflow.core.specs import AssetSpec
from assetflow.core.sql_lineage import tables_read
from assetflow.errors import DefinitionError, UpstreamMissingError
from assetflow.run.audit import run_checks, run_grouped
from assetflow.run.clock import Clock
from assetflow.run.compute import Context, node_query, release, result_view
from assetflow.run.contract import enforce
from assetflow.run.failures import failure, removed_column_error, retry_conflicts
from assetflow.run.resources import resources_for
from assetflow.run.runlog import NodeLog, bound
from assetflow.run.task import Task, TaskResult, node_reads
from assetflow.store.schema import PARTITION_COLUMN
from assetflow.store.tables import arrow_table
from assetflow.store.writer import KEY_COLUMN, Audit, Wrote

Offload = Callable[[Task, dict[str, Any]], Any]
_MISSING_TABLE = re.compile(r"Table with name (\w+) does not exist")


class GroupSplit(Exception):
    """A group's nodes cannot be written together: each runs alone instead."""


# SQL longer than this is not parsed for the tables it reads (sqlglot took 32 s and 1.5 GB
# for an 8.7 MB VALUES list): the run says so, once per asset.
LINEAGE_PARSE_LIMIT = 200_000


@dataclasses.dataclass(frozen=True)
class Rows:
    """A task's computed rows: a query over the worker's cursor, and how a row's partition
    key is placed (KEY_COLUMN when each node was computed by its own call; else an SQL
    expression over partition_by, or None: every row is the one node's)."""

    query: str
    placed: str | None


class Worker(ABC):
    """`worker(task) -> TaskResult`, callable on any thread."""

    conflict: type[Exception]  # what a lost race with another writer raises: computed again

    def __init__(
        self, defs: Definitions, root: Path, clock: Clock, offload: Offload | None = None
    ) -> None:
        """`offload(task, inputs)`: where a Python asset's function runs instead of this
        thread (a cluster worker), given its inputs as Arrow tables and returning its rows
        as one; the write stays here. SQL assets always run here."""
        self.defs, self.root, self.clock, self.offload = defs, root, clock, offload
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

            def attempt() -> tuple[Wrote, Published | None]:
                with self._guard():
                    return self._compute_and_write(task, spec, log, checks, calling)

            with bound(log):
                wrote, published = retry_conflicts(attempt, self.conflict, log)
            reshaped = describe_reshape(wrote, spec)
            if reshaped:
                log.write(f"table changed shape: {reshaped}\n")
            for key_set, keys in wrote.keys_added:
                log.write(f"keys added to {key_set}: {', '.join(keys)}\n")
            return TaskResult(
                wrote.written, None, "", self.clock.monotonic() - t0, log.written, checks,
                reshaped, wrote.keys_added, published,
            )  # fmt: skip
        except Exception as exc:  # any failure of user code or of the write fails this attempt
            error, trace, failed = failure(task, spec, exc, calling)
            seconds = self.clock.monotonic() - t0
            return TaskResult({}, error, trace, seconds, log.written, failed=failed)
        finally:
            log.close()
            if log.lost is not None:  # a full disk: the node's lines are gone, not the node
                self._note_lost_log(log.lost)

    def _note_lost_log(self, lost: str) -> None:
        """One warning for the run however many logs a full disk cost it."""
        with self._lock:
            if not any(n.startswith("log lines dropped") for n in self.notes):
                self.notes.append(f"log lines dropped (a log could not be written): {lost}")

    # -- what a storage implements ------------------------------------------------------------
    @abstractmethod
    def _cursor(self) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
        """The cursor an attempt computes (and stages) on, for the attempt."""

    @abstractmethod
    def _input(self, conn: duckdb.DuckDBPyConnection, task: Task, rng: InputRange, tag: str) -> str:
        """A SELECT of exactly the upstream partitions in `rng` (`tag` tells apart the views
        of the nodes of one task computed one by one)."""

    @abstractmethod
    def _write(
        self,
        conn: duckdb.DuckDBPyConnection,
        task: Task,
        spec: AssetSpec,
        rows: Rows,
        audit: Audit | None,
        log: NodeLog,
    ) -> tuple[Wrote, Published | None]:
        """Stage, refuse strays and forbidden NULLs, audit, version and commit the task's
        partitions with their lineage, all or nothing."""

    @abstractmethod
    def _once_had(self, assets: list[str], column: str) -> list[str]:
        """Those of `assets` whose table had `column` and has it no more."""

    def _reuse(self, conn: duckdb.DuckDBPyConnection, task: Task) -> dict[str, Written] | None:
        """The task's nodes copied from where the same code and inputs built them, if the
        storage shares work between environments; None: compute them."""
        return None

    def _guard(self) -> contextlib.AbstractContextManager[None]:
        """Around an attempt: how the storage names its own failures (a full disk)."""
        return contextlib.nullcontext()

    # -- the pipeline ---------------------------------------------------------------------------
    def _compute_and_write(
        self,
        task: Task,
        spec: AssetSpec,
        log: NodeLog,
        checks: dict[str, tuple[CheckResult, ...]],
        calling: list[str],
    ) -> tuple[Wrote, Published | None]:
        """One call of the asset's function for the whole task (or one per node, when it
        computes one partition per call), one write of all its nodes."""
        with self._cursor() as conn:
            reused = self._reuse(conn, task)
            if reused is not None:
                for key in reused:
                    log.write(
                        f"{task.asset}[{key}]: reused, not computed (another environment holds"
                        " it built by the same code from the same inputs)\n"
                    )
                return Wrote(reused), None
            ctx = task_context(task, spec, conn, log, self.defs)
            made: list[tuple[Context, str | None]] = []  # what each call registered
            try:
                if task.calls_per_node(spec.batch_size):
                    rows = Rows(
                        self._per_node_query(task, spec, conn, log, made, calling), KEY_COLUMN
                    )
                else:
                    query = self._call(spec, task, ctx, conn, made)
                    rows = Rows(query, partition_expression(spec, task.nodes[0].partition))
                audit = auditor(spec, ctx, checks) if spec.checks else None
                return self._write(conn, task, spec, rows, audit, log)
            except duckdb.BinderException as exc:
                error = removed_column_error(exc, spec, self.defs, self._once_had)
                if error is None:
                    raise
                raise error from exc
            except duckdb.CatalogException as exc:
                missing = _missing_upstream(task, spec, exc, self.defs)
                if missing is None:
                    raise
                raise missing from exc
            finally:
                for one, registered in made:
                    release(conn, one, registered)

    def _call(
        self,
        spec: AssetSpec,
        task: Task,
        ctx: Context,
        conn: duckdb.DuckDBPyConnection,
        made: list[tuple[Context, str | None]],
        tag: str = "",
    ) -> str:
        """Call the asset's function over the task's reads: the query of its rows, checked
        against its contract. `made` learns what to release afterwards."""
        reads = {rng.name: self._input(conn, task, rng, tag) for rng in task.reads}
        made.append((ctx, None))
        if self.offload is not None and not spec.returns_sql:
            inputs = {name: arrow_table(conn.sql(sql)) for name, sql in reads.items()}
            conn.register(result_view(ctx), self.offload(task, inputs))
            query = f"SELECT * FROM {result_view(ctx)}"
        else:
            query = node_query(spec, reads, ctx, self._check_reads)
        made[-1] = (ctx, query)
        if spec.columns:
            enforce(spec, conn, query)
        return query

    def _per_node_query(
        self,
        task: Task,
        spec: AssetSpec,
        conn: duckdb.DuckDBPyConnection,
        log: NodeLog,
        made: list[tuple[Context, str | None]],
        calling: list[str],
    ) -> str:
        """The rows of every node of the task, each computed by its own call, in one query
        whose KEY_COLUMN says which partition a row belongs to. `calling` names the node
        being called (what fails then is that node's)."""
        parts = []
        first: tuple[str, list[str]] | None = None
        for i, node in enumerate(task.nodes):
            calling[:] = [node.partition]
            one = dataclasses.replace(task, nodes=(node,), reads=node_reads(task, node))
            ctx = task_context(one, spec, conn, log, self.defs)
            query = self._call(spec, one, ctx, conn, made, f"_{i}")
            columns = conn.sql(query).columns  # binds, does not run
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
            parts.append(f"SELECT *, {sql_literal(node.partition)} AS {KEY_COLUMN} FROM ({query})")
        calling.clear()
        return " UNION ALL BY NAME ".join(parts)

    def _check_reads(self, spec: AssetSpec, sql: str) -> None:
        """Once per asset and run: the tables its SQL reads against its declared
        dependencies (an undeclared asset or source fails it; one never read is a warning)."""
        with self._lock:
            if spec.name in self._checked:
                return
            self._checked.add(spec.name)
        if len(sql) > LINEAGE_PARSE_LIMIT:  # a large literal would cost more than the query
            self.notes.append(
                f"{spec.where}: asset {spec.name} returns {len(sql) // 1000:,} kB of SQL: what it"
                f" reads was not checked against what it declares (SQL over"
                f" {LINEAGE_PARSE_LIMIT // 1000:,} kB is not parsed)"
            )
            return
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


def auditor(spec: AssetSpec, ctx: Context, checks: dict[str, tuple[CheckResult, ...]]) -> Audit:
    """Write-audit-publish: every check of `spec` over the task's new rows, before anything
    is committed — in one query per check for the checks that allow it, partition by
    partition for the others (their context is the partition's); what each partition's
    checks found goes into `checks`, in the asset's order of checks."""
    parts = spec.partitions
    together = [c for c in spec.checks if c.grouped_sql is not None]
    alone = [c for c in spec.checks if c.grouped_sql is None]

    def audit(
        cur: duckdb.DuckDBPyConnection,
        rows: str,
        writes: Sequence[NodeWrite],
        one: Callable[[str], str],
    ) -> dict[str, tuple[CheckResult, ...]]:
        keys = [w.partition for w in writes]
        grouped = run_grouped(together, cur, rows, PARTITION_COLUMN, keys)
        for write in writes:
            found: list[CheckResult] = []
            if alone:
                start, end = parts.window(write.partition_index)
                node_ctx = dataclasses.replace(ctx, partition=write.partition, start=start, end=end)
                found = run_checks(alone, cur, one(write.partition), node_ctx, write.started_at)
            each = iter(grouped[write.partition]), iter(found)  # (grouped, alone)
            node = (write.asset, write.partition)
            checks[write.partition] = tuple(
                dataclasses.replace(next(each[c.grouped_sql is None]), node=node)
                for c in spec.checks
            )
        if any(r.blocking_failure for results in checks.values() for r in results):
            raise CheckFailed([r for results in checks.values() for r in results])
        return {key: checks[key] for key in keys}

    return audit


def _missing_upstream(
    task: Task, spec: AssetSpec, exc: duckdb.CatalogException, defs: Definitions
) -> UpstreamMissingError | None:
    """An upstream asset whose table does not exist yet (a key set with no keys, say)."""
    found = _MISSING_TABLE.search(str(exc))
    if not found or found.group(1) not in {d.name for d in spec.deps}:
        return None
    name = found.group(1)
    up = defs.spec(name).partitions
    empty = f" ({up.describe()})" if up.is_keyed else ""
    return UpstreamMissingError(
        f"asset {task.asset} reads {name}, which has no partitions yet{empty}",
        f"materialize {name} first, or give its key set keys",
    )


def task_context(
    task: Task, spec: AssetSpec, conn: duckdb.DuckDBPyConnection, log: NodeLog, defs: Definitions
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
        resources=resources_for(spec, defs, task.env),
        env=task.env,
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
