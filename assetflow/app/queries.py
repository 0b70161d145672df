"""The commands that look (status, why, backfill status, checks, runs, observe) and `check`,
which runs an asset's checks on its stored data."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from assetflow.app.session import Request, Session
from assetflow.app.state import Snapshot, observe_all, take_snapshot
from assetflow.app.state import targets as select
from assetflow.core.explain import Reason, explain
from assetflow.core.intervals import Intervals
from assetflow.core.observations import each_observation
from assetflow.core.partitions import UNPARTITIONED, MultiPartitions
from assetflow.core.planner import no_partitions
from assetflow.core.records import (
    AssetInfo,
    AttemptRecord,
    CheckRecord,
    Node,
    NodeRecord,
    Observation,
    RunRecord,
    RunStatus,
)
from assetflow.core.specs import AssetSpec
from assetflow.errors import PartitionKeyError, SelectionError, WarehouseLockedError
from assetflow.run import snapshot
from assetflow.run.audit import run_checks
from assetflow.run.compute import Context
from assetflow.store.lineage import first_observed, node_record
from assetflow.store.schema import in_partitions
from assetflow.store.writer import partition_view

_quiet = logging.getLogger("assetflow.check")


def status(session: Session, request: Request) -> Snapshot:
    """Status of every node, with sources observed now; writes nothing."""
    targets = select(session, request)
    return take_snapshot(session, session.reader(), targets)


def asset_spec(session: Session, asset: str) -> AssetSpec:
    spec = session.graph.defs.assets.get(asset)
    if spec is None:
        raise SelectionError(
            f"unknown asset {asset!r}", f"assets: {', '.join(session.graph.order)}"
        )
    return spec


def assets(session: Session, request: Request, recent: int = 7) -> list[AssetInfo]:
    """Every selected asset: what it is, what it reads, checks and schedules it, and what
    the warehouse holds of it."""
    graph = session.graph
    names = graph.select(list(request.selection))
    store = session.reader()
    overview = store.asset_overview(names, recent) if store is not None else {}
    selected = {s.name: graph.select(list(s.selection)) for s in graph.defs.schedules.values()}
    scheduled = {name: [s for s, picked in selected.items() if name in picked] for name in names}
    out = []
    for name in names:
        spec = graph.defs.assets[name]
        count, run_id, built_at, latest = overview.get(name, (0, None, None, []))
        out.append(AssetInfo(
            name, spec.description, spec.partitions.describe(session.now), spec.group,
            tuple(f"{d.name} via {d.mapping.describe()}" for d in spec.deps),
            tuple(c.name for c in spec.checks), tuple(scheduled[name]), spec.where, count,
            run_id, built_at, tuple(latest), spec.unseen,
        ))  # fmt: skip
    return out


def why(session: Session, asset: str, partition: str | None) -> Reason:
    """The causes of one node's status, walked back to their roots."""
    parts = asset_spec(session, asset).partitions
    if partition is None:
        if parts.is_partitioned:
            raise PartitionKeyError(
                f"{asset} is partitioned ({parts.describe(session.now)})", "give a PARTITION"
            )
        partition = UNPARTITIONED
    parts.validate_key(partition, session.now)
    store = session.reader()
    alone = {asset: Intervals.points([parts.index(partition)])}  # what it reads observed
    snap = take_snapshot(session, store, alone, records=True)
    details = {(o.source, o.partition): o for o in each_observation(snap.observations)}

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
        if seen is None:  # observed just now, by this command
            return f"{what}: its content now differs from what was read"
        return f"{what}: this content first observed {seen:%Y-%m-%d %H:%M:%S}"

    def last_failure(node: Node) -> AttemptRecord | None:
        return store.last_failure(node.asset, node.partition) if store else None

    node = Node(asset, partition)
    return explain(session.graph, snap.report, node, session.now, lookup, source_info, last_failure)


