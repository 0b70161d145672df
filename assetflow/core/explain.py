"""`assetflow why`: a node's causes, walked back to the root causes.

Pure apart from the `lookup` it is given, which reads one node's lineage record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from assetflow.core.graph import AssetGraph
from assetflow.core.records import AttemptRecord, Cause, Node, NodeRecord, NodeState
from assetflow.core.status import StatusReport

MAX_CHILDREN = 5
SEEN = "see above"  # the detail of a node already explained higher in the tree


@dataclass(frozen=True)
class Reason:
    """One line of the explanation and the lines that explain it."""

    subject: str  # "daily_carrier_delays[2013-03-15]" or "source flights_landing[...]"
    status: str  # fresh | stale | missing | failed | changed | ...
    detail: str
    children: tuple[Reason, ...] = ()
    more: int = 0  # a line standing for this many causes left out (MAX_CHILDREN)
    reasons: tuple[str, ...] = ()  # a node's causes (upstream_changed, ...), as status has them

    @property
    def label(self) -> str:
        """The status as people read it: `stale (upstream_changed, upstream_stale)`."""
        if self.status == NodeState.STALE and self.reasons:
            return f"{self.status} ({', '.join(self.reasons)})"
        return self.status

    def as_dict(self) -> dict[str, object]:
        """One record per line of the tree: its state and its causes apart, and the label
        that joins them for people."""
        return {
            "subject": self.subject,
            "status": self.status,
            "reasons": list(self.reasons),
            "label": self.label,
            "detail": self.detail,
            "causes": [c.as_dict() for c in self.children],
        }

    def chains(self) -> list[str]:
        """Each root cause as one line: `a stale ← b upstream_changed ← source c changed`.
        Failures first (they are what blocks), then in the order found; a node reached
        again (`see above`) is not a root cause of its own."""
        paths = [p for p in self._paths() if p[-1].detail != SEEN and not p[-1].more]
        failed = sorted(paths, key=lambda p: not any(r.status == "failed" for r in p))
        return [" ← ".join(r._line(i == len(p) - 1) for i, r in enumerate(p)) for p in failed]

    def left_out(self) -> int:
        """How many causes the tree does not list (beyond MAX_CHILDREN at some node)."""
        return self.more + sum(c.left_out() for c in self.children)

    def _paths(self) -> list[list[Reason]]:
        if not self.children:
            return [[self]]
        return [[self, *path] for c in self.children for path in c._paths()]

    def _line(self, last: bool) -> str:
        head = f"{self.subject} {self.label}"
        return f"{head} ({self.detail})" if last and self.detail else head


Lookup = Callable[[Node], NodeRecord | None]
SourceInfo = Callable[[str, str], str]  # (source, partition) -> "path, observed ..."
FailureLookup = Callable[[Node], AttemptRecord | None]


def explain(
    graph: AssetGraph,
    report: StatusReport,
    node: Node,
    now: dt.datetime,
    lookup: Lookup,
    source_info: SourceInfo,
    last_failure: FailureLookup | None = None,
) -> Reason:
    """`lookup` reads a node's latest materialization, `source_info` describes a source
    partition, `last_failure` reads a failed node's last failed attempt."""
    return _Walk(graph, report, now, lookup, source_info, last_failure).node(node)


