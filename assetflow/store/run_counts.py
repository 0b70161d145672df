"""A run's counts (succeeded, verified, failed, skipped): as it recorded them at its end,
else counted from its own records (a run in progress, one that died)."""

from __future__ import annotations

from assetflow.core.records import AttemptStatus


def counted(table: str, condition: str) -> str:
    """How many nodes of the run `r` (a row of assetflow.runs) its own records in `table`
    show meeting `condition`: what a run that never wrote its end did."""
    return (
        f"(SELECT count(DISTINCT (x.asset, x.partition)) FROM assetflow.{table} x"
        f" WHERE x.run_id = r.run_id AND {condition})"
    )


# What a run committed, verified, failed and left unbuilt, from its own records (the counts a
# dead run is marked with; a run still running is counted the same way).
RUN_COUNTS = {
    "succeeded": counted("materializations", "x.attempt_id IS NOT NULL"),
    "verified": counted("attempt_log", f"x.status = '{AttemptStatus.VERIFIED}'"),
    "failed": counted("attempt_log", f"x.status = '{AttemptStatus.FAILED}'"),
    "skipped": counted("attempt_log", f"x.status = '{AttemptStatus.UPSTREAM_FAILED}'"),
}
# A page of runs (parameters: status, trigger, run id prefix, each twice; the limit), with
# their counts as recorded at their end, else counted from their records (for them alone).
RUNS_PAGE = f"""
WITH page AS MATERIALIZED (
    SELECT * FROM assetflow.runs
    WHERE (? IS NULL OR status = ?) AND (? IS NULL OR trigger = ?)
      AND (? IS NULL OR starts_with(run_id, ?))
    ORDER BY started_at DESC, run_id DESC LIMIT ?),
open AS (SELECT run_id FROM page WHERE succeeded IS NULL OR verified IS NULL OR failed IS NULL),
written AS (
    SELECT run_id, count(DISTINCT (asset, partition)) AS n FROM assetflow.materializations
    WHERE run_id IN (SELECT run_id FROM open) AND attempt_id IS NOT NULL GROUP BY run_id),
settled AS (
    SELECT run_id,
           count(DISTINCT (asset, partition)) FILTER (status = '{AttemptStatus.VERIFIED}') AS v,
           count(DISTINCT (asset, partition)) FILTER (status = '{AttemptStatus.FAILED}') AS f
    FROM assetflow.attempt_log WHERE run_id IN (SELECT run_id FROM open) GROUP BY run_id)
SELECT run_id, trigger, selection, started_at, ended_at, status, planned, ok, verified, failed,
       planned - ok - verified - failed, message, pid, env
FROM (
    SELECT p.run_id, trigger, selection, started_at, ended_at, status, message, pid, env,
           coalesce(planned, 0) AS planned, coalesce(p.succeeded, w.n, 0) AS ok,
           coalesce(p.verified, s.v, 0) AS verified, coalesce(p.failed, s.f, 0) AS failed
    FROM page p LEFT JOIN written w USING (run_id) LEFT JOIN settled s USING (run_id))
ORDER BY started_at DESC, run_id DESC
"""
