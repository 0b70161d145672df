"""Unknown names and keys outside every partitioning are errors, never "nothing to do"
(issue 29 item 6): a project with daily, static and unpartitioned assets. Real processes."""

import pytest

PIPELINE = """
from assetflow import asset, daily, static


@asset(partitions=daily("2024-01-01", "2024-01-03"))
def days(ctx):
    return f"SELECT DATE '{ctx.partition}' AS day"


@asset(partitions=static("eu", "us"))
def regions(ctx):
    return f"SELECT '{ctx.partition}' AS region"


@asset
def whole(ctx):
    return "SELECT 1 AS x"
"""


@pytest.mark.slow
def test_a_key_outside_every_time_partitioning_and_an_unknown_asset_are_exit_2(project):
    project.write("definitions/pipeline.py", PIPELINE)
    assert project.process("materialize").returncode == 0
    for args in (
        ("materialize", "--partition", "2099-01-01"),
        ("materialize", "--partition", "2099-01-01", "--force"),
        ("wipe", "days", "--partition", "2099-01-01"),
    ):
        done = project.process(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "no partitions of days between 2099-01-01 and 2099-01-01" in done.stderr, args
    unknown = project.process("checks", "nope")
    assert unknown.returncode == 2 and "unknown asset 'nope'" in unknown.stderr
    # What is in range still works, keyed and unpartitioned assets with it.
    inside = project.process("materialize", "--partition", "2024-01-02", "--force")
    assert inside.returncode == 0 and "4 of 4 nodes materialized" in inside.stdout
    keyed = project.process("materialize", "regions", "--partition", "eu", "--force")
    assert keyed.returncode == 0 and "1 of 1 nodes" in keyed.stdout
