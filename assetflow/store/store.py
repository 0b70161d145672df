"""The state store: opens the warehouse (one writer), and records runs, attempts, ticks,
check results, observations and the `nodes` index of latest materializations.

With schema.py (the DDL and its upgrades), writer.py (a partition's data and lineage, one
transaction) and lineage.py (the read side), the only modules that touch assetflow's
metadata schema.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb

from assetflow.core.intervals import Intervals
from assetflow.core.records import (
    AttemptRecord,
    AttemptStatus,
    CheckRecord,
    Observation,
    RunRecord,
    RunStatus,
)
from assetflow.errors import UsageError
from assetflow.store.connect import connect, file_identity, storage_error
from assetflow.store.rows import Checked, RowInserter
from assetflow.store.schema import (
    PENDING,
    PENDING_INPUTS,
    create_delta,
    nodes_watermark,
)
from assetflow.store.writer import PartitionWriter

_ATTEMPT = (
    "asset, partition, attempt, started_at, ended_at, status, error_class, error_message,"
    " next_retry_at, log_path, run_id"
)


class Store:
    """One DuckDB connection to the warehouse, held for a whole command."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._identity = file_identity(path)
        self.rows = RowInserter()
        self.writer = PartitionWriter(self.rows)

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
        rows = self.conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'assetflow'"
        ).fetchall()
        return bool(rows[0][0])

    def close(self) -> None:
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
        self.conn.execute(
            "INSERT INTO assetflow.runs (run_id, trigger, selection, started_at, status, pid,"
            " planned, backfill_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, trigger, selection, started_at, RunStatus.RUNNING, pid, planned, backfill_id],
        )

    def last_tick(self, kind: str, name: str) -> dt.datetime | None:
        rows = self.conn.execute(
            "SELECT max(tick_time) FROM assetflow.ticks WHERE kind = ? AND name = ?", [kind, name]
        ).fetchall()
        return rows[0][0]

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

    def sla_alerted(self, asset: str) -> set[str]:
        rows = self.conn.execute(
            "SELECT partition FROM assetflow.sla_misses WHERE asset = ?", [asset]
        ).fetchall()
        return {r[0] for r in rows}

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
        rows = self.conn.execute(
            "SELECT backfill_id FROM assetflow.backfills WHERE selection = ?"
            " AND range_from IS NOT DISTINCT FROM ? AND range_to IS NOT DISTINCT FROM ?"
            " ORDER BY created_at DESC LIMIT 1",
            [selection, range_from, range_to],
        ).fetchall()
        if rows:
            return rows[0][0]
        self.conn.execute(
            "INSERT INTO assetflow.backfills VALUES (?, ?, ?, ?, ?)",
            [new_id, selection, range_from, range_to, now],
        )
        return new_id

    def find_backfill(self, prefix: str | None) -> tuple[str, str, str | None, str | None] | None:
        """(id, selection, from, to) of the backfill with this id prefix, or the latest."""
        rows = self.conn.execute(
            "SELECT backfill_id, selection, range_from, range_to FROM assetflow.backfills"
            " WHERE ? IS NULL OR starts_with(backfill_id, ?) ORDER BY created_at DESC LIMIT 2",
            [prefix, prefix],
        ).fetchall()
        if not rows or (prefix is not None and len(rows) > 1):
            return None
        return rows[0]

    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        ended_at: dt.datetime,
        counts: tuple[int, int, int, int, int],
        message: str | None = None,
    ) -> None:
        self.conn.execute(
            "UPDATE assetflow.runs SET status = ?, ended_at = ?, planned = ?, succeeded = ?,"
            " verified = ?, failed = ?, skipped = ?, message = ? WHERE run_id = ?",
            [status, ended_at, *counts, message, run_id],
        )

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
             error_class, error_message, log_path, next_retry_at)
            for asset, partition, index in nodes
        ]  # fmt: skip
        self.rows.insert(
            self.conn,
            "attempt_log",
            "run_id, asset, partition, partition_index, attempt, started_at, ended_at, status,"
            " error_class, error_message, log_path, next_retry_at",
            rows,
        )

    def list_runs(
        self,
        limit: int = 20,
        status: str | None = None,
        trigger: str | None = None,
        run_prefix: str | None = None,
    ) -> list[RunRecord]:
        rows = self.conn.execute(
            "SELECT run_id, trigger, selection, started_at, ended_at, status,"
            " coalesce(planned, 0), coalesce(succeeded, 0), coalesce(verified, 0),"
            " coalesce(failed, 0), coalesce(skipped, 0), message, pid FROM assetflow.runs"
            " WHERE (? IS NULL OR status = ?) AND (? IS NULL OR trigger = ?)"
            " AND (? IS NULL OR starts_with(run_id, ?))"
            " ORDER BY started_at DESC, run_id DESC LIMIT ?",
            [status, status, trigger, trigger, run_prefix, run_prefix, limit],
        ).fetchall()
        return [RunRecord(*_parsed(row, 2, {})) for row in rows]

    def longest_run_seconds(self) -> float:
        """How long the longest finished run took (0 with none)."""
        (found,) = self.conn.execute(
            "SELECT coalesce(max(epoch(ended_at) - epoch(started_at)), 0)"
            " FROM assetflow.runs WHERE ended_at IS NOT NULL"
        ).fetchall()[0]
        return float(found)

    def record_checks(
        self, run_id: str | None, checked: Sequence[Checked], now: dt.datetime
    ) -> None:
        """Check results of nodes: (node, the materialization they checked, results). A
        successful write records its own, in its transaction (writer.py)."""
        self.rows.insert_checks(self.conn, run_id, checked, now)

    def asset_overview(
        self, assets: list[str], recent: int
    ) -> dict[str, tuple[int, str, dt.datetime, list[tuple[str, int]]]]:
        """Per asset: materialized partitions, the last run that built one and when, and the
        row counts of its `recent` latest partitions (latest first)."""
        rows = self.conn.execute(
            "WITH latest AS (SELECT asset, partition, partition_index,"
            " arg_max(row_count, materialization_id) AS n, max(ended_at) AS ended_at,"
            " arg_max(run_id, ended_at) AS run_id FROM assetflow.materializations"
            " WHERE list_contains(?, asset) GROUP BY ALL)"
            " SELECT asset, count(*), arg_max(run_id, ended_at), max(ended_at),"
            f" list([partition, n::VARCHAR] ORDER BY partition_index DESC)[1:{int(recent)}]"
            " FROM latest GROUP BY asset",
            [assets],
        ).fetchall()
        return {
            asset: (count, run_id, ended_at, [(p, int(n)) for p, n in latest])
            for asset, count, run_id, ended_at, latest in rows
        }

    def query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """A user's query on a read-only warehouse: its column names and rows. Anything that
        would write is refused by DuckDB; any error is the user's (exit 2)."""
        try:
            result = self.conn.execute(sql)
            columns = [d[0] for d in result.description or []]
            return columns, result.fetchall() if columns else []
        except duckdb.Error as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UsageError(f"SQL: {first}") from None

    def latest_materializations(self, asset: str, lo: int, hi: int) -> dict[str, int]:
        """partition -> latest materialization id, for the asset's partitions lo..hi."""
        rows = self.conn.execute(
            "SELECT partition, max(materialization_id) FROM assetflow.materializations"
            " WHERE asset = ? AND partition_index BETWEEN ? AND ? GROUP BY partition",
            [asset, lo, hi],
        ).fetchall()
        return dict(rows)

    def node_history(self, asset: str, partition: str, limit: int = 30) -> list[dict[str, Any]]:
        """The node's latest materializations, oldest first: when, by which run, how many
        rows, which data and code version (no data version: its rows were removed)."""
        rows = self.conn.execute(
            "SELECT run_id, ended_at, row_count, data_version, code_version FROM ("
            " SELECT * FROM assetflow.materializations WHERE asset = ? AND partition = ?"
            " ORDER BY materialization_id DESC LIMIT ?) ORDER BY materialization_id",
            [asset, partition, limit],
        ).fetchall()
        names = ("run_id", "ended_at", "rows", "data_version", "code_version")
        return [dict(zip(names, row, strict=True)) for row in rows]

    def list_checks(
        self, asset: str | None, failed_only: bool, run_id: str | None = None
    ) -> list[CheckRecord]:
        """The latest result of every check on every node (of one run's, with `run_id`)."""
        rows = self.conn.execute(
            "SELECT asset, partition, check_name, severity, passed, failing_rows, message,"
            " samples, run_id, checked_at FROM assetflow.check_results"
            " WHERE (? IS NULL OR asset = ?) AND (? IS NULL OR run_id = ?)"
            " QUALIFY row_number() OVER (PARTITION BY asset, partition, check_name"
            "   ORDER BY checked_at DESC) = 1"
            " ORDER BY asset, partition, check_name",
            [asset, asset, run_id, run_id],
        ).fetchall()
        records = [CheckRecord(*_parsed(row, 7, (), tuple)) for row in rows]
        return [r for r in records if not r.passed] if failed_only else records

    def attempts_of(self, run_id: str) -> list[AttemptRecord]:
        rows = self.conn.execute(
            f"SELECT {_ATTEMPT} FROM assetflow.attempts WHERE run_id = ? ORDER BY attempt_id",
            [run_id],
        ).fetchall()
        return [AttemptRecord(*row) for row in rows]

    def last_failure(self, asset: str, partition: str) -> AttemptRecord | None:
        """A node's last failed attempt (what `why` shows of a failed node)."""
        rows = self.conn.execute(
            f"SELECT {_ATTEMPT} FROM assetflow.attempt_log WHERE asset = ? AND partition = ?"
            " AND status = ? ORDER BY attempt_id DESC LIMIT 1",
            [asset, partition, AttemptStatus.FAILED],
        ).fetchall()
        return AttemptRecord(*rows[0]) if rows else None

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
        running = "SELECT count(*) FROM assetflow.runs WHERE status = ?"
        if not self.conn.execute(running, [RunStatus.RUNNING]).fetchall()[0][0]:
            return []  # as usual: the update's subqueries cost ~15 ms to plan

        def counted(table: str, status: str | None = None, where: str = "") -> str:
            which = f" AND x.status = '{status}'" if status else f" AND {where}" if where else ""
            return f"(SELECT count(*) FROM assetflow.{table} x WHERE x.run_id = r.run_id{which})"

        rows = self.conn.execute(
            "UPDATE assetflow.runs r SET status = ?, ended_at = ?,"
            f" succeeded = {counted('materializations', None, 'x.attempt_id IS NOT NULL')},"
            f" verified = {counted('attempt_log', AttemptStatus.VERIFIED)},"
            f" failed = {counted('attempt_log', AttemptStatus.FAILED)},"
            f" skipped = {counted('attempt_log', AttemptStatus.UPSTREAM_FAILED)}"
            " WHERE status = ? RETURNING run_id",
            [RunStatus.ABANDONED, now, RunStatus.RUNNING],
        ).fetchall()
        return [r[0] for r in rows]

    def refresh_nodes(self) -> None:
        """Merge materializations newer than the watermark into `assetflow.nodes`, in one
        transaction. Runs at the end of every run (and so after a crashed one)."""
        conn = self.conn
        newer = "SELECT count(*) FROM assetflow.materializations WHERE materialization_id > ?"
        if not conn.execute(newer, [nodes_watermark(conn)]).fetchall()[0][0]:
            return  # nothing to merge (every command that writes asks; ~15 ms saved)
        conn.execute("BEGIN TRANSACTION")
        try:
            create_delta(conn)
            conn.execute(
                "DELETE FROM assetflow.nodes n USING _af_delta d"
                " WHERE n.asset = d.asset AND n.partition_index = d.partition_index"
            )
            conn.execute(
                "INSERT INTO assetflow.nodes BY NAME SELECT asset, partition_index, partition,"
                " materialization_id, code_version, data_version, clipped, rebuilt, table_schema"
                " FROM _af_delta"
            )
            conn.execute(f"INSERT INTO assetflow.inputs {PENDING_INPUTS}")
            conn.execute(
                f"UPDATE assetflow.materializations SET inputs_text = NULL WHERE {PENDING}"
            )
            conn.execute(
                "UPDATE assetflow.meta SET value = (SELECT coalesce(max(materialization_id), 0)"
                " FROM assetflow.materializations)::VARCHAR WHERE key = 'nodes_watermark'"
            )
            conn.execute("DROP TABLE _af_delta")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def changed_observations(self, observations: list[Observation]) -> list[Observation]:
        """The observations whose version differs from the latest one recorded outside a run
        (the cursor: by a sensor once the work it triggered has run, or by `observe`). A run
        records what it read as it starts; that must not consume a sensor's trigger."""
        rows = self.conn.execute(
            "SELECT source, partition, arg_max_null(version, observation_id)"
            " FROM assetflow.observations WHERE run_id IS NULL GROUP BY ALL"
        ).fetchall()
        latest = {(source, partition): version for source, partition, version in rows}
        return [
            o
            for o in observations
            if (o.source, o.partition) not in latest or latest[(o.source, o.partition)] != o.version
        ]

    def current_versions(self, spans: dict[str, Intervals]) -> dict[tuple[str, str], str]:
        """The data version of every node in `spans` (asset -> partition indexes; the nodes
        table is merged on open)."""
        rows = [(asset, lo, hi) for asset, found in spans.items() for lo, hi in found.spans]
        if not rows:
            return {}
        found = self.conn.execute(
            "SELECT n.asset, n.partition, n.data_version FROM assetflow.nodes n"
            " JOIN (SELECT unnest(?::VARCHAR[]) AS asset, unnest(?::BIGINT[]) AS lo,"
            "  unnest(?::BIGINT[]) AS hi) s"
            " ON n.asset = s.asset AND n.partition_index BETWEEN s.lo AND s.hi",
            [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
        ).fetchall()
        return {(a, p): v for a, p, v in found}


def _parsed(row: tuple[Any, ...], at: int, empty: Any, kind: Callable = lambda v: v) -> list[Any]:
    """A row with its JSON column `at` parsed (`empty` when NULL), as `kind`."""
    values = list(row)
    values[at] = kind(json.loads(values[at])) if values[at] else empty
    return values
