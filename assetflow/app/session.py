"""One Session per command: the project, the clock and the command's "now", the definitions
and graph (loaded once), and at most one open warehouse connection.

Every use case (materialize, status, why, backfill, tick, checks, runs) takes a Session. Time
enters here from the edge: `now` is what the command is about (`--now`, or the wall clock
when it started), `clock` stamps what it records.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from assetflow.app.config import Project
from assetflow.app.tables import AssetTables, asset_tables
from assetflow.core.automation import check_automation
from assetflow.core.calendar import key_span
from assetflow.core.environments import PROD, chain_of
from assetflow.core.graph import AssetGraph
from assetflow.defs.loader import load_definitions
from assetflow.errors import PartitionKeyError
from assetflow.run import snapshot
from assetflow.run.clock import Clock
from assetflow.store.read_session import READ_WINDOW
from assetflow.store.store import Store

READER_WAIT = 10.0  # seconds a writer waits for a process that is not running a run


@dataclass(frozen=True)
class Request:
    """What to act on: asset patterns and an inclusive key range (None = unbounded)."""

    selection: tuple[str, ...] = ()
    range_from: str | None = None
    range_to: str | None = None


class Session:
    def __init__(
        self,
        project: Project,
        clock: Clock,
        now: dt.datetime | None = None,
        graph: AssetGraph | None = None,
    ) -> None:
        """`graph`: definitions already loaded (the web page keeps them between requests
        while `definitions_stamp` stays the same)."""
        self.project = project
        self.clock = clock
        self.now = now if now is not None else clock()
        self._graph: AssetGraph | None = graph
        self._store: Store | None = None
        self._writable = False
        self._has_schema = False  # the open store holds assetflow's tables (asked once)
        self._after_close: list[Callable[[], object]] = []
        self.adopted: list[str] = []  # Delta commits recorded on opening for writing

    @property
    def graph(self) -> AssetGraph:
        """The definitions, loaded on first use and once per session."""
        if self._graph is None:
            defs = load_definitions(self.project.definitions_dir).for_env(self.project.env)
            names = defs.dynamic_names()
            if names:  # dynamic partitions: their keys as the warehouse holds them now
                store = self._store or self.reader()
                defs = defs.with_keys(store.keysets(names) if store else {})
            graph = AssetGraph(defs)
            check_automation(graph)
            self._graph = graph
        return self._graph

    def forget_graph(self) -> None:
        """Load the definitions (and dynamic keys) again on next use."""
        self._graph = None

    def reader(self, wait: float = 0.0) -> Store | None:
        """The warehouse to read (the open one, else opened read-only), or None when there
        is none yet. Raises WarehouseLockedError while another process writes it (after
        `wait` seconds)."""
        if self._store is None:
            path = self.project.warehouse_path
            if not path.exists():
                return None
            self._store = Store.for_reading(path, max(wait, READ_WINDOW))
            if self._store.served_by is None:  # the holder's session has the tables attached
                self.tables.attach(self._store, self._asset_names)
            self._has_schema = self._store.has_schema()  # asked once on opening
            if not self._has_schema:
                if self.project.env != PROD:
                    chain_of(self.project.env, {})  # an empty warehouse has no environments
                return None
            self._store.use_env(self.project.env)
            return self._store
        return self._store if self._writable or self._has_schema else None

    @property
    def served(self) -> bool:
        """Whether this session reads through the process holding the warehouse."""
        return self._store is not None and self._store.served_by is not None

    def writer(self, wait: float = 0.0) -> Store:
        """The warehouse opened for writing, once per session. Holding the only write lock,
        it marks runs left `running` by a dead process abandoned and merges their lineage.

        Another process holding it is waited for up to `wait` seconds; one that is not
        running a run (a read, a short write) for at least READER_WAIT seconds, since it
        will let go soon; a run in progress is not waited for unless asked."""
        if self._store is not None and self._writable:
            return self._store
        self.close()
        path = self.project.warehouse_path
        if wait > 0:
            store = Store.open(path, read_only=False, wait=wait)
        else:  # a run holding it is said at once
            store = Store.open(path, wait=READER_WAIT, give_up=_run_in_progress(path))
        self._store, self._writable = store, True
        with store.storage_guard():  # a full disk is one line from the first write on
            # Remote tables registered first: the views use_env makes read them. (What
            # opened() adopts or finishes is registered again as its views are refreshed.)
            self.tables.attach(store, self._asset_names)
            store.use_env(self.project.env, writing=True)
            store.serve_reads()
            store.abandon_dead_runs(self.clock())
            self.adopted = self.tables.opened(store, self._asset_names, self.clock)
            store.refresh_nodes()
        return store

    @functools.cached_property
    def tables(self) -> AssetTables:
        """Where the project's asset tables live (the warehouse file, Delta Lake)."""
        return asset_tables(self.project)

    def _asset_names(self) -> list[str]:
        return sorted(self.graph.defs.assets)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
        self._store, self._writable, self._has_schema = None, False, False
        while self._after_close:  # what must outlive the lock (a run's alerts, its workers)
            self._after_close.pop()()

    def after_close(self, action: Callable[[], object]) -> None:
        """Do `action` once the warehouse is closed (the lock released)."""
        self._after_close.append(action)

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _run_in_progress(path: Path) -> Callable[[], bool]:
    """Whether a live run holds the warehouse at `path` (it publishes a read snapshot)."""
    return lambda: snapshot.read(path) is not None


def definitions_stamp(project: Project) -> tuple[object, ...]:
    """What loaded definitions (and a status read from them) depend on: each definitions
    file's modification time, and the warehouse's and its write-ahead log's (dynamic
    partitions' keys and every write live there)."""
    files = sorted(project.definitions_dir.rglob("*.py"))
    stamps: list[object] = [(str(f), f.stat().st_mtime_ns) for f in files]
    for path in (project.warehouse_path, project.warehouse_path.with_name(
        project.warehouse_path.name + ".wal"
    )):  # fmt: skip
        if path.exists():
            stamps.append((path.name, path.stat().st_mtime_ns, path.stat().st_size))
    return tuple(stamps)


def resolve_range(
    project: Project, partition: str | None, range_from: str | None, range_to: str | None
) -> tuple[str | None, str | None]:
    """The key range a command covers: --partition, else --from/--to, else the config."""
    if partition is not None:
        if range_from is not None or range_to is not None:
            raise PartitionKeyError("give either --partition or --from/--to, not both")
        range_from = range_to = partition
    elif range_from is None and range_to is None:
        range_from, range_to = project.settings.range_from, project.settings.range_to
    if (
        range_from
        and range_to
        and _is_time_key(range_from)
        and _is_time_key(range_to)
        and key_span(range_to)[0] < key_span(range_from)[0]
    ):
        raise PartitionKeyError(f"--to {range_to} is before --from {range_from}")
    return range_from, range_to


def _is_time_key(text: str) -> bool:
    """A key of a time unit (a static key is checked against each asset's keys instead)."""
    try:
        key_span(text)
    except PartitionKeyError:
        return False
    return True
