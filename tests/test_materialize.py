"""Partition-level overwrite, atomicity and the lineage record, on the diamond fixture."""

import hashlib
import json
from pathlib import Path

import duckdb
import pytest
from conftest import Project, write_events

TABLES = ("doubled", "shifted", "combined", "recent", "monthly_total")


def content(project: Project) -> dict[str, list[tuple]]:
    return {t: project.query(f'SELECT * FROM "{t}" ORDER BY ALL') for t in TABLES}


def test_materializing_twice_gives_identical_tables(built_diamond):
    diamond = built_diamond
    first = content(diamond)
    assert diamond.run("materialize", "--force").exit_code == 0
    assert content(diamond) == first
    assert diamond.query("SELECT count(*) FROM doubled") == [(30,)]
    duplicates = diamond.query(
        "SELECT _partition, user_id FROM combined GROUP BY ALL HAVING count(*) > 1"
    )
    assert duplicates == []


def test_one_partition_is_replaced_and_nothing_else(built_diamond):
    diamond = built_diamond
    before = diamond.query("SELECT * FROM doubled WHERE _partition <> '2024-01-03' ORDER BY ALL")
    write_events(diamond, "2024-01-03", [(1, 1000), (4, 4)])
    result = diamond.run("materialize", "doubled", "--partition", "2024-01-03")
    assert result.exit_code == 0, result.output
    after = diamond.query("SELECT * FROM doubled WHERE _partition <> '2024-01-03' ORDER BY ALL")
    assert after == before
    assert diamond.query(
        "SELECT user_id, value FROM doubled WHERE _partition = '2024-01-03' ORDER BY ALL"
    ) == [(1, 2000), (4, 8)]


def test_lineage_records_versions_inputs_and_clipping(built_diamond):
    diamond = built_diamond
    rows = diamond.query(
        "SELECT m.asset, m.partition, m.row_count, m.clipped, count(i.input)"
        " FROM assetflow.materializations m LEFT JOIN assetflow.inputs i USING (materialization_id)"
        " WHERE m.asset = 'recent' AND m.partition IN ('2024-01-01', '2024-01-05')"
        " GROUP BY ALL ORDER BY 2"
    )
    assert rows == [
        ("recent", "2024-01-01", 1, "combined window clipped to 2024-01-01..2024-01-01", 1),
        ("recent", "2024-01-05", 1, None, 3),
    ]
    # The input versions recorded are the versions the upstream nodes were written with.
    mismatched = diamond.query(
        "SELECT i.* FROM assetflow.inputs i JOIN assetflow.materializations m"
        " ON m.asset = i.input AND m.partition = i.input_partition"
        " WHERE i.input_version <> m.data_version"
    )
    assert mismatched == []
    observed = diamond.query(
        "SELECT count(*), count(version) FROM assetflow.observations WHERE source = 'events'"
    )
    assert observed == [(10, 10)]
    # Source inputs carry the observed file hash.
    source_inputs = diamond.query(
        "SELECT DISTINCT i.input_version = o.version FROM assetflow.inputs i"
        " JOIN assetflow.observations o ON o.source = i.input AND o.partition = i.input_partition"
    )
    assert source_inputs == [(True,)]


def test_same_data_same_version_changed_data_new_version(built_diamond):
    diamond = built_diamond
    assert diamond.run("materialize", "--force").exit_code == 0
    versions = diamond.query(
        "SELECT count(DISTINCT data_version) FROM assetflow.materializations"
        " WHERE asset = 'doubled' AND partition = '2024-01-02'"
    )
    assert versions == [(1,)]
    write_events(diamond, "2024-01-02", [(1, 3)])
    assert diamond.run("materialize", "doubled").exit_code == 0
    versions = diamond.query(
        "SELECT count(DISTINCT data_version) FROM assetflow.materializations"
        " WHERE asset = 'doubled' AND partition = '2024-01-02'"
    )
    assert versions == [(2,)]


@pytest.mark.slow  # long: many runs or a subprocess
def test_data_versions_follow_the_documented_formula(built_diamond):
    """sha256 of "schema|row count|sum of row hashes", first 16 hex digits: a change to how
    versions are computed would silently mark every warehouse stale, so it is pinned here."""
    diamond = built_diamond
    recorded = diamond.query(
        "SELECT asset, partition, data_version, row_count FROM assetflow.materializations"
    )
    assert len(recorded) > 30
    for asset, partition, version, rows in recorded:
        columns = diamond.query(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?"
            " AND column_name <> '_partition' ORDER BY ordinal_position",
            [asset],
        )
        struct = ", ".join(f'"{c}" := "{c}"' for c, _ in columns)
        [(n, total)] = diamond.query(
            f"SELECT count(*), coalesce(sum(hash(struct_pack({struct}))), 0) FROM {asset}"
            " WHERE _partition = ?",
            [partition],
        )
        schema = ",".join(f"{c} {t}" for c, t in columns)
        expected = hashlib.sha256(f"{schema}|{n}|{total}".encode()).hexdigest()[:16]
        assert (version, rows) == (expected, n), (asset, partition)


