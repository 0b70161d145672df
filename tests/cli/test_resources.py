"""Resources (issue 35 item 3): declared once, handed to assets by parameter or through
`ctx.resources`, with values per environment; plain values count toward the code version,
secrets and factories do not."""

import json

import pytest
from conftest import FIXTURES, make_project

NOW = "2024-03-01T00:00:00"


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSETFLOW_TEST_TOKEN", "s3cret")
    made = make_project(tmp_path / "p", FIXTURES / "resources")
    assert made.run("materialize", now=NOW).exit_code == 0
    return made


def stale(project, *env: str) -> dict[str, int]:
    found = json.loads(project.run(*env, "status", "--json", now=NOW).output)
    return {a["asset"]: a["counts"]["stale"] for a in found["assets"]}


def test_a_value_per_environment_reaches_the_asset(project):
    assert project.query("SELECT DISTINCT label, client, token_length FROM main.tagged") == [
        ("production", "prod", 6)
    ]
    assert project.run("env", "create", "dev", now=NOW).exit_code == 0
    # dev's label differs: what prod built is not what dev would build
    assert stale(project, "--env", "dev") == {"tagged": 5, "plain": 5}
    assert stale(project) == {"tagged": 0, "plain": 0}
    assert project.run("--env", "dev", "materialize", now=NOW).exit_code == 0
    assert project.query("SELECT DISTINCT label, client FROM dev.tagged") == [
        ("development", "dev")
    ]
    assert project.query("SELECT DISTINCT label FROM main.tagged") == [("production",)]


def test_a_secret_is_read_when_used_and_never_stales(project, monkeypatch):
    monkeypatch.setenv("ASSETFLOW_TEST_TOKEN", "another secret")
    assert stale(project) == {"tagged": 0, "plain": 0}
    monkeypatch.delenv("ASSETFLOW_TEST_TOKEN")
    result = project.run("materialize", "tagged", "--partition", "2024-02-01", "--force", now=NOW)
    assert result.exit_code == 2  # a definition's mistake: never retried
    assert "the environment variable ASSETFLOW_TEST_TOKEN is not set" in result.output
    assert "s3cret" not in (project.root / "warehouse").joinpath(
        "warehouse.duckdb"
    ).read_bytes().decode("latin-1")


def test_resource_mistakes_are_one_line(project):
    path = project.root / "definitions" / "assets.py"
    text = path.read_text()
    path.write_text(text.replace('"token", "client"]', '"token", "client", "nope"]'))
    result = project.run("status", now=NOW)
    assert result.exit_code == 2 and "no resource named 'nope'" in result.output
    path.write_text(text.replace("ctx.resources.token", "ctx.resources.label_typo"))
    result = project.run("materialize", "tagged", "--force", now=NOW)
    assert result.exit_code == 2
    assert "uses resource label_typo without declaring it" in result.output
