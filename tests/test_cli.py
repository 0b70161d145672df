"""The command line as a user meets it: exit codes, one-line errors, JSON, --debug."""

import contextlib
import json
import os
import subprocess
import sys

import pytest
from conftest import NOW, write_events


def run_module(project, *args, **kwargs):
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "assetflow", "--project", str(project.root), "--now", NOW, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        **kwargs,
    )


@pytest.mark.slow
def test_python_dash_m_runs_the_cli(diamond):
    done = run_module(diamond, "materialize")
    assert done.returncode == 0, done.stderr
    assert "success: 41 of 41 nodes" in done.stdout


def test_errors_have_no_traceback_unless_debug(diamond):
    diamond.write("definitions/bad.py", "raise ValueError('nope')\n")
    plain = run_module(diamond, "materialize")
    assert plain.returncode == 2
    assert plain.stderr.strip() == "error: definitions/bad.py:1: cannot import: ValueError: nope"
    debug = run_module(diamond, "--debug", "materialize")
    assert debug.returncode != 0
    assert "Traceback" in debug.stderr


def test_dry_run_prints_the_plan_and_writes_nothing(diamond):
    result = diamond.run("materialize", "--dry-run", "--from", "2024-01-01", "--to", "2024-01-03")
    assert result.exit_code == 0, result.output
    assert "Plan: 12 nodes" in result.output
    assert "2024-01-01..2024-01-03" in result.output
    assert not diamond.warehouse.exists()


def test_dry_run_json_lists_nodes_in_order(diamond):
    assert diamond.run("materialize", "doubled", "--partition", "2024-01-01").exit_code == 0
    result = diamond.run(
        "materialize", "+combined", "--partition", "2024-01-01", "--dry-run", "--json", "--nodes"
    )
    assert result.exit_code == 0
    nodes = json.loads(result.output)["nodes"]
    assert [{k: n[k] for k in ("asset", "partition", "reason")} for n in nodes] == [
        {"asset": "shifted", "partition": "2024-01-01", "reason": "missing"},
        {"asset": "combined", "partition": "2024-01-01", "reason": "missing"},
    ]
    assert nodes[1]["conditional"] is False and nodes[1]["batch"] is None
    assert nodes[1]["reads"] == [
        {"input": "doubled", "from": "2024-01-01", "to": "2024-01-01"},
        {"input": "shifted", "from": "2024-01-01", "to": "2024-01-01"},
    ]


def test_dry_run_json_carries_what_a_conditional_node_was_built_from(diamond):
    assert diamond.run("materialize", "combined", "--partition", "2024-01-02").exit_code == 0
    # New content for the day: doubled and shifted change; combined is stale only through them.
    write_events(diamond, "2024-01-02", [(1, 2), (2, 20), (3, 102), (4, 0)])
    plan = json.loads(
        diamond.run("materialize", "recent", "--partition", "2024-01-02", "--dry-run", "--json", "--nodes")
        .output
    )  # fmt: skip
    by_asset = {n["asset"]: n for n in plan["nodes"] if n["partition"] == "2024-01-02"}
    assert by_asset["doubled"]["reason"] == "upstream_changed"
    assert by_asset["doubled"]["conditional"] is False
    assert by_asset["combined"]["conditional"] is True
    versions = diamond.query(
        "SELECT asset, data_version FROM assetflow.nodes WHERE partition = '2024-01-02'"
    )
    recorded = {r["input"]: r["version"] for r in by_asset["combined"]["recorded_inputs"]}
    assert recorded == {a: v for a, v in versions if a in ("doubled", "shifted")}


@pytest.mark.parametrize(
    "args,message",
    [
        (["materialize", "--json"], "--json goes with --dry-run"),
        (["materialize", "--dry-run", "--nodes"], "--nodes goes with --dry-run --json"),
        (
            ["materialize", "--partition", "2024-01-01", "--from", "2024-01-01"],
            "either --partition",
        ),
        (["materialize", "--from", "2024-01-05", "--to", "2024-01-01"], "is before --from"),
        (
            ["materialize", "--partition", "2024-02-30"],
            "invalid day partition key '2024-02-30': day is out of range",
        ),
        (["materialize", "--partition", "2023-05-01"], "no partitions of"),
        (["materialize", "nothing*"], "selection 'nothing*' matches no asset"),
        (["materialize", "events"], "'events' is a source"),
        (["materialize", "group:nope"], "matches no asset (groups: none declared)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(diamond, args, message):
    result = diamond.run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not diamond.warehouse.exists()


def test_bad_now_is_rejected(diamond):
    result = diamond.run("materialize", now="yesterday")
    assert result.exit_code == 2 and "--now" in result.output


def test_selection_globs_and_downstream(diamond):
    assert diamond.run("materialize").exit_code == 0
    result = diamond.run(
        "materialize",
        "shift*+",
        "--partition",
        "2024-01-05",
        "--dry-run",
        "--json",
        "--nodes",
        "--force",
    )
    assets = [n["asset"] for n in json.loads(result.output)["nodes"]]
    assert assets == ["shifted", "combined", "recent"]


def test_runs_json(diamond):
    assert diamond.run("materialize", "doubled").exit_code == 0
    runs = json.loads(diamond.run("runs", "--json").output)
    assert [(r["status"], r["planned"], r["succeeded"]) for r in runs] == [("success", 10, 10)]


def test_runs_on_a_new_project_says_so(diamond):
    result = diamond.run("runs")
    assert result.exit_code == 0 and "no runs yet" in result.output


@contextlib.contextmanager
def holding(warehouse, seconds: float):
    """Another process holding the warehouse read-write for `seconds`."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, time; c = duckdb.connect({str(warehouse)!r}); print('ok', flush=True);"
         f" time.sleep({seconds})"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ok"
        yield holder
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_a_second_writer_is_told_who_holds_the_warehouse(diamond):
    assert diamond.run("materialize", "doubled").exit_code == 0
    with holding(diamond.warehouse, 30) as holder:
        result = diamond.run("materialize", "doubled")
        assert result.exit_code == 1
        assert f"is in use by process {holder.pid}" in result.output
        waited = diamond.run("materialize", "doubled", "--wait", "1")
        assert waited.exit_code == 1 and "--wait SECONDS" in waited.output


@pytest.mark.slow
def test_a_writer_waits_briefly_for_a_process_that_is_not_a_run(diamond):
    """A reader (not a run) lets go soon: a writer waits for it (READER_WAIT) without being
    asked. (`--wait` behind a real run: tests/test_crash.py.)"""
    assert diamond.run("materialize", "doubled").exit_code == 0
    with holding(diamond.warehouse, 1.5):
        result = diamond.run("materialize")
        assert result.exit_code == 0, result.output
