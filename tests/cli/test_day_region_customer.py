"""Several dimensions end to end (issue 16): day x region x customer, rolled up."""

import json

PIPELINE = """
from assetflow import asset, daily, dims, all_partitions, dynamic, multi, static, window

DAYS = daily("2024-01-01", "2024-01-05")
SALES = multi(day=DAYS, region=static("eu", "us"), customer=dynamic("customers"))


@asset(partitions=SALES)
def sales(ctx):
    d = ctx.dims
    return f\"\"\"SELECT DATE '{ctx.start}' AS day, '{d['region']}' AS region,
                 '{d['customer']}' AS customer, length('{d['customer']}') * 10 AS amount\"\"\"


@asset(partitions=multi(day=DAYS, region=static("eu", "us")))
def region_day(ctx, sales):
    return "SELECT day, region, sum(amount) AS amount, count(*) AS customers FROM sales GROUP BY ALL"


@asset(partitions=DAYS)
def day_total(ctx, region_day):
    return "SELECT day, sum(amount) AS amount FROM region_day GROUP BY ALL"


@asset(partitions=multi(day=DAYS, region=static("eu", "us")), deps={"region_day": window(-2, 0)})
def region_3d(ctx, region_day):
    return "SELECT max(region) AS region, sum(amount) AS amount FROM region_day"


@asset(partitions=dynamic("customers"), deps={"sales": dims(day=all_partitions())})
def customer_total(ctx, sales):
    return "SELECT max(customer) AS customer, sum(amount) AS amount, count(*) AS rows FROM sales"


@asset(partitions=SALES, batch_size=5, partition_by="day")
def sales_batched(ctx, sales):
    return "SELECT day, amount FROM sales"
"""

NOW = "2024-01-10T00:00:00"


def _status(project):
    report = json.loads(project.run("status", "--json", now=NOW).output)
    return {a["asset"]: a for a in report["assets"]}


def test_three_dimensions_roll_up_and_stay_minimal(project):
    project.write("definitions/pipeline.py", PIPELINE)
    assert project.run("partitions", "add", "customers", "acme", "bolt", now=NOW).exit_code == 0
    result = project.run("materialize", now=NOW)
    assert result.exit_code == 0, result.output
    assert project.query("SELECT count(*), sum(amount) FROM sales") == [(5 * 2 * 2, 5 * 2 * 80)]
    assert project.query("SELECT _partition, amount, customers FROM region_day WHERE _partition LIKE '2024-01-02|%' ORDER BY 1") == [
        ("2024-01-02|eu", 80, 2), ("2024-01-02|us", 80, 2)
    ]  # fmt: skip
    assert project.query("SELECT amount FROM day_total WHERE _partition = '2024-01-03'") == [(160,)]
    assert project.query("SELECT amount FROM region_3d WHERE _partition = '2024-01-03|eu'") == [
        (240,)
    ]
    assert project.query("SELECT _partition, amount, rows FROM customer_total ORDER BY 1") == [
        ("acme", 400, 10), ("bolt", 400, 10)
    ]  # fmt: skip
    batched = project.query(
        "SELECT count(*), count(DISTINCT started_at) FROM assetflow.materializations WHERE asset = 'sales_batched'"
    )
    assert batched == [(20, 4)]  # one task per region x customer: 5 days each
    assert project.query("SELECT count(*) FROM sales_batched") == [(20,)]

    # A new customer: exactly its partitions and what reads them.
    project.run("partitions", "add", "customers", "cargo", now=NOW)
    plan = json.loads(project.run("materialize", "--dry-run", "--json", "--nodes", now=NOW).output)
    planned = {}
    for n in plan["nodes"]:
        planned.setdefault(n["asset"], []).append(n["partition"])
    assert sorted(planned["sales"]) == sorted(
        f"2024-01-0{d}|{r}|cargo" for d in range(1, 6) for r in ("eu", "us")
    )
    assert planned["customer_total"] == ["cargo"]
    assert len(planned["region_day"]) == 10 and len(planned["day_total"]) == 5
    assert project.run("materialize", now=NOW).exit_code == 0
    assert project.query("SELECT amount FROM day_total WHERE _partition = '2024-01-03'") == [(260,)]
    assert all(
        a["counts"]["fresh"] == sum(a["counts"].values()) - a["counts"]["late"]
        for a in _status(project).values()
    )

    # --partition with * selects every key of a dimension.
    one = project.run(
        "materialize",
        "sales",
        "--partition",
        "2024-01-02|*|acme",
        "--force",
        "--dry-run",
        "--json",
        "--nodes",
        now=NOW,
    )
    assert [n["partition"] for n in json.loads(one.output)["nodes"]] == [
        "2024-01-02|eu|acme",
        "2024-01-02|us|acme",
    ]
    status = project.run("status", "sales", now=NOW)
    assert status.exit_code == 0 and "sales" in status.output
    bad = project.run("materialize", "sales", "--partition", "2024-01-02|mars|acme", now=NOW)
    assert bad.exit_code == 2 and "unknown partition key 'mars'" in bad.output


