"""The planner: the minimal set of nodes that makes a selection fresh. Pure: no I/O.

The plan holds exactly the non-fresh nodes in the selection's upstream closure, in
topological order (assets upstream first, partitions ascending). Nodes stale only through
`upstream_stale` are conditional: the executor verifies them without recomputing when
their inputs turn out unchanged (early cutoff). The Plan is data: `materialize --dry-run`
renders the very Plan that `materialize` executes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from assetflow.core.graph import AssetGraph
from assetflow.core.intervals import Intervals
from assetflow.core.partitions import Partitions, compact_ranges
from assetflow.core.records import FORCED, FULL_REFRESH, Cause, InputRange, Node, NodeId
from assetflow.core.status import StatusReport
from assetflow.errors import SelectionError, UpstreamMissingError

# (input, partition) -> data version: of an asset node as recorded, of a source partition as
# observed for this plan; None when it has no data.
Versions = Mapping[tuple[str, str], str | None]


@dataclass(frozen=True)
class PlannedNode:
    node: Node
    index: int  # the partition's index in its asset's partitioning
    reason: str  # the main cause, or "forced"
    conditional: bool  # stale only through upstream_stale: verify before recomputing
    inputs: tuple[InputRange, ...]
    batch: int = 0  # nodes sharing a non-zero batch run as one task (the asset's batch_size)

    @property
    def id(self) -> NodeId:
        """The node inside a run (run/run_state.py)."""
        return NodeId(self.node.asset, self.index)

    @property
    def stored(self) -> tuple[str, str, int]:
        """The node as the store records an attempt: asset, partition key, index."""
        return self.node.asset, self.node.partition, self.index


@dataclass(frozen=True)
class Plan:
    assets: tuple[str, ...]
    range_from: str | None
    range_to: str | None
    nodes: tuple[PlannedNode, ...]
    # The current version of every input the plan reads that it does not itself rebuild
    # (and of those it does, as they were): what its tasks record as their inputs.
    versions: Versions = field(default_factory=dict)
    # How the run will change tables' columns, one line per asset, as far as it can be known
    # before running (SQL assets bound against the tables as they are; full refreshes).
    shape_changes: tuple[str, ...] = ()
    # Definition mistakes a dry run finds before running (an SQL asset whose query does not
    # parse), one line each naming the asset and where it is defined.
    problems: tuple[str, ...] = ()
    # Each conditional node's inputs as its last build read them, (input, partition) ->
    # version: if they are the same once its upstream has run, it is verified, not recomputed.
    recorded: Mapping[Node, Versions] = field(default_factory=dict)

    def read_spans(self) -> dict[str, Intervals]:
        """The asset partitions the plan's nodes read, per asset: the versions its tasks
        record and its conditional nodes compare."""
        spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for p in self.nodes:
            for rng in p.inputs:
                if not rng.is_source and rng.first <= rng.last:
                    spans[rng.name].append((rng.first, rng.last))
        return {name: Intervals.of(found) for name, found in sorted(spans.items())}

    def conditional_nodes(self) -> list[Node]:
        return [p.node for p in self.nodes if p.conditional]

    def with_versions(self, versions: Versions, recorded: Mapping[Node, Versions]) -> Plan:
        """The plan with what execution needs from the store: current input versions and,
        for conditional nodes, the input versions they were built from."""
        found = {node: recorded.get(node, {}) for node in self.conditional_nodes()}
        return dataclasses.replace(self, versions=versions, recorded=found)

    def as_json(self) -> dict[str, object]:
        """What `materialize --dry-run --json` prints (docs/cli.md documents the schema)."""
        keys = _KeyCache()  # windows overlap: most keys are read by several nodes
        return {
            "assets": list(self.assets),
            "from": self.range_from,
            "to": self.range_to,
            "nodes": [_node_json(p, self.recorded.get(p.node), keys) for p in self.nodes],
            "shape_changes": list(self.shape_changes),
            "problems": list(self.problems),
        }

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


def target_intervals(
    graph: AssetGraph, asset: str, range_from: str | None, range_to: str | None, now: dt.datetime
) -> Intervals:
    """The asset's partitions whose window lies within [range_from, range_to]."""
    return graph.defs.assets[asset].partitions.indexes_between(range_from, range_to, now)


