"""The executor's ready queue: tasks whose inputs are ready, in plan order, and group commit.

Group commit: a task that is one node of an asset computed a partition per call
(batch_size 1) takes with it the ready nodes of its asset at the partitions right after it,
up to a size; the worker calls the function once per node and writes them in one
transaction, with a record each. The plan is unchanged: grouping is how its nodes are
handed to workers, like the concurrency limit. The size follows how long the asset's nodes
took so far in the run (`group_size`): quick nodes are grouped, slow ones are not (their
transaction costs little next to them, and a group would hide their progress and keep them
off the other workers).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping

from assetflow.core.planner import PlannedNode
from assetflow.core.records import FULL_REFRESH, NodeId

GROUP_SECONDS = 0.2  # what a group task aims to take: progress still moves several times a second


class ReadyQueue:
    """Task leaders (a task's first node) ready to run, first in plan order first.

    `joinable`: the nodes that may be grouped (see `joinable`); a node leaves it once it is
    launched (a retry, or a run again after its group failed, goes alone)."""

    def __init__(
        self,
        order: Mapping[NodeId, int],
        planned: Mapping[NodeId, PlannedNode],
        joinable: set[NodeId],
    ) -> None:
        self.order, self.planned, self.joinable = order, planned, joinable
        self._heap: list[tuple[int, NodeId]] = []
        self._queued: set[NodeId] = set()  # in the heap and not taken into a group since
        self.queued_of: Counter[str] = Counter()  # per asset, how many of its nodes wait

    def __bool__(self) -> bool:
        return bool(self._queued)

    def push(self, lead: NodeId) -> None:
        heapq.heappush(self._heap, (self.order[lead], lead))
        self._queued.add(lead)
        self.queued_of[lead.asset] += 1

    def pop(self) -> NodeId:
        while True:
            _, lead = heapq.heappop(self._heap)
            if lead in self._queued:  # else it went with a group already
                self._take(lead)
                return lead

    def clear(self) -> None:
        self._heap.clear()
        self._queued.clear()
        self.queued_of.clear()

    def _take(self, key: NodeId) -> None:
        self._queued.discard(key)
        self.queued_of[key.asset] -= 1

    def group(self, lead: NodeId, size: int) -> list[NodeId]:
        """`lead` (just popped), with the ready joinable nodes of its asset at the
        partitions right after it, up to `size` in all, taken off the queue; each leaves
        `joinable`."""
        group = [lead]
        if lead in self.joinable:
            index = lead.index
            while len(group) < size:
                index += 1
                key = NodeId(lead.asset, index)
                if key not in self._queued or key not in self.joinable:
                    break
                self._take(key)  # its heap entry is skipped when popped
                group.append(key)
        self.joinable.difference_update(group)
        return group


def group_size(most: int, seconds_per_node: float | None, waiting: int, workers: int) -> int:
    """How many nodes of an asset to write together: none grouped until one of its tasks
    has finished in this run (`seconds_per_node` None); then enough for a task of about
    GROUP_SECONDS, at most `most`, and no more than a fair share of the `waiting` nodes
    among the `workers`."""
    if seconds_per_node is None:
        return 1
    by_time = int(GROUP_SECONDS / max(seconds_per_node, 1e-6))
    return max(1, min(most, by_time, -(-waiting // workers)))


def joinable(
    members: Mapping[NodeId, list[NodeId]],
    planned: Mapping[NodeId, PlannedNode],
    batch_size: Mapping[str, int],
) -> set[NodeId]:
    """The nodes that may be grouped: tasks of one node (`members`: a task's first node ->
    its nodes) of an asset computed a partition per call, neither conditional (verified
    first, maybe not run) nor part of a full refresh."""
    return {
        lead
        for lead, task in members.items()
        if task == [lead]
        and batch_size[lead.asset] == 1
        and not planned[lead].conditional
        and planned[lead].reason != FULL_REFRESH
    }


def dependencies(
    planned: Mapping[NodeId, PlannedNode],
    leader: Mapping[NodeId, NodeId],
    order: Mapping[NodeId, int],
) -> tuple[dict[NodeId, set[NodeId]], dict[NodeId, list[NodeId]]]:
    """What each task (by its leader) waits on, and each node's dependents: the planned
    nodes of other tasks that it reads. A node that reads nothing of a planned upstream (a
    window clipped away at the upstream's first partition) still waits for that upstream's
    first planned node, whose write makes the table it reads as empty."""
    first: dict[str, NodeId] = {}
    for key in sorted(planned, key=order.__getitem__):
        first.setdefault(key.asset, key)
    waiting_on: dict[NodeId, set[NodeId]] = {lead: set() for lead in dict.fromkeys(leader.values())}
    dependents: dict[NodeId, list[NodeId]] = {k: [] for k in planned}
    for key, p in planned.items():
        lead = leader[key]
        for rng in p.inputs:
            if rng.is_source:
                continue
            ups = [NodeId(rng.name, i) for i in rng.indexes()]
            if not ups and rng.name in first:
                ups = [first[rng.name]]
            for up in ups:
                if up in planned and leader[up] != lead:
                    waiting_on[lead].add(up)
                    dependents[up].append(key)
    return waiting_on, dependents
