"""storage = "delta" (issue 17) on threads: the same rows, status and plans as the embedded
warehouse; checks before the commit; a commit the coordinator never recorded adopted; wipe
and vacuum on Delta tables. Real Delta tables in tmp_path, read back with deltalake."""

import json

import pytest
from conftest import FIXTURES, NOW_DT, make_project, write_events

deltalake = pytest.importorskip("deltalake")

from assetflow.app.config import load_project  # noqa: E402
from assetflow.app.materialize import RunOptions, materialize  # noqa: E402
from assetflow.app.session import Request, Session  # noqa: E402
from assetflow.run.clock import FixedClock  # noqa: E402
from assetflow.run.delta import DeltaStorage  # noqa: E402
from assetflow.run.delta_worker import DeltaWorker  # noqa: E402
from assetflow.run.task import make_task  # noqa: E402

DELTA = 'storage = "delta"\nstorage_path = "lake"\n'
ASSETS = ("doubled", "shifted", "combined", "recent", "monthly_total")


def diamond(root, extra=""):
    project = make_project(root, FIXTURES / "diamond", extra)
    for day in range(1, 11):
        write_events(project, f"2024-01-{day:02d}", [(1, day), (2, 10 * day), (3, 100 + day)])
    return project


def rows(project, asset):
    """Every row of the asset's table, ordered, as the warehouse (a view over the Delta
    table, for Delta storage) reads it, with the partition column."""
    return project.query(f"SELECT * FROM {asset} ORDER BY ALL")


def delta_rows(project, asset):
    """The same, read from the Delta table itself by deltalake (not through DuckDB)."""
    table = deltalake.DeltaTable(str(project.root / "lake" / asset)).to_pyarrow_table()
    names = sorted(table.column_names)
    return sorted(tuple(str(r[n]) for n in names) for r in table.to_pylist())


def non_fresh(project):
    report = json.loads(project.run("status", "--json").output)
    return {
        (a["asset"], n["partition"]): (n["status"], tuple(n["causes"]))
        for a in report["assets"]
        for n in a["nodes"]
    }


def planned(project):
    plan = json.loads(project.run("materialize", "--dry-run", "--json", "--nodes").output)
    return sorted((n["asset"], n["partition"], n["reason"]) for n in plan["nodes"])


@pytest.fixture
def pair(tmp_path):
    """The diamond stored in the warehouse file and in Delta Lake, both materialized."""
    embedded, lake = diamond(tmp_path / "embedded"), diamond(tmp_path / "delta", DELTA)
    for project in (embedded, lake):
        done = project.run("materialize")
        assert done.exit_code == 0, done.output
    return embedded, lake


@pytest.mark.slow
def test_delta_storage_holds_the_same_rows_status_and_plans_as_the_warehouse(pair):
    embedded, lake = pair
    for asset in ASSETS:
        assert rows(lake, asset) == rows(embedded, asset), asset
        assert (lake.root / "lake" / asset / "_delta_log").is_dir()
        # the rows live in Delta: deltalake reads them without the warehouse
        ours = sorted(tuple(str(v) for _, v in sorted(r.items())) for r in
                      [dict(zip(_columns(embedded, asset), row, strict=True))
                       for row in rows(embedded, asset)])  # fmt: skip
        assert delta_rows(lake, asset) == ours, asset
    assert lake.query("SELECT count(*) FROM main.doubled") == [(30,)]
    assert not (lake.query("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main'"))[0][0]
    assert non_fresh(lake) == non_fresh(embedded) == {}
    again = lake.run("materialize")
    assert "nothing to do" in again.output
    # a source day changes: the same nodes are stale for the same causes, the same plan
    for project in pair:
        write_events(project, "2024-01-04", [(1, 40), (2, 400), (3, 104)])
    assert non_fresh(lake) == non_fresh(embedded) != {}
    assert planned(lake) == planned(embedded)
    for project in pair:
        assert project.run("materialize").exit_code == 0
    for asset in ASSETS:
        assert rows(lake, asset) == rows(embedded, asset), asset


def _columns(project, asset):
    return [
        c
        for (c,) in project.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
            " ORDER BY ordinal_position",
            [asset],
        )
    ]


