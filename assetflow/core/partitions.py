"""Partitions and partition mappings: interval maths as plain functions.

A partitioned asset has one partition per day or per month between `start` and `end`
(inclusive; an open end means "up to the last completed window"). Keys are ISO strings
(`2013-03-15`, `2013-03`); internally a key is an integer index so that ranges and offsets
are arithmetic. Unpartitioned assets have exactly one partition, `UNPARTITIONED`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from assetflow.core.intervals import Intervals
from assetflow.errors import PartitionKeyError

UNPARTITIONED = "__all__"
Unit = Literal["day", "month", "none"]

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")


def parse_date_or_month(text: str) -> tuple[dt.date, dt.date]:
    """`2013-03-15` or `2013-03` as the half-open date interval it covers."""
    text = str(text).strip()
    try:
        if _DAY.match(text):
            day = dt.date.fromisoformat(text)
            return day, day + dt.timedelta(days=1)
        if _MONTH.match(text):
            first = dt.date(int(text[:4]), int(text[5:]), 1)
            return first, _add_months(first, 1)
    except ValueError as exc:
        raise PartitionKeyError(f"invalid partition key {text!r}: {exc}") from None
    raise PartitionKeyError(f"invalid partition key {text!r}", "expected YYYY-MM-DD or YYYY-MM")


def _add_months(day: dt.date, n: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Partitions:
    """How an asset is partitioned. Build with `daily()`, `monthly()` or `unpartitioned()`."""

    unit: Unit
    start: dt.date | None = None
    end: dt.date | None = None  # start date of the last partition; None = open-ended

    # -- keys <-> indexes ---------------------------------------------------------------
    def index(self, key: str) -> int:
        """The integer index of a key, validating it for this partitioning."""
        if self.unit == "none":
            if key != UNPARTITIONED:
                raise PartitionKeyError(f"unpartitioned asset has no partition {key!r}")
            return 0
        pattern = _DAY if self.unit == "day" else _MONTH
        if not pattern.match(key):
            example = "2013-03-15" if self.unit == "day" else "2013-03"
            raise PartitionKeyError(
                f"invalid {self.unit} partition key {key!r}", f"expected e.g. {example}"
            )
        start, _ = parse_date_or_month(key)
        return self.index_of_date(start)

    def index_of_date(self, day: dt.date) -> int:
        """Index of the partition that contains `day`."""
        if self.unit == "day":
            return day.toordinal()
        if self.unit == "month":
            return day.year * 12 + day.month - 1
        return 0

    def key(self, index: int) -> str:
        if self.unit == "day":
            return dt.date.fromordinal(index).isoformat()
        if self.unit == "month":
            return f"{index // 12:04d}-{index % 12 + 1:02d}"
        return UNPARTITIONED

    def window(self, index: int) -> tuple[dt.date, dt.date] | tuple[None, None]:
        """The half-open date window [start, end) of a partition."""
        if self.unit == "day":
            day = dt.date.fromordinal(index)
            return day, day + dt.timedelta(days=1)
        if self.unit == "month":
            first = dt.date(index // 12, index % 12 + 1, 1)
            return first, _add_months(first, 1)
        return None, None

    # -- bounds ---------------------------------------------------------------------------
    def first_index(self) -> int:
        return 0 if self.start is None else self.index_of_date(self.start)

    def last_index(self, now: dt.datetime) -> int:
        """The last partition that exists: the declared end, or the last completed window."""
        if self.unit == "none":
            return 0
        last_complete = self.index_of_date(now.date()) - 1
        if self.end is None:
            return last_complete
        return self.index_of_date(self.end)

    def validate_key(self, key: str, now: dt.datetime) -> int:
        """The index of `key`, or a PartitionKeyError if it is not one of this asset's keys."""
        index = self.index(key)
        first, last = self.first_index(), self.last_index(now)
        if not first <= index <= last:
            raise PartitionKeyError(
                f"partition {key} is outside {self.describe(now)}",
            )
        return index

    def indexes_within(self, lo: dt.date | None, hi: dt.date | None, now: dt.datetime) -> range:
        """Indexes of partitions whose whole window lies within [lo, hi) (None = unbounded)."""
        first, last = self.first_index(), self.last_index(now)
        if self.unit == "none":
            return range(0, 1)
        if lo is not None:
            start_index = self.index_of_date(lo)
            if self.window(start_index)[0] < lo:
                start_index += 1
            first = max(first, start_index)
        if hi is not None:
            end_index = self.index_of_date(hi - dt.timedelta(days=1))
            if self.window(end_index)[1] > hi:
                end_index -= 1
            last = min(last, end_index)
        return range(first, max(first, last + 1))

    def describe(self, now: dt.datetime | None = None) -> str:
        if self.unit == "none":
            return "unpartitioned"
        label = {"day": "daily", "month": "monthly"}[self.unit]
        first = self.key(self.first_index())
        if self.end is not None:
            last = self.key(self.index_of_date(self.end))
        elif now is not None:
            last = self.key(self.last_index(now))
        else:
            last = "now"
        return f"{label} {first}..{last}"


