"""Partition semantics a peer's test suite asks about (issue 36): offsets on edges between
different units, every partitioning selected by its own keys, the repeated DST hour, a start
inside a window, and the hint for key sets that differ. Both directions of every edge."""

import datetime as dt

import pytest
from conftest import downstream_readers, map_partition
from hypothesis import given, settings
from hypothesis import strategies as st

from assetflow.core.intervals import Intervals
from assetflow.core.mapping_kinds import window
from assetflow.core.mappings import mapping_problem
from assetflow.core.partitions import (
    daily,
    dynamic,
    hourly,
    monthly,
    multi,
    quarterly,
    static,
    weekly,
    with_keys,
    yearly,
)

NOW = dt.datetime(2024, 1, 1)
BERLIN, LA = "Europe/Berlin", "America/Los_Angeles"


def _reads(mapping, down, key, up):
    assert mapping_problem(mapping, down, up) is None
    r = map_partition(mapping, down, down.index(key), up, NOW)
    return up.key(r.first), up.key(r.last), r.last - r.first + 1


def _readers(mapping, down, up, key):
    found = downstream_readers(mapping, down, up, Intervals.span(up.index(key), up.index(key)), NOW)
    keys = down.keys_in(found)
    return keys[0], keys[-1], len(keys)


# (down, its key, up, mapping, what it reads); the reverse is asserted on the first key read
EDGES = [
    # a coarser reader: offsets count its own periods
    (daily("2022-01-01"), "2022-07-04", hourly("2022-01-01"), window(-1, -1),
     ("2022-07-03T00", "2022-07-03T23", 24)),
    (daily("2022-01-01"), "2022-07-04", hourly("2022-01-01"), window(-1, 0),
     ("2022-07-03T00", "2022-07-04T23", 48)),
    (monthly("2013-01"), "2013-03", daily("2013-01-01"), window(-1, -1),
     ("2013-02-01", "2013-02-28", 28)),
    (monthly("2012-01"), "2012-03", daily("2012-01-01"), window(-1, -1),
     ("2012-02-01", "2012-02-29", 29)),
    (weekly("2013-01-07"), "2013-W11", daily("2013-01-01"), window(-1, -1),
     ("2013-03-04", "2013-03-10", 7)),
    (monthly("2013-01"), "2013-03", weekly("2013-01-07"), window(-1, -1),
     ("2013-W05", "2013-W09", 5)),
    (quarterly("2013-Q1"), "2013-Q2", monthly("2013-01"), window(-1, -1),
     ("2013-01", "2013-03", 3)),
    (yearly("2012"), "2013", quarterly("2012-Q1"), window(-1, -1), ("2012-Q1", "2012-Q4", 4)),
    (yearly("2012"), "2013", monthly("2012-01"), window(-1, 0), ("2012-01", "2013-12", 24)),
    # in a zone, across DST changes: yesterday's 23 and 25 hours
    (daily("2013-03-01", tz=BERLIN), "2013-04-01", hourly("2013-03-01", tz=BERLIN),
     window(-1, -1), ("2013-03-31T00+01:00", "2013-03-31T23+02:00", 23)),
    (daily("2013-10-01", tz=BERLIN), "2013-10-28", hourly("2013-10-01", tz=BERLIN),
     window(-1, -1), ("2013-10-27T00+02:00", "2013-10-27T23+01:00", 25)),
    (daily("2023-11-01", tz=LA), "2023-11-05", hourly("2023-11-01", tz=LA), window(),
     ("2023-11-05T00-07:00", "2023-11-05T23-08:00", 25)),
    # a finer reader: offsets count the upstream's periods (the day before the hour's day)
    (hourly("2013-01-01"), "2013-03-15T05", daily("2013-01-01"), window(-1, -1),
     ("2013-03-14", "2013-03-14", 1)),
    (daily("2013-01-01"), "2013-03-15", monthly("2013-01"), window(-1, -1),
     ("2013-02", "2013-02", 1)),
    # equal partitionings: both sides count the same
    (daily("2013-01-01"), "2013-03-15", daily("2013-01-01"), window(-6, 0),
     ("2013-03-09", "2013-03-15", 7)),
]  # fmt: skip
READERS = [
    ("2022-07-04", "2022-07-04", 1),
    ("2022-07-03", "2022-07-04", 2),
    ("2013-03", "2013-03", 1),
    ("2012-03", "2012-03", 1),
    ("2013-W11", "2013-W11", 1),
    ("2013-02", "2013-03", 2),  # W05 (28 Jan..3 Feb) overlaps January's and February's
    ("2013-Q2", "2013-Q2", 1),
    ("2013", "2013", 1),
    ("2012", "2013", 2),
    ("2013-04-01", "2013-04-01", 1),
    ("2013-10-28", "2013-10-28", 1),
    ("2023-11-05", "2023-11-05", 1),
    ("2013-03-15T00", "2013-03-15T23", 24),
    ("2013-03-01", "2013-03-31", 31),
    ("2013-03-09", "2013-03-15", 7),
]


@pytest.mark.parametrize(("edge", "readers"), list(zip(EDGES, READERS, strict=True)))
def test_what_each_edge_reads_and_who_reads_it(edge, readers):
    down, key, up, mapping, expected = edge
    assert _reads(mapping, down, key, up) == expected
    assert _readers(mapping, down, up, expected[0]) == readers


