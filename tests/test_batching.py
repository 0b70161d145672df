"""Batching: contiguous stale partitions of an asset run as one task, with per-partition
lineage identical to unbatched runs."""

import pytest
from conftest import make_project

BATCHED = '''
import os
from assetflow import asset, daily, not_null, source, window

DAYS = daily("2024-02-01", "2024-02-25")
BATCH = int(os.environ.get("BATCH", "1"))

@source(partitions=DAYS, observe=lambda key: "v1")
def numbers(ctx):
    return f"SELECT range AS n, DATE '{ctx.partition}' AS day FROM range({int(ctx.partition[-2:]) * 3})"

@asset(partitions=DAYS, batch_size=BATCH, partition_by="day", checks=[not_null("n")])
def base(ctx, numbers):
    return "SELECT n, day, n * dayofmonth(day) AS product FROM numbers"

@asset(partitions=DAYS, batch_size=BATCH, partition_by="day", deps={"base": window(-2, 0)})
def rolled(ctx, base):
    return f"""
        SELECT d.day, count(b.n) AS n, sum(b.product) AS total
        FROM (SELECT unnest(range(DATE '{ctx.start}', DATE '{ctx.end}', INTERVAL 1 DAY))::DATE AS day) d
        LEFT JOIN base b ON b.day BETWEEN d.day - 2 AND d.day
        GROUP BY d.day
    """
'''

LINEAGE = (
    "SELECT m.asset, m.partition, m.code_version, m.data_version, m.row_count, m.clipped,"
    " list(i.input || '[' || i.input_partition || ']=' || i.input_version ORDER BY i.input,"
    " i.input_partition) FROM assetflow.materializations m LEFT JOIN assetflow.inputs i"
    " USING (materialization_id) GROUP BY ALL ORDER BY 1, 2"
)


def build(tmp_path, name, batch, monkeypatch):
    project = make_project(tmp_path / name)
    project.write("definitions/batched.py", BATCHED)
    monkeypatch.setenv("BATCH", str(batch))
    result = project.run("backfill", "--from", "2024-02-01", "--to", "2024-02-25", "--yes")
    assert result.exit_code == 0, result.output
    return project


def test_batched_lineage_equals_unbatched_lineage(tmp_path, monkeypatch):
    single = build(tmp_path, "single", 1, monkeypatch)
    batched = build(tmp_path, "batched", 10, monkeypatch)
    assert batched.query(LINEAGE) == single.query(LINEAGE)
    for table in ("base", "rolled"):
        sql = f"SELECT * FROM {table} ORDER BY ALL"
        assert batched.query(sql) == single.query(sql)
    tasks = batched.query(
        "SELECT asset, count(DISTINCT started_at) FROM assetflow.attempts GROUP BY 1 ORDER BY 1"
    )
    assert tasks == [("base", 3), ("rolled", 3)]  # 25 days in batches of 10: 3 tasks each
    checks = batched.query("SELECT count(*), bool_and(passed) FROM assetflow.check_results")
    assert checks == [(25, True)]  # checks ran per partition inside the batch
    assert batched.run("status", "--json").exit_code == 0
    assert batched.run(
        "materialize", "--from", "2024-02-01", "--to", "2024-02-25"
    ).output.startswith("nothing to do")


def test_a_batch_only_covers_stale_partitions(tmp_path, monkeypatch):
    project = build(tmp_path, "p", 10, monkeypatch)
    result = project.run(
        "materialize", "base", "--from", "2024-02-05", "--to", "2024-02-07", "--force"
    )
    assert result.exit_code == 0, result.output
    latest_run = project.query(
        "SELECT run_id FROM assetflow.runs ORDER BY started_at DESC LIMIT 1"
    )[0][0]
    rebuilt = project.query(
        "SELECT partition FROM assetflow.materializations WHERE run_id = ? ORDER BY 1", [latest_run]
    )
    assert rebuilt == [("2024-02-05",), ("2024-02-06",), ("2024-02-07",)]
    assert project.query("SELECT count(*) FROM base") == [(sum(d * 3 for d in range(1, 26)),)]


def test_rows_outside_the_batch_are_a_data_error(tmp_path, monkeypatch, storage_settings):
    project = make_project(tmp_path / "stray", extra=storage_settings)
    project.write("definitions/batched.py", BATCHED.replace(
        'return "SELECT n, day, n * dayofmonth(day) AS product FROM numbers"',
        'return "SELECT n, day + 40 AS day, n AS product FROM numbers"',
    ))  # fmt: skip
    monkeypatch.setenv("BATCH", "5")
    result = project.run("materialize", "base", "--from", "2024-02-01", "--to", "2024-02-05")
    assert result.exit_code == 1
    assert "rows fall outside partitions 2024-02-01..2024-02-05" in result.output
    assert project.query("SELECT count(*) FROM assetflow.materializations") == [(0,)]


