"""What the web page shows, as JSON-ready records (docs/ui.md documents them). Each call is
one short read: the page never holds the warehouse."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

from assetflow.app import queries
from assetflow.app.live import LiveRun
from assetflow.app.session import Request, Session, resolve_range
from assetflow.app.state import Snapshot
from assetflow.core import heatmap
from assetflow.core.checks import samples_text
from assetflow.core.environments import PROD
from assetflow.core.intervals import Intervals
from assetflow.core.multi import MultiPartitions
from assetflow.core.partitioning import Partitions
from assetflow.core.records import CheckRecord, NodeState
from assetflow.core.status import AssetStatus, state_of, states_of
from assetflow.run.runlog import log_text
from assetflow.store.lineage import node_record

STATE_CODES = {"fresh": "F", "stale": "S", "missing": "M", "failed": "X"}


def _request(session: Session, selection: tuple[str, ...] = ()) -> Request:
    """The project's default range, as the CLI's status uses it."""
    return Request(selection, *resolve_range(session.project, None, None, None))


def _freshness(snap: Snapshot, run: LiveRun | None) -> dict[str, Any]:
    """When the status shown was taken, and the run holding the warehouse (or None)."""
    live = run.in_progress() if run is not None else None
    return {"as_of": f"{snap.taken_at:%H:%M:%S} UTC", "in_progress": live}


def snapshot(session: Session) -> Snapshot:
    """Every asset's status over the project's default range (what graph and grids show;
    the page may show one for a few seconds: `as_of` says when it was taken)."""
    return queries.status(session, _request(session))


Snapshots = Callable[[Session], Snapshot]


def environments(session: Session) -> dict[str, Any]:
    """The environments the page can look at, and the one it shows."""
    store = session.reader()
    known = sorted(store.environments()) if store is not None else []
    return {"env": session.project.env, "envs": [PROD, *known]}


def graph(session: Session, snapshots: Snapshots = snapshot) -> dict[str, Any]:
    """Every asset and source with its place in a layered layout, each asset's counts of
    fresh, stale, missing and failed partitions (counts, not nodes: small at any scale),
    and the edges with their mappings."""
    g = session.graph
    snap = snapshots(session)  # during a run: as of its last commit
    meta = _freshness(snap, LiveRun.read(session))
    counts = {
        a: {k.value: n for k, n in snap.report.assets[a].counts(scope).items()}
        for a, scope in snap.targets.items()
    }
    layers = g.layers()
    nodes = []
    for name, (layer, row) in sorted(layers.items(), key=lambda kv: kv[1]):
        spec = g.defs.spec(name)
        shown = snap.targets.get(name)
        changed = shown is not None and "changed" in states_of(snap.report.assets[name], shown)
        nodes.append({
            "name": name,
            "kind": "source" if name in g.defs.sources else "asset",
            "group": getattr(spec, "group", None),
            "partitions": spec.partitions.describe(session.now),
            "layer": layer,
            "row": row,
            "counts": counts.get(name),
            # only when so: the graph of 1,000 assets stays small (the other states read
            # from the counts; the causes come on hover, /api/causes)
            **({"changed": True} if changed else {}),
        })  # fmt: skip
    edges = [
        {"from": up, "to": down, "mapping": mapping}
        for up, down, mapping in g.edges_within(list(layers))
    ]
    return {**meta, "assets": nodes, "edges": edges}


def causes(session: Session, name: str, snapshots: Snapshots = snapshot) -> dict[str, int]:
    """How many of the asset's shown partitions each cause holds (those it has), for the
    graph's hover: counts, never nodes."""
    queries.asset_spec(session, name)  # an unknown name is a 400, not {}
    snap = snapshots(session)
    if name not in snap.targets:
        return {}
    st = snap.report.assets[name]
    found: dict[str, int] = {}
    for lo, hi, run_causes in st.cause_runs(st.nonfresh & snap.targets[name] & st.universe):
        for cause in run_causes:
            found[cause.value] = found.get(cause.value, 0) + hi - lo + 1
    return found


