"""Partition mappings: which upstream partitions a downstream partition reads.

A mapping is data (`mapping_kinds.py`: `window(a, b)`, `all_partitions()`, `dims()`,
`key_map()`); `map_partition` applies it to one
downstream partition, on the UTC time line for time partitionings (so hours roll up into
local days, days into weeks, weeks into the months they overlap), key by key between equal
key sets. `upstream_span` and `downstream_span` are its interval forms, for set-wise status.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from assetflow.core import multi
from assetflow.core.intervals import Intervals
from assetflow.core.mapping_kinds import AllPartitions, Mapping, Window
from assetflow.core.multi import KeyMap, PerDimension
from assetflow.core.partitions import Partitions

_TICK = dt.timedelta(microseconds=1)
T = TypeVar("T")


def mapping_problem(mapping: Mapping, down: Partitions, up: Partitions) -> str | None:
    """Why `mapping` cannot map `down` partitions onto `up` partitions, or None if it can."""
    if isinstance(mapping, AllPartitions):
        return None
    if _engine(mapping, down, up) or not isinstance(mapping, Window):
        return _multi_problem(mapping, down, up)
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
    spans: Intervals | None = None  # several dimensions: exactly these, within first..last

    @property
    def empty(self) -> bool:
        return self.first > self.last


def map_partition(
    mapping: Mapping, down: Partitions, down_index: int, up: Partitions, now: dt.datetime
) -> MappedRange:
    """Upstream partitions read by downstream partition `down_index`, clipped to existence."""
    if _engine(mapping, down, up):
        return _multi_node(mapping, down, down_index, up, now)
    assert isinstance(mapping, Window | AllPartitions)
    up_first, up_last = up.first_index(), up.last_index(now)
    if up.unit == "none":
        return MappedRange(0, 0, False)
    if isinstance(mapping, AllPartitions) or down.unit == "none":
        return MappedRange(up_first, up_last, False)
    if up.is_keyed:  # the same keys (mapping_problem): key by key
        return MappedRange(down_index, down_index, False)
    if _same_calendar(down, up):  # the same windows: index arithmetic
        first, last = down_index + mapping.start_offset, down_index + mapping.end_offset
    else:  # the upstream windows overlapping the downstream one, on the UTC time line
        start, end = down.start_utc(down_index), down.start_utc(down_index + 1)
        first = up.index_at(start) + mapping.start_offset
        last = up.index_at(end - _TICK) + mapping.end_offset
    clipped_first, clipped_last = max(first, up_first), min(last, up_last)
    return MappedRange(clipped_first, clipped_last, (clipped_first, clipped_last) != (first, last))


def node_mapper(
    mapping: Mapping, down: Partitions, up: Partitions, now: dt.datetime
) -> Callable[[int], MappedRange]:
    """map_partition along one edge, for many nodes: the edge's kind is worked out once, and
    where each key combination reads its own along time, each time index is mapped once."""
    time = _same_keys_in_time(mapping, down, up) if _engine(mapping, down, up) else None
    if time is None:
        return lambda index: map_partition(mapping, down, index, up, now)
    along: dict[int, MappedRange] = {}

    def mapped(index: int) -> MappedRange:
        t = index % multi.TIME_SIZE
        if t not in along:
            along[t] = map_partition(mapping, time[0], t, time[1], now)
        r, base = along[t], index - t
        if r.empty:
            return MappedRange(0, -1, r.clipped, Intervals())
        first, last = base + r.first, base + r.last
        return MappedRange(first, last, r.clipped, Intervals.span(first, last))

    return mapped


def upstream_span(
    mapping: Mapping, down: Partitions, lo: int, hi: int, up: Partitions, now: dt.datetime
) -> tuple[int, int]:
    """The upstream indexes read by downstream indexes lo..hi (mappings are monotone)."""
    first = map_partition(mapping, down, lo, up, now)
    last = map_partition(mapping, down, hi, up, now)
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
    if isinstance(mapping, AllPartitions) or down.unit == "none" or up.unit == "none":
        return first, last
    if up.is_keyed:
        return max(p, first), min(q, last)
    if _same_calendar(down, up):
        return max(p - mapping.end_offset, first), min(q - mapping.start_offset, last)
    # Downstream i reads upstream [u(start(i)) + a, u(end(i) - 1) + b]: it overlaps p..q
    # exactly when i's window overlaps the upstream windows of p - b .. q - a.
    lo_instant = up.start_utc(p - mapping.end_offset)
    hi_instant = up.start_utc(q - mapping.start_offset + 1)
    lo = down.index_at(lo_instant)
    hi = down.index_at(hi_instant - _TICK)
    return max(lo, first), min(hi, last)


def _same_calendar(down: Partitions, up: Partitions) -> bool:
    """Two time partitionings with the same windows (unit, zone, first weekday)."""
    same = (down.unit, down.tz, down.week_start) == (up.unit, up.tz, up.week_start)
    return same and down.is_time


def upstream_reads(
    mapping: Mapping, down: Partitions, spans: Intervals, up: Partitions, now: dt.datetime
) -> Intervals:
    """The upstream partitions that the downstream partitions `spans` read."""
    if not _engine(mapping, down, up):
        return Intervals.of(upstream_span(mapping, down, p, q, up, now) for p, q in spans.spans)
    time = _same_keys_in_time(mapping, down, up)
    if time is not None:  # the common case, per key combination along time
        assert isinstance(mapping, Window)
        down_t, up_t = time
        return _along_time(
            down, spans, lambda a, b: upstream_span(mapping, down_t, a, b, up_t, now)
        )
    ddims, udims = multi.dims_of(down), multi.dims_of(up)
    match = _matches(mapping, down, up)
    out: list[tuple[int, int]] = []
    for idx, t_lo, t_hi in multi.runs(down, spans):
        per_dim = []
        for j, (name, u) in enumerate(udims):
            i, m = match[j], _dim_mapping(mapping, name, u)
            if i is None or isinstance(m, AllPartitions):
                per_dim.append(list(_universe(u, now).spans))
            elif u.is_time:
                assert isinstance(m, Window)
                per_dim.append([upstream_span(m, ddims[i][1], t_lo, t_hi, u, now)])
            else:
                per_dim.append(_keys_read(m, ddims[i][1], u, idx[i], now))
        out.extend(_product(up, per_dim).spans)
    return Intervals.of(out)


def downstream_readers(
    mapping: Mapping, down: Partitions, up: Partitions, changed: Intervals, now: dt.datetime
) -> Intervals:
    """The downstream partitions that read any of the upstream partitions `changed`."""
    if not isinstance(mapping, PerDimension | KeyMap) and not _engine(mapping, down, up):
        found = [downstream_span(mapping, down, up, p, q, now) for p, q in changed.spans]
        return Intervals.of(found)
    time = _same_keys_in_time(mapping, down, up)
    if time is not None:
        assert isinstance(mapping, Window)
        down_t, up_t = time
        return _along_time(
            up, changed, lambda a, b: downstream_span(mapping, down_t, up_t, a, b, now)
        )
    ddims, udims = multi.dims_of(down), multi.dims_of(up)
    match = _matches(mapping, down, up)
    out: list[tuple[int, int]] = []
    for idx, t_lo, t_hi in multi.runs(up, changed):
        per_dim = []
        for i, (_, d) in enumerate(ddims):
            j = match.index(i) if i in match else None
            m = None if j is None else _dim_mapping(mapping, udims[j][0], udims[j][1])
            if j is None or isinstance(m, AllPartitions):
                per_dim.append(list(_universe(d, now).spans))
            elif d.is_time:
                assert isinstance(m, Window)
                per_dim.append([downstream_span(m, d, udims[j][1], t_lo, t_hi, now)])
            else:
                per_dim.append(_readers(m, d, udims[j][1], idx[j], now))
        out.extend(_product(down, per_dim).spans)
    return Intervals.of(out)


# -- several dimensions -----------------------------------------------------------------------
def _engine(mapping: Mapping, down: Partitions, up: Partitions) -> bool:
    """Whether the per-dimension engine maps this edge (several dimensions, or a mapping
    only it knows)."""
    return "multi" in (down.unit, up.unit) or isinstance(mapping, PerDimension | KeyMap)


def _matches(mapping: Mapping, down: Partitions, up: Partitions) -> tuple[int | None, ...]:
    """For each upstream dimension, the downstream dimension it reads from (per edge)."""
    return _remembered(_MATCHED, (mapping, down, up), (), lambda: _match(mapping, down, up))


def _match(mapping: Mapping, down: Partitions, up: Partitions) -> tuple[int | None, ...]:
    """For each upstream dimension, the downstream dimension it reads from: the same name,
    else time for time, else a keyed dimension with the same keys, or any keyed one when a
    key_map maps it (None: read whole)."""
    ddims, out = multi.dims_of(down), []
    for name, u in multi.dims_of(up):
        mapped = isinstance(_dim_mapping(mapping, name, u), KeyMap)

        def fits(d: Partitions, u: Partitions = u, mapped: bool = mapped) -> bool:
            keyed = u.is_keyed and d.is_keyed and (mapped or u.identity == d.identity)
            return (u.is_time and d.is_time) or keyed

        named = [i for i, (n, d) in enumerate(ddims) if name and n == name and fits(d)]
        other = [i for i, (_, d) in enumerate(ddims) if fits(d)]
        out.append(next(iter(named or other), None))
    return tuple(out)


def reads_key_set(mapping: Mapping, down: Partitions, up: Partitions) -> bool:
    """Whether what a downstream partition reads of `up` follows a dynamic key set's members
    (a dynamic dimension read whole, by all_partitions() or a key_map): no code change needed."""
    return any(
        u.unit == "dynamic" and (i is None or not isinstance(_dim_mapping(mapping, n, u), Window))
        for i, (n, u) in zip(_matches(mapping, down, up), multi.dims_of(up), strict=True)
    )


def _dim_mapping(mapping: Mapping, name: str, dim: Partitions) -> Window | AllPartitions | KeyMap:
    if isinstance(mapping, PerDimension):
        found = mapping.get(name)
        return found if isinstance(found, Window | AllPartitions | KeyMap) else Window()
    if isinstance(mapping, AllPartitions):
        return mapping
    if isinstance(mapping, KeyMap):
        return mapping if dim.is_keyed else Window()
    return mapping if dim.is_time else Window()  # keys read key by key


def _key(dim: Partitions, index: int, now: dt.datetime) -> list[tuple[int, int]]:
    return [(index, index)] if index in _universe(dim, now) else []


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
    return [(i, i) for i in _universe(dim, now) if dim.key(i) in wanted]


def _universe(dim: Partitions, now: dt.datetime) -> Intervals:
    """A dimension's partitions now (asked once per node otherwise)."""
    return _remembered(_UNIVERSES, (dim,), (now,), lambda: dim.universe(now))


