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
    assets = {asset for asset, _ in facts.recorded_ranges} & set(graph.defs.assets)
    universes = {a: graph.defs.assets[a].partitions.universe(now) for a in assets}
    for (asset, index), recorded in facts.recorded_ranges.items():
        if index not in universes.get(asset, ()):  # gone, or a node of an older partitioning
            continue
        expected = {
            rng.name: _recorded_form(rng)
            for rng in graph.inputs_at(asset, index, now)
            if rng.first <= rng.last
        }
        if expected != recorded:
            points.setdefault(asset, []).append(index)
    return {asset: Intervals.points(p) for asset, p in points.items()}


def _recorded_form(rng: InputRange) -> tuple[int, int, int]:
    """An input range as the lineage records it: its least and greatest index, and how
    many partitions it reads."""
    if rng.spans is not None:
        return rng.first, rng.last, len(rng.spans)
    if rng.partitions.is_keyed:  # a dynamic set may have removed keys inside the range
        indexes = rng.indexes()
        return min(indexes), max(indexes), len(indexes)
    return rng.first, rng.last, rng.last - rng.first + 1
