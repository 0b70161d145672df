"""The library entry points the CLI calls: load, observe, status, plan, run.

"now" comes in from the edge; nothing here prints.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from assetflow.app.config import Project
from assetflow.app.loader import load_definitions
from assetflow.core.automation import sla_late
from assetflow.core.explain import Reason, explain
from assetflow.core.graph import AssetGraph
from assetflow.core.intervals import Intervals
from assetflow.core.partitions import UNPARTITIONED, parse_date_or_month
from assetflow.core.planner import (
    Plan,
    check_sources,
    plan_materialize,
    select_targets,
    upstream_closure,
)
from assetflow.core.records import (
    AttemptRecord,
    CheckRecord,
    CheckResult,
    Facts,
    Node,
    NodeRecord,
    NodeResult,
    Observation,
    RunRecord,
    RunResult,
    RunSummary,
)
from assetflow.core.status import StatusReport, compute_status, growing_assets
from assetflow.errors import PartitionKeyError, SelectionError, UsageError
from assetflow.run import snapshot
from assetflow.run.alerts import fire
from assetflow.run.audit import run_checks
from assetflow.run.clock import WALL, Clock
from assetflow.run.compute import Context
from assetflow.run.executor import RunContext, execute, new_run_id
from assetflow.run.runlog import NodeLog, captured_output, prune
from assetflow.run.snapshot import Publisher
from assetflow.run.sources import observe
from assetflow.store.lineage import (
    first_observed,
    node_record,
    read_facts,
    recorded_inputs,
)
from assetflow.store.store import Store

_quiet = logging.getLogger("assetflow.check")


@dataclass(frozen=True)
class Request:
    """What to act on: asset patterns and an inclusive key range (None = unbounded)."""

    selection: tuple[str, ...] = ()
    range_from: str | None = None
    range_to: str | None = None


@dataclass(frozen=True)
class Outcome:
    graph: AssetGraph
    plan: Plan
    result: RunResult | None  # None for a dry run or an empty plan
    targets: dict[str, Intervals]

    def selected_nodes(self) -> int:
        return sum(len(t) for t in self.targets.values())


@dataclass(frozen=True)
class Snapshot:
    """Everything status-like commands show: the graph, sources as observed now, statuses."""

    graph: AssetGraph
    observations: tuple[Observation, ...]
    report: StatusReport
    targets: dict[str, Intervals]
    now: dt.datetime

    def late(self) -> dict[str, Intervals]:
        """Nodes past their SLA and not fresh."""
        return sla_late(self.graph, self.report, self.now, dt.timedelta(days=365 * 100))


def resolve_range(
    project: Project, partition: str | None, range_from: str | None, range_to: str | None
) -> tuple[str | None, str | None]:
    """The key range a command covers: --partition, else --from/--to, else the config."""
    if partition is not None:
        if range_from is not None or range_to is not None:
            raise PartitionKeyError("give either --partition or --from/--to, not both")
        range_from = range_to = partition
    elif range_from is None and range_to is None:
        range_from, range_to = project.settings.range_from, project.settings.range_to
    lo = parse_date_or_month(range_from)[0] if range_from else None
    hi = parse_date_or_month(range_to)[0] if range_to else None
    if lo and hi and hi < lo:
        raise PartitionKeyError(f"--to {range_to} is before --from {range_from}")
    return range_from, range_to


def load_graph(project: Project) -> AssetGraph:
    return AssetGraph(load_definitions(project.definitions_dir))


def observe_all(
    project: Project,
    graph: AssetGraph,
    now: dt.datetime,
    only: dict[str, Intervals] | None = None,
) -> list[Observation]:
    """The current version of every partition of every source (or of those in `only`)."""
    out = []
    for name, spec in graph.defs.sources.items():
        parts = spec.partitions
        every = Intervals.span(parts.first_index(), parts.last_index(now))
        wanted = every if only is None else every & only.get(name, Intervals())
        out.extend(observe(spec, [parts.key(i) for i in wanted], project.root))
    return out


@contextmanager
def _open(
    project: Project, clock: Clock, read_only: bool, wait: float = 0.0
) -> Iterator[Store | None]:
    """The warehouse, or None when a read-only command finds none yet."""
    if read_only and not project.warehouse_path.exists():
        yield None
        return
    store = Store.open(project.warehouse_path, clock, read_only=read_only, wait=wait)
    try:
        if not read_only:  # we hold the only write lock: runs marked running are dead
            store.abandon_dead_runs(clock())
            store.refresh_nodes()
        yield store if store.has_schema() else None
    finally:
        store.close()


def _targets(graph: AssetGraph, request: Request, now: dt.datetime) -> dict[str, Intervals]:
    assets = graph.select(list(request.selection))
    return select_targets(graph, assets, request.range_from, request.range_to, now)


def _snapshot(
    project: Project,
    graph: AssetGraph,
    store: Store | None,
    targets: dict[str, Intervals],
    now: dt.datetime,
) -> Snapshot:
    # Only the source partitions the targets read: nothing else can change their status.
    observations = observe_all(project, graph, now, upstream_closure(graph, targets, now))
    code = {name: spec.code_version for name, spec in graph.defs.assets.items()}
    if store is None:
        facts = Facts.none()
    else:
        facts = read_facts(store, code, observations, growing_assets(graph))
    report = compute_status(graph, facts, now)
    return Snapshot(graph, tuple(observations), report, targets, now)


def status_json(snap: Snapshot) -> dict[str, object]:
    """What `status --json` prints: counts per asset and every non-fresh node."""
    assets = []
    late = snap.late()
    for asset, scope in snap.targets.items():
        st = snap.report.assets[asset]
        late_here = late.get(asset, Intervals()) & scope
        nodes = [
            {"partition": st.partitions.key(i), "status": st.status(i), "causes": st.causes(i)}
            | ({"late": True} if i in late_here else {})
            for i in st.nonfresh & scope
        ]
        counts = {**st.counts(scope), "late": len(late_here)}
        assets.append({"asset": asset, "counts": counts, "nodes": nodes})
    return {"assets": assets}


def live_snapshot(project: Project) -> dict[str, Any] | None:
    """What the process holding the warehouse last published about its run."""
    return snapshot.read(project.warehouse_path)


def status(project: Project, request: Request, now: dt.datetime) -> Snapshot:
    """Status of every node, with sources observed now; writes nothing."""
    graph = load_graph(project)
    targets = _targets(graph, request, now)
    with _open(project, WALL, read_only=True) as store:
        return _snapshot(project, graph, store, targets, now)


def materialize(
    project: Project,
    request: Request,
    now: dt.datetime,
    *,
    clock: Clock = WALL,
    dry_run: bool = False,
    force: bool = False,
    upstream: bool = True,
    concurrency: int | None = None,
    wait: float = 0.0,
    trigger: str = "manual",
    backfill: bool = False,
    targets: dict[str, Intervals] | None = None,
    confirm: Callable[[Plan], bool] | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    on_result: Callable[[NodeResult], None] | None = None,
) -> Outcome:
    """Make the request fresh with the minimal plan; run it unless `dry_run`.

    A backfill runs oldest partitions first and records a backfill id that re-running the
    same selection and range resumes. `targets` (asset -> partitions) replaces the request's
    selection and range (sensors and automation). `confirm(plan)` may decline.
    """
    graph = load_graph(project)
    if targets is None:  # bad selections fail before anything opens
        targets = _targets(graph, request, now)
    with _open(project, clock, read_only=dry_run, wait=wait) as store:
        snap = _snapshot(project, graph, store, targets, now)
        plan = plan_materialize(
            graph,
            snap.report,
            snap.targets,
            now,
            force=force,
            upstream=upstream,
            range_from=request.range_from,
            range_to=request.range_to,
        )
        observed = {(o.source, o.partition): o.version for o in snap.observations}
        check_sources(plan, graph, observed)
        if dry_run or store is None or not plan.nodes:
            return Outcome(graph, plan, None, snap.targets)
        if confirm is not None and not confirm(plan):
            raise UsageError("cancelled: nothing was run")
        if on_plan:
            on_plan(plan)
        options = _RunOptions(
            trigger="backfill" if backfill and trigger == "manual" else trigger,
            concurrency=concurrency or project.settings.concurrency,
            backfill_id=_backfill_id(store, request) if backfill else None,
        )
        result = _run(project, graph, store, plan, snap, options, on_result)
        return Outcome(graph, plan, result, snap.targets)


@dataclass(frozen=True)
class _RunOptions:
    trigger: str
    concurrency: int
    backfill_id: str | None = None


def _selection_key(request: Request) -> str:
    return json.dumps(sorted(request.selection))


def _backfill_id(store: Store, request: Request) -> str:
    selection = _selection_key(request)
    return store.backfill_for(selection, request.range_from, request.range_to, new_run_id())


@dataclass(frozen=True)
class BackfillProgress:
    backfill_id: str
    range_from: str | None
    range_to: str | None
    by_asset: dict[str, dict[str, Intervals]]  # asset -> done / failed / remaining
    snapshot: Snapshot


def backfill_status(
    project: Project, backfill_id: str | None, now: dt.datetime
) -> BackfillProgress:
    """Done (fresh), failed and remaining nodes of a backfill (default: the latest)."""
    graph = load_graph(project)
    with _open(project, WALL, read_only=True) as store:
        found = store.find_backfill(backfill_id) if store is not None else None
        if found is None:
            what = f"no backfill {backfill_id!r}" if backfill_id else "no backfill yet"
            raise SelectionError(what, "see `assetflow runs --trigger backfill`")
        found_id, selection, lo, hi = found
        request = Request(tuple(json.loads(selection)), lo, hi)
        snap = _snapshot(project, graph, store, _targets(graph, request, now), now)
    by_asset = {}
    for asset, scope in snap.targets.items():
        st = snap.report.assets[asset]
        failed = st.failed & scope
        remaining = (st.nonfresh & scope) - failed
        done = scope - failed - remaining
        by_asset[asset] = {"done": done, "failed": failed, "remaining": remaining}
    return BackfillProgress(found_id, lo, hi, by_asset, snap)


def _run(
    project: Project,
    graph: AssetGraph,
    store: Store,
    plan: Plan,
    snap: Snapshot,
    options: _RunOptions,
    on_result: Callable[[NodeResult], None] | None,
) -> RunResult:
    clock = store.clock
    run_id = new_run_id()
    selection = json.dumps(
        {"assets": list(plan.assets), "from": plan.range_from, "to": plan.range_to}
    )
    store.start_run(run_id, options.trigger, selection, clock(), os.getpid(), options.backfill_id)
    read = plan.source_keys()
    store.record_observations(
        run_id, clock(), [o for o in snap.observations if o.partition in read.get(o.source, ())]
    )
    upstream = {d.name for p in plan.nodes for d in graph.defs.assets[p.node.asset].deps}
    versions = store.current_versions([*{p.node.asset for p in plan.nodes}, *upstream])
    conditional = [(p.node.asset, p.node.partition) for p in plan.nodes if p.conditional]
    run = RunContext(
        run_id=run_id,
        graph=graph,
        store=store,
        root=project.root,
        logs_dir=project.logs_dir,
        versions=versions,
        observed={(o.source, o.partition): o.version for o in snap.observations},
        recorded=recorded_inputs(store, conditional),
        pipeline=options.trigger.partition(":")[2] or project.root.name,
        concurrency=options.concurrency,
        oldest_first=options.backfill_id is not None,
    )
    publisher = Publisher(
        project.warehouse_path,
        {
            "run_id": run_id,
            "pid": os.getpid(),
            "started_at": clock(),
            "planned": len(plan.nodes),
            # Counts only: a large project's list of non-fresh nodes would not be "small".
            "status": {
                "assets": [
                    {"asset": a["asset"], "counts": a["counts"]}
                    for a in status_json(snap)["assets"]
                ]
            },
            "runs": [dataclasses.asdict(r) for r in store.list_runs(20)],
        },
    )

    def on_node(node_result: NodeResult) -> None:
        publisher.advance(node_result.status)
        if on_result:
            on_result(node_result)

    try:
        with captured_output():
            result = execute(plan, run, on_node)
    except BaseException as exc:  # a bug of ours: the run must not stay "running"
        store.finish_run(run_id, "failed", clock(), (len(plan.nodes), 0, 0, 0, 0), repr(exc))
        raise
    finally:
        publisher.close()
    store.finish_run(run_id, result.status, clock(), result.counts(), result.message)
    store.refresh_nodes()
    _, built, verified, failed, not_run = result.counts()
    summary = RunSummary(
        run.pipeline,
        run_id,
        result.status,
        built,
        verified,
        failed,
        not_run,
        tuple(f"{r.node}: {r.error}" for r in result.results if r.status == "failed"),
    )
    run_log = NodeLog(project.logs_dir / run_id / "run.log")
    hooks = graph.defs.defaults.on_run_end
    if result.status != "success":
        hooks += graph.defs.defaults.on_run_failure
    fire(hooks, summary, run_log.logger)
    run_log.close()
    prune(project.logs_dir, project.settings.log_retention_days, clock())
    return result


def why(project: Project, asset: str, partition: str | None, now: dt.datetime) -> Reason:
    """The causes of one node's status, walked back to their roots."""
    graph = load_graph(project)
    if asset not in graph.defs.assets:
        raise SelectionError(f"unknown asset {asset!r}", f"assets: {', '.join(graph.order)}")
    parts = graph.defs.assets[asset].partitions
    if partition is None:
        if parts.unit != "none":
            raise PartitionKeyError(
                f"{asset} is partitioned ({parts.describe(now)})", "give a PARTITION"
            )
        partition = UNPARTITIONED
    graph.defs.assets[asset].partitions.validate_key(partition, now)
    details = {}
    with _open(project, WALL, read_only=True) as store:
        snap = _snapshot(project, graph, store, _targets(graph, Request((asset,)), now), now)
        details = {(o.source, o.partition): o for o in snap.observations}

        def lookup(node: Node) -> NodeRecord | None:
            return node_record(store, node.asset, node.partition) if store else None

        def source_info(source: str, key: str) -> str:
            obs = details.get((source, key))
            if obs is None:
                return "no longer observed"
            what = obs.detail or "observed version"
            if obs.version is None:
                return f"{what} is gone"
            seen = first_observed(store, source, key, obs.version) if store else None
            return f"{what}, observed {seen:%Y-%m-%d %H:%M:%S}" if seen else f"{what}, new"

        return explain(graph, snap.report, Node(asset, partition), now, lookup, source_info)


