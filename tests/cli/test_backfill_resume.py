"""A forced backfill that stopped resumes (issue 29 item 5): the same command after a failure
rebuilds what is left, not what its earlier run rebuilt; once it finished, the same command
forces everything again. Real processes."""

import json

import pytest

PIPELINE = """
import os
from assetflow import asset, daily

DAYS = daily("2024-01-01", "2024-01-10")


@asset(partitions=DAYS)
def a(ctx):
    return f"SELECT DATE '{ctx.partition}' AS day"


@asset(partitions=DAYS)
def b(ctx, a):
    if os.path.exists(f"fail-{ctx.partition}"):
        raise ValueError("not today")
    return "SELECT day FROM a"
"""
BACKFILL = ("backfill", "a+", "--from", "2024-01-01", "--to", "2024-01-10", "--force", "--yes")


def planned(project) -> int:
    found = project.query(
        "SELECT planned FROM assetflow.runs WHERE trigger = 'backfill' ORDER BY started_at DESC LIMIT 1"
    )
    return found[0][0]


@pytest.mark.slow
def test_a_forced_backfill_run_again_resumes_then_forces_anew(project):
    project.write("definitions/pipeline.py", PIPELINE)
    assert project.process("materialize").returncode == 0
    project.write("fail-2024-01-05", "")
    first = project.process(*BACKFILL)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "the same command resumes it" in first.stdout
    assert planned(project) == 20

    (project.root / "fail-2024-01-05").unlink()
    again = project.process(*BACKFILL)
    assert again.returncode == 0, again.stdout + again.stderr
    assert planned(project) == 1  # b[2024-01-05]: the rest was rebuilt by the first run
    status = json.loads(project.process("backfill", "status", "--json").stdout)
    assert status  # the same backfill

    anew = project.process(*BACKFILL)
    assert anew.returncode == 0 and planned(project) == 20  # finished: forced again
