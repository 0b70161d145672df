"""Arrow types as a Delta table holds them: the rows a table takes (`delta_types`), a
contract's NOT NULL columns declared (`not_null`), a table's columns (`arrow_schema`), and
its rows read with types pyarrow can compare, pruned by deltalake to the files that may
hold some partitions (`readable_dataset`, `pruning`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from assetflow.errors import DefinitionError
from assetflow.store.schema import PARTITION_COLUMN

_WIDER = {"uint8": "int16", "uint16": "int32", "uint32": "int64"}


def delta_types(rows: pa.Table, asset: str) -> pa.Table:
    """The rows with the types a Delta table can hold: timestamps with a time zone as UTC
    (Delta knows no other zone), unsigned integers widened to signed ones; a type Delta
    has no counterpart for is a definition error naming the column."""
    fields = []
    for field in rows.schema:
        kind = field.type
        if pa.types.is_timestamp(kind) and kind.tz is not None:
            kind = pa.timestamp("us", tz="UTC")
        elif str(kind) in _WIDER:
            kind = pa.type_for_alias(_WIDER[str(kind)])
        elif pa.types.is_uint64(kind):
            kind = pa.decimal128(20, 0)
        elif pa.types.is_time(kind) or pa.types.is_duration(kind) or pa.types.is_interval(kind):
            raise DefinitionError(
                f"asset {asset} returns column {field.name} of type {kind}, which a Delta Lake"
                " table cannot hold",
                "cast it in the asset (to VARCHAR, or a number of seconds)",
            )
        fields.append(field.with_type(kind))
    schema = pa.schema(fields)
    return rows if schema == rows.schema else rows.cast(schema)


def arrow_schema(table: Any) -> pa.Schema:
    """A DeltaTable's columns as Arrow types."""
    return pa.schema(table.schema().to_arrow())


def not_null(rows: pa.Table, columns: Sequence[str]) -> pa.Table:
    """The rows with a contract's NOT NULL columns declared so, as the table will hold them
    (the rows were checked to have no NULL there)."""
    if not columns:
        return rows
    fields = [f.with_nullable(False) if f.name in columns else f for f in rows.schema]
    return rows.cast(pa.schema(fields))


def readable_dataset(table: Any, keys: Sequence[str] | None = None) -> Any:
    """A DeltaTable's rows as a pyarrow dataset (pruned to the files that may hold `keys`)
    that DuckDB can filter. Files rewritten by a delete or an overwrite hold strings as
    string_view, the others as string; pyarrow cannot compare the two, so every string
    column is read as string_view."""
    schema = pa.schema(
        f.with_type(pa.string_view()) if pa.types.is_string(f.type) else f
        for f in arrow_schema(table)
    )
    return table.to_pyarrow_dataset(schema=schema, file_pruning_predicate=pruning(keys))


def pruning(keys: Sequence[str] | None) -> list[tuple[str, str, list[str]]] | None:
    """deltalake's file pruning for partitions `keys` (None: every file): by folder in a
    table partitioned by the key, by statistics in a clustered one (a superset: filter the
    rows too)."""
    return None if keys is None else [(PARTITION_COLUMN, "in", list(keys))]
