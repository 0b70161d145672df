"""Dependencies and column lineage read from SQL (issue 19, sqlglot)."""

import json

import pytest

from assetflow.core.sql_lineage import column_lineage, tables_read

SCHEMA = {
    "flights": {"carrier": "VARCHAR", "dep_delay": "INTEGER", "day": "DATE", "origin": "VARCHAR"},
    "carriers": {"carrier": "VARCHAR", "name": "VARCHAR"},
}


@pytest.mark.parametrize(
    "sql,tables",
    [
        ("SELECT * FROM flights", ("flights",)),
        ("WITH f AS (SELECT * FROM flights) SELECT * FROM f", ("flights",)),
        ("SELECT * FROM (SELECT carrier FROM flights) s JOIN carriers USING (carrier)",
         ("carriers", "flights")),
        ("SELECT * FROM read_csv('x.csv') JOIN carriers USING (carrier)", ("carriers",)),
        ("SELECT carrier, row_number() OVER (ORDER BY day) FROM main.flights", ("flights",)),
    ],
)  # fmt: skip
def test_the_tables_a_query_reads(sql, tables):
    assert tables_read(sql) == tables


def test_column_lineage_follows_ctes_and_marks_columns_used_only_to_filter():
    found = column_lineage(
        "WITH f AS (SELECT carrier, dep_delay, day FROM flights WHERE origin = 'JFK')"
        " SELECT f.carrier, c.name, avg(dep_delay) AS delay, count(*) AS n"
        " FROM f JOIN carriers c USING (carrier) WHERE day > DATE '2013-01-01'"
        " GROUP BY f.carrier, c.name HAVING count(*) > 3"
        " QUALIFY row_number() OVER (ORDER BY avg(dep_delay)) < 5",
        SCHEMA,
    )
    assert dict(found.outputs) == {
        "carrier": (("flights", "carrier"),),
        "name": (("carriers", "name"),),
        "delay": (("flights", "dep_delay"),),
        "n": (),
    }
    assert set(found.filter_only()) == {
        ("carriers", "carrier"), ("flights", "day"), ("flights", "origin")
    }  # fmt: skip


def test_star_and_window_functions():
    star = column_lineage("SELECT * FROM carriers", SCHEMA)
    assert dict(star.outputs) == {
        "carrier": (("carriers", "carrier"),),
        "name": (("carriers", "name"),),
    }
    window = column_lineage(
        "SELECT carrier, sum(dep_delay) OVER (PARTITION BY carrier ORDER BY day) AS running"
        " FROM (SELECT * FROM flights WHERE origin = 'EWR') s",
        SCHEMA,
    )
    assert dict(window.outputs)["running"] == (
        ("flights", "carrier"), ("flights", "day"), ("flights", "dep_delay")
    )  # fmt: skip
    assert window.filters == (("flights", "origin"),)


PIPELINE = """
from assetflow import asset, daily

DAYS = daily("2024-01-01", "2024-01-03")


@asset(partitions=DAYS)
def orders(ctx):
    return f"SELECT DATE '{ctx.partition}' AS day, 'acme' AS customer, 3 AS n, 'EU' AS region"


@asset(partitions=DAYS)
def totals(ctx, orders):
    return "SELECT customer, sum(n) AS n FROM orders WHERE region = 'EU' GROUP BY customer"
"""


SNEAKY = """

@asset(partitions=DAYS)
def sneaky(ctx):
    return "SELECT count(*) AS n FROM orders"
"""


def test_an_undeclared_read_fails_and_an_unread_dependency_is_a_warning(project):
    project.write(
        "definitions/pipeline.py",
        PIPELINE
        + SNEAKY
        + """

@asset(partitions=DAYS)
def idle(ctx, orders):
    return "SELECT 1 AS one"
""",
    )
    result = project.run("materialize")
    assert result.exit_code == 2, result.output
    assert "asset sneaky reads orders in its SQL but does not declare it" in result.output
    assert "pipeline.py:" in result.output
    assert "asset idle declares orders but its SQL never reads it" in result.output
    assert project.query("SELECT count(*) FROM totals") == [(3,)]  # the others ran


def test_an_undeclared_read_fails_on_each_storage(on_each_storage):
    """The one worker checks an SQL asset's reads whatever the storage (Delta did not)."""
    on_each_storage.write("definitions/pipeline.py", PIPELINE + SNEAKY)
    result = on_each_storage.run("materialize")
    assert result.exit_code == 2, result.output
    assert "asset sneaky reads orders in its SQL but does not declare it" in result.output


def test_lineage_columns_and_a_dry_run_naming_what_a_removed_column_breaks(project):
    project.write("definitions/pipeline.py", PIPELINE)
    assert project.run("materialize").exit_code == 0
    shown = project.run("lineage", "totals", "--columns")
    assert shown.exit_code == 0, shown.output
    assert "orders.customer" in shown.output and "orders.region (only to filter)" in shown.output
    found = json.loads(project.run("lineage", "totals", "--columns", "--json").output)
    assert found["columns"] == [
        {"column": "customer", "from": [{"table": "orders", "column": "customer"}]},
        {"column": "n", "from": [{"table": "orders", "column": "n"}]},
    ]
    assert {"table": "orders", "column": "region", "only_filter": True} in found["filters"]
    project.write("definitions/pipeline.py", PIPELINE.replace(", 'EU' AS region", ""))
    plan = project.run("materialize", "--dry-run")
    assert "totals reads region of orders, which it will no longer return" in plan.output
    python = project.run("lineage", "orders", "--columns")
    assert python.exit_code == 0  # orders is SQL too; a Python asset is refused with one line


def test_a_table_read_only_to_count_its_rows_is_read(project):
    project.write(
        "definitions/pipeline.py",
        PIPELINE
        + """

@asset(partitions=DAYS)
def counted(ctx, orders):
    return "SELECT count(*) AS n FROM orders"
""",
    )
    result = project.run("materialize")
    assert result.exit_code == 0 and "never reads" not in result.output
    found = json.loads(project.run("lineage", "counted", "--columns", "--json").output)
    assert found["columns"] == [{"column": "n", "from": []}]
    assert found["declared_not_read"] == []