@dataclass(frozen=True)
class NodeChecks:
    partition: str
    results: tuple[CheckResult, ...]


def check_stored(
    project: Project, asset: str, request: Request, now: dt.datetime
) -> list[NodeChecks]:
    """Run an asset's checks on its stored partitions (no rematerializing); record results."""
    graph = load_graph(project)
    spec = graph.defs.assets.get(asset)
    if spec is None:
        raise SelectionError(f"unknown asset {asset!r}", f"assets: {', '.join(graph.order)}")
    if not spec.checks:
        raise SelectionError(f"asset {asset} declares no checks", f"see {spec.where}")
    targets = select_targets(graph, [asset], request.range_from, request.range_to, now)[asset]
    out = []
    with _open(project, WALL, read_only=False) as store:
        assert store is not None
        if not targets:
            return out
        stored = store.latest_materializations(asset, targets.spans[0][0], targets.spans[-1][1])
        for index in targets:
            key = spec.partitions.key(index)
            if key not in stored:
                continue
            view = f"_af_check_{asset}"
            store.conn.execute(
                f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * EXCLUDE (_partition)"
                f" FROM main.\"{asset}\" WHERE _partition = '{key}'"
            )
            start, end = spec.partitions.window(index)
            ctx = Context(asset, key, start, end, start or now.date(), "", store.conn, _quiet)
            results = tuple(run_checks(spec.checks, store.conn, view, ctx, now))
            store.record_checks(None, [((asset, key, index), stored[key], results)])
            out.append(NodeChecks(key, results))
    return out


