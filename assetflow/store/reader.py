"""The state store's read side for commands and the page: runs, attempts, checks, ticks,
backfills, node histories, an overview per asset, and a user's read-only SQL. `Store` (the
writer) is one too; a read-only session needs nothing else.

Lineage facts for status and `why` are lineage.py's.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import duckdb

from assetflow.core.environments import AssetDiff, Env, Environment, Wanted
from assetflow.core.intervals import Intervals, span_rows
from assetflow.core.partitions import DynamicKeys
from assetflow.core.records import (
    AttemptRecord,
    AttemptStatus,
    CheckRecord,
    Observation,
    RunRecord,
    RunStatus,
)
from assetflow.errors import UsageError
from assetflow.store.environments import Differing, differing
from assetflow.store.keysets import read_keysets
from assetflow.store.published import recorded_summary, recorded_versions, view_versions
from assetflow.store.row_diff import row_diffs
from assetflow.store.run_counts import RUNS_PAGE
from assetflow.store.schema import table_sql
from assetflow.store.tables import read_partitions, table_columns

_ATTEMPT = (
    "asset, partition, attempt, started_at, ended_at, status, error_class, error_message,"
    " next_retry_at, log_path, run_id"
)


# Asked by every command on opening, as HAS_SCHEMA is (a holder answers both with the
# session: served.py).
SHARING = (
    "SELECT e.name, e.parent, e.created_at, r.kept"
    " FROM (SELECT count(*) > 0 AS kept FROM assetflow.retained) r"
    " LEFT JOIN assetflow.environments e ON true ORDER BY e.name"
)


class StateReader:
    """Questions about the recorded state of one environment (`env`), over one connection."""

    conn: duckdb.DuckDBPyConnection
    env: Env = Env()

    def keysets(self, names: list[str]) -> dict[str, DynamicKeys]:
        """The stored keys of these dynamic key sets."""
        return read_keysets(self.conn, names)

    def table_columns(self, asset: str) -> dict[str, str]:
        return table_columns(self.conn, asset, self.env.read_schema)

    def read_partitions(self, asset: str, where: str | None) -> Any:
        return read_partitions(self.conn, asset, where, self.env.read_schema)

    def table(self, asset: str) -> str:
        """The asset's table as SQL names it in this environment."""
        return table_sql(asset, self.env.read_schema)

    def own_node_counts(self) -> dict[str, int]:
        """Per environment, how many nodes it holds itself."""
        rows = self.conn.execute(
            "SELECT env, count(*) FROM assetflow.nodes WHERE data_version IS NOT NULL GROUP BY env"
        ).fetchall()
        return dict(rows)

    def env_differing(self) -> list[Differing]:
        """The nodes whose data differs between this environment and its parent."""
        return differing(self.conn, self.env)

    def env_row_diffs(self, wanted: Sequence[Wanted], samples: int) -> list[AssetDiff]:
        """How the rows of these assets' partitions differ from the parent's (row_diff.py)."""
        return row_diffs(self.conn, self.env, wanted, samples)

    def environments(self) -> dict[str, Environment]:
        """Every environment beside prod (none in a warehouse older than environments)."""
        return self.sharing()[0]

    def sharing(self) -> tuple[dict[str, Environment], bool]:
        """Every environment beside prod, and whether nodes a promotion replaced are kept
        (neither in a warehouse older than environments): one question, asked on opening."""
        try:
            rows = self.conn.execute(SHARING).fetchall()
        except duckdb.CatalogException:
            return {}, False
        known = {name: Environment(name, parent, at) for name, parent, at, _ in rows if name}
        return known, bool(rows[0][3])

    def holding_data(self, asset: str, keys: Sequence[str]) -> list[str]:
        """Those of `keys` whose latest record of `asset` has data (wiping the others
        changes nothing), in the order given."""
        rows = self.conn.execute(
            "SELECT partition FROM assetflow.materializations"
            " WHERE asset = ? AND list_contains(?, partition)"
            " GROUP BY partition HAVING arg_max(data_version IS NOT NULL, materialization_id)",
            [asset, list(keys)],
        ).fetchall()
        found = {p for (p,) in rows}
        return [k for k in keys if k in found]

    def delta_summary(self) -> tuple[dict[str, tuple[int, int, int]], dict[str, int | None]]:
        """storage = "delta": per asset, its recorded commits (highest, count, base) and the
        version its view reads."""
        return recorded_summary(self.conn), view_versions(self.conn)

    def viewed_tables(self) -> dict[str, int | None]:
        """The Delta tables that have a view, with the version it reads ({} in a warehouse
        without assetflow's tables yet)."""
        try:
            return view_versions(self.conn)
        except duckdb.CatalogException:
            return {}

    def delta_versions(self, asset: str) -> set[int]:
        return recorded_versions(self.conn, asset)

    def last_tick(self, kind: str, name: str) -> dt.datetime | None:
        rows = self.conn.execute(
            "SELECT max(tick_time) FROM assetflow.ticks WHERE kind = ? AND name = ?", [kind, name]
        ).fetchall()
        return rows[0][0]

    def recent_builds(self, asset: str, limit: int = 30) -> list[dict[str, Any]]:
        """The asset's latest materializations in this environment's chain, oldest first:
        partition, rows, seconds, when."""
        return self._records(
            ("partition", "rows", "seconds", "ended_at"),
            "SELECT partition, row_count, epoch(ended_at) - epoch(started_at), ended_at FROM ("
            "  SELECT * FROM assetflow.materializations WHERE asset = ? AND list_contains(?, env)"
            "  AND data_version IS NOT NULL ORDER BY materialization_id DESC LIMIT ?)"
            " ORDER BY materialization_id",
            [asset, list(self.env.chain), limit],
        )

    def _records(self, keys: tuple[str, ...], sql: str, params: list[Any]) -> list[dict[str, Any]]:
        """A query's rows as dicts of `keys` (the page's JSON)."""
        rows = self.conn.execute(sql, params).fetchall()
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def recent_ticks(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest ticks of schedules, sensors, eager assets and SLAs, latest first."""
        return self._records(
            ("kind", "name", "tick_time", "evaluated_at", "run_id", "detail"),
            "SELECT kind, name, tick_time, evaluated_at, run_id, detail FROM assetflow.ticks"
            " ORDER BY evaluated_at DESC, tick_time DESC LIMIT ?",
            [limit],
        )

    def recent_sla_misses(self, limit: int = 50) -> list[dict[str, Any]]:
        """SLA misses alerted, the latest first."""
        return self._records(
            ("asset", "partition", "deadline", "alerted_at"),
            "SELECT asset, partition, deadline, alerted_at FROM assetflow.sla_misses"
            " ORDER BY alerted_at DESC, asset, partition LIMIT ?",
            [limit],
        )

    def sensor_cursor(self, source: str) -> tuple[dt.datetime | None, int]:
        """A file sensor's cursor: when its source was last observed outside a run, and how
        many of its partitions have been."""
        (at, partitions) = self.conn.execute(
            "SELECT max(observed_at), count(DISTINCT partition) FROM assetflow.observations"
            " WHERE source = ? AND run_id IS NULL",
            [source],
        ).fetchall()[0]
        return at, int(partitions)

    def sla_alerted(self, asset: str) -> set[str]:
        rows = self.conn.execute(
            "SELECT partition FROM assetflow.sla_misses WHERE asset = ?", [asset]
        ).fetchall()
        return {r[0] for r in rows}

    def find_backfill(self, prefix: str | None) -> tuple[str, str, str | None, str | None] | None:
        """(id, selection, from, to) of the backfill with this id prefix, or the latest."""
        rows = self.conn.execute(
            "SELECT backfill_id, selection, range_from, range_to FROM assetflow.backfills"
            " WHERE (? IS NULL OR starts_with(backfill_id, ?)) AND env = ?"
            " ORDER BY created_at DESC LIMIT 2",
            [prefix, prefix, self.env.name],
        ).fetchall()
        if not rows or (prefix is not None and len(rows) > 1):
            return None
        return rows[0]

    def backfill_of(
        self, selection: str, range_from: str | None, range_to: str | None
    ) -> str | None:
        """The id of the latest backfill of this selection and range (a re-run resumes it)."""
        rows = self.conn.execute(
            "SELECT backfill_id FROM assetflow.backfills WHERE selection = ?"
            " AND range_from IS NOT DISTINCT FROM ? AND range_to IS NOT DISTINCT FROM ?"
            " AND env = ? ORDER BY created_at DESC LIMIT 1",
            [selection, range_from, range_to, self.env.name],
        ).fetchall()
        return rows[0][0] if rows else None

    def rebuilt_by_backfill(
        self, selection: str, range_from: str | None, range_to: str | None
    ) -> dict[str, Intervals]:
        """Per asset, the nodes that runs of the backfill of this selection and range wrote,
        unless its last run finished (none: no such backfill yet): what a forced backfill
        run again after an interrupt or a failure need not rebuild."""
        backfill_id = self.backfill_of(selection, range_from, range_to)
        if backfill_id is None:
            return {}
        rows = self.conn.execute(
            "WITH runs AS (SELECT run_id, status, started_at FROM assetflow.runs"
            "   WHERE backfill_id = ?)"
            " SELECT m.asset, m.partition_index FROM assetflow.materializations m"
            " JOIN runs r USING (run_id) WHERE m.data_version IS NOT NULL"
            " AND (SELECT arg_max(status, started_at) FROM runs) <> ?",
            [backfill_id, RunStatus.SUCCESS],
        ).fetchall()
        found: dict[str, list[int]] = {}
        for asset, index in rows:
            found.setdefault(asset, []).append(index)
        return {asset: Intervals.points(indexes) for asset, indexes in found.items()}

    def list_runs(
        self,
        limit: int = 20,
        status: str | None = None,
        trigger: str | None = None,
        run_prefix: str | None = None,
    ) -> list[RunRecord]:
        rows = self.conn.execute(
            RUNS_PAGE, [status, status, trigger, trigger, run_prefix, run_prefix, limit]
        ).fetchall()
        return [RunRecord(*_parsed(row, 2, {})) for row in rows]

    def longest_run_seconds(self) -> float:
        """How long the longest finished run took (0 with none)."""
        (found,) = self.conn.execute(
            "SELECT coalesce(max(epoch(ended_at) - epoch(started_at)), 0)"
            " FROM assetflow.runs WHERE ended_at IS NOT NULL"
        ).fetchall()[0]
        return float(found)

    def asset_overview(
        self, assets: list[str], recent: int
    ) -> dict[str, tuple[int, str, dt.datetime, list[tuple[str, int]]]]:
        """Per asset: materialized partitions, the last run that built one and when, and the
        row counts of its `recent` latest partitions (latest first)."""
        rows = self.conn.execute(
            "WITH latest AS (SELECT asset, partition, partition_index,"
            " arg_max(row_count, materialization_id) AS n, max(ended_at) AS ended_at,"
            " arg_max(run_id, ended_at) AS run_id FROM assetflow.materializations"
            " WHERE list_contains(?, asset) AND list_contains(?, env) GROUP BY ALL)"
            " SELECT asset, count(*), arg_max(run_id, ended_at), max(ended_at),"
            f" list([partition, n::VARCHAR] ORDER BY partition_index DESC)[1:{int(recent)}]"
            " FROM latest GROUP BY asset",
            [assets, list(self.env.chain)],
        ).fetchall()
        return {
            asset: (count, run_id, ended_at, [(p, int(n)) for p, n in latest])
            for asset, count, run_id, ended_at, latest in rows
        }

    def query(self, sql: str) -> tuple[list[str], Iterator[list[tuple[Any, ...]]]]:
        """A user's query on a read-only warehouse: its column names and its rows in batches,
        read as they are consumed (before the next statement runs). Anything that would
        write is refused by DuckDB; any error is the user's (exit 2), DuckDB's hint with it.
        In an environment, an asset's bare name is the environment's view of it."""
        try:
            if not self.env.is_prod:
                self.conn.execute(f"SET search_path = '{self.env.read_schema},main'")
            result = self.conn.execute(sql)
        except duckdb.Error as exc:
            raise _sql_error(exc) from None
        columns = [d[0] for d in result.description or []]

        def batches() -> Iterator[list[tuple[Any, ...]]]:
            while columns:
                try:
                    found = result.fetchmany(_SQL_BATCH)
                except duckdb.Error as exc:
                    raise _sql_error(exc) from None
                if not found:
                    return
                yield found

        return columns, batches()

    def latest_materializations(self, asset: str, lo: int, hi: int) -> dict[str, int]:
        """partition -> latest materialization id, for the asset's partitions lo..hi."""
        rows = self.conn.execute(
            "SELECT partition, max(materialization_id) FROM assetflow.materializations"
            " WHERE asset = ? AND partition_index BETWEEN ? AND ? AND list_contains(?, env)"
            " GROUP BY partition",
            [asset, lo, hi, list(self.env.chain)],
        ).fetchall()
        return dict(rows)

    def node_history(self, asset: str, partition: str, limit: int = 30) -> list[dict[str, Any]]:
        """The node's latest materializations, oldest first: when, by which run, how many
        rows, which data and code version (no data version: its rows were removed)."""
        return self._records(
            ("run_id", "ended_at", "rows", "data_version", "code_version"),
            "SELECT run_id, ended_at, row_count, data_version, code_version FROM ("
            " SELECT * FROM assetflow.materializations WHERE asset = ? AND partition = ?"
            " AND list_contains(?, env) ORDER BY materialization_id DESC LIMIT ?)"
            " ORDER BY materialization_id",
            [asset, partition, list(self.env.chain), limit],
        )

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

    def seen_versions(self) -> dict[tuple[str, str], str | None]:
        """The latest version recorded of every source partition ever observed, by a run (as
        it read it) or outside one."""
        rows = self.conn.execute(
            "SELECT source, partition, arg_max_null(version, observation_id)"
            " FROM assetflow.observations GROUP BY ALL"
        ).fetchall()
        return {(source, partition): version for source, partition, version in rows}

    def current_versions(self, spans: dict[str, Intervals]) -> dict[tuple[str, str], str]:
        """The data version of every node in `spans` (asset -> partition indexes; the nodes
        table is merged on open)."""
        rows = span_rows(spans)
        if not rows:
            return {}
        chain = list(self.env.chain)
        found = self.conn.execute(
            "SELECT n.asset, n.partition, n.data_version, list_position(?, n.env) AS depth"
            " FROM assetflow.nodes n"
            " JOIN (SELECT unnest(?::VARCHAR[]) AS asset, unnest(?::BIGINT[]) AS lo,"
            "  unnest(?::BIGINT[]) AS hi) s"
            " ON n.asset = s.asset AND n.partition_index BETWEEN s.lo AND s.hi"
            " WHERE list_contains(?, n.env) ORDER BY depth DESC",
            [chain, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], chain],
        ).fetchall()
        return {(a, p): v for a, p, v, _ in found}  # the nearest environment's, written last


def _parsed(row: tuple[Any, ...], at: int, empty: Any, kind: Callable = lambda v: v) -> list[Any]:
    """A row with its JSON column `at` parsed (`empty` when NULL), as `kind`."""
    values = list(row)
    values[at] = kind(json.loads(values[at])) if values[at] else empty
    return values


_SQL_BATCH = 10_000  # rows a user's query hands over at a time


def _sql_error(exc: duckdb.Error) -> UsageError:
    """DuckDB's message and its hint (`Did you mean "raw_flights"?`), without the caret."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    hint = next((line.strip() for line in lines[1:] if line.strip().startswith("Did you")), None)
    return UsageError(f"SQL: {lines[0] if lines else type(exc).__name__}", hint)
