"""Status of every node and its causes, from lineage facts. Pure: no I/O.

A node is `failed`, `missing`, `stale` (schema_changed, code_changed, upstream_changed,
upstream_stale) or
`fresh`. Local causes come from the lineage record (set-wise SQL in lineage.py);
`upstream_stale` is propagated here over the asset graph with interval arithmetic.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from assetflow.core import multi
from assetflow.core.graph import AssetGraph
from assetflow.core.intervals import Intervals
from assetflow.core.mapping_kinds import AllPartitions
from assetflow.core.partitions import Partitions
from assetflow.core.records import Cause, Facts, InputRange, Node, NodeState


@dataclass(frozen=True)
class AssetStatus:
    asset: str
    partitions: Partitions
    universe: Intervals  # every partition the asset has today
    missing: Intervals
    code_changed: Intervals
    schema_changed: Intervals
    upstream_changed: Intervals
    upstream_stale: Intervals
    failed: Intervals  # the last attempt failed, or a blocking check fails on current data
    check_failed: Intervals

    @functools.cached_property
    def nonfresh(self) -> Intervals:
        return (
            self.missing
            | self.code_changed
            | self.schema_changed
            | self.upstream_changed
            | self.upstream_stale
            | self.failed
        )

    def causes(self, index: int) -> list[Cause]:
        return [c for c in Cause if index in getattr(self, c.value)]

    def status(self, index: int) -> NodeState:
        return state_of(self.causes(index))

    def cause_runs(self, within: Intervals) -> list[tuple[int, int, tuple[Cause, ...]]]:
        """`within` cut into runs of consecutive partitions with the same causes,
        (first, last, causes), ascending: set-wise, however many nodes the runs hold."""
        groups: list[tuple[Intervals, tuple[Cause, ...]]] = [(within, ())]
        for cause in Cause:
            has = getattr(self, cause.value)
            groups = [
                (part, causes + extra)
                for found, causes in groups
                for part, extra in ((found & has, (cause,)), (found - has, ()))
                if part
            ]
        return sorted((lo, hi, causes) for found, causes in groups for lo, hi in found.spans)

    def counts(self, within: Intervals) -> dict[NodeState, int]:
        scope = self.universe & within
        failed = self.failed & scope
        missing = (self.missing & scope) - failed
        stale = (self.nonfresh & scope) - failed - missing
        fresh = len(scope) - len(failed) - len(missing) - len(stale)
        return {
            NodeState.FRESH: fresh,
            NodeState.STALE: len(stale),
            NodeState.MISSING: len(missing),
            NodeState.FAILED: len(failed),
        }


# Selection by state: `changed` (the code differs from what built a partition), `stale`,
# `missing`, `failed` (a node of the asset in the command's range is so).
STATES = ("changed", "stale", "missing", "failed")


def assets_in_state(report: StatusReport, targets: dict[str, Intervals], state: str) -> list[str]:
    """The assets with a node in `targets` in `state` (one of STATES), in report order."""
    return [
        asset
        for asset, st in report.assets.items()
        if state in states_of(st, targets.get(asset, Intervals()))
    ]


def states_of(st: AssetStatus, within: Intervals) -> list[str]:
    """The STATES an asset is in over `within` (what a selection by state picks it by)."""
    scope = within & st.universe
    counts = st.counts(scope)
    changed = bool((st.code_changed | st.schema_changed) & scope)
    return [s for s in STATES if (changed if s == "changed" else counts[NodeState(s)] > 0)]


def state_of(causes: list[Cause] | tuple[Cause, ...]) -> NodeState:
    """A node's state from its causes (`failed` includes a failing blocking check)."""
    if Cause.FAILED in causes:
        return NodeState.FAILED
    if Cause.MISSING in causes:
        return NodeState.MISSING
    return NodeState.STALE if causes else NodeState.FRESH


@dataclass(frozen=True)
class StatusReport:
    assets: dict[str, AssetStatus]  # in topological order

    def node_status(self, node: Node) -> tuple[NodeState, list[Cause]]:
        st = self.assets[node.asset]
        index = st.partitions.index(node.partition)
        return st.status(index), st.causes(index)


