"""`python bench/run_w.py --profile`: where a node's time goes, assetflow against the floor.

Workload W at concurrency 1, once each, in this process. Every SQL statement a worker
thread runs is timed on its cursor and filed by what it does; the floor's four statements
per node are timed the same way. What is left of a task's time on its worker is Python
(calling the function, building the query, the task's bookkeeping); what is left of the
run's time outside its tasks is the main thread (planning, scheduling, recording attempts,
opening and closing the warehouse).
"""

from __future__ import annotations

import collections
import contextlib
import re
import time
from pathlib import Path
from typing import Any

import duckdb

STEPS = (
    ("BEGIN", "BEGIN"),
    ("DELETE", "DELETE the partition"),
    ("INSERT", "INSERT the rows (the asset's query runs here)"),
    ("RECORD", "record the materialization (data version, attempt, inputs)"),
    ("OTHER", "other SQL on the worker (binds, checks, views)"),
    ("COMMIT", "COMMIT"),
)


def kind(sql: str) -> str:
    head = sql.lstrip()[:60].upper()
    if head.startswith("BEGIN"):
        return "BEGIN"
    if head.startswith("COMMIT"):
        return "COMMIT"
    if head.startswith("DELETE FROM MAIN") or re.match(r"DELETE FROM \w+ WHERE", head):
        return "DELETE"
    if head.startswith("INSERT INTO MAIN") or re.match(r"INSERT INTO \w+ SELECT", head):
        return "INSERT"
    if head.startswith("INSERT INTO ASSETFLOW.MATERIALIZATIONS"):
        return "RECORD"
    return "OTHER"


class TimedCursor:
    """A cursor whose statements add their seconds to `spent[kind]`."""

    def __init__(self, cur: Any, spent: collections.Counter) -> None:
        self._cur, self._spent = cur, spent

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self._cur.execute(sql, *args, **kwargs)
        finally:
            self._spent[kind(sql)] += time.perf_counter() - started

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)


def profile_assetflow(run: Any, project: Path) -> tuple[collections.Counter, float, float]:
    """`run(project)` (a materialize at concurrency 1) with every worker statement timed:
    (seconds per step, seconds inside tasks, the run's seconds)."""
    from assetflow.run.embedded_worker import EmbeddedWorker

    spent: collections.Counter = collections.Counter()
    inside = [0.0]
    cursor, call = EmbeddedWorker._cursor, EmbeddedWorker.__call__

    @contextlib.contextmanager
    def timed_cursor(self: Any) -> Any:  # the worker's cursor (a context), its statements timed
        with cursor(self) as cur:
            yield TimedCursor(cur, spent)

    def timed_call(self: Any, task: Any) -> Any:
        started = time.perf_counter()
        try:
            return call(self, task)
        finally:
            inside[0] += time.perf_counter() - started

    EmbeddedWorker._cursor, EmbeddedWorker.__call__ = timed_cursor, timed_call
    try:
        seconds = run(project)
    finally:
        EmbeddedWorker._cursor, EmbeddedWorker.__call__ = cursor, call
    return spent, inside[0], seconds


def profile_floor(db: Path, statements: Any) -> collections.Counter:
    """The floor's statements (`statements(conn)` yields them in order), each timed."""
    spent: collections.Counter = collections.Counter()
    with duckdb.connect(str(db)) as conn:
        for sql in statements(conn):
            started = time.perf_counter()
            conn.execute(sql)
            spent[kind(sql)] += time.perf_counter() - started
    return spent


def report(
    nodes: int,
    spent: collections.Counter,
    inside: float,
    seconds: float,
    floor: collections.Counter,
) -> None:
    ms = 1000 / nodes
    sql = sum(spent.values())
    print(f"where a node's time goes, concurrency 1, {nodes} nodes (ms per node)")
    print(f"  {'step':<62} {'assetflow':>10} {'floor':>8}")
    for key, label in STEPS:
        print(f"  {label:<62} {spent[key] * ms:10.2f} {floor[key] * ms:8.2f}")
    print(f"  {'Python on the worker':<62} {(inside - sql) * ms:10.2f} {0:8.2f}")
    print(f"  {'the main thread (plan, schedule, attempts, open, close)':<62}"
          f" {(seconds - inside) * ms:10.2f} {0:8.2f}")  # fmt: skip
    print(f"  {'total':<62} {seconds * ms:10.2f} {sum(floor.values()) * ms:8.2f}")