@dataclass(frozen=True)
class BackfillProgress:
    backfill_id: str
    range_from: str | None
    range_to: str | None
    by_asset: dict[str, dict[str, Intervals]]  # asset -> done / failed / remaining
    snapshot: Snapshot

    def as_json(self) -> dict[str, object]:
        """What `backfill status --json` prints: each state's partitions as ranges, and how
        many there are."""
        assets = {}
        for asset, states in self.by_asset.items():
            parts = self.snapshot.report.assets[asset].partitions
            assets[asset] = {state: parts.compact(spans) for state, spans in states.items()}
        counts = {
            asset: {state: len(spans) for state, spans in states.items()}
            for asset, states in self.by_asset.items()
        }
        return {
            "backfill_id": self.backfill_id,
            "from": self.range_from,
            "to": self.range_to,
            "assets": assets,
            "counts": counts,  # the numbers the table shows beside the ranges
        }


def backfill_status(session: Session, backfill_id: str | None) -> BackfillProgress:
    """Done (fresh), failed and remaining nodes of a backfill (default: the latest)."""
    session.graph  # noqa: B018 - definition errors first, as for every command
    store = session.reader()
    found = store.find_backfill(backfill_id) if store is not None else None
    if found is None:
        what = f"no backfill {backfill_id!r}" if backfill_id else "no backfill yet"
        raise SelectionError(what, "see `assetflow runs --trigger backfill`")
    found_id, selection, lo, hi = found
    request = Request(tuple(json.loads(selection)), lo, hi)
    snap = take_snapshot(session, store, select(session, request))
    by_asset = {}
    for asset, scope in snap.targets.items():
        st = snap.report.assets[asset]
        failed = st.failed & scope
        remaining = (st.nonfresh & scope) - failed
        done = scope - failed - remaining
        by_asset[asset] = {"done": done, "failed": failed, "remaining": remaining}
    return BackfillProgress(found_id, lo, hi, by_asset, snap)


@dataclass(frozen=True)
class StoredChecks:
    """What `check` found: a record per check and partition, as `checks` lists them, and
    whether they were recorded (not while a run holds the warehouse: then they are read
    through it, and only shown)."""

    records: list[CheckRecord]
    recorded: bool


def check_stored(session: Session, asset: str, request: Request, wait: float = 0.0) -> StoredChecks:
    """Run an asset's checks on its stored partitions (no rematerializing) and record the
    results; while a run holds the warehouse, run them on what it has committed and record
    nothing."""
    spec = asset_spec(session, asset)
    if not spec.checks:
        raise SelectionError(f"asset {asset} declares no checks", f"see {spec.where}")
    targets = select(session, Request((asset,), request.range_from, request.range_to))[asset]
    try:
        store, recording = session.writer(wait), True
    except WarehouseLockedError:
        served = session.reader()
        if served is None or not session.served:
            raise
        store, recording = served, False
    if not targets:
        return StoredChecks([], recording)
    stored = store.latest_materializations(asset, targets.spans[0][0], targets.spans[-1][1])
    cur = store.cursor()
    out = []
    for index in targets:
        key = spec.partitions.key(index)
        if key not in stored:
            continue
        view = partition_view(cur, store.table(asset), key, f"_af_check_{asset}")
        start, end = spec.partitions.window(index)
        now = session.now
        ctx = Context(asset, key, start, end, start or now.date(), "", cur, _quiet)
        results = tuple(run_checks(spec.checks, cur, view, ctx, now))
        checked_at = session.clock()
        if recording:
            store.record_checks(None, [((asset, key, index), stored[key], results)], checked_at)
        out += [
            CheckRecord(
                asset,
                key,
                r.check,
                r.severity,
                r.passed,
                r.failing_rows,
                r.message,
                r.samples,
                None,
                checked_at,
            )  # fmt: skip
            for r in results
        ]
    return StoredChecks(out, recording)


def list_checks(session: Session, asset: str | None, failed_only: bool) -> list[CheckRecord]:
    if asset is not None:
        asset_spec(session, asset)  # an unknown name is an error, not "no results"
    store = session.reader()
    return store.list_checks(asset, failed_only) if store is not None else []


