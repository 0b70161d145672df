"""A promotion's move of one asset's partitions between Delta tables (run/delta_promotion.py):
the environment's files linked into the parent's table, not copied; a parent's file that
holds other partitions too written again without the promoted ones; a file of the
environment that holds other partitions too makes the rows copied instead. Real Delta
tables in tmp_path."""

import datetime as dt

import pyarrow as pa
import pytest

pytest.importorskip("deltalake")
pytestmark = pytest.mark.slow  # Delta Lake tables

from deltalake import DeltaTable  # noqa: E402

from assetflow.core.environments import Env  # noqa: E402
from assetflow.run.delta import DeltaStorage  # noqa: E402
from assetflow.run.delta_promotion import Promotion, move  # noqa: E402

DEV = Env(("dev", "prod"))
AT = dt.datetime(2024, 3, 1)


def table(keys: list[str], value: int) -> pa.Table:
    return pa.table({"_partition": keys, "v": [value] * len(keys)})


def rows(lake, name: str) -> list[tuple[str, int]]:
    found = DeltaTable(str(lake / name)).to_pyarrow_table()
    return sorted(zip(found["_partition"].to_pylist(), found["v"].to_pylist(), strict=True))


def lake_with(tmp_path, dev_files: list[list[str]]) -> tuple[DeltaStorage, object]:
    """prod's `t` holds d1..d4 in one file; dev's `_env_dev/t` one file per list given."""
    lake = tmp_path / "lake"
    storage = DeltaStorage(str(lake))
    storage.commit("t", table(["d1", "d2", "d3", "d4"], 1), ["d1", "d2", "d3", "d4"], {})
    for keys in dev_files:
        storage.commit("_env_dev/t", table(keys, 2), keys, {})
    return storage, lake


def test_the_environments_files_are_linked_and_a_shared_file_rewritten(tmp_path):
    storage, lake = lake_with(tmp_path, [["d2"], ["d3"]])
    made, cleared = move(storage, DEV, "t", ["d2", "d3"], Promotion("run1", AT))
    assert rows(lake, "t") == [("d1", 1), ("d2", 2), ("d3", 2), ("d4", 1)]
    assert rows(lake, "_env_dev/t") == []
    assert len(made) == 2 and cleared is not None  # prod: d2, d3 deleted; dev's files added
    linked = sorted((lake / "t").glob("promoted-run1-*.parquet"))
    assert len(linked) == 2 and all(p.stat().st_nlink == 2 for p in linked)
    prune = [("_partition", "in", ["d1"])]  # their statistics came with them
    assert not any(
        "promoted-" in f
        for f in DeltaTable(str(lake / "t")).file_uris(file_pruning_predicate=prune)
    )


def test_a_file_of_the_environment_holding_other_partitions_is_copied_from(tmp_path):
    storage, lake = lake_with(tmp_path, [["d2", "d3", "d4"]])
    move(storage, DEV, "t", ["d2", "d3"], Promotion("run2", AT))  # d4 stays dev's
    assert rows(lake, "t") == [("d1", 1), ("d2", 2), ("d3", 2), ("d4", 1)]
    assert rows(lake, "_env_dev/t") == [("d4", 2)]
    assert not list((lake / "t").glob("promoted-*"))  # copied, not linked


def test_a_resumed_move_makes_no_step_twice(tmp_path):
    storage, lake = lake_with(tmp_path, [["d2"], ["d3"]])
    first = move(storage, DEV, "t", ["d2", "d3"], Promotion("run3", AT))
    again = move(storage, DEV, "t", ["d2", "d3"], Promotion("run3", AT, resuming=True))
    assert again == first  # every step found made: the same versions, no commit more
    assert rows(lake, "t") == [("d1", 1), ("d2", 2), ("d3", 2), ("d4", 1)]


def test_partitions_whose_keys_outgrow_the_statistics_are_read_to_be_told_apart(tmp_path):
    """deltalake keeps 64 characters of a text's bounds: two long keys sharing them are
    told apart by reading the files, not by their statistics."""
    lake = tmp_path / "lake"
    storage = DeltaStorage(str(lake))
    a, b = "k" * 80 + "a", "k" * 80 + "b"
    for key in (a, b):
        storage.commit("t", table([key], 1), [key], {})
    storage.commit("_env_dev/t", table([a], 2), [a], {})
    move(storage, DEV, "t", [a], Promotion("run4", AT))
    assert rows(lake, "t") == [(a, 2), (b, 1)]
    assert len(list((lake / "t").glob("promoted-run4-*.parquet"))) == 1


def test_a_file_whose_bounds_are_one_cut_text_is_read_and_the_move_refused(tmp_path):
    """Bounds cut to 32 characters without raising the upper one (no conforming writer's, but
    seen) make a file holding two long keys look like one partition of the cut name. It is
    read, not trusted: it holds the promoted key among another, Delta's delete (which trusts
    the bounds) cannot take it out, and the move stops with one line, prod's rows unchanged
    — not prod's old rows of the key beside the linked ones."""
    import json

    from assetflow.errors import StorageError

    lake = tmp_path / "lake"
    storage = DeltaStorage(str(lake))
    a, b = "k" * 40 + "a", "k" * 40 + "b"
    storage.commit("t", table(["d1"], 1), ["d1"], {})
    storage.commit("_spark/t", table([a, b], 1), [a, b], {})
    (written,) = (
        pa.RecordBatchReader.from_stream(
            DeltaTable(str(lake / "_spark/t")).get_add_actions(flatten=False)
        )
        .read_all()
        .to_pylist()
    )
    cut = {"_partition": a[:32]}
    stats = {"numRecords": 2, "minValues": cut, "maxValues": cut, "nullCount": {}}
    storage.link([(f"_spark/t/{written['path']}", f"t/{written['path']}")])
    storage.commit_files("t", [], [{**written, "stats": json.dumps(stats)}], {}, AT)
    storage.commit("_env_dev/t", table([a], 2), [a], {})
    before = rows(lake, "t")
    with pytest.raises(StorageError, match="t: files still mix promoted partitions"):
        move(storage, DEV, "t", [a], Promotion("run5", AT))
    assert rows(lake, "t") == before == [("d1", 1), (a, 1), (b, 1)]
    assert rows(lake, "_env_dev/t") == [(a, 2)]
