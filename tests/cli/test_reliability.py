"""Reliability findings (issue 14), each reproduced through the real CLI."""

import pytest
from conftest import Project

ERRORS = """
import collections
from assetflow import RetryPolicy, asset, daily

DAYS = daily("2024-01-01", "2024-01-05")
POLICY = RetryPolicy(max_retries=3, delay=0, jitter="none")
calls = collections.Counter()


@asset(partitions=DAYS, retry=POLICY)
def data_errors(ctx, doubled):
    calls[ctx.partition] += 1
    day = ctx.partition[-2:]
    if day == "01":
        return 10 // 0
    if day == "02":
        return "SELECT 2147483647::INTEGER + 1 AS n"
    if day == "03":
        return "SELECT strptime('2013-01-05T25:99:00Z', '%Y-%m-%dT%H:%M:%SZ') AS t"
    if day == "04" and calls[ctx.partition] < 3:
        raise ConnectionError("the API timed out")
    return "SELECT * FROM doubled"


@asset(partitions=DAYS, retry=POLICY, retry_on=(ValueError,))
def retried_value_errors(ctx, doubled):
    calls["v" + ctx.partition] += 1
    if calls["v" + ctx.partition] < 2:
        raise ValueError("the vendor sent a half-written file")
    return "SELECT * FROM doubled"
"""


def tries(project: Project, asset: str) -> dict[str, tuple[int, str]]:
    """partition -> (attempts that ran, the last one's status and error class)."""
    rows = project.query(
        "SELECT partition, status, error_class FROM assetflow.attempts"
        " WHERE asset = ? AND attempt > 0 ORDER BY partition, attempt_id",
        [asset],
    )
    out: dict[str, tuple[int, str, str | None]] = {}
    for partition, status, error in rows:
        out[partition] = (out.get(partition, (0,))[0] + 1, status, error)
    return out


def test_data_errors_are_never_retried_and_transient_ones_are(diamond):
    diamond.write("definitions/errors.py", ERRORS)
    result = diamond.run("materialize", "data_errors", "retried_value_errors")
    assert result.exit_code == 1, result.output
    found = tries(diamond, "data_errors")
    assert found["2024-01-01"] == (1, "failed", "DataError")  # 10 // 0
    assert found["2024-01-02"] == (1, "failed", "DataError")  # out of range
    assert found["2024-01-03"] == (1, "failed", "DataError")  # invalid input
    assert found["2024-01-04"] == (3, "success", None)  # a timeout: retried
    assert found["2024-01-05"] == (1, "success", None)
    assert "DataError: ZeroDivisionError: integer division" in result.output
    # retry_on names ValueError: then it is retried after all.
    assert all(
        n == 2 and s == "success" for n, s, _ in tries(diamond, "retried_value_errors").values()
    )


def test_logs_never_reads_outside_the_logs_folder(diamond, tmp_path):
    assert diamond.run("materialize", "doubled").exit_code == 0
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "probe.log").write_text("secret")
    for args in (["../..", "../../../../elsewhere/probe"], ["../../..", "elsewhere"], ["*"]):
        result = diamond.run("logs", *args)
        assert result.exit_code == 2, result.output
        assert "secret" not in result.output and "is not a name" in result.output


def test_a_file_that_cannot_be_a_warehouse_is_one_line_naming_it(diamond, tmp_path):
    import os

    not_a_db = tmp_path / "notadb.txt"
    not_a_db.write_text("hello, I am text\n" * 100)
    corrupt = tmp_path / "corrupt.duckdb"
    assert diamond.run("materialize", "doubled", "--partition", "2024-01-01").exit_code == 0
    data = bytearray(diamond.warehouse.read_bytes())
    data[5000:9000] = b"\xff" * 4000  # damage the first block after the headers
    corrupt.write_bytes(bytes(data))
    locked_out = tmp_path / "readonly"
    locked_out.mkdir()
    os.chmod(locked_out, 0o500)
    cases = [not_a_db, corrupt]
    if os.geteuid() != 0:  # root writes anywhere
        cases.append(locked_out / "warehouse.duckdb")
    for path in cases:
        for command in (["status"], ["materialize", "doubled"]):
            result = diamond.run(*command, "--warehouse", str(path))
            assert result.exit_code == 2, (path, result.output)
            assert "internal error" not in result.output and "Traceback" not in result.output
            assert f"warehouse {path} cannot be opened" in result.output, result.output


