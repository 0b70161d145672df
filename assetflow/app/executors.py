"""Which workers a run gets, from the project's `executor` and `storage` settings (or the
command's --executor/--scheduler): threads writing the warehouse file (the default), a Dask
cluster computing Python assets for that file, or Delta workers — on threads or on Dask —
whose commits the coordinator records. Also adoption: Delta commits a dead coordinator
never recorded are recorded when the warehouse is next opened for writing.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assetflow.app.config import Project
from assetflow.core.definitions import Definitions
from assetflow.errors import ConfigError, UsageError
from assetflow.run.clock import Clock
from assetflow.run.executor import Worker
from assetflow.store.store import Store

if TYPE_CHECKING:  # Delta Lake (pyarrow, deltalake) is loaded only by projects that use it
    from assetflow.run.delta import DeltaStorage

SQL_ON_COORDINATOR = (
    'executor = "dask" with storage = "duckdb": Python assets compute on the cluster, SQL'
    ' assets run here, where the warehouse is (storage = "delta" runs them on the cluster)'
)


@dataclass
class Workers:
    """A run's worker, how many tasks it runs at once, and what to stop after the run."""

    worker: Worker
    concurrency: int
    notes: list[str] = field(default_factory=list)  # said once at the run's end
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        while self.closers:
            self.closers.pop()()


def delta_storage(project: Project) -> DeltaStorage | None:
    settings = project.settings
    if settings.storage != "delta":
        return None
    from assetflow.run.delta import storage_from_settings

    return storage_from_settings(
        settings.storage_path or "", dict(settings.storage_options), str(project.root)
    )


def open_workers(
    project: Project,
    defs: Definitions,
    store: Store,
    clock: Clock,
    concurrency: int | None,
    executor: str | None = None,
    scheduler: str | None = None,
) -> Workers:
    """The workers for one run. `concurrency` None: the project's setting on threads, the
    cluster's worker count on Dask."""
    from assetflow.run.embedded_worker import EmbeddedWorker

    settings = project.settings
    executor = executor or settings.executor
    scheduler = scheduler or settings.scheduler
    if executor not in ("threads", "dask"):
        raise ConfigError(f"unknown executor {executor!r}", "threads or dask")
    storage = delta_storage(project)
    if executor == "threads":
        n = concurrency or settings.concurrency
        if storage is None:
            worker = EmbeddedWorker(store, defs, project.root, clock)
            return Workers(worker, n, worker.notes, [worker.close])
        from assetflow.run.cluster import PublishingWorker
        from assetflow.run.delta_worker import DeltaWorker

        publishing = PublishingWorker(
            store, storage, clock, DeltaWorker(defs, project.root, storage)
        )
        return Workers(publishing, n, publishing.notes, [publishing.close])
    cluster = _cluster(scheduler, settings.dask_workers)
    try:
        n = concurrency or cluster.threads
        if storage is None:
            return _offloading(project, defs, store, clock, cluster, n)
        from assetflow.run.cluster import PublishingWorker, on_cluster
        from assetflow.run.delta_worker import WorkerEnv, run_remote

        env = WorkerEnv(
            str(project.definitions_dir), str(project.root), storage, _stamp(defs),
            store.keysets(defs.dynamic_names()) if defs.dynamic_names() else {},
        )  # fmt: skip
        publishing = PublishingWorker(store, storage, clock, on_cluster(cluster, run_remote, env))
        return Workers(publishing, n, publishing.notes, [cluster.close, publishing.close])
    except BaseException:
        cluster.close()
        raise


def _cluster(scheduler: str | None, workers: int | None) -> Any:
    from assetflow.run.cluster import DaskCluster

    if importlib.util.find_spec("distributed") is None:  # DaskCluster imports it when made
        raise ConfigError(
            'executor = "dask" needs dask.distributed, which is not installed',
            "pip install 'assetflow[dask]'",
        )
    try:
        return DaskCluster(scheduler, workers)
    except OSError as exc:  # no scheduler there (distributed raises OSError on timeout)
        raise ConfigError(
            f"cannot reach the Dask scheduler at {scheduler}: {exc}",
            "start one (`dask scheduler`), or leave scheduler unset for a local cluster",
        ) from None


