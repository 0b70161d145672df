import datetime as dt

import pytest
from conftest import map_partition

from assetflow.core.mapping_kinds import all_partitions, window
from assetflow.core.mappings import mapping_problem
from assetflow.core.partitions import UNPARTITIONED, compact_ranges, daily, monthly, unpartitioned
from assetflow.errors import PartitionKeyError

NOW = dt.datetime(2014, 6, 1)
DAYS = daily("2013-01-01", "2013-12-31")
MONTHS = monthly("2013-01", "2013-12")


def keys(up, rng):
    return [up.key(i) for i in range(rng.first, rng.last + 1)]


@pytest.mark.parametrize(
    "key,message",
    [
        ("2013-02-30", "day is out of range"),
        ("2013-13-01", "month must be in 1..12"),
        ("20130301", "invalid day partition key"),
        ("2013-03", "invalid day partition key"),
    ],
)
def test_bad_daily_keys_are_errors(key, message):
    with pytest.raises(PartitionKeyError, match=message):
        DAYS.index(key)


def test_key_outside_the_partitions_is_an_error():
    with pytest.raises(PartitionKeyError, match="outside daily 2013-01-01..2013-12-31"):
        DAYS.validate_key("2014-01-01", NOW)


def test_keys_round_trip():
    for key in ("2013-01-01", "2013-02-28", "2012-02-29", "2013-12-31"):
        assert DAYS.key(DAYS.index(key)) == key
    for key in ("2013-01", "2013-12", "2012-02"):
        assert MONTHS.key(MONTHS.index(key)) == key


# -- the mapping table ------------------------------------------------------------------


def test_identity_maps_a_day_to_the_same_day():
    rng = map_partition(window(), DAYS, DAYS.index("2013-03-15"), DAYS, NOW)
    assert keys(DAYS, rng) == ["2013-03-15"] and not rng.clipped


def test_trailing_window_in_the_middle():
    rng = map_partition(window(-6, 0), DAYS, DAYS.index("2013-03-15"), DAYS, NOW)
    assert keys(DAYS, rng) == [f"2013-03-{d:02d}" for d in range(9, 16)]
    assert not rng.clipped


def test_trailing_window_at_the_range_start_is_clipped():
    rng = map_partition(window(-6, 0), DAYS, DAYS.index("2013-01-03"), DAYS, NOW)
    assert keys(DAYS, rng) == ["2013-01-01", "2013-01-02", "2013-01-03"]
    assert rng.clipped


def test_previous_day_before_the_start_is_clipped_to_nothing():
    rng = map_partition(window(-1, -1), DAYS, DAYS.index("2013-01-01"), DAYS, NOW)
    assert rng.empty and rng.clipped


def test_month_rolls_up_february_2013():
    rng = map_partition(window(), MONTHS, MONTHS.index("2013-02"), DAYS, NOW)
    assert keys(DAYS, rng) == [f"2013-02-{d:02d}" for d in range(1, 29)]


def test_month_rolls_up_a_leap_february():
    days_2012 = daily("2012-01-01", "2012-12-31")
    months_2012 = monthly("2012-01", "2012-12")
    rng = map_partition(window(), months_2012, months_2012.index("2012-02"), days_2012, NOW)
    assert len(keys(days_2012, rng)) == 29 and keys(days_2012, rng)[-1] == "2012-02-29"


def test_month_fans_out_to_its_days():
    rng = map_partition(window(), DAYS, DAYS.index("2013-03-15"), MONTHS, NOW)
    assert keys(MONTHS, rng) == ["2013-03"]


def test_previous_month_window():
    rng = map_partition(window(-1, -1), MONTHS, MONTHS.index("2013-03"), MONTHS, NOW)
    assert keys(MONTHS, rng) == ["2013-02"]


def test_all_reads_every_upstream_partition():
    rng = map_partition(all_partitions(), DAYS, DAYS.index("2013-03-15"), MONTHS, NOW)
    assert keys(MONTHS, rng) == [f"2013-{m:02d}" for m in range(1, 13)]


