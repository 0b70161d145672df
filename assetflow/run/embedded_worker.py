"""The worker on the warehouse file: a thread of this process computes on its own cursor of
the warehouse and commits data, lineage and check results through one store writer call, in
one transaction (store/writer.py stages, audits and records inside it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb

from assetflow.core.definitions import Definitions
from assetflow.core.records import InputRange, Published, Written
from assetflow.core.specs import AssetSpec
from assetflow.run.clock import Clock
from assetflow.run.compute import input_sql
from assetflow.run.contract import not_null_columns
from assetflow.run.runlog import NodeLog
from assetflow.run.task import Task
from assetflow.run.worker import Offload, Rows, Worker
from assetflow.store.store import Store
from assetflow.store.tables import once_had_column
from assetflow.store.writer import Audit, Contract, Wrote


class EmbeddedWorker(Worker):
    """One cursor per thread per run, closed by `close()`."""

    conflict = duckdb.TransactionException

    def __init__(
        self,
        store: Store,
        defs: Definitions,
        root: Path,
        clock: Clock,
        offload: Offload | None = None,
    ) -> None:
        super().__init__(defs, root, clock, offload)
        self.store = store
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []

    def close(self) -> None:
        with self._lock:
            for cur in self._cursors:
                cur.close()
            self._cursors.clear()

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """This thread's cursor, opened once per run (a cursor per task costs)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self.store.cursor()
            with self._lock:
                self._cursors.append(cur)
        yield cur

    def _reuse(self, conn: duckdb.DuckDBPyConnection, task: Task) -> dict[str, Written] | None:
        return self.store.reuse(conn, task.nodes, self.clock())

    def _guard(self) -> contextlib.AbstractContextManager[None]:
        return self.store.storage_guard()  # a full disk is not a write conflict

    def _input(self, conn: duckdb.DuckDBPyConnection, task: Task, rng: InputRange, tag: str) -> str:
        return input_sql(rng, self.defs, self.root, self.store.env.read_schema)

    def _once_had(self, assets: list[str], column: str) -> list[str]:
        with self._cursor() as cur:
            return once_had_column(cur, assets, column, self.store.env.data_schema)

    def _write(
        self,
        conn: duckdb.DuckDBPyConnection,
        task: Task,
        spec: AssetSpec,
        rows: Rows,
        audit: Audit | None,
        log: NodeLog,
    ) -> tuple[Wrote, Published | None]:
        writes = task.nodes
        if log.written:  # the function logged or printed: the attempt records its file
            writes = tuple(dataclasses.replace(w, log_path=task.log_path) for w in writes)
        contract = Contract(spec.contract, not_null_columns(spec)) if spec.columns else None
        wrote = self.store.writer.write_nodes(
            conn, rows.query, writes, self.clock, rows.placed, audit, task.refresh, contract,
            spec.partitions.ordered_keys, spec.adds_keys,
        )  # fmt: skip
        return wrote, None
