"""Schedules, sensors and SLAs, on a fixed clock: no sleeping."""

import datetime as dt
import json

import pytest
from conftest import NOW_DT, Receiver, write_events

from assetflow.app.config import load_project
from assetflow.app.session import Session
from assetflow.core.automation import due_times, logical_range
from assetflow.defs.declare import schedule
from assetflow.run.clock import FixedClock

TICKING = """
import datetime as dt
from assetflow import asset, daily, monthly, project_defaults, schedule, source, webhook

DAYS = daily("2024-01-01")

@source(partitions=DAYS, observe=lambda key: "v1")
def clock(ctx):
    return f"SELECT DATE '{ctx.partition}' AS day"

@asset(partitions=DAYS)
def every_day(ctx, clock):
    return "SELECT day FROM clock"

@asset(partitions=monthly("2024-01"))
def every_month(ctx, every_day):
    return "SELECT count(*) AS days FROM every_day"

SCHEDULES = []
"""

WITH_SLA = """
defaults = project_defaults(on_sla_miss=[webhook("TEST_WEBHOOK_URL")])

@asset(partitions=DAYS, sla=dt.timedelta(hours=6))
def with_sla(ctx, clock):
    return "SELECT day FROM clock"
"""


def ticking(project, schedules: str = "") -> None:
    project.write("definitions/ticking.py", TICKING.replace("SCHEDULES = []", schedules))


def tick(project, now: str):
    result = project.run("tick", "--json", now=now)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def built(project, asset):
    return [r[0] for r in project.query(
        "SELECT partition FROM assetflow.materializations WHERE asset = ? ORDER BY 1", [asset]
    )]  # fmt: skip


def test_cron_ticks_target_the_last_completed_window(project):
    ticking(project)
    graph = Session(load_project(project.root), FixedClock(NOW_DT)).graph
    daily_at_3 = schedule("d", "0 3 * * *", ["every_day"])
    times = due_times(daily_at_3, None, dt.datetime(2013, 3, 16, 3, 0))
    assert times == [dt.datetime(2013, 3, 16, 3, 0)]
    assert logical_range(graph, ["every_day"], times, "UTC") is None  # before the partitions
    times = due_times(daily_at_3, None, dt.datetime(2024, 3, 16, 3, 0))
    assert logical_range(graph, ["every_day"], times, "UTC") == ("2024-03-15", "2024-03-15")
    early = due_times(daily_at_3, None, dt.datetime(2024, 3, 16, 2, 59))
    assert logical_range(graph, ["every_day"], early, "UTC") == ("2024-03-14", "2024-03-14")
    monthly_at_4 = schedule("m", "0 4 1 * *", ["every_month"])
    times = due_times(monthly_at_4, None, dt.datetime(2024, 3, 16, 3, 0))
    assert times == [dt.datetime(2024, 3, 1, 4, 0)]
    assert logical_range(graph, ["every_month"], times, "UTC") == ("2024-02", "2024-02")
    # A timezone: 03:00 in New York is 08:00 UTC.
    ny = schedule("ny", "0 3 * * *", ["every_day"], timezone="America/New_York")
    assert due_times(ny, None, dt.datetime(2024, 3, 16, 9, 0)) == [dt.datetime(2024, 3, 16, 7, 0)]


def test_a_daily_schedule_materializes_its_logical_date_once(project):
    ticking(project, 'nightly = schedule("nightly", "0 3 * * *", ["every_day"])')
    events = tick(project, "2024-03-16T03:00:00")
    assert [(e["kind"], e["name"], e["status"]) for e in events] == [
        ("schedule", "nightly", "success")
    ]
    assert events[0]["detail"].startswith("2024-03-15:")
    assert built(project, "every_day") == ["2024-03-15"]
    assert tick(project, "2024-03-16T03:00:00") == []  # the same tick twice: nothing twice
    assert tick(project, "2024-03-16T14:00:00") == []  # not due again until tomorrow
    runs = project.query("SELECT trigger, count(*) FROM assetflow.runs GROUP BY 1")
    assert runs == [("schedule:nightly", 1)]


