"""Assets that change shape (issue 15): nothing turns a schema change into silent NULLs."""

import json

EVO = """
from assetflow import asset, daily

DAYS = daily("2024-01-01", "2024-01-05")


@asset(partitions=DAYS)
def evo(ctx):
    return f"SELECT DATE '{ctx.partition}' AS day, 1 AS v, 2 AS w"


@asset(partitions=DAYS)
def evo_down(ctx, evo):
    return "SELECT day, v FROM evo"


@asset(partitions=DAYS)
def evo_other(ctx, evo):
    return "SELECT day, w FROM evo"
"""


def test_a_removed_column_leaves_the_table_and_its_readers_fail_loudly(project):
    project.write("definitions/evo.py", EVO)
    assert project.run("materialize").exit_code == 0
    project.write("definitions/evo.py", EVO.replace(", 1 AS v, 2 AS w", ", 2 AS w"))
    result = project.run("materialize")
    assert result.exit_code == 2, result.output
    assert "evo_down[2024-01-01]: SQL error" in result.output and '"v"' in result.output
    columns = [c for (c,) in project.query("SELECT column_name FROM (DESCRIBE evo)")]
    assert columns == ["day", "w", "_partition"]  # v went with the first write without it
    assert project.query("SELECT count(*) FROM evo_other WHERE w = 2") == [(5,)]
    # The reader kept its old, correct rows: nothing was rebuilt with NULLs.
    assert project.query("SELECT count(*) FROM evo_down WHERE v IS NULL") == [(0,)]
    status = json.loads(project.run("status", "--json", "evo_down").output)["assets"][0]
    assert status["counts"]["failed"] == 5


def test_a_new_column_is_added(project):
    project.write("definitions/evo.py", EVO)
    assert project.run("materialize", "evo").exit_code == 0
    project.write("definitions/evo.py", EVO.replace("2 AS w", "2 AS w, 3 AS x"))
    assert project.run("materialize", "evo").exit_code == 0
    assert project.query("SELECT count(*) FROM evo WHERE x = 3") == [(5,)]
