"""Every kind of partitioning as a table: keys <-> indexes, windows, DST days, ISO week 53,
leap years, bad keys, and the mappings between kinds (issue 16)."""

import datetime as dt

import pytest
from conftest import map_partition
from hypothesis import given
from hypothesis import strategies as st

from assetflow.core.mapping_kinds import all_partitions, window
from assetflow.core.mappings import mapping_problem
from assetflow.core.partitions import (
    daily,
    hourly,
    monthly,
    quarterly,
    static,
    unpartitioned,
    weekly,
    yearly,
)
from assetflow.core.window_mapping import downstream_span, upstream_span
from assetflow.errors import PartitionKeyError

NOW = dt.datetime(2016, 6, 1)
BERLIN = "Europe/Berlin"


@pytest.mark.parametrize(
    ("parts", "key", "start", "end"),
    [
        (
            hourly("2013-03-15"),
            "2013-03-15T14",
            dt.datetime(2013, 3, 15, 14),
            dt.datetime(2013, 3, 15, 15),
        ),
        (daily("2012-01-01"), "2012-02-29", dt.date(2012, 2, 29), dt.date(2012, 3, 1)),
        (weekly("2013-01-01"), "2013-W11", dt.date(2013, 3, 11), dt.date(2013, 3, 18)),
        (
            weekly("2013-01-01", week_start="sunday"),
            "2013-W11",
            dt.date(2013, 3, 10),
            dt.date(2013, 3, 17),
        ),
        (weekly("2015-01-01"), "2015-W53", dt.date(2015, 12, 28), dt.date(2016, 1, 4)),
        (weekly("2020-01-01"), "2020-W01", dt.date(2019, 12, 30), dt.date(2020, 1, 6)),
        (monthly("2012-01"), "2012-02", dt.date(2012, 2, 1), dt.date(2012, 3, 1)),
        (quarterly("2013-Q1"), "2013-Q4", dt.date(2013, 10, 1), dt.date(2014, 1, 1)),
        (yearly("2012"), "2013", dt.date(2013, 1, 1), dt.date(2014, 1, 1)),
    ],
)
def test_keys_windows_and_round_trips(parts, key, start, end):
    index = parts.index(key)
    assert parts.key(index) == key
    assert parts.window(index) == (start, end)
    assert parts.key(index + 1) != key and parts.index(parts.key(index + 1)) == index + 1


@pytest.mark.parametrize(
    ("parts", "key", "message"),
    [
        (daily("2013-01-01"), "2013-02-30", "day is out of range"),
        (daily("2013-01-01"), "2013-3-01", "invalid day partition key '2013-3-01'"),
        (hourly("2013-01-01"), "2013-03-15T24", "hour must be in 0..23"),
        (hourly("2013-01-01", tz=BERLIN), "2013-03-31T02", "does not exist in Europe/Berlin"),
        (
            hourly("2013-01-01", tz=BERLIN),
            "2013-03-15T14+02:00",
            "is not the offset of Europe/Berlin",
        ),
        (weekly("2013-01-01"), "2013-W54", "Invalid week: 54"),
        (weekly("2013-01-01"), "2013-W53", "Invalid week: 53"),  # 2013 has 52 ISO weeks
        (quarterly("2013-Q1"), "2013-Q5", "quarter must be in 1..4"),
        (monthly("2013-01"), "2013-13", "month must be in 1..12"),
        (static("eu", "us"), "apac", "unknown partition key 'apac'"),
    ],
)
def test_bad_keys_are_one_clear_error(parts, key, message):
    with pytest.raises(PartitionKeyError, match=message):
        parts.index(key)


