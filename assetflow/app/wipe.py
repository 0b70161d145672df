"""`assetflow wipe`: delete partitions' rows and record them removed, in one transaction."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from assetflow.app.materialize import new_run_id
from assetflow.app.session import Request, Session
from assetflow.core.environments import PROD
from assetflow.core.partitions import DynamicPartitions, Partitions
from assetflow.core.planner import no_partitions
from assetflow.errors import PartitionKeyError, UsageError
from assetflow.store.wipe import wipe_partitions


@dataclass(frozen=True)
class Wipe:
    """What a wipe removes (or removed): per asset, the partitions that held data."""

    partitions: dict[str, tuple[str, ...]]  # asset -> keys, in partition order
    readers: tuple[str, ...]  # assets downstream of them, stale once they are gone
    run_id: str | None = None  # the wipe as recorded (trigger `wipe`); None until done
    rows: dict[str, int] | None = None  # rows deleted per asset

    @property
    def count(self) -> int:
        return sum(len(k) for k in self.partitions.values())


def wipe(
    session: Session, request: Request, confirm: Callable[[Wipe], bool], wait: float = 0.0
) -> Wipe:
    """Wipe the selected partitions that hold data, after `confirm(wipe)` agrees (it may
    raise to refuse). A dynamic key removed from its set is wiped when named by
    `--partition` (its rows stay until then)."""
    if session.project.env != PROD:
        raise UsageError(
            f"wipe works on prod's tables only (not environment {session.project.env}) for now",
            "drop and create the environment again to start it over from its parent",
        )
    if not request.selection:
        raise UsageError(
            "name the assets to wipe", "e.g. assetflow wipe daily_delays --partition 2013-01-05"
        )
    graph = session.graph
    names = graph.select(list(request.selection))
    store = session.writer(wait)
    found: dict[str, tuple[str, ...]] = {}
    for name in names:
        parts = graph.defs.assets[name].partitions
        keys = _selected_keys(name, parts, request, session)
        held = store.holding_data(name, keys)
        if held:
            found[name] = tuple(held)
    if not found:  # wiped already (a wipe run again changes nothing)
        return Wipe({}, ())
    readers = {d for a in found for d in graph.neighbourhood(a, False, True)} - set(found)
    planned = Wipe(found, tuple(n for n in graph.order if n in readers))
    if not confirm(planned):
        raise UsageError("cancelled: nothing was wiped")
    run_id = new_run_id()
    deleted = {a: session.tables.delete(a, keys, run_id) for a, keys in found.items()}
    elsewhere = {a: d for a, d in deleted.items() if d is not None} or None
    rows = wipe_partitions(store, run_id, dict(found), session.clock(), os.getpid(), elsewhere)
    return Wipe(found, planned.readers, run_id, rows)


def _selected_keys(name: str, parts: Partitions, request: Request, session: Session) -> list[str]:
    lo, hi = request.range_from, request.range_to
    keys = list(parts.keys_in(parts.indexes_between(lo, hi, session.now)))
    if not keys and isinstance(parts, DynamicPartitions) and lo is not None and lo == hi:
        try:  # a key removed from its set: no partition today, but maybe rows
            parts.index(lo)
            keys = [lo]
        except PartitionKeyError:
            pass
    if not keys and (lo or hi):  # a range outside the asset's partitions: a mistake
        raise no_partitions([name], lo, hi, f"its partitions: {parts.describe(session.now)}")
    return keys
