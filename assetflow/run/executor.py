"""The executor: runs a Plan with a concurrency limit; the only writer of data and lineage.

Tasks run on any `concurrent.futures.Executor` (threads here; a distributed engine can
provide another). The scheduling loop, all bookkeeping and every metadata write other than
the node's own transaction stay on the calling thread. A node whose inputs are ready is
submitted; a transient failure is retried after a backoff without holding a worker; a final
failure marks every planned node downstream `upstream_failed` while independent nodes go
on. A definition mistake stops scheduling: it would fail the same way for every partition.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import random
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from assetflow.core.checks import CheckFailed
from assetflow.core.graph import AssetGraph
from assetflow.core.planner import Plan, PlannedNode
from assetflow.core.policy import retryable
from assetflow.core.records import CheckResult, Failure, InputRange, Node, NodeResult, RunResult
from assetflow.core.specs import AssetSpec
from assetflow.errors import AssetflowError, DataError, DefinitionError
from assetflow.run.alerts import fire
from assetflow.run.audit import run_checks
from assetflow.run.compute import Context, node_query, release
from assetflow.run.runlog import NodeLog, bound, node_log_path
from assetflow.store.store import Store
from assetflow.store.writer import NodeWrite, Written

_SQL_MISTAKES = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)
_DATA_ERRORS = (duckdb.ConversionException, duckdb.ConstraintException)
_WRITE_CONFLICT_TRIES = 5

Key = tuple[str, str]


@dataclass
class RunContext:
    """What stays the same for every node of one run (plus the versions it updates)."""

    run_id: str
    graph: AssetGraph
    store: Store
    root: Path
    logs_dir: Path
    versions: dict[Key, str]  # current data versions, updated as nodes commit
    observed: dict[Key, str | None]
    recorded: dict[Key, dict[Key, str]]  # conditional nodes: inputs their build read
    pipeline: str = ""  # the schedule or sensor that started the run, else the project
    concurrency: int = 1
    oldest_first: bool = False  # backfills: earliest partitions first, across assets
    rng: random.Random = field(default_factory=random.Random)
    pool: Executor | None = None  # default: a thread pool of `concurrency` workers
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _cursors: list[duckdb.DuckDBPyConnection] = field(default_factory=list, repr=False)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This worker thread's cursor, opened once per run (a cursor per task costs)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self.store.conn.cursor()
            self._cursors.append(cur)
        return cur

    def close_cursors(self) -> None:
        for cur in self._cursors:
            cur.close()
        self._cursors.clear()


@dataclass(frozen=True)
class _Done:
    """What one attempt of a task produced, handed back from a worker thread."""

    written: dict[Key, Written]
    error: BaseException | None
    trace: str
    seconds: float
    checks: dict[Key, tuple[CheckResult, ...]] = field(default_factory=dict)


def execute(
    plan: Plan, run: RunContext, on_result: Callable[[NodeResult], None] | None = None
) -> RunResult:
    """Run the plan; never raises for a node's own failure."""
    return _Scheduler(plan, run, on_result).run()


