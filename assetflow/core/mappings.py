"""Partition mappings: which upstream partitions a downstream partition reads.

A mapping is data (`window(a, b)`, `all_partitions()`); `map_partition` applies it to one
downstream partition, on the UTC time line for time partitionings (so hours roll up into
local days, days into weeks, weeks into the months they overlap), key by key between equal
key sets. `upstream_span` and `downstream_span` are its interval forms, for set-wise status.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from assetflow.core.partitions import Partitions

_TICK = dt.timedelta(microseconds=1)


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
    if "none" in (down.unit, up.unit):
        return None
    if down.is_keyed or up.is_keyed:
        if down.identity != up.identity:
            return (
                f"{down.describe()} cannot read {up.describe()} key by key;"
                " map it with all_partitions()"
            )
        if shifted:
            return "static keys have no order to shift by; use window() or all_partitions()"
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
    if up.is_keyed:  # the same keys (mapping_problem): key by key
        return MappedRange(down_index, down_index, False)
    # The upstream windows overlapping the downstream one, on the UTC time line.
    start, end = down.start_utc(down_index), down.start_utc(down_index + 1)
    first = up.index_at(start) + mapping.start_offset
    last = up.index_at(end - _TICK) + mapping.end_offset
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
    if up.is_keyed:
        return max(p, first), min(q, last)
    # Downstream i reads upstream [u(start(i)) + a, u(end(i) - 1) + b]: it overlaps p..q
    # exactly when i's window overlaps the upstream windows of p - b .. q - a.
    lo_instant = up.start_utc(p - mapping.end_offset)
    hi_instant = up.start_utc(q - mapping.start_offset + 1)
    lo = down.index_at(lo_instant)
    hi = down.index_at(hi_instant - _TICK)
    return max(lo, first), min(hi, last)