def asset(
    session: Session,
    name: str,
    snapshots: Snapshots = snapshot,
    run: LiveRun | None = None,
    first: str | None = None,
    last: str | None = None,
) -> dict[str, Any]:
    """One asset's partitions for the grid (those between `first` and `last`, if given):
    their keys in order, one state letter each (F fresh, S stale, M missing, X failed) and
    the causes of the others, by position. More than the page draws one by one are grouped
    into cells of a coarser period (`grouped`), each with its counts by state."""
    spec = queries.asset_spec(session, name)
    snap = snapshots(session)
    st = snap.report.assets[name]
    parts = spec.partitions
    selected = snap.targets[name] & st.universe
    if first or last:  # checked as the CLI checks --from/--to
        first, last = resolve_range(session.project, None, first or None, last or None)
        selected &= parts.indexes_between(first, last, session.now)
    period = heatmap.grouping(parts, len(selected))
    shown = _one_cell_each(st, selected) if period is None else _grouped(st, selected, period)
    return {
        **_freshness(snap, run),
        # during a run: the nodes it has settled so far, {key: how}
        "settled": run.settled.get(name, {}) if run is not None else {},
        "asset": name,
        "unit": parts.unit,
        "dims": list(parts.dimension_names),
        "partitions": parts.describe(session.now),
        "grouped": period,
        "dim_keys": _dimension_keys(parts, session.now),
        **shown,
    }


def _dimension_keys(parts: Partitions, now: dt.datetime) -> dict[str, list[str]]:
    """A multi-dimension asset's keyed dimensions and their keys: the page's picker shows
    one key's partitions (`from=*|KEY|*`)."""
    if not isinstance(parts, MultiPartitions):
        return {}
    return {name: list(dim.keys_in(dim.universe(now))) for name, dim in parts.dims if dim.is_keyed}


def _one_cell_each(st: AssetStatus, selected: Intervals) -> dict[str, Any]:
    at = {index: n for n, index in enumerate(selected)}
    states = ["F"] * len(at)
    causes: dict[str, list[str]] = {}
    for lo, hi, found in st.cause_runs(st.nonfresh & selected):
        code, listed = STATE_CODES[state_of(found).value], [c.value for c in found]
        for index in range(lo, hi + 1):
            states[at[index]] = code
            causes[str(at[index])] = listed
    keys = list(st.partitions.keys_in(selected))
    cells = [st.partitions.grid_cell(k) for k in keys]
    return {"keys": keys, "cells": cells, "states": "".join(states), "causes": causes}


def _grouped(st: AssetStatus, selected: Intervals, period: str) -> dict[str, Any]:
    """The cells of `period` (heatmap.cells): per cell its label, where the grid draws it,
    the worst state of its partitions, their counts by state, their first and last keys, and
    the causes found among them."""
    parts = st.partitions
    found = heatmap.cells(parts, selected, period)
    counts = [heatmap.counts(st, cell) for cell in found]
    states = "".join(_worst(c) for c in counts)
    causes: dict[str, list[str]] = {}
    for n, cell in enumerate(found):
        if states[n] != "F":
            runs = st.cause_runs(st.nonfresh & cell.spans)
            causes[str(n)] = sorted({c.value for _, _, listed in runs for c in listed})
    return {
        "keys": [c.label for c in found],
        "cells": [heatmap.grid_cell(period, c.label, n) for n, c in enumerate(found)],
        "states": states,
        "causes": causes,
        "counts": counts,
        "ranges": [
            [parts.key(c.spans.spans[0][0]), parts.key(c.spans.spans[-1][1])] for c in found
        ],
    }


def _worst(counts: list[int]) -> str:
    """A cell's state letter: its worst partition's (failed, missing, stale, fresh)."""
    found = dict(zip(NodeState, counts, strict=True))  # heatmap.counts' order
    worst = (NodeState.FAILED, NodeState.MISSING, NodeState.STALE)
    return STATE_CODES[next((s for s in worst if found[s]), NodeState.FRESH).value]


