"""Checks: each built-in on passing and failing data, and write-audit-publish end to end."""

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from conftest import Receiver, diamond_project, write_events

from assetflow.core.checks import (
    accepted_values,
    check,
    expression,
    freshness,
    not_null,
    row_count,
    unique,
)
from assetflow.core.records import CheckResult
from assetflow.errors import DefinitionError
from assetflow.run.audit import evaluate

CTX = SimpleNamespace(partition="2024-01-02", end=dt.date(2024, 1, 3))
NOW = dt.datetime(2024, 1, 10)


@pytest.fixture
def cur():
    conn = duckdb.connect()
    conn.execute(
        "CREATE TABLE good AS SELECT * FROM (VALUES"
        " (1, 'a', 10, TIMESTAMP '2024-01-02 23:00'), (2, 'b', 20, TIMESTAMP '2024-01-02 22:00'))"
        " t(id, kind, amount, seen_at)"
    )
    conn.execute(
        "CREATE TABLE bad AS SELECT * FROM (VALUES"
        " (1, 'a', 10, TIMESTAMP '2024-01-01 08:00'), (1, NULL, -5, TIMESTAMP '2024-01-01 09:00'),"
        " (3, 'z', 7, TIMESTAMP '2024-01-01 10:00')) t(id, kind, amount, seen_at)"
    )
    yield conn
    conn.close()


@pytest.mark.parametrize(
    "made,failing",
    [
        (not_null("kind"), 1),
        (unique("id"), 2),
        (accepted_values("kind", ["a", "b"]), 1),
        (expression("amount > 0"), 1),
        (row_count(max=2), 1),
        (freshness("seen_at", dt.timedelta(hours=6)), 1),
    ],
)
def test_builtin_checks_pass_on_good_rows_and_fail_on_bad_rows(cur, made, failing):
    ok = evaluate(made, cur, "good", CTX, NOW)
    assert ok.passed and ok.failing_rows == 0 and ok.samples == ()
    bad = evaluate(made, cur, "bad", CTX, NOW)
    assert not bad.passed and bad.failing_rows == failing
    assert 1 <= len(bad.samples) <= 5 and bad.blocking_failure


def test_failing_row_samples_are_the_failing_rows(cur):
    result = evaluate(not_null("kind"), cur, "bad", CTX, NOW)
    assert result.samples == (
        {"id": 1, "kind": None, "amount": -5, "seen_at": dt.datetime(2024, 1, 1, 9)},
    )
    many = duckdb.connect()
    many.execute("CREATE TABLE t AS SELECT NULL::INT AS x FROM range(20)")
    capped = evaluate(not_null("x"), many, "t", CTX, NOW)
    assert capped.failing_rows == 20 and len(capped.samples) == 5


def test_warn_severity_never_blocks(cur):
    result = evaluate(expression("amount > 0", severity="warn"), cur, "bad", CTX, NOW)
    assert not result.passed and not result.blocking_failure


def test_custom_checks(cur):
    @check(severity="warn")
    def at_least_three(ctx, rows):
        n = rows.count("*").fetchall()[0][0]
        return n >= 3, f"{n} rows", {"rows": n}

    assert evaluate(at_least_three, cur, "bad", CTX, NOW).passed
    result = evaluate(at_least_three, cur, "good", CTX, NOW)
    assert not result.passed and result.message == "2 rows" and result.metadata == {"rows": 2}

    @check
    def always(ctx, rows):
        return CheckResult("always", "error", True, 0, "fine")

    assert evaluate(always, cur, "good", CTX, NOW).passed

    @check
    def confused(ctx, rows):
        return "yes"

    with pytest.raises(DefinitionError, match="returned str"):
        evaluate(confused, cur, "good", CTX, NOW)


def test_bad_check_declarations():
    with pytest.raises(DefinitionError, match="severity"):
        not_null("x", severity="fatal")
    with pytest.raises(DefinitionError, match="min= or max="):
        row_count()
    with pytest.raises(DefinitionError, match="column names"):
        unique()


CHECKED = """
from assetflow import asset, daily, expression, not_null, project_defaults, webhook, RetryPolicy

defaults = project_defaults(
    retry=RetryPolicy(max_retries=3, delay=0.01), on_failure=[webhook("TEST_WEBHOOK_URL")]
)
DAYS = daily("2024-01-01", "2024-01-10")

@asset(partitions=DAYS, checks=[not_null("value"), expression("value >= 0"),
                                 expression("value < 1000", severity="warn", name="small")])
def clean(ctx, events):
    return "SELECT user_id, value FROM events"

@asset(partitions=DAYS)
def after_clean(ctx, clean):
    return "SELECT count(*) AS n FROM clean"
"""


