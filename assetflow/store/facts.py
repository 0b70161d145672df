"""The status facts' queries: what the lineage record says about every node, set-wise.

Everything here is set-wise SQL over temp tables and views `register` makes on a connection
(the code versions, the sources as observed, the latest record of every node); results come
back as index intervals per asset, so 3.65 M nodes never become 3.65 M Python objects. The
same queries answer for every node, or for the few a run's commits touched (`facts_of` with
a scope: kept_facts.py keeps a run's status up to date that way).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import duckdb

from assetflow.core.checks import CheckFailed, sql_literal
from assetflow.core.environments import PROD, Env, data_schema
from assetflow.core.intervals import Intervals
from assetflow.core.observations import SourceVersions
from assetflow.core.records import AttemptStatus, Facts
from assetflow.store.changes import Scope
from assetflow.store.connect import transaction
from assetflow.store.schema import (
    PARTITION_COLUMN,
    PENDING,
    PENDING_INPUTS,
    create_delta,
    nodes_watermark,
)

# The latest record of every node of the environments {envs}: the nodes table, overridden
# by newer materializations not merged into it yet (a run in progress, or one that crashed).
# A record without a data version says the node's rows were removed; _af_latest holds the
# nodes that have data.
_RECORDS = """
SELECT env, asset, partition_index AS idx, partition, materialization_id AS mid, code_version,
       data_version, clipped, rebuilt, table_schema
FROM assetflow.nodes n ANTI JOIN _af_delta d USING (env, asset, partition_index)
WHERE list_contains({envs}, env)
UNION ALL
SELECT env, asset, partition_index, partition, materialization_id, code_version, data_version,
       clipped, true, table_schema
FROM _af_delta WHERE list_contains({envs}, env)
"""

# In an environment beside prod, each node's record is that of the nearest environment of
# its chain holding one; a record of its own may differ from the one its readers (which
# may be its parent's) recorded, so it counts as rebuilt.
_OVERLAY = """
SELECT * REPLACE (rebuilt OR env <> {root} AS rebuilt) FROM ({records})
QUALIFY row_number() OVER (PARTITION BY asset, idx ORDER BY list_position({envs}, env)) = 1
"""


def latest_views(env: Env) -> str:
    """The views _af_all and _af_latest for `env` (prod: its nodes alone)."""
    envs = "[" + ", ".join(sql_literal(e) for e in env.chain) + "]"
    records = _RECORDS.format(envs=envs)
    if not env.is_prod:
        records = _OVERLAY.format(records=records, envs=envs, root=sql_literal(env.chain[-1]))
    return (
        f"CREATE OR REPLACE TEMP VIEW _af_all AS {records};"
        " CREATE OR REPLACE TEMP VIEW _af_latest AS SELECT * FROM _af_all"
        " WHERE data_version IS NOT NULL"
    )


# Every recorded input: those moved into `inputs`, and those of materializations not merged
# yet (a run in progress, or one that crashed), still in their inputs_text.
INPUTS = f"""
CREATE OR REPLACE TEMP VIEW _af_inputs AS
SELECT materialization_id, input, input_partition, input_index, input_version
FROM assetflow.inputs
UNION ALL
{PENDING_INPUTS}
"""

# The current version of every node and every source partition (observed just now).
_CURRENT = """
CREATE OR REPLACE TEMP VIEW _af_current AS
SELECT asset AS name, idx, partition, data_version AS version FROM _af_latest
UNION ALL
SELECT source, idx, NULL, version FROM _af_observed
"""

# Rows (kind, asset, idx) as runs of consecutive indexes per kind and asset.
_ISLANDS = """
SELECT kind, asset, min(idx), max(idx) FROM (
    SELECT kind, asset, idx,
           idx - row_number() OVER (PARTITION BY kind, asset ORDER BY idx) AS island
    FROM ({query})
) GROUP BY kind, asset, island ORDER BY kind, asset, 3
"""

# The queries below read names (`_WHOLE`'s, or `_SCOPED`'s for a scope's few nodes):
# {subject}: the nodes asked about; {inputs}: what they read; {changed}: the versions an input
# may have changed to (rebuilt nodes, observed source partitions); {current}: the current
# version of inputs that have data; {only}: the scope's attempts alone (or all).
_CODE_CHANGED = """
SELECT l.asset, l.idx FROM {subject} l JOIN _af_code c USING (asset)
WHERE l.code_version <> c.code_version
"""

# The table changed shape since the node was written (a column added, removed or retyped
# by a later write): its rows were written for other columns.
_SCHEMA_CHANGED = """
SELECT l.asset, l.idx FROM {subject} l JOIN _af_tables t USING (env, asset)
WHERE l.table_schema IS NOT NULL AND l.table_schema <> t.table_schema
"""

# Each asset table's columns as a write records them ("name TYPE,..."), in table order,
# per environment whose own table it is (prod's in main). (duckdb_columns() is what
# information_schema.columns shows, a third of its cost.)
_TABLES = f"""
CREATE OR REPLACE TEMP TABLE _af_tables AS
SELECT CASE schema_name WHEN 'main' THEN '{PROD}' ELSE schema_name[6:] END AS env,
       table_name AS asset,
       string_agg(column_name || ' ' || data_type, ',' ORDER BY column_index) AS table_schema
