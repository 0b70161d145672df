"""One tick: evaluate schedules, sensors, eager automation and SLAs once, and act.

`assetflow tick --now T` runs this once (cron-friendly, testable with a fixed clock);
`assetflow daemon` repeats it. Ticks are idempotent: tick history and sensor cursors live in
DuckDB, so the same tick twice triggers nothing twice. A tick is one Session: the
definitions are loaded once and the warehouse is opened once, for writing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from assetflow.app.materialize import Listener, RunOptions, materialize
from assetflow.app.queries import status
from assetflow.app.retention import prune_daily
from assetflow.app.session import Request, Session
from assetflow.app.state import observe_all
from assetflow.core.alerts import SlaMiss
from assetflow.core.automation import (
    deadline,
    downstream_of,
    due_times,
    eager_targets,
    logical_range,
    no_window_note,
    sla_late,
)
from assetflow.core.intervals import Intervals
from assetflow.core.observations import each_observation
from assetflow.core.partitions import check_key
from assetflow.core.records import Observation, TickEvent, Trigger
from assetflow.core.specs import ScheduleSpec, SensorSpec
from assetflow.errors import AssetflowError
from assetflow.run.alerts import fire

SLA_LOOKBACK = dt.timedelta(days=7)
log = logging.getLogger("assetflow.tick")


def tick(session: Session, concurrency: int | None = None, wait: float = 0.0) -> list[TickEvent]:
    """Act on everything due at the session's now, waiting up to `wait` seconds for a run
    that holds the warehouse."""
    graph = session.graph
    defs = graph.defs
    if defs.schedules or defs.sensors or any(s.automation or s.sla for s in defs.assets.values()):
        session.writer(wait)  # once, for every step of the tick
    events: list[TickEvent] = []
    for spec in graph.defs.schedules.values():
        events.extend(_schedule(session, spec, concurrency))
    for sensor in graph.defs.sensors.values():
        events.extend(_sensor(session, sensor, concurrency))
    if any(s.automation == "eager" for s in graph.defs.assets.values()):
        events.extend(_eager(session, concurrency))
    if any(s.sla is not None for s in graph.defs.assets.values()):
        events.extend(_slas(session))
    if session.project.settings.retention.daily and session.project.warehouse_path.exists():
        events.extend(prune_daily(session, wait))
    return events


def _run(
    session: Session,
    kind: str,
    name: str,
    trigger: Trigger,
    concurrency: int | None,
    request: Request | None = None,
    targets: dict[str, Intervals] | None = None,
    backfill: bool = False,
) -> TickEvent:
    """Materialize for a tick; a failure is reported as an event, never raised."""
    options = RunOptions(
        concurrency=concurrency, trigger=trigger, backfill=backfill, settle_on_close=True
    )
    try:
        outcome = materialize(session, request or Request(), options, Listener(), targets)
    except AssetflowError as exc:
        return TickEvent(kind, name, f"error: {exc.one_line()}", error=True)
    result = outcome.result
    if result is None:
        return TickEvent(kind, name, "nothing to do: all fresh")
    total, built, verified, failed, _ = result.counts()
    nodes = "1 node" if total == 1 else f"{total} nodes"
    detail = f"{nodes}: {built} materialized, {verified} verified, {failed} failed"
    return TickEvent(kind, name, detail, result.run_id, result.status)


def _schedule(session: Session, spec: ScheduleSpec, concurrency: int | None) -> list[TickEvent]:
    store = session.writer()
    times = due_times(spec, store.last_tick("schedule", spec.name), session.now)
    if not times:
        return []
    graph = session.graph
    try:
        assets = graph.select(list(spec.selection))
        window = logical_range(graph, assets, times, spec.timezone)
    except AssetflowError as exc:
        event = TickEvent("schedule", spec.name, f"error: {exc.one_line()}", error=True)
    else:
        if window is None:
            note = no_window_note(graph, assets, times, spec.timezone)
            event = TickEvent("schedule", spec.name, note)
        else:
            lo, hi = window
            request = Request(spec.selection, lo or None, hi or None)
            event = _run(
                session, "schedule", spec.name, Trigger("schedule", spec.name), concurrency,
                request=request, backfill=spec.catchup and len(times) > 1,
            )  # fmt: skip
            label = lo if lo == hi else f"{lo}..{hi}"
            event = dataclasses.replace(event, detail=f"{label}: {event.detail}")
    store.record_ticks("schedule", spec.name, times, event.run_id, event.detail, session.clock())
    return [event]


def _sensor(session: Session, sensor: SensorSpec, concurrency: int | None) -> list[TickEvent]:
    if sensor.key_set is not None:
        return _key_sensor(session, sensor, concurrency)
    graph, now = session.graph, session.now
    parts = graph.defs.sources[sensor.source].partitions
    every = parts.universe(now)
    observations = each_observation(observe_all(session, only={sensor.source: every}))
    store = session.writer()
    changed = store.changed_observations(observations)
    store.record_ticks(
        "sensor", sensor.name, [now], None, f"{len(changed)} changed", session.clock()
    )
    if not changed:
        return []
    events = _sensed(session, sensor, changed, concurrency)
    # The trigger is consumed only now that its work has run: a tick killed before this
    # line leaves the files "changed", and the next tick runs what is still stale.
    store.record_observations(None, session.clock(), changed)
    return events


def _key_sensor(session: Session, sensor: SensorSpec, concurrency: int | None) -> list[TickEvent]:
    """New files or folders matching the pattern become keys; their partitions are run."""
    assert sensor.key_set is not None and sensor.pattern is not None
    found = sorted({path.stem for path in session.project.root.glob(sensor.pattern)})
    keys = [k for k in found if _usable_key(k)]
    store = session.writer()
    added = store.change_keys(sensor.key_set, keys, True, session.clock())
    store.record_ticks(
        "sensor", sensor.name, [session.now], None, f"{len(added)} new keys", session.clock()
    )
    if not added:
        return []
    session.forget_graph()  # the new keys' partitions exist now
    defs = session.graph.defs
    users = [a for a in defs.partitioned_by(sensor.key_set) if a in defs.assets]
    request = Request(sensor.selection or tuple(f"{a}+" for a in users))  # and their readers
    trigger = Trigger("sensor", sensor.name)
    return [_run(session, "sensor", sensor.name, trigger, concurrency, request=request)]


def _usable_key(key: str) -> bool:
    try:
        check_key(key)
    except AssetflowError:
        log.warning("not a partition key: %r", key)
        return False
    return True


def _sensed(
    session: Session, sensor: SensorSpec, changed: list[Observation], concurrency: int | None
) -> list[TickEvent]:
    """Run what reads the changed partitions of the sensor's source."""
    graph, now = session.graph, session.now
    affected = downstream_of(graph, sensor.source, Intervals.points(o.index for o in changed), now)
    if sensor.selection:
        wanted = set(graph.select(list(sensor.selection)))
        affected = {a: i for a, i in affected.items() if a in wanted}
    if not affected:
        return [
            TickEvent("sensor", sensor.name, f"{len(changed)} files changed; nothing reads them")
        ]
    trigger = Trigger("sensor", sensor.name)
    event = _run(session, "sensor", sensor.name, trigger, concurrency, targets=affected)
    files = ", ".join(o.detail for o in changed[:3]) + (" ..." if len(changed) > 3 else "")
    return [dataclasses.replace(event, detail=f"{files}: {event.detail}")]


def _eager(session: Session, concurrency: int | None) -> list[TickEvent]:
    snap = status(session, Request())
    targets = eager_targets(snap.graph, snap.report)
    if not targets:
        return []
    return [_run(session, "eager", "automation", Trigger("eager"), concurrency, targets=targets)]


def _slas(session: Session) -> list[TickEvent]:
    now = session.now
    snap = status(session, Request())
    late = sla_late(snap.graph, snap.report, now, SLA_LOOKBACK)
    events = []
    store = session.writer()
    for asset, spans in late.items():
        spec = snap.graph.defs.assets[asset]
        done = store.sla_alerted(asset)
        for index in spans:
            key = spec.partitions.key(index)
            if key in done:
                continue
            st = snap.report.assets[asset]
            url = session.project.page_url(f"asset/{asset}")
            miss = SlaMiss(asset, key, deadline(snap.graph, asset, index), st.status(index), url)
            problems = fire(snap.graph.defs.sla_hooks(asset), miss, log)
            store.record_sla_miss(asset, key, miss.deadline, session.clock())
            events.append(TickEvent("sla", asset, miss.text + "".join(f"; {p}" for p in problems)))
    return events
