"""The executor's ready queue: tasks whose inputs are ready, in plan order, and group commit.

Group commit: a task that is one node of an asset computed a partition per call
(batch_size 1) takes with it the ready nodes of its asset at the partitions right after it,
up to a size; the worker calls the function once per node and writes them in one
transaction, with a record each. The plan is unchanged: grouping is how its nodes are
handed to workers, like the concurrency limit.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping

from assetflow.core.planner import PlannedNode

Key = tuple[str, str]


class ReadyQueue:
    """Task leaders (a task's first node) ready to run, first in plan order first.

    `joinable`: the nodes that may be grouped (single nodes of assets computed a partition
    per call, not conditional, not a full refresh); a node leaves it once it is launched
    (a retry, or a run again after its group failed, goes alone)."""

    def __init__(
        self,
        order: Mapping[Key, int],
        planned: Mapping[Key, PlannedNode],
        joinable: set[Key],
        size: int,
    ) -> None:
        self.order, self.joinable, self.size = order, joinable, size
        self._heap: list[tuple[int, Key]] = []
        self._queued: set[Key] = set()  # in the heap and not taken into a group since
        self._at = {(p.node.asset, p.index): key for key, p in planned.items()}
        self._index = {key: p.index for key, p in planned.items()}

    def __bool__(self) -> bool:
        return bool(self._queued)

    def push(self, lead: Key) -> None:
        heapq.heappush(self._heap, (self.order[lead], lead))
        self._queued.add(lead)

    def pop(self) -> Key:
        while True:
            _, lead = heapq.heappop(self._heap)
            if lead in self._queued:  # else it went with a group already
                self._queued.discard(lead)
                return lead

    def clear(self) -> None:
        self._heap.clear()
        self._queued.clear()

    def group(self, lead: Key) -> list[Key]:
        """`lead` (just popped), with the ready joinable nodes of its asset at the
        partitions right after it, up to `size` in all, taken off the queue; each leaves
        `joinable`."""
        group = [lead]
        if lead in self.joinable:
            index = self._index[lead]
            while len(group) < self.size:
                index += 1
                key = self._at.get((lead[0], index))
                if key is None or key not in self._queued or key not in self.joinable:
                    break
                self._queued.discard(key)  # its heap entry is skipped when popped
                group.append(key)
        self.joinable.difference_update(group)
        return group
