"""Partition mappings applied: which upstream partitions a downstream partition reads.

A mapping is data (`mapping_kinds.py`: `window(a, b)`, `all_partitions()`, `dims()`,
`key_map()`). An `Edge` is one mapping between two partitionings; the graph keeps one per
dependency, so what an edge works out once (which dimension reads which) is worked out once
per command. One dimension onto one is window_mapping.py's; an edge with several dimensions,
or a mapping only they have, maps per dimension here:

Each upstream dimension reads from the downstream dimension it matches — the same name, else
the time dimension of each side, else a keyed dimension with the same keys — through the
mapping given for it (`dims(day=window(-6, 0))`; a bare `window()` applies to time, keyed
dimensions read key by key); an upstream dimension that matches none, or is mapped with
`all_partitions()`, is read whole. A 1-D partitioning is a multi partitioning of one
dimension.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assetflow.core import multi
from assetflow.core.intervals import Intervals
from assetflow.core.mapping_kinds import AllPartitions, KeyMap, Mapping, PerDimension, Window
from assetflow.core.multi import MultiPartitions
from assetflow.core.partitions import DynamicPartitions, Partitions, StaticPartitions
from assetflow.core.window_mapping import (
    MappedRange,
    downstream_span,
    map_one,
    upstream_span,
    window_problem,
)

DimMapping = Window | AllPartitions | KeyMap


def mapping_problem(mapping: Mapping, down: Partitions, up: Partitions) -> str | None:
    """Why `mapping` cannot map `down` partitions onto `up` partitions, or None if it can."""
    return Edge(mapping, down, up).problem()


@dataclass(frozen=True)
class Edge:
    """`down` reads `up` through `mapping`."""

    mapping: Mapping
    down: Partitions
    up: Partitions

    @functools.cached_property
    def per_dimension(self) -> bool:
        """Whether it maps per dimension (several dimensions, or a mapping only they have)."""
        return (
            isinstance(self.down, MultiPartitions)
            or isinstance(self.up, MultiPartitions)
            or isinstance(self.mapping, PerDimension | KeyMap)
        )

    def problem(self) -> str | None:
        if isinstance(self.mapping, AllPartitions):
            return None
        if isinstance(self.mapping, Window) and not self.per_dimension:
            return window_problem(self.mapping, self.down, self.up)
        return self._dimensions_problem()

    @functools.cached_property
    def matches(self) -> tuple[int | None, ...]:
        """For each upstream dimension, the downstream dimension it reads from: the same
        name, else time for time, else a keyed dimension with the same keys, or any keyed one
        when a key_map maps it (None: read whole)."""
        ddims, out = multi.dims_of(self.down), []
        for name, u in multi.dims_of(self.up):
            mapped = isinstance(self._dim_mapping(name, u), KeyMap)

            def fits(d: Partitions, u: Partitions = u, mapped: bool = mapped) -> bool:
                keyed = u.is_keyed and d.is_keyed and (mapped or u.identity == d.identity)
                return (u.is_time and d.is_time) or keyed

            named = [i for i, (n, d) in enumerate(ddims) if name and n == name and fits(d)]
            other = [i for i, (_, d) in enumerate(ddims) if fits(d)]
            out.append(next(iter(named or other), None))
        return tuple(out)

    @functools.cached_property
    def reads_key_set(self) -> bool:
        """Whether what a downstream partition reads follows a dynamic key set's members (a
        dynamic dimension read whole, by all_partitions() or a key_map): no code change."""
        return any(
            isinstance(u, DynamicPartitions)
            and (i is None or not isinstance(self._dim_mapping(n, u), Window))
            for i, (n, u) in zip(self.matches, multi.dims_of(self.up), strict=True)
        )

    @functools.cached_property
    def reads_own_period(self) -> bool:
        """Whether each downstream partition reads its own period of `up` (a time window
        spanning offset 0, one dimension each side): when none of that period exists upstream,
        the node has no input to be built from (the planner refuses, as for a source
        partition with no data), whereas a window only of other periods may be clipped away
        (the first day's "yesterday")."""
        m = self.mapping
        return (
            isinstance(m, Window)
            and not self.per_dimension
            and self.down.is_partitioned
            and self.up.is_time
            and m.start_offset <= 0 <= m.end_offset
        )

    @functools.cached_property
    def same_keys_in_time(self) -> tuple[Partitions, Partitions] | None:
        """Both sides by the same keyed dimensions and a time dimension, mapped by a window:
        each key combination reads its own along time. Their time dimensions, or None."""
        down, up = self.down, self.up
        if not isinstance(self.mapping, Window):
            return None
        if not (isinstance(down, MultiPartitions) and isinstance(up, MultiPartitions)):
            return None
        t = down.time_position
        if t is None or t != up.time_position or len(down.dims) != len(up.dims):
            return None
        same = all(
            dn == un and (d.is_time or d.identity == ud.identity)
            for (dn, d), (un, ud) in zip(down.dims, up.dims, strict=True)
        )
        return (down.dims[t][1], up.dims[t][1]) if same else None

    @functools.cached_property
    def reads_by_time_alone(self) -> bool:
        """Whether what a node reads depends on its time index alone: the downstream side has
        a time dimension and no upstream dimension is read key by key from it (each one reads
        time, or is read whole), so every key combination at one time reads the same."""
        down = self.down
        if not isinstance(down, MultiPartitions) or down.time_position is None:
            return False
        ddims = multi.dims_of(down)
        return all(
            i is None or ddims[i][1].is_time or isinstance(self._dim_mapping(n, u), AllPartitions)
            for i, (n, u) in zip(self.matches, multi.dims_of(self.up), strict=True)
        )

    def _dim_mapping(self, name: str, dim: Partitions) -> DimMapping:
        mapping = self.mapping
        if isinstance(mapping, PerDimension):
            return mapping.get(name) or Window()
        if isinstance(mapping, AllPartitions):
            return mapping
        if isinstance(mapping, KeyMap):
            return mapping if dim.is_keyed else Window()
        return mapping if dim.is_time else Window()  # keys read key by key

    # -- one node -------------------------------------------------------------------------
    def mapper(self, now: dt.datetime) -> Callable[[int], MappedRange]:
        """What each node reads: where each key combination reads its own along time, each
        time index is mapped once."""
        if not self.per_dimension:
            one = self.mapping
            assert isinstance(one, Window | AllPartitions)
            return lambda index: map_one(one, self.down, index, self.up, now)
        time = self.same_keys_in_time
        if time is None and self.reads_by_time_alone:
            by_time = dict[int, MappedRange]()

            def read(index: int) -> MappedRange:
                t = index % multi.TIME_SIZE
                if t not in by_time:
                    by_time[t] = self._map_dimensions(index, now)
                return by_time[t]

            return read
        if time is None:
            return lambda index: self._map_dimensions(index, now)
        assert isinstance(self.mapping, Window)
        mapping, along = self.mapping, dict[int, MappedRange]()

        def mapped(index: int) -> MappedRange:
            t = index % multi.TIME_SIZE
            if t not in along:
                along[t] = map_one(mapping, time[0], t, time[1], now)
            r, base = along[t], index - t
            if r.empty:
                return MappedRange(0, -1, r.clipped, Intervals())
            first, last = base + r.first, base + r.last
            return MappedRange(first, last, r.clipped, Intervals.span(first, last))

        return mapped

    def _map_dimensions(self, index: int, now: dt.datetime) -> MappedRange:
        down = self.down
        idx = multi.unpack(down, index) if isinstance(down, MultiPartitions) else (index,)
        t = next((i for i, (_, d) in enumerate(multi.dims_of(down)) if d.is_time), None)
        time = 0 if t is None else idx[t]
        spans, clipped = self._read_per_dimension(idx, time, time, now)
        if not spans:
            return MappedRange(0, -1, clipped, spans)
        return MappedRange(spans.spans[0][0], spans.spans[-1][1], clipped, spans)

    def _read_per_dimension(
        self, idx: tuple[int, ...], t_lo: int, t_hi: int, now: dt.datetime
    ) -> tuple[Intervals, bool]:
        """What one key combination (its indexes `idx`) reads over its time indexes
        t_lo..t_hi, and whether a window was clipped."""
        ddims, udims = multi.dims_of(self.down), multi.dims_of(self.up)
        per_dim, clipped = [], False
        for j, (name, u) in enumerate(udims):
            i, m = self.matches[j], self._dim_mapping(name, u)
            if i is None or isinstance(m, AllPartitions):
                per_dim.append(list(u.universe(now).spans))
            elif u.is_time:
                assert isinstance(m, Window)
                first = map_one(m, ddims[i][1], t_lo, u, now)
                last = first if t_hi == t_lo else map_one(m, ddims[i][1], t_hi, u, now)
                clipped |= first.clipped or last.clipped
                per_dim.append([(first.first, last.last)])
            else:
                per_dim.append(_keys_read(m, ddims[i][1], u, idx[i], now))
        return _product(self.up, per_dim), clipped

    # -- sets of nodes: the one upstream walk and the one downstream walk ---------------------
    def reads(self, spans: Intervals, now: dt.datetime) -> Intervals:
        """The upstream partitions that the downstream partitions `spans` read."""
        mapping, down, up = self.mapping, self.down, self.up
        if not self.per_dimension:
            assert isinstance(mapping, Window | AllPartitions)
            return Intervals.of(upstream_span(mapping, down, p, q, up, now) for p, q in spans.spans)
        if self.same_keys_in_time is not None:  # the common case, per key combination
            assert isinstance(mapping, Window)
            down_t, up_t = self.same_keys_in_time
            return _along_time(spans, lambda a, b: upstream_span(mapping, down_t, a, b, up_t, now))
        out: list[tuple[int, int]] = []
        for idx, t_lo, t_hi in multi.runs(down, spans):
            out.extend(self._read_per_dimension(idx, t_lo, t_hi, now)[0].spans)
        return Intervals.of(out)

    def readers(self, changed: Intervals, now: dt.datetime) -> Intervals:
        """The downstream partitions that read any of the upstream partitions `changed`."""
        mapping, down, up = self.mapping, self.down, self.up
        if not self.per_dimension:
            assert isinstance(mapping, Window | AllPartitions)
            found = [downstream_span(mapping, down, up, p, q, now) for p, q in changed.spans]
            return Intervals.of(found)
        if self.same_keys_in_time is not None:
            assert isinstance(mapping, Window)
            down_t, up_t = self.same_keys_in_time
            return _along_time(
                changed, lambda a, b: downstream_span(mapping, down_t, up_t, a, b, now)
            )
        ddims, udims = multi.dims_of(down), multi.dims_of(up)
        out: list[tuple[int, int]] = []
        for idx, t_lo, t_hi in multi.runs(up, changed):
            per_dim = []
            for i, (_, d) in enumerate(ddims):
                j = self.matches.index(i) if i in self.matches else None
                m = None if j is None else self._dim_mapping(udims[j][0], udims[j][1])
                if j is None or isinstance(m, AllPartitions):
                    per_dim.append(list(d.universe(now).spans))
                elif d.is_time:
                    assert isinstance(m, Window)
                    per_dim.append([downstream_span(m, d, udims[j][1], t_lo, t_hi, now)])
                else:
                    per_dim.append(_readers(m, d, udims[j][1], idx[j], now))
            out.extend(_product(down, per_dim).spans)
        return Intervals.of(out)

    # -- problems -----------------------------------------------------------------------------
    def _dimensions_problem(self) -> str | None:
        udims = multi.dims_of(self.up)
        names = [n for n, _ in udims]
        if isinstance(self.mapping, PerDimension):
            unknown = [n for n, _ in self.mapping.by_dim if n not in names]
            if unknown:
                return f"dims() names {', '.join(unknown)}, not a dimension of {self.up.describe()}"
        ddims = multi.dims_of(self.down)
        for j, (name, u) in enumerate(udims):
            m = self._dim_mapping(name, u)
            if isinstance(m, KeyMap):
                i = self.matches[j]
                problem = _key_map_problem(m, None if i is None else ddims[i][1], u)
                if problem:
                    return f"{problem} ({name or 'keys'})"
            if isinstance(m, Window) and (m.start_offset, m.end_offset) != (0, 0):
                if not u.is_time or self.matches[j] is None:
                    which = name or "time"
                    return f"window offsets need a time dimension on both sides ({which})"
                if m.start_offset > m.end_offset:
                    return f"window start offset {m.start_offset} is after end {m.end_offset}"
        return None


# -- keys read keys ---------------------------------------------------------------------------
def _key(dim: Partitions, index: int, now: dt.datetime) -> list[tuple[int, int]]:
    return [(index, index)] if index in dim.universe(now) else []


def _keys_read(
    m: object, down: Partitions, up: Partitions, index: int, now: dt.datetime
) -> list[tuple[int, int]]:
    """The upstream keys one downstream key reads: itself, or what a key_map names."""
    if not isinstance(m, KeyMap):
        return _key(up, index, now)
    return _named(up, m.up_keys(down.key(index)), now)


def _readers(
    m: object, down: Partitions, up: Partitions, index: int, now: dt.datetime
) -> list[tuple[int, int]]:
    """The downstream keys that read one upstream key."""
    if not isinstance(m, KeyMap):
        return _key(down, index, now)
    return _named(down, m.down_keys(up.key(index)), now)


def _named(dim: Partitions, keys: Sequence[str], now: dt.datetime) -> list[tuple[int, int]]:
    wanted = set(keys)
    return [(i, i) for i in dim.universe(now) if dim.key(i) in wanted]


def _key_map_problem(m: KeyMap, down: Partitions | None, up: Partitions) -> str | None:
    if down is None or not up.is_keyed:
        return "key_map() maps keys to keys: it needs a static or dynamic dimension on both sides"
    for dim, keys in ((down, [d for d, _ in m.pairs]), (up, [u for _, us in m.pairs for u in us])):
        unknown = [k for k in keys if isinstance(dim, StaticPartitions) and k not in dim.keys]
        if unknown:
            return f"key_map() names {', '.join(unknown)}, not keys of {dim.describe()}"
    return None


def _product(parts: Partitions, per_dim: list[list[tuple[int, int]]]) -> Intervals:
    if isinstance(parts, MultiPartitions):
        return multi.product(parts, per_dim)
    return Intervals.of(per_dim[0])


def _along_time(spans: Intervals, span_of: Callable[[int, int], tuple[int, int]]) -> Intervals:
    """Each run of `spans` within one key combination, mapped along time by `span_of` (time
    indexes in, time indexes out) and put back in its combination; each period once, however
    many combinations cover it."""
    mapped: dict[tuple[int, int], tuple[int, int]] = {}
    out = []
    for lo, t_lo, t_hi in multi.time_runs(spans):
        if (t_lo, t_hi) not in mapped:
            mapped[t_lo, t_hi] = span_of(t_lo, t_hi)
        a, b = mapped[t_lo, t_hi]
        out.append((lo - t_lo + a, lo - t_lo + b))
    return Intervals.of(out)
