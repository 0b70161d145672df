"""`assetflow prune`, and the daily prune of a tick: history kept as the project's
`[tool.assetflow.retention]` says (store/retention.py has what is always kept)."""

from __future__ import annotations

import datetime as dt

from assetflow.app.session import Session
from assetflow.core.records import TickEvent
from assetflow.errors import WarehouseLockedError
from assetflow.run.runlog import prune as prune_logs
from assetflow.store.retention import Retention

DAILY = dt.timedelta(days=1)


def prune(session: Session, dry_run: bool = False, wait: float = 0.0) -> dict[str, int]:
    """Rows removed per metadata table, and `log folders` (a dry run removes nothing)."""
    settings = session.project.settings
    policy = Retention(settings.retention.history_days, settings.retention.keep_materializations)
    store = session.writer(wait)
    # Records and log folders are stamped by the clock (not by --now, which says what a
    # command is about).
    now = session.clock()
    removed = store.prune(policy, now, dry_run)
    logs = session.project.logs_dir
    removed["log folders"] = 0 if dry_run else prune_logs(logs, settings.log_retention_days, now)
    return removed


def prune_daily(session: Session, wait: float = 0.0) -> list[TickEvent]:
    """A tick's prune, at most once a day (by the tick's time); an event when it removed
    anything. A warehouse held by a run is left for the next tick."""
    try:
        store = session.writer(wait)
    except WarehouseLockedError:
        return []
    last = store.last_tick("prune", "retention")
    if last is not None and session.now - last < DAILY:
        return []
    removed = prune(session)
    summary = _summary(removed)
    store.record_ticks("prune", "retention", [session.now], None, summary, session.now)
    return [TickEvent("prune", "retention", summary)] if any(removed.values()) else []


def _summary(removed: dict[str, int]) -> str:
    found = [f"{n:,} {table}" for table, n in removed.items() if n]
    return "removed " + ", ".join(found) if found else "nothing to remove"