class _Scheduler:
    """Tasks are single nodes, or the nodes of one batch; a task is known by its first node
    (its leader). Dependencies are tracked per node and released per task."""

    def __init__(
        self, plan: Plan, run: RunContext, on_result: Callable[[NodeResult], None] | None
    ) -> None:
        self.run_ctx = run
        self.on_result = on_result
        nodes = list(plan.nodes)
        if run.oldest_first:  # dependencies still hold: the ready queue only orders the ready
            nodes.sort(key=lambda p: _window_start(run, p.node))
        self.order = {_key(p.node): i for i, p in enumerate(nodes)}
        self.planned = {_key(p.node): p for p in plan.nodes}
        self.members: dict[Key, list[Key]] = {}
        self.leader: dict[Key, Key] = {}
        by_batch: dict[int, Key] = {}
        for key, p in self.planned.items():
            lead = by_batch.setdefault(p.batch, key) if p.batch else key
            self.leader[key] = lead
            self.members.setdefault(lead, []).append(key)
        self.waiting_on: dict[Key, set[Key]] = {lead: set() for lead in self.members}
        self.dependents: dict[Key, list[Key]] = {k: [] for k in self.planned}
        for key, p in self.planned.items():
            lead = self.leader[key]
            for rng in p.inputs:
                if rng.is_source:
                    continue
                for k in rng.keys:
                    up = (rng.name, k)
                    if up in self.planned and self.leader[up] != lead:
                        self.waiting_on[lead].add(up)
                        self.dependents[up].append(key)
        self.ready: list[tuple[int, Key]] = []
        self.retries: list[tuple[float, int, Key]] = []  # (due, order, task leader)
        self.attempts: dict[Key, int] = {}
        self.started: dict[Key, object] = {}
        self.logs: dict[Key, NodeLog] = {}
        self.results: dict[Key, NodeResult] = {}
        self.stop: DefinitionError | None = None
        self.stop_order = len(self.order)
        self.check_counts = [0, 0, 0]
        self.interrupted = False
        for lead, ups in self.waiting_on.items():
            if not ups:
                heapq.heappush(self.ready, (self.order[lead], lead))

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> RunResult:
        run = self.run_ctx
        pool = run.pool or ThreadPoolExecutor(max_workers=run.concurrency)
        running: dict[Future[_Done], Key] = {}
        clock = run.store.clock
        try:
            while True:
                try:
                    self._launch(pool, running)
                    if not running and not self.retries and not self.ready:
                        break
                    timeout = self._until_next_retry()
                    if running:
                        done, _ = wait(list(running), timeout=timeout, return_when=FIRST_COMPLETED)
                    else:  # only retries are waiting: a simulated clock skips this
                        clock.sleep(timeout or 0.0)
                        done = set()
                    now = clock.monotonic()
                    while self.retries and self.retries[0][0] <= now:
                        _, order, lead = heapq.heappop(self.retries)
                        heapq.heappush(self.ready, (order, lead))
                    for future in sorted(done, key=lambda f: self.order[running[f]]):
                        self._finish(running.pop(future), future.result())
                except KeyboardInterrupt:
                    self.interrupted = True  # stop scheduling; let running transactions end
                    self.ready.clear()
                    self.retries.clear()
        finally:
            if run.pool is None:
                pool.shutdown(wait=True)
            run.close_cursors()
        return self._result()

    def _until_next_retry(self) -> float | None:
        due = self.retries[0][0] if self.retries else None
        return None if due is None else max(0.0, due - self.run_ctx.store.clock.monotonic())

    def _launch(self, pool: Executor, running: dict[Future[_Done], Key]) -> None:
        run = self.run_ctx
        while self.ready and len(running) < run.concurrency:
            _, lead = heapq.heappop(self.ready)
            task = [self.planned[k] for k in self.members[lead]]
            if self.stop is not None or self.interrupted:
                for p in task:
                    self._complete(_key(p.node), NodeResult(p.node, "not_run"))
                continue
            first = task[0]
            if first.conditional and self.attempts.get(lead, 0) == 0 and self._unchanged(first):
                now = run.store.clock()
                run.store.record_attempts(
                    run.run_id, [_indexed(run, first.node)], 0, now, now, "verified"
                )
                self._complete(lead, NodeResult(first.node, "verified"))
                continue
            attempt = self.attempts[lead] = self.attempts.get(lead, 0) + 1
            self.started[lead] = run.store.clock()
            log = self.logs.setdefault(lead, NodeLog(self._log_path(first.node)))
            label = (
                str(first.node) if len(task) == 1 else f"{first.node}..{task[-1].node.partition}"
            )
            log.begin(f"--- {label} attempt {attempt} (run {run.run_id})\n")
            inputs = [_input_versions(run, p) for p in task]
            running[pool.submit(_attempt, run, task, inputs, log, attempt)] = lead

    def _finish(self, lead: Key, done: _Done) -> None:
        run = self.run_ctx
        task = [self.planned[k] for k in self.members[lead]]
        attempt, log = self.attempts[lead], self.logs[lead]
        error = done.error
        failed_checks = error.results if isinstance(error, CheckFailed) else ()
        nodes = [_indexed(run, p.node) for p in task]
        recorded = []
        for p, node in zip(task, nodes, strict=True):
            key = _key(p.node)
            checked = done.checks.get(key, ()) or tuple(r for r in failed_checks if r.node == key)
            written = done.written.get(key)
            recorded.append((node, written.materialization_id if written else None, checked))
            self._count_checks(checked)
        if error is not None:  # a successful write recorded its check results itself
            run.store.record_checks(run.run_id, recorded)
        if error is None:  # the write recorded the successful attempt with the data
            for p in task:
                key = _key(p.node)
                written = done.written[key]
                run.versions[key] = written.data_version
                self._complete(key, NodeResult(
                    p.node, "success", written.row_count, done.seconds, None, _logged(log),
                    attempt,
                ))  # fmt: skip
            return
        log.write(done.trace)
        policy = run.graph.defs.retry_policy(lead[0])
        spec = run.graph.defs.assets[lead[0]]
        may_retry = self.stop is None and not self.interrupted and attempt < policy.attempts
        if may_retry and retryable(error, spec.retry_on):
            delay = policy.delay_before(attempt, run.rng)
            ended = run.store.clock()
            log.write(f"retrying in {delay:.3f}s (attempt {attempt + 1} of {policy.attempts})\n")
            run.store.record_attempts(
                run.run_id, nodes, attempt, self.started[lead], ended, "retrying",
                error, _logged(log), ended + _seconds(delay),
            )  # fmt: skip
            heapq.heappush(
                self.retries, (run.store.clock.monotonic() + delay, self.order[lead], lead)
            )
            return
        if isinstance(error, DefinitionError) and self.order[lead] < self.stop_order:
            self.stop, self.stop_order = error, self.order[lead]  # the first, in plan order
        text = describe_error(error)
        run.store.record_attempts(
            run.run_id, nodes, attempt, self.started[lead], run.store.clock(), "failed", error,
            _logged(log),
        )  # fmt: skip
        for p in task:
            key = _key(p.node)
            start = _window_start(run, p.node)
            failure = Failure(
                run.pipeline, *key, None if start == dt.date.min else start, run.run_id,
                attempt, text, _logged(log),
            )  # fmt: skip
            for problem in fire(run.graph.defs.failure_hooks(key[0]), failure, log.logger):
                log.write(problem + "\n")
            result = NodeResult(p.node, "failed", None, done.seconds, text, _logged(log), attempt)
            self._complete(key, result)

    def _count_checks(self, results: tuple[CheckResult, ...]) -> None:
        for r in results:
            slot = 0 if r.passed else (2 if r.severity == "error" else 1)
            self.check_counts[slot] += 1

    def _complete(self, key: Key, result: NodeResult) -> None:
        self.results[key] = result
        lead = self.leader[key]
        if lead in self.logs and all(k in self.results for k in self.members[lead]):
            self.logs[lead].close()
        if self.on_result:
            self.on_result(result)
        ok = result.status in ("success", "verified", "not_run")
        for down in self.dependents[key]:
            if down in self.results:
                continue
            task = self.leader[down]
            if not ok:
                self._block(task)
            elif key in self.waiting_on[task]:
                self.waiting_on[task].discard(key)
                if not self.waiting_on[task]:
                    heapq.heappush(self.ready, (self.order[task], task))

    def _block(self, lead: Key) -> None:
        """An upstream failed: record the task's nodes (and what they feed) upstream_failed."""
        now = self.run_ctx.store.clock()
        blocked = [k for k in self.members[lead] if k not in self.results]
        nodes = [_indexed(self.run_ctx, self.planned[k].node) for k in blocked]
        self.run_ctx.store.record_attempts(
            self.run_ctx.run_id, nodes, 0, now, now, "upstream_failed"
        )
        for key in blocked:
            self._complete(key, NodeResult(self.planned[key].node, "upstream_failed"))

    def _unchanged(self, planned: PlannedNode) -> bool:
        """Early cutoff: every input the node would read has the version it was built from."""
        current = {(n, k): v for n, k, _, v in _input_versions(self.run_ctx, planned)}
        return current == self.run_ctx.recorded.get(_key(planned.node))

    def _log_path(self, node: Node) -> Path:
        return node_log_path(self.run_ctx.logs_dir, self.run_ctx.run_id, node.asset, node.partition)

    def _result(self) -> RunResult:
        results = tuple(
            self.results.get(k) or NodeResult(self.planned[k].node, "not_run")
            for k in sorted(self.planned, key=self.order.__getitem__)
        )
        by = [r.status for r in results]
        broken = by.count("failed") + by.count("upstream_failed")
        built = by.count("success") + by.count("verified")
        if self.interrupted:
            status, code = "interrupted", 130
        elif self.stop is not None:
            status, code = "failed", self.stop.exit_code
        elif broken or by.count("not_run"):
            status, code = ("partial" if built else "failed"), 1
        else:
            status, code = "success", 0
        checks = (self.check_counts[0], self.check_counts[1], self.check_counts[2])
        return RunResult(self.run_ctx.run_id, status, results, self.stop, code, checks)


