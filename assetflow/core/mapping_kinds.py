"""Partition mappings as data, a class per kind: which upstream partitions one downstream
partition reads. `mappings.py` applies them.

- `window(a, b)` (`Window`): the upstream partitions overlapping the downstream window,
  widened by offsets; the default;
- `all_partitions()` (`AllPartitions`): every upstream partition;
- `dims(...)` (`multi.PerDimension`): a mapping per upstream dimension;
- `key_map({...})` (`multi.KeyMap`): keys read keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from assetflow.core.multi import KeyMap, PerDimension


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


Mapping = Window | AllPartitions | PerDimension | KeyMap


def dims(**mappings: Window | AllPartitions) -> PerDimension:
    """A mapping per upstream dimension of a multi partitioning, by name:
    `dims(day=window(-6, 0), customer=all_partitions())`. A dimension not named reads as
    `window()` would: time by overlap, keys key by key."""
    return PerDimension(tuple(sorted(mappings.items())))


def window(start_offset: int = 0, end_offset: int = 0) -> Window:
    """Map a downstream partition to upstream partitions shifted by offsets (see Window)."""
    return Window(int(start_offset), int(end_offset))


def all_partitions() -> AllPartitions:
    return AllPartitions()
