"""Contracts (issue 15): `@asset(columns=...)` is checked before anything is written."""

import pytest


@pytest.fixture
def project(on_each_storage):
    """Every scenario here holds on both storages (the parity suite)."""
    return on_each_storage


CONTRACT = """
from assetflow import asset, daily

DAYS = daily("2024-01-01", "2024-01-03")


@asset(partitions=DAYS, columns={"carrier": "VARCHAR NOT NULL", "flights": "BIGINT"})
def per_carrier(ctx):
    return f"SELECT {SELECT}"
"""

GOOD = "'AA' AS carrier, count(*) AS flights FROM range(3)"


def _write(project, select):
    project.write("definitions/per_carrier.py", CONTRACT.replace("{SELECT}", select))


def test_the_table_is_created_from_the_contract(project):
    _write(project, GOOD)
    result = project.run("materialize")
    assert result.exit_code == 0, result.output
    if project.storage == "delta":  # NOT NULL in the Delta table's schema
        from deltalake import DeltaTable

        fields = DeltaTable(str(project.root / "lake" / "per_carrier")).schema().fields
        assert [(f.name, f.nullable) for f in fields][:2] == [("carrier", False), ("flights", True)]
    else:
        described = project.query(
            'SELECT column_name, column_type, "null" FROM (DESCRIBE per_carrier)'
        )
        assert described[:2] == [("carrier", "VARCHAR", "NO"), ("flights", "BIGINT", "YES")]
    assert project.query("SELECT count(*) FROM per_carrier WHERE flights = 3") == [(3,)]


@pytest.mark.parametrize(
    ("select", "message"),
    [
        ("count(*) AS flights FROM range(3)", "it does not return column carrier (VARCHAR)"),
        (
            GOOD.replace(" FROM", ", 1 AS extra FROM"),
            "it returns column extra, which the contract does not list",
        ),
        ("'AA' AS carrier, 3 AS flights", "column flights is INTEGER, the contract says BIGINT"),
        ("NULL::VARCHAR AS carrier, 3::BIGINT AS flights", "NULL in NOT NULL column carrier"),
    ],
    ids=["missing", "extra", "wrong type", "not null"],
)
def test_a_broken_contract_is_one_line_never_retried_and_writes_nothing(project, select, message):
    _write(project, select)
    result = project.run("materialize")
    assert result.exit_code == 1, result.output
    assert f"asset per_carrier breaks its contract: {message}" in result.output
    assert "Traceback" not in result.output
    assert "retrying" not in result.output
    tables = project.query(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'per_carrier'"
    )
    rows = project.query("SELECT count(*) FROM per_carrier")[0][0] if tables[0][0] else 0
    assert rows == 0
    assert project.query("SELECT count(*) FROM assetflow.materializations") == [(0,)]
    attempts = project.query("SELECT DISTINCT attempt, error_class FROM assetflow.attempts")
    assert attempts == [(1, "DataError")]


def test_an_unknown_type_in_the_contract_names_it(project):
    project.write(
        "definitions/per_carrier.py",
        CONTRACT.replace("BIGINT", "BIGNUMBER").replace("{SELECT}", GOOD),
    )
    result = project.run("materialize")
    assert result.exit_code == 2, result.output
    assert "gives column flights the type 'BIGNUMBER', which DuckDB does not know" in result.output


def test_not_null_holds_on_a_table_made_before_the_contract(project):
    loose = CONTRACT.replace(', columns={"carrier": "VARCHAR NOT NULL", "flights": "BIGINT"}', "")
    project.write("definitions/per_carrier.py", loose.replace("{SELECT}", GOOD))
    assert project.run("materialize").exit_code == 0
    _write(project, "NULL::VARCHAR AS carrier, 3::BIGINT AS flights")
    result = project.run("materialize")
    assert result.exit_code == 1, result.output
    assert "breaks its contract: NULL in NOT NULL column carrier" in result.output
    assert project.query("SELECT count(*) FROM per_carrier WHERE carrier IS NULL") == [(0,)]
