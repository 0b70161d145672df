"""How the rows of an environment differ from its parent's, over the partitions lineage says
differ (environments.differing): counts of the rows only on either side and of those changed
by a declared key, and a few sample rows of each.

Two statements, whatever the number of assets:
1. one pass over both sides of every asset's differing partitions that keeps, per row, only
   its hash, its key's hash, and whether it lies in the first few partitions: rows are
   grouped by hash, each with how many more times the environment holds it than its parent;
   the groups that do not cancel are the differences, counted per asset and kind, and the
   samples are the smallest hashes of each kind, from the first partitions when they hold
   enough. No column but the hashes travels past the reading.
2. the sample rows of every asset, fetched by their hashes (or their keys') from the
   partitions they lie in (a few, usually).

A row is compared by name, not by position: both sides are read as the same list of columns
(the environment's, then its parent's others), a column missing on one side as NULL, and a
column whose type changed as the type both fit; so reordering columns, or widening a type,
changes no row. Two different rows with the same 64-bit hash would cancel: the odds are those
of any hash join.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import duckdb

from assetflow.core.checks import sql_literal
from assetflow.core.environments import AssetDiff, Env, Wanted, read_schema
from assetflow.store.schema import PARTITION_COLUMN, quoted_name, table_sql

KINDS = ("added", "removed", "changed")  # as numbered in the statement


@dataclass(frozen=True)
class _Side:
    """One side of an asset read as the columns both share: the table (the environment's
    own; its parent's view), the values in column order, the row's hash and its key's hash
    (NULL without a key), as SQL over the table aliased `x`; `sign` +1 for the environment's
    rows, -1 for its parent's."""

    sign: int
    table: str
    values: tuple[str, ...]
    row_hash: str
    key_hash: str


@dataclass(frozen=True)
class _Shape:
    """How an asset's two sides are read as the same columns (a side without such a
    table has no rows, and is not read)."""

    wanted: Wanted
    columns: tuple[str, ...]
    sides: tuple[_Side, ...]


@dataclass(frozen=True)
class _Kind:
    """The differing rows of one kind in one asset: how many, over how many keys, the
    samples' row hashes (`changed`: key hashes) in the order they are shown, and the
    partitions that hold them."""

    rows: int
    keys: int
    samples: tuple[int, ...] = ()
    partitions: tuple[str, ...] = ()


def row_diffs(
    conn: duckdb.DuckDBPyConnection, env: Env, wanted: Sequence[Wanted], samples: int
) -> list[AssetDiff]:
    """Per asset, how the rows of its differing partitions differ between `env` and its
    parent: counts, and up to `samples` rows of each kind (of `changed`, up to `samples`
    keys: a key's rows in `env`, then its parent's; `2 * samples` rows at most), in a fixed
    order."""
    assert env.parent is not None
    if not wanted:
        return []
    shapes = _shapes(conn, env, wanted)
    counted = _counted(conn, shapes, max(samples, 1))
    fetched = _fetched(conn, shapes, counted)
    diffs = []
    for i, shape in enumerate(shapes):
        kinds = {kind: counted.get((i, kind), _Kind(0, 0)) for kind in KINDS}
        shown: dict[str, tuple[tuple[object, ...], ...]] = {}
        order = _reading_order(shape)
        for kind in KINDS if shape.wanted.key else KINDS[:2]:
            rows = [_shown(fetched.get(i, []), kind, h) for h in kinds[kind].samples]
            rows = sorted((found for found in rows if found), key=lambda found: order(found[0]))
            shown[kind] = tuple(r for found in rows for r in found)[: 2 * samples]
        diffs.append(AssetDiff(
            shape.wanted.asset, shape.wanted.partitions, shape.columns, kinds["added"].rows,
            kinds["removed"].rows, kinds["changed"].keys, shown, shape.wanted.key,
        ))  # fmt: skip
    return diffs


def _reading_order(shape: _Shape) -> Callable[[tuple[object, ...]], tuple[object, ...]]:
    """How samples are shown: by partition, then by key (picked by hash, they would read
    as shuffled); NULLs last."""
    at = [
        shape.columns.index(c) for c in (PARTITION_COLUMN, *shape.wanted.key) if c in shape.columns
    ]
    return lambda row: tuple((row[k] is None, row[k]) for k in at)


def _shown(
    fetched: list[tuple[bool, int, int, tuple[object, ...]]], kind: str, h: int
) -> list[tuple[object, ...]]:
    """A sample's rows, each distinct row once: the row of hash `h` on its side, or
    (`changed`) the rows of key hash `h` one side holds more times than the other, the
    environment's first (every row of a key lies in one partition: all were read)."""
    if kind != "changed":
        mine = kind == "added"
        return [row for side, row_hash, _, row in fetched if row_hash == h and side == mine][:1]
    more: Counter[int] = Counter()
    rows = {}
    for side, row_hash, key_hash, row in fetched:
        if key_hash == h:
            more[row_hash] += 1 if side else -1
            rows[row_hash] = row
    return [rows[r] for r in sorted(more, key=lambda r: (more[r] < 0, r)) if more[r] != 0]


def _range(partitions: Sequence[str]) -> str:
    """An SQL condition: the partition column within the range of `partitions`. DuckDB skips
    the row groups (and Parquet files) outside it by their statistics, so the cost grows
    with these partitions, not with the tables."""
    low, high = sql_literal(min(partitions)), sql_literal(max(partitions))
    return f"{PARTITION_COLUMN} BETWEEN {low} AND {high}"


def _within(partitions: Sequence[str], parameter: str) -> str:
    """An SQL condition: the partition column is one of `partitions`, given as the list
    parameter `parameter`: the range first, then a semi join on the list (inlined, hundreds
    of keys cost more to optimize than the rows cost to read)."""
    return f"{_range(partitions)} AND {PARTITION_COLUMN} IN (SELECT unnest(${parameter}))"


def _shapes(conn: duckdb.DuckDBPyConnection, env: Env, wanted: Sequence[Wanted]) -> list[_Shape]:
    """Each asset's two sides as one list of columns (one catalog read for all of them)."""
    assert env.parent is not None
    mine, theirs = env.data_schema, read_schema(env.parent)
    catalog: dict[tuple[str, str], dict[str, str]] = {}
    for schema, table, column, kind in conn.execute(
        "SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns()"
        " WHERE list_contains(?, schema_name) AND list_contains(?, table_name)"
        " ORDER BY schema_name, table_name, column_index",
        [[mine, theirs], [w.asset for w in wanted]],
    ).fetchall():
        catalog.setdefault((schema, table), {})[column] = kind
    shapes = []
    for w in wanted:
        own, other = catalog.get((mine, w.asset), {}), catalog.get((theirs, w.asset), {})
        columns = list(own) + [c for c in other if c not in own]
        kinds = {c: _common(conn, own.get(c), other.get(c)) for c in columns}
        sides = [(1, table_sql(w.asset, mine), own), (-1, table_sql(w.asset, theirs), other)]
        sides = [side for side in sides if side[2]]  # a side with no such table has no rows
        shapes.append(_Shape(w, tuple(columns), tuple(
            _side(sign, table, held, columns, kinds, w.key) for sign, table, held in sides
        )))  # fmt: skip
    return shapes


def _common(conn: duckdb.DuckDBPyConnection, one: str | None, two: str | None) -> str:
    """The type both sides of a column are read as: the one both fit when they differ."""
    if one is None or two is None or one == two:
        return one or two or "VARCHAR"
    (kind,) = conn.execute(
        f"SELECT typeof(c) FROM (SELECT NULL::{one} AS c UNION ALL SELECT NULL::{two}) LIMIT 1"
    ).fetchone() or ("VARCHAR",)
    return str(kind)


def _side(
    sign: int,
    table: str,
    held: dict[str, str],
    columns: list[str],
    kinds: dict[str, str],
    key: tuple[str, ...],
) -> _Side:
    def value(c: str) -> str:
        if c not in held:
            return f"NULL::{kinds[c]}"
        return f"x.{quoted_name(c)}" if held[c] == kinds[c] else f"x.{quoted_name(c)}::{kinds[c]}"

    values = tuple(value(c) for c in columns)
    row_hash = f"hash({', '.join(values)})"
    key_hash = (  # rows are paired by key within a partition
        f"hash({', '.join(value(c) for c in (*key, PARTITION_COLUMN))})"
        if key and all(c in columns for c in key)
        else "NULL::UBIGINT"
    )
    return _Side(sign, table, values, row_hash, key_hash)


# The rows that do not cancel (`g`), each of a kind (`t`: 0 added, 1 removed, 2 changed):
# `changed` when its key has rows on both sides, which only assets with a declared key need
# (`paired`). Then per asset and kind: the rows, the keys, and the samples: the smallest row
# hashes (key hashes for `changed`) among the rows of the first partitions (`near`), so that
# they are read from a few partitions, and among all rows, for when those have too few.
_DIFFERENT = """
WITH s AS ({sides}),
g AS (SELECT a, h, any_value(near) AS near, any_value(k) AS k, sum(side)::BIGINT AS n
      FROM s GROUP BY a, h HAVING sum(side) <> 0),
"""
_KINDS = """
t AS (SELECT *, CASE WHEN n > 0 THEN 0 ELSE 1 END AS kind, h AS shown FROM g)
SELECT a, kind, sum(abs(n))::BIGINT, 0,
"""
_KINDS_BY_KEY = """
paired AS (SELECT a, k FROM g WHERE k IS NOT NULL
           GROUP BY a, k HAVING max(n) > 0 AND min(n) < 0),
t AS (SELECT g.*, CASE WHEN paired.k IS NOT NULL THEN 2 WHEN n > 0 THEN 0 ELSE 1 END AS kind,
             CASE WHEN paired.k IS NOT NULL THEN g.k ELSE h END AS shown
      FROM g LEFT JOIN paired USING (a, k))
SELECT a, kind, sum(abs(n))::BIGINT, count(DISTINCT k) FILTER (WHERE kind = 2),
"""
_SAMPLES = """
       min(shown, {samples}) FILTER (WHERE near), min(shown, {samples})
FROM t GROUP BY a, kind
"""
FIRST = 10  # partitions of each asset its samples are looked for in first


def _near(partitions: Sequence[str]) -> tuple[str, str]:
    """The first partitions as a range of keys (a comparison per row, not a lookup)."""
    first = partitions[:FIRST]
    return min(first), max(first)


def _counted(
    conn: duckdb.DuckDBPyConnection, shapes: list[_Shape], samples: int
) -> dict[tuple[int, str], _Kind]:
    """Per (asset's index, kind), the differing rows, keys, and up to `samples` samples."""
    reads, given = [], {}
    for i, shape in enumerate(shapes):
        given[f"p{i}"] = list(shape.wanted.partitions)
        low, high = (sql_literal(key) for key in _near(shape.wanted.partitions))
        where = _within(shape.wanted.partitions, f"p{i}")
        for side in shape.sides:
            reads.append(
                f"SELECT {i} AS a, {side.sign} AS side, {side.row_hash} AS h,"
                f" {side.key_hash} AS k, {PARTITION_COLUMN} BETWEEN {low} AND {high} AS near"
                f" FROM {side.table} x WHERE {where}"
            )
    if not reads:
        return {}
    kinds = _KINDS_BY_KEY if any(shape.wanted.key for shape in shapes) else _KINDS
    statement = (
        _DIFFERENT.format(sides=" UNION ALL ".join(reads))
        + kinds
        + _SAMPLES.format(samples=2 * samples)  # (a changed key's rows share its hash)
    )
    counted = {}
    for i, kind, total, keys, near, anywhere in conn.execute(statement, given).fetchall():
        partitions = shapes[i].wanted.partitions
        if near is not None and len(near) == len(anywhere):  # enough in the first ones
            low, high = _near(partitions)
            partitions = tuple(p for p in partitions if low <= p <= high)
        else:
            near = anywhere
        picked = tuple(dict.fromkeys(sorted(near)))[:samples]
        counted[i, KINDS[kind]] = _Kind(int(total), int(keys), picked, partitions)
    return counted


def _fetched(
    conn: duckdb.DuckDBPyConnection, shapes: list[_Shape], counted: dict[tuple[int, str], _Kind]
) -> dict[int, list[tuple[bool, int, int, tuple[object, ...]]]]:
    """Per asset's index, the rows the samples need, as (held by the environment, row hash,
    key hash, values), read from their partitions only: every asset's in one statement
    (asset i's columns named `_af_i_j`)."""
    reads = []
    for i, shape in enumerate(shapes):
        wanted = {kind: counted[i, kind] for kind in KINDS if (i, kind) in counted}
        if not wanted:
            continue
        # The partitions' range only: a hash names its row's partition too (the partition
        # column is hashed with the row, and with the key), and a list costs more to plan.
        where = _range([p for found in wanted.values() for p in found.partitions])
        keys = sorted(wanted["changed"].samples) if "changed" in wanted else []
        for side in shape.sides:
            held = wanted.get("added" if side.sign > 0 else "removed")
            rows = sorted(held.samples) if held is not None else []
            found = [f"list_contains({rows}::UBIGINT[], {side.row_hash})"] if rows else []
            found += [f"list_contains({keys}::UBIGINT[], {side.key_hash})"] if keys else []
            if not found:
                continue  # nothing to show from this side
            named = ", ".join(f"{v} AS _af_{i}_{j}" for j, v in enumerate(side.values))
            reads.append(
                f"SELECT {i} AS _af_a, {side.sign > 0} AS _af_mine, {side.row_hash} AS _af_h,"
                f" {side.key_hash} AS _af_k, {named} FROM {side.table} x"
                f" WHERE {where} AND ({' OR '.join(found)})"
            )
    if not reads:
        return {}
    result = conn.execute(" UNION ALL BY NAME ".join(reads))
    names = [d[0] for d in result.description or []]
    where_is = {i: [names.index(f"_af_{i}_{j}") for j in range(len(shape.columns))]
                for i, shape in enumerate(shapes) if f"_af_{i}_0" in names}  # fmt: skip
    fetched: dict[int, list[tuple[bool, int, int, tuple[object, ...]]]] = {}
    for row in result.fetchall():
        i, mine, row_hash, key_hash = row[:4]
        values = tuple(row[k] for k in where_is[i])
        fetched.setdefault(i, []).append((mine, row_hash, key_hash, values))
    return fetched
