"""Building partitionings: `minutely()` .. `yearly()`, `static()`, `dynamic()`, `multi()`,
`unpartitioned()`, each validated once here, and compact ranges of keys for people.

A partitioning is one of the kinds of partitioning.py's protocol: `TimePartitions`,
`StaticPartitions`, `DynamicPartitions`, `MultiPartitions`, `Unpartitioned`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from assetflow.core import calendar
from assetflow.core.intervals import Intervals
from assetflow.core.keyed_partitions import DynamicPartitions, StaticPartitions
from assetflow.core.multi import MultiPartitions, check_dims
from assetflow.core.partitioning import (
    UNPARTITIONED,
    Bound,
    DynamicKeys,
    Partitions,
    TimeWindow,
    Unpartitioned,
)
from assetflow.core.time_partitions import TimePartitions
from assetflow.errors import PartitionKeyError

__all__ = [
    "UNPARTITIONED", "DynamicKeys", "DynamicPartitions", "MultiPartitions", "Partitions",
    "StaticPartitions", "TimePartitions", "TimeWindow", "Unpartitioned",
]  # fmt: skip
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _bound(value: Bound, unit: str, tz: str | None, week_start: int) -> int | None:
    """A declared start or end as the index of the partition containing it."""
    if value is None:
        return None
    zone = calendar.zone(tz)
    if isinstance(value, dt.datetime):
        return calendar.index_at(unit, calendar.to_utc(value, zone), zone, week_start)
    if isinstance(value, dt.date):
        value = value.isoformat()
    try:
        return calendar.index_of_key(unit, str(value), zone, week_start)
    except PartitionKeyError:
        if unit == "day" and len(str(value)) != 10:
            raise PartitionKeyError(
                f"daily partitions start and end on a day like 2013-01-01, got {value!r}"
            ) from None
        start = calendar.to_utc(calendar.key_span(str(value))[0], zone)
        return calendar.index_at(unit, start, zone, week_start)


def _make(
    unit: str, start: Bound, end: Bound, tz: str | None = None, week_start: int = 0
) -> TimePartitions:
    first = _bound(start, unit, tz, week_start)
    last = _bound(end, unit, tz, week_start)
    assert first is not None
    if last is not None and last < first:
        raise PartitionKeyError(f"partitions end {end} is before start {start}")
    if calendar.step(unit) is not None and tz is not None:
        _whole_windows(unit, tz)
    parts = TimePartitions(unit, first, last, tz if calendar.zone(tz) else None, week_start)
    held = (_inside(start, first, parts, False), _inside(end, last, parts, True))
    return dataclasses.replace(parts, holds=held) if any(held) else parts


def _inside(value: Bound, index: int | None, parts: TimePartitions, end: bool) -> str | None:
    """A declared start (or end) that falls strictly inside its window, which is whole
    anyway (that date's data goes there); None if it is the window's own edge."""
    if value is None or index is None:
        return None
    if isinstance(value, dt.datetime):
        text, lo, hi = value.isoformat(), value, value
    else:
        text = value.isoformat() if isinstance(value, dt.date) else str(value)
        try:
            parts.index(text)
            return None  # one of its own keys: a whole window
        except PartitionKeyError:
            lo, hi = calendar.key_span(text)
    zone = calendar.zone(parts.tz)
    if end:
        return text if parts.start_utc(index + 1) > calendar.to_utc(hi, zone) else None
    return text if parts.start_utc(index) < calendar.to_utc(lo, zone) else None


def _whole_windows(unit: str, tz: str) -> None:
    """A zone's offsets must be whole windows, or its local keys would not start windows."""
    zone, length = calendar.zone(tz), calendar.step(unit)
    assert length is not None
    probe = [dt.datetime(2013, m, 1, tzinfo=zone).utcoffset() for m in (1, 7)]
    if any(o is not None and o % length for o in probe):
        what = "hour" if unit == "hour" else f"{calendar.minutes(unit)}-minute"
        raise PartitionKeyError(
            f"{'hourly' if unit == 'hour' else what} partitions need whole-{what} UTC offsets;"
            f" {tz} has not"
        )


def minutely(
    start: Bound, end: Bound = None, every: int = 5, tz: str | None = None
) -> TimePartitions:
    """One partition per `every` minutes (a step that divides an hour: 1, 5, 15, ...) from
    `start` to `end` (inclusive; None = up to the last completed window). Keys are the minute
    each window starts at, `2024-03-15T14:05`; with `tz`, local with its UTC offset."""
    return _make(calendar.minutes_unit(every), start, end, tz)


def hourly(start: Bound, end: Bound = None, tz: str | None = None) -> TimePartitions:
    """One partition per hour from `start` to `end` (inclusive; None = up to the last
    completed hour). With `tz`, keys are local hours with their UTC offset
    (`2013-10-27T02+01:00`)."""
    return _make("hour", start, end, tz)


def daily(start: Bound, end: Bound = None, tz: str | None = None) -> TimePartitions:
    """One partition per day from `start` to `end` (inclusive; None = up to yesterday).
    With `tz`, a day ends at local midnight (23 or 25 hours on DST days)."""
    return _make("day", start, end, tz)


def weekly(
    start: Bound,
    end: Bound = None,
    tz: str | None = None,
    week_start: str = "monday",
) -> TimePartitions:
    """One partition per week (`2013-W11`), Monday to Sunday unless `week_start` names
    another first day; keys are the ISO week of the Monday inside the week."""
    if week_start.lower() not in WEEKDAYS:
        raise PartitionKeyError(f"week_start must be a weekday name, got {week_start!r}")
    return _make("week", start, end, tz, WEEKDAYS.index(week_start.lower()))


def monthly(start: Bound, end: Bound = None, tz: str | None = None) -> TimePartitions:
    """One partition per calendar month from `start` to `end` (inclusive)."""
    return _make("month", start, end, tz)


def quarterly(start: Bound, end: Bound = None, tz: str | None = None) -> TimePartitions:
    """One partition per calendar quarter (`2013-Q1`) from `start` to `end` (inclusive)."""
    return _make("quarter", start, end, tz)


def yearly(start: Bound, end: Bound = None, tz: str | None = None) -> TimePartitions:
    """One partition per calendar year (`2013`) from `start` to `end` (inclusive)."""
    return _make("year", start, end, tz)


def static(*keys: str) -> StaticPartitions:
    """One partition per key of a fixed, ordered list: `static("eu", "us", "apac")`."""
    names = tuple(str(k) for k in keys)
    if not names or len(set(names)) != len(names):
        raise PartitionKeyError("static() needs at least one key, each once")
    for name in names:
        check_key(name)
    return StaticPartitions(names)


def dynamic(name: str) -> DynamicPartitions:
    """One partition per key of the named key set stored in the warehouse, changed at run
    time: `assetflow partitions add NAME KEY...` (or remove), or the Python API."""
    if not isinstance(name, str) or not name.replace("_", "").isalnum():
        raise PartitionKeyError(
            f"dynamic partitions need a name of letters, digits and _, got {name!r}"
        )
    return DynamicPartitions(name)


def with_keys(parts: DynamicPartitions, keys: DynamicKeys) -> DynamicPartitions:
    """A dynamic partitioning with its key set as the warehouse holds it."""
    return parts.bind({parts.name: keys})


def check_key(key: str) -> str:
    """A key for a key set: non-empty, without | (it joins dimensions) or surrounding spaces."""
    if not key or "|" in key or key != key.strip() or len(key) > 200:
        raise PartitionKeyError(
            f"partition key {key!r}: keys are 1..200 characters, without | or surrounding spaces"
        )
    return key


def multi(**dimensions: Partitions) -> MultiPartitions:
    """Partitions by several dimensions at once, e.g.
    `multi(day=daily("2013-01-01"), customer=dynamic("customers"))`: one partition per
    combination, keyed `2013-01-15|acme` (parts in the order given). At most one dimension is
    time; the others are static or dynamic."""
    dims = tuple(dimensions.items())
    for name, dim in dims:
        if not isinstance(dim, Partitions):
            raise PartitionKeyError(f"multi(): dimension {name} must be a partitioning")
    check_dims(dims)
    return MultiPartitions(dims)


def unpartitioned() -> Unpartitioned:
    """A single partition: the whole table is rebuilt at once."""
    return Unpartitioned()


def compact_ranges(keys: list[str], partitions: Partitions) -> str:
    """`2013-03-15..2013-03-21, 2013-04-02` for a list of keys of one partitioning."""
    return compact({partitions.index(k): k for k in keys})


def compact(keys: dict[int, str]) -> str:
    """Keys by their index, consecutive indexes joined into one `first..last` range."""
    spans = Intervals.points(keys).spans
    return ", ".join(keys[a] if a == b else f"{keys[a]}..{keys[b]}" for a, b in spans)
