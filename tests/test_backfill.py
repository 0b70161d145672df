"""Backfills: oldest first, resumable after a failure or a kill, never duplicating."""

import json
import signal

import duckdb
import pytest
from conftest import FIXTURES, make_project
from test_crash import committed, finish, start, wait_for_progress

FAILING = """
import os
from assetflow import asset, daily

@asset(partitions=daily("2024-02-01", "2024-02-25"))
def audited(ctx, summary):
    if ctx.partition in os.environ.get("FAIL_DAYS", "").split(","):
        raise RuntimeError("audit service down")
    return "SELECT day, sum(n) AS n FROM summary GROUP BY day"
"""


def attempts(project, run_index=-1):
    runs = project.query("SELECT run_id FROM assetflow.runs ORDER BY started_at")
    run_id = runs[run_index][0]
    return project.query(
        "SELECT asset, partition, status FROM assetflow.attempts WHERE run_id = ? ORDER BY attempt_id",
        [run_id],
    )


def test_backfill_runs_oldest_first(fixture_project):
    project = fixture_project("chain", "group_commit = 1\n")
    result = project.run("backfill", "--from", "2024-02-01", "--to", "2024-02-25", "--sequential")
    assert result.exit_code == 0, result.output
    days = [p for _, p, s in attempts(project) if s == "success"]
    assert days == sorted(days) and len(days) == 75
    assert project.query("SELECT DISTINCT trigger FROM assetflow.runs") == [("backfill",)]


def test_with_group_commit_a_backfill_runs_oldest_first_group_by_group(fixture_project):
    project = fixture_project("chain", "group_commit = 10\n")
    result = project.run("backfill", "--from", "2024-02-01", "--to", "2024-02-25", "--sequential")
    assert result.exit_code == 0, result.output
    done = [(a, p) for a, p, s in attempts(project) if s == "success"]
    assert len(done) == 75
    for asset in {a for a, _ in done}:  # each asset's days in order
        days = [p for a, p in done if a == asset]
        assert days == sorted(days)
    # Oldest first across the assets, group by group: no asset runs more than a group
    # (10 days) ahead of the others.
    for day in range(1, 15):
        assert done.index(("summary", f"2024-02-{day:02d}")) < done.index(
            ("base", f"2024-02-{day + 11:02d}")
        )
    assert len(project.query("SELECT DISTINCT started_at FROM assetflow.attempts")) < 75


def test_a_failed_backfill_resumes_with_only_the_rest(fixture_project, monkeypatch):
    project = fixture_project("chain")
    project.write("definitions/audited.py", FAILING)
    monkeypatch.setenv("FAIL_DAYS", "2024-02-05,2024-02-20")
    args = ("backfill", "--from", "2024-02-01", "--to", "2024-02-25")
    first = project.run(*args)
    assert first.exit_code == 1
    status = json.loads(project.run("backfill", "status", "--json").output)
    assert status["assets"]["audited"] == {
        "done": "2024-02-01..2024-02-04, 2024-02-06..2024-02-19, 2024-02-21..2024-02-25",
        "failed": "2024-02-05, 2024-02-20",
        "remaining": "",
    }
    assert status["counts"]["audited"] == {"done": 23, "failed": 2, "remaining": 0}
    monkeypatch.delenv("FAIL_DAYS")
    second = project.run(*args)
    assert second.exit_code == 0, second.output
    assert sorted((a, p) for a, p, _ in attempts(project)) == [
        ("audited", "2024-02-05"),
        ("audited", "2024-02-20"),
    ]
    backfills = project.query("SELECT DISTINCT backfill_id FROM assetflow.runs")
    assert len(backfills) == 1  # the re-run resumed the same backfill
    assert project.query(
        "SELECT count(*) FROM (SELECT _partition, day FROM audited GROUP BY ALL HAVING count(*) > 1)"
    ) == [(0,)]
    done = json.loads(project.run("backfill", "status", backfills[0][0][:5], "--json").output)
    assert all(v["failed"] == "" and v["remaining"] == "" for v in done["assets"].values())


@pytest.mark.slow
def test_a_killed_backfill_resumes_exactly_where_it_stopped(tmp_path):
    project = make_project(tmp_path / "p", FIXTURES / "chain")
    victim = start(project, "backfill", "--from", "2024-02-01", "--to", "2024-02-25",
                   "--concurrency", "2", slow="0.3")  # fmt: skip
    wait_for_progress(project, victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    landed = committed(project.warehouse)
    assert 0 < landed < 75  # the kill landed mid-run
    code, out, err = finish(project, "backfill", "--from", "2024-02-01", "--to", "2024-02-25")
    assert code == 0, err
    with duckdb.connect(str(project.warehouse), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM assetflow.materializations").fetchall() == [(75,)]
        runs = dict(
            conn.execute("SELECT status, count(*) FROM assetflow.runs GROUP BY 1").fetchall()
        )
        ids = conn.execute("SELECT count(DISTINCT backfill_id) FROM assetflow.runs").fetchall()
    assert runs == {"abandoned": 1, "success": 1}
    assert ids == [(1,)]  # the re-run resumed the killed backfill


def test_large_backfills_ask_first(fixture_project):
    project = fixture_project("chain", extra="backfill_confirm_above = 10\n")
    refused = project.run("backfill", "--from", "2024-02-01", "--to", "2024-02-25")
    assert refused.exit_code == 2 and "above 10" in refused.output and "--yes" in refused.output
    assert not project.query("SELECT * FROM assetflow.runs")
    accepted = project.run("backfill", "--from", "2024-02-01", "--to", "2024-02-25", "--yes")
    assert accepted.exit_code == 0, accepted.output


def test_backfill_needs_a_range(fixture_project):
    project = fixture_project("chain")
    result = project.run("backfill", "base")
    assert result.exit_code == 2 and "--from KEY --to KEY" in result.output


def test_a_backfill_dry_run_prints_the_plan_it_would_run_and_writes_nothing(fixture_project):
    project = fixture_project("chain", extra="backfill_confirm_above = 10\n")
    args = ("backfill", "--from", "2024-02-01", "--to", "2024-02-03")
    shown = project.run(*args, "--dry-run", "--json", "--nodes")
    assert shown.exit_code == 0, shown.output
    planned = sorted((n["asset"], n["partition"]) for n in json.loads(shown.output)["nodes"])
    assert len(planned) == 9 and ("base", "2024-02-01") in planned
    assert not project.warehouse.exists()  # nothing ran (nor asked), nothing was written
    ran = project.run(*args)
    assert ran.exit_code == 0, ran.output
    done = project.query("SELECT asset, partition FROM assetflow.attempts ORDER BY 1, 2")
    assert sorted(done) == planned
    wrong = project.run("backfill", "--bogus")
    assert wrong.exit_code == 2 and "backfill --help'" in wrong.output  # not 'backfill run'