def list_checks(project: Project, asset: str | None, failed_only: bool) -> list[CheckRecord]:
    with _open(project, WALL, read_only=True) as store:
        return store.list_checks(asset, failed_only) if store is not None else []


def record_observations(project: Project, now: dt.datetime) -> list[Observation]:
    """`assetflow observe`: observe every source partition and record what changed."""
    graph = load_graph(project)
    observations = observe_all(project, graph, now)
    with _open(project, WALL, read_only=False) as store:
        assert store is not None
        changed = store.changed_observations(observations)
        store.record_observations(None, store.clock(), changed)
    return changed


def list_runs(
    project: Project, limit: int = 20, status: str | None = None, trigger: str | None = None
) -> list[RunRecord]:
    with _open(project, WALL, read_only=True) as store:
        return store.list_runs(limit, status, trigger) if store is not None else []


def show_run(project: Project, run_prefix: str) -> tuple[RunRecord, list[AttemptRecord]]:
    """One run (a unique prefix of its id is enough) and all its attempts."""
    with _open(project, WALL, read_only=True) as store:
        found = store.list_runs(2, run_prefix=run_prefix) if store is not None else []
        if len(found) != 1:
            problem = "matches no run" if not found else "is ambiguous"
            raise SelectionError(f"run {run_prefix!r} {problem}", "see `assetflow runs`")
        assert store is not None
        return found[0], store.attempts_of(found[0].run_id)
