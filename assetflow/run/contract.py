"""Contracts: an asset's declared columns (`@asset(columns=...)`), enforced before a write.

The rows must have exactly the declared columns with exactly the declared types; anything
else is a data error (never retried, nothing written) that names the column and both types.
NOT NULL is enforced by the write itself (store/writer.py), over the rows as stored.
"""

from __future__ import annotations

import re
import threading

import duckdb

from assetflow.core.specs import AssetSpec
from assetflow.errors import DataError, DefinitionError
from assetflow.store.tables import relation_columns

_NOT_NULL = re.compile(r"\s+NOT\s+NULL\s*$", re.IGNORECASE)
_canonical: dict[str, str] = {}  # a declared type -> DuckDB's name for it (INT -> INTEGER)
_lock = threading.Lock()


def not_null_columns(spec: AssetSpec) -> list[str]:
    return [name for name, kind in spec.columns if _NOT_NULL.search(kind)]


def enforce(spec: AssetSpec, cur: duckdb.DuckDBPyConnection, query: str) -> None:
    """Raise a DataError if the rows of `query` (bound, not run) break the contract."""
    got = relation_columns(cur.sql(query))
    want = {name: canonical_type(spec, cur, name, kind) for name, kind in spec.columns}
    problems = [f"it does not return column {c} ({t})" for c, t in want.items() if c not in got]
    problems += [f"it returns column {c}, which the contract does not list" for c in got
                 if c not in want]  # fmt: skip
    problems += [
        f"column {c} is {got[c]}, the contract says {t}"
        for c, t in want.items()
        if c in got and got[c] != t
    ]
    if problems:
        raise DataError(
            f"asset {spec.name} breaks its contract: {'; '.join(problems)}",
            f"return exactly the columns of columns= ({spec.where}), casting where needed",
        )


def canonical_type(spec: AssetSpec, cur: duckdb.DuckDBPyConnection, column: str, kind: str) -> str:
    """DuckDB's name for a declared type, without NOT NULL; a definition error if unknown."""
    base = _NOT_NULL.sub("", kind).strip()
    with _lock:
        known = _canonical.get(base)
    if known is None:
        try:
            known = str(cur.sql(f"SELECT NULL::{base} AS x").types[0])
        except duckdb.Error:
            raise DefinitionError(
                f"{spec.where}: asset {spec.name}: columns= gives column {column} the type"
                f" {kind!r}, which DuckDB does not know"
            ) from None
        with _lock:
            _canonical[base] = known
    return known
