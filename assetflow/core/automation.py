"""Schedules, sensors and SLAs: what a tick should do at a given moment. Pure: no I/O.

A schedule's tick at cron time t materializes the last window completed by t (its logical
date): a daily schedule at `0 3 * * *` ticking on 2013-03-16 targets 2013-03-15. Catchup is
off by default: after a pause only the latest window runs.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from assetflow.core.graph import AssetGraph
from assetflow.core.intervals import Intervals
from assetflow.core.multi import TIME_SIZE
from assetflow.core.partitions import MultiPartitions, Partitions, TimePartitions
from assetflow.core.specs import AssetSpec, ScheduleSpec, SensorSpec
from assetflow.core.status import StatusReport
from assetflow.errors import AssetflowError, DefinitionError


def due_times(spec: ScheduleSpec, last: dt.datetime | None, now: dt.datetime) -> list[dt.datetime]:
    """Cron times (naive UTC) a tick at `now` must act on, given the last one acted on."""
    from croniter import croniter  # imported when a schedule is evaluated, not by `status`

    zone = ZoneInfo(spec.timezone)
    local_now = now.replace(tzinfo=dt.UTC).astimezone(zone)
    latest = croniter(spec.cron, local_now + dt.timedelta(microseconds=1)).get_prev(dt.datetime)
    latest_utc = _utc(latest)
    if last is not None and latest_utc <= last:
        return []
    if last is None or not spec.catchup:
        return [latest_utc]
    start = last.replace(tzinfo=dt.UTC).astimezone(zone)
    times, it = [], croniter(spec.cron, start)
    while (t := _utc(it.get_next(dt.datetime))) <= latest_utc:
        times.append(t)
    return times


def next_ticks(spec: ScheduleSpec, now: dt.datetime, count: int = 3) -> list[dt.datetime]:
    """The schedule's next `count` cron times after `now` (naive UTC)."""
    from croniter import croniter

    it = croniter(spec.cron, now.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(spec.timezone)))
    return [_utc(it.get_next(dt.datetime)) for _ in range(count)]


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def check_automation(graph: AssetGraph) -> None:
    """Every schedule's and sensor's selection matches assets, and a schedule's assets share
    one partitioning: a mistake here fails at load, not when the schedule fires."""
    specs: list[ScheduleSpec | SensorSpec] = [
        *graph.defs.schedules.values(),
        *graph.defs.sensors.values(),
    ]
    for spec in specs:
        kind = "schedule" if isinstance(spec, ScheduleSpec) else "sensor"
        try:
            assets = graph.select(list(spec.selection))  # none selected: every asset
            if isinstance(spec, ScheduleSpec) and assets:
                schedule_partitions(graph, assets)
        except AssetflowError as exc:
            raise DefinitionError(f"{spec.where}: {kind} {spec.name}: {exc.one_line()}") from None


def schedule_partitions(graph: AssetGraph, assets: list[str]) -> Partitions:
    """The partitioning a schedule's assets share (unpartitioned ones go along)."""
    units = {graph.defs.assets[a].partitions.identity for a in assets} - {"none"}
    if len(units) > 1:
        raise DefinitionError(
            f"a schedule's assets must share one partitioning, got {', '.join(sorted(units))}"
        )
    parts = graph.defs.assets[assets[0]].partitions
    for a in assets:
        if graph.defs.assets[a].partitions.is_partitioned:
            parts = graph.defs.assets[a].partitions
    return parts


def logical_range(
    graph: AssetGraph, assets: list[str], tick_times: list[dt.datetime], zone: str
) -> tuple[str, str] | None:
    """The key range of the windows completed by the given ticks (their logical dates),
    in the partitioning the selected assets share; None if no window completed yet."""
    parts = schedule_partitions(graph, assets)
    time = parts.time_axis  # a multi partitioning's time dimension, for every key
    if not isinstance(time, TimePartitions):  # a whole table, or keys: everything, every tick
        return ("", "")
    parts = time
    keys = []
    for t in tick_times:
        index = parts.index_at(t, zone) - 1  # the last window completed by t
        if parts.first_index() <= index and (parts.last is None or index <= parts.last_index(t)):
            keys.append(parts.key(index))
    if not keys:
        return None
    return min(keys), max(keys)


