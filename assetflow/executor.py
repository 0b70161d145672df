"""The executor: runs a Plan node by node, the only writer of data and lineage.

A node that fails makes its downstream nodes `upstream_failed`; independent nodes go on.
A definition mistake (SQL that does not bind, a wrong return type) stops the run: it would
fail the same way for every partition.
"""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .compute import Context, node_query, release
from .errors import AssetflowError, DataError, DefinitionError
from .graph import AssetGraph, Node
from .planner import Plan, PlannedNode
from .store import NodeWrite, Store

_SQL_MISTAKES = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)
_DATA_ERRORS = (duckdb.ConversionException, duckdb.ConstraintException)


@dataclass(frozen=True)
class NodeResult:
    node: Node
    status: str  # success | verified | failed | upstream_failed | not_run
    rows: int | None = None
    seconds: float = 0.0
    error: str | None = None
    log_path: str | None = None


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: str  # success | failed | interrupted
    results: tuple[NodeResult, ...]
    stopped_by: DefinitionError | None  # the mistake that stopped the run early
    exit_code: int

    @property
    def message(self) -> str | None:
        return self.stopped_by.one_line() if self.stopped_by else None

    def counts(self) -> tuple[int, int, int, int, int]:
        """(planned, materialized, verified, failed, not run)."""
        by = [r.status for r in self.results]
        skipped = by.count("upstream_failed") + by.count("not_run")
        return len(by), by.count("success"), by.count("verified"), by.count("failed"), skipped


@dataclass(frozen=True)
class RunContext:
    """What stays the same for every node of one run."""

    run_id: str
    graph: AssetGraph
    store: Store
    root: Path
    logs_dir: Path
    versions: dict[tuple[str, str], str]  # current data versions, updated as nodes commit
    observed: dict[tuple[str, str], str | None]
    # For conditional nodes: the inputs their latest materialization read, with versions.
    recorded: dict[tuple[str, str], dict[tuple[str, str], str]]


def execute(
    plan: Plan, run: RunContext, on_result: Callable[[NodeResult], None] | None = None
) -> RunResult:
    """Run every planned node in order; never raises for a node's own failure."""
    results: list[NodeResult] = []
    broken: set[tuple[str, str]] = set()  # failed or upstream_failed in this run
    stop: DefinitionError | None = None
    status = "success"
    try:
        for planned in plan.nodes:
            if stop is not None:
                result = NodeResult(planned.node, "not_run")
            elif _reads_broken(planned, broken):
                result = _record_skip(run, planned)
            elif planned.conditional and _inputs_unchanged(run, planned):
                result = _record_verified(run, planned)
            else:
                result, error = _run_node(run, planned)
                if isinstance(error, DefinitionError):
                    stop = error
            if result.status not in ("success", "verified"):
                broken.add((planned.node.asset, planned.node.partition))
            results.append(result)
            if on_result:
                on_result(result)
    except KeyboardInterrupt:
        status = "interrupted"
    failed = any(r.status in ("failed", "upstream_failed") for r in results)
    if status != "interrupted" and (failed or stop):
        status = "failed"
    exit_code = {"success": 0, "failed": 1, "interrupted": 130}[status]
    if stop is not None:
        exit_code = stop.exit_code
    return RunResult(run.run_id, status, tuple(results), stop, exit_code)


def describe_error(error: BaseException) -> str:
    text = error.one_line() if isinstance(error, AssetflowError) else str(error)
    return f"{type(error).__name__}: {text}"


def _reads_broken(planned: PlannedNode, broken: set[tuple[str, str]]) -> bool:
    return any((rng.name, key) in broken for rng in planned.inputs for key in rng.keys)


def _record_skip(run: RunContext, planned: PlannedNode) -> NodeResult:
    now = run.store.clock()
    run.store.record_attempt(run.run_id, _key(run, planned.node), 0, now, now, "upstream_failed")
    return NodeResult(planned.node, "upstream_failed")


def _inputs_unchanged(run: RunContext, planned: PlannedNode) -> bool:
    """Early cutoff: every input the node would read has the version it was built from."""
    current = {(name, key): version for name, key, _, version in _input_versions(run, planned)}
    return current == run.recorded.get((planned.node.asset, planned.node.partition))


def _record_verified(run: RunContext, planned: PlannedNode) -> NodeResult:
    now = run.store.clock()
    run.store.record_attempt(run.run_id, _key(run, planned.node), 0, now, now, "verified")
    return NodeResult(planned.node, "verified")


def _node_logger(run: RunContext, node: Node) -> tuple[logging.Logger, Path]:
    path = run.logs_dir / run.run_id / node.asset / f"{node.partition}.log"
    logger = logging.Logger(f"assetflow.{node}")  # not registered: no per-node leak
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, delay=True, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    return logger, path


def _run_node(run: RunContext, planned: PlannedNode) -> tuple[NodeResult, BaseException | None]:
    node = planned.node
    spec = run.graph.defs.assets[node.asset]
    started_at, t0 = run.store.clock(), time.perf_counter()
    logger, log_path = _node_logger(run, node)
    cur = run.store.conn.cursor()
    error: BaseException | None = None
    rows = None
    try:
        index = spec.partitions.index(node.partition)
        start, end = spec.partitions.window(index)
        ctx = Context(
            asset=node.asset,
            partition=node.partition,
            start=start,
            end=end,
            logical_date=start or started_at.date(),
            run_id=run.run_id,
            conn=cur,
            log=logger,
        )
        query = node_query(spec, node, planned.inputs, ctx, run.graph.defs, run.root)
        write = NodeWrite(
            run_id=run.run_id,
            asset=node.asset,
            partition=node.partition,
            partition_index=index,
            code_version=spec.code_version,
            inputs=_input_versions(run, planned),
            clipped=_clipped_note(planned),
            started_at=started_at,
        )
        written = run.store.write_node(cur, query, write)
        run.versions[(node.asset, node.partition)] = written.data_version
        rows = written.row_count
    except Exception as exc:  # any failure of user code or of the write fails this node only
        error = _classify(exc, spec.where, node)
        logger.error("%s failed: %s\n%s", node, error, traceback.format_exc())
    finally:
        release(cur)
        cur.close()
        for handler in logger.handlers:
            handler.close()
    status = "failed" if error else "success"
    logged = str(log_path) if log_path.exists() else None
    run.store.record_attempt(
        run.run_id, _key(run, node), 1, started_at, run.store.clock(), status, error, logged
    )
    seconds = time.perf_counter() - t0
    text = describe_error(error) if error else None
    return NodeResult(node, status, rows, seconds, text, logged), error


def _key(run: RunContext, node: Node) -> tuple[str, str, int]:
    index = run.graph.defs.assets[node.asset].partitions.index(node.partition)
    return node.asset, node.partition, index


def _classify(exc: Exception, where: str, node: Node) -> BaseException:
    """Turn what a node raised into the error the run reports."""
    if isinstance(exc, AssetflowError):
        return exc
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, _SQL_MISTAKES):
        return DefinitionError(f"{where}: asset {node}: SQL error: {first_line}")
    if isinstance(exc, _DATA_ERRORS):
        return DataError(f"asset {node}: {first_line}")
    return exc


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
            span = f"{rng.keys[0]}..{rng.keys[-1]}" if rng.keys else "nothing"
            notes.append(f"{rng.name} window clipped to {span}")
    return "; ".join(notes) or None


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]
