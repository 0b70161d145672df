"""Group commit: adjacent ready partitions of one asset written in one transaction, each
recorded as if it had run alone; a group that fails is run again node by node."""

import json

from conftest import diamond_project

FAILS_ON_THE_4TH = """
from assetflow import asset, daily

@asset(partitions=daily("2024-01-01", "2024-01-10"))
def checked(ctx, doubled):
    # The 4th overflows in the engine, inside the group's one INSERT: not one call's error.
    factor = 2147483647 if ctx.partition == "2024-01-04" else 1
    return f"SELECT user_id, value::INTEGER * {factor}::INTEGER AS value FROM doubled"
"""


def diamond_with(tmp_path, name, group_commit):
    return diamond_project(tmp_path / name, f"group_commit = {group_commit}\n")


def lineage(project):
    return project.query(
        "SELECT asset, partition, data_version, row_count, inputs_text, attempt, table_schema"
        " FROM assetflow.materializations ORDER BY asset, partition"
    )


def tasks(project, asset):
    """The distinct start times of an asset's successful attempts: one per task."""
    return project.query(
        "SELECT DISTINCT started_at FROM assetflow.materializations WHERE asset = ?", [asset]
    )


def test_grouped_partitions_record_what_they_record_one_by_one(tmp_path):
    grouped, alone = diamond_with(tmp_path, "grouped", 32), diamond_with(tmp_path, "alone", 1)
    for project in (grouped, alone):
        assert project.run("materialize", "--concurrency", "1").exit_code == 0
    assert lineage(grouped) == lineage(alone)
    for table in ("doubled", "combined", "recent"):
        rows = f"SELECT * FROM {table} ORDER BY ALL"
        assert grouped.query(rows) == alone.query(rows)
    # Grouped: the first node alone (until one has run, the asset's pace is unknown), then
    # groups as large as its pace allows (its nodes take milliseconds: all the rest, unless
    # the machine stalls). One task per node with group_commit = 1.
    assert len(tasks(grouped, "doubled")) < 10 and len(tasks(alone, "doubled")) == 10
    # Fresh afterwards, node by node, and the next run has nothing to do.
    status = json.loads(grouped.run("status", "--json").output)
    assert all(set(a["counts"].values()) - {0} == {a["counts"]["fresh"]} for a in status["assets"])
    again = json.loads(grouped.run("materialize", "--dry-run", "--json", "--nodes").output)
    assert again["nodes"] == []


def test_a_group_whose_write_fails_runs_again_node_by_node(tmp_path):
    project = diamond_with(tmp_path, "failing", 32)
    project.write("definitions/checked.py", FAILS_ON_THE_4TH)
    result = project.run("materialize", "checked", "--concurrency", "1")
    assert result.exit_code == 1, result.output
    assert "failed checked[2024-01-04]: DataError" in result.output
    tries = project.query(
        "SELECT partition, attempt, status FROM assetflow.attempts WHERE asset = 'checked'"
        " AND attempt > 0 ORDER BY partition"
    )
    expected = [(f"2024-01-{d:02d}", 1, "success") for d in range(1, 11) if d != 4]
    assert [t for t in tries if t[0] != "2024-01-04"] == expected
    assert [t for t in tries if t[0] == "2024-01-04"] == [("2024-01-04", 1, "failed")]
    assert project.query("SELECT count(*) FROM checked") == [(27,)]
    [log] = (project.root / "warehouse" / "logs").rglob("checked/2024-01-0*..2024-01-*.log")
    assert "run again one by one" in log.read_text()  # the group that held the 4th