@pytest.mark.slow
def test_a_blocking_check_failure_commits_nothing_to_the_delta_table(tmp_path):
    project = diamond(tmp_path / "p", DELTA)
    project.write(
        "definitions/checked.py",
        """
        from assetflow import asset, daily, expression

        @asset(partitions=daily("2024-01-01", "2024-01-10"), checks=[expression("value < 1000")])
        def guarded(ctx, doubled):
            return "SELECT user_id, value FROM doubled"
        """,
    )
    assert project.run("materialize").exit_code == 0
    table = lambda: deltalake.DeltaTable(str(project.root / "lake" / "guarded"))  # noqa: E731
    before, content = table().version(), rows(project, "guarded")
    write_events(project, "2024-01-05", [(1, 5000), (2, 50), (3, 105)])
    done = project.run("materialize", "guarded")
    assert done.exit_code != 0 and "check failed" in done.output, done.output
    assert table().version() == before
    assert rows(project, "guarded") == content
    failed = project.query(
        "SELECT count(*) FROM assetflow.check_results WHERE asset = 'guarded' AND NOT passed"
    )
    assert failed == [(1,)]


@pytest.mark.slow
def test_a_commit_whose_coordinator_died_before_recording_it_is_adopted(tmp_path):
    project = diamond(tmp_path / "p", DELTA)
    assert project.run("materialize").exit_code == 0
    write_events(project, "2024-01-03", [(1, 30), (2, 300), (3, 103)])
    assert non_fresh(project)[("doubled", "2024-01-03")][0] == "stale"
    # A worker commits doubled[2024-01-03]; its coordinator dies before recording it.
    with Session(load_project(project.root), FixedClock(NOW_DT), NOW_DT) as session:
        # With the input versions a run records (a dry run reads them for --nodes only).
        options = RunOptions(dry_run=True, per_node=True)
        plan = materialize(session, Request(("doubled",)), options).plan
        (node,) = [p for p in plan.nodes if p.node.partition == "2024-01-03"]
        spec = session.graph.defs.assets["doubled"]
        task = make_task("deadrun", [node], plan.versions, spec.code_version, 1, NOW_DT,
                         str(tmp_path / "log.txt"))  # fmt: skip
        storage = DeltaStorage(str(project.root / "lake"))
        done = DeltaWorker(session.graph.defs, project.root, storage)(task)
    assert done.error is None and done.published is not None
    assert project.query(
        "SELECT count(*) FROM assetflow.materializations WHERE run_id = 'deadrun'"
    ) == [(0,)]
    # The next writer adopts it: the node is fresh with the version the worker computed.
    again = project.run("materialize", "doubled")
    assert again.exit_code == 0 and "nothing to do" in again.output, again.output
    assert project.query(
        "SELECT partition, data_version, row_count FROM assetflow.materializations"
        " WHERE run_id = 'deadrun'"
    ) == [("2024-01-03", done.written["2024-01-03"].data_version, 3)]
    assert project.query(
        "SELECT count(*) FROM assetflow.delta_commits WHERE asset = 'doubled' AND version = ?",
        [done.published.version],
    ) == [(1,)]
    assert project.query("SELECT value FROM doubled WHERE _partition = '2024-01-03' ORDER BY 1") == [
        (60,), (206,), (600,)
    ]  # fmt: skip


@pytest.mark.slow
def test_wipe_deletes_from_the_delta_table_and_vacuum_keeps_what_versions_read(tmp_path):
    project = diamond(tmp_path / "p", DELTA)
    assert project.run("materialize").exit_code == 0
    wiped = project.run("wipe", "doubled", "--partition", "2024-01-05")
    assert wiped.exit_code == 0, wiped.output
    assert "1 partition, 3 rows" in wiped.output
    assert project.query("SELECT count(*) FROM doubled WHERE _partition = '2024-01-05'") == [(0,)]
    assert len(delta_rows(project, "doubled")) == 27
    assert non_fresh(project)[("doubled", "2024-01-05")] == ("missing", ("missing",))
    assert project.run("materialize").exit_code == 0
    assert len(delta_rows(project, "doubled")) == 30
    # Old files stay until vacuumed; a retention shorter than the longest run is refused.
    short = project.run("vacuum", "--retain-hours", "0")
    assert short.exit_code == 2 and "shorter than the longest recorded run" in short.output
    listed = project.run("vacuum", "--dry-run")
    assert listed.exit_code == 0 and "nothing to vacuum" in listed.output
    storage = DeltaStorage(str(project.root / "lake"))
    removed = storage.vacuum("doubled", 0, dry_run=False)
    assert removed  # the files of the overwritten and wiped partition
    assert len(delta_rows(project, "doubled")) == 30
    assert non_fresh(project) == {}


