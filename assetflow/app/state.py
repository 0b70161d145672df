"""The state of a selection now: sources observed, the lineage facts read, statuses computed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from assetflow.app.session import Request, Session
from assetflow.core.automation import sla_late
from assetflow.core.graph import AssetGraph
from assetflow.core.intervals import Intervals
from assetflow.core.observations import SourceVersions
from assetflow.core.planner import select_targets, upstream_closure
from assetflow.core.records import Facts
from assetflow.core.status import (
    STATES,
    StatusReport,
    assets_in_state,
    compute_status,
    growing_assets,
    state_of,
)
from assetflow.errors import NothingInState, SelectionError
from assetflow.run.sources import observe
from assetflow.store.lineage import read_facts
from assetflow.store.store import Store

EVER = dt.timedelta(days=365 * 100)  # how far back `status` looks for late nodes


@dataclass(frozen=True)
class Snapshot:
    """Everything status-like commands show: the graph, sources as observed now, statuses."""

    graph: AssetGraph
    observations: tuple[SourceVersions, ...]  # the sources' partitions the targets read
    report: StatusReport
    targets: dict[str, Intervals]
    now: dt.datetime
    taken_at: dt.datetime | None = None  # by the clock: when it was read

    def late(self) -> dict[str, Intervals]:
        """Nodes past their SLA and not fresh."""
        return sla_late(self.graph, self.report, self.now, EVER)


def observe_all(session: Session, only: dict[str, Intervals] | None = None) -> list[SourceVersions]:
    """The current version of every partition of every source (or of those in `only`)."""
    out = []
    for name, spec in session.graph.defs.sources.items():
        parts = spec.partitions
        every = parts.universe(session.now)
        wanted = every if only is None else every & only.get(name, Intervals())
        out.append(observe(spec, wanted, session.project.root))
    return out


def take_snapshot(
    session: Session, store: Store | None, targets: dict[str, Intervals], records: bool = False
) -> Snapshot:
    """Statuses of the targets' nodes (and of everything, for the graph walk), with only the
    source partitions the targets read observed: nothing else can change their status.
    `records`: node records are read next (`why`)."""
    graph, now = session.graph, session.now
    closure = upstream_closure(graph, targets, now)  # what the targets' statuses depend on
    observations = observe_all(session, closure)
    code = {name: spec.code_version for name, spec in graph.defs.assets.items()}
    facts = (
        Facts.none()
        if store is None
        else read_facts(store, code, observations, growing_assets(graph), records, closure)
    )
    report = compute_status(graph, facts, now)
    return Snapshot(graph, tuple(observations), report, targets, now, session.clock())


def status_json(snap: Snapshot) -> dict[str, list[dict[str, Any]]]:
    """What `status --json` prints: counts per asset and every non-fresh node."""
    assets = []
    late = snap.late()
    for asset, scope in snap.targets.items():
        st = snap.report.assets[asset]
        late_here = late.get(asset, Intervals()) & scope
        nonfresh = st.nonfresh & scope
        keys = iter(st.partitions.keys_in(nonfresh))  # in index order, as the runs are
        nodes = []
        for lo, hi, causes in st.cause_runs(nonfresh):
            state, listed = state_of(causes), list(causes)
            for i in range(lo, hi + 1):
                node: dict[str, Any] = {"partition": next(keys), "status": state, "causes": listed}
                if late_here and i in late_here:
                    node["late"] = True
                nodes.append(node)
        counts = {str(state): n for state, n in st.counts(scope).items()}
        counts["late"] = len(late_here)
        assets.append({"asset": asset, "counts": counts, "nodes": nodes})
    return {"assets": assets}


def targets(session: Session, request: Request) -> dict[str, Intervals]:
    """The selected partitions of each selected asset, a state in the selection read from
    the status first (`failed`, `changed+`); an error if there are none."""
    graph = session.graph
    if not graph.defs.assets:
        raise SelectionError(
            f"{session.project.definitions_dir} declares no assets",
            "declare one with @asset in a .py file there (`assetflow init` shows how)",
        )
    patterns = list(request.selection)
    if any(state_word(p, graph) for p in patterns):
        patterns = expand_states(session, patterns, (request.range_from, request.range_to))
    assets = graph.select(patterns)
    return select_targets(graph, assets, request.range_from, request.range_to, session.now)


def expand_states(
    session: Session, patterns: list[str], span: tuple[str | None, str | None]
) -> list[str]:
    """`patterns` with each state word (`failed`, `changed+`, `+state:stale`) replaced by
    the assets in that state over `span`, keeping its `+`s. An asset named like a state is
    selected by name; `state:NAME` is always the state."""
    graph = session.graph
    everything = select_targets(graph, list(graph.order), span[0], span[1], session.now)
    report = take_snapshot(session, session.reader(), everything).report
    out, empty = [], []
    for raw in patterns:
        state = state_word(raw, graph)
        if state is None:
            out.append(raw)
            continue
        up, down = ("+" if raw.startswith("+") else ""), ("+" if raw.endswith("+") else "")
        found = assets_in_state(report, everything, state)
        out += [f"{up}{name}{down}" for name in found]
        if not found:
            empty.append(state)
    if not out:
        which = " or ".join(empty)
        raise NothingInState(f"nothing to do: no asset is {which}", "see `assetflow status`")
    return out


def state_word(pattern: str, graph: AssetGraph) -> str | None:
    """The state a selection pattern names, or None (an asset name, a glob, a group)."""
    core = pattern.strip().strip("+")
    if core.startswith("state:"):
        state = core.removeprefix("state:")
        if state not in STATES:
            raise SelectionError(f"unknown state {state!r}", f"states: {', '.join(STATES)}")
        return state
    return core if core in STATES and core not in graph.defs.assets else None
