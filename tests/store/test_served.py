"""Reads served by the process holding the warehouse (store/served.py): a real Store holding a
real file, its ReadServer on 127.0.0.1, and sessions connecting to it as another process
would (here from a thread of this one)."""

import contextlib
import datetime as dt
import math
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from assetflow.store.read_session import ServedConnection
from assetflow.store.served import plain, reads_path
from assetflow.store.store import Store

TYPED = (
    "SELECT sum(x)::HUGEINT AS h, '5d9b6a1c-7d0e-4d49-9d3a-1f0e4b5b0a11'::UUID AS u,"
    " INTERVAL 1 DAY AS i, map([1], [2]) AS m, 'a'::ENUM('a', 'b') AS e, {'x': 1} AS s,"
    " [1, 2] AS l, 1.5::DECIMAL(10, 2) AS d, DATE '2020-01-01' AS day, 12::UTINYINT AS ut,"
    " 'x'::BLOB AS b, 1::UHUGEINT AS uh, NULL AS n, 1 AS same, 2 AS same"
    " FROM range(3) t(x)"
)


HEAVY = "SELECT sum(a.range * b.range) FROM range(25000) a, range(25000) b"  # seconds


@pytest.fixture
def holder(tmp_path):
    store = Store.open(tmp_path / "warehouse.duckdb")
    store.conn.execute("CREATE TABLE events AS SELECT range AS id FROM range(100)")
    store.serve_reads()
    yield store
    store.close()


def served(store: Store) -> ServedConnection:
    conn = ServedConnection.open(store.path)
    assert conn is not None
    return conn


def test_a_served_result_reads_as_the_holders_own_would(holder):
    conn = served(holder)
    try:
        mine = holder.conn.execute(TYPED)
        theirs = conn.execute(TYPED)
        assert [d[0] for d in theirs.description] == [d[0] for d in mine.description]
        assert [str(d[1]) for d in theirs.description] == [str(d[1]) for d in mine.description]
        assert theirs.fetchall() == mine.fetchall()
        day = dt.date(2020, 1, 1)
        found = conn.execute("SELECT count(*) FROM events WHERE id < ? AND ? = ?", [10, day, day])
        assert found.fetchall() == [(10,)]
        assert conn.execute("SELECT 1 WHERE false").fetchall() == []
    finally:
        conn.close()


PLAIN = (
    "SELECT x::TINYINT AS t, x::SMALLINT AS s, x::INTEGER AS i, (x - 2)::BIGINT * 4611686018427387903"
    " AS b, x::UTINYINT AS ut, x::USMALLINT AS us, x::UINTEGER AS ui,"
    " 18446744073709551615::UBIGINT AS ub, (x / 3)::FLOAT AS f, -0.0::DOUBLE AS neg,"
    " CASE x WHEN 0 THEN 'nan'::DOUBLE WHEN 1 THEN 'inf'::DOUBLE ELSE 1e308 END AS special,"
    " 0.1::DOUBLE + 0.2 AS d, x = 1 AS yes, CASE WHEN x = 2 THEN NULL ELSE 'é \"q\" ''s'' ✓' END AS v,"
    " DATE '2013-01-01' + x::INTEGER AS day, TIMESTAMP '2013-01-01 10:11:12.345678' AS at,"
    " TIMESTAMPTZ '2013-01-01 10:11:12.5+05:30' AS zoned, 1 AS same, 2 AS same"
    " FROM range(3) t(x)"
)