def no_window_note(
    graph: AssetGraph, assets: list[str], tick_times: list[dt.datetime], zone: str
) -> str:
    """Why ticks found no window to run (logical_range gave None): not completed yet, or
    past the partitions' declared end."""
    time = schedule_partitions(graph, assets).time_axis
    index = time.index_at(max(tick_times), zone) - 1 if time else 0
    if isinstance(time, TimePartitions) and time.last is not None and index > time.last:
        return (
            f"the window {time.key(index)} is past the partitions' end"
            f" ({time.key(time.last)}): nothing to run"
        )
    return "no completed window yet"


def downstream_of(
    graph: AssetGraph, source: str, changed: Intervals, now: dt.datetime
) -> dict[str, Intervals]:
    """Every asset node that reads the changed source partitions, directly or not."""
    affected: dict[str, Intervals] = {source: changed}
    for asset in graph.order:
        readers = graph.readers_of(asset, affected, now)
        if readers:
            affected[asset] = readers
    affected.pop(source)
    return affected


def eager_targets(graph: AssetGraph, report: StatusReport) -> dict[str, Intervals]:
    """Nodes of `automation="eager"` assets whose inputs have new data."""
    out = {}
    for asset, spec in graph.defs.assets.items():
        if spec.automation == "eager":
            changed = report.assets[asset].upstream_changed - report.assets[asset].failed
            if changed:
                out[asset] = changed
    return out


def sla_late(
    graph: AssetGraph, report: StatusReport, now: dt.datetime, lookback: dt.timedelta
) -> dict[str, Intervals]:
    """Nodes past their SLA deadline and not fresh, with deadlines in the lookback."""
    out = {}
    for asset, spec in graph.defs.assets.items():
        parts = spec.partitions
        time = parts.time_axis
        if spec.sla is None or time is None:
            continue
        st = report.assets[asset]
        if isinstance(parts, MultiPartitions):  # the time dimension's deadlines, every key
            due_t = _deadline_span(graph, asset, now, lookback, time.universe(now))
            due = Intervals.of(
                (lo - lo % TIME_SIZE + due_t.start, lo - lo % TIME_SIZE + due_t.stop - 1)
                for lo, _ in st.universe.spans
            )
        else:
            span = _deadline_span(graph, asset, now, lookback, st.universe)
            due = Intervals.span(span.start, span.stop - 1)  # a million windows: one span
        late = st.nonfresh & due
        if late:
            out[asset] = late
    return out


def deadline(graph: AssetGraph, asset: str, index: int) -> dt.datetime:
    """When a partition must be fresh: `sla` after the data is due. The data is due at the
    first tick, at or after the window's end, of a schedule that builds the asset (an
    Airflow-style SLA counts from the scheduled run), or at the window's end if none does."""
    return _deadline(graph.defs.assets[asset], index, _schedules_building(graph, asset))


def _deadline(spec: AssetSpec, index: int, schedules: list[ScheduleSpec]) -> dt.datetime:
    assert spec.sla is not None
    end = spec.partitions.start_utc(index + 1)
    return min((_first_tick_from(s, end) for s in schedules), default=end) + spec.sla


def _schedules_building(graph: AssetGraph, asset: str) -> list[ScheduleSpec]:
    found = []
    for spec in graph.defs.schedules.values():
        try:
            if asset in graph.select(list(spec.selection)):
                found.append(spec)
        except AssetflowError:  # a bad selection is reported by the schedule's own tick
            continue
    return found


def _first_tick_from(spec: ScheduleSpec, moment: dt.datetime) -> dt.datetime:
    from croniter import croniter

    local = moment.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(spec.timezone))
    return _utc(croniter(spec.cron, local - dt.timedelta(microseconds=1)).get_next(dt.datetime))


def _deadline_span(
    graph: AssetGraph, asset: str, now: dt.datetime, lookback: dt.timedelta, universe: Intervals
) -> range:
    """Indexes whose deadline lies in (now - lookback, now]; deadlines grow with the index."""
    if not universe:
        return range(0)
    spec = graph.defs.assets[asset]
    parts, sla = spec.partitions, spec.sla
    assert sla is not None
    schedules = _schedules_building(graph, asset)  # once, not per deadline
    lo, hi = universe.spans[0][0], universe.spans[-1][1]
    last = min(hi, parts.index_at(now - sla))
    while last >= lo and _deadline(spec, last, schedules) > now:
        last -= 1
    first = max(lo, parts.index_at(now - lookback - sla) - 1)
    while first <= last and _deadline(spec, first, schedules) <= now - lookback:
        first += 1
    return range(first, last + 1)
