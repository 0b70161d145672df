"""Selection by state: `changed`, `stale`, `missing`, `failed`, with `+` (issue 35 item 2),
checked against what `status --json` says of the same project."""

import json

import pytest
from conftest import make_project

import assetflow

BASE = """
from pathlib import Path
from assetflow import asset, daily

FAIL = Path(__file__).resolve().parent.parent / "fail"

DAYS = daily("2024-01-01", "2024-01-03")


@asset(partitions=DAYS)
def edited(ctx):
    return "SELECT {VERSION} AS v"


@asset(partitions=DAYS)
def after_edited(ctx, edited):
    return "SELECT v + 1 AS v FROM edited"


@asset(partitions=DAYS)
def flaky(ctx):
    if FAIL.exists() and ctx.partition == "2024-01-02":
        raise ValueError("broken on purpose")
    return "SELECT 1 AS v"


@asset(partitions=DAYS)
def steady(ctx):
    return "SELECT 1 AS v"
"""
NEW = """
from assetflow import asset

@asset(partitions=DAYS)
def brand_new(ctx):
    return "SELECT 1 AS v"
"""
NOW = "2024-02-01T00:00:00"


@pytest.fixture
def states(tmp_path):
    project = make_project(tmp_path / "p")
    project.write("definitions/p.py", BASE.replace("{VERSION}", "1"))
    assert project.run("materialize", now=NOW).exit_code == 0
    project.write("definitions/p.py", BASE.replace("{VERSION}", "2") + NEW)  # edited, new
    (project.root / "fail").touch()
    assert project.run("materialize", "flaky", "--force", now=NOW).exit_code == 1
    return project


def by_state(project) -> dict[str, set[str]]:
    """What status --json says: the assets with a node in each state, and the code-changed."""
    status = json.loads(project.run("status", "--json", now=NOW).output)
    found: dict[str, set[str]] = {
        "changed": set(),
        "stale": set(),
        "missing": set(),
        "failed": set(),
    }
    for a in status["assets"]:
        for state in ("stale", "missing", "failed"):
            if a["counts"][state]:
                found[state].add(a["asset"])
        if any("code_changed" in n["causes"] for n in a.get("nodes", [])):
            found["changed"].add(a["asset"])
    return found


def selected(project, *selection) -> set[str]:
    plan = project.run(
        "materialize", *selection, "--dry-run", "--json", "--nodes", "--force", now=NOW
    )
    assert plan.exit_code == 0, plan.output
    return {n["asset"] for n in json.loads(plan.output)["nodes"]}


def test_each_state_selects_what_status_says_is_in_it(states):
    expected = by_state(states)
    assert expected == {
        "changed": {"edited"},
        "stale": {"edited", "after_edited"},
        "missing": {"brand_new"},
        "failed": {"flaky"},
    }
    for state, assets in expected.items():
        assert selected(states, state) == assets, state
        assert selected(states, f"state:{state}") == assets, state
    assert selected(states, "changed+") == {"edited", "after_edited"}
    assert selected(states, "failed", "steady") == {"flaky", "steady"}
    listed = json.loads(states.run("status", "failed", "--json", now=NOW).output)
    assert [a["asset"] for a in listed["assets"]] == ["flaky"]


def test_materialize_changed_plus_rebuilds_the_change_and_what_it_feeds(states):
    ran = states.run("materialize", "changed+", now=NOW)
    assert ran.exit_code == 0, ran.output
    assert "6 of 6 nodes materialized" in ran.output  # edited and after_edited, 3 days each
    again = states.run("materialize", "changed+", "--dry-run", now=NOW)
    assert again.exit_code == 0 and "nothing to do: no asset is changed" in again.output


def test_a_state_nothing_is_in_is_nothing_to_do_and_an_unknown_one_an_error(states):
    (states.root / "fail").unlink()
    assert states.run("materialize", "failed", now=NOW).exit_code == 0
    none = states.run("status", "failed", now=NOW)
    assert none.exit_code == 0 and "nothing to do: no asset is failed" in none.output
    unknown = states.run("status", "state:broken", now=NOW)
    assert unknown.exit_code == 2 and "unknown state 'broken'" in unknown.output


def test_the_python_api_selects_by_state_too(states):
    import datetime as dt

    p = assetflow.Pipeline(states.root, now=dt.datetime(2024, 2, 1))
    assert [a["asset"] for a in p.status("failed")["assets"]] == ["flaky"]
    assert {n.node.asset for n in p.plan("changed+").nodes} == {"edited", "after_edited"}
