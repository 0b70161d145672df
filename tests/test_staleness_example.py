"""Staleness on the real example, January to March 2013: exactly what changed is rebuilt."""

import json
import os
import shutil

import pytest
from conftest import REPO, Project, make_project

pytestmark = pytest.mark.slow  # the example on real data

RANGE = ("--from", "2013-01-01", "--to", "2013-03-31")


@pytest.fixture(scope="module")
def built(tmp_path_factory, landing) -> Project:
    """The example with January to March materialized once, copied by each test."""
    project = make_project(tmp_path_factory.mktemp("q1") / "p", REPO / "definitions")
    shutil.copytree(landing, project.root / "landing")
    result = project.run("materialize", *RANGE)
    assert result.exit_code == 0, result.output
    return project


@pytest.fixture
def example_q1(built, tmp_path) -> Project:
    root = tmp_path / "q1"
    shutil.copytree(built.root, root, symlinks=False)
    # The example's sources resolve landing/ relative to their own definitions folder.
    return Project(root)


def status_nodes(project: Project) -> dict[str, list[tuple[str, str]]]:
    result = project.run("status", *RANGE, "--json")
    assert result.exit_code == 0, result.output
    out = {}
    for asset in json.loads(result.output)["assets"]:
        if asset["nodes"]:
            out[asset["asset"]] = [(n["partition"], n["status"]) for n in asset["nodes"]]
    return out


def planned(project: Project, *args: str) -> list[tuple[str, str, str]]:
    result = project.run("materialize", *RANGE, "--dry-run", "--json", "--nodes", *args)
    assert result.exit_code == 0, result.output
    return [(n["asset"], n["partition"], n["reason"]) for n in json.loads(result.output)["nodes"]]


def edit_landing(project: Project, day: str, column: str, new_value: str) -> None:
    """Rewrite one landing file with `column` of its first row changed."""
    path = project.root / "landing" / "flights" / f"{day}.csv"
    header, first, *rest = path.read_text().splitlines()
    cells = first.split(",")
    cells[header.split(",").index(column)] = new_value
    path.write_text("\n".join([header, ",".join(cells), *rest]) + "\n")


def test_everything_is_fresh_after_the_build(example_q1):
    assert status_nodes(example_q1) == {}
    result = example_q1.run("materialize", *RANGE)
    assert result.exit_code == 0 and "nothing to do" in result.output


def test_one_changed_landing_file_makes_exactly_its_dependents_stale(example_q1):
    edit_landing(example_q1, "2013-03-15", "dep_delay", "123")
    week = [f"2013-03-{d}" for d in range(15, 22)]
    expected = {
        "raw_flights": [("2013-03-15", "stale")],
        "daily_carrier_delays": [("2013-03-15", "stale")],
        "monthly_carrier_report": [("2013-03", "stale")],
        "rolling_7d_delays": [(d, "stale") for d in week],
        "delays_vs_weather": [("2013-03-15", "stale")],
        "route_stats": [("2013-03-15", "stale")],
        "carrier_punctuality": [("2013-03-15", "stale")],
        "departures_by_origin": [(f"2013-03-15|{o}", "stale") for o in ("EWR", "JFK", "LGA")],
        "departures_all_airports": [("2013-03-15", "stale")],
    }
    assert status_nodes(example_q1) == expected
    plan = planned(example_q1)
    assert {(a, p) for a, p, _ in plan} == {
        (asset, key) for asset, nodes in expected.items() for key, _ in nodes
    }
    assert plan[0][:2] == ("raw_flights", "2013-03-15")  # upstream first
    assert plan[0][2] == "upstream_changed"
    assert {r for _, _, r in plan[1:]} == {"upstream_stale"}
    why = example_q1.run("why", "rolling_7d_delays", "2013-03-18")
    assert why.exit_code == 0
    for fragment in (
        "rolling_7d_delays[2013-03-18] stale",
        "daily_carrier_delays[2013-03-15]",
        "raw_flights[2013-03-15] stale (upstream_changed)",
        "source flights_landing[2013-03-15] changed",
        "landing/flights/2013-03-15.csv",
    ):
        assert fragment in why.output, why.output

    result = example_q1.run("materialize", *RANGE)
    assert result.exit_code == 0, result.output
    ran = example_q1.query(
        "SELECT asset, partition, status FROM assetflow.attempts WHERE run_id ="
        " (SELECT run_id FROM assetflow.runs ORDER BY started_at DESC LIMIT 1) ORDER BY ALL"
    )
    assert {(a, p) for a, p, _ in ran} == {(a, p) for a, p, _ in plan}
    # Every input changed data version (the daily node carries avg_dep_delay): all recompute.
    assert {s for _, _, s in ran} == {"success"}
    assert status_nodes(example_q1) == {}


def test_identical_bytes_or_a_touch_change_nothing(example_q1):
    path = example_q1.root / "landing" / "flights" / "2013-02-10.csv"
    path.write_bytes(path.read_bytes())
    os.utime(path, (1, 1))
    assert status_nodes(example_q1) == {}
    assert planned(example_q1) == []


def test_a_change_that_leaves_an_upstream_identical_is_verified_downstream(example_q1):
    # raw_flights does not select `minute`: its output stays byte-identical.
    edit_landing(example_q1, "2013-02-20", "minute", "59")
    plan = planned(example_q1)
    assert ("raw_flights", "2013-02-20", "upstream_changed") in plan
    result = example_q1.run("materialize", *RANGE)
    assert result.exit_code == 0, result.output
    statuses = example_q1.query(
        "SELECT status, count(*) FROM assetflow.attempts WHERE run_id ="
        " (SELECT run_id FROM assetflow.runs ORDER BY started_at DESC LIMIT 1) GROUP BY 1"
    )
    assert dict(statuses) == {"success": 1, "verified": len(plan) - 1}
    assert "1 of" in result.output and f"{len(plan) - 1} verified" in result.output
    assert status_nodes(example_q1) == {}


def test_a_deleted_landing_file_makes_its_reader_stale(example_q1):
    (example_q1.root / "landing" / "flights" / "2013-01-10.csv").unlink()
    nodes = status_nodes(example_q1)
    assert nodes["raw_flights"] == [("2013-01-10", "stale")]
    result = example_q1.run("materialize", *RANGE)
    assert result.exit_code == 2
    assert "source flights_landing has no data for 2013-01-10" in result.output