def _remembered(cache: dict, objects: tuple, extra: tuple, compute: Callable[[], T]) -> T:
    """compute(), remembered per identity of `objects` (the same objects come back for every
    node of a command) and the values `extra`; bounded, as a daemon makes new ones."""
    key = (*map(id, objects), *extra)
    hit = cache.get(key)
    if hit is None or not all(map(operator.is_, hit[0], objects)):
        if len(cache) > 65536:
            cache.clear()
        hit = cache[key] = (objects, compute())
    return hit[1]


_MATCHED: dict = {}
_UNIVERSES: dict = {}
_SAME_KEYS: dict = {}


def _product(parts: Partitions, per_dim: list[list[tuple[int, int]]]) -> Intervals:
    return multi.product(parts, per_dim) if parts.unit == "multi" else Intervals.of(per_dim[0])


def _same_keys_in_time(
    mapping: Mapping, down: Partitions, up: Partitions
) -> tuple[Partitions, Partitions] | None:
    """Both sides by the same keyed dimensions and a time dimension, mapped by a window:
    each key combination reads its own along time. Their time dimensions, or None."""
    found = lambda: _find_same_keys_in_time(mapping, down, up)  # noqa: E731
    return _remembered(_SAME_KEYS, (mapping, down, up), (), found)


def _find_same_keys_in_time(
    mapping: Mapping, down: Partitions, up: Partitions
) -> tuple[Partitions, Partitions] | None:
    if not (isinstance(mapping, Window) and down.unit == "multi" and up.unit == "multi"):
        return None
    t, u = multi.time_position(down), multi.time_position(up)
    if t is None or t != u or len(down.dims) != len(up.dims):
        return None
    same = all(
        dn == un and (d.is_time or d.identity == ud.identity)
        for (dn, d), (un, ud) in zip(down.dims, up.dims, strict=True)
    )
    return (down.dims[t][1], up.dims[t][1]) if same else None