def asset_meta(session: Session, name: str) -> dict[str, Any]:
    """What the asset page says about an asset besides its grid: its declaration, its
    table's columns, its checks' latest results, its latest materializations."""
    spec = queries.asset_spec(session, name)
    store = session.reader()
    checks = store.list_checks(name, failed_only=False) if store is not None else []
    return {
        "asset": name,
        "description": spec.description,
        "group": spec.group,
        "code_version": spec.code_version,
        "where": spec.where,
        "reads": [d.name for d in spec.deps],
        "contract": spec.contract,
        "columns": store.table_columns(name) if store is not None else {},
        "checks": [{"name": c.name, "severity": c.severity} for c in spec.checks],
        "check_results": [_check(c) for c in checks[-50:]],
        "builds": store.recent_builds(name) if store is not None else [],
    }


def why(session: Session, name: str, partition: str) -> dict[str, Any]:
    """The node's cause tree, as `why --json` prints it."""
    return queries.why(session, name, partition).as_dict()


def node(session: Session, name: str, partition: str) -> dict[str, Any]:
    """One node: its cause tree, its lineage record (code and data version, the inputs it
    read with their versions then and now), its materializations over time and its checks."""
    reason = queries.why(session, name, partition)  # validates, and reads the facts
    store = session.reader()
    record = node_record(store, name, partition) if store is not None else None
    history = store.node_history(name, partition) if store is not None else []
    checks = [
        _check(c)
        for c in (store.list_checks(name, False) if store is not None else [])
        if c.partition == partition
    ]
    return {
        "why": reason.as_dict(),
        "record": dataclasses.asdict(record) if record is not None else None,
        "history": history,
        "checks": checks,
    }


def runs(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """The latest runs (a running one with what it committed so far)."""
    return [dataclasses.asdict(r) for r in queries.list_runs(session, limit)]


def run(session: Session, run_id: str) -> dict[str, Any]:
    """One run, every attempt of it (as `runs show --json`) and the checks it ran."""
    record, attempts = queries.show_run(session, run_id)
    store = session.reader()
    checks = store.list_checks(None, False, record.run_id) if store is not None else []
    return {
        "run": dataclasses.asdict(record),
        "attempts": [dataclasses.asdict(a) for a in attempts],
        "checks": [_check(c) for c in checks],
    }


def log(session: Session, run_id: str, asset: str | None, partition: str | None) -> str:
    """A run's log files (or one asset's, or one node's), as `assetflow logs` prints them.
    Files only: it answers during a run."""
    return log_text(session.project.logs_dir, run_id, asset or None, partition or None)


def plan(session: Session, name: str, first: str, last: str) -> dict[str, Any]:
    """The plan `materialize NAME --from FIRST --to LAST` would run (the same Plan as
    `--dry-run --json`): what the page shows before it launches the run."""
    from assetflow.app.materialize import RunOptions, materialize

    queries.asset_spec(session, name)
    outcome = materialize(session, Request((name,), first, last), RunOptions(dry_run=True))
    return outcome.plan.as_json()


def env_diff(session: Session, name: str) -> dict[str, Any]:
    """`env diff NAME` for the page: its parent, and per asset what differs."""
    from assetflow.app.environments import diff_env

    found = diff_env(session, name)
    store = session.reader()
    parent = store.env.parent if store is not None else None
    return {"env": name, "parent": parent, "assets": [d.as_json() for d in found]}


def env_promote(session: Session, name: str) -> dict[str, Any]:
    """`env promote NAME`, asked from the page (after its confirmation)."""
    from assetflow.app.environments import promote_env

    done = promote_env(session, name)
    return {"env": done.env, "target": done.target, "run_id": done.run_id,
            "partitions": done.partitions, "count": done.count}  # fmt: skip


def _check(record: CheckRecord) -> dict[str, Any]:
    """A check's result for the page, with its sample rows as one line."""
    return {**dataclasses.asdict(record), "sample": samples_text(record.samples)}
