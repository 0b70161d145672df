"""Running checks over a partition's rows in DuckDB: inside a node's write transaction
(write-audit-publish), or over stored data (`assetflow check`).

A built-in check is one SQL query selecting the failing rows; a custom `@check` function
receives the context and the rows as a DuckDB relation. A task's partitions are audited
together where the check allows (`run_grouped`: a query per check, not per check and
partition), one by one otherwise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import duckdb

from assetflow.core.checks import Check, sql_literal
from assetflow.core.records import CheckResult
from assetflow.errors import DefinitionError

SAMPLE_ROWS = 5


def run_checks(
    checks: Sequence[Check],
    cur: duckdb.DuckDBPyConnection,
    rows: str,
    ctx: Any,
    now: dt.datetime,
) -> list[CheckResult]:
    """Every check over the relation named `rows` (a table or view on `cur`). `now` stands
    for the end of an unpartitioned asset's window (freshness checks)."""
    return [evaluate(c, cur, rows, ctx, now) for c in checks]


def evaluate(
    check: Check, cur: duckdb.DuckDBPyConnection, rows: str, ctx: Any, now: dt.datetime
) -> CheckResult:
    if check.custom is not None:
        return _run_custom(check, cur, rows, ctx)
    assert check.failing_sql is not None
    failing = f"({check.failing_sql.format(rows=rows, **_sql_values(ctx, now))})"
    count = cur.execute(f"SELECT count(*) FROM {failing}").fetchall()[0][0]
    return _result(check, cur, count, f"SELECT * FROM {failing}")


def run_grouped(
    checks: Sequence[Check], cur: duckdb.DuckDBPyConnection, rows: str, by: str, keys: list[str]
) -> dict[str, list[CheckResult]]:
    """The `checks` (each with a `grouped_sql`) over every partition of `keys` at once:
    `rows` (a table, view or subquery on `cur`) holds their rows with the key in column `by`.
    Each partition gets, per check, the result `evaluate` would give over its rows alone."""
    found: dict[str, list[CheckResult]] = {key: [] for key in keys}
    listed = ", ".join(sql_literal(k) for k in keys)
    key_rows = f"(SELECT unnest([{listed}]::VARCHAR[]) AS {by})"
    for check in checks:
        assert check.grouped_sql is not None
        failing = f"({check.grouped_sql.format(rows=rows, by=by, keys=key_rows)})"
        counts = dict(cur.execute(f"SELECT {by}, count(*) FROM {failing} GROUP BY 1").fetchall())
        for key in keys:
            count = counts.get(key, 0)
            of_key = f"SELECT * EXCLUDE ({by}) FROM {failing} WHERE {by} = {sql_literal(key)}"
            found[key].append(_result(check, cur, count, of_key))
    return found


def _result(check: Check, cur: duckdb.DuckDBPyConnection, count: int, failing: str) -> CheckResult:
    """The check's result for `count` failing rows; up to SAMPLE_ROWS of the rows `failing`
    selects as samples when some failed."""
    samples: tuple[dict[str, Any], ...] = ()
    if count:
        result = cur.execute(f"{failing} LIMIT {SAMPLE_ROWS}")
        names = [d[0] for d in result.description]
        samples = tuple(dict(zip(names, row, strict=True)) for row in result.fetchall())
    message = "ok" if not count else check.failure(count)
    return CheckResult(check.name, check.severity, count == 0, count, message, samples)


def _run_custom(check: Check, cur: duckdb.DuckDBPyConnection, rows: str, ctx: Any) -> CheckResult:
    assert check.custom is not None
    outcome = check.custom(ctx, cur.table(rows))
    if isinstance(outcome, CheckResult):
        return outcome
    if isinstance(outcome, bool):
        return CheckResult(check.name, check.severity, outcome, 0, "ok" if outcome else "failed")
    if isinstance(outcome, tuple) and outcome and isinstance(outcome[0], bool):
        passed, message, *rest = (*outcome, None)[:3]
        metadata = rest[0] if rest and isinstance(rest[0], dict) else {}
        return CheckResult(check.name, check.severity, passed, 0, str(message or ""), (), metadata)
    raise DefinitionError(
        f"check {check.name} returned {type(outcome).__name__}",
        "return a bool, (passed, message[, metadata]) or a CheckResult",
    )


def _sql_values(ctx: Any, now: dt.datetime) -> dict[str, str]:
    """Values a check's SQL may use: the partition key and the end of its window (for an
    unpartitioned asset, the run's now: time comes from the run's clock, never SQL now())."""
    end = getattr(ctx, "end", None) or now
    return {
        "partition": getattr(ctx, "partition", ""),
        "partition_end": f"TIMESTAMP '{end.isoformat()}'",
    }
