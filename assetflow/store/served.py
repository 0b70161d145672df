"""Reads while a run writes: the process that holds the warehouse serves read sessions.

DuckDB lets one process hold the file read-write and then no other process may open it, not
even read-only. So the holder (any Store opened for writing: a run, a tick, the daemon, the
page launching a run) runs a `ReadServer`: a socket on 127.0.0.1 whose port and a random
token are written to an owner-only file beside the warehouse (`<warehouse>.reads`). A read
that finds the file locked connects there (store/read_session.py) and asks its queries as it
would of the file.

Each session gets its own cursor of the holder's connection inside one READ ONLY
transaction: a consistent snapshot as of the session's start (as of the last commit), rolled
back at its end. Statements that could change anything are refused with one line naming
their kind (`refusal`); the read-only transaction refuses writes to the warehouse's tables
underneath. Results travel as an Arrow stream and land in the client's own in-memory DuckDB,
cast back to the types the holder's query had, so a served result reads exactly as a local
one; a small result of numbers, booleans, text, dates and times travels as JSON values
instead (`plain`), so that a quick read does not load Arrow (~0.15 s with numpy). The holder
never waits for a reader: sessions run on their own threads, at most MAX_SESSIONS of them and
QUERIES_AT_ONCE queries at a time; an idle, slow or vanished client is dropped; closing the
store interrupts whatever is still running.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hmac
import io
import itertools
import json
import os
import re
import secrets
import select
import socket
import struct
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

MAX_SESSIONS = 16  # clients connected at once; more are told the holder is busy
QUERIES_AT_ONCE = 3  # queries running at once: the run keeps its cores
IDLE_SECONDS = 120.0  # a session that asks nothing for this long is closed
SEND_SECONDS = 30.0  # a client that takes no bytes for this long is dropped
BATCH_ROWS = 65_536
PLAIN_ROWS = 10_000  # a result of at most this many rows, of PLAIN_TYPES only, travels as JSON
PLAIN_BYTES = 4 << 20  # ... and of at most this many bytes (as Arrow): long texts stream
PLAIN_TYPES = frozenset(
    ("BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER",
     "UBIGINT", "FLOAT", "DOUBLE", "VARCHAR", "DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE")
)  # fmt: skip

# The client's Arrow results are cast back to the holder's types: the same rows either way.
warnings.filterwarnings("ignore", message="Arrow output on a DB-API result", category=UserWarning)

_PRAGMAS = {
    "table_info", "show", "show_tables", "show_tables_expanded", "show_databases",
    "database_list", "database_size", "storage_info", "version", "platform", "functions",
    "collations", "metadata_info",
}  # fmt: skip
TEMP_CREATE = re.compile(r"\s*create\s+(or\s+replace\s+)?(temp|temporary)\s", re.IGNORECASE)
_READ_CALL = re.compile(r"\s*call\s+(pragma_|duckdb_)", re.IGNORECASE)
_PRAGMA_NAME = re.compile(r"\s*pragma\s+(\w+)\s*(\(|;|$)", re.IGNORECASE)
_READ_ONLY_TX = "launched in read-only mode"


# Which schemas bare names resolve to, for this session alone (an environment's `sql`).
_SEARCH_PATH = re.compile(r"\s*SET\s+search_path\s*=\s*'[\w,]*'\s*;?\s*$", re.I)


def alive(pid: object) -> bool:
    """Whether a process with this id runs (on this machine)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def begin_again(cur: duckdb.DuckDBPyConnection) -> None:
    """After an error (which ends a transaction): the session's next statements read as of
    now, in a new read-only transaction."""
    with contextlib.suppress(duckdb.Error):
        cur.execute("ROLLBACK")
    cur.execute("BEGIN TRANSACTION READ ONLY")


def reads_path(warehouse: Path) -> Path:
    """Where the holder says how to reach its read sessions (owner-only)."""
    return warehouse.with_name(warehouse.name + ".reads")


def refusal(statement: Any) -> str | None:
    """Why a served session refuses `statement` (one of `duckdb.extract_statements`), or
    None for a read: queries, EXPLAIN, catalog PRAGMAs and pragma_/duckdb_ calls, temporary
    objects of its own (as a read-only connection allows them)."""
    kind, text = statement.type, statement.query
    t = duckdb.StatementType
    allowed = (
        kind in (t.SELECT, t.EXPLAIN, t.DROP)  # DROP: the transaction refuses the warehouse's
        or (kind == t.CREATE and TEMP_CREATE.match(text) is not None)
        or (kind == t.CALL and _READ_CALL.match(text) is not None)
        or (kind == t.PRAGMA and _pragma_reads(text))
        or (kind == t.SET and _SEARCH_PATH.match(text) is not None)  # the session's own
    )
    if allowed:
        return None
    words = text.split()
    return _refused(words[0].upper() if words else kind.name)


