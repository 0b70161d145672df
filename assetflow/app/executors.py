"""Which workers a run gets, from the project's `executor` setting (or the command's
--executor/--scheduler): this process's threads (the default) or a Dask cluster, and from
its asset tables (app/tables.py) the worker that writes them there.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from assetflow.app.config import Project
from assetflow.app.tables import Workers, asset_tables
from assetflow.core.definitions import Definitions
from assetflow.errors import ConfigError
from assetflow.run.clock import Clock
from assetflow.store.store import Store


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
    settings = project.settings
    executor = executor or settings.executor
    scheduler = scheduler or settings.scheduler
    if executor not in ("threads", "dask"):
        raise ConfigError(f"unknown executor {executor!r}", "threads or dask")
    tables = asset_tables(project)
    if executor == "threads":
        n = concurrency or settings.concurrency
        return tables.workers(project, defs, store, clock, n, None)
    cluster = _cluster(scheduler, settings.dask_workers)
    try:
        n = concurrency or cluster.threads
        workers = tables.workers(project, defs, store, clock, n, cluster)
    except BaseException:
        cluster.close()
        raise
    workers.closers.insert(0, cluster.close)  # closed last
    return workers


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