def _offloading(
    project: Project, defs: Definitions, store: Store, clock: Clock, cluster: Any, n: int
) -> Workers:
    """Embedded storage on Dask: Python assets compute on the cluster from inputs shipped
    as Arrow; their rows come back and are written here like any other."""
    from assetflow.run.embedded_worker import EmbeddedWorker
    from assetflow.run.remote import compute_task

    definitions = str(project.definitions_dir)

    def offload(task: Any, inputs: dict[str, Any]) -> Any:
        return cluster.call(compute_task, definitions, task, inputs)

    worker = EmbeddedWorker(store, defs, project.root, clock, offload)
    notes = worker.notes
    if any(spec.returns_sql for spec in defs.assets.values()):
        notes.append(SQL_ON_COORDINATOR)
    return Workers(worker, n, notes, [cluster.close, worker.close])


def _stamp(defs: Definitions) -> str:
    """What identifies these definitions on a worker: their code versions."""
    return ",".join(f"{name}={spec.code_version}" for name, spec in sorted(defs.assets.items()))


def attach_remote_tables(project: Project, store: Store, assets: list[str]) -> None:
    """Each asset's Delta table on object storage registered on the session's connection
    under the asset's name, as an Arrow dataset of its current version: status (its columns),
    `sql`, `check`, `read` and the page read it without DuckDB's httpfs (which cannot be
    installed offline for the pinned DuckDB). Local tables have views in the file instead."""
    storage = delta_storage(project)
    if storage is None or storage.is_local:
        return
    from assetflow.run.delta import readable_dataset

    for asset in assets:
        table = storage.table(asset)
        if table is not None:
            store.attach(asset, readable_dataset(table))


def adopt_unrecorded(project: Project, store: Store, assets: list[str], clock: Clock) -> list[str]:
    """Record every Delta commit the warehouse has no lineage for (a coordinator that died
    between a worker's commit and its record); refresh those tables' views. Returns
    `asset[partition]` for each partition adopted."""
    storage = delta_storage(project)
    if storage is None:
        return []
    adopted: list[str] = []
    summary, views = store.delta_summary()
    behind = []  # views older than their tables (a run that died before its end)
    for asset in storage.tables() or assets:
        latest = storage.latest_version(asset)
        if latest is None:
            continue
        if views.get(asset, -1) != latest:
            behind.append(asset)
        top, count, base = summary.get(asset, (-1, 0, 0))
        if count == top - base + 1 and latest <= top:
            continue  # every commit up to the latest is recorded: the usual case
        known = store.delta_versions(asset)
        after = min(v for v in range(base, top + 2) if v not in known) - 1  # recorded up to here
        missing = [(v, lin) for v, lin in storage.commits(asset, after) if v not in known]
        for version, lineage in missing:
            adopted += [f"{asset}[{p}]" for p in store.adopt(asset, version, lineage, clock())]
    from assetflow.run.cluster import refresh_views

    refresh_views(store, storage, behind)
    return adopted


def vacuum(session: Any, retain_hours: int, dry_run: bool, wait: float = 0.0) -> dict[str, int]:
    """Remove the Delta files no table version of the last `retain_hours` needs (a dry run
    counts them): files per asset. The retention must cover the longest recorded run, so
    that no run in progress loses a file it still reads."""
    storage = delta_storage(session.project)
    if storage is None:
        raise UsageError(
            "vacuum removes unused Delta Lake files; this project stores its tables in the"
            " warehouse file",
            'set storage = "delta" in [tool.assetflow] to use Delta Lake',
        )
    store = session.writer(wait)
    longest = store.longest_run_seconds()
    if retain_hours * 3600 < longest:
        need = math.ceil(longest / 3600)
        raise UsageError(
            f"--retain-hours {retain_hours} is shorter than the longest recorded run"
            f" ({_duration(longest)}): a run like it could lose files it still reads",
            f"use --retain-hours {need} or more",
        )
    assets = storage.tables() or sorted(session.graph.defs.assets)
    return {a: len(storage.vacuum(a, retain_hours, dry_run)) for a in assets}


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 3600 else f"{seconds / 3600:.1f} h"
