"""Partitions by several dimensions at once: day x customer x region.

A multi partitioning's index packs one index per dimension: the keyed dimensions (static,
dynamic) outer, in declaration order, the one time dimension innermost, so the partitions of
one key combination over time are one contiguous run of indexes — what status, plans and
batches work with. A key joins the dimensions' keys with `|` in declaration order:
`2013-03-15|acme`.

Mappings work per dimension. Each upstream dimension reads from the downstream dimension it
matches — the same name, else the time dimension of each side, else a keyed dimension with
the same keys — through the mapping given for it (`dims(day=window(-6, 0))`; a bare
`window()` applies to time, keyed dimensions read key by key); an upstream dimension that
matches none, or is mapped with `all_partitions()`, is read whole. A 1-D partitioning is a
multi partitioning of one dimension.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from assetflow.core.intervals import Intervals
from assetflow.errors import PartitionKeyError

# A partitioning (core.partitions.Partitions, which builds on this module: not imported here).
Partitions = Any

TIME_BITS = 24  # the time index of a combination: hours until the year 3880, days beyond
TIME_SIZE = 1 << TIME_BITS
DYNAMIC_CAPACITY = 1 << 16  # keys a dynamic dimension of a multi partitioning may hold


@dataclass(frozen=True)
class PerDimension:
    """A mapping per upstream dimension: `dims(day=window(-6, 0), customer=all_partitions())`."""

    by_dim: tuple[tuple[str, object], ...] = field(default=())

    def get(self, name: str) -> object | None:
        return dict(self.by_dim).get(name)

    def describe(self) -> str:
        inner = ", ".join(f"{n}={m.describe()}" for n, m in self.by_dim)  # type: ignore[attr-defined]
        return f"dims({inner})"


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


def key_map(mapping: dict[str, list[str] | tuple[str, ...] | str]) -> KeyMap:
    """Map keys to keys between keyed partitionings (or dimensions) with different keys."""
    pairs = []
    for down, ups in mapping.items():
        pairs.append((str(down), (ups,) if isinstance(ups, str) else tuple(str(u) for u in ups)))
    return KeyMap(tuple(pairs))


# -- layout: dimensions <-> packed indexes ----------------------------------------------------
def dims_of(parts: Partitions) -> tuple[tuple[str, Partitions], ...]:
    """A partitioning's dimensions; a 1-D one is its own single, unnamed dimension."""
    return parts.dims if parts.unit == "multi" else (("", parts),)


def capacity(dim: Partitions) -> int:
    if dim.unit == "static":
        return len(dim.static_keys)
    return DYNAMIC_CAPACITY


def time_position(parts: Partitions) -> int | None:
    return parts.layout[1]


def strides(parts: Partitions) -> tuple[int, ...]:
    """Per dimension (declaration order), what one step of its index adds to the packed one."""
    return parts.layout[0]


def layout(parts: Partitions) -> tuple[tuple[int, ...], int | None, tuple[tuple[int, int], ...]]:
    """The strides, the time dimension's position, and each dimension's (stride, size) (a
    Partitions caches them: `layout`)."""
    out = [0] * len(parts.dims)
    t = next((i for i, (_, d) in enumerate(parts.dims) if d.is_time), None)
    step = TIME_SIZE if t is not None else 1
    if t is not None:
        out[t] = 1
    for i in reversed([i for i in range(len(parts.dims)) if i != t]):
        out[i] = step
        step *= capacity(parts.dims[i][1])
    sizes = [TIME_SIZE if d.is_time else capacity(d) for _, d in parts.dims]
    return tuple(out), t, tuple(zip(out, sizes, strict=True))


def pack(parts: Partitions, indexes: tuple[int, ...]) -> int:
    return sum(i * s for i, s in zip(indexes, strides(parts), strict=True))


