"""Assets that change shape (issue 15): nothing turns a schema change into silent NULLs."""

import json

import pytest


@pytest.fixture
def project(on_each_storage):
    """Every scenario here holds on both storages (the parity suite)."""
    return on_each_storage


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
    assert "asset evo_down reads column v of evo, which it no longer returns" in result.output
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


TYPED = """
from assetflow import asset, daily

DAYS = daily("2024-01-01", "2024-01-05")


@asset(partitions=DAYS)
def evo(ctx):
    return f"SELECT DATE '{ctx.partition}' AS day, {VALUE} AS v"


@asset(partitions=DAYS)
def evo_down(ctx, evo):
    return "SELECT day, v FROM evo"
"""


def _statuses(project, asset):
    """partition -> (status, causes) of one asset's nodes that are not fresh."""
    report = json.loads(project.run("status", "--json", asset).output)["assets"][0]
    return {n["partition"]: (n["status"], n["causes"]) for n in report["nodes"]}


def test_a_castable_type_change_is_cast_in_place(project):
    project.write("definitions/evo.py", TYPED.replace("{VALUE}", "1"))
    assert project.run("materialize").exit_code == 0
    project.write("definitions/evo.py", TYPED.replace("{VALUE}", "'one'"))
    result = project.run("materialize", "evo", "--from", "2024-01-01", "--to", "2024-01-01")
    assert result.exit_code == 0, result.output
    assert "schema: evo: column v INTEGER -> VARCHAR" in result.output
    assert project.query(
        "SELECT data_type FROM information_schema.columns WHERE table_name = 'evo' AND column_name = 'v'"
    ) == [("VARCHAR",)]
    rows = project.query("SELECT _partition, v FROM evo ORDER BY 1")
    assert rows == [("2024-01-01", "one")] + [(f"2024-01-0{d}", "1") for d in range(2, 6)]
    statuses = _statuses(project, "evo")
    assert "2024-01-01" not in statuses  # fresh
    assert statuses["2024-01-03"] == ("stale", ["code_changed", "schema_changed"])
    why = project.run("why", "evo", "2024-01-03")
    assert "changed shape" in why.output and "v INTEGER -> VARCHAR" in why.output
    # Everything else follows with one more materialize: nothing is left to repair by hand.
    assert project.run("materialize").exit_code == 0
    assert project.query("SELECT count(*) FROM evo_down WHERE v = 'one'") == [(5,)]
    assert _statuses(project, "evo_down") == {}


def test_values_that_cannot_be_cast_leave_their_partitions_missing_and_the_run_says_so(project):
    project.write("definitions/evo.py", TYPED.replace(
        "{VALUE} AS v", "{'x' if ctx.partition == '2024-01-03' else '7'!r} AS v"))  # fmt: skip
    assert project.run("materialize").exit_code == 0
    assert project.query("SELECT v FROM evo WHERE _partition = '2024-01-03'") == [("x",)]
    project.write("definitions/evo.py", TYPED.replace("{VALUE}", "7::INTEGER"))
    result = project.run("materialize", "evo", "--from", "2024-01-01", "--to", "2024-01-01")
    assert result.exit_code == 0, result.output
    assert "v VARCHAR -> INTEGER" in result.output
    assert "1 partition (2024-01-03) held values that could not be converted" in result.output
    assert project.query(
        "SELECT data_type FROM information_schema.columns WHERE table_name = 'evo' AND column_name = 'v'"
    ) == [("INTEGER",)]
    assert project.query("SELECT count(*) FROM evo WHERE _partition = '2024-01-03'") == [(0,)]
    assert project.query("SELECT count(*) FROM evo WHERE v = 7") == [(4,)]
    assert _statuses(project, "evo")["2024-01-03"] == ("missing", ["missing"])
    down = _statuses(project, "evo_down")["2024-01-03"]
    assert down[0] == "stale" and "upstream_changed" in down[1]
    # One materialize brings everything back, with the new type.
    assert project.run("materialize").exit_code == 0
    assert project.query("SELECT count(*) FROM evo_down WHERE v = 7") == [(5,)]