def select_targets(
    graph: AssetGraph,
    assets: list[str],
    range_from: str | None,
    range_to: str | None,
    now: dt.datetime,
) -> dict[str, Intervals]:
    """The selected partitions of each selected asset; an error if there are none."""
    targets = {a: target_intervals(graph, a, range_from, range_to, now) for a in assets}
    # A range that no time-partitioned asset of the selection has is a mistake, even when
    # the selection's unpartitioned or keyed assets (whole, whatever the range) are in it.
    parts = {a: graph.defs.assets[a].partitions for a in assets}
    timed = [a for a in assets if parts[a].time_axis is not None]
    if (range_from or range_to) and timed and not any(targets[a] for a in timed):
        assets = timed
    if not any(targets[a] for a in assets):
        raise no_partitions(assets, range_from, range_to)
    return targets


def no_partitions(
    assets: list[str], range_from: str | None, range_to: str | None, hint: str | None = None
) -> SelectionError:
    """The error of a range in which `assets` have no partition."""
    return SelectionError(
        f"no partitions of {', '.join(assets)} between {range_from or 'the start'} "
        f"and {range_to or 'now'}",
        hint,
    )


def plan_materialize(
    graph: AssetGraph,
    status: StatusReport,
    targets: dict[str, Intervals],
    now: dt.datetime,
    *,
    force: bool = False,
    upstream: bool = True,
    range_from: str | None = None,
    range_to: str | None = None,
    refresh: frozenset[str] = frozenset(),
) -> Plan:
    """The minimal plan for `targets`; with `force`, every targeted node as well. The
    selected partitions of an asset in `refresh` are all planned, as one task (its table is
    rebuilt from empty in one transaction)."""
    planned: dict[str, Intervals] = {}
    read: dict[str, Intervals] = {}  # what the planned nodes downstream read, per asset
    for asset in reversed(graph.order):  # downstream first, so needs flow upstream
        nonfresh = status.assets[asset].nonfresh
        want = targets.get(asset, Intervals())
        need = (want & nonfresh) | (want if force or asset in refresh else Intervals())
        need |= read.get(asset, Intervals()) & nonfresh
        planned[asset] = need
        for dep, spans in graph.reads_of(asset, need, now).items():
            read[dep] = read.get(dep, Intervals()) | spans
    outside = {a: n for a, n in planned.items() if n and a not in targets}
    if outside and not upstream:
        name = next(a for a in graph.order if a in outside)
        parts = graph.defs.assets[name].partitions
        keys = [parts.key(i) for i in outside[name]]
        raise UpstreamMissingError(
            f"the selection needs {name}[{compact_ranges(keys, parts)}], which is not fresh "
            "and not selected",
            "drop --no-upstream, or select it too",
        )
    nodes: list[PlannedNode] = []
    batches = _Batcher()
    for asset in graph.order:
        st = status.assets[asset]
        size = graph.defs.assets[asset].batch_size
        whole = batches.new() if asset in refresh else 0
        for lo, hi, found in st.cause_runs(planned.get(asset, Intervals())):
            causes = list(found)  # the same for every node of the run
            reason = FULL_REFRESH if asset in refresh else Cause.main(causes) or FORCED
            conditional = causes == [Cause.UPSTREAM_STALE] and asset not in refresh
            run_keys = st.partitions.keys_between(lo, hi)
            for index, key in zip(range(lo, hi + 1), run_keys, strict=True):
                if whole:  # one task: every planned partition of the asset
                    batch = whole
                elif conditional or size == 1:
                    batch = 0
                else:
                    batch = batches.assign(asset, index, size)
                inputs = tuple(graph.inputs_at(asset, index, now))
                node = Node(asset, key)
                nodes.append(PlannedNode(node, index, reason, conditional, inputs, batch))
    _refuse_absent_periods(graph, nodes)
    return Plan(tuple(targets), range_from, range_to, tuple(nodes))