def unpack(parts: Partitions, index: int) -> tuple[int, ...]:
    return tuple([index // stride % size for stride, size in parts.layout[2]])


def check_dims(dims: tuple[tuple[str, Partitions], ...]) -> None:
    if len(dims) < 2:
        raise PartitionKeyError("multi() needs at least two dimensions")
    if sum(d.is_time for _, d in dims) > 1:
        raise PartitionKeyError("multi() takes at most one time dimension")
    for name, dim in dims:
        if dim.unit in ("none", "multi"):
            raise PartitionKeyError(
                f"dimension {name} must be a time, static or dynamic partitioning"
            )
    bits = (TIME_BITS if any(d.is_time for _, d in dims) else 0) + sum(
        capacity(d).bit_length() for _, d in dims if not d.is_time
    )
    if bits > 62:
        raise PartitionKeyError("multi(): too many keyed dimensions to number every partition")


# -- keys -------------------------------------------------------------------------------------
def index(parts: Partitions, key: str) -> int:
    pieces = key.split("|")
    if len(pieces) != len(parts.dims):
        example = "|".join(d.key(d.first_index()) if d.is_time else "KEY" for _, d in parts.dims)
        raise PartitionKeyError(
            f"partition key {key!r} of {describe(parts)} needs {len(parts.dims)} parts joined by |",
            f"e.g. {example}",
        )
    return pack(parts, tuple(d.index(k) for (_, d), k in zip(parts.dims, pieces, strict=True)))


def key(parts: Partitions, packed: int) -> str:
    idx = unpack(parts, packed)
    return "|".join([d.key(i) for (_, d), i in zip(parts.dims, idx, strict=True)])


def dimension_keys(parts: Partitions, key_text: str) -> dict[str, str]:
    """A key's part per dimension: {"day": "2013-03-15", "customer": "acme"}."""
    return dict(zip([n for n, _ in parts.dims], key_text.split("|"), strict=True))


def describe(parts: Partitions, now: dt.datetime | None = None) -> str:
    return " x ".join(f"{n} ({d.describe(now)})" for n, d in parts.dims)


# -- sets of partitions -----------------------------------------------------------------------
def universe(parts: Partitions, now: dt.datetime) -> Intervals:
    return product(parts, [list(d.universe(now).spans) for _, d in parts.dims])


def product(parts: Partitions, per_dim: list[list[tuple[int, int]]]) -> Intervals:
    """The packed partitions whose index in each dimension lies in that dimension's spans."""
    t = time_position(parts)
    keyed = [
        [i for lo, hi in spans for i in range(lo, hi + 1)] if n != t else [0]
        for n, spans in enumerate(per_dim)
    ]
    out = []
    for combo in itertools.product(*keyed):
        base = pack(parts, tuple(combo))
        if t is None:
            out.append((base, base))
        else:
            out.extend((base + lo, base + hi) for lo, hi in per_dim[t])
    return Intervals.of(out)


def combos(parts: Partitions, spans: Intervals) -> Iterator[tuple[tuple[int, ...], int, int]]:
    """The runs of `spans` within one key combination: (indexes per dimension at the run's
    start, first time index, last time index)."""
    t = time_position(parts)
    for lo, hi in spans.spans:
        start = lo
        while start <= hi:
            end = start if t is None else min(hi, start - start % TIME_SIZE + TIME_SIZE - 1)
            idx = unpack(parts, start)
            t_lo = idx[t] if t is not None else 0
            yield idx, t_lo, t_lo + end - start
            start = end + 1


def runs(parts: Partitions, spans: Intervals):  # noqa: ANN202 - (indexes, first t, last t)
    """The runs of `spans` within one key combination, as combos gives them; a 1-D
    partitioning's spans are runs of its one dimension."""
    if parts.unit == "multi":
        yield from combos(parts, spans)
        return
    for lo, hi in spans.spans:
        if parts.is_time:
            yield (lo,), lo, hi
        else:
            for i in range(lo, hi + 1):
                yield (i,), 0, 0


def time_runs(parts: Partitions, spans: Intervals):  # noqa: ANN202 - (first index, first t, last t)
    """The runs of packed `spans` within one key combination: (first index, first time
    index, last time index)."""
    for lo, hi in spans.spans:
        start = lo
        while start <= hi:
            end = min(hi, start - start % TIME_SIZE + TIME_SIZE - 1)
            t_lo = start % TIME_SIZE
            yield start, t_lo, t_lo + end - start
            start = end + 1


def keys_in(parts: Partitions, spans: Intervals) -> tuple[str, ...]:
    out: list[str] = []
    t = time_position(parts)
    for idx, t_lo, t_hi in combos(parts, spans):
        keys = [d.key(i) for (_, d), i in zip(parts.dims, idx, strict=True)]
        if t is None:
            out.append("|".join(keys))
            continue
        before, after = "|".join([*keys[:t], ""]), "|".join(["", *keys[t + 1 :]])
        out.extend(f"{before}{k}{after}" for k in parts.dims[t][1].keys_between(t_lo, t_hi))
    return tuple(out)


def selection(parts: Partitions, lo: str | None, hi: str | None, now: dt.datetime) -> Intervals:
    """`--from`/`--to`/`--partition` on a multi partitioning: a time key (any unit) bounds the
    time dimension; `KEY|KEY` gives a part per dimension, `*` for all of it."""
    n = len(parts.dims)
    t = time_position(parts)

    def pieces(text: str | None) -> list[str | None]:
        if text is None:
            return [None] * n
        if "|" not in text:
            return [text if i == t else None for i in range(n)]
        found = text.split("|")
        if len(found) != n:
            index(parts, text)  # the error message for a wrong number of parts
        return [None if p == "*" else p for p in found]

    lows, highs = pieces(lo), pieces(hi)
    per_dim = []
    for i, (_, dim) in enumerate(parts.dims):
        chosen = dim.indexes_between(lows[i], highs[i], now) & dim.universe(now)
        per_dim.append(list(chosen.spans))
    return product(parts, per_dim)
