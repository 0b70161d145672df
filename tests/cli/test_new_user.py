"""What a new user hit (issue 13), each seen through the real CLI."""

import json

import pytest
from conftest import Project

BROKEN = """
from assetflow import asset, daily

DAYS = daily("2024-01-01", "2024-01-10")


@asset(partitions=DAYS)
def broken_sql(ctx, doubled):
    return "SELECT no_such_column FROM doubled"


@asset(partitions=DAYS)
def after_broken(ctx, broken_sql):
    return "SELECT * FROM broken_sql"


@asset(partitions=DAYS)
def good_one(ctx, shifted):
    return "SELECT * FROM shifted"
"""


SCHEDULED = """
from assetflow import asset, daily, schedule

@asset(partitions=daily("2024-01-01", "2024-01-10"))
def days(ctx):
    return f"SELECT DATE '{ctx.partition}' AS day"

nightly = schedule("nightly", "0 3 * * *", ["days"])
"""


def attempts(project: Project, asset: str) -> list[tuple]:
    return project.query(
        "SELECT status, attempt, count(*) FROM assetflow.attempts WHERE asset = ?"
        " GROUP BY ALL ORDER BY ALL",
        [asset],
    )


def test_one_sql_mistake_fails_its_asset_and_the_rest_runs(diamond):
    diamond.write("definitions/broken.py", BROKEN)
    result = diamond.run("materialize")
    assert result.exit_code == 2, result.output
    assert "Run " in result.output  # the summary is printed
    assert "broken_sql[2024-01-01]: SQL error" in result.output
    assert "Traceback" not in result.output
    assert diamond.query("SELECT count(DISTINCT _partition) FROM good_one") == [(10,)]
    # The attempts already running (concurrency 2) ran into the mistake; the asset's other
    # nodes failed without running.
    found = dict(((a, n) for s, a, n in attempts(diamond, "broken_sql") if s == "failed"))
    assert 1 <= found[1] <= 2 and found[0] + found[1] == 10
    assert attempts(diamond, "after_broken") == [("upstream_failed", 0, 10)]
    status = json.loads(diamond.run("status", "--json", "broken_sql").output)
    assert status["assets"][0]["counts"]["failed"] == 10


def test_run_counts_add_up_to_the_nodes_everywhere(diamond):
    """ok + verified + failed + not run = nodes, in the run's summary, in `runs` and in its
    JSON (a run's per-asset seconds are labelled as task time)."""
    diamond.write("definitions/broken.py", BROKEN)
    result = diamond.run("materialize")
    assert "task seconds" in result.output
    head = next(line for line in result.output.splitlines() if "asset" in line and "ok" in line)
    assert [c.strip() for c in head.strip("┃").split("┃")][2:6] == [
        "ok", "verified", "failed", "not run",
    ]  # fmt: skip
    [run] = json.loads(diamond.run("runs", "--json").output)
    counts = [run[k] for k in ("succeeded", "verified", "failed", "skipped")]
    assert run["failed"] == 10 and run["skipped"] == 10 and sum(counts) == run["planned"]
    listed = diamond.run("runs").output
    row = next(line for line in listed.splitlines() if line.startswith(f"│ {run['run_id']}"))
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells[-5:] == [str(run["planned"]), *map(str, counts)]
    assert "verified" in listed and "not run" in listed


SLOW_BATCH = """
import time
from assetflow import asset, daily

@asset(partitions=daily("2024-01-01", "2024-01-10"), batch_size=10, partition_by="day")
def batched(ctx, doubled):
    time.sleep(0.2)
    return f"SELECT DATE '{ctx.start}' + INTERVAL (user_id % 10) DAY AS day, value FROM doubled"
"""


def table_row(output: str, asset: str) -> list[str]:
    line = next(x for x in output.splitlines() if x.startswith(f"│ {asset} "))
    return [cell.strip() for cell in line.strip("│").split("│")]


