"""Every read answers while a backfill in another process holds the warehouse, for the
question it was asked, as of the run's last commit (issue 30): real processes, a real file."""

import json
import os
import signal
import time

import pytest
from conftest import FIXTURES, make_project
from test_crash import finish, start, wait_for_progress

import assetflow

pytestmark = pytest.mark.slow  # real subprocesses

AT = "2014-06-01T00:00:00"
BUILT = ("--from", "2024-02-01", "--to", "2024-02-10")  # fresh before the run; untouched by it
RUN = ("--from", "2024-02-11", "--to", "2024-02-25")  # what the backfill builds


def answer(project, *args):
    result = project.run(*args)
    assert result.exit_code == 0, f"{args}: {result.output}"
    return result.output


def status_of(project, *args):
    found = json.loads(answer(project, "status", "--json", *args))
    found.pop("in_progress", None)
    return found


def test_every_read_answers_during_a_run_for_what_it_was_asked(tmp_path):
    project = make_project(tmp_path / "p", FIXTURES / "chain")
    assert finish(project, "materialize", *BUILT)[0] == 0
    before = status_of(project, *BUILT)
    assert all(a["counts"]["fresh"] == 10 for a in before["assets"])
    # 15 slow nodes of 2 s: the reads below (about 15 s) all land inside the run
    run = start(project, "backfill", *RUN, "--concurrency", "1", "--yes", slow="2")
    try:
        wait_for_progress(project, run, 3)
        # status: of the range asked (not the run's), equal to before for what it leaves
        assert status_of(project, *BUILT) == before
        one = status_of(project, "base", "--partition", "2024-02-12")
        assert [a["asset"] for a in one["assets"]] == ["base"]
        assert sum(one["assets"][0]["counts"].values()) == 1
        live = json.loads(answer(project, "status", "--json", *RUN))
        assert live["in_progress"]["pid"] == run.pid and live["in_progress"]["planned"] == 45
        counts = {a["asset"]: a["counts"] for a in live["assets"]}
        assert counts["base"]["fresh"] >= 1 and counts["summary"]["missing"] >= 1
        assert "in progress" in answer(project, "status", *RUN)
        # sql: one-shot, --csv, --json; what it counts never goes backwards
        committed = "SELECT count(*) AS n FROM assetflow.materializations"
        seen = [json.loads(answer(project, "sql", committed, "--json"))[0]["n"] for _ in range(4)]
        assert seen == sorted(seen) and seen[0] >= 30 + 3
        assert answer(project, "sql", "SELECT count(*) FROM base WHERE day <= 10", "--csv") == (
            "count_star()\n550\n"
        )
        code, out, err = finish(project, "sql", "SELECT sum(total) AS s FROM summary")
        assert code == 0 and out.strip(), err  # another whole process, through the holder
        refused = project.run("sql", "DELETE FROM base")
        assert refused.exit_code == 2 and "DELETE refused" in refused.output, refused.output
        # the other reads of point 1
        assert "never materialized" in answer(project, "why", "summary", "2024-02-25")
        assert "fresh" in answer(project, "why", "summary", "2024-02-05")
        answer(project, "checks")
        assert "base" in answer(project, "lineage", "summary")
        runs = json.loads(answer(project, "runs", "--json"))
        assert runs[0]["status"] == "running" and runs[0]["pid"] == run.pid
        assert "nothing to do" in answer(project, "materialize", "--dry-run", *BUILT)
        planned = json.loads(answer(project, "materialize", "--dry-run", "--json", "--nodes", *RUN))
        assert 0 < len(planned["nodes"]) <= 45
        assert "(2024-02-11..2024-02-25)" in answer(project, "backfill", "status")
        answer(project, "logs", runs[0]["run_id"])
        # the Python API
        p = assetflow.Pipeline(project.root, now=AT)
        assert len(p.read("base", "2024-02-01")) == 10
        assert (
            p.status("base", start="2024-02-01", end="2024-02-10")["assets"][0]["counts"]["fresh"]
            == 10
        )
        assert p.status()["in_progress"]["run_id"] == runs[0]["run_id"]
        assert p.plan(start="2024-02-01", end="2024-02-10").nodes == ()
        assert p.why("summary", "2024-02-25").status == "missing"
        # a second writer is still refused, naming the holder
        second = project.run("materialize", *BUILT, "--force")
        assert second.exit_code == 1 and f"in use by process {run.pid}" in second.output
        assert run.poll() is None, "the run ended before the reads did: slow it down"
    finally:
        out, err = run.communicate(timeout=180)
    assert run.returncode == 0, err
    after = status_of(project, "--from", "2024-02-01", "--to", "2024-02-25")
    assert all(a["counts"]["fresh"] == 25 for a in after["assets"])


def test_a_reader_killed_mid_query_does_not_disturb_the_run(tmp_path):
    project = make_project(tmp_path / "p", FIXTURES / "chain")
    run = start(project, "materialize", "--concurrency", "1", slow="0.2")
    try:
        wait_for_progress(project, run, 2)
        endless = start(project, "sql", "SELECT count(*) FROM range(10000000000) a, base")
        time.sleep(2.0)  # connected, its query running in the holder
        assert endless.poll() is None
        os.kill(endless.pid, signal.SIGKILL)
        endless.wait()
        began = time.monotonic()
        assert json.loads(answer(project, "sql", "SELECT 42 AS n", "--json")) == [{"n": 42}]
        assert time.monotonic() - began < 30  # not stuck behind the dead reader's query
    finally:
        out, err = run.communicate(timeout=180)
    assert run.returncode == 0, err
    assert "success" in out


def test_an_environment_reads_and_queues_during_a_prod_run(tmp_path):
    """Issue 31 item 10: reads of any environment answer during any run; a write to another
    environment waits like any second writer."""
    project = make_project(tmp_path / "p", FIXTURES / "chain")
    assert finish(project, "materialize", *BUILT)[0] == 0
    answer(project, "env", "create", "dev")
    assets = project.root / "definitions" / "assets.py"  # a change dev builds over BUILT
    assets.write_text(assets.read_text().replace("product % 7 AS bucket", "product % 5 AS bucket"))
    answer(project, "--env", "dev", "materialize", "enriched", *BUILT)
    before = json.loads(answer(project, "--env", "dev", "status", "--json", *BUILT))
    diff = json.loads(answer(project, "env", "diff", "dev", "--json"))
    assert [d["asset"] for d in diff] == ["enriched"] and diff[0]["added"] > 0
    run = start(project, "backfill", *RUN, "--concurrency", "1", "--yes", slow="2")
    try:
        wait_for_progress(project, run, 2)
        during = json.loads(answer(project, "--env", "dev", "status", "--json", *BUILT))
        during.pop("in_progress", None)
        assert during == before
        assert json.loads(answer(project, "env", "diff", "dev", "--json")) == diff  # served
        assert answer(project, "--env", "dev", "sql", "SELECT count(*) FROM base WHERE day <= 10",
                      "--csv") == "count_star()\n550\n"  # fmt: skip
        assert "dev" in answer(project, "env", "list")
        refused = project.run("--env", "dev", "materialize", "base", "--partition", "2024-02-01")
        assert refused.exit_code == 1 and "in use by process" in refused.output
    finally:
        os.kill(run.pid, signal.SIGINT)
        run.wait(timeout=60)
