"""What a failed attempt's error is: the definition's, the data's, or transient.

One place decides, for every worker and storage, what a node raised means to the run:
an SQL mistake is the definition's; DuckDB's conversion, out-of-range, invalid-input, type
and constraint errors and Python's arithmetic, value, type and lookup errors are the data's
(never retried); anything else stays transient (docs/operations.md has the table).
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable
from typing import TypeVar

import duckdb

from assetflow.core.checks import CheckFailed, failure_report
from assetflow.core.definitions import Definitions
from assetflow.core.specs import AssetSpec
from assetflow.errors import AssetflowError, DataError, DefinitionError
from assetflow.run.runlog import NodeLog
from assetflow.run.task import Task

_SQL_MISTAKES = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)
# DuckDB's DataError covers conversion, out-of-range and type-mismatch errors.
_ENGINE_DATA_ERRORS = (duckdb.DataError, duckdb.InvalidInputException, duckdb.ConstraintException)
_PYTHON_DATA_ERRORS = (ArithmeticError, ValueError, TypeError, LookupError)
_MISSING_COLUMN = re.compile(r'Referenced column "([^"]+)" not found')
_WRITE_CONFLICT_TRIES = 6
_CONFLICT_WAIT = 0.02  # seconds before the second try, doubling: 0.62 s in all
T = TypeVar("T")


def failure(
    task: Task, spec: AssetSpec, exc: Exception, calling: list[str]
) -> tuple[BaseException, str, str | None]:
    """A failed attempt's error (see `classify`) and traceback, and in a group the partition
    whose own call raised (None when the group's write failed: no one node's)."""
    failed = calling[0] if task.grouped and calling else None
    error = classify(exc, spec, f"{task.asset}[{failed or task.nodes[0].partition}]")
    trace = failure_report(exc) if isinstance(exc, CheckFailed) else traceback.format_exc()
    return error, trace, failed


def classify(exc: Exception, spec: AssetSpec, label: str) -> BaseException:
    """Turn what a node raised into the error the run reports, by what it is (the module's
    docstring); the asset's `retry_on` keeps the errors it names transient."""
    if isinstance(exc, AssetflowError):
        return exc
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, _SQL_MISTAKES):
        return DefinitionError(f"{spec.where}: asset {label}: SQL error: {first_line}")
    if spec.retry_on and isinstance(exc, spec.retry_on):
        return exc
    if isinstance(exc, _ENGINE_DATA_ERRORS):  # every report of it names the node already
        return DataError(first_line)
    if isinstance(exc, _PYTHON_DATA_ERRORS):
        return DataError(f"{type(exc).__name__}: {first_line}")
    return exc


def removed_column_error(
    exc: duckdb.BinderException,
    spec: AssetSpec,
    defs: Definitions,
    once_had: Callable[[list[str], str], list[str]],
) -> DefinitionError | None:
    """The error of an asset that reads a column its upstream no longer returns, naming
    both assets and the column (`once_had(assets, column)`: those of the assets whose table
    had the column and has it no more); None for another binder error."""
    gone = _MISSING_COLUMN.search(str(exc))
    inputs = [d.name for d in spec.deps if d.name in defs.assets]
    had = once_had(inputs, gone.group(1)) if gone else []
    if not gone or not had:
        return None
    which = "it no longer returns" if len(had) == 1 else "they no longer return"
    return DefinitionError(
        f"{spec.where}: asset {spec.name} reads column {gone.group(1)} of"
        f" {' and '.join(had)}, which {which}",
        f"update {spec.name}, or bring the column back in {had[0]}",
    )


def retry_conflicts(write: Callable[[], T], conflict: type[Exception], log: NodeLog) -> T:
    """`write()`, tried again (computed anew) while it fails with a write conflict: another
    writer's transaction on the table won, or is still open (one changing the table's
    columns takes a while). The waits are real, even under --now."""
    for tries in range(1, _WRITE_CONFLICT_TRIES + 1):
        try:
            return write()
        except conflict:
            if tries == _WRITE_CONFLICT_TRIES:
                raise
            log.write(f"write conflict, trying the write again ({tries})\n")
            time.sleep(_CONFLICT_WAIT * 2 ** (tries - 1))
    raise AssertionError("unreachable")