def _bound(value: str | dt.date | None, unit: Unit, what: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value
    start, _ = parse_date_or_month(value)
    if unit == "day" and not _DAY.match(str(value)):
        raise PartitionKeyError(f"daily {what} must be a day like 2013-01-01, got {value!r}")
    return start


def daily(start: str | dt.date, end: str | dt.date | None = None) -> Partitions:
    """One partition per day from `start` to `end` (inclusive; None = up to yesterday)."""
    return _make("day", start, end)


def monthly(start: str | dt.date, end: str | dt.date | None = None) -> Partitions:
    """One partition per calendar month from `start` to `end` (inclusive)."""
    return _make("month", start, end)


def unpartitioned() -> Partitions:
    """A single partition: the whole table is rebuilt at once."""
    return Partitions("none")


def _make(unit: Unit, start: str | dt.date, end: str | dt.date | None) -> Partitions:
    first = _bound(start, unit, "start")
    last = _bound(end, unit, "end")
    probe = Partitions(unit, first, last)
    if last is not None and probe.index_of_date(last) < probe.index_of_date(first):
        raise PartitionKeyError(f"partitions end {end} is before start {start}")
    # Normalise bounds to the first day of their partition so equal definitions compare equal.
    first = probe.window(probe.index_of_date(first))[0]
    last = None if last is None else probe.window(probe.index_of_date(last))[0]
    return Partitions(unit, first, last)


# -- mappings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The upstream partitions overlapping the downstream window, widened by offsets.

    Offsets count upstream partitions: `window(-6, 0)` on a daily upstream is the trailing
    seven days. `window(0, 0)` is identity between equal partitionings, the roll-up of days
    into a month, and the fan-out of a month to its days.
    """

    start_offset: int = 0
    end_offset: int = 0

    def describe(self) -> str:
        return f"window({self.start_offset}, {self.end_offset})"


@dataclass(frozen=True)
class AllPartitions:
    """Every partition of the upstream asset."""

    def describe(self) -> str:
        return "all"


Mapping = Window | AllPartitions


def window(start_offset: int = 0, end_offset: int = 0) -> Window:
    """Map a downstream partition to upstream partitions shifted by offsets (see Window)."""
    return Window(int(start_offset), int(end_offset))


def all_partitions() -> AllPartitions:
    return AllPartitions()


def mapping_problem(mapping: Mapping, down: Partitions, up: Partitions) -> str | None:
    """Why `mapping` cannot map `down` partitions onto `up` partitions, or None if it can."""
    if isinstance(mapping, AllPartitions):
        return None
    if mapping.start_offset > mapping.end_offset:
        return f"window start offset {mapping.start_offset} is after end {mapping.end_offset}"
    shifted = (mapping.start_offset, mapping.end_offset) != (0, 0)
    if shifted and up.unit == "none":
        return "a window with offsets needs a partitioned upstream"
    if shifted and down.unit == "none":
        return "an unpartitioned asset reads all upstream partitions; offsets do not apply"
    return None


@dataclass(frozen=True)
class MappedRange:
    """The contiguous upstream index range one downstream partition reads."""

    first: int
    last: int  # inclusive; first > last means the window was clipped away entirely
    clipped: bool  # the unclipped window reached outside the upstream's partitions

    @property
    def empty(self) -> bool:
        return self.first > self.last


def map_partition(
    mapping: Mapping, down: Partitions, down_index: int, up: Partitions, now: dt.datetime
) -> MappedRange:
    """Upstream partitions read by downstream partition `down_index`, clipped to existence."""
    up_first, up_last = up.first_index(), up.last_index(now)
    if up.unit == "none":
        return MappedRange(0, 0, False)
    if isinstance(mapping, AllPartitions) or down.unit == "none":
        return MappedRange(up_first, up_last, False)
    start, end = down.window(down_index)
    first = up.index_of_date(start) + mapping.start_offset
    last = up.index_of_date(end - dt.timedelta(days=1)) + mapping.end_offset
    clipped_first, clipped_last = max(first, up_first), min(last, up_last)
    return MappedRange(clipped_first, clipped_last, (clipped_first, clipped_last) != (first, last))


def upstream_span(
    mapping: Mapping, down: Partitions, lo: int, hi: int, up: Partitions, now: dt.datetime
) -> tuple[int, int]:
    """The upstream indexes read by downstream indexes lo..hi (mappings are monotone)."""
    first = map_partition(mapping, down, lo, up, now)
    last = map_partition(mapping, down, hi, up, now)
    return first.first, last.last


def downstream_span(
    mapping: Mapping, down: Partitions, up: Partitions, p: int, q: int, now: dt.datetime
) -> tuple[int, int]:
    """The downstream indexes that read any of upstream indexes p..q, within `down`'s range."""
    first, last = down.first_index(), down.last_index(now)
    if isinstance(mapping, AllPartitions) or down.unit == "none" or up.unit == "none":
        return first, last
    # Downstream i reads upstream [u(start(i)) + a, u(end(i) - 1) + b]: it overlaps p..q
    # exactly when i's window overlaps the upstream windows of p - b .. q - a.
    lo_date = up.window(p - mapping.end_offset)[0]
    hi_date = up.window(q - mapping.start_offset)[1]
    assert lo_date is not None and hi_date is not None
    lo = down.index_of_date(lo_date)
    hi = down.index_of_date(hi_date - dt.timedelta(days=1))
    return max(lo, first), min(hi, last)


def compact_ranges(keys: list[str], partitions: Partitions) -> str:
    """`2013-03-15..2013-03-21, 2013-04-02` for a list of keys of one partitioning."""
    return compact({partitions.index(k): k for k in keys})


def compact(keys: dict[int, str]) -> str:
    """Keys by their index, consecutive indexes joined into one `first..last` range."""
    spans = Intervals.points(keys).spans
    return ", ".join(keys[a] if a == b else f"{keys[a]}..{keys[b]}" for a, b in spans)
