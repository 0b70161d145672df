"""An SQL asset whose query does not parse (issue 29 item 4): the dry run finds it before
anything runs, and the run's error names the asset and its definitions file:line. Real
processes."""

import json

import pytest

NOW = "2024-06-01T00:00:00"

PIPELINE = '''
from assetflow import asset, daily

D = daily("2024-01-01", "2024-01-03")


@asset(partitions=D)
def good(ctx):
    return f"SELECT DATE '{ctx.partition}' AS day"


@asset(partitions=D)
def bad(ctx, good):
    return """SELECT day,
       count(*) AS n
    FROM good GROUP BY (day"""
'''


@pytest.mark.slow
def test_a_query_that_does_not_parse_is_named_before_and_during_the_run(project):
    project.write("definitions/pipeline.py", PIPELINE)
    where = "definitions/pipeline.py:12: asset bad: SQL does not parse"
    dry = project.process("materialize", "--dry-run", now=NOW)
    assert dry.returncode == 2, dry.stdout + dry.stderr
    assert "bad" in dry.stdout  # the plan is still shown
    assert where in dry.stderr
    as_json = project.process("materialize", "--dry-run", "--json", "--nodes", now=NOW)
    assert as_json.returncode == 2
    [problem] = json.loads(as_json.stdout)["problems"]
    assert problem.startswith(where)
    assert not (project.root / "warehouse" / "warehouse.duckdb").exists()  # nothing written

    run = project.process("materialize", now=NOW)
    assert run.returncode == 2
    assert "3 of 6 nodes materialized" in run.stdout  # the run summary, good's nodes built
    assert f"error: {where}" in run.stderr
