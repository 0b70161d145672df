"""assetflow's metadata schema in DuckDB: its DDL, its version and the upgrades from older
versions, and the SQL that the store and its read side (lineage.py) share.

Asset tables live in `main`, one per asset, with a `_partition` column; assetflow's own
tables live in the schema `assetflow`. Only store.py and lineage.py run what is here.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from assetflow.core.checks import sql_literal
from assetflow.errors import ConfigError

PARTITION_COLUMN = "_partition"
SCHEMA_VERSION = "9"  # 2: attempts view; 3: nodes.rebuilt; 4: inputs_text; 5: table_schema;
# 6: partition_keys; 7: delta_commits; 8: environments; 9: retained on Delta

DDL = """
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
    inputs_text VARCHAR,
    -- the asset table's columns when it was written ("name TYPE,..."): the table changing
    -- shape later makes the node `schema_changed`
    table_schema VARCHAR);
ALTER TABLE assetflow.materializations ADD COLUMN IF NOT EXISTS inputs_text VARCHAR;
ALTER TABLE assetflow.materializations ADD COLUMN IF NOT EXISTS table_schema VARCHAR;
CREATE TABLE IF NOT EXISTS assetflow.inputs (
    materialization_id BIGINT, input VARCHAR, input_partition VARCHAR, input_index BIGINT,
    input_version VARCHAR);
-- The latest materialization of every node, as of materialization id `nodes_watermark` in
-- meta; later materializations are merged in by refresh_nodes() at the end of each run.
-- `rebuilt`: the node had been materialized before this one; only a rebuilt node can hold a
-- version other than the one its readers recorded (status compares only those).
-- A node whose rows were removed (a type change that could not cast them) stays as a row
-- with data_version NULL: it is missing, and its readers see their input changed.
CREATE TABLE IF NOT EXISTS assetflow.nodes (
    asset VARCHAR, partition_index BIGINT, partition VARCHAR, materialization_id BIGINT,
    code_version VARCHAR, data_version VARCHAR, clipped VARCHAR, rebuilt BOOLEAN,
    table_schema VARCHAR);
ALTER TABLE assetflow.nodes ADD COLUMN IF NOT EXISTS rebuilt BOOLEAN DEFAULT true;
ALTER TABLE assetflow.nodes ADD COLUMN IF NOT EXISTS table_schema VARCHAR;
CREATE TABLE IF NOT EXISTS assetflow.observations (
    observation_id BIGINT DEFAULT nextval('assetflow.observation_ids'), run_id VARCHAR,
    source VARCHAR, partition VARCHAR, version VARCHAR, detail VARCHAR,
    observed_at TIMESTAMP);
-- Dynamic partitions' key sets: a key's index is given when it is first added and kept
-- (lineage records indexes); a removed key keeps its row, with removed_at set.
CREATE TABLE IF NOT EXISTS assetflow.partition_keys (
    name VARCHAR, key VARCHAR, idx BIGINT, added_at TIMESTAMP, removed_at TIMESTAMP);
-- storage = "delta": every commit to an asset's Delta table whose lineage is recorded here
-- (one row per partition it wrote; partition NULL for a commit that wrote none, or not
-- assetflow's). A commit missing here was made by a worker whose coordinator died before
-- recording it: the next writer adopts it from the commit's metadata.
CREATE TABLE IF NOT EXISTS assetflow.delta_commits (
    asset VARCHAR, version BIGINT, partition VARCHAR, materialization_id BIGINT,
    run_id VARCHAR, recorded_at TIMESTAMP);
-- Environments beside prod (prod itself has no row). What each holds of its own is in
-- env_owned (its rows in _env_NAME."asset"); every other node it reads from its parent.
CREATE TABLE IF NOT EXISTS assetflow.environments (
    name VARCHAR, parent VARCHAR, created_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS assetflow.env_owned (env VARCHAR, asset VARCHAR, partition VARCHAR);
-- Nodes a promotion replaced, kept (their rows in _retained."asset", tagged _af_mid, or an
-- earlier version of a Delta table) so that
-- reverting the change reuses them; prune lets them go after the history's days.
CREATE TABLE IF NOT EXISTS assetflow.retained (
    materialization_id BIGINT, asset VARCHAR, retained_at TIMESTAMP);
-- storage = "delta": the table and version whose rows they are (NULL: in _retained)
ALTER TABLE assetflow.retained ADD COLUMN IF NOT EXISTS delta_table VARCHAR;
ALTER TABLE assetflow.retained ADD COLUMN IF NOT EXISTS delta_version BIGINT;
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
-- Every record of a node says which environment it is of (prod before there were others).
ALTER TABLE assetflow.materializations ADD COLUMN IF NOT EXISTS env VARCHAR DEFAULT 'prod';
ALTER TABLE assetflow.materializations ADD COLUMN IF NOT EXISTS reused_from BIGINT;
ALTER TABLE assetflow.nodes ADD COLUMN IF NOT EXISTS env VARCHAR DEFAULT 'prod';
ALTER TABLE assetflow.attempt_log ADD COLUMN IF NOT EXISTS env VARCHAR DEFAULT 'prod';
ALTER TABLE assetflow.runs ADD COLUMN IF NOT EXISTS env VARCHAR DEFAULT 'prod';
ALTER TABLE assetflow.backfills ADD COLUMN IF NOT EXISTS env VARCHAR DEFAULT 'prod';
"""

# Schema 1 kept every attempt in a table named `attempts`.
MIGRATE_FROM_1 = """
ALTER TABLE assetflow.attempts RENAME TO attempt_log;
ALTER TABLE assetflow.materializations ADD COLUMN attempt_id BIGINT;
ALTER TABLE assetflow.materializations ADD COLUMN attempt INTEGER;
ALTER TABLE assetflow.materializations ADD COLUMN log_path VARCHAR;
"""

# What a write records per materialization, besides its ids.
MATERIALIZATION_COLUMNS = (
    ("run_id", "VARCHAR"), ("asset", "VARCHAR"), ("partition", "VARCHAR"),
    ("partition_index", "BIGINT"), ("code_version", "VARCHAR"), ("data_version", "VARCHAR"),
    ("row_count", "BIGINT"), ("clipped", "VARCHAR"), ("started_at", "TIMESTAMP"),
    ("ended_at", "TIMESTAMP"), ("attempt", "INTEGER"), ("log_path", "VARCHAR"),
    ("inputs_text", "VARCHAR"), ("table_schema", "VARCHAR"), ("env", "VARCHAR"),
)  # fmt: skip

# Materializations newer than the nodes watermark whose inputs are still in inputs_text.
PENDING = """inputs_text IS NOT NULL AND materialization_id > (
    SELECT value::BIGINT FROM assetflow.meta WHERE key = 'nodes_watermark')"""

# Their inputs, as rows of `inputs`.
# inputs_text: inputs joined by INPUT_SEP, each "name FIELD_SEP key FIELD_SEP index FIELD_SEP
# version" (keys of several dimensions hold | themselves).
INPUT_SEP, FIELD_SEP = "\x1e", "\x1f"
# ({pending}: which materializations; kept_facts.py's scope narrows them.)
PENDING_INPUTS_OF = """
SELECT materialization_id, parts[1] AS input, parts[2] AS input_partition,
       parts[3]::BIGINT AS input_index, nullif(parts[4], '') AS input_version
FROM (SELECT materialization_id,
             string_split(unnest(string_split(inputs_text, chr(30))), chr(31)) AS parts
      FROM assetflow.materializations WHERE {pending})
"""
PENDING_INPUTS = PENDING_INPUTS_OF.format(pending=PENDING)
# Schema 5 and older joined pending inputs with ; and |.
MIGRATE_INPUTS_TEXT = """
UPDATE assetflow.materializations
SET inputs_text = replace(replace(inputs_text, '|', chr(31)), ';', chr(30))
WHERE inputs_text IS NOT NULL
"""

# Materializations newer than the nodes watermark (the parameter), latest per node and
# environment: the values of the latest, NULLs included (arg_max skips NULLs: a removal
# would show the data before it).
DELTA_ROWS = """
SELECT d.*, n.asset IS NOT NULL OR d.builds > 1 AS rebuilt FROM (
    SELECT env, asset, partition_index, arg_max_null(partition, materialization_id) AS partition,
           max(materialization_id) AS materialization_id,
           arg_max_null(code_version, materialization_id) AS code_version,
           arg_max_null(data_version, materialization_id) AS data_version,
           arg_max_null(clipped, materialization_id) AS clipped, count(*) AS builds,
           arg_max_null(table_schema, materialization_id) AS table_schema
    FROM assetflow.materializations {only}
    WHERE materialization_id > ?
    GROUP BY env, asset, partition_index) d
LEFT JOIN assetflow.nodes n USING (env, asset, partition_index)
"""
DELTA = f"CREATE OR REPLACE TEMP TABLE _af_delta AS {DELTA_ROWS.format(only='')}"


HAS_SCHEMA = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'assetflow'"


def nodes_watermark(conn: duckdb.DuckDBPyConnection) -> int:
    """The last materialization merged into `assetflow.nodes`. Read first and given to
    queries as a value: DuckDB then skips the merged materializations by their zone maps,
    where a subquery made it scan them all (0.13 s at 3.65 M nodes, on every command)."""
    (watermark,) = conn.execute(
        "SELECT value::BIGINT FROM assetflow.meta WHERE key = 'nodes_watermark'"
    ).fetchall()[0]
    return watermark


def create_delta(conn: duckdb.DuckDBPyConnection) -> None:
    """The temp table `_af_delta` (DELTA), from the materializations after the watermark."""
    conn.execute(DELTA, [nodes_watermark(conn)])


def quoted_name(name: str) -> str:
    """A column's (or any) name as an SQL identifier, whatever it holds."""
    return '"' + name.replace('"', '""') + '"'


def table_sql(asset: str, schema: str = "main") -> str:
    """An asset's table (or an environment's view of it) as SQL names it."""
    return f'{schema}."{asset}"'


def in_partitions(keys: list[str] | tuple[str, ...], ordered: bool = True) -> str:
    """An SQL condition on the partition column: exactly these keys. Keys whose text sorts
    as their partitions do (`ordered`) use a range, which DuckDB prunes by zone maps."""
    quoted = [sql_literal(k) for k in keys]
    if len(quoted) == 1:
        return f"{PARTITION_COLUMN} = {quoted[0]}"
    if ordered:
        return f"{PARTITION_COLUMN} BETWEEN {quoted[0]} AND {quoted[-1]}"
    return f"{PARTITION_COLUMN} IN ({', '.join(quoted)})"


def schema_version(conn: duckdb.DuckDBPyConnection) -> str | None:
    """The warehouse's schema version; None for a file assetflow has not written yet. (The
    table is read directly: asking information_schema first cost ~10 ms of every command.)"""
    try:
        rows = conn.execute("SELECT value FROM assetflow.meta WHERE key = 'schema'").fetchall()
    except duckdb.CatalogException:  # no assetflow schema, or no meta table in it
        return None
    return rows[0][0] if rows else None


def check_schema(conn: duckdb.DuckDBPyConnection, path: Path) -> None:
    version = schema_version(conn)
    if version not in (None, SCHEMA_VERSION):
        raise ConfigError(
            f"warehouse {path} has metadata schema {version}, this assetflow reads"
            f" {SCHEMA_VERSION}",
            "run a writing command once (`assetflow observe`) to upgrade it in place",
        )
