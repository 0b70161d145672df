"""The state of a selection now: sources observed, the lineage facts read, statuses computed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from assetflow.app.session import Session
from assetflow.core.automation import sla_late
from assetflow.core.graph import AssetGraph
from assetflow.core.intervals import Intervals
from assetflow.core.planner import upstream_closure
from assetflow.core.records import Facts, Observation
from assetflow.core.status import StatusReport, compute_status, growing_assets, state_of
from assetflow.run.sources import observe
from assetflow.store.lineage import read_facts
from assetflow.store.store import Store

EVER = dt.timedelta(days=365 * 100)  # how far back `status` looks for late nodes


@dataclass(frozen=True)
class Snapshot:
    """Everything status-like commands show: the graph, sources as observed now, statuses."""

    graph: AssetGraph
    observations: tuple[Observation, ...]
    report: StatusReport
    targets: dict[str, Intervals]
    now: dt.datetime
    taken_at: dt.datetime | None = None  # by the clock: when it was read

    def late(self) -> dict[str, Intervals]:
        """Nodes past their SLA and not fresh."""
        return sla_late(self.graph, self.report, self.now, EVER)

    def observed(self) -> dict[tuple[str, str], str | None]:
        return {(o.source, o.partition): o.version for o in self.observations}


def observe_all(session: Session, only: dict[str, Intervals] | None = None) -> list[Observation]:
    """The current version of every partition of every source (or of those in `only`)."""
    out = []
    for name, spec in session.graph.defs.sources.items():
        parts = spec.partitions
        every = parts.universe(session.now)
        wanted = every if only is None else every & only.get(name, Intervals())
        out.extend(observe(spec, [parts.key(i) for i in wanted], session.project.root))
    return out


def take_snapshot(session: Session, store: Store | None, targets: dict[str, Intervals]) -> Snapshot:
    """Statuses of the targets' nodes (and of everything, for the graph walk), with only the
    source partitions the targets read observed: nothing else can change their status."""
    graph, now = session.graph, session.now
    observations = observe_all(session, upstream_closure(graph, targets, now))
    code = {name: spec.code_version for name, spec in graph.defs.assets.items()}
    facts = (
        Facts.none()
        if store is None
        else read_facts(store, code, observations, growing_assets(graph))
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
        nodes = []
        for lo, hi, causes in st.cause_runs(st.nonfresh & scope):
            record = {"status": state_of(causes), "causes": list(causes)}
            for i, key in zip(range(lo, hi + 1), st.partitions.keys_between(lo, hi), strict=True):
                late_one = {"late": True} if late_here and i in late_here else {}
                nodes.append({"partition": key, **record, **late_one})
        counts = {str(state): n for state, n in st.counts(scope).items()}
        counts["late"] = len(late_here)
        assets.append({"asset": asset, "counts": counts, "nodes": nodes})
    return {"assets": assets}