def test_delta_storage_needs_a_path(tmp_path):
    project = diamond(tmp_path / "p", 'storage = "delta"\n')
    done = project.run("materialize")
    assert done.exit_code == 2
    (line,) = done.output.strip().splitlines()
    assert line.startswith("error: ") and 'storage = "delta" needs storage_path' in line
    assert not project.warehouse.exists()


def test_concurrent_first_commits_to_a_new_table_keep_every_partition(tmp_path):
    """Writers racing to create an asset's table, and to commit partitions to it, each
    alone: every partition lands once (a first commit that replaced the whole table would
    drop the others'), every version is its own."""
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    storage = DeltaStorage(str(tmp_path / "lake"))
    keys = [f"2024-01-{d:02d}" for d in range(1, 9)]

    def commit(key):  # a conflict with another writer's commit is the writer's to retry
        rows = pa.table({"n": [1, 2], "_partition": [key, key]})
        return storage.commit("t", rows, [key], {"run_id": "r", "asset": "t", "attempt": 1})

    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(commit, keys))
    assert len(set(versions)) == 8
    table = deltalake.DeltaTable(str(tmp_path / "lake" / "t")).to_pyarrow_table()
    assert sorted(table.column("_partition").to_pylist()) == sorted(keys * 2)


def test_a_table_made_anew_in_its_folder_is_not_taken_for_the_one_loaded(tmp_path):
    """An environment dropped and made again has a table whose versions start over: a
    process that loaded the old one at the same version reads the new one's files."""
    import shutil

    import pyarrow as pa

    storage = DeltaStorage(str(tmp_path / "lake"))
    lineage = {"run_id": "r", "asset": "t", "attempt": 1}
    first = storage.commit("_env_dev/t", pa.table({"n": [1], "_partition": ["a"]}), ["a"], lineage)
    assert storage.rows("_env_dev/t", ["a"], "t").column("n").to_pylist() == [1]
    shutil.rmtree(tmp_path / "lake" / "_env_dev")
    storage.commit("_env_dev/t", pa.table({"n": [2], "_partition": ["b"]}), ["b"], lineage)
    assert storage.table("_env_dev/t").version() == first  # the version of the one loaded
    assert storage.rows("_env_dev/t", ["b"], "t").column("n").to_pylist() == [2]
    assert storage.rows("_env_dev/t", ["a"], "t").num_rows == 0


@pytest.mark.slow
def test_zoned_hours_weeks_and_static_keys_on_delta_equal_the_warehouse(tmp_path):
    """Every partition kind on Delta: keys holding + and : (zoned hours) in the tables'
    folder names, TIMESTAMPTZ kept as UTC, weeks and static keys; same rows, all fresh."""
    from cli.test_hours_weeks_regions import NOW, PIPELINE, _hour_keys, _land

    projects = []
    for name, extra in (("embedded", ""), ("delta", DELTA)):
        project = make_project(tmp_path / name, None, extra)
        project.write("definitions/pipeline.py", PIPELINE)
        _land(project, _hour_keys(project))
        done = project.run("materialize", now=NOW)
        assert done.exit_code == 0, done.output
        projects.append(project)
    embedded, lake = projects
    for asset in ("hourly_sum", "daily_sum", "weekly_sum", "region_sales", "all_regions"):
        assert rows(lake, asset) == rows(embedded, asset), asset
    report = json.loads(lake.run("status", "--json", now=NOW).output)
    assert [n for a in report["assets"] for n in a["nodes"]] == []


