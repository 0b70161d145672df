"""Running tasks elsewhere: on a Dask cluster (`executor = "dask"`), and recording what
workers committed to Delta Lake (`storage = "delta"`).

The scheduling loop, retries and failure propagation stay in the executor, on the
coordinator; each of its worker threads hands one Task to the cluster and waits for its
TaskResult. A worker process that dies takes its task with it: Dask runs it again on
another worker, and if workers keep dying the attempt fails as transient (KilledWorker) and
the executor's retry policy takes over. Delta overwrites are idempotent, so a task that ran
twice wrote its partitions once.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import traceback
from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa

from assetflow.core.environments import PROD, table_name
from assetflow.core.records import Written
from assetflow.run.clock import Clock
from assetflow.run.delta import DeltaStorage
from assetflow.run.delta_types import readable_dataset
from assetflow.run.delta_worker import commit_lineage
from assetflow.run.task import Task, TaskResult
from assetflow.store.connect import transaction
from assetflow.store.published import record_commit, record_published, remote_name
from assetflow.store.reuse import record_reused, reusable
from assetflow.store.store import Store
from assetflow.store.views import RETAINED, held_partitions

Remote = Callable[[Task], TaskResult]


class PublishingWorker:
    """`worker(task) -> TaskResult` on a coordinator thread: the task runs through `remote`
    (a Delta worker here or on a cluster); what it committed is then recorded in the
    warehouse — the coordinator alone writes lineage."""

    def __init__(self, store: Store, storage: DeltaStorage, clock: Clock, remote: Remote) -> None:
        self.store, self.storage, self.clock, self.remote = store, storage, clock, remote
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._lock = threading.Lock()  # guards `written` and the cursors' list
        self.written: set[str] = set()  # tables whose views to refresh at the run's end
        self.notes: list[str] = []

    def __call__(self, task: Task) -> TaskResult:
        if task.env != PROD:  # which environment holds each input partition, told here
            wanted = {r.name: list(r.keys) for r in task.reads if not r.is_source}
            with self.store.storage_guard():
                held = held_partitions(self._cursor(), self.store.env, wanted)
            task = dataclasses.replace(task, held=held)
        if self.store.shares_work:
            reused = self._reuse(task)
            if reused is not None:
                return reused
        done = self.remote(task)
        if done.error is not None or done.published is None:
            return done
        try:
            with self.store.storage_guard():
                written = record_published(
                    self._cursor(), self.store.rows, task.nodes, done.written, done.published,
                    done.checks, self.clock(), task.env, self.store.changes,
                )  # fmt: skip
            with self._lock:
                self.written.add(table_name(task.asset, task.env))
        except Exception as exc:  # the commit stands; the retry writes it again, recorded
            return dataclasses.replace(
                done, written={}, error=exc, trace=traceback.format_exc(), published=None
            )
        return dataclasses.replace(done, written=written, reshaped=done.published.reshaped)

    def _reuse(self, task: Task) -> TaskResult | None:
        """The task's nodes copied from the Delta tables of the environments that hold them
        built by the same code from the same inputs (store/reuse.py), in one commit, then
        recorded as reused; None: compute them."""
        started, cur, env = self.clock.monotonic(), self._cursor(), self.store.env
        with self.store.storage_guard():
            held = reusable(cur, env, task.nodes)
        if held is None:
            return None
        sources: dict[tuple[str, int | None], list[str]] = {}  # (table, version): partitions
        for key, h in held.items():
            if h.env != RETAINED:
                sources.setdefault((table_name(task.asset, h.env), None), []).append(key)
            elif h.delta_table is not None:  # replaced by a promotion: an earlier version
                sources.setdefault((h.delta_table, h.delta_version), []).append(key)
            else:
                return None  # kept in a warehouse file's _retained: not this storage's
        try:
            parts = [self.storage.rows(name, keys, task.asset, version)
                     for (name, version), keys in sorted(sources.items())]  # fmt: skip
        except Exception:  # noqa: BLE001 - that version's files vacuumed since: compute
            if all(version is None for _, version in sources):
                raise
            return None
        mine = table_name(task.asset, task.env)
        # What a coordinator that dies before recording it adopts: the same lineage.
        same = {key: Written(h.row_count, h.data_version, 0) for key, h in held.items()}
        schema = held[task.nodes[0].partition].table_schema
        rows = pa.concat_tables(parts, promote_options="permissive")
        keys = [n.partition for n in task.nodes]
        version = self.storage.commit(mine, rows, keys, commit_lineage(task, same, schema))
        touched = [(n.asset, n.partition_index) for n in task.nodes]
        with self.store.storage_guard(), transaction(cur, self.store.changes, touched):
            written = record_reused(cur, env, task.nodes, held, self.clock())
            record_commit(cur, mine, version, task.run_id, self.clock(), written)
        with self._lock:
            self.written.add(mine)
        return TaskResult(written, None, "", self.clock.monotonic() - started, False)

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self.store.cursor()
            with self._lock:
                self._cursors.append(cur)
        return cur

    def close(self) -> None:
        """The views of the tables the run wrote, once each; the cursors closed."""
        with self.store.storage_guard():
            refresh_views(self.store, self.storage, sorted(self.written))
        self.written.clear()
        for cur in self._cursors:
            cur.close()
        self._cursors.clear()


def refresh_views(store: Store, storage: DeltaStorage, tables: list[str]) -> None:
    """Each table's view as of its Delta table's current version: an environment's own
    table's, then its view of the asset over its parent's. In a folder, a view over the
    files; on object storage (which DuckDB reads only with its httpfs extension), the
    table's dataset registered on this session (attach_remote) and a view over that."""
    for name in tables:
        table = storage.table(name)
        if table is None:
            continue
        if not storage.is_local:
            attach_remote(store, name, table)
        store.refresh_view(name, storage.view_source(name, table), table.version())


def attach_remote(store: Store, name: str, table: Any) -> None:
    """A table on object storage readable by this session's queries: its dataset as of the
    table's version, under `remote_name`, which its view reads."""
    store.attach(remote_name(name), readable_dataset(table))


class DaskCluster:
    """A Dask client: to the scheduler at `address`, or to a LocalCluster of `workers`
    processes (spawned: deltalake does not survive fork) started here and stopped on close."""

    def __init__(self, address: str | None, workers: int | None = None) -> None:
        from distributed import Client, LocalCluster

        self.cluster = None
        if address is None:
            self.cluster = LocalCluster(
                n_workers=workers or max(1, os.cpu_count() or 1),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            self.client = Client(self.cluster)
        else:
            self.client = Client(address, timeout="10s")

    @property
    def threads(self) -> int:
        """How many tasks the cluster runs at once."""
        return max(1, sum(self.client.nthreads().values()))

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` on a worker; blocks until it returns (or raises what it raised)."""
        return self.client.submit(fn, *args, pure=False).result()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def on_cluster(cluster: DaskCluster, fn: Callable[[Any, Task], TaskResult], env: Any) -> Remote:
    """A Remote running `fn(env, task)` on the cluster. What the cluster itself fails with
    (a worker killed too often, a lost connection) is the attempt's transient error."""

    def remote(task: Task) -> TaskResult:
        try:
            return cluster.call(fn, env, task)
        except Exception as exc:  # noqa: BLE001 - the cluster's failure, not the task's
            return TaskResult({}, exc, traceback.format_exc(), 0.0, False)

    return remote
