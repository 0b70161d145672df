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
import functools
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

from assetflow.core.intervals import Intervals
from assetflow.core.keyed_partitions import StaticPartitions
from assetflow.core.partitioning import DynamicKeys, Partitions, TimeWindow
from assetflow.errors import PartitionKeyError

TIME_BITS = 24  # the time index of a combination: hours until the year 3880, days beyond
TIME_SIZE = 1 << TIME_BITS
DYNAMIC_CAPACITY = 1 << 16  # keys a dynamic dimension of a multi partitioning may hold
Dims = tuple[tuple[str, Partitions], ...]
Layout = tuple[tuple[int, ...], int | None, tuple[tuple[int, int], ...]]


@dataclass(frozen=True)
class MultiPartitions(Partitions):
    """One partition per combination of its dimensions' keys (name -> partitioning, in key
    order); at most one dimension is time, the others static or dynamic."""

    dims: Dims

    unit = "multi"

    @property
    def ordered_keys(self) -> bool:
        return False

    @functools.cached_property
    def identity(self) -> str:
        return "multi(" + ", ".join(f"{n}={d.identity}" for n, d in self.dims) + ")"

    @functools.cached_property
    def layout(self) -> Layout:
        """Strides in a packed index, which dimension is time, each one's (stride, size)."""
        return _layout(self.dims)

    @property
    def time_position(self) -> int | None:
        return self.layout[1]

    @property
    def time_axis(self) -> Partitions | None:
        t = self.time_position
        return None if t is None else self.dims[t][1]

    # -- keys <-> indexes ---------------------------------------------------------------
    def index(self, key: str) -> int:
        pieces = key.split("|")
        if len(pieces) != len(self.dims):
            example = "|".join(d.key(d.first_index()) if d.is_time else "KEY" for _, d in self.dims)
            raise PartitionKeyError(
                f"partition key {key!r} of {self.describe()} needs {len(self.dims)} parts"
                " joined by |",
                f"e.g. {example}",
            )
        return pack(self, tuple(d.index(k) for (_, d), k in zip(self.dims, pieces, strict=True)))

    def key(self, index: int) -> str:
        idx = unpack(self, index)
        return "|".join([d.key(i) for (_, d), i in zip(self.dims, idx, strict=True)])

    def keys_between(self, first: int, last: int) -> tuple[str, ...]:
        return self.keys_in(Intervals.span(first, last))

    def keys_in(self, spans: Intervals) -> tuple[str, ...]:
        out: list[str] = []
        t = self.time_position
        times: dict[tuple[int, int], tuple[str, ...]] = {}  # key combinations share periods
        for idx, t_lo, t_hi in combos(self, spans):
            keys = [d.key(i) for (_, d), i in zip(self.dims, idx, strict=True)]
            if t is None:
                out.append("|".join(keys))
                continue
            if (t_lo, t_hi) not in times:
                times[t_lo, t_hi] = self.dims[t][1].keys_between(t_lo, t_hi)
            before, after = "|".join([*keys[:t], ""]), "|".join(["", *keys[t + 1 :]])
            out.extend([f"{before}{k}{after}" for k in times[t_lo, t_hi]])
        return tuple(out)

    def compact(self, spans: Intervals) -> str:
        """A product where it is one: `2015-07-03..2015-08-02 × c0..c99` (the time range,
        then each other dimension's keys, in the dimensions' order); the key combinations
        listed where they are not (`2024-01-02 × {eu|acme, us|zeta}`)."""
        t = self.time_position
        if t is None:
            return super().compact(spans)
        groups: dict[tuple[int, int], list[tuple[int, ...]]] = {}
        for idx, t_lo, t_hi in combos(self, spans):
            groups.setdefault((t_lo, t_hi), []).append(idx[:t] + idx[t + 1 :])
        others = [d for n, (_, d) in enumerate(self.dims) if n != t]
        out = []
        for (t_lo, t_hi), rests in sorted(groups.items()):
            per_dim = [sorted({r[k] for r in rests}) for k in range(len(others))]
            if math.prod(len(found) for found in per_dim) == len(set(rests)):
                labels = [
                    d.compact(Intervals.points(found))
                    for d, found in zip(others, per_dim, strict=True)
                ]
            else:
                listed = ("|".join(d.key(i) for d, i in zip(others, r, strict=True)) for r in rests)
                labels = ["{" + ", ".join(listed) + "}"]
            labels.insert(min(t, len(labels)), self.dims[t][1].compact(Intervals.span(t_lo, t_hi)))
            out.append(" × ".join(labels))
        return ", ".join(out)

    @property
    def dimension_names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.dims)

    def dimension_keys(self, key: str) -> dict[str, str]:
        """A key's part per dimension: {"day": "2013-03-15", "customer": "acme"}."""
        return dict(zip(self.dimension_names, key.split("|"), strict=True))

    def grid_cell(self, key: str) -> tuple[str, str]:
        """A row per key combination, along its time; without time, a row per combination
        of all but the last dimension."""
        parts, t = key.split("|"), self.time_position
        if t is None:
            return "|".join(parts[:-1]), parts[-1]
        return "|".join(p for i, p in enumerate(parts) if i != t), parts[t]

    # -- time: its time dimension's --------------------------------------------------------
    def index_at(self, instant: dt.datetime, zone: str | None = None) -> int:
        time = self.time_axis
        return time.index_at(instant, zone) if time else 0

    def start_utc(self, index: int, zone: str | None = None) -> dt.datetime:
        time = self.time_axis
        if time is None:
            return super().start_utc(index, zone)
        return time.start_utc(index % TIME_SIZE, zone)

    def window(self, index: int) -> TimeWindow:
        t = self.time_position
        return (None, None) if t is None else self.dims[t][1].window(unpack(self, index)[t])

    def sql_key(self, expr: str) -> str | None:
        """Placed per key combination (its other parts are fixed): the time part."""
        time = self.time_axis
        return time.sql_key(expr) if time else None

    # -- which partitions exist -----------------------------------------------------------
    def first_index(self) -> int:
        spans = self._universe(dt.datetime.max).spans
        return spans[0][0] if spans else 0

    def last_index(self, now: dt.datetime) -> int:
        spans = self.universe(now).spans
        return spans[-1][1] if spans else -1

    def _universe(self, now: dt.datetime) -> Intervals:
        return product(self, [list(d.universe(now).spans) for _, d in self.dims])

    def _between(self, lo: str | None, hi: str | None, now: dt.datetime) -> Intervals:
        """A time key (any unit) bounds the time dimension; `KEY|KEY` gives a part per
        dimension, `*` for all of it."""
        n, t = len(self.dims), self.time_position

        def pieces(text: str | None) -> list[str | None]:
            if text is None:
                return [None] * n
            if "|" not in text:
                return [text if i == t else None for i in range(n)]
            found = text.split("|")
            if len(found) != n:
                self.index(text)  # the error message for a wrong number of parts
            return [None if p == "*" else p for p in found]

        lows, highs = pieces(lo), pieces(hi)
        per_dim = [
            list(dim.indexes_between(lows[i], highs[i], now).spans)
            for i, (_, dim) in enumerate(self.dims)
        ]
        return product(self, per_dim)

    def describe(self, now: dt.datetime | None = None) -> str:
        return " x ".join(f"{n} ({d.describe(now)})" for n, d in self.dims)

    # -- dynamic key sets -------------------------------------------------------------------
    def key_sets(self) -> tuple[str, ...]:
        return tuple(name for _, dim in self.dims for name in dim.key_sets())

    def bind(self, keysets: dict[str, DynamicKeys]) -> MultiPartitions:
        return MultiPartitions(tuple((name, dim.bind(keysets)) for name, dim in self.dims))


