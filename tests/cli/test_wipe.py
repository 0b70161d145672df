"""Wiping partitions (issue 19): rows and lineage go in one transaction; exactly those nodes
are missing, their readers stale, everything else unchanged."""

import json

import pytest


@pytest.fixture
def project(on_each_storage):
    """Every scenario here holds on both storages (the parity suite)."""
    return on_each_storage


PIPELINE = """
from assetflow import asset, daily, dynamic, window

DAYS = daily("2024-01-01", "2024-01-14")


@asset(partitions=DAYS)
def events(ctx):
    return f"SELECT DATE '{ctx.partition}' AS day, r AS n FROM range(3) t(r)"


@asset(partitions=DAYS, deps={"events": window(-1, 0)})
def rolling(ctx, events):
    return "SELECT max(day) AS day, count(*) AS n FROM events"


@asset(partitions=DAYS)
def other(ctx):
    return f"SELECT DATE '{ctx.partition}' AS day"


@asset(partitions=dynamic("customers"))
def orders(ctx):
    return f"SELECT '{ctx.partition}' AS customer"
"""


def _nodes(project):
    """(asset, partition) -> (status, causes) for every non-fresh node."""
    report = json.loads(project.run("status", "--json").output)
    return {
        (a["asset"], n["partition"]): (n["status"], tuple(n["causes"]))
        for a in report["assets"]
        for n in a["nodes"]
    }


def test_a_wiped_partition_is_missing_and_its_readers_stale(project):
    project.write("definitions/pipeline.py", PIPELINE)
    assert project.run("materialize").exit_code == 0
    assert _nodes(project) == {}
    wiped = project.run("wipe", "events", "--partition", "2024-01-05")
    assert wiped.exit_code == 0, wiped.output
    assert "wiped events 2024-01-05: 1 partition, 3 rows" in wiped.output
    assert "their readers are stale: rolling" in wiped.output
    assert project.query("SELECT count(*) FROM events WHERE day = '2024-01-05'") == [(0,)]
    assert project.query("SELECT count(*) FROM events") == [(39,)]
    assert _nodes(project) == {
        ("events", "2024-01-05"): ("missing", ("missing",)),
        ("rolling", "2024-01-05"): ("stale", ("upstream_changed", "upstream_stale")),
        ("rolling", "2024-01-06"): ("stale", ("upstream_changed", "upstream_stale")),
    }
    again = project.run("wipe", "events", "--partition", "2024-01-05")
    assert again.exit_code == 0 and "nothing to wipe" in again.output
    runs = json.loads(project.run("runs", "--json").output)
    assert [r["trigger"] for r in runs].count("wipe") == 1
    plan = json.loads(project.run("materialize", "--dry-run", "--json", "--nodes").output)
    assert [(n["asset"], n["partition"]) for n in plan["nodes"]] == [
        ("events", "2024-01-05"), ("rolling", "2024-01-05"), ("rolling", "2024-01-06"),
    ]  # fmt: skip
    again = project.run("materialize")
    assert again.exit_code == 0, again.output
    assert _nodes(project) == {}


def test_a_large_wipe_asks_first_and_refuses_without_a_terminal(project):
    project.write("definitions/pipeline.py", PIPELINE)
    assert project.run("materialize").exit_code == 0
    refused = project.run("wipe", "events", "other", "--from", "2024-01-01", "--to", "2024-01-07")
    assert refused.exit_code == 2
    assert "the wipe removes 14 partitions, above 10" in refused.output
    assert project.query("SELECT count(*) FROM events") == [(42,)]
    assert _nodes(project) == {}
    done = project.run("wipe", "events", "other", "--from", "2024-01-01", "--to", "2024-01-07",
                       "--yes")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "wiped other 2024-01-01..2024-01-07: 7 partitions, 7 rows" in done.output
    missing = [k for k, (status, _) in _nodes(project).items() if status == "missing"]
    assert len(missing) == 14
    assert project.run("wipe").exit_code == 2  # no selection: never everything by default


def test_a_removed_keys_rows_stay_until_wiped(project):
    project.write("definitions/pipeline.py", PIPELINE)
    project.run("partitions", "add", "customers", "acme", "bolt")
    assert project.run("materialize", "orders").exit_code == 0
    project.run("partitions", "remove", "customers", "acme")
    assert project.query("SELECT customer FROM orders ORDER BY 1") == [("acme",), ("bolt",)]
    unknown = project.run("materialize", "orders", "--partition", "acme")
    assert unknown.exit_code == 2  # a removed key selects no partition of today
    wiped = project.run("wipe", "orders", "--partition", "acme")
    assert wiped.exit_code == 0, wiped.output
    assert project.query("SELECT customer FROM orders") == [("bolt",)]
