"""Writing partitions: the store's write path, one transaction per task.

A write deletes the partitions, inserts the new rows, audits them (blocking checks), and
records each partition's materialization — data version, successful attempt, inputs — and
its check results, then commits. Part of the store: the only other module that writes
assetflow's metadata schema.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import duckdb

from assetflow.core.checks import sql_literal
from assetflow.core.environments import Env
from assetflow.core.partitions import check_key
from assetflow.core.records import CheckResult, NodeWrite, Written
from assetflow.errors import DataError, DefinitionError, PartitionKeyError
from assetflow.store.changes import Changes
from assetflow.store.connect import rollback
from assetflow.store.keysets import insert_keys
from assetflow.store.rows import RowInserter, values_relation
from assetflow.store.schema import (
    FIELD_SEP,
    INPUT_SEP,
    MATERIALIZATION_COLUMNS,
    PARTITION_COLUMN,
    in_partitions,
    table_sql,
)
from assetflow.store.shape import (
    Reshape,
    apply,
    create_table_sql,
    record_removed,
)
from assetflow.store.tables import relation_columns, table_columns
from assetflow.store.views import own_partitions, refresh_env_view

# A column of staged rows that holds each row's partition key (a write of partitions computed
# one by one); it is not stored.
KEY_COLUMN = "_af_partition_key"


class Audit(Protocol):
    """Runs a task's checks over its new rows before they are committed; raises to roll the
    write back. `rows`: every partition's new rows, with its key in PARTITION_COLUMN;
    `one(key)`: the name of a relation of one partition's new rows, without the key.
    Returns each partition's results."""

    def __call__(
        self,
        cur: duckdb.DuckDBPyConnection,
        rows: str,
        writes: Sequence[NodeWrite],
        one: Callable[[str], str],
    ) -> Mapping[str, Sequence[CheckResult]]: ...


# A node's data version: sha256 of its table's schema, its row count and the sum of its rows'
# hashes (order-independent), over the rows as the table stores them. One formula, in SQL.
VERSION_SQL = "left(sha256(concat_ws('|', ?, {n}, {h})), 16)"


def row_hashes_sql(columns: dict[str, str] | list[str]) -> str:
    """The order-independent sum of the rows' hashes that VERSION_SQL takes as {h}."""
    struct = ", ".join(f'"{c}" := "{c}"' for c in columns)
    return f"coalesce(sum(hash(struct_pack({struct}))), 0)"


def schema_text(columns: dict[str, str]) -> str:
    """A table's columns as a materialization records them: "name TYPE,..." in order."""
    return ",".join(f"{name} {kind}" for name, kind in columns.items())


@dataclass(frozen=True)
class Contract:
    """An asset's declared columns: its table is created from them, and the write refuses
    NULLs in `not_null` (the worker checked names and types before)."""

    columns: dict[str, str]  # name -> DuckDB type, as declared (NOT NULL included)
    not_null: list[str]


@dataclass(frozen=True)
class Wrote:
    """What one write did: each partition's record, and how it changed the asset's table."""

    written: dict[str, Written]
    reshape: Reshape | None = None
    removed: tuple[str, ...] = ()  # other partitions whose rows had to go (now missing)
    keys_added: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (key set, new keys)