# -- one attempt of a task, on a worker thread -------------------------------------------------
InputVersions = tuple[tuple[str, str, int, str], ...]


def _attempt(
    run: RunContext,
    task: list[PlannedNode],
    inputs: list[InputVersions],
    log: NodeLog,
    attempt: int,
) -> _Done:
    first = task[0].node
    spec = run.graph.defs.assets[first.asset]
    t0 = time.perf_counter()
    cur = run.cursor()
    try:
        with bound(log):
            for tries in range(1, _WRITE_CONFLICT_TRIES + 1):
                try:
                    written, checks = _compute_and_write(run, task, inputs, cur, log, attempt)
                    return _Done(written, None, "", time.perf_counter() - t0, checks)
                except duckdb.TransactionException:
                    if tries == _WRITE_CONFLICT_TRIES:
                        raise
                    log.write(f"write conflict, trying the write again ({tries})\n")
    except Exception as exc:  # any failure of user code or of the write fails this attempt
        error = _classify(exc, spec.where, first)
        return _Done({}, error, traceback.format_exc(), time.perf_counter() - t0)
    raise AssertionError("unreachable")


def _compute_and_write(
    run: RunContext,
    task: list[PlannedNode],
    inputs: list[InputVersions],
    cur: duckdb.DuckDBPyConnection,
    log: NodeLog,
    attempt: int,
) -> tuple[dict[Key, Written], dict[Key, tuple[CheckResult, ...]]]:
    """One call of the asset's function for the whole task, one write of all its partitions."""
    first, last = task[0].node, task[-1].node
    spec = run.graph.defs.assets[first.asset]
    parts = spec.partitions
    started_at = run.store.clock()
    windows = [parts.window(parts.index(p.node.partition)) for p in task]
    ctx = Context(
        asset=first.asset,
        partition=first.partition if len(task) == 1 else f"{first.partition}..{last.partition}",
        start=windows[0][0],
        end=windows[-1][1],
        logical_date=windows[0][0] or started_at.date(),
        run_id=run.run_id,
        conn=cur,
        log=log.logger,
        partitions=tuple(p.node.partition for p in task),
    )
    writes = [
        NodeWrite(
            run_id=run.run_id,
            asset=p.node.asset,
            partition=p.node.partition,
            partition_index=parts.index(p.node.partition),
            code_version=spec.code_version,
            inputs=versions,
            clipped=_clipped_note(p),
            started_at=started_at,
            attempt=attempt,
            log_path=None,  # set once the function has run: a quiet node has no file
        )
        for p, versions in zip(task, inputs, strict=True)
    ]
    checked: dict[Key, tuple[CheckResult, ...]] = {}

    def audit(
        cur: duckdb.DuckDBPyConnection, rows: str, write: NodeWrite
    ) -> tuple[CheckResult, ...]:
        """Write-audit-publish: every check over one partition's new rows, before commit."""
        start, end = parts.window(write.partition_index)
        node_ctx = dataclasses.replace(ctx, partition=write.partition, start=start, end=end)
        node = (write.asset, write.partition)
        found = tuple(
            dataclasses.replace(r, node=node)
            for r in run_checks(spec.checks, cur, rows, node_ctx, started_at)
        )
        checked[node] = found
        if any(r.blocking_failure for r in found):
            raise CheckFailed([r for results in checked.values() for r in results])
        return found

    query = None
    try:
        query = node_query(spec, first, _merged_inputs(task), ctx, run.graph.defs, run.root)
        if log.written:  # the function logged or printed: the attempt records its file
            writes = [dataclasses.replace(w, log_path=str(log.path)) for w in writes]
        written = run.store.writer.write_nodes(
            cur, query, writes, _partition_expression(spec), audit if spec.checks else None
        )
        return {(first.asset, k): w for k, w in written.items()}, checked
    finally:
        release(cur, ctx, query)


