"""The state store: opens the warehouse (one writer), and records runs, attempts, ticks,
check results, observations and the `nodes` index of latest materializations.

With schema.py (the DDL and its upgrades), writer.py (a partition's data and lineage, one
transaction) and lineage.py (the read side), the only modules that touch assetflow's
metadata schema.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import duckdb

from assetflow.core.environments import (
    PROD,
    Env,
    chain_of,
    check_new_name,
    children,
    split_table,
)
from assetflow.core.records import (
    AttemptStatus,
    NodeWrite,
    Observation,
    RunStatus,
    Written,
)
from assetflow.errors import EnvError, StorageError
from assetflow.store import environments
from assetflow.store.changes import Changes
from assetflow.store.connect import connect, file_identity, storage_error
from assetflow.store.facts import merge_nodes
from assetflow.store.keysets import add_keys, remove_keys
from assetflow.store.live_facts import LiveFacts
from assetflow.store.published import adopt, refresh_view
from assetflow.store.read_session import ServedConnection, open_for_reading
from assetflow.store.reader import SHARING, StateReader
from assetflow.store.retention import Retention
from assetflow.store.retention import prune as prune_rows
from assetflow.store.reuse import copy_reused, reusable
from assetflow.store.rows import Checked, RowInserter
from assetflow.store.run_counts import RUN_COUNTS
from assetflow.store.schema import HAS_SCHEMA
from assetflow.store.served import ReadServer
from assetflow.store.views import refresh_env_view, sync_env_views
from assetflow.store.writer import PartitionWriter

ROOM = 1 << 20  # bytes set aside while a run writes, to record its end on a full disk


class Store(StateReader):
    """One DuckDB connection to the warehouse, held for a whole command: what a reader
    asks (`StateReader`), and what a run, a tick or a sensor records."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._identity = file_identity(path)
        self.rows = RowInserter()
        self._attached: dict[str, Any] = {}  # name -> Arrow data readable by queries
        self.changes = Changes()  # what a run's commits touched (the status it serves)
        self.writer = PartitionWriter(self.rows, changes=self.changes)
        self._serving: ReadServer | None = None
        self._live: LiveFacts | None = None
        self.served_by: int | None = None  # the holder's pid, when read through its session
        self.shares_work = False
        self.lineage_views: Callable[[], None] | None = None  # lineage.py makes them if asked

    @classmethod
    def open(
        cls,
        path: Path,
        read_only: bool = False,
        wait: float = 0.0,
        give_up: Callable[[], bool] | None = None,
    ) -> Store:
        """Open the warehouse (see connect.connect): read-only for commands that only look."""
        return cls(connect(path, read_only, wait, give_up), path)

    @classmethod
    def for_reading(cls, path: Path, wait: float) -> Store:
        """The warehouse opened read-only or, while another process holds it, read through a
        session of that process (store/read_session.py). Only reads: the holder refuses
        anything else."""
        conn = open_for_reading(path, wait)
        if isinstance(conn, ServedConnection):
            # It speaks the part of DuckDB's connection API that the read paths use.
            store = cls(cast(duckdb.DuckDBPyConnection, conn), path)
            store.served_by = conn.holder
            return store
        return cls(conn, path)

    def use_env(self, name: str, writing: bool = False) -> None:
        """Work in the environment `name` from now on (prod: as if there were none). A
        writer makes the views its chain lacks (an asset new above it)."""
        known, kept = self.sharing()
        self.env = chain_of(name, known)
        # With environments (or nodes a promotion replaced), a node may reuse another's.
        self.shares_work = bool(known) or kept
        self.writer = PartitionWriter(self.rows, self.env, self.changes)
        if writing:
            self.changes.untrusted()
            sync_env_views(self.conn, self.env)

    def reuse(
        self, cur: duckdb.DuckDBPyConnection, writes: Sequence[NodeWrite], now: dt.datetime
    ) -> dict[str, Written] | None:
        """The nodes of `writes` copied from an environment that holds them with the same code
        and inputs, when every one of them is held so (reuse.py); None: compute them."""
        if not self.shares_work:
            return None
        held = reusable(cur, self.env, writes)
        if held is None:
            return None
        return copy_reused(cur, self.env, writes, held, now, self.changes)

    # -- environments ---------------------------------------------------------------------
    def create_env(self, name: str, parent: str, now: dt.datetime) -> Env:
        self.changes.untrusted()
        known = self.environments()
        check_new_name(name, known)
        env = Env((name, *chain_of(parent, known).chain))
        environments.create(self.conn, env, now)
        return env

    def drop_env(self, name: str) -> None:
        self.changes.untrusted()
        known = self.environments()
        chain_of(name, known)  # it exists
        below = children(name, known)
        if name == PROD or below:
            raise EnvError(
                f"environment {name} cannot be dropped",
                f"{', '.join(below)} read through it: drop them first" if below else
                "prod holds the production tables",
            )  # fmt: skip
        environments.drop(self.conn, name)

    def promote_env(
        self,
        run_id: str,
        now: dt.datetime,
        env: Env | None = None,
        moved: environments.Moved | None = None,
    ) -> dict[str, list[str]]:
        """`env`'s own nodes (this store's environment's) made its parent's
        (environments.promote)."""
        self.changes.untrusted()
        promoted = environments.promote(self.conn, env or self.env, run_id, now, moved)
        self.refresh_nodes()
        return promoted

    def serve_reads(self) -> None:
        """Serve other processes' reads for as long as this store holds the file."""
        if self._serving is None:
            try:
                self._live = LiveFacts(self.changes, self.cursor, (HAS_SCHEMA, SHARING))
                self._serving = ReadServer(
                    self.cursor, self.path, self._live.answer, self._live.opening
                )
            except OSError:  # no room for its address (a full disk): reads wait, as before
                self._serving = None

    def storage_problem(self, exc: BaseException) -> StorageError | None:
        """`exc` as the one line a full disk (or a size limit) is, if it is one."""
        if not isinstance(exc, duckdb.Error | OSError):
            return None
        return storage_error(exc, self.path)

    @contextlib.contextmanager
    def storage_guard(self) -> Iterator[None]:
        """Inside, a full disk (or a file over its size limit) is a StorageError naming the
        warehouse, not whatever DuckDB wrapped it in."""
        try:
            yield
        except (duckdb.Error, OSError) as exc:
            problem = storage_error(exc, self.path)
            if problem is None:
                raise
            raise problem from None

    def replaced(self) -> bool:
        """Whether the file at our path is no longer the one we opened (deleted, moved or
        replaced while we held it): what we write then reaches no one."""
        return file_identity(self.path) != self._identity

    def has_schema(self) -> bool:
        return bool(self.conn.execute(HAS_SCHEMA).fetchall()[0][0])

    def close(self) -> None:
        if self._serving is not None:
            self._serving.close()  # readers' cursors go before the connection they use
            self._serving = None
        if self._live is not None:
            self._live.close()
        self.conn.close()

    # -- runs and attempts -----------------------------------------------------------------
    def start_run(
        self,
        run_id: str,
        trigger: str,
        selection: str,
        started_at: dt.datetime,
        pid: int,
        planned: int,
        backfill_id: str | None = None,
    ) -> None:
        self._set_room_aside()
        self.conn.execute(
            "INSERT INTO assetflow.runs (run_id, trigger, selection, started_at, status, pid,"
            " planned, backfill_id, env) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, trigger, selection, started_at, RunStatus.RUNNING, pid, planned, backfill_id,
             self.env.name],
        )  # fmt: skip

    def record_ticks(
        self,
        kind: str,
        name: str,
        times: list[dt.datetime],
        run_id: str | None,
        detail: str,
        now: dt.datetime,
    ) -> None:
        self.conn.executemany(
            "INSERT INTO assetflow.ticks VALUES (?, ?, ?, ?, ?, ?)",
            [(kind, name, t, now, run_id, detail) for t in times],
        )

    def record_sla_miss(
        self, asset: str, partition: str, deadline: dt.datetime, now: dt.datetime
    ) -> None:
        self.conn.execute(
            "INSERT INTO assetflow.sla_misses VALUES (?, ?, ?, ?)",
            [asset, partition, deadline, now],
        )

    def backfill_for(
        self,
        selection: str,
        range_from: str | None,
        range_to: str | None,
        new_id: str,
        now: dt.datetime,
    ) -> str:
        """The backfill of this selection and range: the existing one (a re-run resumes it)
        or a new one with `new_id`."""
        found = self.backfill_of(selection, range_from, range_to)
        if found is not None:
            return found
        self.conn.execute(
            "INSERT INTO assetflow.backfills VALUES (?, ?, ?, ?, ?, ?)",
            [new_id, selection, range_from, range_to, now, self.env.name],
        )
        return new_id

    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        ended_at: dt.datetime,
        counts: tuple[int, int, int, int, int] | None,
        message: str | None = None,
    ) -> None:
        """How a run ended, with its counts (None: counted from what it recorded, as for a
        run that died). A disk the run filled gets back the room set aside when it started
        (`start_run`), so that this is recorded all the same."""
        if counts is None:
            counted = ", ".join(f"{name} = {count}" for name, count in RUN_COUNTS.items())
            update = (
                f"UPDATE assetflow.runs r SET status = ?, ended_at = ?, {counted}, message = ?"
                " WHERE run_id = ?"
            )
            values = [status, ended_at, message, run_id]
        else:
            update = (
                "UPDATE assetflow.runs SET status = ?, ended_at = ?, planned = ?, succeeded = ?,"
                " verified = ?, failed = ?, skipped = ?, message = ? WHERE run_id = ?"
            )
            values = [status, ended_at, *counts, message, run_id]
        try:
            self.conn.execute(update, values)
        except (duckdb.Error, OSError) as exc:
            if self.storage_problem(exc) is None or not self._give_back_room():
                raise
            self.conn.execute(update, values)
        finally:
            self._give_back_room()

    def _room(self) -> Path:
        return self.path.with_name(self.path.name + ".room")

    def _set_room_aside(self) -> None:
        """A megabyte beside the file while a run writes, when there is room to spare (best
        effort: setting it aside must not be what fills the disk)."""
        try:
            if shutil.disk_usage(self.path.parent).free > 2 * ROOM:
                self._room().write_bytes(bytes(ROOM))
        except OSError:
            self._give_back_room()

    def _give_back_room(self) -> bool:
        try:
            self._room().unlink()
        except FileNotFoundError:
            return False
        return True

    def record_attempts(
        self,
        run_id: str,
        nodes: Sequence[tuple[str, str, int]],
        attempt: int,
        started_at: dt.datetime,
        ended_at: dt.datetime,
        status: AttemptStatus,
        error: BaseException | None = None,
        log_path: str | None = None,
        next_retry_at: dt.datetime | None = None,
    ) -> None:
        """One attempt of a task: the same outcome for each of its nodes, in one insert."""
        error_class = type(error).__name__ if error else None
        error_message = str(error).splitlines()[0] if error and str(error) else None
        rows = [
            (run_id, asset, partition, index, attempt, started_at, ended_at, status,
             error_class, error_message, log_path, next_retry_at, self.env.name)
            for asset, partition, index in nodes
        ]  # fmt: skip
        columns = (
            "run_id, asset, partition, partition_index, attempt, started_at, ended_at, status,"
            " error_class, error_message, log_path, next_retry_at, env"
        )
        with self.changes.committing((a, i) for a, _, i in nodes):
            self.rows.insert(self.conn, "attempt_log", columns, rows)

    def record_checks(
        self, run_id: str | None, checked: Sequence[Checked], now: dt.datetime
    ) -> None:
        """Check results of nodes: (node, the materialization they checked, results). A
        successful write records its own, in its transaction (writer.py)."""
        with self.changes.committing((a, i) for (a, _, i), _, _ in checked):
            self.rows.insert_checks(self.conn, run_id, checked, now)

    # -- observations and versions --------------------------------------------------------
    def record_observations(
        self, run_id: str | None, observed_at: dt.datetime, observations: Iterable[Observation]
    ) -> None:
        rows = [
            (run_id, o.source, o.partition, o.version, o.detail, observed_at) for o in observations
        ]
        self.rows.insert(
            self.conn,
            "observations",
            "run_id, source, partition, version, detail, observed_at",
            rows,
        )

    def abandon_dead_runs(self, now: dt.datetime) -> list[str]:
        """Runs still marked running while we hold the only write lock died (killed, power
        lost): mark them abandoned. Their committed nodes stay; nothing half-written exists."""
        self.changes.untrusted()
        running = "SELECT count(*) FROM assetflow.runs WHERE status = ?"
        if not self.conn.execute(running, [RunStatus.RUNNING]).fetchall()[0][0]:
            return []  # as usual: the update's subqueries cost ~15 ms to plan

        counts = ", ".join(f"{name} = {count}" for name, count in RUN_COUNTS.items())
        rows = self.conn.execute(
            f"UPDATE assetflow.runs r SET status = ?, ended_at = ?, {counts}"
            " WHERE status = ? RETURNING run_id",
            [RunStatus.ABANDONED, now, RunStatus.RUNNING],
        ).fetchall()
        return [r[0] for r in rows]

    def change_keys(self, name: str, keys: list[str], add: bool, now: dt.datetime) -> list[str]:
        """Add keys to (or remove them from) a dynamic key set; the keys that changed."""
        self.changes.untrusted()
        return (add_keys if add else remove_keys)(self.conn, name, keys, now)

    def prune(self, policy: Retention, now: dt.datetime, dry_run: bool) -> dict[str, int]:
        """What the retention policy no longer keeps, removed in one transaction (a dry run
        counts it); then the freed blocks made reusable."""
        self.changes.untrusted()
        removed = prune_rows(self.conn, policy, now, dry_run)
        if not dry_run:
            self.refresh_nodes()  # nothing to merge, usually; keeps the watermark current
            self.conn.execute("CHECKPOINT")
        return removed

    def adopt(
        self, asset: str, version: int, lineage: dict[str, Any], now: dt.datetime
    ) -> list[str]:
        """A Delta commit a dead coordinator never recorded, recorded from its metadata."""
        self.changes.untrusted()
        return adopt(self.conn, asset, version, lineage, now)

    def attach(self, name: str, table: Any) -> None:
        """An Arrow table or dataset readable as `name` by this store's queries and its
        cursors' (a remote Delta table)."""
        self.conn.register(name, table)
        self._attached[name] = table

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of its own (a worker thread's, a preview's, a check's): its temp objects
        are its; what is attached is readable there too."""
        cur = self.conn.cursor()
        for name, table in self._attached.items():
            cur.register(name, table)
        return cur

    def refresh_view(self, table: str, source: str | None, version: int | None) -> None:
        """A Delta table's view over `source` (published.delta_source, remote_source) as of
        `version`; an environment's own table's, then the environment's view of the asset
        (its own rows over its parent's)."""
        self.changes.untrusted()
        refresh_view(self.conn, table, source, version)
        schema, asset = split_table(table)
        if schema != "main":
            env = chain_of(schema.removeprefix("_env_"), self.sharing()[0])
            refresh_env_view(self.conn, env, asset)

    def refresh_nodes(self) -> None:
        """Merge materializations newer than the watermark into `assetflow.nodes`, in one
        transaction. Runs at the end of every run (and so after a crashed one)."""
        self.changes.untrusted()
        merge_nodes(self.conn)
