"""Plan correctness when what a node reads changes without a code change (issue 37).

A reader whose set of read partitions changed is `upstream_changed`, whatever mapping made
the set (a multi default reading a dynamic dimension whole, `dims(...=all_partitions())`,
a `key_map`), when it grows and when it shrinks. A node whose window is clipped away
entirely reads an empty input and succeeds on the first run. Real CLI processes.
"""

import json

import pytest
from conftest import Project

NOW = "2024-06-01T00:00:00"

SOURCE = """
from assetflow import asset, daily, dynamic, multi, source

D = daily("2024-01-01", "2024-01-01")


@source(partitions=multi(day=D, customer=dynamic("customers")), path="landing/s/{partition}.csv")
def s(ctx):
    return f"SELECT * FROM read_csv('{ctx.path}')"


@asset(partitions=D)
def by_day(ctx, s):
    return "SELECT g, sum(v) AS v FROM s GROUP BY g"
"""


def ok(project: Project, *args: str) -> str:
    done = project.process(*args, now=NOW)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def plan(project: Project) -> list[tuple[str, str, str]]:
    found = json.loads(ok(project, "materialize", "--dry-run", "--json", "--nodes"))
    return [(n["asset"], n["partition"], n["reason"]) for n in found["nodes"]]


def land(project: Project, values: dict[str, int]) -> None:
    for customer, v in values.items():
        project.write(f"landing/s/2024-01-01|{customer}.csv", f"g,v\nx,{v}\n")


@pytest.mark.slow
def test_a_key_added_or_removed_restales_a_reader_of_the_whole_dimension(project):
    project.write("definitions/pipeline.py", SOURCE)
    land(project, {"acme": 1, "bolt": 10, "cog": 100})
    ok(project, "partitions", "add", "customers", "acme", "bolt")
    ok(project, "materialize")
    assert project.query("SELECT v FROM by_day") == [(11,)]

    ok(project, "partitions", "add", "customers", "cog")
    assert plan(project) == [("by_day", "2024-01-01", "upstream_changed")]
    ok(project, "materialize")
    assert project.query("SELECT v FROM by_day") == [(111,)]

    removed = ok(project, "partitions", "remove", "customers", "acme")
    assert "rows stay in" not in removed  # s is a source: it holds no rows
    assert plan(project) == [("by_day", "2024-01-01", "upstream_changed")]
    ok(project, "materialize")
    assert project.query("SELECT v FROM by_day") == [(110,)]
    assert plan(project) == []


KEY_MAP = """
from assetflow import asset, dynamic, key_map, source, static


@source(partitions=dynamic("customers"), path="landing/c/{partition}.csv")
def c(ctx):
    return f"SELECT * FROM read_csv('{ctx.path}')"


@asset(partitions=static("eu", "us", "apac"),
       deps={"c": key_map({"eu": ["bolt"], "us": ["acme", "cog"], "apac": ["acme", "bolt"]})})
def regional(ctx, c):
    return "SELECT coalesce(sum(v), 0) AS v FROM c"
"""


@pytest.mark.slow
def test_a_key_map_reader_follows_the_keys_it_names(project):
    project.write("definitions/pipeline.py", KEY_MAP)
    for customer, v in {"acme": 1, "bolt": 10, "cog": 100}.items():
        project.write(f"landing/c/{customer}.csv", f"v\n{v}\n")
    ok(project, "partitions", "add", "customers", "acme", "bolt")
    ok(project, "materialize")
    totals = "SELECT _partition, v FROM regional ORDER BY 1"
    assert project.query(totals) == [("apac", 11), ("eu", 10), ("us", 1)]

    ok(project, "partitions", "remove", "customers", "bolt")  # eu and apac read it
    assert sorted(plan(project)) == [
        ("regional", "apac", "upstream_changed"), ("regional", "eu", "upstream_changed")
    ]  # fmt: skip
    ok(project, "partitions", "add", "customers", "cog")  # the map names it for us
    assert sorted(plan(project)) == [
        ("regional", "apac", "upstream_changed"), ("regional", "eu", "upstream_changed"),
        ("regional", "us", "upstream_changed"),
    ]  # fmt: skip
    ok(project, "materialize")
    assert project.query(totals) == [("apac", 1), ("eu", 0), ("us", 101)]


THROUGH_ASSETS = """
from assetflow import asset, daily, dims, all_partitions, dynamic, hourly, multi, static

DAYS = daily("2024-01-01", "2024-01-03")
SALES = multi(day=DAYS, customer=dynamic("customers"))


@asset(partitions=SALES)
def sales(ctx):
    return f"SELECT length('{ctx.dims['customer']}') AS amount"


@asset(partitions=hourly("2024-01-01T00", "2024-01-03T23"))
def per_hour(ctx, sales):  # an hour reads its day in every customer
    return "SELECT sum(amount) AS amount FROM sales"


@asset(partitions=multi(day=DAYS, region=static("eu")), deps={"sales": dims(customer=all_partitions())})
def region_day(ctx, sales):
    return "SELECT sum(amount) AS amount FROM sales"
"""


@pytest.mark.slow
def test_readers_through_assets_follow_the_key_set(project):
    project.write("definitions/pipeline.py", THROUGH_ASSETS)
    ok(project, "partitions", "add", "customers", "acme", "bo")
    ok(project, "materialize")
    assert project.query("SELECT DISTINCT amount FROM per_hour") == [(6,)]

    ok(project, "partitions", "remove", "customers", "bo")
    planned = plan(project)
    assert len(planned) == 72 + 3
    assert {reason for _, _, reason in planned} == {"upstream_changed"}

    ok(project, "partitions", "add", "customers", "cogs")  # new sales nodes are missing
    planned = plan(project)
    assert [p for p in planned if p[0] == "sales"] == [
        ("sales", f"2024-01-0{d}|cogs", "missing") for d in (1, 2, 3)
    ]
    readers = [p for p in planned if p[0] != "sales"]
    assert len(readers) == 72 + 3
    assert {reason for _, _, reason in readers} == {"upstream_changed"}
    report = json.loads(ok(project, "materialize", "--dry-run", "--json", "--nodes"))
    assert not any(n["conditional"] for n in report["nodes"])
    ok(project, "materialize")
    assert project.query("SELECT DISTINCT amount FROM per_hour") == [(8,)]
    assert project.query("SELECT DISTINCT amount FROM region_day") == [(8,)]


CLIPPED = """
from assetflow import all_partitions, asset, daily, window

D = daily("2024-01-01", "2024-01-03")


@asset(partitions=D)
def a0(ctx):
    return f"SELECT DATE '{ctx.partition}' AS day"


@asset(partitions=D, deps={"a0": all_partitions()})
def a1(ctx, a0):
    return "SELECT count(*) AS n FROM a0"


@asset(partitions=D, deps={"a1": window(-1, -1)})
def a2(ctx, a1):  # its first day reads no partition of a1
    return "SELECT count(*) AS n FROM a1"
"""


@pytest.mark.slow
def test_a_window_clipped_away_reads_nothing_on_the_first_run(project):
    project.write("definitions/pipeline.py", CLIPPED)
    done = project.process("materialize", now=NOW)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "9 of 9 nodes materialized" in done.stdout
    assert project.query("SELECT _partition, n FROM a2 ORDER BY 1") == [
        ("2024-01-01", 0), ("2024-01-02", 1), ("2024-01-03", 1)
    ]  # fmt: skip
    assert plan(project) == []
