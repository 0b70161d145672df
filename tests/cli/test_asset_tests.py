"""`assetflow test`: asset tests with fixture rows, computed in memory, never the warehouse
(issue 35 item 1)."""

import json

import pytest
from conftest import FIXTURES, make_project


@pytest.fixture
def tested(tmp_path):
    project = make_project(tmp_path / "p", FIXTURES / "tested")
    (project.root / "fixtures").mkdir()
    (project.root / "fixtures" / "events.csv").write_text(
        "day,k,v\n2024-01-01,a,1\n2024-01-01,b,1\n2024-01-02,a,1\n"
    )
    return project


def test_a_failing_test_exits_1_naming_the_rows_and_columns_that_differ(tested):
    result = tested.run("test")
    assert result.exit_code == 1, result.output
    out = result.output
    assert "ok three_days (rolling[2024-01-03]) (2 rows)" in out
    assert "ok python_asset (doubled[2024-01-05..2024-01-06])" in out
    assert "ok from_csv (per_day[2024-01-01..2024-01-07])" in out
    assert "FAILED wrong_totals (rolling[2024-01-03])" in out
    assert "missing (expected, not produced): 1 row\n    k=b total=1 n=1" in out
    assert "unexpected (produced, not expected): 1 row\n    k=c total=1 n=1" in out
    assert "changed (by k): 1 row\n    k=a: total expected 2, got 1" in out
    assert "3 passed, 1 failed" in out
    assert not (tested.root / "warehouse").exists() or not tested.warehouse.exists()


def test_a_selection_runs_its_assets_tests_or_one_by_name(tested):
    passing = tested.run("test", "doubled", "per_day")
    assert passing.exit_code == 0 and "2 passed, 0 failed" in passing.output, passing.output
    one = json.loads(tested.run("test", "wrong_totals", "--json").output)
    assert [(t["name"], t["passed"]) for t in one] == [("wrong_totals", False)]
    [found] = one
    assert found["changed"] == [
        {"key": {"k": "a"}, "columns": {"total": {"expected": 2, "actual": 1}}}
    ]
    assert found["missing"] == [{"k": "b", "total": 1, "n": 1}] and found["produced"] == 2


def test_a_test_that_cannot_run_says_why_in_one_line(tested):
    tested.write(
        "definitions/broken.py",
        "from assetflow import asset_test\n"
        "no_rows = asset_test('rolling', partition='2024-01-03', given={}, expect=[])\n"
        "ROWS = [{'day': None, 'k': 'a', 'v': 1}]\n"
        "no_column = asset_test('rolling', partition='2024-01-03', given={'events': ROWS},"
        " expect=[{'nope': 1}])\n"
        "mixed = asset_test('rolling', partition='2024-01-03', given={'events': ROWS},"
        " expect=[{'k': 'a'}, {'k': 1}])\n"
        "outside = asset_test('rolling', partition='2030-01-01', given={'events': ROWS},"
        " expect=[])\n"
        "empty = asset_test('rolling', partition='2024-01-03', given={'events': []}, expect=[])\n",
    )
    result = tested.run("test", "rolling")
    assert result.exit_code == 1
    out = result.output
    assert "no rows given for input events" in out
    assert "the rows of events: no rows, so no columns" in out
    assert "the asset returns no column nope (it returns day, k, total, n)" in out
    assert "the expected rows: each column takes values of one type" in out
    assert "2030-01-01" in out and "Traceback" not in out


def test_an_asset_test_of_an_unknown_asset_is_a_definition_error(tested):
    tested.write(
        "definitions/unknown.py",
        "from assetflow import asset_test\nx = asset_test('nope', given={}, expect=[])\n",
    )
    result = tested.run("test")
    assert result.exit_code == 2
    assert "definitions/unknown.py:2: asset_test x: no asset named 'nope'" in result.output


def test_materialize_test_runs_the_planned_assets_tests_first(tested):
    stopped = tested.run("materialize", "rolling", "--test")
    assert stopped.exit_code == 1 and "FAILED wrong_totals" in stopped.output
    assert not tested.warehouse.exists()  # nothing ran
    dry = tested.run("materialize", "doubled", "--dry-run", "--test")
    assert dry.exit_code == 0 and "ok python_asset" in dry.output and "Plan:" in dry.output
    ran = tested.run("materialize", "doubled", "--test")
    assert ran.exit_code == 0, ran.output
    assert tested.query("SELECT count(*) FROM doubled")[0][0] == 31


@pytest.mark.slow  # pytest in a process of its own
def test_pytest_collects_them_through_the_python_api(tested):
    import subprocess
    import sys

    (tested.root / "test_assets.py").write_text(
        "import pytest\nimport assetflow\n\n\n"
        "@pytest.mark.parametrize('result', assetflow.Pipeline('.').test(), ids=lambda r: r.name)\n"
        "def test_asset(result):\n    assert result.passed, result.report()\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
         "test_assets.py"],
        cwd=tested.root, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 3 passed" in done.stdout
    assert "test_asset[wrong_totals]" in done.stdout and "changed (by k): 1 row" in done.stdout
