"""The asset graph and the node graph (asset x partition) derived from mappings.

The order and the cycle check every command needs come from the standard library's graphlib;
networkx (a tenth of a second to import) is loaded only by what walks the graph further:
selections with `+`, the page's layers, a lineage neighbourhood.

Pure: no I/O. The node graph is implicit: nodes are enumerated per asset and the inputs of a
node are computed from its mappings, so millions of nodes never become Python objects at once.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import graphlib
import heapq
from typing import TYPE_CHECKING, Any

from assetflow.core.definitions import Definitions
from assetflow.core.intervals import Intervals
from assetflow.core.mappings import Edge
from assetflow.core.partitions import Partitions
from assetflow.core.records import InputRange, Node
from assetflow.errors import DefinitionError, SelectionError

if TYPE_CHECKING:
    import networkx as nx


class AssetGraph:
    """Assets and sources as a DAG; edges point from upstream to downstream."""

    def __init__(self, defs: Definitions) -> None:
        self.defs = defs
        self.upstream: dict[str, tuple[str, ...]] = {name: () for name in defs.sources}
        for spec in defs.assets.values():
            self.upstream[spec.name] = tuple(dep.name for dep in spec.deps)
        self._edges: dict[str, tuple[Edge, ...]] = {}
        self._mappers: dict[str, list] = {}
        self._mappers_now: dt.datetime | None = None
        self.order: tuple[str, ...] = tuple(n for n in self._sorted() if n in defs.assets)

    def _sorted(self) -> list[str]:
        """Every name, upstream first, the smallest name first among those ready (the
        lexicographical topological order); a cycle is a definition error."""
        sorter = graphlib.TopologicalSorter(self.upstream)
        try:
            sorter.prepare()
        except graphlib.CycleError as cycle:
            ring = cycle.args[1][:-1]
            start = ring.index(min(ring))
            ring = ring[start:] + ring[:start]
            path = " -> ".join([*ring, ring[0]])
            where = self.defs.assets[ring[0]].where
            raise DefinitionError(f"{where}: dependency cycle: {path}") from None
        ready = list(sorter.get_ready())
        heapq.heapify(ready)
        out = []
        while ready:
            name = heapq.heappop(ready)
            out.append(name)
            sorter.done(name)
            for follower in sorter.get_ready():
                heapq.heappush(ready, follower)
        return out

    @functools.cached_property
    def graph(self) -> nx.DiGraph:
        """The graph as networkx's DiGraph, edges from upstream to downstream."""
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(self.upstream)
        graph.add_edges_from((up, name) for name, ups in self.upstream.items() for up in ups)
        return graph

    # -- selection ----------------------------------------------------------------------
    def select(self, patterns: list[str] | tuple[str, ...]) -> list[str]:
        """Asset names matching `name`, globs, `group:NAME`, `+name` (with upstream) and
        `name+` (with downstream). States (`failed`, `changed+`) are asset names by now:
        app/state.py's `expand_states` replaced them, reading the status."""
        if not patterns:
            return list(self.order)
        chosen: set[str] = set()
        for raw in patterns:
            pattern = raw.strip()
            up, down = pattern.startswith("+"), pattern.endswith("+")
            core = pattern.strip("+")
            if core.startswith("group:"):
                group = core.removeprefix("group:")
                matches = [n for n in self.order if self.defs.assets[n].group == group]
            else:
                matches = [n for n in self.order if fnmatch.fnmatchcase(n, core)]
            if not matches:
                if core in self.defs.sources:
                    raise SelectionError(f"{core!r} is a source: it is observed, not materialized")
                groups = sorted({s.group for s in self.defs.assets.values() if s.group})
                raise SelectionError(
                    f"selection {raw!r} matches no asset",
                    f"groups: {', '.join(groups) or 'none declared'}"
                    if core.startswith("group:")
                    else f"assets: {', '.join(self.order)}",
                )
            for name in matches:
                chosen.add(name)
                if up:
                    chosen |= {a for a in self._ancestors(name) if a in self.defs.assets}
                if down:
                    chosen |= self._descendants(name)
        return [n for n in self.order if n in chosen]

    # -- node graph ---------------------------------------------------------------------
    def inputs(self, node: Node, now: dt.datetime) -> list[InputRange]:
        """What one node reads: for each dependency, the mapped (and clipped) upstream keys."""
        index = self.defs.assets[node.asset].partitions.index(node.partition)
        return self.inputs_at(node.asset, index, now)

    def inputs_at(self, asset: str, index: int, now: dt.datetime) -> list[InputRange]:
        """What the node of `asset` at partition `index` reads."""
        out = []
        for name, is_source, parts, mapper in self._mapped(asset, now):
            mapped = mapper(index)
            out.append(
                InputRange(
                    name, mapped.first, mapped.last, mapped.clipped, is_source, parts, mapped.spans
                )
            )
        return out

    def edges(self, asset: str) -> tuple[Edge, ...]:
        """How `asset` reads each of its dependencies (in `deps` order), worked out once per
        graph: what an edge learns about its dimensions is kept for every node."""
        if asset not in self._edges:
            spec = self.defs.assets[asset]
            self._edges[asset] = tuple(
                Edge(dep.mapping, spec.partitions, self.defs.spec(dep.name).partitions)
                for dep in spec.deps
            )
        return self._edges[asset]

    def _mapped(self, asset: str, now: dt.datetime) -> list[tuple[str, bool, Partitions, Any]]:
        """Per dependency of `asset`: its name, whether a source, its partitions, and how a
        node's partition maps onto them (once per command and asset)."""
        if self._mappers_now != now:  # a daemon's graph lives on: keep one instant's
            self._mappers, self._mappers_now = {}, now
        if asset not in self._mappers:
            deps = self.defs.assets[asset].deps
            self._mappers[asset] = [
                (dep.name, dep.name in self.defs.sources, edge.up, edge.mapper(now))
                for dep, edge in zip(deps, self.edges(asset), strict=True)
            ]
        return self._mappers[asset]

    # -- partition sets along edges: the one upstream walk and the one downstream walk -------
    def reads_of(self, asset: str, spans: Intervals, now: dt.datetime) -> dict[str, Intervals]:
        """Per dependency of `asset`, the partitions its nodes `spans` read."""
        deps = self.defs.assets[asset].deps
        return {
            dep.name: edge.reads(spans, now)
            for dep, edge in zip(deps, self.edges(asset), strict=True)
        }

    def readers_of(self, asset: str, changed: dict[str, Intervals], now: dt.datetime) -> Intervals:
        """The nodes of `asset` that read any of the `changed` partitions of its
        dependencies (dependency -> partitions)."""
        spans: list[tuple[int, int]] = []
        deps = self.defs.assets[asset].deps
        for dep, edge in zip(deps, self.edges(asset), strict=True):
            found = changed.get(dep.name, Intervals())
            if found:
                spans.extend(edge.readers(found, now).spans)
        return Intervals.of(spans)

    # -- export ---------------------------------------------------------------------------
    def layers(self) -> dict[str, tuple[int, int]]:
        """A layered layout: each asset's and source's (layer, position in it), layers by
        networkx's topological generations (sources first), names sorted within a layer."""
        out = {}
        import networkx as nx

        for layer, names in enumerate(nx.topological_generations(self.graph)):
            for row, name in enumerate(sorted(names)):
                out[name] = (layer, row)
        return out

    def neighbourhood(self, asset: str, upstream: bool, downstream: bool) -> list[str]:
        """`asset` with its ancestors and/or descendants, in topological order."""
        keep = {asset}
        if upstream:
            keep |= self._ancestors(asset)
        if downstream:
            keep |= self._descendants(asset)
        return [n for n in self._sorted() if n in keep]

    def _ancestors(self, name: str) -> set[str]:
        import networkx as nx

        return nx.ancestors(self.graph, name)

    def _descendants(self, name: str) -> set[str]:
        import networkx as nx

        return nx.descendants(self.graph, name)

    def edges_within(self, names: list[str]) -> list[tuple[str, str, str]]:
        """(upstream, downstream, mapping) for every edge between `names`."""
        keep = set(names)
        out = []
        for down in names:
            spec = self.defs.assets.get(down)
            for dep in spec.deps if spec else ():
                if dep.name in keep:
                    out.append((dep.name, down, dep.mapping.describe()))
        return out

    def to_dot(self, names: list[str]) -> str:
        lines = ["digraph assets {", "  rankdir=LR;"]
        for name in names:
            shape = "cylinder" if name in self.defs.sources else "box"
            label = f"{name}\\n{self.defs.spec(name).partitions.describe()}"
            lines.append(f'  "{name}" [shape={shape}, label="{label}"];')
        for up, down, mapping in self.edges_within(names):
            lines.append(f'  "{up}" -> "{down}" [label="{mapping}"];')
        return "\n".join([*lines, "}"])

    def to_mermaid(self, names: list[str]) -> str:
        lines = ["graph LR"]
        for name in names:
            label = f"{name}<br/>{self.defs.spec(name).partitions.describe()}"
            shape = f'[("{label}")]' if name in self.defs.sources else f'["{label}"]'
            lines.append(f"  {name}{shape}")
        for up, down, mapping in self.edges_within(names):
            lines.append(f"  {up} -->|{mapping}| {down}")
        return "\n".join(lines)