FAILING_READER = '''
import os

import pyarrow as pa

from assetflow import asset, daily


@asset(partitions=daily("2024-01-01", "2024-01-10"))
def streamed(ctx, doubled):
    """Streams two batches; the second raises when FAIL_STREAM is set."""
    schema = pa.schema([("user_id", pa.int64()), ("value", pa.int64())])

    def batches():
        yield pa.record_batch([pa.array([1, 2]), pa.array([10, 20])], schema=schema)
        if os.environ.get("FAIL_STREAM"):
            raise RuntimeError("the stream broke half-way")
        yield pa.record_batch([pa.array([3]), pa.array([30])], schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())
'''


def test_an_asset_failing_after_producing_rows_leaves_the_previous_partition(diamond, monkeypatch):
    diamond.write("definitions/streamed.py", FAILING_READER)
    assert diamond.run("materialize").exit_code == 0
    before = diamond.query("SELECT * FROM streamed ORDER BY ALL")
    records = diamond.query("SELECT count(*) FROM assetflow.materializations")
    assert len(before) == 30

    monkeypatch.setenv("FAIL_STREAM", "1")
    result = diamond.run("materialize", "streamed", "--partition", "2024-01-04", "--force")
    assert result.exit_code == 1
    assert "the stream broke half-way" in result.output
    assert diamond.query("SELECT * FROM streamed ORDER BY ALL") == before
    assert diamond.query("SELECT count(*) FROM assetflow.materializations") == records


def test_sql_failing_mid_query_leaves_the_previous_partition(diamond, monkeypatch):
    diamond.write(
        "definitions/checked.py",
        '''
        import os
        from assetflow import asset, daily

        @asset(partitions=daily("2024-01-01", "2024-01-10"))
        def checked(ctx, doubled):
            limit = int(os.environ.get("LIMIT", "1000000"))
            return f"""SELECT user_id, CASE WHEN value > {limit}
                       THEN error('value ' || value || ' too large') ELSE value END AS value
                       FROM doubled"""
        ''',
    )
    assert diamond.run("materialize").exit_code == 0
    before = diamond.query("SELECT * FROM checked ORDER BY ALL")
    monkeypatch.setenv("LIMIT", "100")
    result = diamond.run("materialize", "checked", "--force")
    assert result.exit_code == 1
    assert "too large" in result.output
    assert diamond.query("SELECT * FROM checked ORDER BY ALL") == before


def test_a_python_asset_returning_arrow(diamond):
    diamond.write(
        "definitions/arrowy.py",
        """
        import pyarrow as pa
        from assetflow import asset, daily

        @asset(partitions=daily("2024-01-01", "2024-01-10"))
        def arrowy(ctx, shifted):
            table = shifted.arrow()
            if hasattr(table, "read_all"):
                table = table.read_all()
            return pa.table({"n": [table.num_rows], "day": [ctx.partition]})
        """,
    )
    assert diamond.run("materialize").exit_code == 0
    assert diamond.query("SELECT n, day FROM arrowy WHERE _partition = '2024-01-07'") == [
        (3, "2024-01-07")
    ]


def test_a_data_error_fails_its_node_and_blocks_only_its_downstream(diamond):
    diamond.write(
        "definitions/picky.py",
        """
        from assetflow import DataError, asset, daily

        DAYS = daily("2024-01-01", "2024-01-10")

        @asset(partitions=DAYS)
        def picky(ctx, doubled):
            if ctx.partition == "2024-01-05":
                raise DataError("2024-01-05 looks wrong")
            return "SELECT * FROM doubled"

        @asset(partitions=DAYS)
        def after_picky(ctx, picky):
            return "SELECT count(*) AS n FROM picky"
        """,
    )
    result = diamond.run("materialize")
    assert result.exit_code == 1
    assert "picky[2024-01-05]" in result.output and "looks wrong" in result.output
    statuses = diamond.query(
        "SELECT asset, status, count(*) FROM assetflow.attempts"
        " WHERE asset IN ('picky', 'after_picky') GROUP BY ALL ORDER BY ALL"
    )
    assert statuses == [
        ("after_picky", "success", 9),
        ("after_picky", "upstream_failed", 1),
        ("picky", "failed", 1),
        ("picky", "success", 9),
    ]
    assert diamond.query("SELECT count(*) FROM combined") == [(30,)]
    assert diamond.query("SELECT status FROM assetflow.runs") == [("partial",)]