def _pragma_reads(text: str) -> bool:
    found = _PRAGMA_NAME.match(text)
    return found is not None and found.group(1).lower() in _PRAGMAS


def _refused(kind: str) -> str:
    return (
        f"{kind} refused: a run holds the warehouse, and the reads it serves meanwhile"
        " cannot change anything"
    )


# -- frames: a 4-byte length, then JSON; a result's Arrow stream follows its header, unless
# the header holds its values ---------------------------------------------------------------
def send(out: io.BufferedIOBase, message: dict[str, Any]) -> None:
    body = json.dumps(message, default=_tagged).encode("utf-8")
    out.write(struct.pack(">I", len(body)) + body)
    out.flush()


def receive(source: io.BufferedIOBase) -> dict[str, Any] | None:
    head = source.read(4)
    if len(head) < 4:
        return None
    body = source.read(struct.unpack(">I", head)[0])
    return json.loads(body, object_hook=_untagged)


def _tagged(value: object) -> object:
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    raise TypeError(f"a query parameter of type {type(value).__name__} cannot be served")


def _untagged(found: dict[str, Any]) -> object:
    if "$datetime" in found:
        return dt.datetime.fromisoformat(found["$datetime"])
    if "$date" in found:
        return dt.date.fromisoformat(found["$date"])
    return found


