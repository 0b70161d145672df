"""Connecting to the warehouse file: one writer at a time, waiting for a holder when asked,
the metadata schema created or upgraded, and every way a file can fail to be a warehouse
turned into one line naming it."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import duckdb

from assetflow.errors import ConfigError, StorageError, WarehouseLockedError
from assetflow.store.changes import Changes
from assetflow.store.schema import (
    DDL,
    MIGRATE_FROM_1,
    MIGRATE_INPUTS_TEXT,
    SCHEMA_VERSION,
    check_schema,
    schema_version,
)

_LOCK_PID = re.compile(r"PID (\d+)")
_LOCK_POLL = 0.2  # seconds between tries to open a locked warehouse


def connect(
    path: Path,
    read_only: bool = False,
    wait: float = 0.0,
    give_up: Callable[[], bool] | None = None,
) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse; read-only for commands that only look. While another
    process holds it, try again every 0.2 s for up to `wait` seconds (real waiting, whatever
    the command's clock) unless `give_up()` says to stop, then say who holds it. A file that
    cannot be a warehouse (not a DuckDB file, corrupt, in a folder we cannot write) is one
    line naming it. A new file this command could not make a warehouse of (a full disk) is
    removed, not left to be "not a valid DuckDB file" the next time."""
    new = not read_only and not path.exists()
    conn = None
    try:
        conn = _locked_connect(path, read_only, wait, give_up)
        if read_only:
            check_schema(conn, path)
        else:
            _upgrade(conn)
        return conn
    except (duckdb.Error, OSError) as exc:
        if new:
            _remove_unmade(conn, path)
        problem = storage_error(exc, path)
        if problem is not None:
            raise problem from None
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"warehouse {path} cannot be opened: {first}",
            "point --warehouse (or `warehouse` in [tool.assetflow]) at a DuckDB file"
            " assetflow may write, or move this one away",
        ) from None


def _remove_unmade(conn: duckdb.DuckDBPyConnection | None, path: Path) -> None:
    with contextlib.suppress(duckdb.Error):
        if conn is not None:
            conn.close()
    for leftover in (path, path.with_name(path.name + ".wal")):
        leftover.unlink(missing_ok=True)


def _locked_connect(
    path: Path, read_only: bool, wait: float, give_up: Callable[[], bool] | None
) -> duckdb.DuckDBPyConnection:
    path.parent.mkdir(parents=True, exist_ok=True)
    tries = int(wait / _LOCK_POLL) + 1
    for attempt in range(1, tries + 1):
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            message = str(exc)
            if "lock" not in message.lower():
                raise
            if attempt < tries and not (give_up and give_up()):
                time.sleep(_LOCK_POLL)
                continue
            match = _LOCK_PID.search(message)
            holder = f"process {match.group(1)}" if match else "another process"
            raise WarehouseLockedError(
                f"warehouse {path} is in use by {holder}",
                "wait for it to finish, or stop it (a command that writes queues behind it"
                " with --wait SECONDS)",
            ) from None
    raise AssertionError("unreachable")


def _upgrade(conn: duckdb.DuckDBPyConnection) -> None:
    """Create assetflow's metadata schema, or bring an older one up to date, in place."""
    version = schema_version(conn)
    if version == SCHEMA_VERSION:  # the usual case: nothing to do (the DDL costs ~10 ms)
        return
    if version == "1":
        conn.execute(MIGRATE_FROM_1)
    conn.execute(DDL)  # later versions only add columns, with IF NOT EXISTS
    if version is not None and int(version) < 6:
        conn.execute(MIGRATE_INPUTS_TEXT)
    if version is None:
        conn.execute(
            "INSERT INTO assetflow.meta VALUES ('schema', ?), ('nodes_watermark', '0')",
            [SCHEMA_VERSION],
        )
    elif version != SCHEMA_VERSION:
        conn.execute("UPDATE assetflow.meta SET value = ? WHERE key = 'schema'", [SCHEMA_VERSION])


def rollback(conn: duckdb.DuckDBPyConnection) -> None:
    """End a transaction that failed. One DuckDB already ended (a commit a full disk refused)
    is not an error of its own: the failure that ended it is what is reported, never
    "cannot rollback - no transaction is active"."""
    with contextlib.suppress(duckdb.Error):
        conn.execute("ROLLBACK")


@contextlib.contextmanager
def transaction(
    conn: duckdb.DuckDBPyConnection,
    changes: Changes | None = None,
    nodes: Sequence[tuple[str, int]] | None = None,
) -> Iterator[None]:
    """Everything inside in one transaction: committed at the end, rolled back on any
    failure (`rollback`), which is raised. `changes`: the commit journaled with `nodes`
    (changes.py)."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
        if changes is None:
            conn.execute("COMMIT")
        else:
            changes.commit(conn, nodes)
    except BaseException:
        rollback(conn)
        raise


_FULL = ("No space left on device", "File too large", "Disk quota exceeded")


def storage_error(exc: BaseException, path: Path) -> StorageError | None:
    """The storage failure `exc` reports (a full disk, a file over its size limit), as one
    line naming the file; None when it is something else."""
    text = str(exc)
    found = next((words for words in _FULL if words in text), None)
    if found is None:
        return None
    return StorageError(
        f"warehouse {path}: {found.lower()}{_where(path)} — the run stopped; what it"
        " committed is intact",
        "free space (or raise the file size limit), then run the same command again",
    )


def _where(path: Path) -> str:
    """The filesystem holding `path`: its mount point and the space left on it."""
    folder = path.resolve().parent
    mount = folder
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return ""
    return f" (on {mount}, {free / 1e6:,.1f} MB free)"


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path` now; None when there is none."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino
