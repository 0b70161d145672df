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
from assetflow.core.records import (
    AttemptStatus,
    CheckResult,
    NodeResult,
    RunResult,
)
from assetflow.errors import DefinitionError, describe
from assetflow.run.alerts import Deliveries
from assetflow.run.clock import Clock
from assetflow.run.ready import Key
from assetflow.run.run_state import RunState
from assetflow.run.runlog import NodeLog, node_log_path
from assetflow.run.task import (
    Task,
    TaskResult,
    attempt_header,
    input_versions,
    make_task,
    span_label,
)
from assetflow.store.store import Store

Worker = Callable[[Task], TaskResult]
ALERT_CAP = 30.0  # seconds a run's end waits for its alerts to be delivered, in all


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
    # Alert hooks that timed out in this run (not called again in it), shared with its end.
    silent_hooks: dict[str, int] = field(default_factory=dict, compare=False)
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
    """The loop, and what the run records: attempts and checks in the store, logs, alerts,
    the versions rebuilt nodes now have. Which task runs when is the `RunState`'s."""

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
        self.defs, self.setup, self.store, self.clock = defs, setup, store, clock
        self.worker, self.on_result, self.on_start = worker, on_result, on_start
        self.versions = dict(plan.versions)  # updated as nodes are rebuilt
        self.recorded = plan.recorded
        batch_size = {name: spec.batch_size for name, spec in defs.assets.items()}
        # Backfills: earliest partitions first across assets (dependencies still hold).
        oldest = (lambda p: start_key(self._window_start(p))) if setup.oldest_first else None
        self.state = RunState(plan, batch_size, oldest)
        self.log_paths: dict[Key, Path] = {}  # nodes logging to their group's file
        self.announced: set[Key] = set()  # nodes `on_start` heard of
        self.started: dict[Key, dt.datetime] = {}
        self.logged: set[Key] = set()  # tasks whose log file exists
        self.check_counts = [0, 0, 0]
        self.reshaped: list[str] = []  # tables that changed shape, in the order they did
        self.keys_added: dict[str, list[str]] = {}  # dynamic key sets: keys assets added
        self.alerts = Deliveries(silent=setup.silent_hooks)

    # -- the loop -------------------------------------------------------------------------
    def run(self, pool: Executor | None) -> RunResult:
        own = pool is None
        pool = pool or ThreadPoolExecutor(max_workers=self.setup.concurrency)
        running: dict[Future[TaskResult], Key] = {}
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

    def _launch(self, pool: Executor, running: dict[Future[TaskResult], Key]) -> None:
        state = self.state
        while state.ready and len(running) < self.setup.concurrency:
            lead = state.ready.pop()
            first = state.planned[lead]
            if state.stopped():
                for key in state.members[lead]:
                    self._complete(key, NodeResult(state.planned[key].node, AttemptStatus.NOT_RUN))
                continue
            if first.node.asset in state.broken:
                self._fail_unrun(lead, state.broken[first.node.asset][0])
                continue
            if first.conditional and lead not in state.attempts and self._unchanged(first):
                self._settle([lead], AttemptStatus.VERIFIED)
                self._complete(lead, NodeResult(first.node, AttemptStatus.VERIFIED))
                continue
            group = state.take(lead, self.setup.group, self.setup.concurrency)
            now = self.clock()
            self.started.update((key, now) for key in group)
            if len(group) > 1:
                path = self._log_file(group)
                self.log_paths.update((k, path) for k in group)
            task = state.task(lead)
            fresh = [p for p in task if _key(p) not in self.announced]
            if fresh and self.on_start:
                self.on_start(fresh)
            self.announced.update(_key(p) for p in fresh)
            spec = self.defs.assets[first.node.asset]
            work = make_task(
                self.setup.run_id, task, self.versions, spec.code_version, state.attempts[lead],
                now, str(self._log_path(lead)), grouped=len(group) > 1,
            )  # fmt: skip
            running[pool.submit(self.worker, work)] = lead

    def _finish(self, lead: Key, done: TaskResult) -> None:
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

    def _ungroup(self, lead: Key, done: TaskResult) -> None:
        """A group failed and wrote nothing. The node whose own call raised (if known) has
        a failed attempt as if it had run alone; the others run again alone, as first
        attempts."""
        failed = next((k for k in self.state.groups[lead] if k[1] == done.failed), None)
        if failed is None:
            log = NodeLog(self._log_path(lead), self.clock)
            log.write(done.trace)
            log.write(
                f"the group's {len(self.state.groups[lead])} partitions run again one by one\n"
            )
            log.close()
        for key in self.state.ungroup(lead, failed):
            self.log_paths.pop(key)
        if failed is not None:  # its failure goes to its own log (its lines stay in the group's)
            self._finish_task(failed, dataclasses.replace(done, logged=False))

    def _finish_task(self, lead: Key, done: TaskResult, shared_by: int = 1) -> None:
        state = self.state
        task = [state.planned[k] for k in state.members[lead]]
        attempt = state.attempts[lead]
        if done.logged:
            self.logged.add(lead)
        error = done.error
        share = done.seconds / len(task) / shared_by  # a batch's time, shared by its partitions
        failed_checks = error.results if isinstance(error, CheckFailed) else ()
        recorded = []
        for p in task:
            checked = done.checks.get(p.node.partition, ()) or tuple(
                r for r in failed_checks if r.node == _key(p)
            )
            written = done.written.get(p.node.partition)
            node = (p.node.asset, p.node.partition, p.index)
            recorded.append((node, written.materialization_id if written else None, checked))
            self._count_checks(checked)
        if error is None:  # the write recorded the successful attempt and checks with the data
            if done.reshaped:
                self.reshaped.append(done.reshaped)
            for key_set, keys in done.keys_added:
                self.keys_added.setdefault(key_set, []).extend(keys)
            for p in task:
                written = done.written[p.node.partition]
                self.versions[_key(p)] = written.data_version
                self._complete(_key(p), NodeResult(
                    p.node, AttemptStatus.SUCCESS, written.row_count, share, None,
                    self._logged(lead), attempt,
                ))  # fmt: skip
            return
        self.store.record_checks(self.setup.run_id, recorded, self.clock())
        log = self._coordinator_log(lead, attempt, done)
        policy = self.defs.retry_policy(lead[0])
        may_retry = not state.interrupted and attempt < policy.attempts
        if may_retry and retryable(error, self.defs.assets[lead[0]].retry_on):
            delay = policy.delay_before(attempt, self.setup.rng)
            log.write(f"retrying in {delay:.3f}s (attempt {attempt + 1} of {policy.attempts})\n")
            log.close()
            ended = self.clock()
            self._settle(
                state.members[lead], AttemptStatus.RETRYING, attempt, self.started[lead], ended,
                error, ended + dt.timedelta(seconds=delay),
            )  # fmt: skip
            state.retry(lead, self.clock.monotonic() + delay)
            return
        state.failed_with(lead, error)
        text = describe(error)
        self._settle(
            state.members[lead], AttemptStatus.FAILED, attempt, self.started[lead], self.clock(),
            error,
        )  # fmt: skip
        for p in task:
            failure = Failure(
                self.setup.pipeline, p.node.asset, p.node.partition, self._window_start(p),
                self.setup.run_id, attempt, text, self._logged(lead), self.setup.run_url,
            )  # fmt: skip
            # Delivered off this thread; a failing hook is logged in the node's log, and the
            # run's output says it once.
            self.alerts.submit(self.defs.failure_hooks(p.node.asset), failure, log.logger)
            self._complete(_key(p), NodeResult(
                p.node, AttemptStatus.FAILED, None, share, text, self._logged(lead), attempt,
            ))  # fmt: skip
        log.close()

    def _fail_unrun(self, lead: Key, error: DefinitionError) -> None:
        """A task of an asset whose definition is wrong: failed with the same error, unrun."""
        self._settle(self.state.members[lead], AttemptStatus.FAILED, error=error)
        for key in self.state.members[lead]:
            p = self.state.planned[key]
            self._complete(key, NodeResult(p.node, AttemptStatus.FAILED, error=describe(error)))

    def _coordinator_log(self, lead: Key, attempt: int, done: TaskResult) -> NodeLog:
        """The task's log, for what the coordinator adds to a failed attempt: its traceback,
        the retry it plans, hooks that failed."""
        log = NodeLog(self._log_path(lead), self.clock)
        if not done.logged:  # the attempt's header has not reached the file yet
            label = _label(self.state.members[lead])
            log.begin(attempt_header(lead[0], label, attempt, self.setup.run_id))
        log.write(done.trace)
        self.logged.add(lead)
        return log

    def _settle(
        self,
        keys: list[Key],
        status: AttemptStatus,
        attempt: int = 0,
        started: dt.datetime | None = None,
        ended: dt.datetime | None = None,
        error: BaseException | None = None,
        next_retry_at: dt.datetime | None = None,
    ) -> None:
        """Record an attempt that wrote nothing, for each of `keys`."""
        now = ended or self.clock()
        nodes = [(k[0], k[1], self.state.planned[k].index) for k in keys]
        lead = self.state.leader[keys[0]]
        self.store.record_attempts(
            self.setup.run_id, nodes, attempt, started or now, now, status, error,
            self._logged(lead), next_retry_at,
        )  # fmt: skip

    def _count_checks(self, results: tuple[CheckResult, ...]) -> None:
        for r in results:
            slot = 0 if r.passed else (2 if r.severity == "error" else 1)
            self.check_counts[slot] += 1

    def _complete(self, key: Key, result: NodeResult) -> None:
        """A node settled: heard of, and what it blocks recorded `upstream_failed`."""
        blocked = self.state.complete(key, result)
        if self.on_result:
            self.on_result(result)
        if blocked:
            self._settle(blocked, AttemptStatus.UPSTREAM_FAILED)
            for down in blocked:
                if self.on_result:
                    self.on_result(self.state.results[down])

    def _unchanged(self, planned: PlannedNode) -> bool:
        """Early cutoff: every input the node would read has the version it was built from."""
        current = {(n, k): v for n, k, _, v in input_versions(planned, self.versions)}
        return current == dict(self.recorded.get(planned.node, {}))

    def _log_path(self, lead: Key) -> Path:
        """The task's log file, or that of the group it runs in."""
        return self.log_paths.get(lead) or self._log_file(self.state.members[lead])

    def _log_file(self, keys: list[Key]) -> Path:
        """The log file of a task (or group) of these nodes, named by its keys."""
        logs, run_id = self.setup.logs_dir, self.setup.run_id
        return node_log_path(logs, run_id, keys[0][0], keys[0][1], keys[-1][1])

    def _logged(self, lead: Key) -> str | None:
        return str(self._log_path(lead)) if lead in self.logged else None

    def _window_start(self, p: PlannedNode) -> dt.date | None:
        return self.defs.assets[p.node.asset].partitions.window(p.index)[0]

    def _result(self) -> RunResult:
        results, status, code, stopped_by = self.state.outcome()
        checks = (self.check_counts[0], self.check_counts[1], self.check_counts[2])
        warnings = tuple(dict.fromkeys(self.alerts.close(ALERT_CAP)))  # once each, in order
        return RunResult(
            self.setup.run_id, status, results, stopped_by, code, checks, warnings,
            tuple(self.reshaped), {k: tuple(v) for k, v in sorted(self.keys_added.items())},
        )  # fmt: skip


def _label(keys: list[Key]) -> str:
    """A task's partition, or its batch's (or group's) `first..last`."""
    return span_label(keys[0][1], keys[-1][1])


def _key(p: PlannedNode) -> Key:
    return p.node.asset, p.node.partition
