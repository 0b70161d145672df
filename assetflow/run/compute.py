"""Computing one node: the context, its upstream relations, and the query whose rows it writes.

An SQL asset returns a SELECT over its upstream names; those names are bound to CTEs that read
exactly the mapped upstream partitions. A Python asset receives the same reads as DuckDB
relations and returns a `pyarrow.Table` or a relation.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from assetflow.core.definitions import Definitions
from assetflow.core.planner import PlannedNode
from assetflow.core.records import InputRange
from assetflow.core.resources import Resources
from assetflow.core.specs import AssetSpec
from assetflow.errors import DefinitionError
from assetflow.run.resources import resources_for
from assetflow.run.sources import source_sql
from assetflow.store.schema import PARTITION_COLUMN, in_partitions, table_sql
from assetflow.store.tables import arrow_table, relation_columns


def result_view(ctx: Context) -> str:
    """A name for the view over a Python asset's result, unique to the node: concurrent
    nodes must not touch one catalog entry."""
    return "_af_result_" + re.sub(r"[^a-z0-9_]", "_", f"{ctx.asset}_{ctx.partition}")


@dataclass(frozen=True)
class Context:
    """What an asset function receives as `ctx`."""

    asset: str
    partition: str
    start: dt.date | None  # the partition's window, half-open [start, end)
    end: dt.date | None
    logical_date: dt.date  # the day the partition is about (its window start)
    run_id: str
    conn: duckdb.DuckDBPyConnection = field(repr=False)
    log: logging.Logger = field(repr=False)
    # Every partition this call computes: one, or a batch (then `partition` reads
    # "first..last"; batch-aware SQL uses start and end).
    partitions: tuple[str, ...] = ()
    # Several dimensions: this partition's key per dimension, {"day": ..., "customer": ...}.
    dims: dict[str, str] = field(default_factory=dict)
    # The resources the asset declared (`ctx.resources.NAME`), as its environment has them.
    resources: Resources | None = field(default=None, repr=False)
    env: str = "prod"  # the environment it runs in


def input_sql(rng: InputRange, defs: Definitions, root: Path, schema: str = "main") -> str:
    """A SELECT over exactly the upstream partitions in `rng`, without the partition column;
    an asset's as the schema `schema` shows it (an environment's view, prod's main)."""
    if rng.is_source:
        spec = defs.sources[rng.name]
        if not rng.keys:  # clipped away: the shape of the source, no rows
            first = spec.partitions.key(spec.partitions.first_index())
            return f"SELECT * FROM ({source_sql(spec, (first,), root)}) LIMIT 0"
        if spec.ranges:  # the range is consecutive partitions: one call reads them
            return source_sql(spec, rng.keys, root)
        return " UNION ALL BY NAME ".join(
            f"SELECT * FROM ({source_sql(spec, (key,), root)})" for key in rng.keys
        )
    table = table_sql(rng.name, schema)
    if not rng.keys:
        return f"SELECT * EXCLUDE ({PARTITION_COLUMN}) FROM {table} WHERE false"
    where = in_partitions(rng.keys, rng.partitions.ordered_keys)
    return f"SELECT * EXCLUDE ({PARTITION_COLUMN}) FROM {table} WHERE {where}"


def node_query(
    spec: AssetSpec,
    reads: dict[str, str],
    ctx: Context,
    check: Callable[[AssetSpec, str], None] | None = None,
) -> str:
    """Call the asset's function and return the SELECT whose rows become its partitions.
    `reads` holds, per dependency, a SELECT of exactly the partitions the task reads;
    `check(spec, sql)` sees SQL text the function returned."""
    cur = ctx.conn
    kinds = dict(spec.input_kinds)
    kwargs: dict[str, Any] = {  # a parameter the body never reads gets None, not a bind
        dep.name: as_input(spec, dep.name, kinds.get(dep.name), cur.sql(reads[dep.name]))
        if dep.name in spec.used_params
        else None
        for dep in spec.deps
        if dep.as_param
    }
    if spec.context_param:
        kwargs[spec.context_param] = ctx
    for name in spec.resource_params:
        assert ctx.resources is not None
        kwargs[name] = ctx.resources[name]
    result = spec.fn(**kwargs)
    if isinstance(result, str):
        if check is not None:
            check(spec, result)
        ctes = ", ".join(f'"{name}" AS ({sql})' for name, sql in reads.items())
        prefix = f"WITH {ctes} " if ctes else ""
        return f"{prefix}SELECT * FROM ({result})"
    rows = as_scannable(result)
    if rows is None:
        label = ctx.partitions[0] if ctx.partitions else ctx.partition
        raise DefinitionError(
            f"{spec.where}: asset {ctx.asset}[{label}] returned {type(result).__name__}",
            "return SQL text, a DuckDB relation, a pyarrow Table, RecordBatchReader or"
            " iterator of RecordBatches, a pandas DataFrame or a polars DataFrame/LazyFrame",
        )
    if isinstance(rows, duckdb.DuckDBPyRelation):
        try:  # a view keeps the rows in DuckDB, computed as they are written
            rows.create_view(result_view(ctx), replace=True)
            return f"SELECT * FROM {result_view(ctx)}"
        except duckdb.Error:  # it reads a Python object (from_df, from_arrow, values)
            rows = arrow_table(rows)
    cur.register(result_view(ctx), rows)
    return f"SELECT * FROM {result_view(ctx)}"


_EXTRA = {"pandas": "pandas", "polars": "polars", "polars_lazy": "polars"}


