"""A partitioning's own keys select it on the command line (issue 36): a Sunday week by its
key, in --partition and --from/--to; a repeated DST hour by its key with the offset."""

PIPELINE = """
from assetflow import asset, hourly, weekly


@asset(partitions=weekly("2023-01-01", "2023-02-25", week_start="sunday"))
def sunday_weeks(ctx):
    return f"SELECT DATE '{ctx.start}' AS first_day"


@asset(partitions=hourly("2023-11-04T00", "2023-11-05T23", tz="America/Los_Angeles"))
def la_hours(ctx):
    return f"SELECT TIMESTAMPTZ '{ctx.start}' AS hour_start"
"""
NOW = "2023-03-01T00:00:00"


def test_a_sunday_week_and_a_repeated_hour_are_selected_by_their_own_keys(project):
    project.write("definitions/pipeline.py", PIPELINE)
    one = project.run("materialize", "sunday_weeks", "--partition", "2023-W02", now=NOW)
    assert one.exit_code == 0, one.output
    assert project.query("SELECT _partition, first_day::VARCHAR FROM sunday_weeks") == [
        ("2023-W02", "2023-01-08")
    ]
    some = project.run(
        "materialize", "sunday_weeks", "--from", "2023-W03", "--to", "2023-W04", now=NOW
    )
    assert some.exit_code == 0, some.output
    assert project.query("SELECT count(*) FROM sunday_weeks") == [(3,)]
    hour = project.run("materialize", "la_hours", "--partition", "2023-11-05T01-08:00", now=NOW)
    assert hour.exit_code == 0, hour.output
    assert project.query("SELECT _partition FROM la_hours") == [("2023-11-05T01-08:00",)]