UNITS = {"hour": hourly, "day": daily, "week": weekly, "month": monthly, "quarter": quarterly}
UNITS["year"] = yearly


@settings(max_examples=60, deadline=None)
@given(
    down_unit=st.sampled_from(sorted(UNITS)),
    up_unit=st.sampled_from(sorted(UNITS)),
    tz=st.sampled_from([None, BERLIN, LA]),
    offsets=st.tuples(st.integers(-3, 1), st.integers(0, 2)),
    data=st.data(),
)
def test_the_two_directions_are_inverses_across_units_and_zones(
    down_unit, up_unit, tz, offsets, data
):
    """Whatever the units: a downstream partition is among an upstream's readers exactly
    when it reads that upstream partition (near the spring DST changes of both zones)."""
    down = UNITS[down_unit]("2013-03-01", "2013-04-30", tz=tz)
    up = UNITS[up_unit]("2013-01-01", "2013-06-30", tz=tz)
    mapping = window(offsets[0], offsets[0] + offsets[1])
    nodes = range(down.first_index(), down.last_index(NOW) + 1)
    if down_unit == "hour":  # a day of hours around the change, not two months of them
        start = down.index("2013-03-31T00" if tz == BERLIN else "2013-03-10T00")
        nodes = range(start, start + 30)
    p = data.draw(st.integers(up.first_index(), up.last_index(NOW)))
    readers = downstream_readers(mapping, down, up, Intervals.span(p, p), NOW)
    for i in nodes:
        r = map_partition(mapping, down, i, up, NOW)
        reads = not r.empty and r.first <= p <= r.last
        assert reads == (i in readers), (down.key(i), up.key(p))


SUNDAY_TO_SATURDAY = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
KINDS = [
    hourly("2023-10-30T00", "2023-11-06T23"),
    hourly("2023-10-30T00", "2023-11-06T23", tz=LA),
    hourly("2013-10-26T00", "2013-10-28T23", tz=BERLIN),
    daily("2023-01-01", "2023-03-31", tz=LA),
    *[weekly("2023-01-01", "2023-06-30", week_start=d) for d in [*SUNDAY_TO_SATURDAY, "sunday"]],
    monthly("2023-01", "2023-12"),
    quarterly("2023-Q1", "2024-Q4"),
    yearly("2020", "2024"),
    static("eu", "us", "apac"),
    with_keys(dynamic("customers"), ((0, "acme", True), (1, "gone", False), (2, "bolt", True))),
    multi(week=weekly("2023-01-01", "2023-02-28", week_start="sunday"), region=static("eu", "us")),
]


@pytest.mark.parametrize("parts", KINDS, ids=lambda p: p.identity)
def test_every_partitioning_selects_exactly_each_of_its_own_keys(parts):
    for index in parts.universe(NOW):
        key = parts.key(index)
        assert parts.keys_in(parts.indexes_between(key, key, NOW)) == (key,), key


def test_a_sunday_week_is_selected_by_its_key_and_by_a_range_of_its_keys():
    weeks = weekly("2023-01-01", week_start="sunday")
    found = weeks.keys_in(weeks.indexes_between("2023-W02", "2023-W04", NOW))
    assert found == ("2023-W02", "2023-W03", "2023-W04")
    assert weeks.window(weeks.index("2023-W02")) == (dt.date(2023, 1, 8), dt.date(2023, 1, 15))
    both = multi(week=weeks, region=static("eu", "us"))
    assert both.keys_in(both.indexes_between("2023-W02|eu", "2023-W02|eu", NOW)) == ("2023-W02|eu",)


def test_the_repeated_hour_with_its_offset_is_one_partition_without_it_both():
    hours = hourly("2023-11-01", tz=LA)
    second = hours.indexes_between("2023-11-05T01-08:00", "2023-11-05T01-08:00", NOW)
    assert hours.keys_in(second) == ("2023-11-05T01-08:00",)
    either = hours.indexes_between("2023-11-05T01", "2023-11-05T01", NOW)
    assert hours.keys_in(either) == ("2023-11-05T01-07:00", "2023-11-05T01-08:00")


def test_a_start_or_end_inside_a_window_keeps_it_whole_and_says_so():
    weeks = weekly("2021-05-01", "2021-05-19")  # a Saturday, a Wednesday
    assert weeks.key(weeks.first_index()) == "2021-W17"
    assert weeks.describe(NOW) == (
        "weekly 2021-W17..2021-W20 (whole weeks: 2021-W17 holds the start 2021-05-01,"
        " 2021-W20 holds the end 2021-05-19)"
    )
    assert weekly("2021-05-03").describe(dt.datetime(2021, 6, 1)) == "weekly 2021-W18..2021-W21"
    assert monthly("2021-05-01", "2021-06-30").describe() == "monthly 2021-05..2021-06"


def test_key_sets_that_differ_are_refused_with_key_map_named():
    problem = mapping_problem(window(), static("z", "x"), static("x", "y"))
    assert "key_map(" in problem
    assert "key_map(" not in mapping_problem(window(), daily("2013-01-01"), static("eu"))
