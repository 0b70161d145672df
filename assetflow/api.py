"""The library entry points the CLI calls: load, plan, run. "now" comes in from the edge."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass

from .config import Project
from .errors import PartitionKeyError
from .executor import NodeResult, RunContext, RunResult, execute, new_run_id
from .graph import AssetGraph
from .loader import load_definitions
from .partitions import parse_date_or_month
from .planner import Plan, check_upstreams, plan_materialize, select_nodes
from .sources import observe
from .store import Clock, RunRecord, Store, utc_now


@dataclass(frozen=True)
class Request:
    """What to materialize: asset patterns and an inclusive key range (None = unbounded)."""

    selection: tuple[str, ...] = ()
    range_from: str | None = None
    range_to: str | None = None


@dataclass(frozen=True)
class Outcome:
    graph: AssetGraph
    plan: Plan
    result: RunResult | None  # None for a dry run


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


def materialize(
    project: Project,
    request: Request,
    now: dt.datetime,
    *,
    clock: Clock = utc_now,
    dry_run: bool = False,
    trigger: str = "manual",
    on_plan: Callable[[Plan], None] | None = None,
    on_result: Callable[[NodeResult], None] | None = None,
) -> Outcome:
    """Plan the request and, unless `dry_run`, run the plan in one recorded run."""
    graph = AssetGraph(load_definitions(project.definitions_dir))
    assets = graph.select(list(request.selection))
    select_nodes(graph, assets, request.range_from, request.range_to, now)  # validate first
    fresh_warehouse = not project.warehouse_path.exists()
    store = None if dry_run and fresh_warehouse else Store.open(project.warehouse_path, clock)
    try:
        upstream = {d.name for a in assets for d in graph.defs.assets[a].deps}
        versions = store.current_versions([*assets, *upstream]) if store else {}
        plan = plan_materialize(graph, assets, request.range_from, request.range_to, now, versions)
        observations = [
            o
            for name, keys in plan.source_keys().items()
            for o in observe(graph.defs.sources[name], keys, project.root)
        ]
        observed = {(o.source, o.partition): o.version for o in observations}
        check_upstreams(plan, graph, versions, observed)
        if on_plan:
            on_plan(plan)
        if dry_run or store is None:
            return Outcome(graph, plan, None)
        run_id = new_run_id()
        selection = json.dumps(
            {"assets": list(request.selection), "from": plan.range_from, "to": plan.range_to}
        )
        store.start_run(run_id, trigger, selection, clock(), os.getpid())
        store.record_observations(run_id, clock(), observations)
        run = RunContext(run_id, graph, store, project.root, project.logs_dir, versions, observed)
        result = execute(plan, run, on_result)
        store.finish_run(run_id, result.status, clock(), result.counts(), result.message)
        return Outcome(graph, plan, result)
    finally:
        if store is not None:
            store.close()


def list_runs(project: Project, limit: int = 20) -> list[RunRecord]:
    if not project.warehouse_path.exists():
        return []
    store = Store.open(project.warehouse_path, read_only=True)
    try:
        return store.list_runs(limit)
    finally:
        store.close()
