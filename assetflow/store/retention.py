"""Retention: the history assetflow keeps is bounded, and never what status, why, early cutoff
or the schedulers read.

Always kept: every node's latest materialization (whatever its age) with its inputs and
checks; unmerged materializations; per node its last failed attempt and its last verified
one (a node's failed state reads those); per source partition its latest observation, its
latest outside a run (a sensor's cursor) and the first of its latest version (SLAs count from
it); per schedule or sensor its latest tick; every run still referenced by a kept record; and
every SLA miss (each says a late node was alerted: removing it would alert again).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from assetflow.core.records import AttemptStatus, RunStatus
from assetflow.store.connect import rollback
from assetflow.store.views import forget_retained_rows


@dataclass(frozen=True)
class Retention:
    history_days: int  # runs, attempts, ticks, observations and checks older than this go
    keep_materializations: int  # per node, the latest K (the current one is the first)


# Each statement deletes what one table no longer needs ($cutoff: the oldest time kept;
# $keep: materializations kept per node). Materializations go before what hangs off them.
_DELETE_RETAINED = """
DELETE FROM assetflow.retained WHERE retained_at < $cutoff
"""
_DELETE_MATERIALIZATIONS = """
DELETE FROM assetflow.materializations WHERE materialization_id IN (
    SELECT materialization_id FROM (
        SELECT materialization_id, row_number() OVER (
            PARTITION BY env, asset, partition_index ORDER BY materialization_id DESC) AS age
        FROM assetflow.materializations
        WHERE materialization_id <= (
            SELECT value::BIGINT FROM assetflow.meta WHERE key = 'nodes_watermark'))
    WHERE age > $keep
      AND materialization_id NOT IN (SELECT materialization_id FROM assetflow.nodes)
      AND materialization_id NOT IN (SELECT materialization_id FROM assetflow.retained))
"""
_DELETE_INPUTS = """
DELETE FROM assetflow.inputs i WHERE NOT EXISTS (
    SELECT 1 FROM assetflow.materializations m
    WHERE m.materialization_id = i.materialization_id)
"""
_DELETE_CHECKS = """
DELETE FROM assetflow.check_results c WHERE (
    c.materialization_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM assetflow.materializations m
        WHERE m.materialization_id = c.materialization_id))
 OR (c.checked_at < $cutoff AND EXISTS (
        SELECT 1 FROM assetflow.check_results later
        WHERE later.asset = c.asset AND later.partition_index = c.partition_index
          AND later.check_name = c.check_name AND later.checked_at > c.checked_at))
"""
_DELETE_ATTEMPTS = f"""
DELETE FROM assetflow.attempt_log a WHERE a.ended_at < $cutoff AND a.attempt_id NOT IN (
    SELECT max(attempt_id) FROM assetflow.attempt_log
    WHERE status IN ('{AttemptStatus.FAILED}', '{AttemptStatus.VERIFIED}')
    GROUP BY asset, partition_index, status)
"""
_DELETE_OBSERVATIONS = """
DELETE FROM assetflow.observations o WHERE o.observed_at < $cutoff AND o.observation_id NOT IN (
    SELECT max(observation_id) FROM assetflow.observations GROUP BY source, partition
    UNION ALL
    SELECT max(observation_id) FROM assetflow.observations WHERE run_id IS NULL
    GROUP BY source, partition
    UNION ALL
    SELECT min(o2.observation_id) FROM assetflow.observations o2 JOIN (
        SELECT source, partition, arg_max_null(version, observation_id) AS version
        FROM assetflow.observations GROUP BY ALL) l
    ON l.source = o2.source AND l.partition = o2.partition
       AND l.version IS NOT DISTINCT FROM o2.version
    GROUP BY o2.source, o2.partition)
"""
_DELETE_TICKS = """
DELETE FROM assetflow.ticks t WHERE t.evaluated_at < $cutoff AND EXISTS (
    SELECT 1 FROM assetflow.ticks later
    WHERE later.kind = t.kind AND later.name = t.name AND later.tick_time > t.tick_time)
