"""Every --json output parses and matches its one documented schema (assetflow/cli/schemas.py,
rendered in docs/cli.md)."""

import json

import click
import jsonschema
import pytest
from conftest import Project, write_events

from assetflow.cli import cli
from assetflow.cli.clidoc import _commands
from assetflow.cli.schemas import OUTPUTS

CHECKED = """
from assetflow import RetryPolicy, asset, daily, expression, schedule

@asset(partitions=daily("2024-01-01", "2024-01-10"), checks=[expression("value >= 0", severity="warn")],
       retry=RetryPolicy(max_retries=1, delay=0, jitter="none"))
def checked(ctx, doubled):
    if ctx.partition == "2024-01-05":
        raise ConnectionError("flaky")
    return "SELECT * FROM doubled"

nightly = schedule("nightly", "0 3 * * *", ["doubled"])
"""

PINNED = """
from assetflow import asset_test

doubles = asset_test(
    "doubled", partition="2024-01-02", key=["user_id"],
    given={"events": [{"user_id": 1, "value": 2}, {"user_id": 2, "value": 5}]},
    expect=[{"user_id": 1, "value": 4}, {"user_id": 2, "value": 11}],
)
"""


def json_of(project: Project, *args: str):
    result = project.run(*args)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.output)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    from conftest import FIXTURES, make_project

    project = make_project(tmp_path_factory.mktemp("json") / "p", FIXTURES / "diamond")
    for day in range(1, 11):
        write_events(project, f"2024-01-{day:02d}", [(1, day), (2, -day)])
    project.write("definitions/checked.py", CHECKED)
    project.write("definitions/pinned.py", PINNED)
    assert project.run("backfill", "--from", "2024-01-01", "--to", "2024-01-10").exit_code == 1
    [(run_id,)] = project.query("SELECT run_id FROM assetflow.runs")
    write_events(project, "2024-01-02", [(1, 2), (2, -2), (3, 7)])
    project.write(
        "definitions/keyed.py",
        'from assetflow import asset, dynamic\n\n\n@asset(partitions=dynamic("regions"))\n'
        'def by_region(ctx):\n    return "SELECT 1 AS x"\n',
    )
    assert project.run("partitions", "add", "regions", "eu", "us").exit_code == 0
    assert project.run("env", "create", "dev").exit_code == 0
    found = {
        "assets": json_of(project, "assets", "--json"),
        "materialize --dry-run": json_of(project, "materialize", "--dry-run", "--json", "--nodes"),
        "backfill --dry-run": json_of(
            project,
            "backfill",
            "--from",
            "2024-01-01",
            "--to",
            "2024-01-10",
            "--dry-run",
            "--json",
        ),
        "status": json_of(project, "status", "--json"),
        "why": json_of(project, "why", "checked", "2024-01-05", "--json"),
        "lineage": json_of(project, "lineage", "combined", "--columns", "--json"),
        "backfill status": json_of(project, "backfill", "status", "--json"),
        "tick": json_of(project, "tick", "--json", "--now", "2024-01-04T03:00:00"),
        "checks": json_of(project, "checks", "--json"),
        "check": json_of(project, "check", "checked", "--json"),
        "runs": json_of(project, "runs", "--json"),
        "runs show": json_of(project, "runs", "show", run_id, "--json"),
        "sql": json_of(project, "sql", "SELECT * FROM doubled", "--json"),
        "partitions list": json_of(project, "partitions", "list", "--json"),
        "test": json_of(project, "test", "--json"),
        "env list": json_of(project, "env", "list", "--json"),
    }
    project.write(  # an asset only the environment has built
        "definitions/new_in_dev.py",
        'from assetflow import asset\n\n\n@asset\ndef new_in_dev(ctx):\n    return "SELECT 1 AS x"\n',
    )
    assert project.run("--env", "dev", "materialize", "new_in_dev").exit_code == 0
    found["env diff"] = json_of(project, "env", "diff", "dev", "--json")
    (project.root / "definitions" / "new_in_dev.py").unlink()
    return found


@pytest.mark.parametrize("command", sorted(OUTPUTS))
def test_the_output_matches_its_schema(outputs, command):
    found = outputs[command]
    assert found, f"{command} printed nothing to check"
    jsonschema.validate(found, OUTPUTS[command])


def test_every_json_option_has_a_documented_schema():
    with_json = {
        path.removeprefix("assetflow ")
        for path, command in _commands(cli, "assetflow")
        if any(isinstance(p, click.Option) and "--json" in p.opts for p in command.params)
    }
    documented = {c.removesuffix(" --dry-run") for c in OUTPUTS}
    assert with_json == documented


def test_records_read_the_same_everywhere(outputs):
    [run] = [r for r in outputs["runs"]]
    assert run["selection"]["from"] == "2024-01-01"  # an object, not JSON in a string
    failing = [c for c in outputs["checks"] if not c["passed"]]
    assert failing and all(isinstance(c["samples"], list) for c in failing)
    stored = [r for r in outputs["check"] if not r["passed"]]
    assert stored and set(stored[0]) == set(failing[0])  # one shape for a check's result