def test_a_batch_counts_its_time_once(diamond):
    diamond.write("definitions/batched.py", SLOW_BATCH)
    result = diamond.run("materialize", "batched")
    assert result.exit_code == 0, result.output
    seconds = float(table_row(result.output, "batched")[-1])
    [run] = json.loads(diamond.run("runs", "--json").output)
    started, ended = (run[k] for k in ("started_at", "ended_at"))
    from datetime import datetime

    whole = (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds()
    assert 0.2 <= seconds <= whole  # the batch slept once; ten shares add up to it


def test_status_shows_each_cause_with_its_own_ranges_and_the_range_it_covers(diamond):
    assert diamond.run("materialize", "doubled", "--from", "2024-01-01", "--to", "2024-01-07")
    path = diamond.root / "definitions" / "assets.py"
    path.write_text(path.read_text().replace("value * 2 AS value", "value * 3 AS value"))
    shown = diamond.run("status", "doubled", "--from", "2024-01-01", "--to", "2024-01-10")
    assert "Status of 2024-01-01..2024-01-10" in shown.output
    row = " ".join(table_row(shown.output, "doubled"))
    assert "2024-01-01..2024-01-07 code_changed; 2024-01-08..2024-01-10 missing" in row


def test_runs_limit_must_be_positive(diamond):
    result = diamond.run("runs", "--limit", "-1")
    assert result.exit_code == 2 and "Invalid value for '--limit'" in result.output
    assert "internal error" not in result.output


def test_a_dry_run_with_nothing_to_do_says_so(diamond):
    assert diamond.run("materialize", "doubled").exit_code == 0
    result = diamond.run("materialize", "doubled", "--dry-run")
    assert result.exit_code == 0 and "nothing to do" in result.output
    assert "Plan: 0 nodes" not in result.output


def test_tick_takes_now_after_the_command_too(project):
    project.write(
        "definitions/assets.py",
        SCHEDULED,
    )
    result = project.run("tick", "--now", "2024-01-05T03:00:00", "--json", now=None)
    assert result.exit_code == 0, result.output
    [event] = json.loads(result.output)
    assert event["detail"].startswith("2024-01-04: 1 node:")  # one node, in words


def test_lineage_names_mappings_as_the_docs_do(diamond):
    result = diamond.run("lineage", "combined")
    assert "window(0, 0)" in result.output and "overlapping" not in result.output


def test_lineage_of_a_leaf_says_so_instead_of_an_empty_tree(diamond):
    leaf = diamond.run("lineage", "recent", "--downstream")
    assert leaf.exit_code == 0 and "recent" in leaf.output
    assert "is read by no asset" in leaf.output and "is read by\n" not in leaf.output
    source = diamond.run("lineage", "events", "--upstream")
    assert "reads nothing upstream" in source.output


def test_a_schedule_selecting_nothing_fails_at_load_and_a_failing_tick_exits_1(project):
    project.write(
        "definitions/assets.py",
        SCHEDULED.replace("def days", "def events").replace('["days"]', '["evnts+"]'),
    )
    for command in (["status"], ["tick"]):
        result = project.run(*command)
        assert result.exit_code == 2, result.output
        assert "definitions/assets.py:8: schedule nightly: selection 'evnts+' matches no asset" in (
            result.output
        )


def test_a_tick_whose_schedule_cannot_run_exits_1(project):
    project.write(
        "definitions/assets.py",
        """
        from assetflow import asset, daily, schedule, source

        DAYS = daily("2024-01-01", "2024-01-10")

        @source(partitions=DAYS, path="landing/{partition}.csv")
        def landed(ctx):
            return f"SELECT * FROM read_csv('{ctx.path}')"

        @asset(partitions=DAYS)
        def events(ctx, landed):
            return "SELECT * FROM landed"

        nightly = schedule("nightly", "0 3 * * *", ["events"])
        """,
    )
    result = project.run("tick", "--now", "2024-01-05T03:00:00", now=None)
    assert result.exit_code == 1, result.output  # the file never landed: cron must see it
    assert "source landed has no data for 2024-01-04" in result.output


def test_logs_find_a_partition_inside_a_batch(diamond):
    diamond.write(
        "definitions/batched.py",
        SLOW_BATCH.replace("time.sleep(0.2)", "ctx.log.info('batch %s', ctx.partition)"),
    )
    assert diamond.run("materialize", "batched").exit_code == 0
    [(run_id,)] = diamond.query("SELECT run_id FROM assetflow.runs")
    shown = diamond.run("logs", run_id, "batched", "2024-01-05")
    assert shown.exit_code == 0, shown.output
    assert "batch 2024-01-01..2024-01-10" in shown.output
    [(logged,)] = diamond.query(
        "SELECT DISTINCT log_path FROM assetflow.attempts WHERE asset = 'batched'"
    )
    assert logged.endswith("batched/2024-01-01..2024-01-10.log")
    assert diamond.run("logs", run_id, "batched", "2024-02-01").exit_code == 2


def test_why_a_node_failed_names_the_run_the_attempts_the_error_and_the_log(diamond):
    diamond.write(
        "definitions/flaky.py",
        """
        from assetflow import RetryPolicy, asset, daily

        @asset(partitions=daily("2024-01-01", "2024-01-10"),
               retry=RetryPolicy(max_retries=1, delay=1, jitter="none"))
        def flaky(ctx, doubled):
            if ctx.partition == "2024-01-03":
                raise ConnectionError("the API timed out")
            return "SELECT * FROM doubled"
        """,
    )
    assert diamond.run("materialize", "flaky").exit_code == 1
    [(run_id,)] = diamond.query("SELECT run_id FROM assetflow.runs")
    reason = json.loads(diamond.run("why", "flaky", "2024-01-03", "--json").output)
    [failure] = reason["causes"]
    assert failure["subject"] == f"run {run_id}, attempt 2"
    assert failure["detail"].startswith("ConnectionError: the API timed out — log: ")
    assert failure["detail"].endswith("flaky/2024-01-03.log")


def test_a_failing_webhook_is_one_warning_in_the_output_and_one_line_in_the_log(
    diamond, monkeypatch
):
    from conftest import Receiver

    broken = Receiver(status=500)
    try:
        monkeypatch.setenv("TEST_WEBHOOK_URL", broken.url)
        diamond.write(
            "definitions/alerting.py",
            """
            from assetflow import asset, daily, webhook

            @asset(partitions=daily("2024-01-01", "2024-01-10"),
                   on_failure=[webhook("TEST_WEBHOOK_URL")])
            def shaky(ctx, doubled):
                if ctx.partition == "2024-01-02":
                    raise ConnectionError("warehouse API unreachable")
                return "SELECT * FROM doubled"
            """,
        )
        result = diamond.run("materialize", "shaky")
    finally:
        broken.close()
    assert result.exit_code == 1
    line = "alert hook webhook(TEST_WEBHOOK_URL) failed: HTTPError: HTTP 500"
    assert result.output.count(f"warning: {line}") == 1, result.output
    [log] = (diamond.root / "warehouse" / "logs").rglob("shaky/2024-01-02.log")
    assert log.read_text().count(line) == 1


def test_backfill_shows_its_options_and_prints_its_id(fixture_project):
    project = fixture_project("chain")
    shown = project.run("backfill", "--help")
    assert "backfill [OPTIONS] [SELECTION]..." in shown.output  # not "backfill run"
    assert "--from" in shown.output and "--yes" in shown.output
    result = project.run("backfill", "--from", "2024-02-01", "--to", "2024-02-03")
    assert result.exit_code == 0, result.output
    [(backfill_id,)] = project.query("SELECT DISTINCT backfill_id FROM assetflow.runs")
    assert f"backfill {backfill_id}: the same command resumes it" in result.output


def test_messages_say_what_is_true(project, diamond, tmp_path):
    empty = project.run("status")
    assert empty.exit_code == 2 and "declares no assets" in empty.output
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    outside = Project(nowhere).run("runs")
    assert outside.exit_code == 2 and "not an assetflow project" in outside.output
    assert "assetflow init" in outside.output
    assert diamond.run("materialize", "doubled").exit_code == 0
    assert "no failed runs" in diamond.run("runs", "--status", "failed").output
    assert "no failed checks" in diamond.run("checks", "--failed").output


def test_a_schedule_past_its_partitions_says_so(project):
    project.write(
        "definitions/assets.py",
        SCHEDULED,
    )
    [event] = json.loads(project.run("tick", "--now", "2024-03-01T03:00:00", "--json").output)
    assert "the window 2024-02-29 is past the partitions' end (2024-01-10)" in event["detail"]


@pytest.mark.slow  # long: many runs or a subprocess
def test_piped_output_keeps_full_values(diamond):
    import os
    import subprocess
    import sys

    from conftest import NOW

    assert diamond.run("materialize", "doubled", "--from", "2024-01-01", "--to", "2024-01-02")
    assert diamond.run("materialize", "shifted", "--from", "2024-01-04", "--to", "2024-01-05")
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    for args, expected in [
        (["status"], "2024-01-03..2024-01-10 missing"),
        (["runs"], "│ manual  │"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "assetflow", "--project", str(diamond.root), "--now", NOW,
             *args],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        assert expected in done.stdout, done.stdout
        assert "…" not in done.stdout


def test_assets_lists_what_each_asset_is_and_holds(diamond):
    diamond.write(
        "definitions/more.py",
        '''
        from assetflow import asset, daily, not_null, schedule

        @asset(partitions=daily("2024-01-01", "2024-01-10"), checks=[not_null("value")],
               group="reports")
        def reported(ctx, doubled):
            """Doubled values, for the weekly report."""
            return "SELECT * FROM doubled"

        nightly = schedule("nightly", "0 3 * * *", ["group:reports"])
        ''',
    )
    assert diamond.run("materialize", "reported", "--from", "2024-01-01", "--to", "2024-01-03")
    [info] = json.loads(diamond.run("assets", "reported", "--json").output)
    assert info["description"] == "Doubled values, for the weekly report."
    assert info["reads"] == ["doubled via window(0, 0)"] and info["group"] == "reports"
    assert info["checks"] == ["not_null(value)"] and info["schedules"] == ["nightly"]
    assert info["materialized"] == 3
    assert info["recent_rows"] == [["2024-01-03", 3], ["2024-01-02", 3], ["2024-01-01", 3]]
    shown = diamond.run("assets")
    assert shown.exit_code == 0 and "Doubled values, for the weekly report." in shown.output


def test_sql_reads_the_warehouse_and_never_writes_it(diamond):
    assert diamond.run("materialize", "doubled", "--partition", "2024-01-02").exit_code == 0
    rows = json.loads(
        diamond.run("sql", "SELECT sum(value) AS total FROM doubled", "--json").output
    )
    assert rows == [{"total": 2 * (2 + 20 + 102)}]
    piped = diamond.run("sql", "--csv", input="SELECT 1 AS a;\nSELECT count(*) AS n FROM doubled;")
    assert piped.exit_code == 0 and piped.output == "a\n1\nn\n3\n"
    refused = diamond.run("sql", "DELETE FROM doubled")
    assert refused.exit_code == 2 and refused.output.startswith("error: SQL:")
    assert "Traceback" not in refused.output
    assert diamond.query("SELECT count(*) FROM doubled") == [(3,)]


def test_run_history_answers_while_the_definitions_do_not_load(diamond):
    """Opening the warehouse asks which assets exist only where the tables need it (Delta):
    `runs` and `logs` read history without loading the definitions."""
    assert diamond.run("materialize").exit_code == 0
    diamond.write("definitions/broken.py", "this is not python(\n")
    runs = diamond.run("runs")
    assert runs.exit_code == 0 and "success" in runs.output
    assert diamond.run("status").exit_code == 2  # what needs the definitions still says so


WEEK_OF_FAILURES = """
from assetflow import asset, daily, window

DAYS = daily("2024-01-01", "2024-01-10")


@asset(partitions=DAYS)
def base(ctx):
    return "SELECT error('boom') AS x"


@asset(partitions=DAYS, deps={"base": window(-6, 0)})
def week(ctx, base):
    return "SELECT count(*) AS n FROM base"
"""


def test_why_leads_with_failures_and_bounds_its_root_causes(project):
    """Seven failed upstream days: the root causes are the failures, at most five lines and
    how many more (issue 29 item 8), not one per path."""
    project.write("definitions/week.py", WEEK_OF_FAILURES)
    assert project.run("materialize").exit_code == 1
    shown = project.run("why", "week", "2024-01-08").output
    lines = shown.split("root causes")[1].splitlines()
    roots = [line.strip() for line in lines if line.startswith(("  week[", "  …"))]
    assert len(roots) == 6 and roots[-1].startswith("… and 2 more"), shown
    assert all("base[2024-01-0" in r and "failed" in r for r in roots[:5])


def test_the_sql_prompt_knows_dot_commands(diamond):
    """`.tables` and `.schema` as DuckDB's own shell has them (issue 29 item 15), between
    statements; an unknown one is one line naming those it knows, and nothing runs."""
    assert diamond.run("materialize", "doubled").exit_code == 0
    script = ".tables\nSELECT 41 + 1 AS answer;\n.schema doubled\n"
    shown = diamond.run("sql", "--csv", input=script)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == "name" and "doubled" in lines and "answer" in lines and "42" in lines
    assert any(line.startswith("value,") for line in lines)  # doubled's column, described
    unknown = diamond.run("sql", input="SELECT 1;\n.tabels\n")
    assert unknown.exit_code == 2
    assert "unknown command '.tabels'" in unknown.output and ".tables" in unknown.output
