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
class PlannedRun:
    """Consecutive planned partitions of one asset, indexes first..last, planned for the
    same causes: what the plan holds, however many nodes it stands for."""

    asset: str
    first: int
    last: int
    first_key: str
    last_key: str
    reason: str  # the main cause, "forced" or "full_refresh"
    conditional: bool  # stale only through upstream_stale: verified before recomputing

    @property
    def size(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True)
class Plan:
    assets: tuple[str, ...]
    range_from: str | None
    range_to: str | None
    runs: tuple[PlannedRun, ...]  # assets upstream first, partitions ascending
    # The partitions the planned nodes read, per input (asset or source), set-wise.
    reads: Mapping[str, Intervals]
    # Makes the nodes from the runs, on first use (a run or `--nodes` asks for them).
    made: NodeMaker = field(compare=False, repr=False)
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

    @property
    def nodes(self) -> tuple[PlannedNode, ...]:
        """Every planned node with its inputs, in plan order (made once, when asked)."""
        return self.made.nodes(self.runs)

    @property
    def size(self) -> int:
        """How many nodes the plan holds."""
        return sum(r.size for r in self.runs)

    def conditional_count(self) -> int:
        return sum(r.size for r in self.runs if r.conditional)

    def read_spans(self) -> dict[str, Intervals]:
        """The asset partitions the plan's nodes read, per asset: the versions its tasks
        record and its conditional nodes compare."""
        sources = self.made.graph.defs.sources
        return {name: found for name, found in self.reads.items() if name not in sources}

    def conditional_nodes(self) -> list[tuple[str, int, str]]:
        """The conditional nodes as the store finds them: asset, index, partition key."""
        parts = self.made.graph.defs.assets
        return [
            (r.asset, index, key)
            for r in self.runs
            if r.conditional
            for index, key in zip(
                range(r.first, r.last + 1),
                parts[r.asset].partitions.keys_between(r.first, r.last),
                strict=True,
            )
        ]

    def first_nodes(self) -> dict[str, PlannedNode]:
        """Each planned asset's first planned node, in plan order."""
        firsts: dict[str, PlannedRun] = {}
        for r in self.runs:
            firsts.setdefault(r.asset, r)
        return {asset: self.made.first(r) for asset, r in firsts.items()}

    def with_versions(self, versions: Versions, recorded: Mapping[Node, Versions]) -> Plan:
        """The plan with what execution needs from the store: current input versions and,
        for conditional nodes, the input versions they were built from."""
        return dataclasses.replace(self, versions=versions, recorded=recorded)

    def as_json(self, nodes: bool = False) -> dict[str, object]:
        """What `materialize --dry-run --json` prints (docs/cli.md documents the schema):
        the runs, and with `nodes` every node with what it reads."""
        out: dict[str, object] = {
            "assets": list(self.assets),
            "from": self.range_from,
            "to": self.range_to,
            "planned": self.size,
            "runs": [_run_json(r) for r in self.runs],
        }
        if nodes:
            keys = _KeyCache()  # windows overlap: most keys are read by several nodes
            out["nodes"] = [_node_json(p, self.recorded.get(p.node), keys) for p in self.nodes]
        out["shape_changes"] = list(self.shape_changes)
        out["problems"] = list(self.problems)
        return out

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for run in self.runs:
            out[run.reason] += run.size
        return dict(sorted(out.items()))

    def source_keys(self) -> dict[str, list[str]]:
        """Every source partition the plan reads, by source."""
        sources = self.made.graph.defs.sources
        return {
            name: sorted(sources[name].partitions.keys_in(found))
            for name, found in sorted(self.reads.items())
            if name in sources
        }