@pytest.mark.slow  # a reader waits 10 s for a holder that publishes no snapshot
def test_a_dead_runs_snapshot_is_not_served_as_in_progress(diamond):
    import json
    import subprocess
    import sys

    from test_cli import holding

    assert diamond.run("materialize", "doubled").exit_code == 0
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a process id that no longer runs
    snapshot = diamond.warehouse.with_name("warehouse.duckdb.run.json")
    snapshot.write_text(json.dumps({
        "run_id": "deadbeef", "pid": gone.pid, "started_at": "2014-06-01", "planned": 5,
        "progress": {"success": 3}, "as_of": "2014-06-01T00:00:01",
        "status": {"assets": []}, "runs": [],
    }))  # fmt: skip
    with holding(diamond.warehouse, 30) as holder:  # a live process holds the file
        result = diamond.run("runs")
    assert result.exit_code == 1, result.output
    assert "deadbeef" not in result.output and f"in use by process {holder.pid}" in result.output


@pytest.mark.slow
def test_a_writer_waits_for_a_reader(diamond):
    import subprocess
    import sys

    assert diamond.run("materialize", "doubled").exit_code == 0
    reader = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, time; c = duckdb.connect({str(diamond.warehouse)!r}, read_only=True);"
         " print('ok', flush=True); time.sleep(1.5)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert reader.stdout.readline().strip() == "ok"
        result = diamond.run("materialize", "shifted")  # no --wait: a read is short
        assert result.exit_code == 0, result.output
    finally:
        reader.kill()
        reader.wait()


@pytest.mark.slow
def test_a_tick_waits_for_the_run_that_holds_the_warehouse(tmp_path):
    import json

    from conftest import FIXTURES, make_project
    from test_crash import start, wait_for_progress

    project = make_project(tmp_path / "p", FIXTURES / "chain")
    project.write(
        "definitions/nightly.py",
        'from assetflow import schedule\nnightly = schedule("nightly", "0 3 * * *", ["base"])\n',
    )
    run = start(project, "materialize", "--concurrency", "1", slow="0.05")
    try:
        wait_for_progress(project, run)
        result = project.run("tick", "--now", "2024-02-26T03:00:00", "--json", now=None)
        assert result.exit_code == 0, result.output
        [event] = json.loads(result.output)
        assert event["name"] == "nightly" and not event["error"]
    finally:
        run.communicate(timeout=120)
    assert run.returncode == 0


