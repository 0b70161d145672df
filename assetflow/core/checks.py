"""Data-quality checks. Blocking (`error`) checks run inside the node's write transaction,
before commit (write-audit-publish): a failure rolls back, so bad data never becomes visible.
`warn` checks are recorded and shown, never blocking.

Every built-in check is one SQL query over the partition's rows; a custom `@check`
function receives the context and the rows as a DuckDB relation. Most built-in checks also
say how to check every partition of a task in one query (`grouped_sql`): a batch of 31 days
is audited with a query per check, not 31.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assetflow.core.records import CheckResult, Severity
from assetflow.errors import DataError, DefinitionError

__all__ = ["Check", "CheckFailed", "CheckResult", "Severity"]  # CheckResult: public API


class CheckFailed(DataError):
    """A blocking check failed: the write was rolled back. Never retried."""

    def __init__(self, results: Sequence[CheckResult]) -> None:
        failed = [r for r in results if r.blocking_failure]
        summary = "; ".join(f"{r.check}: {r.message}" for r in failed)
        super().__init__(f"check failed — {summary}")
        self.results = tuple(results)

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return type(self), (self.results,)


@dataclass(frozen=True)
class Check:
    """One check on an asset's partition. `failing_sql` selects the failing rows of `{rows}`
    (one partition's rows; `{partition}` and `{partition_end}` stand for its key and the end
    of its window); `custom` is a function instead.

    `grouped_sql`, where the check can say it, selects the failing rows of several partitions
    at once, each carrying its partition's key: `{rows}` holds their rows with the key in
    column `{by}`, `{keys}` their keys (column `{by}`, a row each). Per partition, it finds
    exactly what `failing_sql` finds there (without the key column)."""

    name: str
    severity: Severity = "error"
    failing_sql: str | None = None
    custom: Callable[..., Any] | None = field(default=None, compare=False)
    # what `count` failing rows mean: (one, several)
    describe_failure: tuple[str, str] = ("row fails", "rows fail")
    grouped_sql: str | None = None

    def failure(self, count: int) -> str:
        """`1 row has nulls`, `3 rows have nulls`."""
        return f"{count} {self.describe_failure[count != 1]}"


def _severity(severity: str) -> Severity:
    if severity not in ("error", "warn"):
        raise DefinitionError(f"check severity must be 'error' or 'warn', got {severity!r}")
    return severity  # type: ignore[return-value]


def _columns(cols: Sequence[str]) -> str:
    if not cols or not all(isinstance(c, str) and c for c in cols):
        raise DefinitionError("a check needs one or more column names")
    return ", ".join(f'"{c}"' for c in cols)


def not_null(*cols: str, severity: str = "error") -> Check:
    condition = " OR ".join(f'"{c}" IS NULL' for c in cols) if cols else ""
    _columns(cols)
    return _row_check(
        f"not_null({', '.join(cols)})", severity, condition, ("row has nulls", "rows have nulls")
    )


def unique(*cols: str, severity: str = "error") -> Check:
    names = _columns(cols)
    return Check(
        f"unique({', '.join(cols)})",
        _severity(severity),
        f"SELECT * FROM {{rows}} QUALIFY count(*) OVER (PARTITION BY {names}) > 1",
        describe_failure=("row shares its key", "rows share their key"),
        grouped_sql=(
            f"SELECT * FROM {{rows}} QUALIFY count(*) OVER (PARTITION BY {{by}}, {names}) > 1"
        ),
    )


def row_count(min: int | None = None, max: int | None = None, severity: str = "error") -> Check:  # noqa: A002
    if min is None and max is None:
        raise DefinitionError("row_count needs min= or max=")
    low = "true" if min is None else f"n >= {int(min)}"
    high = "true" if max is None else f"n <= {int(max)}"
    return Check(
        f"row_count(min={min}, max={max})",
        _severity(severity),
        "SELECT n AS row_count FROM (SELECT count(*) AS n FROM {rows})"
        f" WHERE NOT ({low} AND {high})",
        describe_failure=("partition outside the expected row count",) * 2,
        grouped_sql=(  # a partition with no rows has its key in {keys} only
            "SELECT {by}, n AS row_count FROM (SELECT k.{by}, count(r.{by}) AS n"
            " FROM {keys} k LEFT JOIN {rows} r ON r.{by} = k.{by} GROUP BY 1)"
            f" WHERE NOT ({low} AND {high})"
        ),
    )


def accepted_values(col: str, values: Sequence[Any], severity: str = "error") -> Check:
    _columns([col])
    if not values:
        raise DefinitionError("accepted_values needs at least one value")
    listed = ", ".join(sql_literal(v) for v in values)
    return _row_check(
        f"accepted_values({col})",
        severity,
        f'"{col}" IS NOT NULL AND "{col}" NOT IN ({listed})',
        ("row has a value outside the accepted list", "rows have values outside the accepted list"),
    )


def expression(sql: str, severity: str = "error", name: str | None = None) -> Check:
    """Every row must satisfy the SQL predicate (NULL counts as not satisfied)."""
    if not sql.strip():
        raise DefinitionError("expression check needs an SQL predicate")
    return _row_check(
        name or f"expression({sql})",
        severity,
        f"({sql}) IS NOT TRUE",
        ("row fails the predicate", "rows fail the predicate"),
    )


def _row_check(name: str, severity: str, condition: str, describe: tuple[str, str]) -> Check:
    """A check that a row fails on its own (`condition` over its columns): the same query
    finds the failing rows of one partition or of several. A condition naming the partition
    (`{partition}`, `{partition_end}`) is checked partition by partition."""
    failing = f"SELECT * FROM {{rows}} WHERE {condition}"
    per_partition = "{partition" in condition
    return Check(
        name, _severity(severity), failing, describe_failure=describe,
        grouped_sql=None if per_partition else failing,
    )  # fmt: skip


def freshness(column: str, max_age: dt.timedelta, severity: str = "error") -> Check:
    """The newest `column` value is at most `max_age` older than the partition's end."""
    _columns([column])
    seconds = int(max_age.total_seconds())
    return Check(
        f"freshness({column}, {max_age})",
        _severity(severity),
        f'SELECT max("{column}") AS newest FROM {{rows}}'
        f' HAVING max("{column}") IS NULL OR max("{column}")::TIMESTAMP'
        f" < {{partition_end}} - INTERVAL {seconds} SECOND",
        describe_failure=("partition is stale (newest value too old)",) * 2,
    )