class NodeMaker:
    """A plan's nodes made from its runs: each node's inputs mapped along the graph's edges,
    its batch numbered. Made once, when a run or a per-node listing asks for them."""

    def __init__(self, graph: AssetGraph, now: dt.datetime, refresh: frozenset[str]) -> None:
        self.graph, self.now, self.refresh = graph, now, refresh
        self._made: tuple[tuple[PlannedRun, ...], tuple[PlannedNode, ...]] | None = None

    def nodes(self, runs: tuple[PlannedRun, ...]) -> tuple[PlannedNode, ...]:
        if self._made is None or self._made[0] is not runs:
            self._made = (runs, tuple(self._make(runs)))
        return self._made[1]

    def first(self, run: PlannedRun) -> PlannedNode:
        """The run's first node, alone (not numbered into a batch)."""
        return self._node(run, run.first, run.first_key, 0)

    def _node(self, run: PlannedRun, index: int, key: str, batch: int) -> PlannedNode:
        inputs = tuple(self.graph.inputs_at(run.asset, index, self.now))
        return PlannedNode(Node(run.asset, key), index, run.reason, run.conditional, inputs, batch)

    def _make(self, runs: tuple[PlannedRun, ...]) -> list[PlannedNode]:
        nodes: list[PlannedNode] = []
        batches = _Batcher()
        whole: dict[str, int] = {}  # a full refresh: every planned partition as one task
        for run in runs:
            spec = self.graph.defs.assets[run.asset]
            if run.asset in self.refresh and run.asset not in whole:
                whole[run.asset] = batches.new()
            keys = spec.partitions.keys_between(run.first, run.last)
            for index, key in zip(range(run.first, run.last + 1), keys, strict=True):
                if run.asset in whole:
                    batch = whole[run.asset]
                elif run.conditional or spec.batch_size == 1:
                    batch = 0
                else:
                    batch = batches.assign(run.asset, index, spec.batch_size)
                nodes.append(self._node(run, index, key, batch))
        return nodes


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
        raise UpstreamMissingError(
            f"the selection needs {name}[{parts.compact(outside[name])}], which is not fresh "
            "and not selected",
            "drop --no-upstream, or select it too",
        )
    runs: list[PlannedRun] = []
    for asset in graph.order:
        st = status.assets[asset]
        for lo, hi, found in st.cause_runs(planned.get(asset, Intervals())):
            causes = list(found)  # the same for every node of the run
            reason = FULL_REFRESH if asset in refresh else Cause.main(causes) or FORCED
            conditional = causes == [Cause.UPSTREAM_STALE] and asset not in refresh
            first, last = st.partitions.key(lo), st.partitions.key(hi)
            runs.append(PlannedRun(asset, lo, hi, first, last, reason, conditional))
    _refuse_absent_periods(graph, planned, now)
    reads = {name: found for name, found in sorted(read.items()) if found}
    made = NodeMaker(graph, now, refresh)
    return Plan(tuple(targets), range_from, range_to, tuple(runs), reads, made)


def _refuse_absent_periods(
    graph: AssetGraph, planned: dict[str, Intervals], now: dt.datetime
) -> None:
    """Raise if a planned node reads its own period of an input that has no partition
    there (a daily asset running a day past where its source's days end): built, it would be
    an empty success."""
    absent: dict[tuple[str, str], Intervals] = {}
    for asset in graph.order:
        need = planned.get(asset, Intervals())
        deps = graph.defs.assets[asset].deps
        for dep, edge in zip(deps, graph.edges(asset), strict=True):
            if need and edge.reads_own_period:
                missing = need - edge.readers(edge.up.universe(now), now)
                if missing:
                    absent[asset, dep.name] = missing
    if absent:
        (asset, name), found = next(iter(absent.items()))
        parts = graph.defs.assets[asset].partitions
        more = f" (and {len(absent) - 1} more such inputs)" if len(absent) > 1 else ""
        raise UpstreamMissingError(
            f"{asset}[{parts.compact(found)}] reads "
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


def _run_json(r: PlannedRun) -> dict[str, object]:
    return {
        "asset": r.asset,
        "from": r.first_key,
        "to": r.last_key,
        "nodes": r.size,
        "reason": r.reason,
        "conditional": r.conditional,
    }


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