class ReadServer:
    """Serves read sessions of the connection `cursor()` makes cursors of."""

    def __init__(
        self,
        cursor: Callable[[], duckdb.DuckDBPyConnection],
        warehouse: Path,
        facts: Callable[[duckdb.DuckDBPyConnection, dict[str, Any]], dict[str, Any]],
        opening: Callable[[duckdb.DuckDBPyConnection], dict[str, Any]],
    ) -> None:
        """`facts(session, question)`: the status facts asked; `opening(session)`: the
        results of the queries every session asks first, sent with its start (live_facts.py)."""
        self._cursor = cursor
        self._facts = facts
        self._opening = opening
        self._path = reads_path(warehouse)
        self._token = secrets.token_hex(16)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._queries = threading.BoundedSemaphore(QUERIES_AT_ONCE)
        self._lock = threading.Lock()
        self._sessions: dict[socket.socket, duckdb.DuckDBPyConnection | None] = {}
        self._threads: list[threading.Thread] = []
        self._closed = False
        try:
            self._publish()
        except OSError:  # no room for the address file: no server
            self._listener.close()
            raise
        accepting = threading.Thread(target=self._accept, name="assetflow-reads", daemon=True)
        accepting.start()
        self._threads.append(accepting)

    def _publish(self) -> None:
        port = self._listener.getsockname()[1]
        text = json.dumps({"pid": os.getpid(), "port": port, "token": self._token})
        temp = self._path.with_name(self._path.name + f".{os.getpid()}.tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temp, self._path)
        except OSError:
            temp.unlink(missing_ok=True)
            raise

    def close(self) -> None:
        """Stop serving: no new session; running queries are interrupted, sessions closed
        (their transactions roll back) before the holder closes its connection."""
        with self._lock:
            self._closed = True
            sessions = list(self._sessions.items())
        try:
            if json.loads(self._path.read_text(encoding="utf-8")).get("token") == self._token:
                self._path.unlink()
        except (OSError, ValueError):
            pass
        shut(self._listener)  # wakes the accepting thread
        for sock, cur in sessions:
            if cur is not None:
                with contextlib.suppress(duckdb.Error):  # its session closed it meanwhile
                    cur.interrupt()
            shut(sock)
        for thread in self._threads:
            thread.join(timeout=5.0)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:  # closed
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small frames: no wait
            with self._lock:
                if self._closed:
                    shut(sock)
                    return
                if len(self._sessions) >= MAX_SESSIONS:
                    busy = True
                else:
                    busy = False
                    self._sessions[sock] = None
            if busy:
                threading.Thread(target=_turn_away, args=(sock,), daemon=True).start()
                continue
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        cur = None
        try:
            sock.settimeout(5.0)
            stream = sock.makefile("rwb")
            hello = receive(stream)
            if hello is None or not hmac.compare_digest(str(hello.get("token")), self._token):
                return
            cur = self._cursor()
            with self._lock:
                if self._closed:
                    return
                self._sessions[sock] = cur
            cur.execute("BEGIN TRANSACTION READ ONLY")
            send(stream, {"ok": True, "answered": self._opening(cur)})
            while True:
                sock.settimeout(IDLE_SECONDS)
                request = receive(stream)
                if request is None:
                    return
                sock.settimeout(SEND_SECONDS)
                if "facts" in request:
                    self._answer_facts(cur, sock, stream, request["facts"])
                    continue
                sql, params = str(request.get("sql", "")), request.get("params")
                self._answer(cur, sock, stream, sql, params)
        except (OSError, ValueError, duckdb.Error):
            return  # a vanished or slow client, or the holder closing: nothing to tell
        finally:
            with self._lock:
                self._sessions.pop(sock, None)
            if cur is not None:
                with contextlib.suppress(duckdb.Error):
                    cur.close()  # its transaction rolls back
            shut(sock)

    def _answer_facts(
        self,
        cur: duckdb.DuckDBPyConnection,
        sock: socket.socket,
        stream: io.BufferedIOBase,
        asked: dict[str, Any],
    ) -> None:
        """The status facts asked, from what the holder keeps; the session then reads the
        snapshot they are of."""
        try:
            with self._queries, _Watch(sock, cur):
                found = self._facts(cur, asked)
        except (duckdb.Error, KeyError, TypeError, ValueError) as exc:
            send(stream, {"ok": False, "kind": type(exc).__name__, "error": str(exc)})
            begin_again(cur)
            return
        send(stream, {"ok": True, "facts": found})

    def _answer(
        self,
        cur: duckdb.DuckDBPyConnection,
        sock: socket.socket,
        stream: io.BufferedIOBase,
        sql: str,
        params: Any,
    ) -> None:
        try:
            statements = duckdb.extract_statements(sql)
            problem = next(filter(None, map(refusal, statements)), None)
            if problem is not None:
                send(stream, {"ok": False, "kind": "PermissionException", "error": problem})
                return
            with self._queries, _Watch(sock, cur):
                result = cur.execute(sql, params) if params else cur.execute(sql)
                described = result.description
                reader = result.to_arrow_reader(BATCH_ROWS) if described else None
        except duckdb.Error as exc:
            send(stream, _failure(exc))
            begin_again(cur)
            return
        import pyarrow as pa  # here: a command that serves no read does not pay for it

        types = [[name, str(kind)] for name, kind, *_ in described or []]
        batches = iter(reader or ())
        first = next(batches, None)
        more = next(batches, None) if first is not None else None
        rows, size = (0, 0) if first is None else (first.num_rows, first.nbytes)
        if more is None and plain(types, rows, size):
            try:  # a time beyond Python's (infinity, year 10000) goes as Arrow
                values = (
                    [[] for _ in types] if first is None else [c.to_pylist() for c in first.columns]
                )
            except (ValueError, OverflowError, pa.ArrowException):
                values = None
            if values is not None:
                send(stream, {"ok": True, "columns": types, "values": values})
                return
        send(stream, {"ok": True, "columns": types})
        schema = reader.schema if reader is not None else pa.schema([])
        with pa.ipc.new_stream(stream, schema) as out:
            for batch in itertools.chain((first, more), batches):  # streamed, not held
                if batch is not None:
                    out.write_batch(batch)
        stream.flush()


def plain(columns: list[list[str]], rows: int, size: int = 0) -> bool:
    """Whether a result travels as JSON values: a few rows of types that JSON carries
    exactly (a client then lands them without loading Arrow: a small read during a run
    costs no more than on an idle warehouse)."""
    small = rows <= PLAIN_ROWS and size <= PLAIN_BYTES
    return small and all(kind in PLAIN_TYPES for _, kind in columns)


class _Watch:
    """While a query runs, a client that goes away interrupts it: its query would hold a
    slot and cores for nothing (a client sends nothing while it waits, so a readable
    socket means it closed)."""

    def __init__(self, sock: socket.socket, cur: duckdb.DuckDBPyConnection) -> None:
        self._sock = sock
        self._cur = cur
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._done.wait(0.2):
            try:
                ready, _, _ = select.select([self._sock], [], [], 0)
                gone = bool(ready) and self._sock.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                gone = True
            if gone:
                self._cur.interrupt()
                return


def _failure(exc: duckdb.Error) -> dict[str, Any]:
    text = str(exc)
    if _READ_ONLY_TX in text:  # a DROP of what the warehouse holds
        return {"ok": False, "kind": "PermissionException", "error": _refused("DROP")}
    return {"ok": False, "kind": type(exc).__name__, "error": text}


def _turn_away(sock: socket.socket) -> None:
    try:
        sock.settimeout(5.0)
        stream = sock.makefile("rwb")
        receive(stream)
        send(stream, {"ok": False, "kind": "busy", "error": "the holder serves too many reads"})
    except (OSError, ValueError):
        pass
    finally:
        shut(sock)


def shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
