"""The row diff of an environment against its parent (store/row_diff.py) on a real warehouse
file: rows compared by name as multisets, paired by a declared key, counted exactly, with
samples that are differing rows, wherever in the partitions they lie."""

from collections import Counter

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assetflow.core.environments import Env, Wanted
from assetflow.store.row_diff import row_diffs

DEV = Env(("dev", "prod"))


@pytest.fixture
def conn(tmp_path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:
        conn.execute("CREATE SCHEMA _env_dev")
        yield conn


def table(conn, name: str, columns: str, rows: list[tuple]) -> None:
    conn.execute(f"CREATE OR REPLACE TABLE {name} ({columns})")
    if rows:
        marks = ", ".join("?" * len(rows[0]))
        conn.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)


def diff(conn, partitions, key=(), samples=5, asset="t"):
    (found,) = row_diffs(conn, DEV, [Wanted(asset, tuple(partitions), tuple(key))], samples)
    return found


def test_reordered_columns_and_a_widened_type_change_no_row(conn):
    table(conn, "main.t", "id INT, v VARCHAR, _partition VARCHAR", [(1, "a", "p1"), (2, "b", "p1")])
    table(conn, "_env_dev.t", "v VARCHAR, id BIGINT, _partition VARCHAR", [("b", 2, "p1"), ("a", 1, "p1")])  # fmt: skip
    found = diff(conn, ["p1"])
    assert (found.added, found.removed, found.changed) == (0, 0, 0)
    assert found.columns == ("v", "id", "_partition")  # the environment's order


def test_a_column_added_in_the_environment_changes_every_row_it_fills(conn):
    table(conn, "main.t", "id INT, _partition VARCHAR", [(1, "p1"), (2, "p1")])
    table(conn, "_env_dev.t", "id INT, note VARCHAR, _partition VARCHAR", [(1, "x", "p1"), (2, None, "p1")])  # fmt: skip
    whole = diff(conn, ["p1"])
    assert (whole.added, whole.removed) == (1, 1)  # a NULL in the new column is no change
    assert whole.samples["added"] == ((1, "x", "p1"),)
    assert whole.samples["removed"] == ((1, None, "p1"),)
    keyed = diff(conn, ["p1"], key=["id"])
    assert (keyed.added, keyed.removed, keyed.changed) == (0, 0, 1)
    assert keyed.samples["changed"] == ((1, "x", "p1"), (1, None, "p1"))  # new, then old


def test_a_row_held_more_times_differs_by_the_count(conn):
    table(conn, "main.t", "id INT, _partition VARCHAR", [(1, "p1"), (2, "p1")])
    table(conn, "_env_dev.t", "id INT, _partition VARCHAR", [(1, "p1"), (1, "p1"), (1, "p1")])
    found = diff(conn, ["p1"])
    assert (found.added, found.removed) == (2, 1)
    assert found.samples == {"added": ((1, "p1"),), "removed": ((2, "p1"),)}


def test_only_the_partitions_asked_are_compared(conn):
    table(conn, "main.t", "id INT, _partition VARCHAR", [(1, "p1"), (2, "p2"), (3, "p3")])
    table(conn, "_env_dev.t", "id INT, _partition VARCHAR", [(1, "p1"), (20, "p2"), (30, "p3")])
    found = diff(conn, ["p1", "p3"])
    assert (found.added, found.removed) == (1, 1)
    assert found.samples == {"added": ((30, "p3"),), "removed": ((3, "p3"),)}


def test_samples_are_found_beyond_the_first_partitions(conn):
    keys = [f"d{i:02}" for i in range(30)]
    prod = [(i, k) for k in keys for i in range(3)]
    dev = [(i + (100 if k >= "d27" else 0), k) for i, k in prod]  # the last three differ
    table(conn, "main.t", "id INT, _partition VARCHAR", prod)
    table(conn, "_env_dev.t", "id INT, _partition VARCHAR", dev)
    found = diff(conn, keys, samples=4)
    assert (found.added, found.removed) == (9, 9)
    assert len(found.samples["added"]) == 4 and set(found.samples["added"]) < set(dev) - set(prod)
    assert len(found.samples["removed"]) == 4 and set(found.samples["removed"]) < set(prod) - set(dev)  # fmt: skip


