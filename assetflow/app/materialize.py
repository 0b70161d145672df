"""Materialize and backfill: plan the minimal set of nodes, then run it and record the run.

The Plan is data: `--dry-run` renders the very Plan that a run executes. A run's plan has
the input versions and the recorded inputs of conditional nodes already read, so nothing is
read again between planning and running; a dry run reads them only for `--nodes`, the
per-node listing that shows them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assetflow.app.session import Request, Session
from assetflow.app.state import Snapshot, take_snapshot
from assetflow.app.state import targets as select
from assetflow.core.alerts import RunSummary
from assetflow.core.graph import AssetGraph
from assetflow.core.intervals import Intervals
from assetflow.core.observations import each_observation
from assetflow.core.planner import Plan, check_sources, plan_materialize
from assetflow.core.records import (
    FORCED,
    FULL_REFRESH,
    AttemptStatus,
    Cause,
    NodeResult,
    Observation,
    RunResult,
    RunStatus,
    Trigger,
)
from assetflow.errors import AssetflowError, ExitCode, UsageError
from assetflow.run.alerts import ALERT_CAP
from assetflow.run.compute import Preview
from assetflow.run.runlog import NodeLog, captured_output, prune
from assetflow.run.snapshot import Publisher
from assetflow.store.lineage import recorded_inputs
from assetflow.store.shape import Reshape
from assetflow.store.store import Store

if TYPE_CHECKING:
    from assetflow.run.executor import RunSetup


@dataclass(frozen=True)
class RunOptions:
    dry_run: bool = False
    # A dry run's plan with every node, its inputs and (conditional ones) their recorded
    # versions: `--dry-run --nodes`. Without it a dry run holds the runs of partitions alone.
    per_node: bool = False
    force: bool = False  # plan every selected node, fresh or not
    full_refresh: bool = False  # rebuild each selected asset's table from empty, in one write
    upstream: bool = True  # add stale upstream nodes (else: an error names them)
    concurrency: int | None = None  # default: the project's
    wait: float = 0.0  # seconds to wait for another process to release the warehouse
    trigger: Trigger = Trigger("manual")
    backfill: bool = False  # oldest first, under a backfill id that a re-run resumes
    # Which selected nodes to plan: "stale" (every one not fresh), "missing", "failed",
    # "repair" (failed and missing) or "all" (fresh ones too, as `force`). Whatever upstream
    # they need that is not fresh is planned with them.
    only: str = "stale"
    executor: str | None = None  # "threads" or "dask"; default: the project's
    scheduler: str | None = None  # a Dask scheduler's address; default: the project's
    # The session ends with this run (a command's, the API's): it lets the warehouse go
    # before awaiting the run's alerts. (A tick's session goes on to record the tick.)
    release: bool = False
    # Await the run's alerts only when the session lets the warehouse go (a tick's runs:
    # the tick goes on recording; the result then lacks the alerts' own warnings).
    settle_on_close: bool = False


@dataclass(frozen=True)
class Listener:
    """What the caller hears of a run: `confirm(plan)` may decline it."""

    confirm: Callable[[Plan], bool] | None = None
    on_plan: Callable[[Plan], None] | None = None
    on_result: Callable[[NodeResult], None] | None = None


@dataclass(frozen=True)
class Outcome:
    graph: AssetGraph
    plan: Plan
    result: RunResult | None  # None for a dry run or an empty plan
    targets: dict[str, Intervals]
    backfill_id: str | None = None
    # The run that followed because this one added keys to dynamic key sets: their new
    # partitions, planned and run like any others.
    then: Outcome | None = None

    def selected_nodes(self) -> int:
        return sum(len(t) for t in self.targets.values())


def materialize(
    session: Session,
    request: Request,
    options: RunOptions = RunOptions(),
    listener: Listener = Listener(),
    targets: dict[str, Intervals] | None = None,
    rounds: int = 0,
) -> Outcome:
    """Make the request fresh with the minimal plan; run it unless `dry_run`. `targets`
    (asset -> partitions) replaces the request's selection and range (sensors, automation).
    A run whose assets added keys to dynamic key sets is followed by one for the request's
    new partitions (`Outcome.then`), up to KEY_ROUNDS times."""
    graph = session.graph
    follow = targets is None  # sensors and automation ask for exactly their targets
    if targets is None:  # bad selections fail before anything opens
        targets = select(session, request)
    store = session.reader() if options.dry_run else session.writer(options.wait)
    snap = take_snapshot(session, store, targets)
    if options.only not in ("stale", "all"):
        snap = dataclasses.replace(snap, targets=_only(snap, options.only))
    if options.backfill and (options.force or options.only == "all") and store is not None:
        snap = dataclasses.replace(snap, targets=_not_yet_rebuilt(snap, store, request))
    plan = plan_materialize(
        graph, snap.report, snap.targets, session.now, force=options.force or options.only == "all",
        upstream=options.upstream, range_from=request.range_from, range_to=request.range_to,
        refresh=frozenset(snap.targets) if options.full_refresh else frozenset(),
    )  # fmt: skip
    read = {source: set(keys) for source, keys in plan.source_keys().items()}
    observations = each_observation(snap.observations, read)  # the source windows it reads
    observed = {(o.source, o.partition): o.version for o in observations}
    check_sources(plan, graph, observed)
    if not options.dry_run or options.per_node:
        plan = _with_versions(plan, store, observed)
    if options.dry_run:
        plan = dataclasses.replace(
            plan,
            shape_changes=_shape_changes(session, plan, store),
            problems=_sql_problems(session, plan, store),
        )
    if options.dry_run or store is None or not plan.runs:
        return Outcome(graph, plan, None, snap.targets)
    if listener.confirm is not None and not listener.confirm(plan):
        raise UsageError("cancelled: nothing was run")
    if listener.on_plan:
        listener.on_plan(plan)
    backfill_id = _backfill_id(session, store, request) if options.backfill else None
    result, settle = _run(
        session, store, plan, observations, options, backfill_id, listener.on_result
    )
    more = follow and result.keys_added and result.exit_code == ExitCode.OK and rounds < KEY_ROUNDS
    if options.release and not more:  # the session's last run: the lock goes now, so that
        session.close()  # waiting for its alerts holds up no other writer
        result = settle()
    elif options.settle_on_close and not more:  # a tick's run: its session records more
        session.after_close(settle)  # first; its alerts are awaited once the lock is gone
    else:
        result = settle()
    then = None
    if more:
        session.forget_graph()  # the new keys are new partitions: plan again
        then = materialize(session, request, options, listener, rounds=rounds + 1)
    return Outcome(graph, plan, result, snap.targets, backfill_id, then)


def _only(snap: Snapshot, only: str) -> dict[str, Intervals]:
    """The targets narrowed to their failed and/or missing nodes (those alone, not the rest
    of the stale ones: what `backfill --only` and `repair` ask for)."""
    out = {}
    for asset, spans in snap.targets.items():
        st = snap.report.assets[asset]
        # As status shows them: a node never built whose last attempt failed is failed.
        wanted = (st.failed if only in ("failed", "repair") else Intervals()) | (
            st.missing - st.failed if only in ("missing", "repair") else Intervals()
        )
        if spans & wanted:
            out[asset] = spans & wanted
    return out


def _with_versions(
    plan: Plan, store: Store | None, observed: dict[tuple[str, str], str | None]
) -> Plan:
    """The plan with the versions its tasks record and its conditional nodes compare."""
    versions = dict(observed)
    if store is None:
        return plan.with_versions(versions, {})
    versions.update(store.current_versions(plan.read_spans()))
    return plan.with_versions(versions, recorded_inputs(store, plan.conditional_nodes()))


KEY_ROUNDS = 5  # runs that follow one another because each added keys


_MAY_RESHAPE = (Cause.CODE_CHANGED, Cause.SCHEMA_CHANGED, FORCED)


def _shape_changes(session: Session, plan: Plan, store: Store | None) -> tuple[str, ...]:
    """How the plan will change tables' columns, as far as a dry run can know: full
    refreshes, and SQL-only assets whose query, bound against the tables as they are now,
    returns other columns than their table has."""
    lines = []
    for asset, first in plan.first_nodes().items():
        spec = session.graph.defs.assets[asset]
        if first.reason == FULL_REFRESH:
            lines.append(f"{asset}: table rebuilt from empty; partitions not planned are removed")
            continue
        # Only new code (or a table that changed already) can return new columns: binding
        # every planned asset's query would cost a dry run ~1 ms an asset.
        if not spec.returns_sql or first.reason not in _MAY_RESHAPE or store is None:
            continue
        table = store.table_columns(asset)
        if not table:
            continue
        defs, root, today = session.graph.defs, session.project.root, session.now.date()
        schema = store.env.read_schema
        columns = Preview(
            spec, store.cursor(), defs, root, first, today, schema, store.env.name
        ).columns()
        reshape = Reshape.between(asset, table, columns or table)
        if reshape:
            lines.append(reshape.describe())
            removed = [c for c in table if c not in (columns or table)]
            if removed:  # its readers that use a removed column will fail: say so now
                from assetflow.app.columns import broken_readers

                lines += broken_readers(session, store, asset, removed)
    return tuple(lines)


def _sql_problems(session: Session, plan: Plan, store: Store | None) -> tuple[str, ...]:
    """The planned SQL assets whose query does not parse, one line each: the query of each
    asset's first planned node, parsed by DuckDB (a fraction of a millisecond; nothing is
    bound). A function that raises is left for the run to report."""
    import duckdb

    problems = []
    defs, root = session.graph.defs, session.project.root
    conn = store.cursor() if store is not None else duckdb.connect()
    schema = store.env.read_schema if store is not None else "main"
    env = session.project.env
    with conn:
        for asset, first in plan.first_nodes().items():
            spec = defs.assets[asset]
            if not spec.returns_sql:
                continue
            try:
                sql = Preview(spec, conn, defs, root, first, session.now.date(), schema, env).sql()
            except Exception:  # noqa: BLE001 - the run reports what the function raises
                continue
            try:
                conn.extract_statements(sql)
            except duckdb.ParserException as exc:
                first_line = str(exc).splitlines()[0]
                problems.append(f"{spec.where}: asset {asset}: SQL does not parse: {first_line}")
    return tuple(problems)


def _not_yet_rebuilt(snap: Snapshot, store: Store, request: Request) -> dict[str, Intervals]:
    """A forced backfill run again resumes it: its targets less the nodes its earlier runs
    rebuilt that are still fresh (the same command after an interrupt runs what is left)."""
    done = store.rebuilt_by_backfill(_selection(request), request.range_from, request.range_to)
    return {
        asset: spans - (done.get(asset, Intervals()) - snap.report.assets[asset].nonfresh)
        for asset, spans in snap.targets.items()
    }


def _backfill_id(session: Session, store: Store, request: Request) -> str:
    return store.backfill_for(
        _selection(request), request.range_from, request.range_to, new_run_id(), session.clock()
    )


def _selection(request: Request) -> str:
    """A backfill's selection as recorded (with its range, what names the backfill)."""
    return json.dumps(sorted(request.selection))


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def _run(
    session: Session,
    store: Store,
    plan: Plan,
    observed: list[Observation],  # the source partitions it reads, as observed for it
    options: RunOptions,
    backfill_id: str | None,
    on_result: Callable[[NodeResult], None] | None,
) -> tuple[RunResult, Callable[[], RunResult]]:
    """Record the run, execute the plan on the project's workers, record how it ended, fire
    its end's alerts. Returns the result and `settle()`, which awaits the alerts (up to
    ALERT_CAP) and OpenLineage's events and returns the result with their warnings: the
    caller may let the warehouse go first, since nothing there needs it."""
    # Imported here: a no-op or a dry run never executes (these imports cost it ~0.02 s).
    from assetflow.app.executors import open_workers
    from assetflow.app.lineage_events import lineage_events
    from assetflow.run.executor import RunSetup, execute

    project, clock, graph = session.project, session.clock, session.graph
    trigger = (
        Trigger("backfill")
        if options.backfill and options.trigger.kind == "manual"
        else options.trigger
    )
    run_id = new_run_id()
    setup = RunSetup(
        run_id=run_id,
        run_url=project.page_url(f"run/{run_id}"),
        pipeline=trigger.name or project.root.name,
        logs_dir=project.logs_dir,
        oldest_first=backfill_id is not None or options.only == "repair",
        group=project.settings.group_commit,
    )
    selection = json.dumps(
        {"assets": list(plan.assets), "from": plan.range_from, "to": plan.range_to}
    )
    events = lineage_events(session, store, setup.run_id)  # a bad config stops it here
    workers = open_workers(
        project, graph.defs, store, clock, options.concurrency, options.executor,
        options.scheduler,
    )  # fmt: skip
    session.after_close(workers.close)  # closed after the run below; this if it never starts
    setup = dataclasses.replace(setup, concurrency=workers.concurrency)
    with store.storage_guard():  # a disk already full: one line, nothing started
        store.start_run(
            setup.run_id, str(trigger), selection, clock(), os.getpid(), plan.size,
            backfill_id,
        )  # fmt: skip
        store.record_observations(setup.run_id, clock(), observed)
    publisher = _publisher(session, plan, setup.run_id)
    planned = {p.node: p for p in plan.nodes} if events else {}

    def on_node(node_result: NodeResult) -> None:
        publisher.advance(node_result.status, node_result.node.asset, node_result.node.partition)
        if events:
            events.settled(planned[node_result.node], node_result)
        if on_result:
            on_result(node_result)

    store.changes.trust()  # the run's commits journal what they touch (store/changes.py)
    try:
        with captured_output():
            result = execute(
                plan, graph.defs, setup, store, clock, workers.worker, on_node,
                on_start=events.started if events else None,
            )  # fmt: skip
    except BaseException as exc:  # a full disk, or a bug of ours: not left "running"
        problem = store.storage_problem(exc)  # recording a node's end found the disk full
        with store.storage_guard():  # counted from what the run recorded
            message = problem.one_line() if problem else repr(exc)
            store.finish_run(setup.run_id, RunStatus.FAILED, clock(), None, message)
        if problem is not None:
            raise problem from None
        raise
    finally:
        store.changes.untrusted()
        workers.close()
        session.after_close(publisher.close)  # readers answer from it until the lock goes
    if store.replaced():  # someone deleted or replaced the file while the run wrote to it
        raise AssetflowError(
            f"warehouse {store.path} was deleted or replaced during run {setup.run_id}:"
            " what the run wrote went with the old file",
            "restore the file, or materialize again to rebuild it",
        )
    with store.storage_guard():  # a disk that filled up: one line, not a traceback
        store.finish_run(setup.run_id, result.status, clock(), result.counts(), result.message)
        store.refresh_nodes()
    publisher.publish(force=True)  # the last progress, whatever the throttle dropped
    run_log = _alert_run_end(session, setup, result)

    def settle() -> RunResult:
        problems = setup.alerts.close(ALERT_CAP)
        run_log.close()
        problems += (events.close() if events else []) + workers.notes
        prune(project.logs_dir, project.settings.log_retention_days, clock(), keep=setup.run_id)
        return dataclasses.replace(
            result, warnings=tuple(dict.fromkeys([*result.warnings, *problems]))
        )

    return result, settle