def _along_time(
    parts: Partitions, spans: Intervals, span_of: Callable[[int, int], tuple[int, int]]
) -> Intervals:
    """Each run of `spans` within one key combination, mapped along time by `span_of` (time
    indexes in, time indexes out) and put back in its combination."""
    return Intervals.of(
        (lo - t_lo + a, lo - t_lo + b)
        for lo, t_lo, t_hi in multi.time_runs(parts, spans)
        for a, b in [span_of(t_lo, t_hi)]
    )


def _multi_node(
    mapping: Mapping, down: Partitions, index: int, up: Partitions, now: dt.datetime
) -> MappedRange:
    if _same_keys_in_time(mapping, down, up) is not None:
        return node_mapper(mapping, down, up, now)(index)
    ddims, udims = multi.dims_of(down), multi.dims_of(up)
    idx = multi.unpack(down, index) if down.unit == "multi" else (index,)
    match = _matches(mapping, down, up)
    per_dim, clipped = [], False
    for j, (name, u) in enumerate(udims):
        i, m = match[j], _dim_mapping(mapping, name, u)
        if i is None or isinstance(m, AllPartitions):
            per_dim.append(list(_universe(u, now).spans))
        elif u.is_time:
            r = map_partition(m, ddims[i][1], idx[i], u, now)
            clipped |= r.clipped
            per_dim.append([] if r.empty else [(r.first, r.last)])
        else:
            per_dim.append(_keys_read(m, ddims[i][1], u, idx[i], now))
    spans = _product(up, per_dim)
    if not spans:
        return MappedRange(0, -1, clipped, spans)
    return MappedRange(spans.spans[0][0], spans.spans[-1][1], clipped, spans)