@dataclass(frozen=True)
class Observed:
    """What `observe` recorded (every partition differing from the last observation made
    outside a run: the sensors' cursor), told apart for people: `changed` since a run read
    it or it was last observed, `new` (never seen before), and `unchanged`, the number whose
    version is the one a run already read."""

    changed: list[Observation]
    new: list[Observation]
    unchanged: int


def record_observations(session: Session, wait: float = 0.0) -> Observed:
    """`assetflow observe`: observe every source partition and record what changed."""
    observations = each_observation(observe_all(session))
    store = session.writer(wait)
    recorded = store.changed_observations(observations)
    seen = store.seen_versions()
    store.record_observations(None, session.clock(), recorded)
    new = [o for o in recorded if (o.source, o.partition) not in seen]
    changed = [
        o
        for o in recorded
        if (o.source, o.partition) in seen and seen[o.source, o.partition] != o.version
    ]
    return Observed(changed, new, len(recorded) - len(new) - len(changed))


def run_sql(
    session: Session, statements: list[str], wait: float = 0.0
) -> Iterator[tuple[list[str], Iterator[list[tuple[Any, ...]]]]]:
    """Each statement's columns and rows (in batches), on the warehouse opened read-only,
    one statement at a time: consume one's rows before asking for the next, so the results
    before a failing statement are shown."""
    store = session.reader(wait)
    if store is None:
        raise SelectionError(
            f"no warehouse at {session.project.warehouse_path} yet",
            "run `assetflow materialize` first",
        )
    return (store.query(sql) for sql in statements)


def list_runs(
    session: Session, limit: int = 20, status: str | None = None, trigger: str | None = None
) -> list[RunRecord]:
    store = session.reader()
    found = store.list_runs(limit, status, trigger) if store is not None else []
    # A run still marked running whose process is gone was killed; the next writer marks
    # it abandoned (with what it committed), readers say so already.
    return [
        dataclasses.replace(r, status=RunStatus.ABANDONED)
        if r.status == RunStatus.RUNNING and not snapshot.alive(r.pid)
        else r
        for r in found
    ]


def show_run(session: Session, run_prefix: str) -> tuple[RunRecord, list[AttemptRecord]]:
    """One run (a unique prefix of its id is enough) and all its attempts."""
    store = session.reader()
    found = store.list_runs(2, run_prefix=run_prefix) if store is not None else []
    if len(found) != 1 or store is None:
        problem = "matches no run" if not found else "is ambiguous"
        raise SelectionError(f"run {run_prefix!r} {problem}", "see `assetflow runs`")
    return found[0], store.attempts_of(found[0].run_id)


def read_rows(session: Session, asset: str, range_from: str | None, range_to: str | None) -> Any:
    """The stored rows of an asset's partitions from..to (all when both are None) as a
    `pyarrow.Table`, with the partition column. The warehouse is opened read-only for the
    read alone (during a run, read through the process holding it)."""
    spec = asset_spec(session, asset)
    parts = spec.partitions
    where = None
    if (range_from or range_to) and parts.is_partitioned:  # validated: one clear line if wrong
        if range_from and range_to and not isinstance(parts, MultiPartitions):  # parts of keys
            first, last = parts.index(range_from), parts.index(range_to)  # keys, or a line
            if last < first:
                raise PartitionKeyError(f"end {range_to} is before start {range_from}")
        found = parts.indexes_between(range_from, range_to, session.now)
        if not found:
            hint = f"its partitions: {parts.describe(session.now)}"
            raise no_partitions([asset], range_from, range_to, hint)
        where = in_partitions(list(parts.keys_in(found)), parts.ordered_keys)
    store = session.reader()
    rows = store.read_partitions(asset, where) if store is not None else None
    if rows is None:
        raise SelectionError(f"asset {asset} has no stored rows yet", f"materialize {asset} first")
    return rows
