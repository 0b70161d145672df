"""Time enters once: under a fixed clock, every timestamp a materialize and a tick record
(runs, attempts, retries, materializations, observations, checks, ticks, SLA alerts, log
lines) comes from that clock, none from the machine's."""

import datetime as dt
import textwrap

import duckdb
from conftest import make_project

from assetflow.app.config import load_project
from assetflow.app.materialize import RunOptions, materialize
from assetflow.app.session import Request, Session
from assetflow.app.ticks import tick
from assetflow.run.clock import FixedClock

DEFINITIONS = """
import collections
import datetime as dt

from assetflow import RetryPolicy, asset, daily, not_null, schedule, source

DAYS = daily("2024-03-01")
calls = collections.Counter()


@source(partitions=DAYS, observe=lambda key: "v1")
def numbers(ctx):
    return "SELECT 1 AS n"


@asset(partitions=DAYS, checks=[not_null("n")], sla=dt.timedelta(hours=1),
       retry=RetryPolicy(max_retries=1, delay=60, jitter="none"))
def counted(ctx, numbers):
    calls[ctx.partition] += 1
    ctx.log.info("attempt %s", calls[ctx.partition])
    if ctx.partition == "2024-03-02" and calls[ctx.partition] == 1:
        raise ConnectionError("flaky")
    return "SELECT n FROM numbers"


nightly = schedule("nightly", "0 3 * * *", ["counted"])
"""

# Timestamps the clock stamps; tick_time (a cron time) and deadline (an SLA's) are logical.
STAMPS = {
    "runs": ["started_at", "ended_at"],
    "attempt_log": ["started_at", "ended_at", "next_retry_at"],
    "materializations": ["started_at", "ended_at"],
    "observations": ["observed_at"],
    "check_results": ["checked_at"],
    "ticks": ["evaluated_at"],
    "sla_misses": ["alerted_at"],
}


def test_every_recorded_timestamp_comes_from_the_command_clock(tmp_path):
    project = make_project(tmp_path / "p")
    (project.root / "definitions" / "assets.py").write_text(textwrap.dedent(DEFINITIONS))
    first = dt.datetime(2024, 3, 3, 12, 0)
    with Session(load_project(project.root), FixedClock(first), first) as session:
        request = Request(("counted",), "2024-03-01", "2024-03-02")
        outcome = materialize(session, request, RunOptions())
        assert outcome.result is not None and outcome.result.status == "success"
    second = dt.datetime(2024, 3, 6, 3, 0)
    with Session(load_project(project.root), FixedClock(second), second) as session:
        events = tick(session)
    assert {e.kind for e in events} == {"schedule", "sla"}
    with duckdb.connect(str(project.warehouse), read_only=True) as conn:
        for table, columns in STAMPS.items():
            for column in columns:
                lo, hi, n = conn.execute(
                    f"SELECT min({column}), max({column}), count({column}) FROM assetflow.{table}"
                ).fetchall()[0]
                assert n > 0, f"{table}.{column} recorded nothing"
                assert first <= lo and hi <= second + dt.timedelta(minutes=10), (
                    f"{table}.{column}: {lo}..{hi}"
                )
        retry = conn.execute(
            "SELECT next_retry_at - ended_at FROM assetflow.attempt_log WHERE status = 'retrying'"
        ).fetchall()
    assert retry == [(dt.timedelta(seconds=60),)]  # planned on the clock, not waited for
    logs = list((project.root / "warehouse" / "logs").rglob("2024-03-02.log"))
    stamped = [line for log in logs for line in log.read_text().splitlines() if " INFO " in line]
    assert stamped and all(line.startswith("2024-03-0") for line in stamped), stamped
