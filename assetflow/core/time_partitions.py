"""Partitions that are windows of time: one per N minutes, hour, day, week, month, quarter or
year.

Partitions run from `first` to `last` (inclusive; an open end means "up to the last completed
window"). A key is an integer index (calendar.py has the units). A time partitioning may name
a timezone: its days (and weeks, months, ...) then end at local midnight and its hours carry
their UTC offset. Without one its windows float: they are read in UTC, or in the timezone of
the schedule that ticks them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from assetflow.core import calendar
from assetflow.core.intervals import Intervals
from assetflow.core.partitioning import Partitions, TimeWindow
from assetflow.errors import PartitionKeyError

_TICK = dt.timedelta(microseconds=1)
_LABELS = {
    "hour": "hourly", "day": "daily", "week": "weekly", "month": "monthly",
    "quarter": "quarterly", "year": "yearly",
}  # fmt: skip
_FORMATS = {"hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}


@dataclass(frozen=True)
class TimePartitions(Partitions):
    """One partition per `unit` (calendar.UNITS) from index `first` to `last`."""

    unit: str
    first: int  # index of the first partition
    last: int | None = None  # index of the last; None = open-ended
    tz: str | None = None  # IANA timezone of the windows; None = floating
    week_start: int = 0  # weekly: the first day of a week, 0 = Monday
    # a declared start and end that fall inside their (whole) first and last windows
    holds: tuple[str | None, str | None] = field(default=(None, None), compare=False, repr=False)

    is_time = True

    @property
    def ordered_keys(self) -> bool:
        """A zone's hours do not sort where the clock goes back: `02+02:00` before `02+01:00`."""
        return not (self.on_the_clock and self.tz)

    @property
    def on_the_clock(self) -> bool:
        """Hours and minutes: windows of a fixed length on the UTC time line, keyed by the
        wall-clock time they start at (with its offset, in a zone)."""
        return calendar.step(self.unit) is not None

    @property
    def identity(self) -> str:
        extra = [self.tz or "", str(self.week_start) if self.week_start else ""]
        return "|".join([self.unit, *extra]).rstrip("|")

    @property
    def calendar(self) -> tuple[str, str | None, int]:
        """What makes two time partitionings' windows the same: unit, zone, first weekday."""
        return self.unit, self.tz, self.week_start

    @property
    def time_axis(self) -> TimePartitions:
        return self

    @property
    def days_each(self) -> float | None:
        """A partition's length in days: fixed for hours and minutes, one for days (a local
        day of 23 or 25 hours too); None for weeks and coarser."""
        step = calendar.step(self.unit)
        if step is not None:
            return step.total_seconds() / 86400
        return 1.0 if self.unit == "day" else None

    def _zone(self, default: str | None = None) -> ZoneInfo | None:
        return None if self.tz is None and default is None else calendar.zone(self.tz or default)

    # -- keys <-> indexes ---------------------------------------------------------------
    def index(self, key: str) -> int:
        return calendar.index_of_key(self.unit, key, self._zone(), self.week_start)

    def key(self, index: int) -> str:
        return calendar.key_of(self.unit, index, self._zone(), self.week_start)

    def keys_between(self, first: int, last: int) -> tuple[str, ...]:
        if self.on_the_clock and not self.tz:
            return tuple(calendar.clock_keys(self.unit, first, last))
        return super().keys_between(first, last)

    def grid_cell(self, key: str) -> tuple[str, str]:
        """A day in its month's row, an hour in its day's, minutes in their hour's."""
        if self.unit == "day":
            return key[:7], key[8:]
        if self.unit == "hour":
            return key[:10], key[11:]
        if self.on_the_clock:
            return key[:13], key[14:]
        return "all", key

    # -- time -----------------------------------------------------------------------------
    def index_at(self, instant: dt.datetime, zone: str | None = None) -> int:
        return calendar.index_at(self.unit, instant, self._zone(zone), self.week_start)

    def start_utc(self, index: int, zone: str | None = None) -> dt.datetime:
        return calendar.start_utc(self.unit, index, self._zone(zone), self.week_start)

    def window(self, index: int) -> TimeWindow:
        """Local dates for days and coarser; datetimes for hours and minutes (naive UTC without
        a timezone, aware local with one)."""
        if not self.on_the_clock:
            return (calendar.first_date(self.unit, index, self.week_start),
                    calendar.first_date(self.unit, index + 1, self.week_start))  # fmt: skip
        start, end = self.start_utc(index), self.start_utc(index + 1)
        zone = self._zone()
        if zone is None:
            return start, end
        return (start.replace(tzinfo=dt.UTC).astimezone(zone),
                end.replace(tzinfo=dt.UTC).astimezone(zone))  # fmt: skip

    def sql_key(self, expr: str) -> str | None:
        """None for a zone's hours and minutes (their keys carry an offset SQL's strftime cannot
        give)."""
        if self.on_the_clock and self.tz:
            return None
        if every := calendar.minutes(self.unit):
            bucket = f"time_bucket(INTERVAL '{every} minutes', {expr})"
            return f"strftime({bucket}, '%Y-%m-%dT%H:%M')"
        if self.unit in _FORMATS:
            return f"strftime({expr}, '{_FORMATS[self.unit]}')"
        if self.unit == "quarter":
            return f"strftime({expr}, '%Y') || '-Q' || quarter({expr})"
        # a week: the ISO week of the Monday inside it
        w = self.week_start
        back = f"CAST((isodow({expr}) - 1 - {w} + 7) % 7 AS INTEGER)"
        monday = f"CAST({expr} AS DATE) - {back} + {(7 - w) % 7}"
        return f"strftime({monday}, '%G-W%V')"

    # -- which partitions exist -----------------------------------------------------------
    def first_index(self) -> int:
        return self.first

    def last_index(self, now: dt.datetime) -> int:
        """The declared end, or the last completed window."""
        return self.index_at(now) - 1 if self.last is None else self.last

    def own_index(self, key: str) -> int | None:
        """The index of `key` if it is one of its keys as it writes them (a Sunday week's
        `2023-W02`, a repeated hour with its offset), else None."""
        try:
            index = self.index(key)
        except PartitionKeyError:
            return None
        return index if self.key(index) == key else None

    def _between(self, lo: str | None, hi: str | None, now: dt.datetime) -> Intervals:
        """Its own keys select themselves; any other time key (`2013-03`, `2013-03-15T14` in a
        zone without its offset: both repeated hours) the windows wholly inside it."""
        first, last = self.first_index(), self.last_index(now)
        zone = self._zone()
        lo_own, hi_own = (None if b is None else self.own_index(b) for b in (lo, hi))
        if lo_own is not None:
            first = max(first, lo_own)
        elif lo is not None:
            start = calendar.to_utc(calendar.key_span(lo)[0], zone)
            index = self.index_at(start)
            first = max(first, index + 1 if self.start_utc(index) < start else index)
        if hi_own is not None:
            last = min(last, hi_own)
        elif hi is not None:
            end = calendar.to_utc(calendar.key_span(hi)[1], zone)
            index = self.index_at(end - _TICK)
            last = min(last, index - 1 if self.start_utc(index + 1) > end else index)
        return Intervals.span(first, last)

    def describe(self, now: dt.datetime | None = None) -> str:
        first = self.key(self.first_index())
        if self.last is not None:
            last = self.key(self.last)
        elif now is not None:
            last = self.key(self.last_index(now))
        else:
            last = "now"
        where = [self.tz] if self.tz else []
        start, end = self.holds
        if start or end:
            held = [f"{first} holds the start {start}"] if start else []
            held += [f"{last} holds the end {end}"] if end else []
            noun = f"{self.unit}s" if self.unit in _LABELS else "windows"
            where.append(f"whole {noun}: {', '.join(held)}")
        label = _LABELS.get(self.unit) or f"every {calendar.minutes(self.unit)} minutes"
        return f"{label} {first}..{last}" + (f" ({'; '.join(where)})" if where else "")
