"""`assetflow sql` streams (issue 29 items 2, 3, 15): a table shows the first 40 rows and
says how many it left out, --csv and --json print every row as it is read, a reader that
goes away (`| head`) is a quiet exit, and a failing statement keeps the results before it.
Real processes and real pipes."""

import json
import os
import subprocess
import sys

import pytest

PIPELINE = """
from assetflow import asset


@asset
def numbers(ctx):
    return "SELECT range AS n FROM range(200000)"
"""


@pytest.fixture
def built(project):
    project.write("definitions/pipeline.py", PIPELINE)
    assert project.run("materialize").exit_code == 0
    return project


def shell(project, command: str) -> subprocess.CompletedProcess:
    """`command` in bash with `assetflow` as this Python's, in the project folder."""
    script = f'assetflow() {{ "{sys.executable}" -m assetflow "$@"; }}\nset -o pipefail\n{command}'
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    return subprocess.run(
        ["bash", "-c", script], cwd=project.root, capture_output=True, text=True, env=env,
        timeout=60,
    )  # fmt: skip


@pytest.mark.slow
def test_a_closed_pipe_is_a_quiet_exit_for_every_format(built):
    for flags in ("--csv", "--json", ""):
        done = shell(built, f'assetflow sql "SELECT * FROM numbers" {flags} | head -2')
        assert done.returncode == 0, (flags, done.stderr)
        assert done.stderr == "", (flags, done.stderr)
        assert len(done.stdout.splitlines()) == 2


@pytest.mark.slow
def test_csv_and_json_stream_every_row_and_a_table_shows_forty(built):
    csv_out = shell(built, 'assetflow sql "SELECT n FROM numbers ORDER BY n" --csv')
    assert csv_out.returncode == 0 and csv_out.stdout.splitlines()[:3] == ["n", "0", "1"]
    assert len(csv_out.stdout.splitlines()) == 200_001
    as_json = shell(built, 'assetflow sql "SELECT n FROM numbers WHERE n < 3 ORDER BY n" --json')
    assert json.loads(as_json.stdout) == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert json.loads(shell(built, 'assetflow sql "SELECT 1 WHERE false" --json').stdout) == []
    table = shell(built, 'assetflow sql "SELECT n FROM numbers ORDER BY n"')
    assert table.returncode == 0
    assert "200,000 rows, 199,960 not shown" in table.stdout
    assert "│ 39 " in table.stdout and "│ 40 " not in table.stdout


@pytest.mark.slow
def test_a_failing_statement_keeps_what_came_before_and_duckdbs_hint(built):
    done = shell(built, 'printf "SELECT 41 + 1 AS answer; SELECT * FROM numbrs;" | assetflow sql')
    assert done.returncode == 2
    assert "42" in done.stdout  # the first statement's result was printed
    assert "Table with name numbrs does not exist" in done.stderr
    assert 'Did you mean "numbers"?' in done.stderr