def dims_of(parts: Partitions) -> Dims:
    """A partitioning's dimensions; a 1-D one is its own single, unnamed dimension."""
    return parts.dims if isinstance(parts, MultiPartitions) else (("", parts),)


def check_dims(dims: Dims) -> None:
    if len(dims) < 2:
        raise PartitionKeyError("multi() needs at least two dimensions")
    if sum(d.is_time for _, d in dims) > 1:
        raise PartitionKeyError("multi() takes at most one time dimension")
    for name, dim in dims:
        if not dim.is_time and not dim.is_keyed:
            raise PartitionKeyError(
                f"dimension {name} must be a time, static or dynamic partitioning"
            )
    bits = (TIME_BITS if any(d.is_time for _, d in dims) else 0) + sum(
        _capacity(d).bit_length() for _, d in dims if not d.is_time
    )
    if bits > 62:
        raise PartitionKeyError("multi(): too many keyed dimensions to number every partition")


# -- layout: dimensions <-> packed indexes ----------------------------------------------------
def _capacity(dim: Partitions) -> int:
    """How many indexes a keyed dimension needs: its keys, or a dynamic set's room to grow."""
    return len(dim.keys) if isinstance(dim, StaticPartitions) else DYNAMIC_CAPACITY


def _layout(dims: Dims) -> Layout:
    """The strides, the time dimension's position, and each dimension's (stride, size)."""
    out = [0] * len(dims)
    t = next((i for i, (_, d) in enumerate(dims) if d.is_time), None)
    step = TIME_SIZE if t is not None else 1
    if t is not None:
        out[t] = 1
    for i in reversed([i for i in range(len(dims)) if i != t]):
        out[i] = step
        step *= _capacity(dims[i][1])
    sizes = [TIME_SIZE if d.is_time else _capacity(d) for _, d in dims]
    return tuple(out), t, tuple(zip(out, sizes, strict=True))