FROM duckdb_columns()
WHERE database_name IN (current_database(), 'temp')
  AND (schema_name = 'main' OR list_contains(?, schema_name))
  AND column_name <> '{PARTITION_COLUMN}'
GROUP BY schema_name, table_name
"""

# An input changed when the version its reader recorded is not the current one. Only a
# rebuilt node (or one of a run not merged yet) or an observed source partition can differ,
# so the recorded inputs are matched against those alone rather than against every node.
_UPSTREAM_CHANGED = """
WITH c AS ({changed})
SELECT DISTINCT l.asset, l.idx
FROM (SELECT * FROM {inputs} WHERE input IN (SELECT name FROM c)) i  -- first: half the time
JOIN c ON c.name = i.input AND c.idx = i.input_index
JOIN {subject} l ON l.mid = i.materialization_id
WHERE c.version IS DISTINCT FROM i.input_version
"""

# An input read while it had no data (recorded version NULL) that has data now; rare.
_READ_MISSING = """
SELECT DISTINCT l.asset, l.idx
FROM {inputs} i
JOIN {subject} l ON l.mid = i.materialization_id
JOIN {current} c ON c.name = i.input AND c.idx = i.input_index
WHERE i.input_version IS NULL AND c.version IS NOT NULL
"""

# A node is failed when its last attempt that settled it (written, verified or failed) in the
# command's environment (the parameter `env`) failed. Failures are few: find each node's
# last failure, then keep it unless the node was materialized (the successful attempt lives
# in its materialization) or verified after it. Found once per statement, as _af_failures:
# both the failed and the check-failed nodes read it.
_FAILURES = f"""
WITH _af_failures AS MATERIALIZED (
WITH failure AS (
    SELECT asset, partition_index, max(attempt_id) AS attempt_id,
           arg_max_null(error_class, attempt_id) AS error_class
    FROM assetflow.attempt_log {{only}}
    WHERE status = '{AttemptStatus.FAILED}' AND env = $env
    GROUP BY ALL)
SELECT f.asset, f.partition_index AS idx, f.error_class FROM failure f
WHERE NOT EXISTS (
    SELECT 1 FROM assetflow.attempt_log a
    WHERE a.asset = f.asset AND a.partition_index = f.partition_index AND a.env = $env
      AND a.status IN ('{AttemptStatus.VERIFIED}', '{AttemptStatus.SUCCESS}')  -- schema 1: success
      AND a.attempt_id > f.attempt_id)
  AND NOT EXISTS (
    SELECT 1 FROM assetflow.materializations m
    WHERE m.asset = f.asset AND m.partition_index = f.partition_index AND m.env = $env
      AND m.attempt_id > f.attempt_id))
"""

_FAILED = "SELECT asset, idx FROM _af_failures"

# A failed write-audit (the last attempt failed on a blocking check), or a blocking check
# that failed on the node's current data (`assetflow check`).
_CHECK_FAILED = f"""
SELECT asset, idx FROM _af_failures WHERE error_class = '{CheckFailed.__name__}'
UNION
SELECT r.asset, r.partition_index FROM assetflow.check_results r
JOIN {{subject}} l ON l.mid = r.materialization_id
WHERE r.severity = 'error'
QUALIFY row_number() OVER (PARTITION BY r.asset, r.partition_index, r.check_name
                           ORDER BY r.checked_at DESC) = 1 AND NOT r.passed