class PartitionWriter:
    """Replaces partitions of asset tables; knows each table's columns once it has seen it.
    Writes go to `env`'s own tables (prod's: main), and its lineage records `env`."""

    def __init__(self, rows: RowInserter, env: Env | None = None, changes: Changes | None = None):
        self.rows = rows
        self.env = env or Env()
        self.changes = changes or Changes()
        self._columns: dict[str, dict[str, str]] = {}  # asset -> columns, without _partition
        self._ddl_lock = threading.Lock()
        self._reshape_lock = threading.Lock()

    def write_nodes(
        self,
        cur: duckdb.DuckDBPyConnection,
        query: str,
        writes: Sequence[NodeWrite],
        clock: Callable[[], dt.datetime],
        partition_by: str | None = None,
        audit: Audit | None = None,
        refresh: bool = False,
        contract: Contract | None = None,
        ordered: bool = True,
        adds_keys: tuple[tuple[str, str], ...] = (),
    ) -> Wrote:
        """Replace the partitions of `writes` (contiguous, one asset) with the rows of `query`
        and record each, atomically: one delete of the range, one insert, a lineage record
        per partition. With one write every row belongs to it; with several, `partition_by`
        (an SQL expression over the rows giving their partition key, or the rows' column
        KEY_COLUMN) places each row. With `refresh`, the table is replaced by one holding
        only these rows, in the same transaction. `ordered`: the keys' text sorts as their
        partitions do (not so for static keys), so a range of them is a BETWEEN.

        `adds_keys` ((key set, column), ...): the column's distinct values in the rows
        written become keys of the set, in the same transaction.

        `clock()` stamps the materializations (their end). `audit(cur, rows, write)` runs
        per partition after the insert and before commit, over a view of that partition's
        new rows; if it raises, everything rolls back.

        The table follows the rows' columns (shape.py), in the same transaction. It is
        created first, under a lock, so that concurrent writers of one asset only ever meet
        in the short delete/insert/record transaction.
        """
        asset = writes[0].asset
        keys = [w.partition for w in writes]
        where = in_partitions(keys, ordered)
        single = len(writes) == 1 and not refresh
        placed = sql_literal(keys[0]) if single or not partition_by else partition_by
        # Rows placed by an expression over them may land outside the partitions: the
        # transaction counts them after the insert. A literal (one partition) or the key
        # each partition's own call was given (KEY_COLUMN) cannot.
        strays = partition_by if placed not in (KEY_COLUMN, sql_literal(keys[0])) else None
        rows = f"({query})"
        if not refresh and asset in self._columns:  # the table exists: insert without a bind
            try:
                columns = self._columns[asset]
                return self._replace(
                    cur, rows, placed, writes, audit, clock, columns, where, strays,
                    contract=contract, adds_keys=adds_keys,
                )  # fmt: skip
            # A new column, a new type, or a mistake: bind to know which.
            except (duckdb.BinderException, duckdb.ConversionException):
                pass
        columns = relation_columns(cur.sql(query))
        columns.pop(KEY_COLUMN, None)
        self._check_columns(asset, columns)
        table = {} if refresh else self._table(cur, asset, columns, contract)
        reshape = Reshape(asset, refresh=True) if refresh else Reshape.between(
            asset, table, columns
        )  # fmt: skip
        if not reshape:
            after = _after(table, reshape, columns)
            return self._replace(
                cur, rows, placed, writes, audit, clock, after, where, strays, None, columns,
                contract, adds_keys,
            )  # fmt: skip
        # A write that changes the table goes alone, deciding what to change under the
        # lock: another writer may have changed it just before.
        with self._reshape_lock:
            if not refresh:
                table = table_columns(cur, asset, self.env.data_schema)
                reshape = Reshape.between(asset, table, columns)
            after = _after(table, reshape, columns)
            return self._replace(
                cur, rows, placed, writes, audit, clock, after, where, strays, reshape or None,
                columns, contract, adds_keys,
            )  # fmt: skip

    def _replace(
        self,
        cur: duckdb.DuckDBPyConnection,
        rows: str,
        placed: str,
        writes: Sequence[NodeWrite],
        audit: Audit | None,
        clock: Callable[[], dt.datetime],
        after: dict[str, str],
        where: str,
        strays: str | None,
        reshape: Reshape | None = None,
        columns: dict[str, str] | None = None,
        contract: Contract | None = None,
        adds_keys: tuple[tuple[str, str], ...] = (),
    ) -> Wrote:
        """The transaction: reshape the table, delete the partitions, insert the rows, audit,
        record, commit. `after` is the table's columns once reshaped; `columns` the rows'.
        Versions are of the rows as the table stores them (its columns and types, in its
        order). `strays`: the partition_by expression that placed the rows, when some may
        have landed outside the partitions (a data error)."""
        asset = writes[0].asset
        env = self.env
        table = table_sql(asset, env.data_schema)
        # Every column of the table must come from the rows (BY NAME would fill a missing
        # one with NULL): naming them all binds them, and the optimizer drops the condition.
        named = ", ".join(f'"{c}"' for c in after)
        present = f"hash({named}) IS NOT NULL OR true"
        keys = [w.partition for w in writes]
        own = f"* EXCLUDE ({KEY_COLUMN})" if placed == KEY_COLUMN else "*"
        cur.execute("BEGIN TRANSACTION")
        try:
            declared = contract.columns if contract else columns or after
            removed = apply(cur, reshape, declared, keys, env.name) if reshape else []
            for name, kind in reshape.added.items() if reshape else ():
                cur.execute(f'ALTER TABLE {table} ADD COLUMN IF NOT EXISTS "{name}" {kind}')
            if not (reshape and reshape.refresh):
                cur.execute(f"DELETE FROM {table} WHERE {where}")
            try:
                (inserted,) = cur.execute(
                    f"INSERT INTO {table} BY NAME SELECT {own}, ({placed})::VARCHAR AS"
                    f" {PARTITION_COLUMN} FROM {rows} WHERE {present}"
                ).fetchall()[0]
            except duckdb.ConstraintException as exc:  # the table's NOT NULL, from a contract
                found = re.search(r"NOT NULL constraint failed: [^.]+\.(\S+)", str(exc))
                if found is None:
                    raise
                raise _null_error(asset, [found.group(1)]) from None
            if strays is not None:  # the partitions were emptied first: every row in them is new
                (inside,) = cur.execute(
                    f"SELECT count(*) FROM {table} WHERE {where}"
                    f" AND list_contains(?, {PARTITION_COLUMN})",
                    [keys],
                ).fetchall()[0]
                if inside != inserted:
                    raise stray_error(asset, inserted - inside, keys, strays)
            if contract and contract.not_null:
                refuse_nulls(cur, asset, table, contract.not_null, where)
            audited = {} if audit is None else audit(
                cur, f"(SELECT * FROM {table} WHERE {where})", writes,
                lambda key: partition_view(cur, table, key, "_af_audit"),
            )  # fmt: skip
            now = clock()
            written = self._record(cur, table, after, writes, now, where)
            checked = [
                ((w.asset, w.partition, w.partition_index), written[w.partition].materialization_id,
                 audited[w.partition])
                for w in writes if w.partition in audited
            ]  # fmt: skip
            self.rows.insert_checks(cur, writes[0].run_id, checked, now)
            record_removed(cur, writes[0].run_id, asset, removed, now, env.name)
            if not env.is_prod:
                own_partitions(cur, env.name, asset, keys)
            keys_added = _add_keys(cur, asset, table, after, where, adds_keys, now)
            touched = None if reshape or removed else [(asset, w.partition_index) for w in writes]
            self.changes.commit(cur, touched)
        except BaseException:
            rollback(cur)  # the failure is reported, not the rollback's (a full disk)
            raise
        self._columns[asset] = after
        return Wrote(written, reshape or None, tuple(removed), keys_added)

    def _table(
        self,
        cur: duckdb.DuckDBPyConnection,
        asset: str,
        columns: dict[str, str],
        contract: Contract | None,
    ) -> dict[str, str]:
        """The table's columns (without the partition column); a table made from `columns`
        if there is none yet (then nothing about it changes)."""
        schema = self.env.data_schema
        known = self._columns.get(asset) or table_columns(cur, asset, schema)
        if not known:
            with self._ddl_lock, self.changes.committing(None):  # status compares columns
                declared = contract.columns if contract else columns
                cur.execute(create_table_sql(asset, declared, if_missing=True, schema=schema))
                if not self.env.is_prod:  # its view reads its own rows from now on
                    refresh_env_view(cur, self.env, asset)
            known = table_columns(cur, asset, schema)
        return known  # cached once a write commits: until then, others bind too

    @staticmethod
    def _check_columns(asset: str, columns: dict[str, str]) -> None:
        if PARTITION_COLUMN in columns:
            raise DefinitionError(
                f"asset {asset} returns a column named {PARTITION_COLUMN}",
                "that name is reserved for assetflow's partition key",
            )
        if not columns:
            raise DefinitionError(f"asset {asset} returns no columns")

    def _record(
        self,
        cur: duckdb.DuckDBPyConnection,
        table: str,
        columns: dict[str, str],
        writes: Sequence[NodeWrite],
        now: dt.datetime,
        where: str,
    ) -> dict[str, Written]:
        """Lineage of the partitions just written: their materializations, each with its
        data version (sha256 of the schema, the row count and an order-independent sum of
        row hashes, over the rows as the table stores them), the successful attempt and the
        inputs it read. One statement for one partition, two for a batch."""
        schema = schema_text(columns)
        row_hashes = row_hashes_sql(columns)
        names = ", ".join(c for c, _ in MATERIALIZATION_COLUMNS)
        head = f"INSERT INTO assetflow.materializations (materialization_id, attempt_id, {names})"
        ids = "nextval('assetflow.materialization_ids'), nextval('assetflow.attempt_ids')"
        tail = " RETURNING partition, materialization_id, data_version, row_count"
        if len(writes) == 1:  # rows counted and hashed inside the insert: one statement
            w = writes[0]
            recorded = cur.execute(
                f"{head} SELECT {ids}, ?, ?, ?, ?, ?, {VERSION_SQL.format(n='v.n', h='v.h')}, v.n,"
                f" ?, ?, ?, ?, ?, ?, ?, ? FROM (SELECT count(*) AS n, {row_hashes} AS h"
                f" FROM {table} WHERE {PARTITION_COLUMN} = ?) v{tail}",
                [w.run_id, w.asset, w.partition, w.partition_index, w.code_version, schema,
                 w.clipped, w.started_at, now, w.attempt, w.log_path, inputs_text_of(w), schema,
                 self.env.name, w.partition],
            ).fetchall()  # fmt: skip
        else:  # the same, each write joined with its partition's count and hash
            typed = {name: kind for name, kind in MATERIALIZATION_COLUMNS}
            fields = [
                c for c, _ in MATERIALIZATION_COLUMNS if c not in ("data_version", "row_count")
            ]
            values = [
                (w.run_id, w.asset, w.partition, w.partition_index, w.code_version, w.clipped,
                 w.started_at, now, w.attempt, w.log_path, inputs_text_of(w), schema,
                 self.env.name)
                for w in writes
            ]  # fmt: skip
            version = VERSION_SQL.format(n="coalesce(w.n, 0)", h="coalesce(w.h, 0)")
            picked = ", ".join(
                version if c == "data_version"
                else "coalesce(w.n, 0)" if c == "row_count"
                else f"w.{c}"
                for c, _ in MATERIALIZATION_COLUMNS
            )  # fmt: skip
            # Ids are drawn in partition order (the joined rows are ordered first).
            rows, params = values_relation(values, [(c, typed[c]) for c in fields], "w")
            recorded = cur.execute(
                f"{head} SELECT {ids}, {picked} FROM (SELECT w.*, v.n, v.h FROM {rows}"
                f" LEFT JOIN (SELECT {PARTITION_COLUMN} AS p, count(*) AS n, {row_hashes} AS h"
                f" FROM {table} WHERE {where} GROUP BY 1) v"
                f" ON v.p = w.partition ORDER BY w.partition_index) w{tail}",
                [schema, *params],
            ).fetchall()
        return {key: Written(n, version, mid) for key, mid, version, n in recorded}


