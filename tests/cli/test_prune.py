"""Retention (issue 19): prune removes old history, never what status, plans or early
cutoff read."""

import json

from conftest import make_project

PIPELINE = """
import os
from assetflow import asset, daily, source, window

DAYS = daily("2024-01-01", "2024-01-10")


@source(partitions=DAYS, path="landing/{partition}.csv")
def readings(ctx):
    return f"SELECT * FROM read_csv('{ctx.path}')"


@asset(partitions=DAYS)
def cleaned(ctx, readings):
    if os.path.exists(f"fail-{ctx.partition}"):
        raise ValueError(f"bad readings on {ctx.partition}")
    return "SELECT v FROM readings"


@asset(partitions=DAYS, deps={"cleaned": window(-2, 0)})
def rolling(ctx, cleaned):
    return "SELECT sum(v) AS v FROM cleaned"
"""
EARLY, LATE = "2024-02-01T00:00:00", "2024-09-01T00:00:00"


def _land(project, day, value):
    project.write(f"landing/2024-01-{day:02d}.csv", f"v\n{value}\n")


def _counts(project):
    tables = ("materializations", "inputs", "attempt_log", "observations", "runs", "ticks")
    return {t: project.query(f"SELECT count(*) FROM assetflow.{t}")[0][0] for t in tables}


def test_prune_keeps_every_status_and_plan_and_bounds_the_history(
    storage_settings, tmp_path, monkeypatch
):
    project = make_project(
        tmp_path / "p",
        extra=storage_settings
        + "[tool.assetflow.retention]\nhistory_days = 0\nkeep_materializations = 1\n",
    )
    monkeypatch.chdir(project.root)
    project.write("definitions/pipeline.py", PIPELINE)
    for day in range(1, 11):
        _land(project, day, day)
    assert project.run("materialize", now=EARLY).exit_code == 0
    for value in (100, 200, 300):  # three rebuilds of one day and its readers
        _land(project, 4, value)
        assert project.run("materialize", now=EARLY).exit_code == 0
    project.write("fail-2024-01-07", "")
    _land(project, 7, 70)
    assert project.run("materialize", now=EARLY).exit_code == 1  # cleaned[07] failed
    _land(project, 9, 90)  # cleaned[09] stale, not rebuilt yet
    project.run("observe", now=EARLY)

    def state():
        status = json.loads(project.run("status", "--json", now=LATE).output)
        plan = json.loads(
            project.run("materialize", "--dry-run", "--json", "--nodes", now=LATE).output
        )
        return status, plan

    before, counts = state(), _counts(project)
    dry = project.run("prune", "--dry-run", now=LATE)
    assert dry.exit_code == 0, dry.output
    assert "Would remove" in dry.output and _counts(project) == counts
    done = project.run("prune", now=LATE)
    assert done.exit_code == 0, done.output
    after = _counts(project)
    assert state() == before  # status, causes, plans and their recorded inputs unchanged
    assert after["materializations"] == 20  # one per node (2 assets x 10 days): the latest
    assert after["materializations"] < counts["materializations"]
    assert after["inputs"] < counts["inputs"]
    # The failure is still the node's state; runs no kept record names are gone.
    assert after["attempt_log"] >= 1 and after["runs"] < counts["runs"]
    project.run("prune", now=LATE)
    assert _counts(project) == after  # a second prune finds nothing more
    if project.storage == "delta":  # the commits recorded without a gap: one (a mark) each
        commits = project.query(
            "SELECT asset, count(DISTINCT version) FROM assetflow.delta_commits GROUP BY ALL ORDER BY 1"
        )
        assert commits == [("cleaned", 1), ("rolling", 1)]
        assert project.run("observe", now=LATE).exit_code == 0  # a writer: nothing to adopt
        assert _counts(project)["materializations"] == after["materializations"]
    # The failed node is repaired as before: its failure was kept.
    (project.root / "fail-2024-01-07").unlink()
    repaired = project.run("repair", now=LATE)
    assert repaired.exit_code == 0 and "cleaned" in repaired.output


def test_a_tick_prunes_once_a_day(project):
    project.write(
        "definitions/pipeline.py",
        "from assetflow import asset\n\n\n@asset\ndef one(ctx):\n    return 'SELECT 1 AS x'\n",
    )
    assert project.run("materialize").exit_code == 0

    def tick(now):
        assert project.run("tick", "--now", now, now=None).exit_code == 0
        return project.query("SELECT count(*) FROM assetflow.ticks WHERE kind = 'prune'")[0][0]

    assert tick("2024-09-01T00:00:00") == 1
    assert tick("2024-09-01T06:00:00") == 1  # the same day: not again
    assert tick("2024-09-02T06:00:00") == 2


def test_daily_false_leaves_pruning_to_the_command(tmp_path):
    project = make_project(tmp_path / "p", extra="[tool.assetflow.retention]\ndaily = false\n")
    project.write(
        "definitions/pipeline.py",
        "from assetflow import asset\n\n\n@asset\ndef one(ctx):\n    return 'SELECT 1 AS x'\n",
    )
    assert project.run("materialize").exit_code == 0
    assert project.run("tick", "--now", "2024-09-01T00:00:00", now=None).exit_code == 0
    assert project.query("SELECT count(*) FROM assetflow.ticks WHERE kind = 'prune'") == [(0,)]


def test_log_folders_age_by_the_clock_not_by_now(project):
    import os
    import time

    project.write(
        "definitions/pipeline.py",
        "from assetflow import asset\n\n\n@asset\ndef one(ctx):\n    print('hi')\n"
        "    return 'SELECT 1 AS x'\n",
    )
    assert project.run("materialize").exit_code == 0
    logs = project.root / "warehouse" / "logs"
    [folder] = [p for p in logs.iterdir() if p.is_dir()]
    old = time.time() - 40 * 86400  # older than log_retention_days (30)
    os.utime(folder, (old, old))
    done = project.run("prune", now="2020-01-01T00:00:00")  # --now long before the clock
    assert done.exit_code == 0, done.output
    assert not folder.exists()
