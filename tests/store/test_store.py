"""The store on tmp_path warehouses: runs and attempts, the partition write path (versions,
idempotence, write-audit-publish rollback, batches), lineage facts, the nodes merge."""

import datetime as dt

import pytest

from assetflow.core.intervals import Intervals
from assetflow.core.observations import SourceVersions
from assetflow.core.records import (
    AttemptStatus,
    CheckResult,
    Node,
    NodeWrite,
    RunStatus,
)
from assetflow.errors import DataError
from assetflow.store.lineage import read_facts, recorded_inputs
from assetflow.store.shape import record_removed
from assetflow.store.store import Store

T = dt.datetime(2024, 3, 1, 12, 0)


def clock():
    return T


@pytest.fixture
def store(tmp_path):
    opened = Store.open(tmp_path / "warehouse.duckdb")
    opened.conn.execute("CREATE TABLE src AS SELECT * FROM (VALUES (1, 'a'), (2, 'b')) t(k, v)")
    yield opened
    opened.close()


def write(store, partition, index, query="SELECT k, v FROM src", code="c1", audit=None, run="r1"):
    node = NodeWrite(run, "asset", partition, index, code, (("src", partition, index, "s1"),),
                     None, T)  # fmt: skip
    cur = store.conn.cursor()
    try:
        return store.writer.write_nodes(cur, query, [node], clock, audit=audit).written[partition]
    finally:
        cur.close()


def rows(store, partition):
    return store.conn.execute(
        "SELECT k, v FROM asset WHERE _partition = ? ORDER BY k", [partition]
    ).fetchall()


def test_runs_are_recorded_and_listed_with_their_status(store):
    store.start_run("r1", "manual", "{}", T, 42, 3)
    store.finish_run("r1", RunStatus.PARTIAL, T + dt.timedelta(seconds=5), (3, 1, 1, 1, 0))
    [run] = store.list_runs()
    assert (run.run_id, run.status, run.planned, run.succeeded, run.ended_at) == (
        "r1", RunStatus.PARTIAL, 3, 1, T + dt.timedelta(seconds=5)
    )  # fmt: skip
    store.start_run("r2", "manual", "{}", T, 43, 1)
    assert store.abandon_dead_runs(T) == ["r2"]


def test_rewriting_a_partition_replaces_it_and_keeps_its_data_version(store):
    first = write(store, "2024-01-01", 1)
    again = write(store, "2024-01-01", 1, query="SELECT k, v FROM src ORDER BY k DESC")
    assert rows(store, "2024-01-01") == [(1, "a"), (2, "b")]  # replaced, not duplicated
    assert first.row_count == again.row_count == 2
    assert first.data_version == again.data_version  # order-independent
    changed = write(store, "2024-01-01", 1, query="SELECT k, v || '!' AS v FROM src")
    assert changed.data_version != first.data_version
    attempts = store.attempts_of("r1")
    assert [a.status for a in attempts] == [AttemptStatus.SUCCESS] * 3


def test_a_failing_audit_rolls_back_data_and_lineage(store):
    good = write(store, "2024-01-01", 1)

    def audit(cur, rows, writes, one):
        bad = cur.execute(f"SELECT count(*) FROM {rows} WHERE v = 'zzz'").fetchall()[0][0]
        if bad:
            raise DataError("audit failed")
        return {w.partition: [CheckResult("no_zzz", "error", True, 0, "ok")] for w in writes}

    with pytest.raises(DataError):
        write(store, "2024-01-01", 1, query="SELECT 3 AS k, 'zzz' AS v", audit=audit)
    assert rows(store, "2024-01-01") == [(1, "a"), (2, "b")]  # the good partition stayed
    latest = store.latest_materializations("asset", 1, 1)
    assert latest == {"2024-01-01": good.materialization_id}
    write(store, "2024-01-02", 2, audit=audit)
    assert [c.check for c in store.list_checks("asset", failed_only=False)] == ["no_zzz"]


def test_a_batch_refuses_rows_outside_its_partitions(store):
    nodes = [NodeWrite("r1", "asset", f"2024-01-0{i}", i, "c1", (), None, T) for i in (1, 2)]
    cur = store.conn.cursor()
    query = "SELECT k, v, DATE '2024-01-05' AS day FROM src"
    with pytest.raises(DataError, match="rows fall outside partitions"):
        store.writer.write_nodes(cur, query, nodes, clock, "strftime(day, '%Y-%m-%d')")
    cur.close()
    assert store.conn.execute("SELECT count(*) FROM assetflow.materializations").fetchall() == [
        (0,)
    ]


def test_a_batch_over_a_table_refuses_rows_landing_in_other_or_no_partitions(store):
    """With the table there (the writer inserts without staging), rows whose key is another
    partition's or NULL are counted in the transaction: nothing lands, the other partition
    keeps its rows."""
    write(store, "2024-01-05", 5, query="SELECT k, v, DATE '2024-01-05' AS day FROM src")
    batch = [NodeWrite("r2", "asset", f"2024-01-0{i}", i, "c1", (), None, T) for i in (1, 2)]
    cur = store.conn.cursor()
    query = (
        "SELECT k, v, CASE k WHEN 1 THEN DATE '2024-01-01' WHEN 2 THEN DATE '2024-01-05' END"
        " AS day FROM src UNION ALL SELECT 3, 'c', NULL"
    )
    with pytest.raises(DataError, match="2 rows fall outside partitions 2024-01-01..2024-01-02"):
        store.writer.write_nodes(cur, query, batch, clock, "strftime(day, '%Y-%m-%d')")
    cur.close()
    assert rows(store, "2024-01-05") == [(1, "a"), (2, "b")]
    assert rows(store, "2024-01-01") == []
    assert store.conn.execute("SELECT count(*) FROM assetflow.materializations").fetchall() == [
        (1,)
    ]


def test_lineage_facts_compare_recorded_versions_with_current_ones(store):
    write(store, "2024-01-01", 1)
    write(store, "2024-01-02", 2, code="c0")
    store.refresh_nodes()
    observed = [  # the source changed in its second partition
        SourceVersions(
            "src", Intervals.span(1, 2), ("2024-01-01", "2024-01-02"), ("s1", "s2"), ("", "")
        )
    ]
    found = read_facts(store, {"asset": "c1"}, observed, [])
    assert list(found.existing["asset"]) == [1, 2]
    assert list(found.code_changed["asset"]) == [2]
    assert list(found.upstream_changed["asset"]) == [2]
    assert recorded_inputs(store, [("asset", 1, "2024-01-01")]) == {
        Node("asset", "2024-01-01"): {("src", "2024-01-01"): "s1"}
    }


def test_a_removal_after_a_write_not_merged_yet_leaves_the_node_missing(store):
    """The latest record wins with its NULLs: a removal newer than a write (both since the
    last merge, as within a run or after a crash) leaves the node without data."""
    write(store, "2024-01-01", 1)
    write(store, "2024-01-02", 2)
    store.refresh_nodes()
    write(store, "2024-01-01", 1, run="r2")  # rebuilt, not merged yet
    record_removed(store.conn, "r2", "asset", ["2024-01-01"], T)
    found = read_facts(store, {"asset": "c1"}, [], [])
    assert list(found.existing["asset"]) == [2]
    store.refresh_nodes()
    assert list(read_facts(store, {"asset": "c1"}, [], []).existing["asset"]) == [2]
