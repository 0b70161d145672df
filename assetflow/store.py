"""The state store: the only module that touches assetflow's metadata schema in DuckDB.

Asset tables live in `main`, one per asset, with a `_partition` column. assetflow's own
tables live in the `assetflow` schema. Writing a node — delete the partition, insert the new
rows, record the materialization and its inputs — is one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from .checks import CheckResult
from .clock import WALL, Clock
from .errors import ConfigError, DataError, DefinitionError, WarehouseLockedError

PARTITION_COLUMN = "_partition"
SCHEMA_VERSION = "4"  # 2: attempts view; 3: nodes.rebuilt; 4: inputs_text

_DDL = """
CREATE SCHEMA IF NOT EXISTS assetflow;
CREATE SEQUENCE IF NOT EXISTS assetflow.materialization_ids;
CREATE SEQUENCE IF NOT EXISTS assetflow.attempt_ids;
CREATE SEQUENCE IF NOT EXISTS assetflow.observation_ids;
CREATE TABLE IF NOT EXISTS assetflow.meta (key VARCHAR, value VARCHAR);
CREATE TABLE IF NOT EXISTS assetflow.runs (
    run_id VARCHAR, trigger VARCHAR, selection VARCHAR, started_at TIMESTAMP,
    ended_at TIMESTAMP, status VARCHAR, pid INTEGER, planned INTEGER, succeeded INTEGER,
    verified INTEGER, failed INTEGER, skipped INTEGER, message VARCHAR, backfill_id VARCHAR);
CREATE TABLE IF NOT EXISTS assetflow.ticks (
    kind VARCHAR, name VARCHAR, tick_time TIMESTAMP, evaluated_at TIMESTAMP, run_id VARCHAR,
    detail VARCHAR);
