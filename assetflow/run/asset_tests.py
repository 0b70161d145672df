"""Running an asset test: the asset computed from fixture rows in an in-memory DuckDB (the
warehouse is never opened), its rows compared with the expected ones.

The asset's function is called as a run calls it (run/compute.py's `node_query`, a `ctx` for
the partition or the batch), each input reading exactly the rows given for it. The expected
rows are cast to the types the asset returned, then compared as multisets (EXCEPT ALL) or, with
a key, row by row: missing, unexpected, and changed (naming the columns that differ).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from pathlib import Path
from typing import Any

import duckdb

from assetflow.core.asset_tests import ChangedRow, Row, TestResult
from assetflow.core.definitions import Definitions
from assetflow.core.partitions import UNPARTITIONED
from assetflow.core.resources import Resources
from assetflow.core.specs import AssetSpec, AssetTestSpec, Rows
from assetflow.errors import AssetflowError
from assetflow.run.compute import Context, node_query
from assetflow.run.resources import resources_for
from assetflow.store.schema import quoted_name
from assetflow.store.tables import relation_columns

_log = logging.getLogger("assetflow.test")


class _Unrunnable(Exception):
    """A test that cannot run as written (told in its result, not raised)."""


def run_asset_test(
    test: AssetTestSpec, defs: Definitions, root: Path, now: dt.datetime, env: str = "prod"
) -> TestResult:
    """The outcome of one test, the asset's resources as environment `env` has them; a
    mistake in it (an input not given, a column the asset does not return, the asset
    raising) is the result's `error`."""
    found = TestResult(test.name, test.asset, test.partition, test.where, key=test.key)
    conn = duckdb.connect()
    try:
        spec = defs.assets.get(test.asset)
        if spec is None:
            raise _Unrunnable(f"no asset named {test.asset}")
        _land_inputs(conn, test, spec, root)
        resources = resources_for(spec, defs, env)
        produced = _compute(conn, test, spec, test.now or now, resources)
        conn.execute(f"CREATE TEMP TABLE _af_actual AS {produced}")
        return _compare(conn, test, root, found)
    except (_Unrunnable, AssetflowError) as exc:
        return _with(found, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - the asset raising is the test's finding
        return _with(found, error=f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


def _land_inputs(
    conn: duckdb.DuckDBPyConnection, test: AssetTestSpec, spec: AssetSpec, root: Path
) -> None:
    given = dict(test.given)
    unknown = sorted(set(given) - {d.name for d in spec.deps})
    if unknown:
        raise _Unrunnable(f"{test.asset} reads no input named {', '.join(unknown)}")
    for dep in spec.deps:
        if dep.name not in given:
            raise _Unrunnable(f"no rows given for input {dep.name}")
        _land(conn, f"_af_given_{dep.name}", given[dep.name], root, f"the rows of {dep.name}")


def _land(conn: duckdb.DuckDBPyConnection, table: str, rows: Rows, root: Path, what: str) -> None:
    """Fixture rows as a temporary table: dicts typed as Python's values are (a date, an
    int, a string), a CSV file typed as DuckDB detects it."""
    if isinstance(rows, str):
        path = (root / rows).resolve()
        if not path.is_file():
            raise _Unrunnable(f"no file {rows} (paths are relative to the project)")
        conn.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM read_csv(?)", [str(path)])
        return
    if not rows:
        if table == "_af_expected_rows":  # no rows expected: no columns needed
            conn.execute(f"CREATE TEMP TABLE {table} (_af_none INTEGER)")
            return
        raise _Unrunnable(
            f"{what}: no rows, so no columns: for an empty input give a CSV file with only"
            " its header line"
        )
    import pyarrow as pa

    columns = list(dict.fromkeys(k for r in rows for k in r))
    try:
        data = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows])
    except (pa.ArrowException, TypeError) as exc:
        raise _Unrunnable(
            f"{what}: each column takes values of one type (a date as datetime.date"
            f" throughout, or as text throughout): {exc}"
        ) from None
    conn.register(f"{table}_rows", data)
    conn.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM {table}_rows")
    conn.unregister(f"{table}_rows")


def _compute(
    conn: duckdb.DuckDBPyConnection,
    test: AssetTestSpec,
    spec: AssetSpec,
    now: dt.datetime,
    resources: Resources,
) -> str:
    """The SELECT of the asset's rows for the test's partition(s): one call for a batch
    asset over a range, else one call per partition, their rows together."""
    reads = {d.name: f"SELECT * FROM _af_given_{d.name}" for d in spec.deps}
    keys = _keys(test, spec)
    if spec.batch_size > 1 or len(keys) == 1:
        return node_query(spec, reads, _context(spec, keys, conn, now, resources))
    parts = [
        f"SELECT * FROM ({node_query(spec, reads, _context(spec, (k,), conn, now, resources))})"
        for k in keys
    ]
    return " UNION ALL BY NAME ".join(parts)


