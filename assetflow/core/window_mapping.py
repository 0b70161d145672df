"""One dimension onto one dimension: which upstream partitions one downstream partition
reads, and back. The primitives mappings.py builds every edge from.

Between time partitionings a `window(a, b)` maps on the UTC time line (hours roll up into
local days, days into weeks, weeks into the months they overlap). Its offsets count the
periods of the coarser side, the period a person means by "the previous one": a daily asset's
`window(-1, -1)` on hours reads yesterday's hours (23, 24 or 25 of them in a zone), a monthly
asset's on days last month's days, and an hourly asset's on days the day before its own.
Between equal partitionings both sides count the same. Keys read the same keys; an
unpartitioned side reads, or is read by, everything.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from assetflow.core import calendar
from assetflow.core.intervals import Intervals
from assetflow.core.mapping_kinds import AllPartitions, Window
from assetflow.core.partitions import Partitions, TimePartitions

_TICK = dt.timedelta(microseconds=1)
_LENGTH = {"hour": 60, "day": 1440, "week": 1441, "month": 1442, "quarter": 1443, "year": 1444}


def _length(unit: str) -> int:
    """Orders units, coarser later: hours and N minutes by their minutes, then the calendar."""
    return _LENGTH.get(unit) or calendar.minutes(unit) or 0


@dataclass(frozen=True)
class MappedRange:
    """The contiguous upstream index range one downstream partition reads."""

    first: int
    last: int  # inclusive; first > last means the window was clipped away entirely
    clipped: bool  # the unclipped window reached outside the upstream's partitions
    spans: Intervals | None = None  # several dimensions: exactly these, within first..last

    @property
    def empty(self) -> bool:
        return self.first > self.last


def window_problem(mapping: Window, down: Partitions, up: Partitions) -> str | None:
    """Why a window cannot map `down` onto `up` (both one-dimensional), or None."""
    if mapping.start_offset > mapping.end_offset:
        return f"window start offset {mapping.start_offset} is after end {mapping.end_offset}"
    shifted = (mapping.start_offset, mapping.end_offset) != (0, 0)
    if shifted and not up.is_partitioned:
        return "a window with offsets needs a partitioned upstream"
    if shifted and not down.is_partitioned:
        return "an unpartitioned asset reads all upstream partitions; offsets do not apply"
    if not (down.is_partitioned and up.is_partitioned):
        return None
    if down.is_keyed or up.is_keyed:
        if down.identity != up.identity:
            how = (
                "map keys to keys with key_map({...}), or read it whole with all_partitions()"
                if down.is_keyed and up.is_keyed
                else "read it whole with all_partitions()"
            )
            return f"{down.describe()} cannot read {up.describe()} key by key; {how}"
        if shifted:
            return "static keys have no order to shift by; use window() or all_partitions()"
    return None


def map_one(
    mapping: Window | AllPartitions, down: Partitions, index: int, up: Partitions, now: dt.datetime
) -> MappedRange:
    """Upstream partitions read by downstream partition `index`, clipped to existence."""
    up_first, up_last = up.first_index(), up.last_index(now)
    if not up.is_partitioned:
        return MappedRange(0, 0, False)
    if isinstance(mapping, AllPartitions) or not down.is_partitioned:
        return MappedRange(up_first, up_last, False)
    if up.is_keyed:  # the same keys (window_problem): key by key
        return MappedRange(index, index, False)
    if same_calendar(down, up):  # the same windows: index arithmetic
        first, last = index + mapping.start_offset, index + mapping.end_offset
    elif shifts_reader(down, up):  # the upstream windows overlapping the shifted reader's
        start = down.start_utc(index + mapping.start_offset)
        end = down.start_utc(index + mapping.end_offset + 1)
        first, last = up.index_at(start), up.index_at(end - _TICK)
    else:  # the upstream windows overlapping the reader's, shifted
        start, end = down.start_utc(index), down.start_utc(index + 1)
        first = up.index_at(start) + mapping.start_offset
        last = up.index_at(end - _TICK) + mapping.end_offset
    clipped_first, clipped_last = max(first, up_first), min(last, up_last)
    return MappedRange(clipped_first, clipped_last, (clipped_first, clipped_last) != (first, last))


def upstream_span(
    mapping: Window | AllPartitions,
    down: Partitions,
    lo: int,
    hi: int,
    up: Partitions,
    now: dt.datetime,
) -> tuple[int, int]:
    """The upstream indexes read by downstream indexes lo..hi (mappings are monotone)."""
    first = map_one(mapping, down, lo, up, now)
    last = map_one(mapping, down, hi, up, now)
    return first.first, last.last


def downstream_span(
    mapping: Window | AllPartitions,
    down: Partitions,
    up: Partitions,
    p: int,
    q: int,
    now: dt.datetime,
) -> tuple[int, int]:
    """The downstream indexes that read any of upstream indexes p..q, within `down`'s range."""
    first, last = down.first_index(), down.last_index(now)
    if isinstance(mapping, AllPartitions) or not (down.is_partitioned and up.is_partitioned):
        return first, last
    if up.is_keyed:
        return max(p, first), min(q, last)
    if same_calendar(down, up):
        return max(p - mapping.end_offset, first), min(q - mapping.start_offset, last)
    a, b = mapping.start_offset, mapping.end_offset
    if shifts_reader(down, up):
        # Downstream i reads the upstream windows overlapping its windows i + a .. i + b: it
        # reads some of p..q exactly when one of those is a window j overlapping p..q.
        j_lo = down.index_at(up.start_utc(p))
        j_hi = down.index_at(up.start_utc(q + 1) - _TICK)
        return max(j_lo - b, first), min(j_hi - a, last)
    # Downstream i reads upstream [u(start(i)) + a, u(end(i) - 1) + b]: it overlaps p..q
    # exactly when i's window overlaps the upstream windows of p - b .. q - a.
    lo = down.index_at(up.start_utc(p - b))
    hi = down.index_at(up.start_utc(q - a + 1) - _TICK)
    return max(lo, first), min(hi, last)


def shifts_reader(down: Partitions, up: Partitions) -> bool:
    """Whether offsets count the reader's periods (it is as coarse as its upstream, or
    coarser) rather than the upstream's (it is finer)."""
    return _length(down.unit) >= _length(up.unit)


def same_calendar(down: Partitions, up: Partitions) -> bool:
    """Two time partitionings with the same windows (unit, zone, first weekday)."""
    return (
        isinstance(down, TimePartitions)
        and isinstance(up, TimePartitions)
        and down.calendar == up.calendar
    )