def _add_keys(
    cur: duckdb.DuckDBPyConnection,
    asset: str,
    table: str,
    columns: dict[str, str],
    where: str,
    adds_keys: tuple[tuple[str, str], ...],
    now: dt.datetime,
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The distinct values of each `adds_keys` column in the partitions just written, added
    to its key set; (key set, keys that were new)."""
    out = []
    for key_set, column in adds_keys:
        if column not in columns:
            raise DefinitionError(
                f"asset {asset} adds keys to {key_set} from column {column}, which it does not"
                " return",
                f"its columns: {', '.join(columns)}",
            )
        found = cur.execute(
            f'SELECT DISTINCT "{column}"::VARCHAR AS k FROM {table} WHERE ({where})'
            f' AND "{column}" IS NOT NULL ORDER BY k'
        ).fetchall()
        keys = [k for (k,) in found]
        for key in keys:
            try:
                check_key(key)
            except PartitionKeyError as exc:
                raise DataError(
                    f"asset {asset}: column {column} holds a value that cannot be a key of"
                    f" {key_set}: {exc.one_line()}"
                ) from None
        added = insert_keys(cur, key_set, keys, now)
        if added:
            out.append((key_set, tuple(added)))
    return tuple(out)


def stray_error(asset: str, count: int, keys: list[str], partition_by: str | None) -> DataError:
    return DataError(
        f"asset {asset}: {count} rows fall outside partitions {keys[0]}..{keys[-1]}",
        f"check the values of partition_by ({partition_by})",
    )


def refuse_nulls(
    cur: duckdb.DuckDBPyConnection, asset: str, table: str, columns: list[str], where: str
) -> None:
    """A data error if a NOT NULL column of the contract holds NULL in the new rows."""
    counts = ", ".join(f'count(*) FILTER (WHERE "{c}" IS NULL)' for c in columns)
    found = cur.execute(f"SELECT {counts} FROM {table} WHERE {where}").fetchall()[0]
    nulls = [c for c, n in zip(columns, found, strict=True) if n]
    if nulls:
        raise _null_error(asset, nulls)


def _null_error(asset: str, columns: list[str]) -> DataError:
    return DataError(
        f"asset {asset} breaks its contract: NULL in NOT NULL column {', '.join(columns)}"
    )


def _after(table: dict[str, str], reshape: Reshape, rows: dict[str, str]) -> dict[str, str]:
    """The table's columns once `reshape` is applied, in its order (new columns last)."""
    if reshape.refresh or not table:
        return dict(rows)
    kept = {c: reshape.retyped.get(c, (t, t))[1] for c, t in table.items() if c in rows}
    return kept | reshape.added


def partition_view(cur: duckdb.DuckDBPyConnection, table: str, partition: str, name: str) -> str:
    """A temp view `name` of one partition's rows of `table` (an asset's table as SQL names
    it, or a stage) without the partition column (what checks run over); returns its name."""
    cur.execute(
        f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * EXCLUDE ({PARTITION_COLUMN})"
        f" FROM {table} WHERE {PARTITION_COLUMN} = {sql_literal(partition)}"
    )
    return name


def inputs_text_of(write: NodeWrite) -> str | None:
    """The inputs of a write as one value (schema.INPUT_SEP, FIELD_SEP: control characters
    no name, key or version holds)."""
    if not write.inputs:
        return None
    return INPUT_SEP.join(
        FIELD_SEP.join((name, key, str(index), version or ""))
        for name, key, index, version in write.inputs
    )