def _keys(test: AssetTestSpec, spec: AssetSpec) -> tuple[str, ...]:
    parts = spec.partitions
    if not parts.is_partitioned:
        return (UNPARTITIONED,)
    if test.partition is None:
        raise _Unrunnable(f"{test.asset} is partitioned: give partition=KEY (or FIRST..LAST)")
    first, _, last = test.partition.partition("..")
    if not last:
        parts.index(first)  # a key it does not have: one clear line
        return (first,)
    lo, hi = parts.index(first), parts.index(last)
    if hi < lo:
        raise _Unrunnable(f"{last} is before {first}")
    return parts.keys_between(lo, hi)


def _context(
    spec: AssetSpec,
    keys: tuple[str, ...],
    conn: duckdb.DuckDBPyConnection,
    now: dt.datetime,
    resources: Resources,
) -> Context:
    parts = spec.partitions
    start = end = None
    if parts.time_axis is not None:
        start = parts.window(parts.index(keys[0]))[0]
        end = parts.window(parts.index(keys[-1]))[1]
    label = keys[0] if len(keys) == 1 else f"{keys[0]}..{keys[-1]}"
    logical = start if isinstance(start, dt.date) else now.date()
    return Context(
        spec.name, label, start, end, logical, "test", conn, _log, keys,
        parts.dimension_keys(keys[0]) if parts.is_partitioned else {}, resources,
    )  # fmt: skip


def _compare(
    conn: duckdb.DuckDBPyConnection, test: AssetTestSpec, root: Path, found: TestResult
) -> TestResult:
    actual = relation_columns(conn.sql("SELECT * FROM _af_actual"))
    _land(conn, "_af_expected_rows", test.expect, root, "the expected rows")
    expected = relation_columns(conn.sql("SELECT * FROM _af_expected_rows"))
    columns = [c for c in expected if c != "_af_none"]
    absent = [c for c in columns + list(test.key) if c not in actual]
    if absent:
        raise _Unrunnable(
            f"the asset returns no column {', '.join(dict.fromkeys(absent))}"
            f" (it returns {', '.join(actual)})"
        )
    quoted = {c: quoted_name(c) for c in columns}
    typed = ", ".join(f"CAST({quoted[c]} AS {actual[c]}) AS {quoted[c]}" for c in columns)
    if columns:
        conn.execute(f"CREATE TEMP TABLE _af_expected AS SELECT {typed} FROM _af_expected_rows")
    else:  # expect=[]: the asset must return no rows
        conn.execute("CREATE TEMP TABLE _af_expected AS SELECT * FROM _af_actual WHERE false")
        columns, quoted = list(actual), {c: quoted_name(c) for c in actual}
    cols = ", ".join(quoted[c] for c in columns)
    produced = conn.execute("SELECT count(*) FROM _af_actual").fetchall()[0][0]
    base = _with(found, produced=produced, compared=tuple(columns))
    if not test.key:
        expected_sql = f"SELECT {cols} FROM _af_expected"
        actual_sql = f"SELECT {cols} FROM _af_actual"
        missing = _rows(conn, f"{expected_sql} EXCEPT ALL {actual_sql}")
        unexpected = _rows(conn, f"{actual_sql} EXCEPT ALL {expected_sql}")
        return _with(base, missing=missing, unexpected=unexpected)
    keys = ", ".join(quoted.get(k) or '"' + k + '"' for k in test.key)
    missing = _rows(conn, f"SELECT {cols} FROM _af_expected ANTI JOIN _af_actual USING ({keys})")
    unexpected = _rows(conn, f"SELECT {cols} FROM _af_actual ANTI JOIN _af_expected USING ({keys})")
    others = [c for c in columns if c not in test.key]
    pairs = ", ".join(f"e.{quoted[c]}, a.{quoted[c]}" for c in others)
    differ = " OR ".join(f"e.{quoted[c]} IS DISTINCT FROM a.{quoted[c]}" for c in others)
    changed: list[ChangedRow] = []
    if others:
        rows = conn.execute(
            f"SELECT {keys}{', ' + pairs} FROM _af_expected e JOIN _af_actual a USING ({keys})"
            f" WHERE {differ} ORDER BY ALL"
        ).fetchall()
        for row in rows:
            key = dict(zip(test.key, row[: len(test.key)], strict=True))
            values = row[len(test.key) :]
            diff = {
                c: (values[2 * i], values[2 * i + 1])
                for i, c in enumerate(others)
                if values[2 * i] != values[2 * i + 1]
            }
            changed.append(ChangedRow(key, diff))
    return _with(base, missing=missing, unexpected=unexpected, changed=tuple(changed))


def _rows(conn: duckdb.DuckDBPyConnection, query: str) -> tuple[Row, ...]:
    result = conn.execute(f"SELECT * FROM ({query}) ORDER BY ALL")
    names = [d[0] for d in result.description or []]
    return tuple(dict(zip(names, row, strict=True)) for row in result.fetchall())


def _with(found: TestResult, **changes: Any) -> TestResult:
    return dataclasses.replace(found, **changes)
