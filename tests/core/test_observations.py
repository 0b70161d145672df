"""A source's versions as columns: runs of one version, and one observation at a time."""

from assetflow.core.intervals import Intervals
from assetflow.core.observations import SourceVersions, each_observation
from assetflow.core.records import Observation

BATCH = SourceVersions(
    "src",
    Intervals.of([(1, 4), (7, 8)]),
    ("a", "b", "c", "d", "g", "h"),
    ("v1", "v1", None, "v1", "v1", "v2"),
    ("", "", "", "", "", "f.csv"),
)


def test_runs_split_where_the_version_or_the_indexes_change():
    assert BATCH.runs() == [(1, 2, "v1"), (3, 3, None), (4, 4, "v1"), (7, 7, "v1"), (8, 8, "v2")]
    alike = SourceVersions(
        "s", Intervals.span(0, 999), tuple(map(str, range(1000))), ("x",) * 1000, ("",) * 1000
    )
    assert alike.runs() == [(0, 999, "x")]
    assert SourceVersions("s", Intervals(), (), (), ()).runs() == []


def test_each_gives_one_observation_per_partition_in_index_order():
    found = each_observation([BATCH])
    assert [o.index for o in found] == [1, 2, 3, 4, 7, 8]
    assert found[-1] == Observation("src", "h", 8, "v2", "f.csv")
    assert [o.partition for o in each_observation([BATCH], {"src": {"c", "h"}})] == ["c", "h"]
    assert each_observation([BATCH], {"other": {"c"}}) == []
