"""Where asset tables live, behind one interface: the warehouse file (the default) or Delta
Lake (`storage = "delta"`). Nothing else asks which.

`AssetTables` is what a command needs of them: a run's workers, what to do when the
warehouse is opened (adopt commits a dead coordinator never recorded; make remote tables
readable), deleting partitions for a wipe, and vacuuming unused files. A third backend (a
Parquet folder, Iceberg) is one more class here, with a worker that implements
run/worker.py's four storage methods (a cursor, inputs, the write, a column once held).
"""

from __future__ import annotations

import datetime as dt
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assetflow.app.config import Project
from assetflow.core.definitions import Definitions
from assetflow.core.environments import PROD, table_name
from assetflow.errors import UsageError
from assetflow.run.clock import Clock
from assetflow.store.store import Store
from assetflow.store.wipe import Deleted

if TYPE_CHECKING:  # Delta Lake (pyarrow, deltalake) is loaded only by projects that use it
    from assetflow.run.delta import DeltaStorage
    from assetflow.run.executor import Worker  # loaded by a run only

SQL_ON_COORDINATOR = (
    'executor = "dask" with storage = "duckdb": Python assets compute on the cluster, SQL'
    ' assets run here, where the warehouse is (storage = "delta" runs them on the cluster)'
)


Names = Callable[[], list[str]]  # the project's asset names, when asked


@dataclass
class Workers:
    """A run's worker, how many tasks it runs at once, and what to stop after the run."""

    worker: Worker
    concurrency: int
    notes: list[str]  # said once at the run's end
    closers: list[Callable[[], None]]  # called last first

    def close(self) -> None:
        while self.closers:
            self.closers.pop()()


class AssetTables(ABC):
    """The asset tables of one project."""

    @abstractmethod
    def workers(
        self, project: Project, defs: Definitions, store: Store, clock: Clock, n: int,
        cluster: Any,
    ) -> Workers:  # fmt: skip
        """The workers of a run of `n` tasks at once, on this process's threads (`cluster`
        None) or on a Dask cluster."""

    def opened(self, store: Store, assets: Names, clock: Clock) -> list[str]:
        """The warehouse was opened for writing: `asset[partition]` of what was adopted.
        `assets()` names the project's assets (it loads the definitions: asked only when
        needed, so that reading run history does not need loadable definitions)."""
        return []

    def attach(self, store: Store, assets: Names) -> None:  # noqa: B027 - most need not
        """Make the tables readable by the session's queries under their assets' names."""

    def promote(self, store: Store, run_id: str, now: dt.datetime) -> dict[str, list[str]]:
        """The store's environment's own partitions made its parent's; per asset, which."""
        return store.promote_env(run_id, now)

    def forget_env(self, name: str) -> None:  # noqa: B027 - most need not
        """Whatever an environment kept outside the warehouse file, removed (it was
        dropped, or a new one of its name is made)."""

    def delete(self, asset: str, keys: Sequence[str], run_id: str) -> Deleted | None:
        """Delete partitions' rows before the wipe is recorded; None: the wipe's own
        transaction deletes them (the warehouse file)."""
        return None

    def vacuum(self, session: Any, retain_hours: int, dry_run: bool, wait: float) -> dict[str, int]:
        raise UsageError(
            "vacuum removes unused Delta Lake files; this project stores its tables in the"
            " warehouse file",
            'set storage = "delta" in [tool.assetflow] to use Delta Lake',
        )


class WarehouseTables(AssetTables):
    """Tables in the warehouse file: written by the run's threads, in its transactions."""

    def workers(
        self, project: Project, defs: Definitions, store: Store, clock: Clock, n: int,
        cluster: Any,
    ) -> Workers:  # fmt: skip
        from assetflow.run.embedded_worker import EmbeddedWorker

        if cluster is None:
            worker = EmbeddedWorker(store, defs, project.root, clock)
            return Workers(worker, n, worker.notes, [worker.close])
        # Python assets compute on the cluster from inputs shipped as Arrow; their rows come
        # back and are written here like any other.
        from assetflow.run.remote import compute_task

        definitions = str(project.definitions_dir)

        def offload(task: Any, inputs: dict[str, Any]) -> Any:
            return cluster.call(compute_task, definitions, task, inputs)

        worker = EmbeddedWorker(store, defs, project.root, clock, offload)
        if any(spec.returns_sql for spec in defs.assets.values()):
            worker.notes.append(SQL_ON_COORDINATOR)
        return Workers(worker, n, worker.notes, [worker.close])