def test_a_day_in_a_timezone_ends_at_local_midnight_and_dst_days_have_23_or_25_hours():
    days = daily("2013-01-01", tz=BERLIN)
    hours = hourly("2013-01-01", tz=BERLIN)
    for day, n in [("2013-03-30", 24), ("2013-03-31", 23), ("2013-10-27", 25)]:
        rng = map_partition(window(), days, days.index(day), hours, NOW)
        assert rng.last - rng.first + 1 == n, day
    first = map_partition(window(), days, days.index("2013-10-27"), hours, NOW).first
    assert hours.key(first) == "2013-10-27T00+02:00"
    assert [hours.key(first + i) for i in (2, 3)] == ["2013-10-27T02+02:00", "2013-10-27T02+01:00"]
    # Berlin's day 2013-03-15 starts at 23:00 UTC the day before; a floating day at 00:00.
    assert days.start_utc(days.index("2013-03-15")) == dt.datetime(2013, 3, 14, 23)
    assert daily("2013-01-01").start_utc(days.index("2013-03-15")) == dt.datetime(2013, 3, 15)


def test_an_open_ended_zoned_day_completes_at_local_midnight():
    days = daily("2013-01-01", tz=BERLIN)
    assert days.key(days.last_index(dt.datetime(2013, 3, 15, 22, 30))) == "2013-03-14"
    assert days.key(days.last_index(dt.datetime(2013, 3, 15, 23, 30))) == "2013-03-15"


@pytest.mark.parametrize(
    ("down", "down_key", "up", "mapping", "expected"),
    [
        (
            daily("2013-01-01"),
            "2013-03-15",
            hourly("2013-01-01"),
            window(),
            ("2013-03-15T00", "2013-03-15T23", 24),
        ),
        (
            hourly("2013-01-01"),
            "2013-03-15T05",
            hourly("2013-01-01"),
            window(-6, 0),
            ("2013-03-14T23", "2013-03-15T05", 7),
        ),
        (
            weekly("2013-01-01"),
            "2013-W11",
            daily("2013-01-01"),
            window(),
            ("2013-03-11", "2013-03-17", 7),
        ),
        (
            monthly("2013-01"),
            "2013-03",
            weekly("2013-01-01"),
            window(),
            ("2013-W09", "2013-W13", 5),
        ),
        (yearly("2012"), "2012", monthly("2012-01"), window(), ("2012-01", "2012-12", 12)),
        (quarterly("2013-Q1"), "2013-Q2", monthly("2013-01"), window(), ("2013-04", "2013-06", 3)),
        (
            daily("2013-01-01"),
            "2013-03-15",
            monthly("2013-01"),
            window(),
            ("2013-03", "2013-03", 1),
        ),
        (
            hourly("2013-01-01"),
            "2013-03-15T05",
            daily("2013-01-01"),
            window(-1, -1),
            ("2013-03-14", "2013-03-14", 1),
        ),
        (static("eu", "us"), "us", static("eu", "us"), window(), ("us", "us", 1)),
        (
            static("eu", "us"),
            "us",
            daily("2013-01-01", "2013-01-03"),
            all_partitions(),
            ("2013-01-01", "2013-01-03", 3),
        ),
        (daily("2013-01-01"), "2013-03-15", static("eu", "us"), all_partitions(), ("eu", "us", 2)),
    ],
)
def test_which_partitions_read_which(down, down_key, up, mapping, expected):
    assert mapping_problem(mapping, down, up) is None
    rng = map_partition(mapping, down, down.index(down_key), up, NOW)
    assert (up.key(rng.first), up.key(rng.last), rng.last - rng.first + 1) == expected


def test_windows_are_clipped_at_the_start():
    hours = hourly("2013-01-01T00")
    rng = map_partition(window(-6, 0), hours, hours.index("2013-01-01T02"), hours, NOW)
    assert rng.clipped and (hours.key(rng.first), hours.key(rng.last)) == (
        "2013-01-01T00",
        "2013-01-01T02",
    )


