"""Reliable execution: retries with backoff and jitter, data errors, alerts, logs."""

import json
import random

import pytest
from conftest import Receiver

from assetflow.core.policy import RetryPolicy, retryable
from assetflow.errors import DataError, DefinitionError

FLAKY = """
import collections
from assetflow import RetryPolicy, asset, daily

DAYS = daily("2024-01-01", "2024-01-10")
calls = collections.Counter()

@asset(partitions=DAYS, retry=RetryPolicy(max_retries=3, delay=0.3, backoff=2.0,
                                           jitter="proportional", jitter_ratio=0.5))
def flaky(ctx, doubled):
    calls[ctx.partition] += 1
    if ctx.partition in ("2024-01-03", "2024-01-04", "2024-01-05") and calls[ctx.partition] <= 2:
        print("about to fail", ctx.partition)
        raise ConnectionError(f"upstream timed out ({calls[ctx.partition]})")
    ctx.log.info("reading %s", ctx.partition)
    return "SELECT * FROM doubled"
"""


def attempts(project, asset):
    return project.query(
        "SELECT partition, attempt, status, started_at, ended_at, next_retry_at, error_class"
        " FROM assetflow.attempts WHERE asset = ? ORDER BY partition, attempt",
        [asset],
    )


@pytest.mark.slow
def test_transient_failures_are_retried_with_backoff_and_jitter(diamond):
    diamond.write("definitions/flaky.py", FLAKY)
    result = diamond.run("materialize", "--concurrency", "2", now=None)  # real waits
    assert result.exit_code == 0, result.output
    rows = attempts(diamond, "flaky")
    by_partition = {}
    for partition, attempt, status, started, ended, next_at, error in rows:
        by_partition.setdefault(partition, []).append(
            (attempt, status, started, ended, next_at, error)
        )
    flaky_days = ["2024-01-03", "2024-01-04", "2024-01-05"]
    delays = []
    for day in flaky_days:
        tries = by_partition[day]
        assert [(a, s) for a, s, *_ in tries] == [(1, "retrying"), (2, "retrying"), (3, "success")]
        assert tries[0][5] == "ConnectionError"
        for retry, (previous, following) in enumerate(zip(tries, tries[1:], strict=False), start=1):
            planned = (previous[4] - previous[3]).total_seconds()
            base = 0.3 * 2 ** (retry - 1)
            assert base * 0.5 <= planned <= base * 1.5  # the policy, with its jitter
            assert following[2] >= previous[4]  # waited at least as planned
            delays.append(planned)
    assert len(set(round(d, 4) for d in delays)) == len(delays)  # jitter: no two alike
    # Waiting did not block other nodes: some node started during a flaky node's wait.
    waits = [(t[3], t[4]) for day in flaky_days for t in by_partition[day] if t[4]]
    others = diamond.query(
        "SELECT started_at FROM assetflow.attempts WHERE asset <> 'flaky' OR partition NOT IN"
        " ('2024-01-03', '2024-01-04', '2024-01-05')"
    )
    assert any(lo < started < hi for (started,) in others for lo, hi in waits)
    logs = diamond.run(
        "logs", diamond.query("SELECT run_id FROM assetflow.runs")[0][0], "flaky", "2024-01-03"
    )
    assert logs.exit_code == 0
    for fragment in (
        "attempt 1",
        "about to fail 2024-01-03",
        "ConnectionError: upstream timed out (1)",
        "Traceback",
        "retrying in",
        "attempt 3",
        "reading 2024-01-03",
    ):
        assert fragment in logs.output, logs.output


