"""`assetflow why`: a node's causes, walked back to the root causes.

Pure apart from the `lookup` it is given, which reads one node's lineage record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from .graph import AssetGraph, Node
from .lineage import NodeRecord
from .status import StatusReport

MAX_CHILDREN = 5


@dataclass(frozen=True)
class Reason:
    """One line of the explanation and the lines that explain it."""

    subject: str  # "daily_carrier_delays[2013-03-15]" or "source flights_landing[...]"
    status: str  # fresh | stale | missing | failed | changed | ...
    detail: str
    children: tuple[Reason, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "status": self.status,
            "detail": self.detail,
            "causes": [c.as_dict() for c in self.children],
        }

    def chains(self) -> list[str]:
        """Each root cause as one line: `a stale ← b upstream_changed ← source c changed`."""
        head = f"{self.subject} {self.status}"
        if not self.children:
            return [f"{head} ({self.detail})" if self.detail else head]
        return [f"{head} ← {chain}" for c in self.children for chain in c.chains()]


Lookup = Callable[[Node], NodeRecord | None]
SourceInfo = Callable[[str, str], str]  # (source, partition) -> "path, observed ..."


def explain(
    graph: AssetGraph,
    report: StatusReport,
    node: Node,
    now: dt.datetime,
    lookup: Lookup,
    source_info: SourceInfo,
) -> Reason:
    return _explain(graph, report, node, now, lookup, source_info, set())


def _explain(
    graph: AssetGraph,
    report: StatusReport,
    node: Node,
    now: dt.datetime,
    lookup: Lookup,
    source_info: SourceInfo,
    seen: set[Node],
) -> Reason:
    status, causes = report.node_status(node)
    subject = str(node)
    if node in seen:
        return Reason(subject, status, "see above")
    seen.add(node)
    record = lookup(node) if status != "missing" or "failed" in causes else None
    if status == "fresh":
        return Reason(subject, "fresh", _built("built", record))
    children: list[Reason] = []
    spec = graph.defs.assets[node.asset]
    if "failed" in causes:
        children.append(Reason("last attempt", "failed", "see `assetflow runs`"))
    if "code_changed" in causes and record is not None:
        detail = f"{record.code_version} -> {spec.code_version} ({spec.where})"
        children.append(Reason(f"code of {node.asset}", "changed", detail))
    if "upstream_changed" in causes and record is not None:
        for fact in [f for f in record.inputs if f.changed][:MAX_CHILDREN]:
            if fact.name in graph.defs.sources:
                info = source_info(fact.name, fact.partition)
                children.append(Reason(f"source {fact.name}[{fact.partition}]", "changed", info))
            else:
                upstream = Node(fact.name, fact.partition)
                children.append(
                    _changed_upstream(graph, report, upstream, now, lookup, source_info, seen)
                )
        if not any(f.changed for f in record.inputs):
            children.append(Reason(subject, "upstream_changed", "the partitions it reads changed"))
    if "upstream_stale" in causes:
        stale = [
            Node(rng.name, key)
            for rng in graph.inputs(node, now)
            if not rng.is_source
            for key in rng.keys
            if report.node_status(Node(rng.name, key))[0] != "fresh"
        ]
        for upstream in stale[:MAX_CHILDREN]:
            children.append(_explain(graph, report, upstream, now, lookup, source_info, seen))
        if len(stale) > MAX_CHILDREN:
            children.append(Reason(f"and {len(stale) - MAX_CHILDREN} more upstream nodes", "", ""))
    label = f"stale ({', '.join(causes)})" if status == "stale" else status
    detail = "never materialized" if status == "missing" else ""
    return Reason(subject, label, detail, tuple(children))


def _changed_upstream(
    graph: AssetGraph,
    report: StatusReport,
    upstream: Node,
    now: dt.datetime,
    lookup: Lookup,
    source_info: SourceInfo,
    seen: set[Node],
) -> Reason:
    """An upstream node whose data differs from what the node read."""
    if report.node_status(upstream)[0] != "fresh":
        return _explain(graph, report, upstream, now, lookup, source_info, seen)
    return Reason(str(upstream), "has new data", _built("rebuilt", lookup(upstream)))


def _built(verb: str, record: NodeRecord | None) -> str:
    if record is None:
        return ""
    return f"{verb} in run {record.run_id} at {record.ended_at:%Y-%m-%d %H:%M:%S}"