def test_a_small_result_of_plain_types_is_the_holders_own_without_arrow(holder, tmp_path):
    """Numbers (extremes, -0.0, NaN, infinity), booleans, text, dates, times and NULLs
    travel as JSON values and read back exactly; a process reading them never loads
    pyarrow. A time Python cannot hold goes as Arrow."""
    conn = served(holder)
    try:
        mine, theirs = holder.conn.execute(PLAIN), conn.execute(PLAIN)
        assert [d[:2] for d in theirs.description] == [d[:2] for d in mine.description]
        assert plain([[d[0], str(d[1])] for d in mine.description], 3)  # not as Arrow
        got, want = theirs.fetchall(), mine.fetchall()
        assert str(got) == str(want)  # NaN is not equal to itself: compare as printed
        assert math.copysign(1, got[0][9]) == -1
        assert conn.execute("SELECT id FROM events WHERE id < 0").fetchall() == []
        beyond = "SELECT 'infinity'::TIMESTAMP AS t, DATE '9999-12-31' + 1 AS d"
        assert str(conn.execute(beyond).fetchall()) == str(holder.conn.execute(beyond).fetchall())
        many = conn.execute("SELECT range AS id FROM range(20000)").fetchall()  # as Arrow
        assert many == [(i,) for i in range(20000)]
        long = "SELECT repeat('é', 1000000) || range AS t FROM range(3)"  # 6 MB: as Arrow
        assert not plain([["t", "VARCHAR"]], 3, 6_000_000)
        assert conn.execute(long).fetchall() == holder.conn.execute(long).fetchall()
    finally:
        conn.close()
    script = (
        "import sys; from pathlib import Path;"
        " from assetflow.store.read_session import ServedConnection;"
        f" conn = ServedConnection.open(Path({str(holder.path)!r}));"
        " print(conn.execute('SELECT count(*), max(id) FROM events').fetchall(),"
        " 'pyarrow' in sys.modules); conn.close()"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.split() == ["[(100,", "99)]", "False"], done.stderr


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO events VALUES (1)",
        "UPDATE events SET id = 0",
        "DELETE FROM events",
        "CREATE TABLE other (x INT)",
        "CREATE VIEW v AS SELECT 1",
        "DROP TABLE events",
        "ALTER TABLE events ADD COLUMN y INT",
        "ATTACH ':memory:' AS m",
        "DETACH m",
        "COPY (SELECT 1) TO '{tmp}/out.csv'",
        "COPY events FROM '{tmp}/in.csv'",
        "EXPORT DATABASE '{tmp}/exported'",
        "INSTALL json",
        "LOAD json",
        "SET threads = 1",
        "RESET threads",
        "PRAGMA threads = 1",
        "PRAGMA enable_profiling",
        "CHECKPOINT",
        "CALL checkpoint()",
        "BEGIN TRANSACTION",
        "VACUUM",
        "SELECT 1; INSERT INTO events VALUES (1)",
    ],
)
def test_anything_but_a_read_is_refused_naming_its_kind(holder, tmp_path, statement):
    conn = served(holder)
    try:
        with pytest.raises(duckdb.PermissionException) as refused:
            conn.execute(statement.format(tmp=tmp_path))
        kind = statement.split(";")[-1].split()[0].upper()
        assert str(refused.value).startswith(f"{kind} refused: a run holds the warehouse")
        # the session goes on reading
        assert conn.execute("SELECT count(*) FROM events").fetchall() == [(100,)]
    finally:
        conn.close()
    assert holder.conn.execute("SELECT count(*) FROM events").fetchall() == [(100,)]
    assert holder.conn.execute("SELECT current_setting('threads')").fetchall()[0][0] > 1
    assert not list(tmp_path.glob("out.csv")) and not list(tmp_path.glob("exported"))
    assert holder.conn.execute("SELECT count(*) FROM duckdb_databases()").fetchall()[0][0] == (
        3  # the file, system and temp: nothing attached
    )


def test_reads_of_the_catalog_and_temporary_objects_of_its_own_are_reads(holder):
    conn = served(holder)
    try:
        assert conn.execute("DESCRIBE events").fetchall()[0][0] == "id"
        assert conn.execute("PRAGMA table_info('events')").fetchall()[0][1] == "id"
        assert conn.execute("EXPLAIN SELECT * FROM events").fetchall()
        assert conn.execute("CALL pragma_version()").fetchall()
        conn.execute("CREATE TEMP TABLE mine AS SELECT 7 AS x")
        assert conn.execute("SELECT x FROM mine").fetchall() == [(7,)]
        conn.execute("DROP TABLE mine")
    finally:
        conn.close()