def test_a_daily_schedule_runs_yesterday_for_every_key(project):
    project.write("definitions/pipeline.py", PIPELINE)
    project.write(
        "definitions/nightly.py",
        'from assetflow import schedule\nnightly = schedule("nightly", "0 3 * * *", ["sales"])\n',
    )
    project.run("partitions", "add", "customers", "acme", "bolt", now=NOW)
    result = project.run("tick", "--json", now="2024-01-04T03:00:00")
    assert result.exit_code == 0, result.output
    assert project.query("SELECT _partition FROM sales ORDER BY 1") == [
        ("2024-01-03|eu|acme",), ("2024-01-03|eu|bolt",), ("2024-01-03|us|acme",), ("2024-01-03|us|bolt",)
    ]  # fmt: skip


SLA = """
import datetime as dt

from assetflow import asset, daily, multi, static


@asset(
    partitions=multi(day=daily("2024-01-01", "2024-01-05"), region=static("eu", "us")),
    sla=dt.timedelta(hours=6),
)
def regional(ctx):
    return "SELECT 1 AS x"
"""


def test_an_sla_over_several_dimensions_follows_the_time_dimension(project):
    project.write("definitions/regional.py", SLA)
    late = json.loads(project.run("status", "--json", now="2024-01-03T08:00:00").output)
    nodes = late["assets"][0]["nodes"]
    assert sorted(n["partition"] for n in nodes if n.get("late")) == [
        "2024-01-01|eu", "2024-01-01|us", "2024-01-02|eu", "2024-01-02|us"
    ]  # fmt: skip
    assert (
        project.run(
            "materialize", "--partition", "2024-01-02|*", now="2024-01-03T08:00:00"
        ).exit_code
        == 0
    )
    again = json.loads(project.run("status", "--json", now="2024-01-03T08:00:00").output)
    assert again["assets"][0]["counts"]["late"] == 2


ONE_LINE = """
from assetflow import asset, daily, multi, static


@asset(partitions=multi(day=daily("2024-01-01", "2024-01-02"), region=static("eu", "us")))
def tagged(ctx):
    return f"SELECT '{ctx.dims['region']}' AS region, {VALUE} AS v"
"""


def test_a_dry_run_previews_an_asset_that_reads_its_dimensions(project):
    project.write("definitions/tagged.py", ONE_LINE.replace("{VALUE}", "1"))
    assert project.run("materialize", now=NOW).exit_code == 0
    project.write("definitions/tagged.py", ONE_LINE.replace("{VALUE}", "'one'"))
    plan = project.run("materialize", "--dry-run", now=NOW)
    assert plan.exit_code == 0, plan.output
    assert "schema: tagged: column v INTEGER -> VARCHAR" in plan.output