@pytest.mark.slow
def test_an_alert_endpoint_that_never_answers_holds_up_nothing(diamond, monkeypatch):
    import datetime as dt
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    arrivals: list[dt.datetime] = []
    release = threading.Event()

    class Silent(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - accepts, then never answers
            arrivals.append(dt.datetime.now(dt.UTC).replace(tzinfo=None))
            release.wait(30)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Silent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SILENT_URL", f"http://127.0.0.1:{server.server_port}/")
    diamond.write(
        "definitions/alerting.py",
        """
        from assetflow import asset, daily, webhook

        @asset(partitions=daily("2024-01-01", "2024-01-10"),
               on_failure=[webhook("SILENT_URL", timeout=2)])
        def shaky(ctx, doubled):
            if ctx.partition in ("2024-01-01", "2024-01-02", "2024-01-03"):
                raise ConnectionError("down")
            return "SELECT * FROM doubled"
        """,
    )
    try:
        result = diamond.run("materialize", now=None)
    finally:
        release.set()
        server.shutdown()
    assert result.exit_code == 1, result.output
    # The first alert timed out; the endpoint is not tried again in this run (issue 32).
    assert len(arrivals) == 1
    assert "timed out: 2 later alerts of this run not sent to it" in result.output
    started = [s for (s,) in diamond.query(
        "SELECT started_at FROM assetflow.attempts WHERE asset <> 'shaky' AND attempt > 0"
    )]  # fmt: skip
    # Before the alert's 2 s ran out, every other node had started: none waited on it.
    assert started and max(started) < arrivals[0] + dt.timedelta(seconds=2)


@pytest.mark.slow
def test_a_warehouse_deleted_during_a_run_fails_the_run(tmp_path):
    from conftest import FIXTURES, make_project
    from test_crash import start, wait_for_progress

    project = make_project(tmp_path / "p", FIXTURES / "chain")
    run = start(project, "materialize", "--concurrency", "1", slow="0.05")
    wait_for_progress(project, run)
    project.warehouse.unlink()
    out, err = run.communicate(timeout=120)
    assert run.returncode == 1, out + err
    assert "was deleted or replaced during run" in err and "success" not in out


SENSED = """
import os
import time

from assetflow import asset, daily, file_sensor, source

DAYS = daily("2024-02-01", "2024-02-25")


@source(partitions=DAYS, path="landing/{partition}.csv")
def src(ctx):
    return f"SELECT * FROM read_csv('{ctx.path}', header = true)"


@asset(partitions=DAYS)
def a(ctx, src):
    time.sleep(float(os.environ.get("SLOW_SECONDS", "0")))
    return "SELECT n FROM src"


@asset(partitions=DAYS)
def b(ctx, a):
    return "SELECT n * 2 AS n FROM a"


landed = file_sensor("src")
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "victim_args",
    [("tick", "--concurrency", "1"), ("daemon", "--interval", "0.5", "--concurrency", "1")],
    ids=["tick", "daemon"],
)
def test_a_sensor_run_killed_mid_run_leaves_its_work_to_the_next_tick(tmp_path, victim_args):
    """SIGKILL of a tick or of the daemon (issue 32 item 7: not only SIGTERM) mid sensor
    run: the next tick marks the run abandoned and builds the rest, nothing twice."""
    import signal

    from conftest import make_project
    from test_crash import committed, start, wait_for_progress

    project = make_project(tmp_path / "p")
    project.write("definitions/sensed.py", SENSED)
    for day in range(1, 26):
        project.write(f"landing/2024-02-{day:02d}.csv", f"n\n{day}\n")
    victim = start(project, *victim_args, slow="0.1")
    wait_for_progress(project, victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert 0 < committed(project.warehouse) < 50  # the kill landed mid-run
    result = project.run("tick", "--json")
    assert result.exit_code == 0, result.output
    built = project.query(
        "SELECT count(DISTINCT (asset, partition)), count(*) FROM assetflow.materializations"
    )
    assert built == [(50, 50)]  # the rest was built, and nothing twice
    statuses = [
        s for (s,) in project.query("SELECT status FROM assetflow.runs ORDER BY started_at")
    ]
    assert statuses[0] == "abandoned" and "success" in statuses[1:], statuses


WINDOWS = """
import os
import pathlib
import time

from assetflow import asset, daily, project_defaults, source

DAYS = daily("2024-02-01", "2024-02-10")
MARKS = pathlib.Path(os.environ["MARKS"])


def slow_observe(key):
    (MARKS / "observing").touch()  # the run holds the warehouse and plans
    time.sleep(0.3)
    return "v1"


def slow_hook(summary):
    (MARKS / "alerting").touch()  # the run has ended and still holds the warehouse
    time.sleep(3)


defaults = project_defaults(on_run_end=[slow_hook])


@source(partitions=DAYS, observe=slow_observe)
def numbers(ctx):
    return "SELECT 1 AS n"


@asset(partitions=DAYS)
def counted(ctx, numbers):
    return "SELECT n FROM numbers"
"""


@pytest.mark.slow
@pytest.mark.parametrize("window", ["observing", "alerting"])
def test_reads_answer_while_a_run_starts_and_ends(tmp_path, monkeypatch, window):
    import time

    from conftest import make_project
    from test_crash import start

    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("MARKS", str(marks))
    project = make_project(tmp_path / "p")
    project.write("definitions/windows.py", WINDOWS)
    assert project.run("sql", "SELECT 1").exit_code == 2  # no warehouse yet: nothing to read
    run = start(project, "materialize")
    try:
        while not (marks / window).exists():
            assert run.poll() is None, run.communicate()
            time.sleep(0.02)
        (marks / window).unlink()
        result = project.run("runs", "--json")  # the reader process observes nothing here
        assert result.exit_code == 0, result.output
    finally:
        out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err


BIG = """
from assetflow import asset, daily

@asset(partitions=daily("2024-01-01", "2024-01-20"))
def big(ctx):
    return f"SELECT range AS n, md5(range::VARCHAR || '{ctx.partition}') AS s FROM range(100000)"
"""


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_a_rerun_completes(tmp_path):
    import resource
    import signal
    import subprocess
    import sys

    from conftest import NOW, make_project

    project = make_project(tmp_path / "p")
    project.write("definitions/big.py", BIG)

    def small_disk():  # writes past 3 MB fail as on a full disk (EFBIG), portably
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (3_000_000, 3_000_000))

    command = [sys.executable, "-m", "assetflow", "--project", str(project.root), "--now", NOW,
               "materialize", "--concurrency", "1"]  # fmt: skip
    full = subprocess.run(command, preexec_fn=small_disk, capture_output=True, text=True)
    assert full.returncode == 1, full.stderr
    assert f"warehouse {project.warehouse}: file too large (on " in full.stderr
    assert "— the run stopped; what it committed is intact" in full.stderr
    assert "cannot rollback" not in full.stderr and "Traceback" not in full.stderr
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert project.query("SELECT count(*), count(DISTINCT (n, s)) FROM big") == [
        (2_000_000, 2_000_000)
    ]


def small_tmpfs(folder, size: str):
    """`folder` as a tmpfs of `size` (the test is skipped where mounting needs root)."""
    import subprocess

    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    return folder


@pytest.mark.slow
def test_a_really_full_disk_is_one_line_and_the_run_record_counts_what_it_committed(tmp_path):
    """ENOSPC on a small tmpfs (issue 32 item 4): the data, the progress file and the logs all
    fail to write, and still one clean line names the path and the filesystem; the run is
    recorded failed with the nodes it committed, never abandoned."""
    import json
    import subprocess
    import sys

    import duckdb
    from conftest import NOW, make_project

    tiny = small_tmpfs(tmp_path / "tiny", "6m")
    try:
        project = make_project(tmp_path / "p")
        project.write("definitions/big.py", BIG.replace("range(100000)", "range(20000)"))
        warehouse = tiny / "w" / "warehouse.duckdb"
        command = [sys.executable, "-m", "assetflow", "--project", str(project.root), "--now",
                   NOW, "materialize", "--warehouse", str(warehouse), "--concurrency", "1"]  # fmt: skip
        full = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert full.returncode == 1, full.stdout + full.stderr
        assert f"error: warehouse {warehouse}: no space left on device (on {tiny}" in full.stderr
        assert "internal error" not in full.stderr and "Traceback" not in full.stderr
        runs = subprocess.run([*command[:7], "runs", "--json", "--warehouse", str(warehouse)],
                              capture_output=True, text=True)  # fmt: skip
        [run] = json.loads(runs.stdout)
        with duckdb.connect(str(warehouse), read_only=True) as conn:
            committed = conn.execute("SELECT count(*) FROM assetflow.materializations").fetchone()
        assert run["status"] == "failed" and run["succeeded"] == committed[0] >= 1, run
        assert run["succeeded"] + run["failed"] + run["skipped"] == run["planned"] == 20
    finally:
        subprocess.run(["umount", str(tiny)], capture_output=True)


HOSTILE = """
from assetflow import asset, dynamic


@asset(adds_keys={"customers": "customer"})
def discovered(ctx):
    return "SELECT '../../../escaped_from_data' AS customer UNION ALL SELECT 'a/b:c'"


@asset(partitions=dynamic("customers"))
def per_customer(ctx, discovered):
    print("hello from", ctx.partition)  # a log file for each node
    return f"SELECT length('{ctx.partition}') AS n"
"""


@pytest.mark.slow
def test_keys_from_data_never_write_outside_the_logs_folder(project):
    import os
    import subprocess
    import sys

    project.write("definitions/pipeline.py", HOSTILE)
    done = subprocess.run(
        [sys.executable, "-m", "assetflow", "--project", str(project.root), "materialize"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    logs = project.root / "warehouse" / "logs"
    written = [p for p in project.root.parent.rglob("*.log") if p.is_file()]
    assert written and all(p.resolve().is_relative_to(logs.resolve()) for p in written)
    names = sorted(p.name for p in logs.rglob("per_customer/*.log"))
    assert names == ["%2E%2E%2F%2E%2E%2F%2E%2E%2Fescaped_from_data.log", "a%2Fb%3Ac.log"]
    # `assetflow logs` finds a node's log by its key, whatever the key holds.
    run_id = project.query(
        "SELECT any_value(run_id) FROM assetflow.materializations WHERE asset = 'per_customer'"
    )[0][0]
    shown = project.run("logs", run_id, "per_customer", "a/b:c", now=None)
    assert shown.exit_code == 0 and "hello from a/b:c" in shown.output, shown.output


LARGE_LITERAL = """
from assetflow import asset

@asset
def literal(ctx):
    rows = ", ".join(f"({i}, 'row number {i}')" for i in range(12_000))
    return f"SELECT * FROM (VALUES {rows}) t(n, label)"
"""


def test_a_large_literal_is_not_parsed_for_lineage_and_the_run_says_so(project):
    """SQL over the parse limit (issue 32 item 8): the dependency check is skipped with one
    line, instead of sqlglot costing more than the query."""
    project.write("definitions/literal.py", LARGE_LITERAL)
    result = project.run("materialize")
    assert result.exit_code == 0, result.output
    assert "kB of SQL: what it reads was not checked" in result.output
    assert project.query("SELECT count(*), max(n) FROM literal") == [(12_000, 11_999)]


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [("materialize", "doubled"), ("tick", "--now", "2024-01-04T03:00:00")],
    ids=["materialize", "tick"],
)
def test_awaiting_alerts_holds_no_lock(diamond, monkeypatch, command):
    """A run's end waits for its alerts (up to ALERT_CAP), but with the warehouse let go
    (issue 32 item 2): while a hook's endpoint keeps a finished run's process waiting,
    another writer gets the warehouse — a command's run, and a tick's (which records the
    tick first)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from test_crash import start

    ended, release = threading.Event(), threading.Event()

    class Silent(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - accepts, then never answers
            if self.path == "/end":
                ended.set()
            release.wait(60)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Silent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("END_URL", f"{base}/end")
    diamond.write(
        "definitions/ending.py",
        """
        from assetflow import project_defaults, schedule, webhook

        defaults = project_defaults(on_run_end=[webhook("END_URL", timeout=25)])
        nightly = schedule("nightly", "0 3 * * *", ["doubled"])
        """,
    )
    try:
        victim = start(diamond, *command, slow="0")
        assert ended.wait(60), "the run's end hook was called"
        monkeypatch.delenv("END_URL")  # the second writer's own end hook fails at once
        other = diamond.run("materialize", "shifted", "--wait", "10")
        still_waiting = victim.poll() is None
    finally:
        release.set()
        server.shutdown()
        out, err = victim.communicate(timeout=120)
    assert other.exit_code == 0, other.output  # it got the warehouse
    assert still_waiting  # while the first process still awaited its hook
    assert victim.returncode == 0, out + err


@pytest.mark.slow
def test_a_disk_too_full_to_begin_a_warehouse_leaves_no_half_made_file(tmp_path):
    """The fault bench found it: a disk that fills while the file is being created left a
    file "not a valid DuckDB database" for every later command. Now: one line, no file."""
    import subprocess
    import sys

    from conftest import NOW, make_project

    tiny = small_tmpfs(tmp_path / "tiny", "8k")
    try:
        project = make_project(tmp_path / "p")
        project.write("definitions/big.py", BIG)
        warehouse = tiny / "w" / "warehouse.duckdb"
        command = [sys.executable, "-m", "assetflow", "--project", str(project.root), "--now",
                   NOW, "materialize", "--warehouse", str(warehouse)]  # fmt: skip
        full = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert full.returncode == 1 and "no space left on device" in full.stderr
        assert "internal error" not in full.stderr and "Traceback" not in full.stderr
        assert not warehouse.exists() and not warehouse.with_name("warehouse.duckdb.wal").exists()
        subprocess.run(
            ["mount", "-o", "remount,size=512m", str(tiny)], check=True
        )  # BIG takes ~60 MB with its WAL: room to spare
        again = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
    finally:
        subprocess.run(["umount", str(tiny)], capture_output=True)
