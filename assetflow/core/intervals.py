"""Sets of partition indexes as sorted, disjoint, inclusive intervals. Pure functions.

Status and planning work on these rather than on one Python object per node, so that a
change to one source partition costs the same whether an asset has ten partitions or ten
thousand.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Intervals:
    spans: tuple[tuple[int, int], ...] = ()

    @staticmethod
    def of(spans: Iterable[tuple[int, int]]) -> Intervals:
        """Normalise any spans (overlapping, adjacent, unordered, empty) into a set."""
        merged: list[tuple[int, int]] = []
        for lo, hi in sorted(s for s in spans if s[0] <= s[1]):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        return Intervals(tuple(merged))

    @staticmethod
    def span(lo: int, hi: int) -> Intervals:
        return Intervals(((lo, hi),) if lo <= hi else ())

    @staticmethod
    def points(indexes: Iterable[int]) -> Intervals:
        return Intervals.of((i, i) for i in indexes)

    def __bool__(self) -> bool:
        return bool(self.spans)

    def __len__(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.spans)

    def __iter__(self) -> Iterator[int]:
        for lo, hi in self.spans:
            yield from range(lo, hi + 1)

    def __contains__(self, index: object) -> bool:
        if not isinstance(index, int):
            return False
        at = bisect.bisect_right(self.spans, (index, math.inf)) - 1  # the last span from <= index
        return at >= 0 and index <= self.spans[at][1]

    def __or__(self, other: Intervals) -> Intervals:
        return Intervals.of(self.spans + other.spans)

    def __and__(self, other: Intervals) -> Intervals:
        out, i, j = [], 0, 0
        a, b = self.spans, other.spans
        while i < len(a) and j < len(b):
            lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
            if lo <= hi:
                out.append((lo, hi))
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        return Intervals(tuple(out))

    def __sub__(self, other: Intervals) -> Intervals:
        out, j, b = [], 0, other.spans
        for lo, hi in self.spans:
            while j < len(b) and b[j][1] < lo:  # wholly before this span, and every later one
                j += 1
            start, k = lo, j
            while k < len(b) and b[k][0] <= hi and start <= hi:
                olo, ohi = b[k]
                if olo > start:
                    out.append((start, olo - 1))
                start = max(start, ohi + 1)
                k += 1
            if start <= hi:
                out.append((start, hi))
        return Intervals(tuple(out))


def span_rows(by_asset: dict[str, Intervals]) -> list[tuple[str, int, int]]:
    """Intervals per asset as rows (asset, first, last), assets in order."""
    return [(a, lo, hi) for a, found in sorted(by_asset.items()) for lo, hi in found.spans]


def from_span_rows(rows: Iterable[tuple[str, int, int]]) -> dict[str, Intervals]:
    """Rows (asset, first, last) as intervals per asset: `span_rows` undone."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for asset, lo, hi in rows:
        spans.setdefault(asset, []).append((lo, hi))
    return {asset: Intervals.of(s) for asset, s in spans.items()}