def pack(parts: MultiPartitions, indexes: tuple[int, ...]) -> int:
    return sum(i * s for i, s in zip(indexes, parts.layout[0], strict=True))


def unpack(parts: MultiPartitions, index: int) -> tuple[int, ...]:
    return tuple([index // stride % size for stride, size in parts.layout[2]])


# -- sets of partitions -----------------------------------------------------------------------
def product(parts: MultiPartitions, per_dim: list[list[tuple[int, int]]]) -> Intervals:
    """The packed partitions whose index in each dimension lies in that dimension's spans."""
    t = parts.time_position
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


def combos(parts: MultiPartitions, spans: Intervals) -> Iterator[tuple[tuple[int, ...], int, int]]:
    """The runs of `spans` within one key combination: (indexes per dimension at the run's
    start, first time index, last time index)."""
    t = parts.time_position
    for lo, hi in spans.spans:
        start = lo
        while start <= hi:
            end = start if t is None else min(hi, start - start % TIME_SIZE + TIME_SIZE - 1)
            idx = unpack(parts, start)
            t_lo = idx[t] if t is not None else 0
            yield idx, t_lo, t_lo + end - start
            start = end + 1


def runs(parts: Partitions, spans: Intervals) -> Iterator[tuple[tuple[int, ...], int, int]]:
    """The runs of `spans` within one key combination, as combos gives them; a 1-D
    partitioning's spans are runs of its one dimension."""
    if isinstance(parts, MultiPartitions):
        yield from combos(parts, spans)
        return
    for lo, hi in spans.spans:
        if parts.is_time:
            yield (lo,), lo, hi
        else:
            for i in range(lo, hi + 1):
                yield (i,), 0, 0


def time_runs(spans: Intervals) -> Iterator[tuple[int, int, int]]:
    """The runs of packed `spans` within one key combination: (first index, first time
    index, last time index)."""
    for lo, hi in spans.spans:
        start = lo
        while start <= hi:
            end = min(hi, start - start % TIME_SIZE + TIME_SIZE - 1)
            t_lo = start % TIME_SIZE
            yield start, t_lo, t_lo + end - start
            start = end + 1
