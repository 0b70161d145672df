"""Windows of five minutes end to end (issue 33 item 2): landed per window, rolled up into
hours, a batch placing its rows by the key SQL computes, and ranges people can read."""

import json

PIPELINE = """
from assetflow import asset, hourly, minutely, source

FIVE = minutely("2024-03-15T00:00", "2024-03-15T01:55", every=5)


@source(partitions=FIVE, path="landing/{partition}.csv")
def readings(ctx):
    return f"SELECT * FROM read_csv('{ctx.path}', header = true, columns = {{'v': 'INTEGER'}})"


@asset(partitions=FIVE)
def per_window(ctx, readings):
    return f"SELECT TIMESTAMP '{ctx.start}' AS starts, sum(v) AS v FROM readings"


@asset(partitions=FIVE, batch_size=12, partition_by="ts")
def batched(ctx, per_window):
    return "SELECT starts AS ts, v FROM per_window"


@asset(partitions=hourly("2024-03-15T00", "2024-03-15T01"))
def per_hour(ctx, per_window):
    return "SELECT count(*) AS windows, sum(v) AS v FROM per_window"
"""

NOW = "2024-03-16T00:00:00"


def _windows():
    return [f"2024-03-15T{h:02d}:{m:02d}" for h in (0, 1) for m in range(0, 60, 5)]


def test_five_minute_windows_land_roll_up_and_go_stale_one_by_one(project):
    project.write("definitions/pipeline.py", PIPELINE)
    for n, key in enumerate(_windows()):
        project.write(f"landing/{key}.csv", f"v\n{n}\n")
    done = project.run("materialize", now=NOW)
    assert done.exit_code == 0, done.output
    assert project.query("SELECT _partition, windows, v FROM per_hour ORDER BY 1") == [
        ("2024-03-15T00", 12, sum(range(12))),
        ("2024-03-15T01", 12, sum(range(12, 24))),
    ]
    placed = project.query("SELECT _partition, strftime(ts, '%Y-%m-%dT%H:%M') FROM batched")
    assert len(placed) == 24 and all(key == start for key, start in placed)

    project.write("landing/2024-03-15T01:35.csv", "v\n100\n")
    project.write("landing/2024-03-15T01:40.csv", "v\n100\n")
    report = json.loads(project.run("status", "--json", now=NOW).output)
    stale = {
        a["asset"]: [n["partition"] for n in a["nodes"]] for a in report["assets"] if a["nodes"]
    }
    assert stale == {
        "per_window": ["2024-03-15T01:35", "2024-03-15T01:40"],
        "batched": ["2024-03-15T01:35", "2024-03-15T01:40"],
        "per_hour": ["2024-03-15T01"],
    }
    shown = project.run("status", now=NOW).output
    assert "2024-03-15T01:35..2024-03-15T01:40" in shown, shown

    plan = project.run(
        "materialize", "per_window", "--from", "2024-03-15T01", "--to", "2024-03-15T01",
        "--dry-run", "--json", "--nodes", now=NOW,
    )  # fmt: skip
    planned = [n["partition"] for n in json.loads(plan.output)["nodes"]]
    assert planned == ["2024-03-15T01:35", "2024-03-15T01:40"]
    forced = project.run(
        "materialize", "per_window", "--from", "2024-03-15T01:50", "--to", "2024-03-15T01:55",
        "--force", now=NOW,
    )  # fmt: skip
    assert forced.exit_code == 0 and "2 of 2 nodes materialized" in forced.output, forced.output

    bad = project.run("materialize", "per_window", "--partition", "2024-03-15T01:37", now=NOW)
    assert bad.exit_code == 2 and "no partitions of per_window between" in bad.output, bad.output
    why = project.run("why", "per_window", "2024-03-15T01:37", now=NOW)
    assert why.exit_code == 2 and "does not start a 5-minute window" in why.output, why.output
