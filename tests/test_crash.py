"""Real subprocesses: SIGKILL at random moments, Ctrl-C, and reads while a run holds the
warehouse."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import duckdb
import pytest
from conftest import FIXTURES, NOW, make_project

pytestmark = pytest.mark.slow  # real subprocesses, kill -9 and signals

TABLES = ("base", "enriched", "summary")


def _default_sigint() -> None:
    # A shell running the tests in the background ignores SIGINT, and a child inherits
    # that: give the child the default, so that Python turns Ctrl-C into KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(project, *args, slow="0.02"):
    env = {**os.environ, "SLOW_SECONDS": slow, "COLUMNS": "120"}
    return subprocess.Popen(
        [sys.executable, "-m", "assetflow", "--project", str(project.root), "--now", NOW, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=_default_sigint,
    )  # fmt: skip


def wait_for_run(project, seconds: float = 30) -> None:
    """Until a run in another process has started (it publishes its read snapshot)."""
    deadline = time.monotonic() + seconds
    while not (project.warehouse.parent / "warehouse.duckdb.run.json").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def finish(project, *args):
    done = start(project, *args, slow="0")
    out, err = done.communicate(timeout=180)
    return done.returncode, out, err


def committed(warehouse) -> int:
    """Materializations committed so far (0 before the metadata schema exists)."""
    if not warehouse.exists():
        return 0
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        schema = conn.execute(
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_schema = 'assetflow' AND table_name = 'materializations'"
        ).fetchall()[0][0]
        if not schema:
            return 0
        return conn.execute("SELECT count(*) FROM assetflow.materializations").fetchall()[0][0]


def wait_for_progress(project, process, done: int = 1) -> dict:
    """Wait until the run's own published snapshot says `done` nodes finished: a kill after
    this lands mid-run, whatever the machine's speed."""
    snapshot = project.warehouse.parent / "warehouse.duckdb.run.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            live = json.loads(snapshot.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            live = {}
        if sum(live.get("progress", {}).values()) >= done:
            return live
        time.sleep(0.02)
    pytest.fail("the run published no progress")


def tables(warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        present = {r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        content = {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() if t in present else []
            for t in TABLES
        }
        # Lineage matches data: the latest record of every node counts exactly its rows.
        counted = " UNION ALL ".join(
            f"SELECT '{t}' AS asset, _partition AS partition, count(*) AS n FROM {t} GROUP BY 2"
            for t in TABLES
            if t in present
        )
        mismatched = conn.execute(
            f"""
            SELECT n.asset, n.partition FROM assetflow.nodes n
            JOIN assetflow.materializations m USING (materialization_id)
            LEFT JOIN ({counted}) c ON c.asset = n.asset AND c.partition = n.partition
            WHERE m.row_count <> coalesce(c.n, 0)
            """
        ).fetchall()
        runs = conn.execute("SELECT status, count(*) FROM assetflow.runs GROUP BY 1").fetchall()
    return content, mismatched, dict(runs)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("ref") / "p", FIXTURES / "chain")
    code, out, err = finish(project, "materialize")
    assert code == 0, err
    content, mismatched, _ = tables(project.warehouse)
    assert not mismatched and sum(len(v) for v in content.values()) > 0
    return content


def test_sigkill_at_random_moments_then_rerun_completes_identically(tmp_path, reference):
    rng = random.Random(2024)
    outcomes = []
    for trial in range(10):
        project = make_project(tmp_path / f"trial{trial}", FIXTURES / "chain")
        victim = start(project, "materialize", "--concurrency", "2", slow="0.06")
        time.sleep(rng.uniform(0.5, 2.0))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        landed = committed(project.warehouse)
        code, out, err = finish(project, "materialize")
        assert code == 0, err
        content, mismatched, runs = tables(project.warehouse)
        assert content == reference, f"trial {trial}"
        assert mismatched == []
        abandoned = runs.get("abandoned", 0)
        # A kill after the last commit but before the run closed leaves nothing to re-run.
        finished_by_victim = landed == 75 and abandoned == 1
        assert abandoned <= 1 and runs.get("success", 0) == (0 if finished_by_victim else 1)
        with duckdb.connect(str(project.warehouse), read_only=True) as conn:
            total = conn.execute("SELECT count(*) FROM assetflow.materializations").fetchall()
        assert total == [(75,)]  # the re-run built exactly what was missing, nothing twice
        outcomes.append((trial, landed, runs.get("abandoned", 0)))
    assert any(0 < landed < 75 for _, landed, _ in outcomes)  # some kills landed mid-run
    print("kill trials (trial, nodes committed before the kill, abandoned runs):", outcomes)


def test_ctrl_c_stops_scheduling_and_marks_the_run_interrupted(tmp_path, reference):
    project = make_project(tmp_path / "p", FIXTURES / "chain")
    run = start(project, "materialize", "--concurrency", "1", slow="0.1")
    wait_for_run(project)
    time.sleep(0.5)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    content, mismatched, runs = tables(project.warehouse)
    assert runs == {"interrupted": 1} and mismatched == []
    assert 0 < sum(len(v) for v in content.values()) < sum(len(v) for v in reference.values())
    code, _, err = finish(project, "materialize")
    assert code == 0, err
    assert tables(project.warehouse)[0] == reference


def test_reads_work_while_a_run_holds_the_warehouse(tmp_path):
    project = make_project(tmp_path / "p", FIXTURES / "chain")
    assert finish(project, "materialize", "base")[0] == 0
    run = start(project, "materialize", "--concurrency", "1", slow="0.2")
    try:
        wait_for_run(project)
        time.sleep(1.2)
        # reads answer through the run's process, as of its last commit (the whole of it:
        # tests/test_reads_during_a_run.py)
        status = project.run("status")
        assert status.exit_code == 0, status.output
        assert "in progress" in status.output and "as of its last commit" in status.output
        as_json = json.loads(project.run("status", "--json").output)
        assert as_json["in_progress"]["planned"] == 50
        assert {a["asset"] for a in as_json["assets"]} == {"base", "enriched", "summary"}
        runs = project.run("runs")
        assert runs.exit_code == 0 and "running" in runs.output and "success" in runs.output
        assert len(json.loads(project.run("runs", "--json").output)) == 2
        assert len(json.loads(project.run("runs", "--limit", "1", "--json").output)) == 1
        second = project.run("materialize")
        assert second.exit_code == 1 and f"in use by process {run.pid}" in second.output
        read = project.run("sql", "SELECT count(*) FROM base")
        assert read.exit_code == 0 and "250" in read.output, read.output
        run_id = json.loads(project.run("runs", "--json").output)[0]["run_id"]
        logs_dir = project.warehouse.parent / "logs" / run_id
        assert logs_dir.is_dir()
        # a writer given --wait queues behind the real run and goes once it lets go: then
        # everything is built (without --wait it was refused just above)
        queued = project.run("materialize", "--wait", "120")
        assert queued.exit_code == 0 and "nothing to do" in queued.output, queued.output
    finally:
        out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert not (project.warehouse.parent / "warehouse.duckdb.run.json").exists()


def test_the_daemon_ticks_until_sigterm_and_exits_cleanly(tmp_path):
    project = make_project(tmp_path / "p", FIXTURES / "chain")
    project.write(
        "definitions/nightly.py",
        'from assetflow import schedule\nnightly = schedule("nightly", "* * * * *", ["base"])\n',
    )
    daemon = start(project, "daemon", "--interval", "0.3")
    try:
        deadline = time.monotonic() + 30
        while not project.warehouse.exists() or time.monotonic() < deadline - 28:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(1.0)
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=30)
    finally:
        daemon.kill()
    assert daemon.returncode == 0, err
    assert "assetflow daemon: stopped" in out
    # every tick says what it did, a quiet one too (issue 29 item 17)
    said = [line for line in out.splitlines() if line.startswith(("tick ", "Tick "))]
    assert len(said) >= 3 and any("nothing due" in line for line in said), out
    with duckdb.connect(str(project.warehouse), read_only=True) as conn:
        ticks = conn.execute("SELECT count(*) FROM assetflow.ticks").fetchall()[0][0]
    assert ticks >= 1