def as_input(spec: AssetSpec, name: str, kind: str | None, relation: Any) -> Any:
    """An upstream input as the parameter's annotation asks: a DuckDB relation (default), a
    pyarrow Table, a pandas DataFrame, a polars DataFrame or LazyFrame."""
    if kind is None:
        return relation
    if kind == "arrow":
        return arrow_table(relation)
    try:
        if kind == "pandas":
            return _pandas(relation)
        return relation.pl().lazy() if kind == "polars_lazy" else relation.pl()
    except ImportError:
        raise DefinitionError(
            f"{spec.where}: asset {spec.name} asks for {name} as a {_EXTRA[kind]} frame, but"
            f" {_EXTRA[kind]} is not installed",
            f"pip install 'assetflow[{_EXTRA[kind]}]'",
        ) from None


def _pandas(relation: Any) -> Any:
    """A relation as a pandas DataFrame, DuckDB's way, except that DATE columns hold dates
    (Arrow-backed), not midnight timestamps: numpy has no date type, and a frame handed back
    would otherwise turn them into TIMESTAMP downstream."""
    frame = relation.df()
    dates = [
        name for name, kind in zip(relation.columns, relation.types, strict=True) if kind == "DATE"
    ]
    if dates:
        import pandas as pd
        import pyarrow as pa

        frame = frame.astype({name: pd.ArrowDtype(pa.date32()) for name in dates})
    return frame


def as_scannable(result: Any) -> Any:
    """What DuckDB can read of a Python asset's result: a relation, or an Arrow table or
    reader (pandas DataFrames DuckDB reads as they are). None if it is none of these. The
    data libraries are imported only when a result comes from them."""
    if isinstance(result, duckdb.DuckDBPyRelation):
        return result
    module = type(result).__module__.split(".")[0]
    name = type(result).__name__
    if module == "pyarrow":
        import pyarrow as pa

        if isinstance(result, pa.RecordBatch):
            return pa.Table.from_batches([result])
        return result if isinstance(result, pa.Table | pa.RecordBatchReader) else None
    if module == "pandas" and name == "DataFrame":
        return result
    if module == "polars" and name in ("DataFrame", "LazyFrame"):
        return (result.collect() if name == "LazyFrame" else result).to_arrow()
    if isinstance(result, Iterator):  # batches larger than memory, read as they come
        import pyarrow as pa

        first = next(result, None)
        if not isinstance(first, pa.RecordBatch):
            return None
        return pa.RecordBatchReader.from_batches(first.schema, itertools.chain([first], result))
    return None


def compute_arrow(
    spec: AssetSpec, ctx_of: Callable[[duckdb.DuckDBPyConnection], Context], inputs: dict[str, Any]
) -> Any:
    """The compute step anywhere: the asset's rows as a `pyarrow.Table`, computed in an
    in-memory DuckDB from its inputs handed over as Arrow tables (dependency -> table).
    Nothing here touches the warehouse, so a process that never opened it can run this."""
    conn = duckdb.connect()
    try:
        reads = {}
        for name, table in inputs.items():
            view = f"_af_input_{name}"
            conn.register(view, table)
            reads[name] = f'SELECT * FROM "{view}"'
        ctx = ctx_of(conn)
        query = node_query(spec, reads, ctx)
        return arrow_table(conn.sql(query))
    finally:
        conn.close()


def release(cur: duckdb.DuckDBPyConnection, ctx: Context, query: str | None) -> None:
    """Drop what node_query registered on the cursor (SQL assets register nothing)."""
    if query is None or result_view(ctx) not in query:
        return
    with contextlib.suppress(duckdb.Error):
        cur.unregister(result_view(ctx))
    cur.execute(f"DROP VIEW IF EXISTS {result_view(ctx)}")


@dataclass(frozen=True)
class Preview:
    """A planned node of an SQL-only asset (`spec.returns_sql`) looked at before running:
    its function called with a dry-run `ctx`, nothing written."""

    spec: AssetSpec
    conn: duckdb.DuckDBPyConnection
    defs: Definitions
    root: Path
    planned: PlannedNode
    today: dt.date
    schema: str = "main"  # where its inputs are read (an environment's view)
    env: str = "prod"

    def _reads(self) -> dict[str, str]:
        return {
            rng.name: input_sql(rng, self.defs, self.root, self.schema)
            for rng in self.planned.inputs
        }

    def sql(self) -> str:
        """The SQL text the asset returns for the node (nothing bound or run)."""
        found: list[str] = []

        def keep(_: AssetSpec, text: str) -> None:
            found.append(text)

        node_query(self.spec, self._reads(), self._context(), keep)
        return found[0]

    def columns(self) -> dict[str, str] | None:
        """The columns the node will return, its query bound (not run) against the tables
        as they are; None if it does not bind (the run will say why)."""
        try:
            return relation_columns(
                self.conn.sql(node_query(self.spec, self._reads(), self._context()))
            )
        except Exception:  # noqa: BLE001 - a preview only: the run itself reports any mistake
            return None

    def input_columns(self) -> dict[str, dict[str, str]]:
        """The columns of each dependency as the node would read it (those that do not bind
        yet are left out)."""
        schema = {}
        for name, select in self._reads().items():
            with contextlib.suppress(duckdb.Error):
                schema[name] = relation_columns(self.conn.sql(select))
        return schema

    def _context(self) -> Context:
        spec, parts = self.spec, self.spec.partitions
        start, end = parts.window(self.planned.index)
        key = self.planned.node.partition
        return Context(
            spec.name, key, start, end, start or self.today, "dry-run", self.conn,
            logging.getLogger("assetflow.preview"), (key,), parts.dimension_keys(key),
            resources_for(spec, self.defs, self.env), env=self.env,
        )  # fmt: skip
