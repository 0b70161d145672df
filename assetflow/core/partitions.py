"""Partitions and partition mappings: interval maths as plain functions.

A partitioned asset has one partition per hour, day, week, month, quarter or year between
`start` and `end` (inclusive; an open end means "up to the last completed window"), or one
per key of a fixed list (`static`). Internally a key is an integer index, so that ranges and
offsets are arithmetic (calendar.py has the units). Unpartitioned assets have exactly one
partition, `UNPARTITIONED`.

A time partitioning may name a timezone: its days (and weeks, months, ...) then end at local
midnight and its hours carry their UTC offset. Without one its windows float: they are read
in UTC, or in the timezone of the schedule that ticks them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Literal

from assetflow.core import calendar
from assetflow.core import multi as _multi
from assetflow.core.intervals import Intervals
from assetflow.errors import PartitionKeyError

UNPARTITIONED = "__all__"
Unit = Literal[
    "hour", "day", "week", "month", "quarter", "year", "static", "dynamic", "multi", "none"
]
_TICK = dt.timedelta(microseconds=1)
Bound = str | dt.date | None  # a declared start or end: a key, a date or a datetime
TimeWindow = tuple[dt.date, dt.date] | tuple[dt.datetime, dt.datetime] | tuple[None, None]
_LABELS = {
    "hour": "hourly", "day": "daily", "week": "weekly", "month": "monthly",
    "quarter": "quarterly", "year": "yearly", "static": "static", "dynamic": "dynamic",
}  # fmt: skip
# A dynamic key set's keys as the warehouse holds them: (index, key, still there), by index.
# An index is given once, when its key is added, and never reused.
DynamicKeys = tuple[tuple[int, str, bool], ...]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Partitions:
    """How an asset is partitioned. Build with `hourly()`, `daily()`, `weekly()`,
    `monthly()`, `quarterly()`, `yearly()`, `static()` or `unpartitioned()`."""

    unit: Unit
    first: int = 0  # index of the first partition
    last: int | None = None  # index of the last; None = open-ended (time units)
    tz: str | None = None  # IANA timezone of the windows; None = floating
    week_start: int = 0  # weekly: the first day of a week, 0 = Monday
    static_keys: tuple[str, ...] = ()
    dynamic_name: str | None = None  # the key set a dynamic partitioning reads
    dynamic_keys: DynamicKeys = field(default=(), compare=False, repr=False)
    dims: tuple[tuple[str, Partitions], ...] = ()  # multi: name -> partitioning, in key order

    @property
    def is_time(self) -> bool:
        return self.unit in calendar.UNITS

    @property
    def is_keyed(self) -> bool:
        """Partitions named by a list of keys (static or dynamic), not by time."""
        return self.unit in ("static", "dynamic")

    @property
    def ordered_keys(self) -> bool:
        """Whether keys sort as their partitions do (listed keys and several dimensions do
        not; nor do a zone's hours where the clock goes back: `02+02:00` before `02+01:00`)."""
        return not self.is_keyed and self.unit != "multi" and not (self.unit == "hour" and self.tz)

    @functools.cached_property
    def identity(self) -> str:
        """What about the partitioning changes an asset's output (its code version)."""
        if self.unit == "multi":
            return "multi(" + ", ".join(f"{n}={d.identity}" for n, d in self.dims) + ")"
        if self.unit == "static":
            return f"static{self.static_keys}"
        if self.unit == "dynamic":
            return f"dynamic:{self.dynamic_name}"
        extra = [self.tz or "", str(self.week_start) if self.week_start else ""]
        return "|".join([self.unit, *extra]).rstrip("|")

    def _zone(self, default: str | None = None):  # noqa: ANN202 - a ZoneInfo or None
        return None if self.tz is None and default is None else calendar.zone(self.tz or default)

    # -- keys <-> indexes ---------------------------------------------------------------
    def index(self, key: str) -> int:
        """The integer index of a key, validating it for this partitioning."""
        if self.unit == "none":
            if key != UNPARTITIONED:
                raise PartitionKeyError(f"unpartitioned asset has no partition {key!r}")
            return 0
        if self.unit == "multi":
            return _multi.index(self, key)
        if self.unit == "static":
            if key not in self._listed[0]:
                raise PartitionKeyError(
                    f"unknown partition key {key!r}", f"keys: {', '.join(self.static_keys)}"
                )
            return self._listed[0][key]
        if self.unit == "dynamic":
            if key not in self._listed[0]:
                raise PartitionKeyError(
                    f"unknown partition key {key!r} of dynamic partitions {self.dynamic_name}",
                    f"add it: assetflow partitions add {self.dynamic_name} {key}",
                )
            return self._listed[0][key]
        return calendar.index_of_key(self.unit, key, self._zone(), self.week_start)

    def key(self, index: int) -> str:
        if self.unit == "none":
            return UNPARTITIONED
        if self.unit == "multi":
            return _multi.key(self, index)
        if self.unit == "static":
            return self.static_keys[index]
        if self.unit == "dynamic":
            return self._listed[1][index]
        return calendar.key_of(self.unit, index, self._zone(), self.week_start)

    @functools.cached_property
    def _listed(self) -> tuple[dict[str, int], dict[int, str]]:
        """Listed keys' indexes and back (a dynamic set's removed keys too: lineage stays)."""
        pairs = list(enumerate(self.static_keys)) or [(i, k) for i, k, _ in self.dynamic_keys]
        return {k: i for i, k in pairs}, dict(pairs)

    def keys_between(self, first: int, last: int) -> tuple[str, ...]:
        """The keys of the partitions first..last that exist (a dynamic key set may have
        removed some)."""
        if self.unit == "dynamic":
            return tuple(k for i, k, on in self.dynamic_keys if on and first <= i <= last)
        if self.unit == "multi":
            return _multi.keys_in(self, Intervals.span(first, last))
        return tuple(self.key(i) for i in range(first, last + 1))

    def keys_in(self, spans: Intervals) -> tuple[str, ...]:
        """The keys of the partitions in `spans` that exist."""
        if self.unit == "multi":
            return _multi.keys_in(self, spans)
        return tuple(k for lo, hi in spans.spans for k in self.keys_between(lo, hi))

    def index_at(self, instant: dt.datetime, zone: str | None = None) -> int:
        """The index of the window containing the naive UTC `instant` (a floating
        partitioning's windows read in `zone`, else UTC); a multi partitioning's time
        dimension's."""
        if self.unit == "multi":
            return self.time_dim.index_at(instant, zone) if self.time_dim else 0
        if not self.is_time:
            return 0
        return calendar.index_at(self.unit, instant, self._zone(zone), self.week_start)

    def start_utc(self, index: int, zone: str | None = None) -> dt.datetime:
        """When partition `index` starts (its end is the next one's start), naive UTC."""
        if self.unit == "multi" and self.time_dim is not None:
            return self.time_dim.start_utc(index % _multi.TIME_SIZE, zone)
        return calendar.start_utc(self.unit, index, self._zone(zone), self.week_start)

    def window(self, index: int) -> TimeWindow:
        """A partition's half-open window [start, end), as an asset sees it (`ctx.start`,
        `ctx.end`): local dates for days and coarser, datetimes for hours (naive UTC
        without a timezone, aware local with one)."""
        if self.unit == "multi":
            t = _multi.time_position(self)
            if t is None:
                return None, None
            return self.dims[t][1].window(_multi.unpack(self, index)[t])
        if not self.is_time:
            return None, None
        if self.unit == "hour":
            start, end = self.start_utc(index), self.start_utc(index + 1)
            zone = self._zone()
            if zone is None:
                return start, end
            return (start.replace(tzinfo=dt.UTC).astimezone(zone),
                    end.replace(tzinfo=dt.UTC).astimezone(zone))  # fmt: skip
        return (calendar.first_date(self.unit, index, self.week_start),
                calendar.first_date(self.unit, index + 1, self.week_start))  # fmt: skip

    # -- bounds ---------------------------------------------------------------------------
    @functools.cached_property
    def layout(self) -> tuple[tuple[int, ...], int | None, tuple[tuple[int, int], ...]]:
        """Several dimensions: strides in a packed index, which one is time, (stride, size)."""
        return _multi.layout(self)

    @property
    def time_dim(self) -> Partitions | None:
        """A multi partitioning's time dimension, if it has one."""
        return next((d for _, d in self.dims if d.is_time), None)

    def first_index(self) -> int:
        if self.unit == "multi":
            spans = _multi.universe(self, dt.datetime.max).spans
            return spans[0][0] if spans else 0
        if self.unit == "dynamic":
            return min((i for i, _, on in self.dynamic_keys if on), default=0)
        return self.first

    def last_index(self, now: dt.datetime) -> int:
        """The last partition that exists: the declared end, or the last completed window."""
        if self.unit == "none":
            return 0
        if self.unit == "static":
            return len(self.static_keys) - 1
        if self.unit == "dynamic":  # none yet: an empty range
            return max((i for i, _, on in self.dynamic_keys if on), default=-1)
        if self.unit == "multi":
            spans = _multi.universe(self, now).spans
            return spans[-1][1] if spans else -1
        return self.index_at(now) - 1 if self.last is None else self.last

    def universe(self, now: dt.datetime) -> Intervals:
        """Every partition the asset has now (a dynamic key set's removed keys are not)."""
        if self.unit == "dynamic":
            return Intervals.points([i for i, _, on in self.dynamic_keys if on])
        if self.unit == "multi":
            return _multi.universe(self, now)
        return Intervals.span(self.first_index(), self.last_index(now))

    def validate_key(self, key: str, now: dt.datetime) -> int:
        """The index of `key`, or a PartitionKeyError if it is not one of this asset's keys."""
        index = self.index(key)
        first, last = self.first_index(), self.last_index(now)
        if not first <= index <= last:
            raise PartitionKeyError(f"partition {key} is outside {self.describe(now)}")
        return index

    def indexes_between(self, lo: str | None, hi: str | None, now: dt.datetime) -> Intervals:
        """The partitions whose whole window lies within keys lo..hi (inclusive, any unit,
        None = unbounded). Listed keys select by position; a time key leaves a keyed
        partitioning whole; a multi partitioning takes a part per dimension (`*|acme`)."""
        if self.unit == "multi":
            return _multi.selection(self, lo, hi, now)
        return self._between(lo, hi, now) & self.universe(now)

    def _between(self, lo: str | None, hi: str | None, now: dt.datetime) -> Intervals:
        first, last = self.first_index(), self.last_index(now)
        if self.unit == "none":
            return Intervals.span(0, 0)
        if self.is_keyed:
            known = {self.key(i) for i in self.universe(now)}
            for bound in (lo, hi):
                if bound is not None and bound not in known:
                    try:
                        calendar.key_span(bound)  # a time key leaves it whole
                    except PartitionKeyError:
                        self.index(bound)  # anything else: "unknown partition key"
                        return Intervals()  # a removed key: none of today's partitions
            first = self.index(lo) if lo in known else first
            last = self.index(hi) if hi in known else last
            return Intervals.span(first, last)
        zone = self._zone()
        if lo is not None:
            start = calendar.to_utc(calendar.key_span(lo)[0], zone)
            index = self.index_at(start)
            first = max(first, index + 1 if self.start_utc(index) < start else index)
        if hi is not None:
            end = calendar.to_utc(calendar.key_span(hi)[1], zone)
            index = self.index_at(end - _TICK)
            last = min(last, index - 1 if self.start_utc(index + 1) > end else index)
        return Intervals.span(first, last)

    def describe(self, now: dt.datetime | None = None) -> str:
        if self.unit == "none":
            return "unpartitioned"
        if self.unit == "static":
            return f"static {', '.join(self.static_keys)}"
        if self.unit == "dynamic":
            n = sum(on for _, _, on in self.dynamic_keys)
            return f"dynamic {self.dynamic_name} ({n} key{'' if n == 1 else 's'})"
        if self.unit == "multi":
            return _multi.describe(self, now)
        first = self.key(self.first_index())
        if self.last is not None:
            last = self.key(self.last)
        elif now is not None:
            last = self.key(self.last_index(now))
        else:
            last = "now"
        where = f" ({self.tz})" if self.tz else ""
        return f"{_LABELS[self.unit]} {first}..{last}{where}"

    def sql_key(self, expr: str) -> str | None:
        """SQL giving the partition key of a date/timestamp expression (placing a batch's
        rows); None where keys cannot be computed in SQL (static, zoned hours)."""
        formats = {"hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}
        if self.unit == "multi":  # placed per key combination (its other parts are fixed)
            return self.time_dim.sql_key(expr) if self.time_dim else None
        if self.unit == "hour" and self.tz:
            return None
        if self.unit in formats:
            return f"strftime({expr}, '{formats[self.unit]}')"
        if self.unit == "quarter":
            return f"strftime({expr}, '%Y') || '-Q' || quarter({expr})"
        if self.unit == "week":  # the ISO week of the Monday inside the week
            w = self.week_start
            back = f"CAST((isodow({expr}) - 1 - {w} + 7) % 7 AS INTEGER)"
            monday = f"CAST({expr} AS DATE) - {back} + {(7 - w) % 7}"
            return f"strftime({monday}, '%G-W%V')"
        return None


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
    unit: Unit,
    start: Bound,
    end: Bound,
    tz: str | None = None,
    week_start: int = 0,
) -> Partitions:
    first = _bound(start, unit, tz, week_start)
    last = _bound(end, unit, tz, week_start)
    assert first is not None
    if last is not None and last < first:
        raise PartitionKeyError(f"partitions end {end} is before start {start}")
    if unit == "hour" and tz is not None:
        _whole_hours(tz)
    return Partitions(unit, first, last, tz if calendar.zone(tz) else None, week_start)


def _whole_hours(tz: str) -> None:
    zone = calendar.zone(tz)
    probe = [dt.datetime(2013, m, 1, tzinfo=zone).utcoffset() for m in (1, 7)]
    if any(o is not None and o.total_seconds() % 3600 for o in probe):
        raise PartitionKeyError(f"hourly partitions need whole-hour UTC offsets; {tz} has not")


def hourly(start: Bound, end: Bound = None, tz: str | None = None) -> Partitions:
    """One partition per hour from `start` to `end` (inclusive; None = up to the last
    completed hour). With `tz`, keys are local hours with their UTC offset
    (`2013-10-27T02+01:00`)."""
    return _make("hour", start, end, tz)


def daily(start: Bound, end: Bound = None, tz: str | None = None) -> Partitions:
    """One partition per day from `start` to `end` (inclusive; None = up to yesterday).
    With `tz`, a day ends at local midnight (23 or 25 hours on DST days)."""
    return _make("day", start, end, tz)


def weekly(
    start: Bound,
    end: Bound = None,
    tz: str | None = None,
    week_start: str = "monday",
) -> Partitions:
    """One partition per week (`2013-W11`), Monday to Sunday unless `week_start` names
    another first day; keys are the ISO week of the Monday inside the week."""
    if week_start.lower() not in WEEKDAYS:
        raise PartitionKeyError(f"week_start must be a weekday name, got {week_start!r}")
    return _make("week", start, end, tz, WEEKDAYS.index(week_start.lower()))


def monthly(start: Bound, end: Bound = None, tz: str | None = None) -> Partitions:
    """One partition per calendar month from `start` to `end` (inclusive)."""
    return _make("month", start, end, tz)


def quarterly(start: Bound, end: Bound = None, tz: str | None = None) -> Partitions:
    """One partition per calendar quarter (`2013-Q1`) from `start` to `end` (inclusive)."""
    return _make("quarter", start, end, tz)


def yearly(start: Bound, end: Bound = None, tz: str | None = None) -> Partitions:
    """One partition per calendar year (`2013`) from `start` to `end` (inclusive)."""
    return _make("year", start, end, tz)


def static(*keys: str) -> Partitions:
    """One partition per key of a fixed, ordered list: `static("eu", "us", "apac")`."""
    names = tuple(str(k) for k in keys)
    if not names or len(set(names)) != len(names):
        raise PartitionKeyError("static() needs at least one key, each once")
    for name in names:
        check_key(name)
    return Partitions("static", static_keys=names)


def dynamic(name: str) -> Partitions:
    """One partition per key of the named key set stored in the warehouse, changed at run
    time: `assetflow partitions add NAME KEY...` (or remove), or the Python API."""
    if not isinstance(name, str) or not name.replace("_", "").isalnum():
        raise PartitionKeyError(
            f"dynamic partitions need a name of letters, digits and _, got {name!r}"
        )
    return Partitions("dynamic", dynamic_name=name)


def with_keys(parts: Partitions, keys: DynamicKeys) -> Partitions:
    """A dynamic partitioning with its key set as the warehouse holds it."""
    return dataclasses.replace(parts, dynamic_keys=tuple(sorted(keys)))


def check_key(key: str) -> str:
    """A key for a key set: non-empty, without | (it joins dimensions) or surrounding spaces."""
    if not key or "|" in key or key != key.strip() or len(key) > 200:
        raise PartitionKeyError(
            f"partition key {key!r}: keys are 1..200 characters, without | or surrounding spaces"
        )
    return key


def multi(**dimensions: Partitions) -> Partitions:
    """Partitions by several dimensions at once, e.g.
    `multi(day=daily("2013-01-01"), customer=dynamic("customers"))`: one partition per
    combination, keyed `2013-01-15|acme` (parts in the order given). At most one dimension is
    time; the others are static or dynamic."""
    dims = tuple(dimensions.items())
    for name, dim in dims:
        if not isinstance(dim, Partitions):
            raise PartitionKeyError(f"multi(): dimension {name} must be a partitioning")
    _multi.check_dims(dims)
    return Partitions("multi", dims=dims)


def unpartitioned() -> Partitions:
    """A single partition: the whole table is rebuilt at once."""
    return Partitions("none")


def compact_ranges(keys: list[str], partitions: Partitions) -> str:
    """`2013-03-15..2013-03-21, 2013-04-02` for a list of keys of one partitioning."""
    return compact({partitions.index(k): k for k in keys})


def compact(keys: dict[int, str]) -> str:
    """Keys by their index, consecutive indexes joined into one `first..last` range."""
    spans = Intervals.points(keys).spans
    return ", ".join(keys[a] if a == b else f"{keys[a]}..{keys[b]}" for a, b in spans)