REFRESH = """
from assetflow import asset, daily

DAYS = daily("2024-01-01", "2024-01-05")


@asset(partitions=DAYS)
def evo(ctx):
    if ctx.partition == BAD:
        return "SELECT DATE '2024-01-03' AS day, 'x'::INTEGER AS v"  # a data error
    return f"SELECT DATE '{ctx.partition}' AS day, {VALUE} AS v"
"""


def test_full_refresh_rebuilds_the_table_from_empty_in_one_transaction(project):
    project.write("definitions/evo.py", REFRESH.replace("BAD", "None").replace("{VALUE}", "1"))
    assert project.run("materialize").exit_code == 0
    before = project.query("SELECT * FROM evo ORDER BY _partition")
    # One partition fails: nothing of the refresh lands, the table is as it was.
    project.write(
        "definitions/evo.py", REFRESH.replace("BAD", "'2024-01-03'").replace("{VALUE}", "'a'")
    )
    failed = project.run("materialize", "evo", "--full-refresh")
    assert failed.exit_code == 1, failed.output
    assert project.query("SELECT * FROM evo ORDER BY _partition") == before
    # It works: the table holds exactly the selected partitions, in the new shape.
    project.write("definitions/evo.py", REFRESH.replace("BAD", "None").replace("{VALUE}", "'a'"))
    args = ("materialize", "evo", "--full-refresh", "--from", "2024-01-02", "--to", "2024-01-04")
    plan = project.run(*args, "--dry-run")
    assert "full_refresh" in plan.output
    result = project.run(*args)
    assert result.exit_code == 0, result.output
    assert "(2024-01-01, 2024-01-05) were removed and are missing" in result.output
    assert project.query("SELECT _partition, v FROM evo ORDER BY 1") == [
        ("2024-01-02", "a"), ("2024-01-03", "a"), ("2024-01-04", "a")
    ]  # fmt: skip
    assert project.query("SELECT column_name, column_type FROM (DESCRIBE evo)") == [
        ("day", "DATE"), ("v", "VARCHAR"), ("_partition", "VARCHAR")
    ]  # fmt: skip
    statuses = _statuses(project, "evo")
    # Their rows are gone (their last attempt, in the failed refresh, failed too).
    assert sorted(statuses) == ["2024-01-01", "2024-01-05"]
    assert all("missing" in causes for _, causes in statuses.values())
    lineage = project.query(
        "SELECT count(DISTINCT run_id) FROM assetflow.materializations WHERE data_version IS NOT NULL AND partition BETWEEN '2024-01-02' AND '2024-01-04' AND code_version = (SELECT max_by(code_version, materialization_id) FROM assetflow.materializations WHERE data_version IS NOT NULL)"
    )
    assert lineage == [(1,)]


def test_a_dry_run_says_which_tables_change_shape_and_how(project):
    project.write("definitions/evo.py", EVO)
    assert project.run("materialize").exit_code == 0
    project.write("definitions/evo.py", EVO.replace("1 AS v, 2 AS w", "'1' AS v, 2 AS w, 3 AS z"))
    plan = project.run("materialize", "--dry-run")
    assert plan.exit_code == 0, plan.output
    assert "schema: evo: column v INTEGER -> VARCHAR, z INTEGER added" in plan.output
    as_json = json.loads(project.run("materialize", "--dry-run", "--json", "--nodes").output)
    assert as_json["shape_changes"] == ["evo: column v INTEGER -> VARCHAR, z INTEGER added"]
    refresh = project.run("materialize", "evo", "--full-refresh", "--dry-run")
    assert "evo: table rebuilt from empty; partitions not planned are removed" in refresh.output
    # Nothing was written by any of it.
    assert project.query(
        "SELECT data_type FROM information_schema.columns WHERE table_name = 'evo' AND column_name = 'v'"
    ) == [("INTEGER",)]
