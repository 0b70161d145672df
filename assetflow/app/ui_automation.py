"""The web page's automation view: schedules with their next ticks, sensors with their last
ticks and cursors, the tick history, SLA misses and what is late now, the latest backfill's
progress. Read-only, as of the last commit (it answers during a run)."""

from __future__ import annotations

from typing import Any

from assetflow.app import queries
from assetflow.app.session import Session
from assetflow.app.state import Snapshot
from assetflow.app.ui_data import Snapshots
from assetflow.core.automation import next_ticks
from assetflow.errors import SelectionError


def automation(session: Session, snapshots: Snapshots) -> dict[str, Any]:
    """Everything the view shows, in one answer (`snapshots`: the page's kept status)."""
    defs, store = session.graph.defs, session.reader()

    def last(kind: str, name: str) -> Any:
        return store.last_tick(kind, name) if store is not None else None

    schedules = [
        {"name": s.name, "cron": s.cron, "timezone": s.timezone, "catchup": s.catchup,
         "selection": list(s.selection), "last_tick": last("schedule", s.name),
         "next_ticks": next_ticks(s, session.now)}
        for s in defs.schedules.values()
    ]  # fmt: skip
    sensors = []
    for s in defs.sensors.values():
        at, seen = store.sensor_cursor(s.source) if store is not None and s.source else (None, 0)
        sensors.append(
            {"name": s.name, "watches": s.source or f"{s.pattern} -> {s.key_set}",
             "last_tick": last("sensor", s.name), "cursor_at": at, "cursor_partitions": seen}
        )  # fmt: skip
    snap: Snapshot = snapshots(session)
    late_now = snap.late()  # the SLA deadlines walked once
    late = {
        asset: defs.assets[asset].partitions.compact(spans)
        for asset, spans in late_now.items()
        if spans
    }
    return {
        "now": session.now,
        "schedules": schedules,
        "sensors": sensors,
        "ticks": store.recent_ticks() if store is not None else [],
        "sla_misses": store.recent_sla_misses() if store is not None else [],
        "late": late,
        "late_count": sum(len(s) for s in late_now.values()),
        "backfill": _latest_backfill(session),
    }


def _latest_backfill(session: Session) -> dict[str, object] | None:
    try:
        progress = queries.backfill_status(session, None)
    except SelectionError:  # none yet
        return None
    return progress.as_json()