def compute_status(graph: AssetGraph, facts: Facts, now: dt.datetime) -> StatusReport:
    """Every asset's node statuses, upstream assets first."""
    report: dict[str, AssetStatus] = {}
    empty = Intervals()
    grown = _grown_inputs(graph, facts, now)
    for asset in graph.order:
        spec = graph.defs.assets[asset]
        parts = spec.partitions
        universe = parts.universe(now)
        upstream_nonfresh = {d.name: report[d.name].nonfresh for d in spec.deps if d.name in report}
        check_failed = facts.check_failed.get(asset, empty)
        report[asset] = AssetStatus(
            asset=asset,
            partitions=parts,
            universe=universe,
            missing=universe - facts.existing.get(asset, empty),
            code_changed=facts.code_changed.get(asset, empty) & universe,
            schema_changed=facts.schema_changed.get(asset, empty) & universe,
            upstream_changed=(facts.upstream_changed.get(asset, empty) | grown.get(asset, empty))
            & universe,
            # sources have no status: their changes show as upstream_changed
            upstream_stale=graph.readers_of(asset, upstream_nonfresh, now) & universe,
            failed=(facts.failed.get(asset, empty) | check_failed) & universe,
            check_failed=check_failed & universe,
        )
    return StatusReport(report)


def growing_assets(graph: AssetGraph) -> list[str]:
    """Assets whose nodes' input ranges can change without a code change (`all` mappings,
    an unpartitioned asset reading partitions, or a reader of a dynamic key set's members,
    whatever mapping makes it one)."""
    return [
        asset
        for asset in graph.defs.assets
        if any(
            edge.up.is_partitioned
            and (
                isinstance(edge.mapping, AllPartitions)
                or not edge.down.is_partitioned
                or edge.reads_key_set
            )
            for edge in graph.edges(asset)
        )
    ]


def _grown_inputs(graph: AssetGraph, facts: Facts, now: dt.datetime) -> dict[str, Intervals]:
    """Nodes whose recorded input ranges differ from what their mappings read today."""
    points: dict[str, list[int]] = {}
    expected: dict[str, _ExpectedReads] = {}
    for (asset, index), recorded in facts.recorded_ranges.items():
        if asset not in graph.defs.assets:
            continue
        if asset not in expected:
            expected[asset] = _ExpectedReads(graph, asset, now)
        if not expected[asset].holds(index, recorded):
            points.setdefault(asset, []).append(index)
    return {asset: Intervals.points(p) for asset, p in points.items()}


Form = tuple[int, int, int]


class _ExpectedReads:
    """What the lineage would record today of the inputs of each node of one asset. Where
    every edge maps a node by its time index alone (shifted by the node's key combination
    when both sides have the same keys), one evaluation per time index serves every key
    combination: tens of thousands of clipped nodes cost a few hundred evaluations."""

    def __init__(self, graph: AssetGraph, asset: str, now: dt.datetime):
        self.graph, self.asset, self.now = graph, asset, now
        self.universe = graph.defs.assets[asset].partitions.universe(now)
        edges = graph.edges(asset)
        self.by_time = bool(edges) and all(
            e.same_keys_in_time is not None or e.reads_by_time_alone for e in edges
        )
        deps = graph.defs.assets[asset].deps
        self.shifted = {
            d.name for d, e in zip(deps, edges, strict=True) if e.same_keys_in_time is not None
        }
        self.at_time: dict[int, dict[str, Form]] = {}

    def holds(self, index: int, recorded: dict[str, Form]) -> bool:
        """Whether `recorded` is what the node at `index` reads today (a node outside the
        asset's partitions — gone, or of an older partitioning — is not compared)."""
        if index not in self.universe:
            return True
        if not self.by_time:
            return self._forms(index) == recorded
        t = index % multi.TIME_SIZE
        if t not in self.at_time:
            self.at_time[t] = self._forms(index, shift=index - t)
        at_time, base = self.at_time[t], index - t
        if at_time.keys() != recorded.keys():
            return False
        for name, (first, last, count) in recorded.items():
            shift = base if name in self.shifted else 0
            if at_time[name] != (first - shift, last - shift, count):
                return False
        return True

    def _forms(self, index: int, shift: int = 0) -> dict[str, Form]:
        """Each non-empty input of the node at `index` as recorded, the inputs read along
        the same keys moved back by `shift` (to key combination 0)."""
        out = {}
        for rng in self.graph.inputs_at(self.asset, index, self.now):
            if rng.first <= rng.last:
                first, last, count = _recorded_form(rng)
                moved = shift if rng.name in self.shifted else 0
                out[rng.name] = (first - moved, last - moved, count)
        return out


def _recorded_form(rng: InputRange) -> Form:
    """An input range as the lineage records it: its least and greatest index, and how
    many partitions it reads."""
    if rng.spans is not None:
        return rng.first, rng.last, len(rng.spans)
    if rng.partitions.is_keyed:  # a dynamic set may have removed keys inside the range
        indexes = rng.indexes()
        return min(indexes), max(indexes), len(indexes)
    return rng.first, rng.last, rng.last - rng.first + 1