def test_batch_size_needs_partition_by(project):
    project.write(
        "definitions/bad.py",
        "from assetflow import asset, daily\n"
        "@asset(partitions=daily('2024-01-01', '2024-01-05'), batch_size=3)\n"
        "def oops(ctx):\n    return 'SELECT 1 AS x'\n",
    )
    result = project.run("materialize")
    assert result.exit_code == 2 and "batch_size > 1 needs" in result.output


@pytest.mark.parametrize(
    "batch,failed,blocked",
    [
        (1, ["2024-02-03"], ["2024-02-03", "2024-02-04", "2024-02-05"]),
        # rolled runs in batches too: 01..07 and 08..10 both read a failed base day.
        (7, [f"2024-02-0{d}" for d in range(1, 8)], [f"2024-02-{d:02d}" for d in range(1, 11)]),
    ],
)
def test_a_failed_check_fails_the_whole_batch_and_blocks_its_downstream(
    tmp_path, monkeypatch, batch, failed, blocked
):
    project = make_project(tmp_path / "p")
    project.write("definitions/batched.py", BATCHED.replace(
        'return "SELECT n, day, n * dayofmonth(day) AS product FROM numbers"',
        'return "SELECT CASE WHEN dayofmonth(day) = 3 THEN NULL ELSE n END AS n, day,'
        ' n * dayofmonth(day) AS product FROM numbers"',
    ))  # fmt: skip
    monkeypatch.setenv("BATCH", str(batch))
    result = project.run("backfill", "--from", "2024-02-01", "--to", "2024-02-10", "--yes")
    assert result.exit_code == 1
    statuses = project.query(
        "SELECT asset, partition, status FROM assetflow.attempts ORDER BY asset, partition"
    )
    assert [p for a, p, s in statuses if a == "base" and s == "failed"] == failed
    assert [p for a, p, s in statuses if a == "rolled" and s == "upstream_failed"] == blocked
    assert project.query("SELECT count(*) FROM base WHERE _partition = '2024-02-03'") == [(0,)]


RANGED_SOURCE = '''
@source(partitions=DAYS, observe=lambda key: "v1", ranges=True)
def numbers(ctx):
    with open(os.environ["CALLS"], "a") as calls:
        calls.write(f"{ctx.start} {ctx.end} {len(ctx.partitions)}\\n")
    return f"""
        SELECT r.range AS n, d::DATE AS day
        FROM range(DATE '{ctx.start}', DATE '{ctx.end}', INTERVAL 1 DAY) t(d), range(100) r
        WHERE r.range < dayofmonth(d) * 3
    """
'''


def with_ranged_source(text: str) -> str:
    start = text.index("@source(")
    return text[:start] + RANGED_SOURCE + text[text.index("@asset(", start) :]


def test_a_source_read_by_ranges_is_called_once_per_batch_with_the_same_result(
    tmp_path, monkeypatch
):
    single = build(tmp_path, "single", 1, monkeypatch)
    ranged = make_project(tmp_path / "ranged")
    ranged.write("definitions/batched.py", with_ranged_source(BATCHED))
    calls = tmp_path / "calls.txt"
    monkeypatch.setenv("CALLS", str(calls))
    monkeypatch.setenv("BATCH", "10")
    result = ranged.run("backfill", "--from", "2024-02-01", "--to", "2024-02-25", "--yes")
    assert result.exit_code == 0, result.output
    assert sorted(calls.read_text().splitlines()) == [
        "2024-02-01 2024-02-11 10",
        "2024-02-11 2024-02-21 10",
        "2024-02-21 2024-02-26 5",
    ]  # 25 days in batches of 10: one call per batch, its window spanning the batch
    assert ranged.query(LINEAGE) == single.query(LINEAGE)
    for table in ("base", "rolled"):
        sql = f"SELECT * FROM {table} ORDER BY ALL"
        assert ranged.query(sql) == single.query(sql)


def test_a_source_read_by_ranges_names_no_single_partition(tmp_path, monkeypatch):
    project = make_project(tmp_path / "p")
    text = with_ranged_source(BATCHED).replace(
        "DATE '{ctx.start}', DATE", "DATE '{ctx.partition}', DATE"
    )
    project.write("definitions/batched.py", text)
    monkeypatch.setenv("CALLS", str(tmp_path / "calls.txt"))
    result = project.run("materialize", "base", "--from", "2024-02-01", "--to", "2024-02-01")
    assert result.exit_code == 2, result.output
    assert "batched.py" in result.output
    assert "source numbers reads ranges (ranges=True): ctx.partition names one" in result.output
    assert project.query("SELECT count(*) FROM assetflow.materializations") == [(0,)]


def test_ranges_need_time_partitions_and_no_files(project):
    project.write(
        "definitions/bad.py",
        "from assetflow import source, daily\n"
        "@source(partitions=daily('2024-01-01'), path='landing/{partition}.csv', ranges=True)\n"
        "def files(ctx):\n"
        "    return f\"SELECT * FROM read_csv('{ctx.path}')\"\n",
    )
    result = project.run("status")
    assert result.exit_code == 2
    assert "bad.py:2: files: ranges=True reads a window of partitions" in result.output