def _refuse_absent_periods(graph: AssetGraph, nodes: list[PlannedNode]) -> None:
    """Raise if a planned node reads its own period of an input that has no partition
    there (a daily asset running a day past where its source's days end): built, it would be
    an empty success."""
    absent: dict[tuple[str, str], list[str]] = defaultdict(list)
    for p in nodes:
        for rng, edge in zip(p.inputs, graph.edges(p.node.asset), strict=True):
            if rng.first > rng.last and edge.reads_own_period:
                absent[p.node.asset, rng.name].append(p.node.partition)
    if absent:
        (asset, name), keys = next(iter(absent.items()))
        more = f" (and {len(absent) - 1} more such inputs)" if len(absent) > 1 else ""
        raise UpstreamMissingError(
            f"{asset}[{compact_ranges(keys, graph.defs.assets[asset].partitions)}] reads "
            f"{name} for the same period, which is not one of {name}'s partitions "
            f"({graph.defs.spec(name).partitions.describe()}){more}",
            f"narrow --from/--to, or end {asset}'s partitions where {name}'s end",
        )


class _KeyCache(dict):
    """Partition keys by (partitioning, index), worked out once."""

    def key(self, parts: Partitions, index: int) -> str:
        found = self.get((id(parts), index))
        if found is None:
            found = self[(id(parts), index)] = parts.key(index)
        return found


def _node_json(p: PlannedNode, recorded: Versions | None, keys: _KeyCache) -> dict[str, object]:
    reads = [
        {
            "input": r.name,
            "from": keys.key(r.partitions, r.first),
            "to": keys.key(r.partitions, r.last),
        }
        if r.first <= r.last
        else {"input": r.name, "from": None, "to": None}
        for r in p.inputs
    ]
    out: dict[str, object] = {
        "asset": p.node.asset,
        "partition": p.node.partition,
        "reason": p.reason,
        "conditional": p.conditional,
        "batch": p.batch or None,
        "reads": reads,
    }
    if recorded is not None:
        out["recorded_inputs"] = [
            {"input": name, "partition": key, "version": version}
            for (name, key), version in sorted(recorded.items())
        ]
    return out


class _Batcher:
    """Groups up to `size` contiguous partitions of one asset into numbered batches."""

    def __init__(self) -> None:
        self.next_id = 0
        self.current: tuple[str, int, int, int] | None = None  # asset, batch, last index, count

    def new(self) -> int:
        """A batch of its own (not continued by `assign`)."""
        self.next_id += 1
        self.current = None
        return self.next_id

    def assign(self, asset: str, index: int, size: int) -> int:
        cur = self.current
        if cur and cur[0] == asset and cur[2] == index - 1 and cur[3] < size:
            self.current = (asset, cur[1], index, cur[3] + 1)
        else:
            self.next_id += 1
            self.current = (asset, self.next_id, index, 1)
        return self.current[1]


def upstream_closure(
    graph: AssetGraph, targets: dict[str, Intervals], now: dt.datetime
) -> dict[str, Intervals]:
    """Every node (and source partition) the targets read, directly or not, with the targets."""
    need = {asset: spans for asset, spans in targets.items() if spans}
    for asset in reversed(graph.order):
        for dep, spans in graph.reads_of(asset, need.get(asset, Intervals()), now).items():
            need[dep] = need.get(dep, Intervals()) | spans
    return {asset: spans for asset, spans in need.items() if spans}


def check_sources(
    plan: Plan, graph: AssetGraph, observed: dict[tuple[str, str], str | None]
) -> None:
    """Raise if a planned node reads a source partition that has no data."""
    for name, keys in plan.source_keys().items():
        absent = [k for k in keys if observed.get((name, k)) is None]
        if absent:
            ranges = compact_ranges(absent, graph.defs.sources[name].partitions)
            raise UpstreamMissingError(
                f"source {name} has no data for {ranges}",
                "land the missing files, or narrow --from/--to",
            )
