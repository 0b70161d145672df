"""The planner: which nodes a materialize runs, in which order, and why. Pure: no I/O.

The Plan is data. `materialize --dry-run` renders the very Plan that `materialize` executes.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from .errors import SelectionError, UpstreamMissingError
from .graph import AssetGraph, InputRange, Node
from .partitions import compact_ranges


@dataclass(frozen=True)
class PlannedNode:
    node: Node
    reason: str  # "missing": never materialized; "requested": rebuilt because it was selected
    inputs: tuple[InputRange, ...]


@dataclass(frozen=True)
class Plan:
    assets: tuple[str, ...]
    range_from: str | None
    range_to: str | None
    nodes: tuple[PlannedNode, ...]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for planned in self.nodes:
            out[planned.reason] += 1
        return dict(sorted(out.items()))

    def source_keys(self) -> dict[str, list[str]]:
        """Every source partition the plan reads, by source."""
        keys: dict[str, set[str]] = defaultdict(set)
        for planned in self.nodes:
            for rng in planned.inputs:
                if rng.is_source:
                    keys[rng.name].update(rng.keys)
        return {name: sorted(k) for name, k in sorted(keys.items())}


def select_nodes(
    graph: AssetGraph,
    assets: list[str],
    range_from: str | None,
    range_to: str | None,
    now: dt.datetime,
) -> list[Node]:
    """The selected nodes in the range, upstream assets first, partitions ascending."""
    nodes = [
        node for asset in assets for node in graph.nodes_in_range(asset, range_from, range_to, now)
    ]
    if not nodes:
        raise SelectionError(
            f"no partitions of {', '.join(assets)} between {range_from or 'the start'} "
            f"and {range_to or 'now'}"
        )
    return nodes


def plan_materialize(
    graph: AssetGraph,
    assets: list[str],
    range_from: str | None,
    range_to: str | None,
    now: dt.datetime,
    versions: dict[tuple[str, str], str],
) -> Plan:
    """Every selected node, each with why it runs and what it reads."""
    nodes = []
    for node in select_nodes(graph, assets, range_from, range_to, now):
        reason = "requested" if (node.asset, node.partition) in versions else "missing"
        nodes.append(PlannedNode(node, reason, tuple(graph.inputs(node, now))))
    return Plan(tuple(assets), range_from, range_to, tuple(nodes))


def check_upstreams(
    plan: Plan,
    graph: AssetGraph,
    versions: dict[tuple[str, str], str],
    observed: dict[tuple[str, str], str | None],
) -> None:
    """Raise if a planned node reads an asset node that will not exist or an empty source."""
    planned = {(p.node.asset, p.node.partition) for p in plan.nodes}
    absent: dict[str, set[str]] = defaultdict(set)
    for p in plan.nodes:
        for rng in p.inputs:
            for key in rng.keys:
                if rng.is_source:
                    if observed.get((rng.name, key)) is None:
                        absent[rng.name].add(key)
                elif (rng.name, key) not in versions and (rng.name, key) not in planned:
                    absent[rng.name].add(key)
    if not absent:
        return
    name = sorted(absent)[0]
    spec = graph.defs.spec(name)
    ranges = compact_ranges(sorted(absent[name]), spec.partitions)
    if name in graph.defs.sources:
        raise UpstreamMissingError(
            f"source {name} has no data for {ranges}",
            "land the missing files, or narrow --from/--to",
        )
    raise UpstreamMissingError(
        f"{name}[{ranges}] was never materialized and is not selected",
        f"select it too: assetflow materialize +{plan.assets[-1]}",
    )