class DeltaTables(AssetTables):
    """Tables in Delta Lake: committed by workers anywhere, their lineage recorded here."""

    def __init__(self, storage: DeltaStorage) -> None:
        self.storage = storage

    def workers(
        self, project: Project, defs: Definitions, store: Store, clock: Clock, n: int,
        cluster: Any,
    ) -> Workers:  # fmt: skip
        from assetflow.run.cluster import PublishingWorker, on_cluster
        from assetflow.run.delta_worker import DeltaWorker, WorkerEnv, run_remote

        remote: Worker
        if cluster is None:
            remote = DeltaWorker(defs, project.root, self.storage, n)
        else:
            env = WorkerEnv(
                str(project.definitions_dir), str(project.root), self.storage, _stamp(defs),
                store.keysets(defs.dynamic_names()) if defs.dynamic_names() else {}, n,
            )  # fmt: skip
            remote = on_cluster(cluster, run_remote, env)
        publishing = PublishingWorker(store, self.storage, clock, remote)
        return Workers(publishing, n, publishing.notes, [publishing.close])

    def promote(self, store: Store, run_id: str, now: dt.datetime) -> dict[str, list[str]]:
        from assetflow.run.delta_promotion import promote

        return promote(store, self.storage, run_id, now)

    def forget_env(self, name: str) -> None:
        self.storage.forget_env(name)

    def opened(self, store: Store, assets: Names, clock: Clock) -> list[str]:
        """Finish a promotion a dead process began; record every Delta commit the
        warehouse has no lineage for (a coordinator that died between a worker's commit and
        its record); refresh those tables' views."""
        from assetflow.run.cluster import refresh_views
        from assetflow.run.delta_promotion import finish_pending

        storage, adopted = self.storage, []
        finished = finish_pending(store, storage, clock())
        if finished is not None:
            adopted.append(f"the promotion of {finished}")
        summary, views = store.delta_summary()
        behind = []  # views older than their tables (a run that died before its end)
        for asset in self._tables(store, assets):
            latest = storage.latest_version(asset)
            if latest is None:
                continue
            if views.get(asset, -1) != latest:
                behind.append(asset)
            top, count, base = summary.get(asset, (-1, 0, 0))
            if count == top - base + 1 and latest <= top:
                continue  # every commit up to the latest is recorded: the usual case
            known = store.delta_versions(asset)
            after = min(v for v in range(base, top + 2) if v not in known) - 1  # recorded to here
            missing = [(v, lin) for v, lin in storage.commits(asset, after) if v not in known]
            for version, lineage in missing:
                adopted += [f"{asset}[{p}]" for p in store.adopt(asset, version, lineage, clock())]
        refresh_views(store, storage, behind)
        return adopted

    def attach(self, store: Store, assets: Names) -> None:
        """Each table on object storage (prod's and every environment's) registered on the
        session's connection as its dataset of the current version: the views read them,
        and so status, `sql`, `check`, `read`, the diff and the page, without DuckDB's
        httpfs (which cannot be installed offline for the pinned DuckDB). Tables in a
        folder have views over their files in the warehouse."""
        if self.storage.is_local:
            return
        from assetflow.run.cluster import attach_remote
        from assetflow.run.delta_types import readable_dataset

        viewed, prod = store.viewed_tables(), set(assets())
        for name in self._tables(store, assets):
            table = self.storage.table(name)
            if table is None:
                continue
            attach_remote(store, name, table)
            if name in prod and name not in viewed:  # written before its view: read by name
                store.attach(name, readable_dataset(table))

    def delete(self, asset: str, keys: Sequence[str], run_id: str) -> Deleted | None:
        """The Delta commit first: a crash before the wipe's record is adopted."""
        done = self.storage.delete(asset, keys, run_id)
        if done is None:
            return None
        source = self.storage.view_source(asset, self.storage.table(asset))
        return Deleted(done[0], done[1], source)

    def vacuum(self, session: Any, retain_hours: int, dry_run: bool, wait: float) -> dict[str, int]:
        """Remove the files no table version of the last `retain_hours` needs (a dry run
        counts them): files per table, environments' too. The retention must cover the
        longest recorded run, so that no run in progress loses a file it still reads."""
        store = session.writer(wait)
        longest = store.longest_run_seconds()
        if retain_hours * 3600 < longest:
            need = math.ceil(longest / 3600)
            raise UsageError(
                f"--retain-hours {retain_hours} is shorter than the longest recorded run"
                f" ({_duration(longest)}): a run like it could lose files it still reads",
                f"use --retain-hours {need} or more",
            )
        tables = self._tables(store, lambda: sorted(session.graph.defs.assets))
        return {t: len(self.storage.vacuum(t, retain_hours, dry_run)) for t in tables}

    def _tables(self, store: Store, assets: Names) -> list[str]:
        """Every table by name: prod's, then each environment's (as the folder lists them;
        on object storage, which is not listed, the project's assets' names)."""
        envs = [PROD, *store.environments()]
        if self.storage.is_local:
            return (self.storage.tables() or assets()) + [
                t for env in envs[1:] for t in self.storage.tables(env)
            ]
        return [table_name(asset, env) for env in envs for asset in assets()]


def asset_tables(project: Project) -> AssetTables:
    """The project's asset tables, as its `storage` setting says."""
    settings = project.settings
    if settings.storage != "delta":
        return WarehouseTables()
    from assetflow.run.delta import storage_from_settings

    return DeltaTables(
        storage_from_settings(
            settings.storage_path or "", dict(settings.storage_options), str(project.root)
        )
    )


def _stamp(defs: Definitions) -> str:
    """What identifies these definitions on a worker: their code versions."""
    return ",".join(f"{name}={spec.code_version}" for name, spec in sorted(defs.assets.items()))


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 3600 else f"{seconds / 3600:.1f} h"