"""
_DELETE_RUNS = f"""
DELETE FROM assetflow.runs r WHERE r.started_at < $cutoff AND r.status <> '{RunStatus.RUNNING}'
  AND r.run_id NOT IN (SELECT run_id FROM assetflow.materializations WHERE run_id IS NOT NULL)
  AND r.run_id NOT IN (SELECT run_id FROM assetflow.attempt_log WHERE run_id IS NOT NULL)
  AND r.run_id NOT IN (SELECT run_id FROM assetflow.ticks WHERE run_id IS NOT NULL)
"""

STEPS = (
    ("retained", _DELETE_RETAINED, ("cutoff",)),
    ("materializations", _DELETE_MATERIALIZATIONS, ("keep",)),
    ("inputs", _DELETE_INPUTS, ()),
    ("check_results", _DELETE_CHECKS, ("cutoff",)),
    ("attempt_log", _DELETE_ATTEMPTS, ("cutoff",)),
    ("observations", _DELETE_OBSERVATIONS, ("cutoff",)),
    ("ticks", _DELETE_TICKS, ("cutoff",)),
    ("runs", _DELETE_RUNS, ("cutoff",)),
)


# storage = "delta": the commits recorded without a gap from the bottom (or from the last
# prune's mark) are only ever asked "all recorded up to here?": all but the highest go, and
# a mark row (run_id PRUNED) says the versions below it were recorded.
PRUNED = "(pruned)"
# The recorded commits from each asset's last mark up (all of them, unpruned), with that
# base version (0 without a mark): what "recorded without a gap" is counted over.
SINCE_MARK = f"""
SELECT c.*, coalesce(m.base, 0) AS base FROM assetflow.delta_commits c
LEFT JOIN (SELECT asset, max(version) AS base FROM assetflow.delta_commits
           WHERE run_id = '{PRUNED}' GROUP BY asset) m USING (asset)
WHERE c.version >= coalesce(m.base, 0)
"""
_DELTA_PREFIX = f"""
CREATE OR REPLACE TEMP TABLE _af_prefix AS
WITH versions AS (SELECT DISTINCT asset, version, base FROM ({SINCE_MARK})),
islands AS (SELECT asset, version,
                   version - base - row_number() OVER (PARTITION BY asset ORDER BY version) AS gap
            FROM versions)
SELECT asset, max(version) AS top FROM islands WHERE gap = -1 GROUP BY asset
"""
_DELETE_DELTA_COMMITS = """
DELETE FROM assetflow.delta_commits c USING _af_prefix p
WHERE c.asset = p.asset AND c.version < p.top
"""
_MARK_DELTA_COMMITS = f"""
INSERT INTO assetflow.delta_commits
SELECT asset, top, NULL, NULL, '{PRUNED}', $now FROM _af_prefix p
WHERE NOT EXISTS (SELECT 1 FROM assetflow.delta_commits c
                  WHERE c.asset = p.asset AND c.version = p.top AND c.run_id = '{PRUNED}')
"""


def prune(
    conn: duckdb.DuckDBPyConnection, policy: Retention, now: dt.datetime, dry_run: bool = False
) -> dict[str, int]:
    """Delete what the policy no longer keeps, in one transaction (rolled back for a dry
    run); the rows each table loses."""
    values = {
        "cutoff": now - dt.timedelta(days=policy.history_days),
        "keep": policy.keep_materializations,
    }
    removed: dict[str, int] = {}
    conn.execute("BEGIN TRANSACTION")
    try:
        for table, statement, names in STEPS:
            found = conn.execute(statement, {n: values[n] for n in names}).fetchone()
            removed[table] = found[0] if found else 0
        conn.execute(_DELTA_PREFIX)
        found = conn.execute(_DELETE_DELTA_COMMITS).fetchone()
        removed["delta_commits"] = found[0] if found else 0
        if removed["delta_commits"]:
            conn.execute(_MARK_DELTA_COMMITS, {"now": now})
        forget_retained_rows(conn)
        conn.execute("ROLLBACK" if dry_run else "COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return removed
