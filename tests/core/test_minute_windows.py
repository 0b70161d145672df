"""Windows of N minutes (issue 33 item 2): keys, zones, and roll-ups into hours and days."""

import datetime as dt

import pytest
from conftest import map_partition

from assetflow.core.mapping_kinds import window
from assetflow.core.partitions import daily, hourly, minutely
from assetflow.errors import PartitionKeyError

NOW = dt.datetime(2025, 1, 1)
FIVE = minutely("2024-03-30", "2024-04-01T23:55", every=5)
HOURS = hourly("2024-03-30T00", "2024-04-01T23")
BERLIN_FIVE = minutely("2024-03-30", "2024-04-01T23:55", every=5, tz="Europe/Berlin")
BERLIN_DAYS = daily("2024-03-30", "2024-04-01", tz="Europe/Berlin")


def keys(parts, rng):
    return [parts.key(i) for i in range(rng.first, rng.last + 1)]


@pytest.mark.parametrize("every", [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30])
@pytest.mark.parametrize("tz", [None, "Europe/Berlin", "America/St_Johns"])
def test_keys_round_trip_and_tile_the_hour(every, tz):
    if tz == "America/St_Johns" and 210 % every:  # UTC-03:30 is not whole windows of `every`
        with pytest.raises(PartitionKeyError, match=f"need whole-{every}-minute UTC offsets"):
            minutely("2024-03-31", every=every, tz=tz)
        return
    parts = minutely("2024-03-31", "2024-03-31T04:00", every=every, tz=tz)
    assert parts.describe().startswith(f"every {every} minutes 2024-03-31T00:00")
    for index in range(parts.first_index(), parts.last + 1):
        key = parts.key(index)
        assert parts.index(key) == index
        assert parts.start_utc(index + 1) - parts.start_utc(index) == dt.timedelta(minutes=every)


def test_a_day_with_a_dst_change_holds_23_hours_of_windows():
    day = BERLIN_DAYS.index("2024-03-31")
    rng = map_partition(window(), BERLIN_DAYS, day, BERLIN_FIVE, NOW)
    found = keys(BERLIN_FIVE, rng)
    assert len(found) == 23 * 12
    assert found[0] == "2024-03-31T00:00+01:00" and found[-1] == "2024-03-31T23:55+02:00"
    assert "2024-03-31T01:55+01:00" in found and "2024-03-31T03:00+02:00" in found


def test_an_hour_rolls_up_its_twelve_windows_and_a_window_reads_its_hour():
    rng = map_partition(window(), HOURS, HOURS.index("2024-03-31T14"), FIVE, NOW)
    assert keys(FIVE, rng) == [f"2024-03-31T14:{m:02d}" for m in range(0, 60, 5)]
    back = map_partition(window(), FIVE, FIVE.index("2024-03-31T14:35"), HOURS, NOW)
    assert keys(HOURS, back) == ["2024-03-31T14"]


def test_offsets_count_the_readers_windows():
    trailing = map_partition(window(-2, 0), FIVE, FIVE.index("2024-03-31T14:05"), FIVE, NOW)
    assert keys(FIVE, trailing) == ["2024-03-31T13:55", "2024-03-31T14:00", "2024-03-31T14:05"]
    quarter = minutely("2024-03-30", "2024-04-01T23:45", every=15)
    rng = map_partition(window(), quarter, quarter.index("2024-03-31T14:15"), FIVE, NOW)
    assert keys(FIVE, rng) == ["2024-03-31T14:15", "2024-03-31T14:20", "2024-03-31T14:25"]


def test_an_hour_or_a_minute_selects_the_windows_inside_it():
    hour = FIVE.indexes_between("2024-03-31T14", "2024-03-31T14", NOW)
    assert [FIVE.key(i) for i in hour] == [f"2024-03-31T14:{m:02d}" for m in range(0, 60, 5)]
    own = FIVE.indexes_between("2024-03-31T14:05", "2024-03-31T14:15", NOW)
    assert [FIVE.key(i) for i in own] == [
        "2024-03-31T14:05",
        "2024-03-31T14:10",
        "2024-03-31T14:15",
    ]


def test_open_ended_windows_stop_at_the_last_completed_one():
    parts = minutely("2024-01-01", every=15)
    assert parts.key(parts.last_index(dt.datetime(2024, 1, 1, 1, 14))) == "2024-01-01T00:45"


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: minutely("2024-01-01", every=7), "a step that divides an hour"),
        (
            lambda: minutely("2024-01-01", every=20, tz="Asia/Kolkata"),
            "20-minute partitions need whole-20",
        ),
        (lambda: FIVE.index("2024-03-31T14:03"), "does not start a 5-minute window"),
        (lambda: FIVE.index("2024-03-31T14"), "invalid 5min partition key"),
        (lambda: FIVE.index("2024-03-31T24:00"), "hour must be in 0..23"),
        (lambda: BERLIN_FIVE.index("2024-03-31T02:30"), "does not exist"),
    ],
)
def test_mistakes_are_one_clear_error(make, message):
    with pytest.raises(PartitionKeyError, match=message):
        make()


@pytest.mark.parametrize("parts", [FIVE, HOURS, minutely("2024-02-28T23:00", "2024-03-01T01:00")])
def test_keys_made_many_at_a_time_are_the_keys_made_one_by_one(parts):
    first, last = parts.first_index(), parts.last_index(NOW)
    for lo, hi in [(first, last), (first + 7, last - 3), (first + 1, first + 1), (last, last)]:
        assert list(parts.keys_between(lo, hi)) == [parts.key(i) for i in range(lo, hi + 1)]