def test_static_mappings_that_do_not_fit():
    assert "key by key" in mapping_problem(window(), static("eu", "us"), static("eu", "apac"))
    assert "no order to shift" in mapping_problem(window(-1, 0), static("eu"), static("eu"))
    assert "key by key" in mapping_problem(window(), daily("2013-01-01"), static("eu"))
    assert mapping_problem(window(), static("eu"), unpartitioned()) is None


def test_ranges_in_any_unit_select_whole_windows():
    days, weeks = daily("2013-01-01"), weekly("2013-01-01")
    assert len(days.indexes_between("2013-W11", "2013-W12", NOW)) == 14
    assert [weeks.key(i) for i in weeks.indexes_between("2013-03", "2013-03", NOW)] == [
        "2013-W10",
        "2013-W11",
        "2013-W12",
        "2013-W13",  # March 25..31
    ]
    assert len(hourly("2013-01-01").indexes_between("2013-03-15", "2013-03-15", NOW)) == 24
    berlin = hourly("2013-01-01", tz=BERLIN)
    assert len(berlin.indexes_between("2013-10-27", "2013-10-27", NOW)) == 25
    regions = static("eu", "us", "apac")
    assert list(regions.indexes_between("us", None, NOW)) == [1, 2]
    assert list(regions.indexes_between("2013-01-01", "2013-12-31", NOW)) == [0, 1, 2]


def test_bounds_and_names():
    with pytest.raises(PartitionKeyError, match="unknown timezone"):
        daily("2013-01-01", tz="Mars/Olympus")
    with pytest.raises(PartitionKeyError, match="whole-hour UTC offsets"):
        hourly("2013-01-01", tz="Asia/Kolkata")
    with pytest.raises(PartitionKeyError, match="weekday name"):
        weekly("2013-01-01", week_start="funday")
    with pytest.raises(PartitionKeyError, match="each once"):
        static("eu", "eu")
    assert monthly("2013-01-15") == monthly("2013-01")  # bounds are partitions, not days
    assert weekly("2013-03-13").key(weekly("2013-03-13").first_index()) == "2013-W11"


# -- the spans (interval forms of a mapping) hold for every pair of kinds ----------------
KINDS = [
    hourly("2013-01-01"),
    hourly("2013-01-01", tz=BERLIN),
    daily("2013-01-01"),
    daily("2013-01-01", tz=BERLIN),
    weekly("2013-01-01"),
    weekly("2013-01-01", week_start="sunday"),
    monthly("2013-01"),
    quarterly("2013-Q1"),
    yearly("2013"),
]
SHORT_NOW = dt.datetime(2015, 1, 1)


@given(
    down=st.sampled_from(KINDS),
    up=st.sampled_from(KINDS),
    offsets=st.tuples(st.integers(-8, 2), st.integers(0, 3)),
    data=st.data(),
)
def test_spans_agree_with_the_mapping_for_every_pair_of_kinds(down, up, offsets, data):
    mapping = window(offsets[0], offsets[0] + offsets[1])
    first, last = down.first_index(), down.last_index(SHORT_NOW)
    lo = data.draw(st.integers(first, last))
    hi = data.draw(st.integers(lo, min(last, lo + 30)))
    read: set[int] = set()
    for i in range(lo, hi + 1):
        r = map_partition(mapping, down, i, up, SHORT_NOW)
        read |= set(range(r.first, r.last + 1))
    span = upstream_span(mapping, down, lo, hi, up, SHORT_NOW)
    assert read == set(range(span[0], span[1] + 1))
    if not read:
        return
    p = data.draw(st.sampled_from(sorted(read)))
    q = data.draw(st.integers(p, min(max(read), p + 30)))
    d_lo, d_hi = downstream_span(mapping, down, up, p, q, SHORT_NOW)
    readers = {
        i
        for i in range(max(first, d_lo - 50), min(last, d_hi + 50) + 1)
        if (r := map_partition(mapping, down, i, up, SHORT_NOW))
        and not r.empty
        and r.first <= q
        and r.last >= p
    }
    assert readers == set(range(d_lo, d_hi + 1))