def test_after_a_pause_catchup_off_runs_only_the_latest_window(project):
    ticking(project, 'nightly = schedule("nightly", "0 3 * * *", ["every_day"])')
    tick(project, "2024-01-02T03:00:00")
    tick(project, "2024-01-12T03:00:00")  # ten ticks were missed
    assert built(project, "every_day") == ["2024-01-01", "2024-01-11"]
    assert project.query("SELECT count(*) FROM assetflow.runs") == [(2,)]


def test_after_a_pause_catchup_on_runs_every_missed_window_as_a_backfill(project):
    ticking(project, 'nightly = schedule("nightly", "0 3 * * *", ["every_day"], catchup=True)')
    tick(project, "2024-01-02T03:00:00")
    result = project.run("tick", "--concurrency", "2", now="2024-01-12T03:00:00")
    assert result.exit_code == 0, result.output
    assert built(project, "every_day") == [f"2024-01-{d:02d}" for d in range(1, 12)]
    runs = project.query(
        "SELECT trigger, backfill_id IS NOT NULL, planned FROM assetflow.runs ORDER BY started_at"
    )
    assert runs == [("schedule:nightly", False, 1), ("schedule:nightly", True, 10)]
    spans = project.query(
        "SELECT started_at, ended_at FROM assetflow.attempts WHERE attempt > 0 AND run_id ="
        " (SELECT run_id FROM assetflow.runs ORDER BY started_at DESC LIMIT 1)"
    )
    tasks = set(spans)  # a group of partitions written together is one task
    most = max(sum(s <= t < e for s, e in tasks) for t, _ in tasks)
    assert 1 <= most <= 2  # the concurrency limit held
    ticks = project.query("SELECT count(*) FROM assetflow.ticks WHERE kind = 'schedule'")
    assert ticks == [(11,)]


def test_a_file_sensor_materializes_exactly_the_new_files_dependents(fixture_project):
    project = fixture_project("diamond")
    for day in range(1, 10):
        write_events(project, f"2024-01-{day:02d}", [(1, day), (2, 10 * day)])
    project.write(
        "definitions/sensing.py",
        'from assetflow import file_sensor\nevents_sensor = file_sensor("events")\n',
    )
    assert project.run("materialize", "--to", "2024-01-09").exit_code == 0
    assert project.run("observe").exit_code == 0
    assert tick(project, "2024-06-01T00:00:00") == []  # nothing new
    write_events(project, "2024-01-10", [(1, 10)])
    events = tick(project, "2024-06-01T00:05:00")
    assert [(e["kind"], e["status"]) for e in events] == [("sensor", "success")]
    assert "landing/2024-01-10.csv" in events[0]["detail"]
    ran = project.query(
        "SELECT asset, partition FROM assetflow.attempts WHERE run_id = ? ORDER BY ALL",
        [events[0]["run_id"]],
    )
    assert ran == [
        ("combined", "2024-01-10"),
        ("doubled", "2024-01-10"),
        ("monthly_total", "2024-01"),
        ("recent", "2024-01-10"),
        ("shifted", "2024-01-10"),
    ]
    assert tick(project, "2024-06-01T00:05:00") == []  # the same tick repeated: nothing
    write_events(project, "2024-01-03", [(1, 3), (2, 30)])  # identical bytes: no change
    assert tick(project, "2024-06-01T00:10:00") == []


@pytest.mark.slow  # long: many runs or a subprocess
def test_a_late_node_alerts_exactly_once_over_many_ticks(project, monkeypatch):
    receiver = Receiver()
    try:
        monkeypatch.setenv("TEST_WEBHOOK_URL", receiver.url)
        ticking(project, WITH_SLA)
        assert (
            project.run(
                "materialize", "with_sla", "--partition", "2024-01-01", now="2024-01-02T05:00:00"
            ).exit_code
            == 0
        )
        for hour in range(7, 20):
            tick(project, f"2024-01-03T{hour:02d}:00:00")
        assert [b["text"] for b in receiver.bodies] == [
            "with_sla[2024-01-02] missed its SLA: not fresh by 2024-01-03 06:00 UTC (status missing)"
        ]
        status = json.loads(
            project.run("status", "--json", "with_sla", now="2024-01-03T08:00:00").output
        )
        asset = status["assets"][0]
        assert asset["counts"]["late"] == 1
        assert asset["nodes"] == [
            {"partition": "2024-01-02", "status": "missing", "causes": ["missing"], "late": True}
        ]
    finally:
        receiver.close()