def _merged_inputs(task: list[PlannedNode]) -> tuple[InputRange, ...]:
    """What a task reads: per dependency, the span from its first to its last node's reads."""
    if len(task) == 1:
        return task[0].inputs
    merged = []
    for column in zip(*(p.inputs for p in task), strict=True):
        spans = [r for r in column if r.first <= r.last]
        head = column[0]
        lo = min((r.first for r in spans), default=head.first)
        hi = max((r.last for r in spans), default=head.last)
        clipped = any(r.clipped for r in column)
        merged.append(InputRange(head.name, lo, hi, clipped, head.is_source, head.partitions))
    return tuple(merged)


def _partition_expression(spec: AssetSpec) -> str | None:
    """SQL giving each output row's partition key from the asset's partition_by column."""
    if spec.partition_by is None:
        return None
    fmt = "%Y-%m-%d" if spec.partitions.unit == "day" else "%Y-%m"
    return f"strftime(\"{spec.partition_by}\"::DATE, '{fmt}')"


def _classify(exc: Exception, where: str, node: Node) -> BaseException:
    """Turn what a node raised into the error the run reports."""
    if isinstance(exc, AssetflowError):
        return exc
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, _SQL_MISTAKES):
        return DefinitionError(f"{where}: asset {node}: SQL error: {first_line}")
    if isinstance(exc, _DATA_ERRORS):  # every report of it names the node already
        return DataError(first_line)
    return exc


