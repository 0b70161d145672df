"""Hourly, weekly and static partitions end to end through the CLI (issue 16): landing
files per hour, a daily roll-up in a timezone, a weekly report, regions as static keys."""

import json

PIPELINE = """
from assetflow import all_partitions, asset, daily, hourly, source, static, weekly

HOURS = hourly("2024-03-30T00", "2024-04-01T23", tz="Europe/Berlin")
DAYS = daily("2024-03-30", "2024-04-01", tz="Europe/Berlin")
REGIONS = static("eu", "us", "apac")


@source(partitions=HOURS, path="landing/{partition}.csv")
def readings(ctx):
    return f"SELECT * FROM read_csv('{ctx.path}', header = true, columns = {{'v': 'INTEGER'}})"


@asset(partitions=HOURS)
def hourly_sum(ctx, readings):
    return f"SELECT TIMESTAMPTZ '{ctx.start}' AS hour_start, sum(v) AS v FROM readings"


@asset(partitions=DAYS)
def daily_sum(ctx, hourly_sum):
    return f"SELECT DATE '{ctx.start}' AS day, count(*) AS hours, sum(v) AS v FROM hourly_sum"


@asset(partitions=weekly("2024-03-25", "2024-04-07", tz="Europe/Berlin"))
def weekly_sum(ctx, daily_sum):
    return "SELECT count(*) AS days, sum(v) AS v FROM daily_sum"


@asset(partitions=REGIONS)
def region_sales(ctx):
    return f"SELECT '{ctx.partition}' AS region, length('{ctx.partition}') AS amount"


@asset(deps={"region_sales": all_partitions()})
def all_regions(ctx, region_sales):
    return "SELECT count(*) AS regions, sum(amount) AS amount FROM region_sales"
"""

NOW = "2024-04-08T00:00:00"


def _land(project, hours):
    for key in hours:
        project.write(f"landing/{key}.csv", "v\n1\n")


def _hour_keys(project):
    from assetflow.core.partitions import hourly

    hours = hourly("2024-03-30T00", "2024-04-01T23", tz="Europe/Berlin")
    return [hours.key(i) for i in range(hours.first_index(), hours.last + 1)]


def test_hours_days_weeks_and_static_keys_materialize_and_show(project):
    project.write("definitions/pipeline.py", PIPELINE)
    keys = _hour_keys(project)
    assert len(keys) == 24 + 23 + 24  # 2024-03-31 is a 23-hour day in Berlin
    _land(project, keys)
    result = project.run("materialize", now=NOW)
    assert result.exit_code == 0, result.output
    days = project.query("SELECT day::VARCHAR, hours, v FROM daily_sum ORDER BY 1")
    assert days == [("2024-03-30", 24, 24), ("2024-03-31", 23, 23), ("2024-04-01", 24, 24)]
    weeks = project.query("SELECT _partition, days, v FROM weekly_sum ORDER BY 1")
    assert weeks == [("2024-W13", 2, 47), ("2024-W14", 1, 24)]
    assert project.query("SELECT _partition FROM region_sales ORDER BY 1") == [
        ("apac",),
        ("eu",),
        ("us",),
    ]
    assert project.query("SELECT regions, amount FROM all_regions") == [(3, 8)]
    status = project.run("status", now=NOW)
    assert "2024-03-30T00+01:00..2024-04-01T23+02:00" not in status.output  # all fresh
    assert status.exit_code == 0

    # One hour's file changes: exactly its hour, its day and its week are stale.
    project.write("landing/2024-03-31T03+02:00.csv", "v\n5\n")
    report = json.loads(project.run("status", "--json", now=NOW).output)
    stale = {
        a["asset"]: [n["partition"] for n in a["nodes"]] for a in report["assets"] if a["nodes"]
    }
    assert stale == {
        "hourly_sum": ["2024-03-31T03+02:00"],
        "daily_sum": ["2024-03-31"],
        "weekly_sum": ["2024-W13"],
    }
    one = project.run("materialize", "hourly_sum", "--partition", "2024-03-31T03+02:00", now=NOW)
    assert one.exit_code == 0, one.output
    assert project.run("materialize", now=NOW).exit_code == 0
    assert project.query("SELECT v FROM weekly_sum WHERE _partition = '2024-W13'") == [(51,)]

    why = project.run("why", "hourly_sum", "2024-03-31T02", now=NOW)
    assert why.exit_code == 2 and "does not exist in Europe/Berlin" in why.output, why.output
    bad = project.run("materialize", "region_sales", "--partition", "mars", now=NOW)
    assert bad.exit_code == 2 and "unknown partition key 'mars'" in bad.output


def test_a_backfill_orders_hours_days_and_weeks_together_oldest_first(project):
    project.write("definitions/pipeline.py", PIPELINE)
    _land(project, _hour_keys(project))
    done = project.run(
        "backfill", "hourly_sum", "daily_sum", "weekly_sum", "--from", "2024-03-30",
        "--to", "2024-04-01", "--yes", now=NOW,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "74 of 74 nodes materialized" in done.output, done.output
    assert project.query("SELECT count(*) FROM hourly_sum") == [(71,)]


def test_a_range_in_days_selects_the_hours_of_those_local_days(project):
    project.write("definitions/pipeline.py", PIPELINE)
    _land(project, _hour_keys(project))
    plan = project.run(
        "materialize",
        "hourly_sum",
        "--from",
        "2024-03-31",
        "--to",
        "2024-03-31",
        "--dry-run",
        "--json",
        "--nodes",
        now=NOW,
    )
    nodes = json.loads(plan.output)["nodes"]
    assert len(nodes) == 23
    assert (nodes[0]["partition"], nodes[-1]["partition"]) == (
        "2024-03-31T00+01:00",
        "2024-03-31T23+02:00",
    )


HOURLY_SCHEDULE = """
from assetflow import asset, hourly, schedule, weekly

@asset(partitions=hourly("2024-03-01T00"))
def per_hour(ctx):
    return f"SELECT TIMESTAMP '{ctx.start}' AS hour_start"


@asset(partitions=weekly("2024-01-01", "2024-03-31"), batch_size=8, partition_by="week_start")
def per_week(ctx):
    # one call for a batch of weeks: one row per week, placed by its start date
    return f\"\"\"SELECT unnest(range(DATE '{ctx.start}', DATE '{ctx.end}', INTERVAL 7 DAY))::DATE
               AS week_start\"\"\"


every_hour = schedule("every_hour", "5 * * * *", ["per_hour"])
"""


def test_an_hourly_schedule_runs_the_hour_just_completed(project):
    project.write("definitions/hours.py", HOURLY_SCHEDULE)
    result = project.run("tick", "--json", now="2024-03-15T10:05:00")
    assert result.exit_code == 0, result.output
    assert project.query("SELECT _partition FROM per_hour") == [("2024-03-15T09",)]


def test_weeks_run_in_batches_placed_by_date(project):
    project.write("definitions/hours.py", HOURLY_SCHEDULE)
    result = project.run("materialize", "per_week", now="2024-04-02T00:00:00")
    assert result.exit_code == 0, result.output
    rows = project.query("SELECT _partition, week_start::VARCHAR FROM per_week ORDER BY 1")
    assert (
        len(rows) == 13
        and rows[0] == ("2024-W01", "2024-01-01")
        and rows[-1] == ("2024-W13", "2024-03-25")
    )
    tasks = project.query(
        "SELECT count(DISTINCT started_at) FROM assetflow.materializations WHERE asset = 'per_week'"
    )
    assert tasks == [(2,)]  # 13 weeks in batches of 8
