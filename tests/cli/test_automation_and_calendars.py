"""Through the real CLI: an eager asset follows new upstream data on `tick`, and quarterly and
yearly partitions materialize, read their months and show in status (issue 29 item 18)."""

import json

from conftest import write_events

EAGER = """
from assetflow import asset, daily

@asset(partitions=daily("2024-01-01", "2024-01-10"), automation="eager")
def follow(ctx, doubled):
    return "SELECT sum(value) AS total FROM doubled"
"""


def built(project, asset: str) -> list[tuple[str, int]]:
    """(partition, materializations) of an asset, by partition."""
    return project.query(
        "SELECT partition, count(*) FROM assetflow.materializations WHERE asset = ?"
        " GROUP BY 1 ORDER BY 1",
        [asset],
    )


def test_an_eager_asset_follows_new_upstream_data_on_tick(diamond):
    diamond.write("definitions/eager.py", EAGER)
    assert diamond.run("materialize").exit_code == 0
    assert all(n == 1 for _, n in built(diamond, "follow"))
    quiet = diamond.run("tick")
    assert quiet.exit_code == 0 and "nothing due" in quiet.output, quiet.output
    write_events(diamond, "2024-01-04", [(1, 50)])
    assert diamond.run("materialize", "doubled").exit_code == 0  # new data upstream
    ticked = diamond.run("tick")
    assert ticked.exit_code == 0 and "eager" in ticked.output, ticked.output
    rebuilt = [p for p, n in built(diamond, "follow") if n == 2]
    assert rebuilt == ["2024-01-04"]  # exactly the node whose input has new data
    assert diamond.query("SELECT total FROM follow WHERE _partition = '2024-01-04'") == [(100,)]
    assert "nothing due" in diamond.run("tick").output


CALENDARS = """
from assetflow import asset, monthly, quarterly, source, yearly, window

MONTHS = monthly("2024-01", "2024-12")

@source(partitions=MONTHS, path="landing/{partition}.csv")
def sales(ctx):
    return f"SELECT * FROM read_csv('{ctx.path}', header = true)"

@asset(partitions=MONTHS)
def months(ctx, sales):
    return f"SELECT '{ctx.partition}' AS month, sum(n) AS n FROM sales"

@asset(partitions=quarterly("2024-Q1", "2024-Q4"), deps={"months": window()})
def quarters(ctx, months):
    return "SELECT count(*) AS months, string_agg(month, ',' ORDER BY month) AS which FROM months"

@asset(partitions=yearly("2024", "2024"), deps={"quarters": window()})
def years(ctx, quarters):
    return "SELECT sum(months) AS months FROM quarters"
"""


def test_quarterly_and_yearly_partitions_read_their_months(project):
    project.write("definitions/calendars.py", CALENDARS)
    for month in range(1, 13):
        project.write(f"landing/2024-{month:02d}.csv", "n\n1\n")
    result = project.run("materialize")
    assert result.exit_code == 0, result.output
    assert project.query("SELECT _partition, months, which FROM quarters ORDER BY 1") == [
        ("2024-Q1", 3, "2024-01,2024-02,2024-03"),
        ("2024-Q2", 3, "2024-04,2024-05,2024-06"),
        ("2024-Q3", 3, "2024-07,2024-08,2024-09"),
        ("2024-Q4", 3, "2024-10,2024-11,2024-12"),
    ]
    assert project.query("SELECT _partition, months FROM years") == [("2024", 12)]
    status = json.loads(project.run("status", "--json").output)
    counts = {a["asset"]: a["counts"]["fresh"] for a in status["assets"]}
    assert counts == {"months": 12, "quarters": 4, "years": 1}
    # New data for May makes exactly its quarter and the year stale, and a run rebuilds those
    project.write("landing/2024-05.csv", "n\n1\n2\n")
    why = project.run("why", "years", "2024")
    assert "quarters[2024-Q2]" in why.output and "quarters[2024-Q1]" not in why.output
    plan = json.loads(project.run("materialize", "--dry-run", "--json", "--nodes").output)["nodes"]
    assert [(n["asset"], n["partition"]) for n in plan] == [
        ("months", "2024-05"), ("quarters", "2024-Q2"), ("years", "2024"),
    ]  # fmt: skip