def test_no_upstream_refuses_to_add_stale_upstream_nodes(diamond):
    assert diamond.run("materialize", "shifted").exit_code == 0
    result = diamond.run("materialize", "combined", "--no-upstream")
    assert result.exit_code == 2
    assert "needs doubled[2024-01-01..2024-01-10], which is not fresh and not selected" in (
        result.output
    )
    assert diamond.query("SELECT count(*) FROM assetflow.runs") == [(1,)]


def test_stale_upstream_outside_the_selection_is_included(diamond):
    result = diamond.run("materialize", "combined", "--partition", "2024-01-02")
    assert result.exit_code == 0, result.output
    rows = diamond.query("SELECT asset, partition FROM assetflow.materializations ORDER BY 1")
    assert rows == [
        ("combined", "2024-01-02"),
        ("doubled", "2024-01-02"),
        ("shifted", "2024-01-02"),
    ]


def test_with_upstream_selection_materializes_the_chain(diamond):
    result = diamond.run("materialize", "+combined", "--from", "2024-01-02", "--to", "2024-01-03")
    assert result.exit_code == 0, result.output
    rows = diamond.query(
        "SELECT asset, count(*) FROM assetflow.materializations GROUP BY 1 ORDER BY 1"
    )
    assert rows == [("combined", 2), ("doubled", 2), ("shifted", 2)]


def test_a_missing_source_file_is_a_clear_error(diamond):
    (diamond.root / "landing" / "2024-01-04.csv").unlink()
    result = diamond.run("materialize", "doubled")
    assert result.exit_code == 2
    assert "source events has no data for 2024-01-04" in result.output


def test_unpartitioned_asset_reads_every_partition_and_logs(diamond):
    diamond.write(
        "definitions/summary.py",
        """
        from assetflow import asset

        @asset
        def summary(ctx, doubled):
            ctx.log.info("summarising %s", ctx.partition)
            return "SELECT count(*) AS n, sum(value) AS total FROM doubled"
        """,
    )
    result = diamond.run("materialize")
    assert result.exit_code == 0, result.output
    assert diamond.query("SELECT n, _partition FROM summary") == [(30, "__all__")]
    (log_path,) = diamond.query("SELECT log_path FROM assetflow.attempts WHERE asset = 'summary'")[
        0
    ]
    assert "summarising __all__" in Path(log_path).read_text()
    inputs = diamond.query(
        "SELECT count(*) FROM assetflow.inputs i JOIN assetflow.materializations m"
        " USING (materialization_id) WHERE m.asset = 'summary'"
    )
    assert inputs == [(10,)]


def test_warehouse_option_writes_elsewhere(diamond, tmp_path):
    other = tmp_path / "elsewhere" / "wh.duckdb"
    result = diamond.run("materialize", "doubled", "--warehouse", str(other))
    assert result.exit_code == 0, result.output
    assert other.exists() and not diamond.warehouse.exists()


@pytest.mark.slow  # long: many runs or a subprocess
def test_a_schema_1_warehouse_is_upgraded_in_place(built_diamond):
    diamond = built_diamond
    before = diamond.query("SELECT count(*) FROM assetflow.attempts")
    with duckdb.connect(str(diamond.warehouse)) as conn:  # back to how schema 1 kept attempts
        conn.execute("CREATE TABLE assetflow.attempts_1 AS SELECT * FROM assetflow.attempts")
        conn.execute("DROP VIEW assetflow.attempts")
        conn.execute("DROP TABLE assetflow.attempt_log")
        conn.execute("ALTER TABLE assetflow.attempts_1 RENAME TO attempts")
        for column in ("attempt_id", "attempt", "log_path", "inputs_text"):
            conn.execute(f"ALTER TABLE assetflow.materializations DROP COLUMN {column}")
        conn.execute("ALTER TABLE assetflow.nodes DROP COLUMN rebuilt")
        conn.execute("UPDATE assetflow.meta SET value = '1' WHERE key = 'schema'")
    refused = diamond.run("status")
    assert refused.exit_code == 2 and "assetflow observe" in refused.output
    assert diamond.run("observe").exit_code == 0
    assert diamond.query("SELECT count(*) FROM assetflow.attempts") == before
    assert diamond.run("status").exit_code == 0
    write_events(diamond, "2024-01-02", [(1, 5)])
    stale = json.loads(diamond.run("status", "--json").output)["assets"]
    assert sum(a["counts"]["stale"] for a in stale) > 0  # upgraded nodes are all compared
    assert diamond.run("materialize").exit_code == 0
    assert diamond.query("SELECT count(*) > 0 FROM assetflow.materializations"
                         " WHERE attempt_id IS NOT NULL") == [(True,)]  # fmt: skip