def test_a_session_reads_one_snapshot_and_a_new_one_sees_later_commits(holder):
    conn = served(holder)
    try:
        assert conn.execute("SELECT count(*) FROM events").fetchall() == [(100,)]
        holder.conn.execute("INSERT INTO events SELECT range FROM range(5)")  # the run commits
        assert conn.execute("SELECT count(*) FROM events").fetchall() == [(100,)]
    finally:
        conn.close()
    later = served(holder)
    try:
        assert later.execute("SELECT count(*) FROM events").fetchall() == [(105,)]
    finally:
        later.close()


def test_an_error_is_duckdbs_own_and_the_session_goes_on(holder):
    conn = served(holder)
    try:
        with pytest.raises(duckdb.CatalogException, match="nothing_here"):
            conn.execute("SELECT * FROM nothing_here")
        assert conn.execute("SELECT 1").fetchall() == [(1,)]
    finally:
        conn.close()


HOLDER = """
import sys, time
from pathlib import Path
from assetflow.store.store import Store
store = Store.open(Path(sys.argv[1]))
store.conn.execute("CREATE TABLE events AS SELECT range AS id FROM range(100)")
store.serve_reads()
print("serving", flush=True)
sys.stdin.readline()  # close when told
began = time.monotonic()
store.close()
print(f"closed {time.monotonic() - began:.3f}", flush=True)
"""


