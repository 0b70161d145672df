"""A read session with the process holding the warehouse (store/served.py serves it).

`ServedConnection` speaks the part of DuckDB's connection API the read paths use, so a Store
reads through it as it would read the file. Results arrive as Arrow (small ones of plain types
as JSON values) and land in a local in-memory DuckDB, cast back to the types the holder's
query had: a served read prints exactly what a local one would. Should the holder let go in
the middle of a command (its run ended), the statements go on against the file itself.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from assetflow.core.records import Facts
from assetflow.errors import WarehouseLockedError
from assetflow.store.connect import connect
from assetflow.store.facts_wire import from_wire
from assetflow.store.schema import quoted_name
from assetflow.store.served import TEMP_CREATE, alive, reads_path, receive, send, shut

READ_WINDOW = 10.0  # seconds a reader waits for a writer to serve reads or let go
_ASK_AGAIN = 0.05  # seconds between two tries of a holder that gave no session
_LANDING: list[duckdb.DuckDBPyConnection] = []
_LANDING_LOCK = threading.Lock()

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass
class _Link:
    """Where a session's statements go: the holder's socket or, once the holder let go in
    the middle of a command, the file itself (shared by a session and its cursors)."""

    warehouse: Path
    sock: socket.socket | None
    stream: io.BufferedIOBase | None
    direct: duckdb.DuckDBPyConnection | None = None
    closed: bool = False  # by its owner: nothing to reopen
    # The statements that made the session's temporary tables and views, with their
    # parameters: made again on whatever reads next, so a command's later queries find them.
    temps: list[tuple[str, object]] = field(default_factory=list)
    # Results the holder sent with the session (the queries every command asks first).
    answered: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        if self.stream is not None:
            with contextlib.suppress(OSError):
                self.stream.close()
        if self.sock is not None:
            shut(self.sock)
        if self.direct is not None:
            self.direct.close()

    def reopen(self) -> None:
        """The holder ended the session (its run finished): go on reading the file, or
        through whichever process holds it now."""
        self.close()
        self.sock = self.stream = None
        self.answered = {}
        found = open_for_reading(self.warehouse, READ_WINDOW)
        if isinstance(found, ServedConnection):
            self.sock, self.stream = found._link.sock, found._link.stream
            self.answered = found._link.answered
            found._local.close()  # its socket is this link's now
        else:
            self.direct = found


def open_for_reading(path: Path, wait: float) -> duckdb.DuckDBPyConnection | ServedConnection:
    """The warehouse opened read-only, or a session with the process holding it. The holder
    serves reads from just after it opens the file until just before it lets go: through the
    moments around those (opening, closing), wait for one or the other; a holder that serves
    but gives no session, for up to `wait` seconds. A holder that serves nothing (no reads
    file all along) is waited for `wait` seconds, then named."""
    seen: list[bool] = []  # whether a try gave up because the holder serves

    def serving() -> bool:
        if reads_path(path).exists():
            seen.append(True)
            return True
        return False

    for left in range(int(wait / _ASK_AGAIN), -1, -1):  # the time is counted in pauses
        seen.clear()
        if reads_path(path).exists():  # a holder serves: ask it first (a refused open of
            served = ServedConnection.open(path)  # the file costs ~6 ms)
            if served is not None:
                return served
        try:
            return connect(path, read_only=True, wait=wait, give_up=serving)
        except WarehouseLockedError:
            served = ServedConnection.open(path)
            if served is not None:
                return served
            if not seen:
                raise
            # it serves but gave no session (starting, letting go, serving too many at once)
            # or stopped serving between our two tries: ask again, for up to `wait` seconds
            if left:
                time.sleep(_ASK_AGAIN)
    return connect(path, read_only=True, wait=0, give_up=serving)


class ServedConnection:
    """A read session with the process holding the warehouse: the part of DuckDB's connection
    API the read paths use (`execute` returns a DuckDB result to fetch from, `sql` a
    relation over it, `cursor`, `close`, `extract_statements`). Should the holder let go in
    the middle (its run ended), the statements go on against the file itself."""

    def __init__(self, sock: socket.socket, holder: int, warehouse: Path) -> None:
        self.holder = holder  # the pid serving it
        self._link = _Link(warehouse, sock, sock.makefile("rwb"))
        self._local = _landing().cursor()  # where results land, typed as the holder's were
        self._owner = True  # closing it ends the session (not so a cursor's)

    @classmethod
    def open(cls, warehouse: Path) -> ServedConnection | None:
        """A session with the holder of `warehouse`, or None when none serves it (an older
        holder, one closing, a stale file of a dead one)."""
        try:
            found = json.loads(reads_path(warehouse).read_text(encoding="utf-8"))
            if not alive(found.get("pid")):  # left by a process killed outright
                return None
            sock = socket.create_connection(("127.0.0.1", int(found["port"])), timeout=10.0)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small frames: no wait
        except (OSError, ValueError, KeyError, TypeError):
            return None
        served = cls(sock, int(found.get("pid") or 0), warehouse)
        stream = served._link.stream
        assert stream is not None
        try:
            send(stream, {"token": found.get("token")})
            answer = receive(stream)
        except OSError:
            answer = None
        if answer is None or not answer.get("ok"):
            served.close()
            return None
        sock.settimeout(None)
        served._link.answered = dict(answer.get("answered") or {})
        return served

    def execute(self, sql: str, parameters: object = None) -> duckdb.DuckDBPyConnection:
        cur, query, params = self._route(sql, parameters)
        return cur.execute(query, params) if params else cur.execute(query)

    def sql(self, query: str, params: object = None) -> duckdb.DuckDBPyRelation:
        cur, query, params = self._route(query, params)
        return cur.sql(query, params=params)

    def _route(self, sql: str, parameters: object) -> tuple[duckdb.DuckDBPyConnection, str, object]:
        """Where to ask `sql`: a local cursor over the holder's result (and the query, with
        its parameters, that reads it), or the file itself once the holder let go."""
        answered = self._link.answered.get(sql) if not parameters else None
        if answered is not None and self._link.direct is None:  # sent with the session
            return self._listed(answered["columns"], answered["values"])
        if self._link.direct is None:
            landed = self._fetch(sql, parameters)
            if landed is not None:
                if TEMP_CREATE.match(sql):
                    self._link.temps.append((sql, parameters))
                return landed
        assert self._link.direct is not None
        return self._link.direct, sql, parameters

    def _fetch(
        self, sql: str, parameters: object
    ) -> tuple[duckdb.DuckDBPyConnection, str, object] | None:
        """The holder's result landed in a local cursor, and the query that reads it typed
        as the holder's was; None when the holder ended the session before answering (the
        link then reads the file: ask again)."""
        stream = self._link.stream
        assert stream is not None
        try:
            send(stream, {"sql": sql, "params": parameters})
            header = receive(stream)
            if header is not None and header.get("ok") and "values" not in header:
                table = _arrow_table(stream)
        except (OSError, ValueError, TypeError):  # closed mid-way
            header = None
        if header is None:
            if self._link.closed:
                raise duckdb.ConnectionException("the read session was closed")
            self._link.reopen()
            self._remake_temps()
            if self._link.direct is None:  # another holder serves it now
                return self._fetch(sql, parameters)
            return None
        if not header.get("ok"):
            kind = getattr(duckdb, str(header.get("kind")), None)
            if not (isinstance(kind, type) and issubclass(kind, duckdb.Error)):
                kind = duckdb.Error
            raise kind(str(header.get("error")))
        columns = header.get("columns") or []
        if "values" in header:
            return self._listed(columns, header["values"])
        return self._landed(table, columns)

    def _remake_temps(self) -> None:
        """The session's temporary tables and views, made again where it reads now (they
        lived in the holder's session): a command's later queries still find them."""
        made, self._link.temps = self._link.temps, []
        for sql, params in made:
            self.execute(sql, params)

    def _listed(
        self, columns: list[list[str]], values: list[list[object]]
    ) -> tuple[duckdb.DuckDBPyConnection, str, object]:
        """A small result sent as a list of values per column (types JSON carries exactly):
        read back as the holder's types, row by row in its order."""
        cur = self._local.cursor()
        if not columns:
            return cur, "SELECT 1 WHERE false", None
        picks = ", ".join(f"unnest(?::{kind}[]) AS {quoted_name(name)}" for name, kind in columns)
        return cur, f"SELECT {picks}", values

    def _landed(
        self, table: pa.Table, columns: list[list[str]]
    ) -> tuple[duckdb.DuckDBPyConnection, str, object]:
        cur = self._local.cursor()
        if not columns:
            return cur, "SELECT 1 WHERE false", None
        cur.register("_af_served", table)
        landed = cur.execute("SELECT * FROM _af_served LIMIT 0").description or []
        picks = []  # by position (#n): a result may name two columns alike
        for n, ((name, holder_type), (_, local_type, *_)) in enumerate(
            zip(columns, landed, strict=True), start=1
        ):
            same = holder_type in (str(local_type), '"NULL"')
            typed = f"#{n}" if same else f"CAST(#{n} AS {holder_type})"
            picks.append(f"{typed} AS {quoted_name(name)}")
        return cur, f"SELECT {', '.join(picks)} FROM _af_served", None

    def facts(self, asked: dict[str, Any]) -> tuple[Facts, bool] | None:
        """The status facts `asked` (facts_wire.py), as the holder keeps them, and whether
        the session now has the temporary views node records read; the session reads the
        same snapshot from now on. None: ask the warehouse's tables instead (the holder let
        go, or could not answer)."""
        stream = self._link.stream
        if self._link.direct is not None or stream is None:
            return None
        try:
            send(stream, {"facts": asked})
            answer = receive(stream)
        except (OSError, ValueError, TypeError):
            answer = None
        if answer is None:  # the holder ended the session: the file (or a new holder) next
            if self._link.closed:
                raise duckdb.ConnectionException("the read session was closed")
            self._link.reopen()
            self._remake_temps()
            return None
        if not answer.get("ok"):
            return None
        return from_wire(answer["facts"]), bool(answer["facts"].get("views"))

    def cursor(self) -> ServedConnection:
        """The same session (its statements read the same snapshot); closing it leaves the
        session open."""
        view = copy.copy(self)
        view._owner = False
        return view

    def __enter__(self) -> ServedConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def extract_statements(sql: str) -> list[Any]:
        return duckdb.extract_statements(sql)

    def close(self) -> None:
        if not self._owner:
            return
        self._link.closed = True
        self._link.close()
        with contextlib.suppress(duckdb.Error):  # closed from another thread mid-call
            self._local.close()


def _arrow_table(stream: io.BufferedIOBase) -> pa.Table:
    """A result's Arrow stream, read whole (Arrow is loaded here, for results that need it)."""
    import pyarrow as pa

    try:
        return pa.ipc.open_stream(stream).read_all()
    except pa.ArrowException as exc:
        raise OSError("the result's stream ended early") from exc


def _landing() -> duckdb.DuckDBPyConnection:
    """The in-memory DuckDB where served results land: one per process (making one costs
    ~20 ms, a page or a script reading through a run opens many sessions), each session
    on a cursor of its own."""
    with _LANDING_LOCK:
        if not _LANDING:
            _LANDING.append(duckdb.connect())
        return _LANDING[0]