"""

# What each node of a growing asset (or one whose window was clipped) read, per input: its
# least and greatest index and how many (a node that read nothing: one row, input NULL).
_RECORDED_RANGES = """
SELECT l.asset, l.idx, i.input, min(i.input_index), max(i.input_index), count(i.input)
FROM {subject} l LEFT JOIN {inputs} i ON i.materialization_id = l.mid
WHERE l.clipped IS NOT NULL OR list_contains(?, l.asset)
GROUP BY ALL
"""


ObservedRuns = list[tuple[str, int, int, str | None]]  # (source, first index, last index, version)

_ONLY = (
    "SEMI JOIN _af_scope s ON s.asset = attempt_log.asset AND s.idx = attempt_log.partition_index"
)
_WHOLE = {
    "subject": "_af_latest", "inputs": "_af_inputs", "only": "", "current": "_af_current",
    "changed": "SELECT asset AS name, idx, data_version AS version FROM _af_all WHERE rebuilt"
    " UNION ALL SELECT source, idx, version FROM _af_observed",
}  # fmt: skip
_SCOPED = {  # (kept_facts.py makes these tables)
    "subject": "_af_subject", "inputs": "_af_subject_inputs", "only": _ONLY,
    "changed": "SELECT name, idx, version FROM _af_subject_current WHERE rebuilt",
    "current": "(SELECT name, idx, version FROM _af_subject_current WHERE version IS NOT NULL)",
}  # fmt: skip


def observed_runs(observed: Sequence[SourceVersions]) -> ObservedRuns:
    """Source partitions as runs of partitions with one version (a million windows of one
    source observed alike are a few runs)."""
    return [(batch.source, *run) for batch in observed for run in batch.runs()]


def by_column(rows: Sequence[Sequence[object]], width: int) -> list[list[object]]:
    """Rows as one list per column: list parameters that `unnest` makes rows again."""
    return [[row[i] for row in rows] for i in range(width)]


def register(
    conn: duckdb.DuckDBPyConnection, env: Env, code: dict[str, str], runs: ObservedRuns
) -> None:
    """Temp tables and views the queries below read (list parameters: no pandas import)."""
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE _af_code AS"
        " SELECT unnest(?::VARCHAR[]) AS asset, unnest(?::VARCHAR[]) AS code_version",
        [list(code), list(code.values())],
    )
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE _af_observed AS SELECT source, unnest(range(lo, hi + 1))"
        " AS idx, version FROM (SELECT unnest(?::VARCHAR[]) AS source, unnest(?::BIGINT[]) AS lo,"
        " unnest(?::BIGINT[]) AS hi, unnest(?::VARCHAR[]) AS version)",
        by_column(runs, 4),
    )
    create_delta(conn)  # before the views that read it
    conn.execute(_TABLES, [[data_schema(e) for e in env.chain]])
    conn.execute(INPUTS)
    conn.execute(latest_views(env))
    conn.execute(_CURRENT)


def facts_of(
    conn: duckdb.DuckDBPyConnection, env: Env, growing_assets: list[str], scoped: bool = False
) -> tuple[Facts, Scope]:
    """The facts of every node (`register` made their tables), or, `scoped`, only of the
    nodes of `_af_scope`, whose records and inputs are `_af_subject` and
    `_af_subject_inputs` (kept_facts.py makes them); with the nodes they are of (scoped:
    those of `_af_scope`; else {})."""
    names = _WHOLE
    kinds = {
        "code": _CODE_CHANGED, "schema": _SCHEMA_CHANGED, "upstream": _UPSTREAM_CHANGED,
        "failed": _FAILED, "check": _CHECK_FAILED,
    }  # fmt: skip
    if scoped:
        names = _SCOPED
        kinds |= {  # few nodes: what the whole read finds in passes of its own
            "existing": "SELECT asset, idx FROM _af_subject", "missing": _READ_MISSING,
            "scope": "SELECT DISTINCT asset, idx FROM _af_scope",
        }  # fmt: skip
    ranges: dict[tuple[str, int], dict[str, tuple[int, int, int]]] = defaultdict(dict)
    rows = conn.execute(_RECORDED_RANGES.format(**names), [growing_assets]).fetchall()
    for asset, index, name, first, last, count in rows:
        read = ranges[(asset, index)]  # a node that read nothing reads {}
        if name is not None:
            read[name] = (first, last, count)
    queries = {k: q.format(**names) for k, q in kinds.items()}
    found = islands(conn, queries, {"env": env.name}, _FAILURES.format(**names))
    if not scoped:
        found["existing"] = _existing(conn)
        found["missing"] = _read_missing(conn)
    upstream = found["upstream"]
    for asset, more in found["missing"].items():
        upstream[asset] = upstream.get(asset, Intervals()) | more
    facts = Facts(
        existing=found["existing"],
        code_changed=found["code"],
        schema_changed=found["schema"],
        upstream_changed=upstream,
        failed=found["failed"],
        check_failed=found["check"],
        recorded_ranges=dict(ranges),
    )
    return facts, found.get("scope", {})


def _existing(conn: duckdb.DuckDBPyConnection) -> dict[str, Intervals]:
    """Materialized indexes per asset; one cheap pass over blocks of indexes (a key
    combination's time runs are one block each) when, as usual, each block is contiguous."""
    rows = conn.execute(
        "SELECT asset, idx >> 24 AS block, min(idx), max(idx), count(*) FROM _af_latest"
        " GROUP BY ALL"
    ).fetchall()
    spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
    gappy = []
    for asset, block, lo, hi, n in rows:
        if n == hi - lo + 1:
            spans[asset].append((lo, hi))
        else:
            gappy += [asset, block]
    existing = {asset: Intervals.of(s) for asset, s in spans.items()}
    if gappy:
        query = (
            "SELECT asset, idx FROM _af_latest WHERE (asset, idx >> 24) IN"
            " (SELECT (unnest(?::VARCHAR[]), unnest(?::BIGINT[])))"
        )
        found = islands(conn, {"gappy": query}, [gappy[::2], gappy[1::2]])["gappy"]
        for asset, more in found.items():
            existing[asset] = existing.get(asset, Intervals()) | more
    return existing


def islands(
    conn: duckdb.DuckDBPyConnection,
    queries: dict[str, str],
    params: list | dict | None = None,
    common: str = "",
) -> dict[str, dict[str, Intervals]]:
    """Per kind, the rows (asset, idx) of its query as index intervals per asset: every
    kind in one statement (each statement costs a few ms however few its rows), after the
    `common` WITH clause they may read."""
    union = " UNION ALL ".join(
        f"SELECT '{kind}' AS kind, asset, idx FROM ({query})" for kind, query in queries.items()
    )
    spans: dict[str, dict[str, list[tuple[int, int]]]] = {k: defaultdict(list) for k in queries}
    found = conn.execute(common + _ISLANDS.format(query=union), params or []).fetchall()
    for kind, asset, lo, hi in found:
        spans[kind][asset].append((lo, hi))
    return {k: {a: Intervals.of(s) for a, s in found.items()} for k, found in spans.items()}


def _read_missing(conn: duckdb.DuckDBPyConnection) -> dict[str, Intervals]:
    """The nodes that read an input while it had no data and it has now."""
    read_missing = "SELECT count(*) FROM _af_inputs WHERE input_version IS NULL"
    if not conn.execute(read_missing).fetchall()[0][0]:  # rare: only then the full join
        return {}
    missing = _READ_MISSING.format(**_WHOLE)
    return islands(conn, {"missing": missing})["missing"]


def merge_nodes(conn: duckdb.DuckDBPyConnection) -> None:
    """Materializations newer than the watermark merged into `assetflow.nodes`, the latest
    record the facts read first (their inputs into `inputs`), the watermark moved past
    them: one transaction."""
    newer = "SELECT count(*) FROM assetflow.materializations WHERE materialization_id > ?"
    if not conn.execute(newer, [nodes_watermark(conn)]).fetchall()[0][0]:
        return  # nothing to merge (every command that writes asks; ~15 ms saved)
    with transaction(conn):
        create_delta(conn)
        conn.execute(
            "DELETE FROM assetflow.nodes n USING _af_delta d WHERE n.env = d.env"
            " AND n.asset = d.asset AND n.partition_index = d.partition_index"
        )
        conn.execute(
            "INSERT INTO assetflow.nodes BY NAME SELECT env, asset, partition_index,"
            " partition, materialization_id, code_version, data_version, clipped, rebuilt,"
            " table_schema FROM _af_delta"
        )
        conn.execute(f"INSERT INTO assetflow.inputs {PENDING_INPUTS}")
        conn.execute(f"UPDATE assetflow.materializations SET inputs_text = NULL WHERE {PENDING}")
        conn.execute(
            "UPDATE assetflow.meta SET value = (SELECT coalesce(max(materialization_id), 0)"
            " FROM assetflow.materializations)::VARCHAR WHERE key = 'nodes_watermark'"
        )
        conn.execute("DROP TABLE _af_delta")
