"""Partition mappings as data, a class per kind: which upstream partitions one downstream
partition reads. `mappings.py` applies them.

- `window(a, b)` (`Window`): the upstream partitions overlapping the downstream window,
  widened by offsets; the default;
- `all_partitions()` (`AllPartitions`): every upstream partition;
- `dims(...)` (`PerDimension`): a mapping per upstream dimension;
- `key_map({...})` (`KeyMap`): keys read keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Window:
    """The upstream partitions overlapping the downstream window, widened by offsets.

    Offsets count the coarser side's periods: `window(-6, 0)` between daily assets is the
    trailing seven days, a daily asset's `window(-1, -1)` on hours is yesterday's hours.
    `window(0, 0)` is identity between equal partitionings, the roll-up of days into a
    month, and the fan-out of a month to its days.
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


@dataclass(frozen=True)
class PerDimension:
    """A mapping per upstream dimension: `dims(day=window(-6, 0), customer=all_partitions())`."""

    by_dim: tuple[tuple[str, Window | AllPartitions | KeyMap], ...] = field(default=())

    def get(self, name: str) -> Window | AllPartitions | KeyMap | None:
        return dict(self.by_dim).get(name)

    def describe(self) -> str:
        return "dims(" + ", ".join(f"{n}={m.describe()}" for n, m in self.by_dim) + ")"


@dataclass(frozen=True)
class KeyMap:
    """Keys read keys: `key_map({"eu": ["de", "fr"], "us": ["us"]})` — downstream key eu
    reads upstream keys de and fr. A downstream key the map does not name reads nothing."""

    pairs: tuple[tuple[str, tuple[str, ...]], ...]

    def up_keys(self, key: str) -> tuple[str, ...]:
        return dict(self.pairs).get(key, ())

    def down_keys(self, up_key: str) -> list[str]:
        return [down for down, ups in self.pairs if up_key in ups]

    def describe(self) -> str:
        return "key_map(" + ", ".join(f"{d}<-{'+'.join(u)}" for d, u in self.pairs) + ")"


Mapping = Window | AllPartitions | PerDimension | KeyMap


def dims(**mappings: Window | AllPartitions | KeyMap) -> PerDimension:
    """A mapping per upstream dimension of a multi partitioning, by name:
    `dims(day=window(-6, 0), customer=all_partitions())`. A dimension not named reads as
    `window()` would: time by overlap, keys key by key."""
    return PerDimension(tuple(sorted(mappings.items())))


def window(start_offset: int = 0, end_offset: int = 0) -> Window:
    """Map a downstream partition to upstream partitions shifted by offsets (see Window)."""
    return Window(int(start_offset), int(end_offset))


def all_partitions() -> AllPartitions:
    return AllPartitions()


def key_map(mapping: dict[str, list[str] | tuple[str, ...] | str]) -> KeyMap:
    """Map keys to keys between keyed partitionings (or dimensions) with different keys."""
    pairs = []
    for down, ups in mapping.items():
        pairs.append((str(down), (ups,) if isinstance(ups, str) else tuple(str(u) for u in ups)))
    return KeyMap(tuple(pairs))