def test_bad_rows_are_never_published(storage_settings, tmp_path, monkeypatch):
    diamond = diamond_project(tmp_path / "diamond", storage_settings)
    receiver = Receiver()
    try:
        monkeypatch.setenv("TEST_WEBHOOK_URL", receiver.url)
        diamond.write("definitions/checked.py", CHECKED)
        first = diamond.run("materialize")
        assert first.exit_code == 0, first.output
        assert "checks: 30 passed, 0 warned, 0 failed" in first.output
        before = diamond.query("SELECT * FROM clean WHERE _partition = '2024-01-04' ORDER BY ALL")
        write_events(diamond, "2024-01-04", [(1, 5), (2, -3), (3, -4)])
        result = diamond.run("materialize")
        assert result.exit_code == 1
        assert "checks: 2 passed, 0 warned, 1 failed" in result.output
        # The previous good partition stays; nothing downstream ran.
        after = diamond.query("SELECT * FROM clean WHERE _partition = '2024-01-04' ORDER BY ALL")
        assert after == before
        tries = diamond.query(
            "SELECT asset, attempt, status, error_class FROM assetflow.attempts"
            " WHERE partition = '2024-01-04' AND asset IN ('clean', 'after_clean')"
            " AND run_id = (SELECT run_id FROM assetflow.runs ORDER BY started_at DESC LIMIT 1)"
            " ORDER BY asset"
        )
        assert tries == [
            ("after_clean", 0, "upstream_failed", None),
            ("clean", 1, "failed", "CheckFailed"),  # never retried, despite the policy
        ]
        assert len(receiver.bodies) == 1
        text = receiver.bodies[0]["text"]
        assert text.startswith("[diamond] clean[2024-01-04] for 2024-01-04 failed after 1 attempt")
        assert "expression(value >= 0): 2 rows fail the predicate" in text
        status = json.loads(diamond.run("status", "--json", "clean").output)["assets"][0]
        assert status["nodes"] == [
            {"partition": "2024-01-04", "status": "failed",
             "causes": ["upstream_changed", "failed", "check_failed"]}
        ]  # fmt: skip
        recorded = json.loads(diamond.run("checks", "clean", "--failed", "--json").output)
        assert [(r["partition"], r["check"], r["failing_rows"]) for r in recorded] == [
            ("2024-01-04", "expression(value >= 0)", 2)
        ]
        samples = recorded[0]["samples"]  # a list, as `check --json` gives it
        assert sorted(s["value"] for s in samples) == [-4, -3]
        # The table shows the failing rows too; the node's log says what failed and where,
        # with the rows, not a traceback through assetflow.
        table = diamond.run("checks", "clean", "--failed").output
        assert "sample rows" in table and "value=-3" in table and "value=-4" in table
        [log] = diamond.query(
            "SELECT log_path FROM assetflow.attempts WHERE asset = 'clean' AND status = 'failed'"
        )
        text = Path(log[0]).read_text()
        assert "clean[2024-01-04] expression(value >= 0) (error): 2 rows fail" in text
        assert "value=-3" in text and "Traceback" not in text
    finally:
        receiver.close()


def test_a_failing_warn_check_commits_and_is_shown(storage_settings, tmp_path):
    diamond = diamond_project(tmp_path / "diamond", storage_settings)
    diamond.write(
        "definitions/checked.py", CHECKED.replace('on_failure=[webhook("TEST_WEBHOOK_URL")]', "")
    )
    write_events(diamond, "2024-01-06", [(1, 5000)])
    result = diamond.run("materialize")
    assert result.exit_code == 0, result.output
    assert "checks: 29 passed, 1 warned, 0 failed" in result.output
    assert diamond.query("SELECT value FROM clean WHERE _partition = '2024-01-06'") == [(5000,)]
    shown = diamond.run("checks", "--failed")
    assert "clean[2024-01-06]" in shown.output and "warn" in shown.output
    status = json.loads(diamond.run("status", "--json", "clean").output)["assets"][0]
    assert status["nodes"] == []  # a warning does not make the node fail


def test_checks_on_stored_data_find_a_problem_made_in_the_table(diamond):
    diamond.write(
        "definitions/checked.py", CHECKED.replace('on_failure=[webhook("TEST_WEBHOOK_URL")]', "")
    )
    assert diamond.run("materialize").exit_code == 0
    clean = diamond.run("check", "clean", "--from", "2024-01-01", "--to", "2024-01-10")
    assert clean.exit_code == 0, clean.output
    with duckdb.connect(str(diamond.warehouse)) as conn:
        conn.execute(
            "UPDATE clean SET value = NULL WHERE _partition = '2024-01-08' AND user_id = 2"
        )
    found = diamond.run("check", "clean", "--partition", "2024-01-08")
    assert found.exit_code == 1
    assert "not_null(value)" in found.output and "FAIL" in found.output
    # `check --json` gives the very records `checks --json` then lists (issue 29 item 14)
    ran = json.loads(diamond.run("check", "clean", "--partition", "2024-01-08", "--json").output)
    listed = json.loads(diamond.run("checks", "clean", "--json").output)
    assert ran and all(r in listed for r in ran)
    assert {(r["partition"], r["check"], r["passed"]) for r in ran} >= {
        ("2024-01-08", "not_null(value)", False)
    }
    status = json.loads(diamond.run("status", "--json", "clean").output)["assets"][0]
    assert status["nodes"] == [
        {"partition": "2024-01-08", "status": "failed", "causes": ["failed", "check_failed"]}
    ]
    # Rebuilding the node replaces the bad data and clears the failure.
    assert diamond.run("materialize", "clean").exit_code == 0
    assert json.loads(diamond.run("status", "--json", "clean").output)["assets"][0]["nodes"] == []
    assert diamond.run("check", "clean", "--partition", "2024-01-08").exit_code == 0


def test_check_command_rejects_assets_without_checks(diamond):
    result = diamond.run("check", "doubled")
    assert result.exit_code == 2 and "declares no checks" in result.output