def test_a_data_error_is_never_retried(diamond):
    diamond.write(
        "definitions/strict.py",
        """
        from assetflow import DataError, RetryPolicy, asset, daily

        DAYS = daily("2024-01-01", "2024-01-10")

        @asset(partitions=DAYS, retry=RetryPolicy(max_retries=5, delay=0.01))
        def strict(ctx, doubled):
            if ctx.partition == "2024-01-02":
                raise DataError("negative revenue")
            return "SELECT * FROM doubled"

        @asset(partitions=DAYS)
        def after_strict(ctx, strict):
            return "SELECT count(*) AS n FROM strict"
        """,
    )
    result = diamond.run("materialize")
    assert result.exit_code == 1
    assert [r[1:3] for r in attempts(diamond, "strict") if r[0] == "2024-01-02"] == [(1, "failed")]
    assert [r[2] for r in attempts(diamond, "after_strict") if r[0] == "2024-01-02"] == [
        "upstream_failed"
    ]
    assert diamond.query("SELECT count(*) FROM combined") == [(30,)]  # unrelated branch done


def test_retry_on_narrows_what_is_retried(diamond):
    diamond.write(
        "definitions/narrow.py",
        """
        from assetflow import RetryPolicy, asset, daily

        @asset(partitions=daily("2024-01-01", "2024-01-02"),
               retry=RetryPolicy(max_retries=3, delay=0.01), retry_on=(TimeoutError,))
        def narrow(ctx, doubled):
            raise ValueError("not a timeout")
        """,
    )
    assert diamond.run("materialize", "narrow").exit_code == 1
    assert {r[1] for r in attempts(diamond, "narrow")} == {1}


def test_delays_follow_the_policy_and_jitter_really_varies():
    rng = random.Random(7)
    full = RetryPolicy(max_retries=5, delay=1.0, backoff=2.0, max_delay=5.0, jitter="full")
    draws = [full.delay_before(3, rng) for _ in range(200)]
    assert all(0 <= d <= 4.0 for d in draws) and len(set(draws)) == 200
    assert max(draws) > 3.0 and min(draws) < 1.0  # spread over the range
    assert full.base_delay(1) == 1.0 and full.base_delay(4) == 5.0  # capped by max_delay
    none = RetryPolicy(max_retries=2, delay=0.5, jitter="none")
    assert [none.delay_before(n, rng) for n in (1, 2)] == [0.5, 1.0]
    with pytest.raises(DefinitionError, match="backoff must be >= 1"):
        RetryPolicy(backoff=0.5)


def test_what_is_retryable():
    assert retryable(ConnectionError("x"), ())
    assert not retryable(DataError("x"), ())
    assert not retryable(DefinitionError("x"), ())
    assert not retryable(ValueError("x"), (ConnectionError,))


ALERTING = """
import os
from assetflow import RetryPolicy, asset, daily, project_defaults, webhook

defaults = project_defaults(
    retry=RetryPolicy(max_retries=2, delay=0.01, jitter="none"),
    on_failure=[webhook("TEST_WEBHOOK_URL")],
    on_run_end=[webhook("TEST_WEBHOOK_URL")],
)

@asset(partitions=daily("2024-01-01", "2024-01-10"))
def shaky(ctx, doubled):
    if ctx.partition in ("2024-01-02", "2024-01-07"):
        raise ConnectionError("warehouse API unreachable")
    return "SELECT * FROM doubled"
"""


def test_one_alert_per_failed_node_after_its_final_attempt(diamond, receiver, monkeypatch):
    monkeypatch.setenv("TEST_WEBHOOK_URL", receiver.url)
    diamond.write("definitions/alerting.py", ALERTING)
    result = diamond.run("materialize")
    assert result.exit_code == 1
    run_id = diamond.query("SELECT run_id FROM assetflow.runs")[0][0]
    node_alerts = [b for b in receiver.bodies if b["event"] == "Failure"]
    assert len(node_alerts) == 2
    node_alerts.sort(key=lambda b: b["fields"]["partition"])  # they arrive as nodes fail
    pipeline = diamond.root.name  # a manual run: the project names the pipeline
    for day, body in zip(("2024-01-02", "2024-01-07"), node_alerts, strict=True):
        log = f"{diamond.root}/warehouse/logs/{run_id}/shaky/{day}.log"
        assert body["text"] == (
            f"[{pipeline}] shaky[{day}] for {day} failed after 3 attempts in run {run_id}:"
            f" ConnectionError: warehouse API unreachable — log: {log}"
        )
        assert body["fields"] == {
            "pipeline": pipeline, "asset": "shaky", "partition": day, "logical_date": day,
            "run_id": run_id, "attempts": 3,
            "error": "ConnectionError: warehouse API unreachable", "log_path": log, "url": None,
        }  # fmt: skip
    summaries = [b for b in receiver.bodies if b["event"] == "RunSummary"]
    assert len(summaries) == 1 and f"run {run_id} partial" in summaries[0]["text"]
    assert receiver.url not in result.output