def holder_process(path: Path) -> tuple[subprocess.Popen, ServedConnection]:
    """A process holding a warehouse at `path` and serving it (it closes on a line in), and
    a session with it."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "serving"
    conn = ServedConnection.open(path)
    assert conn is not None
    return holder, conn


@pytest.mark.slow  # a holder process
def test_closing_the_holder_does_not_wait_for_a_read_which_goes_on_on_the_file(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    holder, conn = holder_process(path)
    answers: list[object] = []

    def long_read() -> None:
        answers.append(conn.execute(HEAVY).fetchall())
        answers.append(conn.execute("SELECT count(*) FROM events").fetchall())

    reading = threading.Thread(target=long_read)
    reading.start()
    time.sleep(0.5)
    holder.stdin.write("close\n")
    holder.stdin.flush()
    closed = holder.stdout.readline().split()
    assert closed[0] == "closed" and float(closed[1]) < 5  # it never waits for a reader
    assert reading.is_alive()  # its query was interrupted, not answered
    holder.wait(timeout=30)
    assert not reads_path(path).exists()
    reading.join(timeout=120)
    # The read was asked again of the file, which the holder let go: the same answers.
    assert answers == [[(97648437656250000,)], [(100,)]]
    conn.close()


@pytest.mark.slow  # a holder process
def test_a_sessions_temporary_tables_are_there_after_the_holder_lets_go(tmp_path):
    """A command that made temporary tables and views through the holder (status's facts
    do) goes on with them on the file when the run ends between two of its queries."""
    path = tmp_path / "warehouse.duckdb"
    holder, conn = holder_process(path)
    try:
        conn.execute("CREATE TEMP TABLE picked AS SELECT unnest(?::BIGINT[]) AS id", [[3, 5, 7]])
        conn.execute(
            "CREATE OR REPLACE TEMP VIEW few AS SELECT id FROM events SEMI JOIN picked USING (id)"
        )
        assert conn.execute("SELECT count(*) FROM few").fetchall() == [(3,)]
        holder.stdin.write("close\n")
        holder.stdin.flush()
        assert holder.stdout.readline().startswith("closed")
        holder.wait(timeout=30)
        assert conn.execute("SELECT sum(id) FROM few").fetchall() == [(15,)]  # on the file
    finally:
        conn.close()


def test_a_wrong_token_gets_no_session(holder):
    import json
    import socket

    found = json.loads(reads_path(holder.path).read_text())
    assert reads_path(holder.path).stat().st_mode & 0o077 == 0  # owner-only
    with socket.create_connection(("127.0.0.1", found["port"]), timeout=5) as sock:
        body = json.dumps({"token": "0" * 32}).encode()
        sock.sendall(len(body).to_bytes(4, "big") + body)
        assert sock.recv(100) == b""  # closed without a word


@pytest.mark.slow  # a real client process, killed
def test_a_client_that_goes_away_mid_query_frees_its_slot(holder):
    from assetflow.store.served import QUERIES_AT_ONCE

    endless = "SELECT count(*) FROM range(10000000000) a"
    clients = [served(holder) for _ in range(QUERIES_AT_ONCE)]
    threads = [threading.Thread(target=_ask_quietly, args=(c, endless)) for c in clients]
    for t in threads:
        t.start()
    time.sleep(0.5)  # every slot taken by a query that would run for hours
    for c in clients:
        c.close()  # the clients vanish mid-query
    for t in threads:
        t.join(timeout=30)
    late = served(holder)
    try:
        assert late.execute("SELECT 42").fetchall() == [(42,)]  # a slot came free
    finally:
        late.close()


def _ask_quietly(conn: ServedConnection, sql: str) -> None:
    with contextlib.suppress(duckdb.Error, OSError):
        conn.execute(sql)


@pytest.mark.slow  # a reader in another process
def test_a_read_waits_for_a_session_while_the_holder_serves_too_many(holder):
    from assetflow.store.served import MAX_SESSIONS

    sessions = [served(holder) for _ in range(MAX_SESSIONS)]  # every place taken
    assert ServedConnection.open(holder.path) is None  # turned away: the holder is busy
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from assetflow.store.read_session import open_for_reading\n"
        "conn = open_for_reading(Path(sys.argv[1]), 10.0)\n"
        "print(type(conn).__name__, conn.execute('SELECT count(*) FROM events').fetchall())"
    )
    reader = subprocess.Popen([sys.executable, "-c", code, str(holder.path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        time.sleep(2.0)  # it asked and was turned away meanwhile
        sessions.pop().close()  # a place comes free
        out, err = reader.communicate(timeout=30)
    finally:
        for conn in sessions:
            conn.close()
    assert reader.returncode == 0, err  # it asked again rather than giving up
    assert out.strip() == "ServedConnection [(100,)]"


def test_a_reads_file_left_by_a_dead_process_is_not_asked(tmp_path):
    import json

    from assetflow.store.read_session import open_for_reading

    path = tmp_path / "warehouse.duckdb"
    Store.open(path).close()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    with socket.create_server(("127.0.0.1", 0)) as silent:  # would never answer a hello
        port = silent.getsockname()[1]
        reads_path(path).write_text(json.dumps({"pid": int(dead.stdout), "port": port}))
        assert ServedConnection.open(path) is None
        silent.setblocking(False)
        with pytest.raises(BlockingIOError):
            silent.accept()  # nobody connected: its process is gone
        conn = open_for_reading(path, 10.0)
        assert not isinstance(conn, ServedConnection)  # the file itself, read-only
        conn.close()


def test_the_questions_every_session_asks_first_come_with_it_answered_as_the_holder_would(
    holder,
):
    from assetflow.store.reader import SHARING
    from assetflow.store.schema import HAS_SCHEMA

    conn = served(holder)
    try:
        assert set(conn._link.answered) == {HAS_SCHEMA, SHARING}  # no round trip for them
        for sql in (HAS_SCHEMA, SHARING):
            assert conn.execute(sql).fetchall() == holder.conn.execute(sql).fetchall()
    finally:
        conn.close()
