"""Partitions named by a list of keys: a fixed list (`static`) or a key set the warehouse
holds and a run may change (`dynamic`).

A key's index is its position in the list, or for a dynamic set the number it was given when
added (never reused, so a removed key's lineage stays). Keys have no order in time: a range
of listed keys selects by position, and a time key leaves them whole.
"""

from __future__ import annotations

import datetime as dt
import functools
from abc import abstractmethod
from dataclasses import dataclass, field

from assetflow.core import calendar
from assetflow.core.intervals import Intervals
from assetflow.core.partitioning import DynamicKeys, Partitions
from assetflow.errors import PartitionKeyError


class KeyedPartitions(Partitions):
    """What static and dynamic partitionings share: keys looked up in a list."""

    is_keyed = True

    @property
    def ordered_keys(self) -> bool:
        return False

    @property
    @abstractmethod
    def _pairs(self) -> list[tuple[int, str]]:
        """(index, key) of every key ever listed (a dynamic set's removed keys too)."""

    @functools.cached_property
    def _listed(self) -> tuple[dict[str, int], dict[int, str]]:
        return {k: i for i, k in self._pairs}, dict(self._pairs)

    @abstractmethod
    def _unknown(self, key: str) -> PartitionKeyError: ...

    def index(self, key: str) -> int:
        if key not in self._listed[0]:
            raise self._unknown(key)
        return self._listed[0][key]

    def key(self, index: int) -> str:
        return self._listed[1][index]

    def _between(self, lo: str | None, hi: str | None, now: dt.datetime) -> Intervals:
        """Listed keys select by position; a time key leaves the list whole."""
        first, last = self.first_index(), self.last_index(now)
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


@dataclass(frozen=True)
class StaticPartitions(KeyedPartitions):
    """One partition per key of a fixed, ordered list."""

    keys: tuple[str, ...]

    unit = "static"

    @property
    def identity(self) -> str:
        return f"static{self.keys}"

    @property
    def _pairs(self) -> list[tuple[int, str]]:
        return list(enumerate(self.keys))

    def _unknown(self, key: str) -> PartitionKeyError:
        return PartitionKeyError(f"unknown partition key {key!r}", f"keys: {', '.join(self.keys)}")

    def first_index(self) -> int:
        return 0

    def last_index(self, now: dt.datetime) -> int:
        return len(self.keys) - 1

    def describe(self, now: dt.datetime | None = None) -> str:
        return f"static {', '.join(self.keys)}"


@dataclass(frozen=True)
class DynamicPartitions(KeyedPartitions):
    """One partition per key of the key set `name`, with its keys as the warehouse holds
    them (`members`, bound per command: `bind`)."""

    name: str
    members: DynamicKeys = field(default=(), compare=False, repr=False)

    unit = "dynamic"

    @property
    def identity(self) -> str:
        return f"dynamic:{self.name}"

    @property
    def _pairs(self) -> list[tuple[int, str]]:
        return [(i, k) for i, k, _ in self.members]

    def _unknown(self, key: str) -> PartitionKeyError:
        return PartitionKeyError(
            f"unknown partition key {key!r} of dynamic partitions {self.name}",
            f"add it: assetflow partitions add {self.name} {key}",
        )

    def _present(self) -> list[int]:
        return [i for i, _, on in self.members if on]

    def keys_between(self, first: int, last: int) -> tuple[str, ...]:
        """Only the keys still in the set."""
        return tuple(k for i, k, on in self.members if on and first <= i <= last)

    def first_index(self) -> int:
        return min(self._present(), default=0)

    def last_index(self, now: dt.datetime) -> int:
        return max(self._present(), default=-1)  # none yet: an empty range

    def _universe(self, now: dt.datetime) -> Intervals:
        return Intervals.points(self._present())

    def describe(self, now: dt.datetime | None = None) -> str:
        n = len(self._present())
        return f"dynamic {self.name} ({n} key{'' if n == 1 else 's'})"

    def key_sets(self) -> tuple[str, ...]:
        return (self.name,)

    def bind(self, keysets: dict[str, DynamicKeys]) -> DynamicPartitions:
        return DynamicPartitions(self.name, tuple(sorted(keysets.get(self.name, ()))))