def _publisher(session: Session, plan: Plan, run_id: str) -> Publisher:
    """The run's progress, which other processes read while this run holds the warehouse."""
    payload = {
        "run_id": run_id,
        "pid": os.getpid(),
        "started_at": session.clock(),
        "planned": plan.size,
    }
    return Publisher(session.project.warehouse_path, payload, session.clock)


def _alert_run_end(session: Session, setup: RunSetup, result: RunResult) -> NodeLog:
    """Fire the run's end hooks into its deliveries (awaited by `settle`); those that fail
    say so in the returned run.log, which the caller closes once they are done."""
    _, built, verified, failed, not_run = result.counts()
    errors = tuple(
        f"{r.node}: {r.error}" for r in result.results if r.status == AttemptStatus.FAILED
    )
    summary = RunSummary(
        setup.pipeline, setup.run_id, result.status, built, verified, failed, not_run, errors,
        setup.run_url,
    )  # fmt: skip
    defaults = session.graph.defs.defaults
    hooks = defaults.on_run_end
    if result.status != RunStatus.SUCCESS:
        hooks += defaults.on_run_failure
    run_log = NodeLog(setup.logs_dir / setup.run_id / "run.log", session.clock)
    setup.alerts.submit(hooks, summary, run_log.logger)
    return run_log
