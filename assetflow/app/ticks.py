"""One tick: evaluate schedules, sensors, eager automation and SLAs once, and act.

`assetflow tick --now T` runs this once (cron-friendly, testable with a fixed clock);
`assetflow daemon` repeats it. Ticks are idempotent: tick history and sensor cursors live in
DuckDB, so the same tick twice triggers nothing twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from assetflow.app import api
from assetflow.app.config import Project
from assetflow.core.automation import (
    deadline,
    downstream_of,
    due_times,
    eager_targets,
    logical_range,
    sla_late,
)
from assetflow.core.graph import AssetGraph
from assetflow.core.intervals import Intervals
from assetflow.core.records import SlaMiss, TickEvent
from assetflow.core.specs import ScheduleSpec, SensorSpec
from assetflow.errors import AssetflowError
from assetflow.run.alerts import fire
from assetflow.run.clock import WALL, Clock
from assetflow.store.store import Store

SLA_LOOKBACK = dt.timedelta(days=7)
log = logging.getLogger("assetflow.tick")


def tick(
    project: Project, now: dt.datetime, concurrency: int | None = None, clock: Clock = WALL
) -> list[TickEvent]:
    """Act on everything due at `now`; runs use `clock` (a simulated one under --now)."""
    graph = api.load_graph(project)
    runs = _RunWith(concurrency, clock)
    events: list[TickEvent] = []
    for spec in graph.defs.schedules.values():
        events.extend(_schedule(project, spec, now, runs))
    for sensor in graph.defs.sensors.values():
        events.extend(_sensor(project, graph, sensor, now, runs))
    if any(s.automation == "eager" for s in graph.defs.assets.values()):
        events.extend(_eager(project, now, runs))
    if any(s.sla is not None for s in graph.defs.assets.values()):
        events.extend(_slas(project, now))
    return events


def _store(project: Project) -> Store:
    return Store.open(project.warehouse_path)


@dataclass(frozen=True)
class _RunWith:
    concurrency: int | None
    clock: Clock


def _run(
    project: Project, kind: str, name: str, now: dt.datetime, runs: _RunWith, **kwargs: object
) -> TickEvent:
    """Materialize for a tick; a failure is reported as an event, never raised."""
    request = kwargs.pop("request", api.Request())
    try:
        outcome = api.materialize(
            project, request, now, concurrency=runs.concurrency, clock=runs.clock, **kwargs
        )  # type: ignore[arg-type]
    except AssetflowError as exc:
        return TickEvent(kind, name, f"error: {exc.one_line()}")
    result = outcome.result
    if result is None:
        return TickEvent(kind, name, "nothing to do: all fresh")
    total, built, verified, failed, _ = result.counts()
    detail = f"{total} nodes: {built} materialized, {verified} verified, {failed} failed"
    return TickEvent(kind, name, detail, result.run_id, result.status)


def _schedule(
    project: Project, spec: ScheduleSpec, now: dt.datetime, runs: _RunWith
) -> list[TickEvent]:
    store = _store(project)
    try:
        times = due_times(spec, store.last_tick("schedule", spec.name), now)
    finally:
        store.close()
    if not times:
        return []
    graph = api.load_graph(project)
    try:
        assets = graph.select(list(spec.selection))
        window = logical_range(graph, assets, times, spec.timezone)
    except AssetflowError as exc:
        event = TickEvent("schedule", spec.name, f"error: {exc.one_line()}")
    else:
        if window is None:
            event = TickEvent("schedule", spec.name, "no completed window yet")
        else:
            lo, hi = window
            request = api.Request(spec.selection, lo or None, hi or None)
            event = _run(
                project, "schedule", spec.name, now, runs,
                request=request, trigger=f"schedule:{spec.name}",
                backfill=spec.catchup and len(times) > 1,
            )  # fmt: skip
            label = lo if lo == hi else f"{lo}..{hi}"
            event = TickEvent(
                "schedule", spec.name, f"{label}: {event.detail}", event.run_id, event.status
            )
    store = _store(project)
    try:
        store.record_ticks("schedule", spec.name, times, event.run_id, event.detail)
    finally:
        store.close()
    return [event]


def _sensor(
    project: Project,
    graph: AssetGraph,
    sensor: SensorSpec,
    now: dt.datetime,
    runs: _RunWith,
) -> list[TickEvent]:
    parts = graph.defs.sources[sensor.source].partitions
    every = Intervals.span(parts.first_index(), parts.last_index(now))
    observations = api.observe_all(project, graph, now, only={sensor.source: every})
    store = _store(project)
    try:
        changed = store.changed_observations(observations)
        store.record_observations(None, store.clock(), changed)  # the sensor's cursor
        store.record_ticks("sensor", sensor.name, [now], None, f"{len(changed)} changed")
    finally:
        store.close()
    if not changed:
        return []
    affected = downstream_of(graph, sensor.source, Intervals.points(o.index for o in changed), now)
    if sensor.selection:
        wanted = set(graph.select(list(sensor.selection)))
        affected = {a: i for a, i in affected.items() if a in wanted}
    if not affected:
        return [
            TickEvent("sensor", sensor.name, f"{len(changed)} files changed; nothing reads them")
        ]
    event = _run(
        project, "sensor", sensor.name, now, runs,
        targets=affected, trigger=f"sensor:{sensor.name}",
    )  # fmt: skip
    files = ", ".join(o.detail for o in changed[:3]) + (" ..." if len(changed) > 3 else "")
    return [
        TickEvent("sensor", sensor.name, f"{files}: {event.detail}", event.run_id, event.status)
    ]


def _eager(project: Project, now: dt.datetime, runs: _RunWith) -> list[TickEvent]:
    snap = api.status(project, api.Request(), now)
    targets = eager_targets(snap.graph, snap.report)
    if not targets:
        return []
    return [
        _run(project, "eager", "automation", now, runs, targets=targets, trigger="eager")
    ]  # fmt: skip


def _slas(project: Project, now: dt.datetime) -> list[TickEvent]:
    snap = api.status(project, api.Request(), now)
    late = sla_late(snap.graph, snap.report, now, SLA_LOOKBACK)
    events = []
    store = _store(project)
    try:
        for asset, spans in late.items():
            spec = snap.graph.defs.assets[asset]
            done = store.sla_alerted(asset)
            for index in spans:
                key = spec.partitions.key(index)
                if key in done:
                    continue
                miss = SlaMiss(
                    asset,
                    key,
                    deadline(snap.graph, asset, index),
                    snap.report.assets[asset].status(index),
                )
                problems = fire(snap.graph.defs.sla_hooks(asset), miss, log)
                store.record_sla_miss(asset, key, miss.deadline)
                events.append(
                    TickEvent("sla", asset, miss.text + "".join(f"; {p}" for p in problems))
                )
    finally:
        store.close()
    return events
