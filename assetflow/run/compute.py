"""Computing one node: the context, its upstream relations, and the query whose rows it writes.

An SQL asset returns a SELECT over its upstream names; those names are bound to CTEs that read
exactly the mapped upstream partitions. A Python asset receives the same reads as DuckDB
relations and returns a `pyarrow.Table` or a relation.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from assetflow.core.definitions import Definitions
from assetflow.core.records import InputRange, Node
from assetflow.core.specs import AssetSpec
from assetflow.errors import DefinitionError
from assetflow.run.sources import source_sql
from assetflow.store.schema import PARTITION_COLUMN


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


def input_sql(rng: InputRange, defs: Definitions, root: Path) -> str:
    """A SELECT over exactly the upstream partitions in `rng`, without the partition column."""
    if rng.is_source:
        spec = defs.sources[rng.name]
        if not rng.keys:  # clipped away: the shape of the source, no rows
            first = spec.partitions.key(spec.partitions.first_index())
            return f"SELECT * FROM ({source_sql(spec, first, root)}) LIMIT 0"
        return " UNION ALL BY NAME ".join(
            f"SELECT * FROM ({source_sql(spec, key, root)})" for key in rng.keys
        )
    table = f'main."{rng.name}"'
    if not rng.keys:
        return f"SELECT * EXCLUDE ({PARTITION_COLUMN}) FROM {table} WHERE false"
    first, last = rng.keys[0], rng.keys[-1]
    return (
        f"SELECT * EXCLUDE ({PARTITION_COLUMN}) FROM {table}"
        f" WHERE {PARTITION_COLUMN} BETWEEN '{first}' AND '{last}'"
    )


def node_query(
    spec: AssetSpec,
    node: Node,
    inputs: tuple[InputRange, ...],
    ctx: Context,
    defs: Definitions,
    root: Path,
) -> str:
    """Call the asset's function and return the SELECT whose rows become the partition."""
    reads = {rng.name: input_sql(rng, defs, root) for rng in inputs}
    cur = ctx.conn
    kwargs: dict[str, Any] = {  # a parameter the body never reads gets None, not a bind
        dep.name: cur.sql(reads[dep.name]) if dep.name in spec.used_params else None
        for dep in spec.deps
        if dep.as_param
    }
    if spec.context_param:
        kwargs[spec.context_param] = ctx
    result = spec.fn(**kwargs)
    if isinstance(result, str):
        ctes = ", ".join(f'"{name}" AS ({sql})' for name, sql in reads.items())
        prefix = f"WITH {ctes} " if ctes else ""
        return f"{prefix}SELECT * FROM ({result})"
    if type(result).__module__.startswith("pyarrow"):  # pyarrow is imported only when used
        import pyarrow as pa

        if isinstance(result, pa.Table | pa.RecordBatchReader):
            cur.register(result_view(ctx), result)
            return f"SELECT * FROM {result_view(ctx)}"
    if isinstance(result, duckdb.DuckDBPyRelation):
        result.create_view(result_view(ctx), replace=True)
        return f"SELECT * FROM {result_view(ctx)}"
    raise DefinitionError(
        f"{spec.where}: asset {node} returned {type(result).__name__}",
        "return SQL text, a pyarrow.Table or a DuckDB relation",
    )


def release(cur: duckdb.DuckDBPyConnection, ctx: Context, query: str | None) -> None:
    """Drop what node_query registered on the cursor (SQL assets register nothing)."""
    if query is None or result_view(ctx) not in query:
        return
    with contextlib.suppress(duckdb.Error):
        cur.unregister(result_view(ctx))
    cur.execute(f"DROP VIEW IF EXISTS {result_view(ctx)}")
