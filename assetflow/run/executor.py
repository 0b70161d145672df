"""The executor: runs a Plan with a concurrency limit, task by task.

A task is one node, or the contiguous nodes of one batch, known by its first node (its
leader). Which task runs when is decided by `RunState` (run/run_state.py: plain transitions,
no thread); this module is the loop around it and what a run records (attempts, checks,
logs, alerts). The loop and all bookkeeping stay on the calling thread; a worker gets
a `Task` (it pickles) and returns a `TaskResult` (it pickles), so the worker may be a thread
of this process (`EmbeddedWorker`) or run elsewhere. A node whose inputs are ready is
submitted; a transient failure is retried after a backoff without holding a worker; a final
failure marks every planned node downstream `upstream_failed` while independent nodes go
on. A definition mistake fails every planned node of its asset at once (it would fail the
same way for each partition); a full disk stops scheduling.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from assetflow.core.alerts import Failure
from assetflow.core.calendar import start_key
from assetflow.core.checks import CheckFailed
from assetflow.core.definitions import Definitions
from assetflow.core.planner import Plan, PlannedNode
from assetflow.core.policy import retryable
from assetflow.core.records import AttemptStatus, NodeId, NodeResult, RunResult
from assetflow.errors import DefinitionError, describe
from assetflow.run.alerts import Deliveries
from assetflow.run.clock import Clock
from assetflow.run.recorder import CheckedNode, RunRecorder, Unwritten
from assetflow.run.run_state import RunState
from assetflow.run.task import Task, TaskResult, input_versions, make_task
from assetflow.store.store import Store

Worker = Callable[[Task], TaskResult]


@dataclass(frozen=True)
class RunSetup:
    """What stays the same for every task of one run."""

    run_id: str
    pipeline: str  # the schedule or sensor that started the run, else the project
    logs_dir: Path
    concurrency: int = 1
    oldest_first: bool = False  # backfills: earliest partitions first, across assets
    # Group commit: up to this many ready, adjacent partitions of one asset (batch_size 1)
    # go to a worker as one task, each computed by its own call, written in one transaction
    # with a record each (docs/performance.md).
    group: int = 32
    run_url: str | None = None  # the run on the web page (`ui_url`), for alerts
    # The run's alert deliveries: its nodes' failure hooks while it runs, its end's hooks
    # after; whoever started the run awaits them, once it has let the warehouse go.
    alerts: Deliveries = field(default_factory=Deliveries, compare=False)
    rng: random.Random = field(default_factory=random.Random, compare=False)


def execute(
    plan: Plan,
    defs: Definitions,
    setup: RunSetup,
    store: Store,
    clock: Clock,
    worker: Worker,
    on_result: Callable[[NodeResult], None] | None = None,
    pool: Executor | None = None,
    on_start: Callable[[list[PlannedNode]], None] | None = None,
) -> RunResult:
    """Run the plan; never raises for a node's own failure. `pool` defaults to a thread
    pool of `setup.concurrency` workers. `on_start(task)` hears of each task's first
    attempt, `on_result` of each node once settled (both on the calling thread)."""
    return _Scheduler(plan, defs, setup, store, clock, worker, on_result, on_start).run(pool)


class _Scheduler:
    """The loop: which task runs when is the `RunState`'s, what the run leaves behind the
    `RunRecorder`'s; here, the versions rebuilt nodes now have and what callers hear."""

    def __init__(
        self,
        plan: Plan,
        defs: Definitions,
        setup: RunSetup,
        store: Store,
        clock: Clock,
        worker: Worker,
        on_result: Callable[[NodeResult], None] | None,
        on_start: Callable[[list[PlannedNode]], None] | None = None,
    ) -> None:
        self.defs, self.setup, self.clock = defs, setup, clock
        self.worker, self.on_result, self.on_start = worker, on_result, on_start
        self.versions = dict(plan.versions)  # updated as nodes are rebuilt
        self.recorded = plan.recorded
        batch_size = {name: spec.batch_size for name, spec in defs.assets.items()}
        # Backfills: earliest partitions first across assets (dependencies still hold).
        oldest = (lambda p: start_key(self._window_start(p))) if setup.oldest_first else None
        self.state = RunState(plan, batch_size, oldest)
        self.record = RunRecorder(defs, store, clock, setup.run_id, setup.logs_dir, setup.alerts)
        self.env = store.env.name  # its tasks' environment (their resources' values)
        self.announced: set[NodeId] = set()  # nodes `on_start` heard of
        self.started: dict[NodeId, dt.datetime] = {}

    # -- the loop -------------------------------------------------------------------------
    def run(self, pool: Executor | None) -> RunResult:
        own = pool is None
        pool = pool or ThreadPoolExecutor(max_workers=self.setup.concurrency)
        running: dict[Future[TaskResult], NodeId] = {}
        state = self.state
        try:
            while True:
                try:
                    self._launch(pool, running)
                    if not running and not state.busy():
                        break
                    timeout = state.until_next_retry(self.clock.monotonic())
                    if running:
                        done, _ = wait(list(running), timeout=timeout, return_when=FIRST_COMPLETED)
                    else:  # only retries are waiting: a simulated clock skips this
                        self.clock.sleep(timeout or 0.0)
                        done = set()
                    state.release_due(self.clock.monotonic())
                    for future in sorted(done, key=lambda f: state.order[running[f]]):
                        self._finish(running.pop(future), future.result())
                except KeyboardInterrupt:
                    state.interrupt()  # stop scheduling; let running transactions end
        finally:
            if own:
                pool.shutdown(wait=True)
        return self._result()

    def _launch(self, pool: Executor, running: dict[Future[TaskResult], NodeId]) -> None:
        state = self.state
        while state.ready and len(running) < self.setup.concurrency:
            lead = state.ready.pop()
            first = state.planned[lead]
            if state.stopped():
                for p in state.batch(lead):
                    self._complete(p.id, NodeResult(p.node, AttemptStatus.NOT_RUN))
                continue
            if first.node.asset in state.broken:
                self._fail_unrun(lead, state.broken[first.node.asset][0])
                continue
            if first.conditional and lead not in state.attempts and self._unchanged(first):
                self._settle([first], Unwritten(AttemptStatus.VERIFIED))
                self._complete(lead, NodeResult(first.node, AttemptStatus.VERIFIED))
                continue
            group = state.take(lead, self.setup.group, self.setup.concurrency)
            now = self.clock()
            self.started.update((key, now) for key in group)
            task = state.task(lead)
            if len(group) > 1:
                self.record.grouped(task)
            fresh = [p for p in task if p.id not in self.announced]
            if fresh and self.on_start:
                self.on_start(fresh)
            self.announced.update(p.id for p in fresh)
            spec = self.defs.assets[first.node.asset]
            work = make_task(
                self.setup.run_id, task, self.versions, spec.code_version, state.attempts[lead],
                now, str(self.record.log_path(state.batch(lead))), grouped=len(group) > 1,
                env=self.env,
            )  # fmt: skip
            running[pool.submit(self.worker, work)] = lead

    def _finish(self, lead: NodeId, done: TaskResult) -> None:
        state = self.state
        if done.error is None:
            state.ran(lead, done.seconds)
        group = state.groups.get(lead)
        if group is None:
            self._finish_task(lead, done)
        elif done.error is not None:
            self._ungroup(lead, done)
        else:
            del state.groups[lead]
            once = dataclasses.replace(done, reshaped=None, keys_added=())  # said by the first
            for key in group:
                self._finish_task(key, done if key == lead else once, len(group))

    def _ungroup(self, lead: NodeId, done: TaskResult) -> None:
        """A group failed and wrote nothing. The node whose own call raised (if known) has
        a failed attempt as if it had run alone; the others run again alone, as first
        attempts."""
        state = self.state
        group = state.task(lead)
        failed = next((p.id for p in group if p.node.partition == done.failed), None)
        if failed is None:
            self.record.group_failed(state.batch(lead), done.trace, len(group))
        state.ungroup(lead, failed)
        self.record.ungrouped(group)
        if failed is not None:  # its failure goes to its own log (its lines stay in the group's)
            self._finish_task(failed, dataclasses.replace(done, logged=False))

    def _finish_task(self, lead: NodeId, done: TaskResult, shared_by: int = 1) -> None:
        state, record = self.state, self.record
        task = state.batch(lead)
        attempt = state.attempts[lead]
        record.attempt_logged(task, done)
        error = done.error
        share = done.seconds / len(task) / shared_by  # a batch's time, shared by its partitions
        failed_checks = error.results if isinstance(error, CheckFailed) else ()
        checked: list[CheckedNode] = []
        for p in task:
            results = done.checks.get(p.node.partition, ()) or tuple(
                r for r in failed_checks if r.node == (p.node.asset, p.node.partition)
            )
            written = done.written.get(p.node.partition)
            checked.append((p.stored, written.materialization_id if written else None, results))
        # the write recorded a successful attempt and its checks with the data
        record.checked(checked, failed=error is not None)
        if error is None:
            record.wrote(done)
            for p in task:
                written = done.written[p.node.partition]
                self.versions[p.node.asset, p.node.partition] = written.data_version
                self._complete(p.id, NodeResult(
                    p.node, AttemptStatus.SUCCESS, written.row_count, share, None,
                    record.logged_at(task), attempt, written.reused_from is not None,
                ))  # fmt: skip
            return
        log = record.failure_log(task, attempt, done)
        policy = self.defs.retry_policy(lead.asset)
        may_retry = not state.interrupted and attempt < policy.attempts
        if may_retry and retryable(error, self.defs.assets[lead.asset].retry_on):
            delay = policy.delay_before(attempt, self.setup.rng)
            log.write(f"retrying in {delay:.3f}s (attempt {attempt + 1} of {policy.attempts})\n")
            log.close()
            ended = self.clock()
            self._settle(task, Unwritten(
                AttemptStatus.RETRYING, attempt, self.started[lead], ended, error,
                ended + dt.timedelta(seconds=delay),
            ))  # fmt: skip
            state.retry(lead, self.clock.monotonic() + delay)
            return
        state.failed_with(lead, error)
        text = describe(error)
        self._settle(task, Unwritten(
            AttemptStatus.FAILED, attempt, self.started[lead], self.clock(), error
        ))  # fmt: skip
        logged = record.logged_at(task)
        for p in task:
            record.alert(Failure(
                self.setup.pipeline, p.node.asset, p.node.partition, self._window_start(p),
                self.setup.run_id, attempt, text, logged, self.setup.run_url,
            ), log)  # fmt: skip
            self._complete(p.id, NodeResult(
                p.node, AttemptStatus.FAILED, None, share, text, logged, attempt,
            ))  # fmt: skip
        log.close()

    def _fail_unrun(self, lead: NodeId, error: DefinitionError) -> None:
        """A task of an asset whose definition is wrong: failed with the same error, unrun."""
        task = self.state.batch(lead)
        self._settle(task, Unwritten(AttemptStatus.FAILED, error=error))
        for p in task:
            self._complete(p.id, NodeResult(p.node, AttemptStatus.FAILED, error=describe(error)))

    def _settle(self, nodes: list[PlannedNode], event: Unwritten) -> None:
        """Record an attempt that wrote nothing, for each of `nodes` (of one task)."""
        state = self.state
        self.record.settled(nodes, state.batch(state.leader[nodes[0].id]), event)

    def _complete(self, key: NodeId, result: NodeResult) -> None:
        """A node settled: heard of, and what it blocks recorded `upstream_failed`."""
        blocked = self.state.complete(key, result)
        if self.on_result:
            self.on_result(result)
        if blocked:
            unrun = [self.state.planned[k] for k in blocked]
            self._settle(unrun, Unwritten(AttemptStatus.UPSTREAM_FAILED))
            for down in blocked:
                if self.on_result:
                    self.on_result(self.state.results[down])

    def _unchanged(self, planned: PlannedNode) -> bool:
        """Early cutoff: every input the node would read has the version it was built from."""
        current = {
            (i.input, i.partition): i.version for i in input_versions(planned, self.versions)
        }
        return current == dict(self.recorded.get(planned.node, {}))

    def _window_start(self, p: PlannedNode) -> dt.date | None:
        return self.defs.assets[p.node.asset].partitions.window(p.index)[0]

    def _result(self) -> RunResult:
        results, status, code, stopped_by = self.state.outcome()
        record = self.record
        passed, warned, failed = record.check_counts
        return RunResult(
            self.setup.run_id, status, results, stopped_by, code, (passed, warned, failed),
            (), tuple(record.reshaped),
            {k: tuple(v) for k, v in sorted(record.keys_added.items())},
        )  # fmt: skip
