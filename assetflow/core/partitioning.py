"""What every partitioning answers, and the one without partitions.

A partitioning numbers its partitions with integers, so that ranges and offsets are
arithmetic and sets of partitions are `Intervals`. One class per kind implements this
protocol: `TimePartitions` (time_partitions.py), `StaticPartitions` and `DynamicPartitions`
(keyed_partitions.py), `MultiPartitions` (multi.py) and `Unpartitioned` (here). Build them
with the functions of partitions.py (`daily(...)`, `static(...)`, ...).
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass

from assetflow.core.intervals import Intervals
from assetflow.errors import PartitionKeyError

UNPARTITIONED = "__all__"
Bound = str | dt.date | None  # a declared start or end: a key, a date or a datetime
TimeWindow = tuple[dt.date, dt.date] | tuple[dt.datetime, dt.datetime] | tuple[None, None]
# A dynamic key set's keys as the warehouse holds them: (index, key, still there), by index.
# An index is given once, when its key is added, and never reused.
DynamicKeys = tuple[tuple[int, str, bool], ...]


class Partitions(ABC):
    """How an asset is partitioned: its keys, their indexes and (for time) their windows."""

    unit: str  # hour .. year, static, dynamic, multi or none: what the page and logs show
    is_time = False  # partitions are windows of time
    is_keyed = False  # partitions are named by a list of keys (static or dynamic)
    is_partitioned = True  # more than the one partition of a whole table

    @property
    def ordered_keys(self) -> bool:
        """Whether keys sort as their partitions do."""
        return True

    @property
    @abstractmethod
    def identity(self) -> str:
        """What about the partitioning changes an asset's output (its code version)."""

    @property
    def time_axis(self) -> Partitions | None:
        """The time partitioning its windows run along: itself, a multi partitioning's time
        dimension, or None (keys, or a whole table)."""
        return None

    # -- keys <-> indexes ---------------------------------------------------------------
    @abstractmethod
    def index(self, key: str) -> int:
        """The integer index of a key, validating it for this partitioning."""

    @abstractmethod
    def key(self, index: int) -> str: ...

    def keys_between(self, first: int, last: int) -> tuple[str, ...]:
        """The keys of the partitions first..last that exist."""
        return tuple(self.key(i) for i in range(first, last + 1))

    def keys_in(self, spans: Intervals) -> tuple[str, ...]:
        """The keys of the partitions in `spans` that exist."""
        return tuple(k for lo, hi in spans.spans for k in self.keys_between(lo, hi))

    def compact(self, spans: Intervals) -> str:
        """`2013-03-15..2013-03-21, 2013-04-02`: the partitions in `spans` as people read
        them, from the ends of each span (no key between them is made)."""
        return ", ".join(
            self.key(lo) if lo == hi else f"{self.key(lo)}..{self.key(hi)}"
            for lo, hi in spans.spans
        )

    def grid_cell(self, key: str) -> tuple[str, str]:
        """Where the page draws a partition: its row's label and its column's."""
        return "all", key

    @property
    def dimension_names(self) -> tuple[str, ...]:
        """The names of its dimensions; () with one dimension."""
        return ()

    def dimension_keys(self, key: str) -> dict[str, str]:
        """A key's part per dimension (`ctx.dims`); {} with one dimension."""
        return {}

    # -- time -----------------------------------------------------------------------------
    def index_at(self, instant: dt.datetime, zone: str | None = None) -> int:
        """The index of the window containing the naive UTC `instant` (a floating
        partitioning's windows read in `zone`, else UTC)."""
        return 0

    def start_utc(self, index: int, zone: str | None = None) -> dt.datetime:
        """When partition `index` starts (its end is the next one's start), naive UTC."""
        raise TypeError(f"{self.describe()} has no windows in time")

    def window(self, index: int) -> TimeWindow:
        """A partition's half-open window [start, end) as an asset sees it (`ctx.start`,
        `ctx.end`); (None, None) without time."""
        return None, None

    def sql_key(self, expr: str) -> str | None:
        """SQL giving the partition key of a date/timestamp expression (placing a batch's
        rows); None where keys cannot be computed in SQL."""
        return None

    # -- which partitions exist -----------------------------------------------------------
    @abstractmethod
    def first_index(self) -> int: ...

    @abstractmethod
    def last_index(self, now: dt.datetime) -> int:
        """The last partition that exists now."""

    def universe(self, now: dt.datetime) -> Intervals:
        """Every partition the asset has now, remembered for the last `now` asked (every
        node of a command asks again)."""
        seen = self.__dict__.get("_universe_at")
        if seen is None or seen[0] != now:
            seen = self.__dict__["_universe_at"] = (now, self._universe(now))
        return seen[1]

    def _universe(self, now: dt.datetime) -> Intervals:
        return Intervals.span(self.first_index(), self.last_index(now))

    def validate_key(self, key: str, now: dt.datetime) -> int:
        """The index of `key`, or a PartitionKeyError if it is not one of this asset's keys."""
        index = self.index(key)
        if index not in self.universe(now):
            raise PartitionKeyError(f"partition {key} is outside {self.describe(now)}")
        return index

    def indexes_between(self, lo: str | None, hi: str | None, now: dt.datetime) -> Intervals:
        """The partitions selected by keys lo..hi (inclusive, None = unbounded): what
        `--partition`, `--from` and `--to` select."""
        return self._between(lo, hi, now) & self.universe(now)

    @abstractmethod
    def _between(self, lo: str | None, hi: str | None, now: dt.datetime) -> Intervals: ...

    @abstractmethod
    def describe(self, now: dt.datetime | None = None) -> str: ...

    # -- dynamic key sets -------------------------------------------------------------------
    def key_sets(self) -> tuple[str, ...]:
        """The dynamic key sets this partitioning reads (itself, or its dimensions)."""
        return ()

    def bind(self, keysets: dict[str, DynamicKeys]) -> Partitions:
        """This partitioning with its dynamic key sets as the warehouse holds them."""
        return self


@dataclass(frozen=True)
class Unpartitioned(Partitions):
    """One partition, `UNPARTITIONED`: the whole table is rebuilt at once."""

    unit = "none"
    is_partitioned = False

    @property
    def identity(self) -> str:
        return "none"

    def index(self, key: str) -> int:
        if key != UNPARTITIONED:
            raise PartitionKeyError(f"unpartitioned asset has no partition {key!r}")
        return 0

    def key(self, index: int) -> str:
        return UNPARTITIONED

    def first_index(self) -> int:
        return 0

    def last_index(self, now: dt.datetime) -> int:
        return 0

    def _between(self, lo: str | None, hi: str | None, now: dt.datetime) -> Intervals:
        return Intervals.span(0, 0)

    def describe(self, now: dt.datetime | None = None) -> str:
        return "unpartitioned"