def test_unpartitioned_downstream_reads_every_partition():
    rng = map_partition(window(), unpartitioned(), 0, DAYS, NOW)
    assert rng.last - rng.first + 1 == 365


def test_partitioned_downstream_reads_the_single_unpartitioned_partition():
    rng = map_partition(window(), DAYS, DAYS.index("2013-03-15"), unpartitioned(), NOW)
    assert keys(unpartitioned(), rng) == [UNPARTITIONED]


def test_open_ended_partitions_stop_at_the_last_completed_window():
    open_days = daily("2013-01-01")
    assert open_days.key(open_days.last_index(dt.datetime(2013, 3, 16, 3))) == "2013-03-15"
    open_months = monthly("2013-01")
    assert open_months.key(open_months.last_index(dt.datetime(2013, 3, 16))) == "2013-02"


def test_mappings_that_do_not_fit():
    assert "after end" in mapping_problem(window(0, -1), DAYS, DAYS)
    assert "partitioned upstream" in mapping_problem(window(-1, 0), DAYS, unpartitioned())
    assert "offsets do not apply" in mapping_problem(window(-1, 0), unpartitioned(), DAYS)
    assert mapping_problem(window(-6, 0), DAYS, DAYS) is None


def test_range_selects_partitions_whose_window_lies_within():
    assert [MONTHS.key(i) for i in MONTHS.indexes_between("2013-01-15", "2013-02", NOW)] == [
        "2013-02"
    ]
    assert len(DAYS.indexes_between("2013-01-15", "2013-02", NOW)) == 45


def test_compact_ranges():
    keys_ = ["2013-03-15", "2013-03-16", "2013-03-17", "2013-03-20", "2013-04-01"]
    assert compact_ranges(keys_, DAYS) == "2013-03-15..2013-03-17, 2013-03-20, 2013-04-01"


def test_bounds_must_be_in_order():
    with pytest.raises(PartitionKeyError, match="before start"):
        daily("2013-02-01", "2013-01-01")


# -- spans: the interval forms of a mapping, checked against map_partition ---------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from assetflow.core.window_mapping import downstream_span, upstream_span  # noqa: E402

SHAPES = [
    (DAYS, DAYS),
    (MONTHS, DAYS),
    (DAYS, MONTHS),
    (MONTHS, MONTHS),
]


@given(
    shape=st.sampled_from(SHAPES),
    offsets=st.tuples(st.integers(-8, 2), st.integers(0, 3)),
    data=st.data(),
)
def test_downstream_span_is_the_inverse_of_the_mapping(shape, offsets, data):
    down, up = shape
    a, b = offsets
    mapping = window(a, a + b)
    up_first, up_last = up.first_index(), up.last_index(NOW)
    p = data.draw(st.integers(up_first, up_last))
    q = data.draw(st.integers(p, min(up_last, p + 40)))
    lo, hi = downstream_span(mapping, down, up, p, q, NOW)
    readers = {
        i
        for i in range(down.first_index(), down.last_index(NOW) + 1)
        if (r := map_partition(mapping, down, i, up, NOW))
        and not r.empty
        and r.first <= q
        and r.last >= p
    }
    assert readers == set(range(lo, hi + 1))


@given(
    shape=st.sampled_from(SHAPES),
    offsets=st.tuples(st.integers(-8, 2), st.integers(0, 3)),
    data=st.data(),
)
def test_upstream_span_covers_exactly_what_the_nodes_read(shape, offsets, data):
    down, up = shape
    mapping = window(offsets[0], offsets[0] + offsets[1])
    first, last = down.first_index(), down.last_index(NOW)
    lo = data.draw(st.integers(first, last))
    hi = data.draw(st.integers(lo, min(last, lo + 40)))
    read = set()
    for i in range(lo, hi + 1):
        r = map_partition(mapping, down, i, up, NOW)
        read |= set(range(r.first, r.last + 1))
    span_lo, span_hi = upstream_span(mapping, down, lo, hi, up, NOW)
    assert read == set(range(span_lo, span_hi + 1))
