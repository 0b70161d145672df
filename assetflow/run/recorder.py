"""What a run leaves behind, as the loop tells it: the attempts and check results in the
store, each task's log file, the alerts, and the run's tallies (checks, tables that changed
shape, keys assets added).

The loop (run/executor.py) decides and the run state (run/run_state.py) keeps who waits for
whom; neither writes anything. Each method here is one event of a run, said once, on the
loop's thread.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from assetflow.core.alerts import Failure
from assetflow.core.definitions import Definitions
from assetflow.core.planner import PlannedNode
from assetflow.core.records import AttemptStatus, CheckResult, NodeId
from assetflow.run.alerts import Deliveries
from assetflow.run.clock import Clock
from assetflow.run.runlog import NodeLog, node_log_path
from assetflow.run.task import TaskResult, attempt_header, span_label
from assetflow.store.store import Store

# (asset, partition, index), the materialization written (None: none), its checks' results
CheckedNode = tuple[tuple[str, str, int], int | None, tuple[CheckResult, ...]]
Nodes = Sequence[PlannedNode]  # a task's nodes (one, a batch's or a group's), in order


@dataclass(frozen=True)
class Unwritten:
    """An attempt that wrote nothing: its outcome, the same for each of its nodes."""

    status: AttemptStatus
    attempt: int = 0  # 0 for nodes settled without running: verified, upstream_failed
    started: dt.datetime | None = None
    ended: dt.datetime | None = None
    error: BaseException | None = None
    next_retry_at: dt.datetime | None = None


class RunRecorder:
    """The records of one run (`run_id`), its logs under `logs_dir`."""

    def __init__(
        self,
        defs: Definitions,
        store: Store,
        clock: Clock,
        run_id: str,
        logs_dir: Path,
        alerts: Deliveries,
    ) -> None:
        self.defs, self.store, self.clock = defs, store, clock
        self.run_id, self.logs_dir = run_id, logs_dir
        self.alerts = alerts  # awaited by whoever started the run (app/materialize.py)
        self.log_paths: dict[NodeId, Path] = {}  # nodes logging to their group's file
        self.logged: set[NodeId] = set()  # tasks (by their first node) whose log file exists
        self.check_counts = [0, 0, 0]  # passed, warned, failed
        self.reshaped: list[str] = []  # tables that changed shape, in the order they did
        self.keys_added: dict[str, list[str]] = {}  # dynamic key sets: keys assets added

    # -- logs -------------------------------------------------------------------------------
    def grouped(self, group: Nodes) -> None:
        """These nodes run as one task (a group commit): one log file for them all."""
        path = self._log_file(group)
        self.log_paths.update((p.id, path) for p in group)

    def ungrouped(self, group: Nodes) -> None:
        for p in group:
            self.log_paths.pop(p.id, None)

    def log_path(self, members: Nodes) -> Path:
        """The log file of the task of these nodes, or that of the group it runs in."""
        return self.log_paths.get(members[0].id) or self._log_file(members)

    def logged_at(self, members: Nodes) -> str | None:
        """The task's log file, if it was written."""
        return str(self.log_path(members)) if members[0].id in self.logged else None

    def attempt_logged(self, members: Nodes, done: TaskResult) -> None:
        if done.logged:
            self.logged.add(members[0].id)

    def group_failed(self, members: Nodes, trace: str, count: int) -> None:
        """A group's write failed with no one node to blame: each runs again alone."""
        log = NodeLog(self.log_path(members), self.clock)
        log.write(trace)
        log.write(f"the group's {count} partitions run again one by one\n")
        log.close()

    def failure_log(self, members: Nodes, attempt: int, done: TaskResult) -> NodeLog:
        """The task's log, for what the coordinator adds to a failed attempt: its traceback,
        the retry it plans, hooks that failed. The caller closes it."""
        log = NodeLog(self.log_path(members), self.clock)
        if not done.logged:  # the attempt's header has not reached the file yet
            label = span_label(members[0].node.partition, members[-1].node.partition)
            log.begin(attempt_header(members[0].node.asset, label, attempt, self.run_id))
        log.write(done.trace)
        self.logged.add(members[0].id)
        return log

    def _log_file(self, task: Nodes) -> Path:
        first, last = task[0].node, task[-1].node
        return node_log_path(
            self.logs_dir, self.run_id, first.asset, first.partition, last.partition
        )

    # -- the store ---------------------------------------------------------------------------
    def settled(self, nodes: Nodes, members: Nodes, event: Unwritten) -> None:
        """An attempt of `nodes` (of the task of `members`) that wrote nothing."""
        now = event.ended or self.clock()
        self.store.record_attempts(
            self.run_id, [p.stored for p in nodes], event.attempt, event.started or now, now,
            event.status, event.error, self.logged_at(members), event.next_retry_at,
        )  # fmt: skip

    def checked(self, nodes: list[CheckedNode], failed: bool) -> None:
        """Check results of a task's nodes; a failed attempt's are recorded here (a
        successful write recorded its own with the data)."""
        for _, _, results in nodes:
            for r in results:
                self.check_counts[0 if r.passed else (2 if r.severity == "error" else 1)] += 1
        if failed:
            self.store.record_checks(self.run_id, nodes, self.clock())

    def wrote(self, done: TaskResult) -> None:
        """A successful write: how it changed its table, the keys it added."""
        if done.reshaped:
            self.reshaped.append(done.reshaped)
        for key_set, keys in done.keys_added:
            self.keys_added.setdefault(key_set, []).extend(keys)

    # -- alerts ------------------------------------------------------------------------------
    def alert(self, failure: Failure, log: NodeLog) -> None:
        """A node failed for good: its hooks hear of it, off this thread; a failing hook
        is logged in the node's log, and the run's output says it once."""
        self.alerts.submit(self.defs.failure_hooks(failure.asset), failure, log.logger)