CREATE TABLE IF NOT EXISTS assetflow.sla_misses (
    asset VARCHAR, partition VARCHAR, deadline TIMESTAMP, alerted_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS assetflow.backfills (
    backfill_id VARCHAR, selection VARCHAR, range_from VARCHAR, range_to VARCHAR,
    created_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS assetflow.materializations (
    materialization_id BIGINT, run_id VARCHAR, asset VARCHAR, partition VARCHAR,
    partition_index BIGINT, code_version VARCHAR, data_version VARCHAR, row_count BIGINT,
    clipped VARCHAR,
    started_at TIMESTAMP, ended_at TIMESTAMP,
    -- the successful attempt that wrote it (see the attempts view)
    attempt_id BIGINT, attempt INTEGER, log_path VARCHAR,
    -- its inputs as written in its transaction ("name|key|index|version;..."), moved into
    -- `inputs` (and cleared) when `nodes` is refreshed: one statement less per write
    inputs_text VARCHAR);
ALTER TABLE assetflow.materializations ADD COLUMN IF NOT EXISTS inputs_text VARCHAR;
CREATE TABLE IF NOT EXISTS assetflow.inputs (
    materialization_id BIGINT, input VARCHAR, input_partition VARCHAR, input_index BIGINT,
    input_version VARCHAR);
-- The latest materialization of every node, as of materialization id `nodes_watermark` in
-- meta; later materializations are merged in by refresh_nodes() at the end of each run.
-- `rebuilt`: the node had been materialized before this one; only a rebuilt node can hold a
-- version other than the one its readers recorded (status compares only those).
CREATE TABLE IF NOT EXISTS assetflow.nodes (
    asset VARCHAR, partition_index BIGINT, partition VARCHAR, materialization_id BIGINT,
    code_version VARCHAR, data_version VARCHAR, clipped VARCHAR, rebuilt BOOLEAN);
ALTER TABLE assetflow.nodes ADD COLUMN IF NOT EXISTS rebuilt BOOLEAN DEFAULT true;
CREATE TABLE IF NOT EXISTS assetflow.observations (
    observation_id BIGINT DEFAULT nextval('assetflow.observation_ids'), run_id VARCHAR,
    source VARCHAR, partition VARCHAR, version VARCHAR, detail VARCHAR,
    observed_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS assetflow.check_results (
    run_id VARCHAR, asset VARCHAR, partition VARCHAR, partition_index BIGINT,
    materialization_id BIGINT, check_name VARCHAR, severity VARCHAR, passed BOOLEAN,
    failing_rows BIGINT, message VARCHAR, samples VARCHAR, checked_at TIMESTAMP);
-- Attempts that wrote nothing (retrying, failed, upstream_failed, verified); a successful
-- attempt is recorded in its materialization, in the same statement.
CREATE TABLE IF NOT EXISTS assetflow.attempt_log (
    attempt_id BIGINT DEFAULT nextval('assetflow.attempt_ids'), run_id VARCHAR,
    asset VARCHAR, partition VARCHAR, partition_index BIGINT, attempt INTEGER,
    started_at TIMESTAMP,
    ended_at TIMESTAMP, status VARCHAR, error_class VARCHAR, error_message VARCHAR,
    log_path VARCHAR, next_retry_at TIMESTAMP);
CREATE OR REPLACE VIEW assetflow.attempts AS
SELECT attempt_id, run_id, asset, partition, partition_index, attempt, started_at, ended_at,
       status, error_class, error_message, log_path, next_retry_at
FROM assetflow.attempt_log
UNION ALL
SELECT attempt_id, run_id, asset, partition, partition_index, attempt, started_at, ended_at,
       'success', NULL, NULL, log_path, NULL
FROM assetflow.materializations WHERE attempt_id IS NOT NULL;
"""

# Schema 1 kept every attempt in a table named `attempts`.
_MIGRATE_FROM_1 = """
ALTER TABLE assetflow.attempts RENAME TO attempt_log;
ALTER TABLE assetflow.materializations ADD COLUMN attempt_id BIGINT;
ALTER TABLE assetflow.materializations ADD COLUMN attempt INTEGER;
ALTER TABLE assetflow.materializations ADD COLUMN log_path VARCHAR;
"""

_LOCK_PID = re.compile(r"PID (\d+)")

# What a write records per materialization, besides its ids.
_MATERIALIZATION_COLUMNS = (
    ("run_id", "VARCHAR"), ("asset", "VARCHAR"), ("partition", "VARCHAR"),
    ("partition_index", "BIGINT"), ("code_version", "VARCHAR"), ("data_version", "VARCHAR"),
    ("row_count", "BIGINT"), ("clipped", "VARCHAR"), ("started_at", "TIMESTAMP"),
    ("ended_at", "TIMESTAMP"), ("attempt", "INTEGER"), ("log_path", "VARCHAR"),
    ("inputs_text", "VARCHAR"),
)  # fmt: skip

# The inputs of materializations newer than the nodes watermark, from their inputs_text.
PENDING_INPUTS = """
SELECT materialization_id, parts[1] AS input, parts[2] AS input_partition,
       parts[3]::BIGINT AS input_index, nullif(parts[4], '') AS input_version
FROM (SELECT materialization_id, string_split(unnest(string_split(inputs_text, ';')), '|') AS parts
      FROM assetflow.materializations
      WHERE inputs_text IS NOT NULL AND materialization_id > (
          SELECT value::BIGINT FROM assetflow.meta WHERE key = 'nodes_watermark'))
"""

# Materializations newer than the nodes watermark, latest per node.
_DELTA = """
CREATE OR REPLACE TEMP TABLE _af_delta AS
SELECT d.*, n.asset IS NOT NULL OR d.builds > 1 AS rebuilt FROM (
    SELECT asset, partition_index, arg_max(partition, materialization_id) AS partition,
           max(materialization_id) AS materialization_id,
           arg_max(code_version, materialization_id) AS code_version,
           arg_max(data_version, materialization_id) AS data_version,
           arg_max(clipped, materialization_id) AS clipped, count(*) AS builds
    FROM assetflow.materializations
    WHERE materialization_id > (
        SELECT value::BIGINT FROM assetflow.meta WHERE key = 'nodes_watermark')
    GROUP BY asset, partition_index) d
LEFT JOIN assetflow.nodes n USING (asset, partition_index)
GROUP BY ALL
"""

# Runs a node's blocking checks over its new rows; raises to roll the write back.
Audit = Callable[[duckdb.DuckDBPyConnection, str, "NodeWrite"], Sequence[CheckResult]]


@dataclass(frozen=True)
class Observation:
    source: str
    partition: str
    index: int
    version: str | None  # None: the partition has no data
    detail: str


@dataclass(frozen=True)
class NodeWrite:
    """Everything recorded with one node's data, in its transaction."""

    run_id: str
    asset: str
    partition: str
    partition_index: int
    code_version: str
    inputs: tuple[tuple[str, str, int, str], ...]  # (input, partition, its index, version)
    clipped: str | None
    started_at: dt.datetime
    attempt: int = 1  # recorded as a successful attempt in the same transaction
    log_path: str | None = None


@dataclass(frozen=True)
class Written:
    row_count: int
    data_version: str
    materialization_id: int


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    trigger: str
    selection: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    status: str
    planned: int
    succeeded: int
    verified: int
    failed: int
    skipped: int
    message: str | None


@dataclass(frozen=True)
class CheckRecord:
    asset: str
    partition: str
    check: str
    severity: str
    passed: bool
    failing_rows: int
    message: str
    samples: str  # JSON list of up to 5 failing rows
    run_id: str | None
    checked_at: dt.datetime


@dataclass(frozen=True)
class AttemptRecord:
    asset: str
    partition: str
    attempt: int  # 0 for nodes settled without running: verified or upstream_failed
    started_at: dt.datetime
    ended_at: dt.datetime
    status: str  # success | verified | retrying | failed | upstream_failed
    error_class: str | None
    error_message: str | None
    next_retry_at: dt.datetime | None
    log_path: str | None


def _schema_version(conn: duckdb.DuckDBPyConnection) -> str | None:
    """The warehouse's schema version; None for a file assetflow has not written yet."""
    found = conn.execute(
        "SELECT count(*) FROM information_schema.tables"
        " WHERE table_schema = 'assetflow' AND table_name = 'meta'"
    ).fetchall()[0][0]
    if not found:
        return None
    rows = conn.execute("SELECT value FROM assetflow.meta WHERE key = 'schema'").fetchall()
    return rows[0][0] if rows else None


def _check_schema(conn: duckdb.DuckDBPyConnection, path: Path) -> None:
    version = _schema_version(conn)
    if version not in (None, SCHEMA_VERSION):
        raise ConfigError(
            f"warehouse {path} has metadata schema {version}, this assetflow reads"
            f" {SCHEMA_VERSION}",
            "run a writing command once (`assetflow observe`) to upgrade it in place",
        )


class Store:
    """One DuckDB connection to the warehouse, held for a whole command."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, path: Path, clock: Clock) -> None:
        self.conn = conn
        self.path = path
        self.clock = clock
        self._columns: dict[str, dict[str, str]] = {}
        self._ddl_lock = threading.Lock()
        self._types: dict[str, dict[str, str]] = {}

    @classmethod
    def open(
        cls, path: Path, clock: Clock | None = None, read_only: bool = False, wait: float = 0.0
    ) -> Store:
        """Open the warehouse; read-only for commands that only look. While another process
        holds it, try again for up to `wait` seconds, then say who holds it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + wait
        while True:
            try:
                conn = duckdb.connect(str(path), read_only=read_only)
                break
            except duckdb.IOException as exc:
                message = str(exc)
                if "lock" not in message.lower():
                    raise
                if time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                match = _LOCK_PID.search(message)
                holder = f"process {match.group(1)}" if match else "another process"
                raise WarehouseLockedError(
                    f"warehouse {path} is in use by {holder}",
                    "wait for it to finish (--wait SECONDS), or stop it",
                ) from None
        if read_only:
            _check_schema(conn, path)
            return cls(conn, path, clock or WALL)
        version = _schema_version(conn)
        if version == "1":
            conn.execute(_MIGRATE_FROM_1)
        conn.execute(_DDL)  # later versions only add columns, with IF NOT EXISTS
        if version is None:
            conn.execute(
                "INSERT INTO assetflow.meta VALUES ('schema', ?), ('nodes_watermark', '0')",
                [SCHEMA_VERSION],
            )
        elif version != SCHEMA_VERSION:
            conn.execute(
                "UPDATE assetflow.meta SET value = ? WHERE key = 'schema'", [SCHEMA_VERSION]
            )
        return cls(conn, path, clock or WALL)

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
        backfill_id: str | None = None,
    ) -> None:
        self.conn.execute(
            "INSERT INTO assetflow.runs (run_id, trigger, selection, started_at, status, pid,"
            " backfill_id) VALUES (?, ?, ?, ?, 'running', ?, ?)",
            [run_id, trigger, selection, started_at, pid, backfill_id],
        )

    def last_tick(self, kind: str, name: str) -> dt.datetime | None:
        rows = self.conn.execute(
            "SELECT max(tick_time) FROM assetflow.ticks WHERE kind = ? AND name = ?", [kind, name]
        ).fetchall()
        return rows[0][0]

    def record_ticks(
        self, kind: str, name: str, times: list[dt.datetime], run_id: str | None, detail: str
    ) -> None:
        now = self.clock()
        self.conn.executemany(
            "INSERT INTO assetflow.ticks VALUES (?, ?, ?, ?, ?, ?)",
            [(kind, name, t, now, run_id, detail) for t in times],
        )

    def sla_alerted(self, asset: str) -> set[str]:
        rows = self.conn.execute(
            "SELECT partition FROM assetflow.sla_misses WHERE asset = ?", [asset]
        ).fetchall()
        return {r[0] for r in rows}

    def record_sla_miss(self, asset: str, partition: str, deadline: dt.datetime) -> None:
        self.conn.execute(
            "INSERT INTO assetflow.sla_misses VALUES (?, ?, ?, ?)",
            [asset, partition, deadline, self.clock()],
        )

    def backfill_for(
        self, selection: str, range_from: str | None, range_to: str | None, new_id: str
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
            [new_id, selection, range_from, range_to, self.clock()],
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
        status: str,
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
        status: str,
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
        self._insert(
            "attempt_log",
            "run_id, asset, partition, partition_index, attempt, started_at, ended_at, status,"
            " error_class, error_message, log_path, next_retry_at",
            rows,
        )

    def _insert(
        self,
        table: str,
        columns: str,
        rows: Sequence[tuple[Any, ...]],
        cur: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        """Many rows in one statement (a statement costs ~0.5 ms in DuckDB), through `cur`
        (a worker's cursor, inside its transaction) or the store's connection."""
        if not rows:
            return
        conn = cur or self.conn
        names = [c.strip() for c in columns.split(",")]
        types = self._column_types(table, conn)
        if len(rows) <= 4:  # for a row or two, scalar parameters convert faster than lists
            row = "(" + ", ".join(f"?::{types[n]}" for n in names) + ")"
            params = [value for r in rows for value in r]
            conn.execute(
                f"INSERT INTO assetflow.{table} ({columns}) VALUES {', '.join([row] * len(rows))}",
                params,
            )
            return
        lists = [list(column) for column in zip(*rows, strict=True)]
        selects = ", ".join(f"unnest(?::{types[n]}[])" for n in names)
        conn.execute(f"INSERT INTO assetflow.{table} ({columns}) SELECT {selects}", lists)

    def _column_types(self, table: str, conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
        cached = self._types.get(table)
        if cached is None:
            rows = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'assetflow' AND table_name = ?",
                [table],
            ).fetchall()
            cached = self._types[table] = dict(rows)
        return cached

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
            " coalesce(failed, 0), coalesce(skipped, 0), message FROM assetflow.runs"
            " WHERE (? IS NULL OR status = ?) AND (? IS NULL OR trigger = ?)"
            " AND (? IS NULL OR starts_with(run_id, ?))"
            " ORDER BY started_at DESC, run_id DESC LIMIT ?",
            [status, status, trigger, trigger, run_prefix, run_prefix, limit],
        ).fetchall()
        return [RunRecord(*row) for row in rows]

    def record_checks(
        self,
        run_id: str | None,
        checked: Sequence[tuple[tuple[str, str, int], int | None, Sequence[CheckResult]]],
        cur: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        """Check results of nodes: (node, the materialization they checked, results);
        through `cur` inside a node's write, so they commit with its data."""
        now = self.clock()
        rows = [
            (run_id, *node, mid, r.check, r.severity, r.passed, r.failing_rows, r.message,
             r.samples_json(), now)
            for node, mid, results in checked
            for r in results
        ]  # fmt: skip
        self._insert(
            "check_results",
            "run_id, asset, partition, partition_index, materialization_id, check_name,"
            " severity, passed, failing_rows, message, samples, checked_at",
            rows,
            cur,
        )

    def latest_materializations(self, asset: str, lo: int, hi: int) -> dict[str, int]:
        """partition -> latest materialization id, for the asset's partitions lo..hi."""
        rows = self.conn.execute(
            "SELECT partition, max(materialization_id) FROM assetflow.materializations"
            " WHERE asset = ? AND partition_index BETWEEN ? AND ? GROUP BY partition",
            [asset, lo, hi],
        ).fetchall()
        return dict(rows)

    def list_checks(self, asset: str | None, failed_only: bool) -> list[CheckRecord]:
        """The latest result of every check on every node."""
        rows = self.conn.execute(
            "SELECT asset, partition, check_name, severity, passed, failing_rows, message,"
            " samples, run_id, checked_at FROM assetflow.check_results"
            " WHERE (? IS NULL OR asset = ?)"
            " QUALIFY row_number() OVER (PARTITION BY asset, partition, check_name"
            "   ORDER BY checked_at DESC) = 1"
            " ORDER BY asset, partition, check_name",
            [asset, asset],
        ).fetchall()
        records = [CheckRecord(*row) for row in rows]
        return [r for r in records if not r.passed] if failed_only else records

    def attempts_of(self, run_id: str) -> list[AttemptRecord]:
        rows = self.conn.execute(
            "SELECT asset, partition, attempt, started_at, ended_at, status, error_class,"
            " error_message, next_retry_at, log_path FROM assetflow.attempts"
            " WHERE run_id = ? ORDER BY attempt_id",
            [run_id],
        ).fetchall()
        return [AttemptRecord(*row) for row in rows]

    # -- observations and versions --------------------------------------------------------
    def record_observations(
        self, run_id: str | None, observed_at: dt.datetime, observations: Iterable[Observation]
    ) -> None:
        rows = [
            (run_id, o.source, o.partition, o.version, o.detail, observed_at) for o in observations
        ]
        self._insert(
            "observations", "run_id, source, partition, version, detail, observed_at", rows
        )

    def abandon_dead_runs(self, now: dt.datetime) -> list[str]:
        """Runs still marked running while we hold the only write lock died (killed, power
        lost): mark them abandoned. Their committed nodes stay; nothing half-written exists."""
        rows = self.conn.execute(
            "UPDATE assetflow.runs SET status = 'abandoned', ended_at = ?"
            " WHERE status = 'running' RETURNING run_id",
            [now],
        ).fetchall()
        return [r[0] for r in rows]

    def refresh_nodes(self) -> None:
        """Merge materializations newer than the watermark into `assetflow.nodes`, in one
        transaction. Runs at the end of every run (and so after a crashed one)."""
        conn = self.conn
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(_DELTA)
            conn.execute(
                "DELETE FROM assetflow.nodes n USING _af_delta d"
                " WHERE n.asset = d.asset AND n.partition_index = d.partition_index"
            )
            conn.execute(
                "INSERT INTO assetflow.nodes SELECT asset, partition_index, partition,"
                " materialization_id, code_version, data_version, clipped, rebuilt FROM _af_delta"
            )
            conn.execute(f"INSERT INTO assetflow.inputs {PENDING_INPUTS}")
            conn.execute(
                "UPDATE assetflow.materializations SET inputs_text = NULL"
                " WHERE inputs_text IS NOT NULL"
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
        """The observations whose version differs from the latest one recorded."""
        rows = self.conn.execute(
            "SELECT source, partition, arg_max(version, observation_id)"
            " FROM assetflow.observations GROUP BY ALL"
        ).fetchall()
        latest = {(source, partition): version for source, partition, version in rows}
        return [
            o
            for o in observations
            if (o.source, o.partition) not in latest or latest[(o.source, o.partition)] != o.version
        ]

    def current_versions(self, assets: Iterable[str]) -> dict[tuple[str, str], str]:
        """The data version of every node of `assets` (the nodes table is merged on open)."""
        names = sorted(set(assets))
        if not names:
            return {}
        rows = self.conn.execute(
            "SELECT asset, partition, data_version FROM assetflow.nodes"
            " WHERE list_contains(?, asset)",
            [names],
        ).fetchall()
        return {(a, p): v for a, p, v in rows}

    def write_nodes(
        self,
        cur: duckdb.DuckDBPyConnection,
        query: str,
        writes: Sequence[NodeWrite],
        partition_by: str | None = None,
        audit: Audit | None = None,
    ) -> dict[str, Written]:
        """Replace the partitions of `writes` (contiguous, one asset) with the rows of `query`
        and record each, atomically: one delete of the range, one insert, a lineage record
        per partition. With one write every row belongs to it; with several, `partition_by`
        (an SQL expression over the rows giving their partition key) places each row.

        `audit(cur, rows, write)` runs per partition after the insert and before commit, over
        a view of that partition's new rows; if it raises, everything rolls back.

        The rows are staged in a temp table (private to the cursor) and the asset's table is
        created or widened first, under a lock, so that concurrent writers of one asset only
        ever meet in the short delete/insert/record transaction.
        """
        asset = writes[0].asset
        keys = [w.partition for w in writes]
        single = len(writes) == 1
        placed = f"'{keys[0]}'" if single or not partition_by else partition_by
        if single and asset in self._columns:  # the table exists: insert without a bind
            try:
                return self._replace(cur, asset, f"({query})", placed, writes, audit)
            except duckdb.BinderException:  # a new column, or a mistake: bind to know which
                pass
        try:
            if single:  # rows go straight from the query into the table
                relation = cur.sql(query)  # binds, does not run
                columns = dict(zip(relation.columns, map(str, relation.types), strict=True))
                rows = f"({query})"
            else:  # a batch is staged first, to refuse rows outside its partitions
                cur.execute(f"CREATE OR REPLACE TEMP TABLE _af_stage AS {query}")
                columns = dict(cur.execute("SELECT column_name, column_type FROM"
                                           " (DESCRIBE _af_stage)").fetchall())  # fmt: skip
                rows = "_af_stage"
                self._refuse_strays(cur, asset, placed, keys, partition_by)
            self._check_columns(asset, columns)
            with self._ddl_lock:
                self._ensure_table(cur, asset, columns)
            return self._replace(cur, asset, rows, placed, writes, audit)
        finally:
            if not single:
                cur.execute("DROP TABLE IF EXISTS _af_stage")

    def _replace(
        self,
        cur: duckdb.DuckDBPyConnection,
        asset: str,
        rows: str,
        placed: str,
        writes: Sequence[NodeWrite],
        audit: Audit | None,
    ) -> dict[str, Written]:
        """The transaction: delete the partitions, insert the rows, audit, record, commit.
        Versions are of the rows as the table stores them (its columns and types)."""
        table = f'main."{asset}"'
        columns = {k: v for k, v in self._columns[asset].items() if k != PARTITION_COLUMN}
        cur.execute("BEGIN TRANSACTION")
        try:
            cur.execute(
                f"DELETE FROM {table} WHERE {PARTITION_COLUMN} BETWEEN ? AND ?",
                [writes[0].partition, writes[-1].partition],
            )
            cur.execute(
                f"INSERT INTO {table} BY NAME SELECT *, ({placed})::VARCHAR AS"
                f" {PARTITION_COLUMN} FROM {rows}"
            )
            audited = [
                (write, self._audit_partition(cur, table, columns, write, audit))
                for write in (writes if audit is not None else ())
            ]
            written = self._record(cur, table, columns, writes)
            checked = [
                ((w.asset, w.partition, w.partition_index), written[w.partition].materialization_id,
                 results)
                for w, results in audited
            ]  # fmt: skip
            self.record_checks(writes[0].run_id, checked, cur)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return written

    @staticmethod
    def _refuse_strays(
        cur: duckdb.DuckDBPyConnection,
        asset: str,
        placed: str,
        keys: list[str],
        partition_by: str | None,
    ) -> None:
        stray = cur.execute(
            "SELECT count(*) FROM _af_stage"
            f" WHERE NOT coalesce(list_contains(?, ({placed})::VARCHAR), false)",
            [keys],
        ).fetchall()[0][0]
        if stray:
            raise DataError(
                f"asset {asset}: {stray} rows fall outside partitions {keys[0]}..{keys[-1]}",
                f"check the values of partition_by ({partition_by})",
            )

    @staticmethod
    def _audit_partition(
        cur: duckdb.DuckDBPyConnection,
        table: str,
        columns: dict[str, str],
        write: NodeWrite,
        audit: Audit,
    ) -> Sequence[CheckResult]:
        """Run the audit over one partition's new rows, as the table now holds them."""
        names = ", ".join(f'"{c}"' for c in columns)
        cur.execute(
            f"CREATE OR REPLACE TEMP VIEW _af_audit AS SELECT {names} FROM {table}"
            f" WHERE {PARTITION_COLUMN} = '{write.partition}'"
        )
        return audit(cur, "_af_audit", write)

    @staticmethod
    def _check_columns(asset: str, columns: dict[str, str]) -> None:
        if PARTITION_COLUMN in columns:
            raise DefinitionError(
                f"asset {asset} returns a column named {PARTITION_COLUMN}",
                "that name is reserved for assetflow's partition key",
            )
        if not columns:
            raise DefinitionError(f"asset {asset} returns no columns")

    def _ensure_table(
        self, cur: duckdb.DuckDBPyConnection, asset: str, columns: dict[str, str]
    ) -> None:
        known = self._columns.get(asset) or self._table_columns(cur, asset)
        added = [(name, kind) for name, kind in columns.items() if known and name not in known]
        if not known:
            defined = ", ".join(f'"{name}" {kind}' for name, kind in columns.items())
            cur.execute(
                f'CREATE TABLE IF NOT EXISTS main."{asset}" ({defined}, {PARTITION_COLUMN} VARCHAR)'
            )
        for name, kind in added:  # a new column: older partitions read NULL until rebuilt
            cur.execute(f'ALTER TABLE main."{asset}" ADD COLUMN "{name}" {kind}')
        # As the catalog spells them, in table order: data versions hash this schema.
        changed = not known or added
        self._columns[asset] = self._table_columns(cur, asset) if changed else known

    @staticmethod
    def _table_columns(cur: duckdb.DuckDBPyConnection, asset: str) -> dict[str, str]:
        rows = cur.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
            [asset],
        ).fetchall()
        return dict(rows)

    def _record(
        self,
        cur: duckdb.DuckDBPyConnection,
        table: str,
        columns: dict[str, str],
        writes: Sequence[NodeWrite],
    ) -> dict[str, Written]:
        """Lineage of the partitions just written: their materializations, each with its
        data version (sha256 of the schema, the row count and an order-independent sum of
        row hashes, over the rows as the table stores them), the successful attempt and the
        inputs it read. One statement for one partition, two for a batch."""
        struct = ", ".join(f'"{c}" := "{c}"' for c in columns)
        schema = ",".join(f"{name} {kind}" for name, kind in columns.items())
        row_hashes = f"coalesce(sum(hash(struct_pack({struct}))), 0)"
        names = ", ".join(c for c, _ in _MATERIALIZATION_COLUMNS)
        head = f"INSERT INTO assetflow.materializations (materialization_id, attempt_id, {names})"
        ids = "nextval('assetflow.materialization_ids'), nextval('assetflow.attempt_ids')"
        tail = " RETURNING partition, materialization_id, data_version, row_count"
        now = self.clock()
        if len(writes) == 1:  # the version computed inside the insert: one statement
            w = writes[0]
            recorded = cur.execute(
                f"{head} SELECT {ids}, ?, ?, ?, ?, ?, left(sha256(concat_ws('|', ?, v.n, v.h)),"
                f" 16), v.n, ?, ?, ?, ?, ?, ? FROM (SELECT count(*) AS n, {row_hashes} AS h"
                f" FROM {table} WHERE {PARTITION_COLUMN} = ?) v{tail}",
                [w.run_id, w.asset, w.partition, w.partition_index, w.code_version, schema,
                 w.clipped, w.started_at, now, w.attempt, w.log_path, _inputs_text(w),
                 w.partition],
            ).fetchall()  # fmt: skip
        else:
            groups = cur.execute(
                f"SELECT {PARTITION_COLUMN}, count(*), {row_hashes} FROM {table}"
                f" WHERE {PARTITION_COLUMN} BETWEEN ? AND ? GROUP BY 1",
                [writes[0].partition, writes[-1].partition],
            ).fetchall()
            found = {key: (n, row_hash) for key, n, row_hash in groups}
            params = []
            for w in writes:
                n, row_hash = found.get(w.partition, (0, 0))
                version = hashlib.sha256(f"{schema}|{n}|{row_hash}".encode()).hexdigest()[:16]
                params += [
                    w.run_id, w.asset, w.partition, w.partition_index, w.code_version, version,
                    n, w.clipped, w.started_at, now, w.attempt, w.log_path, _inputs_text(w),
                ]  # fmt: skip
            row = ", ".join(f"?::{kind}" for _, kind in _MATERIALIZATION_COLUMNS)
            values = ", ".join(f"({ids}, {row})" for _ in writes)
            recorded = cur.execute(f"{head} VALUES {values}{tail}", params).fetchall()
        return {key: Written(n, version, mid) for key, mid, version, n in recorded}


def _inputs_text(write: NodeWrite) -> str | None:
    """The inputs of a write as one value: names, keys and hex versions hold no | or ;."""
    if not write.inputs:
        return None
    return ";".join(
        f"{name}|{key}|{index}|{version or ''}" for name, key, index, version in write.inputs
    )