@dataclass
class _Walk:
    graph: AssetGraph
    report: StatusReport
    now: dt.datetime
    lookup: Lookup
    source_info: SourceInfo
    last_failure: FailureLookup | None
    seen: set[Node] = field(default_factory=set)

    def node(self, node: Node) -> Reason:
        status, causes = self.report.node_status(node)
        subject = str(node)
        if node in self.seen:
            return Reason(subject, status, SEEN, reasons=tuple(causes))
        self.seen.add(node)
        failed = Cause.FAILED in causes
        record = self.lookup(node) if status != NodeState.MISSING or failed else None
        if status == NodeState.FRESH:
            return Reason(subject, NodeState.FRESH, _built("built", record))
        children: list[Reason] = []
        spec = self.graph.defs.assets[node.asset]
        if failed:
            children.append(self._failure(node))
        if Cause.SCHEMA_CHANGED in causes and record is not None:
            change = record.schema_change() or "its columns"
            children.append(Reason(f"table {node.asset}", "changed shape", change))
        if Cause.CODE_CHANGED in causes and record is not None:
            detail = f"{record.code_version} -> {spec.code_version} ({spec.where})"
            children.append(Reason(f"code of {node.asset}", "changed", detail))
        if Cause.UPSTREAM_CHANGED in causes and record is not None:
            children += self._changed_inputs(subject, record)
        if Cause.UPSTREAM_STALE in causes:
            children += self._stale_inputs(node)
        detail = "never materialized" if status == NodeState.MISSING else ""
        # An upstream both changed and stale is explained once, under the first cause.
        shown = {c.subject for c in children if c.detail != SEEN}
        children = [c for c in children if not (c.detail == SEEN and c.subject in shown)]
        return Reason(subject, status, detail, tuple(children), reasons=tuple(causes))

    def _failure(self, node: Node) -> Reason:
        """The last failed attempt: run, attempt, error and log, when the store has it."""
        attempt = self.last_failure(node) if self.last_failure else None
        if attempt is None:
            return Reason("last attempt", "failed", "see `assetflow runs`")
        error = f"{attempt.error_class}: {attempt.error_message}" if attempt.error_class else ""
        log = f" — log: {attempt.log_path}" if attempt.log_path else ""
        if not attempt.attempt:  # failed without running: its definition failed another node
            return Reason(f"run {attempt.run_id}", "failed", f"without running: {error}{log}")
        tries = f"attempt {attempt.attempt}"
        return Reason(f"run {attempt.run_id}, {tries}", "failed", f"{error}{log}")

    def _changed_inputs(self, subject: str, record: NodeRecord) -> list[Reason]:
        changed = [f for f in record.inputs if f.changed]
        if not changed:
            return [Reason(subject, "upstream_changed", "the partitions it reads changed")]
        out = []
        for fact in changed[:MAX_CHILDREN]:
            if fact.name in self.graph.defs.sources:
                info = self.source_info(fact.name, fact.partition)
                out.append(Reason(f"source {fact.name}[{fact.partition}]", "changed", info))
                continue
            upstream = Node(fact.name, fact.partition)
            if self.report.node_status(upstream)[0] != NodeState.FRESH:
                out.append(self.node(upstream))
            else:
                rebuilt = _built("rebuilt", self.lookup(upstream))
                out.append(Reason(str(upstream), "has new data", rebuilt))
        return out + _more(len(changed), "changed inputs")

    def _stale_inputs(self, node: Node) -> list[Reason]:
        states = {
            Node(rng.name, key): self.report.node_status(Node(rng.name, key))[0]
            for rng in self.graph.inputs(node, self.now)
            if not rng.is_source
            for key in rng.keys
        }
        # The failures first: they are what blocks the node; then what is missing.
        rank = {NodeState.FAILED: 0, NodeState.MISSING: 1}
        stale = sorted(
            (n for n, s in states.items() if s != NodeState.FRESH),
            key=lambda n: rank.get(states[n], 2),
        )
        return [self.node(upstream) for upstream in stale[:MAX_CHILDREN]] + _more(
            len(stale), "upstream nodes"
        )


def _more(total: int, what: str) -> list[Reason]:
    """What MAX_CHILDREN left out of `total`, as one line (none when nothing was)."""
    if total <= MAX_CHILDREN:
        return []
    left = total - MAX_CHILDREN
    return [Reason(f"and {left} more {what}", "", "", more=left)]


def _built(verb: str, record: NodeRecord | None) -> str:
    if record is None:
        return ""
    return f"{verb} in run {record.run_id} at {record.ended_at:%Y-%m-%d %H:%M:%S}"