def _multi_problem(mapping: Mapping, down: Partitions, up: Partitions) -> str | None:
    udims = multi.dims_of(up)
    names = [n for n, _ in udims]
    if isinstance(mapping, PerDimension):
        unknown = [n for n, _ in mapping.by_dim if n not in names]
        if unknown:
            return f"dims() names {', '.join(unknown)}, not a dimension of {up.describe()}"
    match = _matches(mapping, down, up)
    ddims = multi.dims_of(down)
    for j, (name, u) in enumerate(udims):
        m = _dim_mapping(mapping, name, u)
        if isinstance(m, KeyMap):
            i = match[j]
            problem = _key_map_problem(m, None if i is None else ddims[i][1], u)
            if problem:
                return f"{problem} ({name or 'keys'})"
        if isinstance(m, Window) and (m.start_offset, m.end_offset) != (0, 0):
            if not u.is_time or match[j] is None:
                which = name or "time"
                return f"window offsets need a time dimension on both sides ({which})"
            if m.start_offset > m.end_offset:
                return f"window start offset {m.start_offset} is after end {m.end_offset}"
    return None


def _key_map_problem(m: KeyMap, down: Partitions | None, up: Partitions) -> str | None:
    if down is None or not up.is_keyed:
        return "key_map() maps keys to keys: it needs a static or dynamic dimension on both sides"
    for dim, keys in ((down, [d for d, _ in m.pairs]), (up, [u for _, us in m.pairs for u in us])):
        unknown = [k for k in keys if dim.unit == "static" and k not in dim.static_keys]
        if unknown:
            return f"key_map() names {', '.join(unknown)}, not keys of {dim.describe()}"
    return None