def test_an_asset_the_parent_never_had_is_all_added(conn):
    table(conn, "_env_dev.t", "id INT, _partition VARCHAR", [(1, "p1"), (2, "p1")])
    found = diff(conn, ["p1"], key=["id"])
    assert (found.added, found.removed, found.changed) == (2, 0, 0)
    assert found.samples == {"added": ((1, "p1"), (2, "p1")), "removed": (), "changed": ()}


def test_assets_are_diffed_together_each_with_its_columns(conn):
    table(conn, "main.t", "id INT, _partition VARCHAR", [(1, "p1")])
    table(conn, "_env_dev.t", "id INT, _partition VARCHAR", [(2, "p1")])
    table(conn, "main.u", "name VARCHAR, day DATE, _partition VARCHAR", [("a", "2024-01-01", "q")])
    table(conn, "_env_dev.u", "name VARCHAR, day DATE, _partition VARCHAR", [("a", "2024-01-01", "q")])  # fmt: skip
    t, u = row_diffs(conn, DEV, [Wanted("t", ("p1",), ()), Wanted("u", ("q",), ())], 5)
    assert (t.asset, t.added, t.removed, t.samples["added"]) == ("t", 1, 1, ((2, "p1"),))
    assert (u.asset, u.columns, u.added, u.removed) == ("u", ("name", "day", "_partition"), 0, 0)


ROWS = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 2), st.sampled_from(["p1", "p2", "p3"])),
    max_size=25,
)


@pytest.mark.slow
@settings(max_examples=60)
@given(mine=ROWS, theirs=ROWS, samples=st.integers(1, 4))
def test_counts_match_the_multisets_and_samples_are_differing_rows(
    tmp_path_factory, mine, theirs, samples
):
    path = tmp_path_factory.mktemp("diff") / "warehouse.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA _env_dev")
        table(conn, "main.t", "k INT, v INT, _partition VARCHAR", theirs)
        table(conn, "_env_dev.t", "k INT, v INT, _partition VARCHAR", mine)
        partitions = ["p1", "p3"]
        asked = [r for r in mine if r[2] in partitions], [r for r in theirs if r[2] in partitions]
        more, fewer = Counter(asked[0]) - Counter(asked[1]), Counter(asked[1]) - Counter(asked[0])
        whole = diff(conn, partitions, samples=samples)
        assert (whole.added, whole.removed) == (sum(more.values()), sum(fewer.values()))
        assert set(whole.samples["added"]) <= set(more) and set(whole.samples["removed"]) <= set(fewer)  # fmt: skip
        assert len(whole.samples["added"]) == min(samples, len(more))
        assert len(whole.samples["removed"]) == min(samples, len(fewer))
        keyed = diff(conn, partitions, key=["k"], samples=samples)
        paired = {(k, p) for k, _, p in more} & {(k, p) for k, _, p in fewer}  # within a partition
        assert keyed.changed == len(paired)
        assert keyed.added == sum(n for r, n in more.items() if (r[0], r[2]) not in paired)
        assert keyed.removed == sum(n for r, n in fewer.items() if (r[0], r[2]) not in paired)
        shown = keyed.samples["changed"]
        assert set(shown) <= set(more) | set(fewer) and len(shown) <= 2 * samples
        keys = {(r[0], r[2]) for r in shown}
        assert keys <= paired and (len(keys) > 0) == (len(paired) > 0)
        unique = all(n == 1 for side in asked for n in Counter((r[0], r[2]) for r in side).values())
        if unique:  # a key's new row, then its old one, for as many keys as asked
            assert len(keys) == min(samples, len(paired)) == len(shown) / 2
            assert all(shown[i] in more and shown[i + 1] in fewer for i in range(0, len(shown), 2))  # fmt: skip


def test_an_asset_neither_side_has_a_table_of_differs_in_no_row(conn):
    found = diff(conn, ["p1"], key=["id"])  # (lineage says it differs: a wipe, say)
    assert (found.added, found.removed, found.changed, found.columns) == (0, 0, 0, ())
