"""Asset tables as Delta Lake tables (`storage = "delta"`): where they live, how a worker
reads exactly the partitions a task needs, and how it replaces partitions in one commit.

Each asset is one Delta table at `STORAGE_PATH/ASSET`, holding each row's partition key in
`_partition` (the same column as the embedded tables'). The table is clustered, not
partitioned, by it: a task's commit is one file however many partitions it writes, and a
read of some partitions skips the files whose `_partition` statistics rule them out (then
filters the rows). Tables made partitioned by `_partition` (one folder per partition, before
2026-12) stay so. A task's write is one commit: a predicate overwrite replacing exactly its
partitions atomically (rows outside them refused by Delta itself), or an append when no file
holds any of them yet; the lineage the coordinator will record is carried in the commit's
metadata, so that a coordinator that died before recording it can adopt it
(`AssetTables.opened`, app/tables.py).

deltalake's runtime does not survive fork(): the processes that use it are spawned.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from assetflow.core.checks import sql_literal
from assetflow.core.environments import PROD, data_schema, table_name
from assetflow.errors import ConfigError, DefinitionError, StorageError
from assetflow.run.delta_types import arrow_schema, delta_types, pruning, readable_dataset
from assetflow.store.published import delta_source, parquet_scan, remote_source
from assetflow.store.schema import PARTITION_COLUMN, in_partitions
from assetflow.store.tables import arrow_table

# What deltalake says when a write's columns cannot be merged into the table's.
_RESHAPE_ERRORS = ("Cast error", "Schema error", "Cannot cast", "schema mismatch")
_CONFLICT_TRIES = 8
_CONFLICT_WAIT = 0.02  # seconds before the second try, doubling, with jitter: ~5 s in all
METADATA_KEY = "assetflow"  # the commit metadata entry holding a write's lineage (JSON)
_LOADED = threading.local()  # per thread: (uri, options) -> its DeltaTable, kept up to date
_READER: list[duckdb.DuckDBPyConnection] = []  # an in-memory DuckDB reading files (a cursor each)


class StaleRead(Exception):
    """Rows made from a table version that is no longer the latest: make them anew."""


@dataclass(frozen=True)
class DeltaStorage:
    """Where the Delta tables live: a folder, or a URI deltalake knows (s3://, az://, gs://)
    with its storage options. Pickles: workers get it with each task."""

    root: str
    options: tuple[tuple[str, str], ...] = ()

    @property
    def storage_options(self) -> dict[str, str] | None:
        return dict(self.options) or None

    @property
    def is_local(self) -> bool:
        return "://" not in self.root or self.root.startswith("file://")

    def uri(self, asset: str) -> str:
        return f"{self.root.rstrip('/')}/{asset}"

    def table(self, asset: str) -> Any:
        """The asset's DeltaTable at its latest version, or None when it has never been
        written. Each thread keeps the tables it loaded and brings them up to date with the
        commits since (loading one replays its log from the last checkpoint: up to 100
        files, ~20 ms; an update reads only the new commits)."""
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        uri = self.uri(asset)
        loaded = _LOADED.__dict__.setdefault("tables", {})
        known, version, seen = loaded.get((uri, self.options), (None, -1, None))
        if known is not None:
            # A folder made anew (an environment dropped and made again) starts its versions
            # over: the commit file of the version loaded must be the one seen then. (A
            # write through the table moves it on to its own commit: that one is ours.)
            same = not self.is_local or seen == self._seen(asset, version)
            if same and self.is_local and known.version() == self.latest_version(asset):
                return known  # no commit since: its log's file names say so, cheaply
            if same:
                try:
                    known.update_incremental()
                    now_at = known.version()
                    loaded[(uri, self.options)] = (known, now_at, self._seen(asset, now_at))
                    return known
                except Exception:  # noqa: BLE001 - gone or replaced: load it anew
                    pass
            del loaded[(uri, self.options)]
        try:
            found = DeltaTable(uri, None, self.storage_options)
        except TableNotFoundError:
            return None
        at = found.version()
        loaded[(uri, self.options)] = (found, at, self._seen(asset, at))
        return found

    def _seen(self, asset: str, version: int) -> tuple[int, int] | None:
        """Which file a local table's commit of `version` is (its inode, when it was
        written): which table a folder holds at that version. (Not its change time, which
        linking or renaming the file changes.)"""
        if not self.is_local:
            return None
        log = os.path.join(self.root.removeprefix("file://"), asset, "_delta_log")
        try:
            found = os.stat(os.path.join(log, f"{version:020d}.json"))
        except FileNotFoundError:
            return None
        return found.st_ino, found.st_mtime_ns

    def view_source(self, name: str, table: Any) -> str | None:
        """What the warehouse's view of table `name` (its DeltaTable `table`, or None) reads:
        its files in a folder (published.delta_source), its dataset as the session registers
        it on object storage (published.remote_source)."""
        if not self.is_local:
            return remote_source(name)
        return delta_source([] if table is None else table.file_uris())

    def commit(
        self,
        asset: str,
        rows: pa.Table,
        keys: Sequence[str],
        lineage: dict[str, Any],
        whole: bool = False,
        read_at: int | None = None,
    ) -> int:
        """Replace partitions `keys` of the asset's table with `rows` (which carry the
        partition column) in one commit carrying `lineage`; returns the commit's version.
        New columns are merged into the table. `whole`: `rows` are the whole table (a full
        refresh, or a table whose columns changed: see the worker), replacing it and its
        columns. `read_at`: the rows were made from the table as of this version (a whole
        table rewritten for new columns); a commit since, or a write conflict, raises
        `StaleRead` for the caller to make them anew. Otherwise the rows do not depend on
        what else the table holds and a conflict is tried again with the same rows (unless
        the winner changed the table's columns, which the rows were made for)."""
        from deltalake import CommitProperties, write_deltalake
        from deltalake.exceptions import CommitFailedError, DeltaError, SchemaMismatchError

        props = CommitProperties(custom_metadata={METADATA_KEY: json.dumps(lineage)})
        # A whole table written from what it held (not a refresh) names every partition, so
        # that it conflicts with any commit since it was read: a blind overwrite would not.
        predicate: str | None = partition_predicate(keys)
        if whole:
            predicate = None if read_at is None else f"{PARTITION_COLUMN} IS NOT NULL"
        # A DeltaTable handed to the write is at the version it committed afterwards.
        try:
            for tries in range(1, _CONFLICT_TRIES + 1):
                table = self.table(asset) or self._create(asset, rows.schema)
                if read_at is not None and table.version() != read_at:
                    raise StaleRead(f"{asset}: committed to since version {read_at}")
                by = table.metadata().partition_columns or None
                options = self.storage_options
                try:
                    if whole or self._holds_any(table, keys):
                        write_deltalake(
                            table, rows, partition_by=by, mode="overwrite", predicate=predicate,
                            schema_mode="overwrite" if whole else "merge",
                            storage_options=options, commit_properties=props,
                        )  # fmt: skip
                    else:
                        # Nothing to replace, only to add: an append, which no concurrent
                        # append conflicts with. (A run writes a partition in one task at a
                        # time, and one process writes the lake: none adds it meanwhile.)
                        write_deltalake(
                            table, rows, partition_by=by, mode="append", schema_mode="merge",
                            storage_options=options, commit_properties=props,
                        )  # fmt: skip
                    return table.version()
                except CommitFailedError as exc:
                    # Another task committed to the table meanwhile (other partitions:
                    # Delta's conflict check cannot always tell): the same rows, again —
                    # unless it changed the table's columns, which the rows were made for.
                    changed = "Metadata changed" in str(exc) and not self._fits(asset, rows)
                    if read_at is not None or changed:
                        raise StaleRead(f"{asset}: {_last_line(str(exc))}") from exc
                    if tries == _CONFLICT_TRIES:
                        raise
                    time.sleep(_CONFLICT_WAIT * 2 ** (tries - 1) * (1 + random.random()))
            raise AssertionError("unreachable")
        except (DeltaError, SchemaMismatchError) as exc:
            text = str(exc)
            if not any(words in text for words in _RESHAPE_ERRORS):
                raise
            raise DefinitionError(
                f"asset {asset}: its rows no longer fit its Delta table ({_last_line(text)})",
                f"`assetflow materialize {asset} --full-refresh` rebuilds the table",
            ) from None

    def _holds_any(self, table: Any, keys: Sequence[str]) -> bool:
        """Whether the table has rows in any of partitions `keys`. The files whose statistics
        allow it are read for the key column alone (a local, clustered table: the key
        ranges of several dimensions' files overlap), or taken to hold them."""
        files = table.file_uris(file_pruning_predicate=pruning(keys))
        if not files or not self.is_local or table.metadata().partition_columns:
            return bool(files)
        where = in_partitions(list(keys), ordered=False)
        with file_reader() as conn:  # (DuckDB's reader: pyarrow.parquet would load pandas)
            found = conn.sql(f"SELECT 1 FROM {parquet_scan(files)} WHERE {where} LIMIT 1")
            return bool(found.fetchall())

    def _fits(self, asset: str, rows: pa.Table) -> bool:
        """Whether the table, as it is now, has every column of `rows` with its type (and
        none they lack): a winner that changed its columns made them for another table."""
        table = self.table(asset)
        if table is None:
            return True
        have = {f.name: f.type for f in arrow_schema(table)}
        return have == {f.name: f.type for f in rows.schema}

    def _create(self, asset: str, schema: pa.Schema) -> Any:
        """The asset's table, created empty (version 0) unless a concurrent writer won."""
        from deltalake import DeltaTable
        from deltalake.exceptions import DeltaError

        try:
            DeltaTable.create(
                self.uri(asset), schema, mode="ignore", storage_options=self.storage_options
            )
        except DeltaError:
            if self.table(asset) is None:
                raise
        return self.table(asset)

    def latest_version(self, asset: str) -> int | None:
        """The table's latest version (None: no table). For a folder, read off its log's
        file names without loading the table (what every writing command asks, per asset)."""
        if self.is_local:
            log = os.path.join(self.root.removeprefix("file://"), asset, "_delta_log")
            try:
                names = os.listdir(log)
            except FileNotFoundError:
                return None
            found = [int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit()]
            return max(found, default=None)
        table = self.table(asset)
        return None if table is None else table.version()

    def commits(self, asset: str, after: int) -> list[tuple[int, dict[str, Any]]]:
        """(version, lineage) of every commit to the asset's table after version `after`,
        oldest first; lineage is {} for a commit assetflow did not make."""
        table = self.table(asset)
        if table is None or table.version() <= after:
            return []
        entries = table.history(table.version() - after)
        found = [(int(e["version"]), _lineage(e)) for e in entries if int(e["version"]) > after]
        return sorted(found, key=lambda pair: pair[0])

    def rows(
        self, name: str, keys: Sequence[str], asset: str, version: int | None = None
    ) -> pa.Table:
        """The rows of partitions `keys` of table `name` (`asset`'s) at its latest version
        (or at `version`), as a commit takes them."""
        table = self.table(name) if version is None else self._at(name, version)
        if table is None:
            raise StorageError(f"{self.uri(name)}: no Delta table to copy partitions from")
        with file_reader() as conn:
            scan = self.scan(conn, table, list(keys), "_af_rows")
            found = conn.sql(f"SELECT * FROM {scan} WHERE {in_partitions(list(keys), False)}")
            return delta_types(arrow_table(found), asset)

    def _at(self, name: str, version: int) -> Any:
        """Table `name` as of `version` (one a promotion replaced: reused nodes are read from
        it, task after task), kept per thread while a folder holds the same table."""
        from deltalake import DeltaTable

        key = (self.uri(name), self.options, version, self._seen(name, version))
        kept = _LOADED.__dict__.setdefault("versions", {})
        if key not in kept or not self.is_local:
            kept[key] = DeltaTable(self.uri(name), version, self.storage_options)
        return kept[key]

    def scan(self, conn: duckdb.DuckDBPyConnection, table: Any, keys: list[str], view: str) -> str:
        """What a SELECT on `conn` reads partitions `keys` of a DeltaTable from (the rows of
        other partitions too: filter them): DuckDB's own Parquet reader over the files their
        statistics allow, for a local table (pyarrow.dataset would load pandas); otherwise,
        or with no keys (every file: the shape), a pruned dataset registered as `view`."""
        files = (
            table.file_uris(file_pruning_predicate=pruning(keys)) if self.is_local and keys else []
        )
        if files:
            return parquet_scan(files)
        conn.register(view, readable_dataset(table, keys or None))
        return f'"{view}"'

    def once_had_column(self, asset: str, column: str) -> bool:
        """Whether the asset's table had `column` at a commit of ours and has it no more."""
        table = self.table(asset)
        if table is None or column in {f.name for f in table.schema().fields}:
            return False
        return any(
            column in (c.split(" ", 1)[0] for c in lineage.get("table_schema", "").split(","))
            for _, lineage in self.commits(asset, -1)
        )

    def delete(
        self, asset: str, keys: Sequence[str], run_id: str, lineage: dict[str, Any] | None = None
    ) -> tuple[int, int] | None:
        """Delete the rows of partitions `keys` in one commit whose metadata names them
        wiped (or carries `lineage`); (rows deleted, the commit's version), None without a
        table."""
        from deltalake import CommitProperties

        table = self.table(asset)
        if table is None:
            return None
        lineage = lineage or {"run_id": run_id, "asset": asset, "wiped": list(keys)}
        props = CommitProperties(custom_metadata={METADATA_KEY: json.dumps(lineage)})
        metrics = table.delete(partition_predicate(keys), commit_properties=props)
        return int(metrics.get("num_deleted_rows", 0)), table.version()

    def link(self, files: Sequence[tuple[str, str]]) -> None:
        """Each file `source` (under the root) also at `target`: a hard link in a folder, the
        object store's own copy elsewhere; a `target` that exists (a dead process's) kept."""
        root = self.root.removeprefix("file://")
        if self.is_local:
            for source, target in files:
                try:
                    os.link(os.path.join(root, source), os.path.join(root, target))
                except FileExistsError:
                    pass
                except OSError:  # another device (a mount inside the lake)
                    shutil.copyfile(os.path.join(root, source), os.path.join(root, target))
            return
        from deltalake.fs import DeltaStorageHandler
        from pyarrow.fs import FileType

        handler = DeltaStorageHandler(self.root, self.storage_options)  # one for all
        for source, target in files:
            if handler.get_file_info([target])[0].type == FileType.NotFound:
                handler._handler.copy_file(source, target)  # (1.6's copy_file: a bad keyword)

    def commit_files(
        self,
        name: str,
        removed: Sequence[dict[str, Any]],
        added: Sequence[dict[str, Any]],
        lineage: dict[str, Any],
        at: dt.datetime,
    ) -> int:
        """One commit to table `name` carrying `lineage`, taking out its files `removed` and
        adding files `added` already in its folder (as deltalake lists add actions, with
        `stats`: Delta's statistics, JSON): its version. `at` (naive UTC): when the removed
        files left, what a vacuum's retention counts from."""
        from deltalake import CommitProperties
        from deltalake.transaction import AddAction, RemoveAction

        left = int(at.replace(tzinfo=dt.UTC).timestamp() * 1000)
        actions: list[Any] = [
            RemoveAction(f["path"], True, left, f["size_bytes"], {}) for f in removed
        ]
        actions += [
            AddAction(f["path"], f["size_bytes"], {}, f["modification_time"], True, f["stats"])
            for f in added
        ]
        table = self.table(name)
        props = CommitProperties(custom_metadata={METADATA_KEY: json.dumps(lineage)})
        table.create_write_transaction(actions, "append", table.schema(), commit_properties=props)
        version = self.latest_version(name)
        assert version is not None
        return version

    def vacuum(self, asset: str, retain_hours: int, dry_run: bool) -> list[str]:
        """Files no version within `retain_hours` needs: removed (or listed, dry run)."""
        table = self.table(asset)
        if table is None:
            return []
        return table.vacuum(retain_hours, dry_run=dry_run, enforce_retention_duration=False)

    def tables(self, env: str = PROD) -> list[str]:
        """The tables `env` has here (local folders only), by name (`table_name`)."""
        if not self.is_local:
            return []
        folder = self.root.removeprefix("file://")
        under = "" if env == PROD else data_schema(env)
        if not os.path.isdir(os.path.join(folder, under)):
            return []
        return sorted(
            table_name(name, env)
            for name in os.listdir(os.path.join(folder, under))
            if os.path.isdir(os.path.join(folder, under, name, "_delta_log"))
        )

    def forget_env(self, env: str) -> None:
        """An environment's tables removed, files and all: its folder, or on an object store
        every object under its prefix (through deltalake's own object store client)."""
        if env == PROD:
            return
        if self.is_local:
            folder = os.path.join(self.root.removeprefix("file://"), data_schema(env))
            shutil.rmtree(folder, ignore_errors=True)
            return
        from deltalake.fs import DeltaStorageHandler

        DeltaStorageHandler(self.uri(data_schema(env)), self.storage_options).delete_dir("")


@contextlib.contextmanager
def file_reader() -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor of this process's in-memory DuckDB that reads tables' files directly."""
    if not _READER:
        _READER.append(duckdb.connect())
    cursor = _READER[0].cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def partition_predicate(keys: Sequence[str]) -> str:
    """Delta's predicate for exactly these partitions."""
    if len(keys) == 1:
        return f"{PARTITION_COLUMN} = {sql_literal(keys[0])}"
    return f"{PARTITION_COLUMN} IN ({', '.join(sql_literal(k) for k in keys)})"


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1].split("error: ")[-1][:200]


def _lineage(entry: dict[str, Any]) -> dict[str, Any]:
    text = entry.get(METADATA_KEY)
    if not text:
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def storage_from_settings(path: str, options: dict[str, str], root: str) -> DeltaStorage:
    """The storage a project's settings name: a relative folder is the project's."""
    if not path:
        raise ConfigError('[tool.assetflow] storage = "delta" needs storage_path')
    if "://" not in path and not os.path.isabs(path):
        path = os.path.join(root, path)
    return DeltaStorage(path, tuple(sorted(options.items())))