def check(
    fn: Callable[..., Any] | None = None, *, name: str | None = None, severity: str = "error"
) -> Any:
    """Turn `fn(ctx, rows) -> bool | (passed, message[, metadata]) | CheckResult` into a check
    to list in `@asset(checks=[...])`."""

    def wrap(func: Callable[..., Any]) -> Check:
        return Check(name or func.__name__, _severity(severity), custom=func)

    return wrap(fn) if fn is not None else wrap


def samples_text(samples: Sequence[Mapping[str, Any]], most: int = 3) -> str:
    """Failing rows as one line, for people: `id=1, kind=NULL; id=1, kind=a` (`...` when
    there are more than `most`)."""
    rows = [
        ", ".join(f"{k}={'NULL' if v is None else v}" for k, v in row.items())
        for row in samples[:most]
    ]
    return "; ".join(rows) + ("; ..." if len(samples) > most else "")


def failure_report(error: CheckFailed) -> str:
    """What a node's log says of a blocking check failure: each failing check, where, and
    sample rows — the data's problem, not assetflow's stack."""
    lines = [f"{error}\n"]
    for r in error.results:
        if r.passed:
            continue
        where = f"{r.node[0]}[{r.node[1]}] " if r.node else ""
        sample = f"; e.g. {samples_text(r.samples)}" if r.samples else ""
        lines.append(f"  {where}{r.check} ({r.severity}): {r.message}{sample}\n")
    return "".join(lines)


def sql_literal(value: Any) -> str:
    """A Python value as an SQL literal (strings quoted, quotes doubled)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"
