"""What a new user hit (issue 13), each seen through the real CLI."""

import json

from conftest import Project

BROKEN = """
from assetflow import asset, daily

DAYS = daily("2024-01-01", "2024-01-10")


@asset(partitions=DAYS)
def broken_sql(ctx, doubled):
    return "SELECT no_such_column FROM doubled"


@asset(partitions=DAYS)
def after_broken(ctx, broken_sql):
    return "SELECT * FROM broken_sql"


@asset(partitions=DAYS)
def good_one(ctx, shifted):
    return "SELECT * FROM shifted"
"""


def attempts(project: Project, asset: str) -> list[tuple]:
    return project.query(
        "SELECT status, attempt, count(*) FROM assetflow.attempts WHERE asset = ?"
        " GROUP BY ALL ORDER BY ALL",
        [asset],
    )


def test_one_sql_mistake_fails_its_asset_and_the_rest_runs(diamond):
    diamond.write("definitions/broken.py", BROKEN)
    result = diamond.run("materialize")
    assert result.exit_code == 2, result.output
    assert "Run " in result.output  # the summary is printed
    assert "broken_sql[2024-01-01]: SQL error" in result.output
    assert "Traceback" not in result.output
    assert diamond.query("SELECT count(DISTINCT _partition) FROM good_one") == [(10,)]
    # One attempt ran into the mistake; the asset's other nodes failed without running.
    assert attempts(diamond, "broken_sql") == [("failed", 0, 9), ("failed", 1, 1)]
    assert attempts(diamond, "after_broken") == [("upstream_failed", 0, 10)]
    status = json.loads(diamond.run("status", "--json", "broken_sql").output)
    assert status["assets"][0]["counts"]["failed"] == 10