def test_a_column_delta_cannot_hold_is_named(tmp_path):
    project = make_project(tmp_path / "p", None, DELTA)
    project.write(
        "definitions/clock.py",
        """
        from assetflow import asset, daily

        @asset(partitions=daily("2024-01-01", "2024-01-02"))
        def times(ctx):
            return "SELECT TIME '10:00' AS at, 1::UTINYINT AS small"
        """,
    )
    done = project.run("materialize")
    assert done.exit_code == 2, done.output
    assert "returns column at of type time64[us], which a Delta Lake table cannot hold" in (
        done.output
    )
    assert not (project.root / "lake" / "times").exists()


@pytest.mark.slow
def test_a_commit_is_one_file_and_a_table_partitioned_by_the_key_stays_so(tmp_path):
    """New tables are clustered by the partition key (a task's commit is one file, however
    many partitions); a table made partitioned by it (one folder per partition) is written
    as it is. Both read back exactly the partitions asked for, also after a delete rewrote
    a file (string_view in the rewritten file, string in the others)."""
    import duckdb
    import pyarrow as pa

    from assetflow.run.delta_types import readable_dataset

    storage = DeltaStorage(str(tmp_path / "lake"))

    def days(*pairs):
        return pa.table({"v": [v for _, v in pairs], "_partition": [d for d, _ in pairs]})

    def read(asset, keys):
        conn = duckdb.connect()
        conn.register("t", readable_dataset(storage.table(asset), keys))
        found = conn.sql(f"SELECT * FROM t WHERE _partition IN {tuple(keys)} ORDER BY 2, 1")
        return found.fetchall()

    month = days(("2024-01-01", 1), ("2024-01-02", 2), ("2024-01-03", 3))
    deltalake.DeltaTable.create(storage.uri("legacy"), month.schema, partition_by=["_partition"])
    for asset in ("clustered", "legacy"):
        storage.commit(asset, month, ["2024-01-01", "2024-01-02", "2024-01-03"], {"run_id": "r"})
        storage.delete(asset, ["2024-01-02"], "w")
        storage.commit(asset, days(("2024-01-04", 4)), ["2024-01-04"], {"run_id": "r"})
        keys = ["2024-01-03", "2024-01-04"]
        assert read(asset, keys) == [(3, "2024-01-03"), (4, "2024-01-04")], asset
    folders = {p.name for p in (tmp_path / "lake" / "legacy").iterdir()}
    assert "_partition=2024-01-01" in folders
    clustered = tmp_path / "lake" / "clustered"
    assert not [p for p in clustered.iterdir() if p.name.startswith("_partition=")]
    assert len(storage.table("clustered").file_uris()) == 2  # the rewritten file, the new one


@pytest.mark.slow
def test_two_writers_of_one_partition_leave_its_rows_once(tmp_path):
    """Two processes rebuilding the same partition of a Delta table at once (issue 32 item
    7): the second queues behind the first (the warehouse's lock, --wait) and replaces what
    the first wrote; the partition holds its rows once, with one current lineage record."""
    import os
    import subprocess
    import sys

    project = diamond(tmp_path / "p", DELTA)
    assert project.run("materialize", "doubled").exit_code == 0
    before = delta_rows(project, "doubled")
    command = [
        sys.executable, "-m", "assetflow", "--project", str(project.root), "--now", "2024-01-11",
        "materialize", "doubled", "--partition", "2024-01-05", "--force", "--wait", "120",
    ]  # fmt: skip
    writers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "NO_COLOR": "1"})
        for _ in range(2)
    ]  # fmt: skip
    for writer in writers:
        out, err = writer.communicate(timeout=180)
        assert writer.returncode == 0, out + err
    assert delta_rows(project, "doubled") == before  # 2024-01-05's three rows, once
    assert project.query("SELECT count(*) FROM doubled WHERE _partition = '2024-01-05'") == [(3,)]
    assert project.query(
        "SELECT count(*) FROM assetflow.materializations WHERE asset = 'doubled'"
        " AND partition = '2024-01-05'"
    ) == [(3,)]  # the first build and one per writer, each recorded