def test_status_after_a_kill_reads_the_unmerged_lineage(tmp_path):
    """A killed run's committed nodes are not merged into `nodes` and `inputs` until the next
    write; a read-only status must still see them, inputs included, as fresh."""
    project = make_project(tmp_path / "p", FIXTURES / "chain")
    victim = start(project, "materialize", "--concurrency", "1", slow="0.2")
    wait_for_progress(project, victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    with duckdb.connect(str(project.warehouse), read_only=True) as conn:
        landed = conn.execute("SELECT count(*) FROM assetflow.materializations").fetchall()
        pending = conn.execute(
            "SELECT count(*) FROM assetflow.materializations WHERE inputs_text IS NOT NULL"
        ).fetchall()
    assert 0 < landed[0][0] < 75  # the kill landed mid-run
    assert pending == landed  # nothing merged yet
    [killed] = json.loads(project.run("runs", "--json").output)
    assert killed["status"] == "abandoned" and killed["planned"] == 75  # its process is gone
    # what it committed counts as done (it never wrote its end); the rest did not run
    assert killed["succeeded"] == landed[0][0] and killed["skipped"] == 75 - landed[0][0]
    status = project.run("status", "--json")
    assert status.exit_code == 0, status.output
    fresh = sum(a["counts"]["fresh"] for a in json.loads(status.output)["assets"])
    assert fresh == landed[0][0]
    code, _, err = finish(project, "materialize")
    assert code == 0, err
    with duckdb.connect(str(project.warehouse), read_only=True) as conn:
        assert conn.execute(
            "SELECT count(*) FROM assetflow.materializations WHERE inputs_text IS NOT NULL"
        ).fetchall() == [(0,)]
        assert conn.execute("SELECT count(DISTINCT materialization_id) FROM assetflow.inputs"
                            ).fetchall() == [(75,)]  # fmt: skip
        abandoned = conn.execute(
            "SELECT planned, succeeded FROM assetflow.runs WHERE status = 'abandoned'"
        ).fetchall()
    assert abandoned == [(75, landed[0][0])]  # an abandoned run shows what it committed