# -- helpers ------------------------------------------------------------------------------------
def describe_error(error: BaseException) -> str:
    text = error.one_line() if isinstance(error, AssetflowError) else str(error)
    return f"{type(error).__name__}: {text}"


def _key(node: Node) -> Key:
    return node.asset, node.partition


def _window_start(run: RunContext, node: Node) -> dt.date:
    parts = run.graph.defs.assets[node.asset].partitions
    return parts.window(parts.index(node.partition))[0] or dt.date.min


def _indexed(run: RunContext, node: Node) -> tuple[str, str, int]:
    index = run.graph.defs.assets[node.asset].partitions.index(node.partition)
    return node.asset, node.partition, index


def _logged(log: NodeLog) -> str | None:
    return str(log.path) if log.written else None


def _seconds(delay: float) -> dt.timedelta:
    return dt.timedelta(seconds=delay)


def _input_versions(run: RunContext, planned: PlannedNode) -> tuple[tuple[str, str, int, str], ...]:
    """(input, partition, partition index, current version) for everything the node reads."""
    rows = []
    for rng in planned.inputs:
        table = run.observed if rng.is_source else run.versions
        for index in range(rng.first, rng.last + 1):
            key = rng.partitions.key(index)
            rows.append((rng.name, key, index, table.get((rng.name, key)) or ""))
    return tuple(rows)


def _clipped_note(planned: PlannedNode) -> str | None:
    notes = []
    for rng in planned.inputs:
        if rng.clipped:
            keys = rng.keys
            span = f"{keys[0]}..{keys[-1]}" if keys else "nothing"
            notes.append(f"{rng.name} window clipped to {span}")
    return "; ".join(notes) or None


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]
