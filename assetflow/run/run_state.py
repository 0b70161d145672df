"""A run's state as plain transitions: which tasks wait, which are ready, which retry when,
what each node ended as. No thread, clock, store, log or worker: the executor's loop feeds it
what happened (with the times it read) and records what it returns, so every rule of
scheduling — dependencies, batches and groups, retries, `upstream_failed`, a broken
definition, a full disk, an interrupt, the run's outcome — is unit-tested in milliseconds
(tests/run/test_run_state.py).

A task is one node, or the contiguous nodes of one batch, known by its first node (its
leader). Group commit may hand several ready single-node tasks of one asset to a worker as
one group (run/ready.py).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping

from assetflow.core.planner import Plan, PlannedNode
from assetflow.core.records import AttemptStatus, NodeId, NodeResult, RunStatus
from assetflow.errors import DefinitionError, ExitCode, StorageError
from assetflow.run.ready import ReadyQueue, dependencies, group_size, joinable

_SETTLED = (AttemptStatus.SUCCESS, AttemptStatus.VERIFIED, AttemptStatus.NOT_RUN)


class RunState:
    """Every planned node of one run, from waiting to settled."""

    def __init__(self, plan: Plan, batch_size: Mapping[str, int], sort_key: Callable | None = None):
        """`sort_key(planned)`: the order in which ready tasks go (plan order by default;
        a backfill's oldest partitions first). Dependencies hold whatever the order."""
        nodes = list(plan.nodes)
        if sort_key is not None:
            nodes.sort(key=sort_key)
        self.order = {p.id: i for i, p in enumerate(nodes)}
        self.planned = {p.id: p for p in plan.nodes}
        self.members: dict[NodeId, list[NodeId]] = {}
        self.leader: dict[NodeId, NodeId] = {}
        by_batch: dict[int, NodeId] = {}
        for key, p in self.planned.items():
            lead = by_batch.setdefault(p.batch, key) if p.batch else key
            self.leader[key] = lead
            self.members.setdefault(lead, []).append(key)
        self.waiting_on, self.dependents = dependencies(self.planned, self.leader, self.order)
        self.ready = ReadyQueue(
            self.order, self.planned, joinable(self.members, self.planned, batch_size)
        )
        self.pace: dict[str, float] = {}  # per asset, seconds per node of its last task
        self.groups: dict[NodeId, list[NodeId]] = {}  # a running group's leader -> its nodes
        self.retries: list[tuple[float, int, NodeId]] = []  # (due, order, task leader)
        self.attempts: dict[NodeId, int] = {}
        self.results: dict[NodeId, NodeResult] = {}
        # A definition mistake fails every planned node of its asset at once (it would fail
        # the same way for each partition); the first, in plan order, is the run's message.
        self.broken: dict[str, tuple[DefinitionError, int]] = {}
        self.halted: StorageError | None = None  # the warehouse cannot be written any more
        self.interrupted = False
        for lead, ups in self.waiting_on.items():
            if not ups:
                self.ready.push(lead)

    # -- what to run next ---------------------------------------------------------------------
    def busy(self) -> bool:
        """Whether anything is ready or waits for a retry (running tasks are the loop's)."""
        return bool(self.ready or self.retries)

    def until_next_retry(self, now: float) -> float | None:
        """Seconds until the next retry is due (None: no retry waits)."""
        return None if not self.retries else max(0.0, self.retries[0][0] - now)

    def release_due(self, now: float) -> None:
        """Retries that are due join the ready tasks."""
        while self.retries and self.retries[0][0] <= now:
            self.ready.push(heapq.heappop(self.retries)[2])

    def stopped(self) -> bool:
        """Nothing more is to run: interrupted, or the warehouse cannot be written."""
        return self.interrupted or self.halted is not None

    def take(self, lead: NodeId, most: int, workers: int) -> list[NodeId]:
        """The task of `lead` (just popped from `ready`), with the ready nodes of its asset
        that join it as a group (sized by the asset's pace), each counted as attempted."""
        waiting = self.ready.queued_of[lead.asset] + 1
        group = self.ready.group(
            lead, group_size(most, self.pace.get(lead.asset), waiting, workers)
        )
        if len(group) > 1:
            self.groups[lead] = group
        for key in group:
            self.attempts[key] = self.attempts.get(key, 0) + 1
        return group

    def task(self, lead: NodeId) -> list[PlannedNode]:
        """The planned nodes a task (or a running group) writes."""
        return [self.planned[k] for k in self.groups.get(lead) or self.members[lead]]

    def batch(self, lead: NodeId) -> list[PlannedNode]:
        """The planned nodes of the task `lead` leads (one, or a batch's), not its group."""
        return [self.planned[k] for k in self.members[lead]]

    # -- what happened ------------------------------------------------------------------------
    def ran(self, lead: NodeId, seconds: float) -> None:
        """A task (or group) wrote its nodes in `seconds`: its asset's pace."""
        self.pace[lead.asset] = seconds / len(self.groups.get(lead) or self.members[lead])

    def ungroup(self, lead: NodeId, failed: NodeId | None) -> list[NodeId]:
        """A group wrote nothing: the nodes other than `failed` (whose own call raised) go
        back to the ready tasks as first attempts. Returns the group."""
        group = self.groups.pop(lead)
        for key in group:
            if key != failed:
                del self.attempts[key]
                self.ready.push(key)
        return group

    def retry(self, lead: NodeId, due: float) -> None:
        heapq.heappush(self.retries, (due, self.order[lead], lead))

    def failed_with(self, lead: NodeId, error: BaseException) -> None:
        """A task failed for good: a definition mistake marks its asset broken (the earliest
        in plan order is the run's message); a storage error halts the run."""
        if isinstance(error, StorageError) and self.halted is None:
            self.halted = error
        if isinstance(error, DefinitionError):
            known = self.broken.get(lead.asset)
            if known is None or self.order[lead] < known[1]:
                self.broken[lead.asset] = (error, self.order[lead])

    def interrupt(self) -> None:
        """Stop scheduling: what runs ends, nothing new starts."""
        self.interrupted = True
        self.ready.clear()
        self.retries.clear()

    def complete(self, key: NodeId, result: NodeResult) -> list[NodeId]:
        """A node settled. Its dependents whose inputs are all settled become ready; if it
        failed, every planned node downstream is blocked. Returns the nodes blocked by this,
        in the order they were (each must be recorded `upstream_failed`)."""
        self.results[key] = result
        blocked: list[NodeId] = []
        pending = [(key, result.status in _SETTLED)]
        while pending:
            done, ok = pending.pop(0)
            for down in self.dependents[done]:
                if down in self.results:
                    continue
                task = self.leader[down]
                if not ok:
                    for member in self.members[task]:
                        if member not in self.results:
                            node = self.planned[member].node
                            self.results[member] = NodeResult(node, AttemptStatus.UPSTREAM_FAILED)
                            blocked.append(member)
                            pending.append((member, False))
                elif done in self.waiting_on[task]:
                    self.waiting_on[task].discard(done)
                    if not self.waiting_on[task]:
                        self.ready.push(task)
        return blocked

    # -- the outcome --------------------------------------------------------------------------
    def outcome(self) -> tuple[tuple[NodeResult, ...], RunStatus, ExitCode, Exception | None]:
        """Every node's result in plan order (not run where none), the run's status and exit
        code, and what stopped it (a storage error, or the first broken definition)."""
        results = tuple(
            self.results.get(k) or NodeResult(self.planned[k].node, AttemptStatus.NOT_RUN)
            for k in sorted(self.planned, key=self.order.__getitem__)
        )
        by = [r.status for r in results]
        broken = by.count(AttemptStatus.FAILED) + by.count(AttemptStatus.UPSTREAM_FAILED)
        built = by.count(AttemptStatus.SUCCESS) + by.count(AttemptStatus.VERIFIED)
        partial = RunStatus.PARTIAL if built else RunStatus.FAILED
        if self.interrupted:
            status, code = RunStatus.INTERRUPTED, ExitCode.INTERRUPTED
        elif self.halted is not None:
            status, code = RunStatus.FAILED, self.halted.exit_code
        elif self.broken:
            status, code = partial, ExitCode.USAGE
        elif broken or by.count(AttemptStatus.NOT_RUN):
            status, code = partial, ExitCode.FAILED
        else:
            status, code = RunStatus.SUCCESS, ExitCode.OK
        first = min(self.broken.values(), key=lambda found: found[1], default=None)
        return results, status, code, self.halted or (first[0] if first else None)