def test_a_failing_webhook_never_fails_the_run(diamond, monkeypatch):
    broken = Receiver(status=500)
    try:
        monkeypatch.setenv("TEST_WEBHOOK_URL", broken.url)
        diamond.write(
            "definitions/alerting.py", ALERTING.replace('"2024-01-02", "2024-01-07"', '"none"')
        )
        result = diamond.run("materialize")
        assert result.exit_code == 0, result.output
        run_id = diamond.query("SELECT run_id FROM assetflow.runs")[0][0]
        run_log = (diamond.root / "warehouse" / "logs" / run_id / "run.log").read_text()
        assert "alert hook webhook(TEST_WEBHOOK_URL) failed: HTTPError: HTTP 500" in run_log
        assert broken.url not in run_log
    finally:
        broken.close()


def test_fault_storm_everything_lands_within_policy(project):
    project.write(
        "definitions/storm.py",
        """
        import random
        import threading
        from assetflow import RetryPolicy, asset, daily, project_defaults

        defaults = project_defaults(retry=RetryPolicy(max_retries=12, delay=0.001, max_delay=0.01))
        DAYS = daily("2024-01-01", "2024-01-10")
        rng = random.Random(42)
        lock = threading.Lock()

        def flip():
            with lock:
                if rng.random() < 0.3:
                    raise ConnectionError("transient")

        @asset(partitions=DAYS)
        def s1(ctx):
            flip()
            return f"SELECT '{ctx.partition}' AS day"

        @asset(partitions=DAYS)
        def s2(ctx, s1):
            flip()
            return "SELECT day FROM s1"

        @asset(partitions=DAYS)
        def s3(ctx, s1):
            flip()
            return "SELECT day FROM s1"

        @asset(partitions=DAYS)
        def s4(ctx, s2, s3):
            flip()
            return "SELECT s2.day FROM s2 JOIN s3 USING (day)"

        @asset(partitions=DAYS)
        def s5(ctx, s4):
            flip()
            return "SELECT day FROM s4"
        """,
    )
    result = project.run("materialize", "--concurrency", "2")
    assert result.exit_code == 0, result.output
    assert project.query("SELECT count(*) FROM assetflow.nodes") == [(50,)]
    retried = project.query("SELECT count(*) FROM assetflow.attempts WHERE status = 'retrying'")
    assert retried[0][0] > 5  # the storm really happened
    assert project.query("SELECT max(attempt) <= 13 FROM assetflow.attempts") == [(True,)]


def test_log_retention_prunes_old_run_folders(diamond):
    import os

    old = diamond.root / "warehouse" / "logs" / "ancient"
    old.mkdir(parents=True)
    (old / "x.log").write_text("old")
    os.utime(old, (1, 1))
    assert diamond.run("materialize", "doubled").exit_code == 0
    assert not old.exists()


def test_runs_show_lists_attempts(diamond):
    diamond.write("definitions/flaky.py", FLAKY)
    assert diamond.run("materialize").exit_code == 0
    run_id = diamond.query("SELECT run_id FROM assetflow.runs")[0][0]
    shown = diamond.run("runs", "show", run_id[:6])
    assert shown.exit_code == 0
    assert f"run {run_id} success" in shown.output and "ConnectionError" in shown.output
    detail = json.loads(diamond.run("runs", "show", run_id, "--json").output)
    assert len([a for a in detail["attempts"] if a["status"] == "retrying"]) == 6
    assert diamond.run("runs", "show", "zzzz").exit_code == 2
    assert json.loads(diamond.run("runs", "--status", "failed", "--json").output) == []
