"""An asset's partitions drawn whole: more than a page can draw one by one are grouped into
cells of a coarser period (five-minute windows by day, days by month, months by year) or, for
keys, into runs of consecutive keys. Pure: the page's server counts each cell's states.

A cell is found without listing every key: a time key begins with its period's label
(`2024-03-15T14:05` with its day `2024-03-15`), labels never decrease along the indexes,
so each cell's last partition is guessed from the period's length and checked (a
daylight-saving day, a partial first day: a binary search instead).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from assetflow.core.intervals import Intervals
from assetflow.core.partitioning import Partitions
from assetflow.core.records import NodeState
from assetflow.core.status import AssetStatus
from assetflow.core.time_partitions import TimePartitions

CELLS = 5000  # the most cells the page draws for one asset

# Coarser periods in order: the key prefix that names one, and its length in days.
_PERIODS = (("day", 10, 1.0), ("month", 7, 30.44), ("year", 4, 365.25))


@dataclass(frozen=True)
class Cell:
    """One drawn cell: its label and the partitions it stands for."""

    label: str
    spans: Intervals


def grouping(parts: Partitions, count: int) -> str | None:
    """The period the page groups `count` partitions of `parts` by (None: one cell each;
    "keys": runs of consecutive keys)."""
    if count <= CELLS:
        return None
    days = _days_per_partition(parts)
    if days is None:
        return "keys"
    for period, _, length in _PERIODS:
        if length > days and count * days / length <= CELLS:
            return period
    return "keys"


def cells(parts: Partitions, selected: Intervals, period: str) -> list[Cell]:
    """`selected` cut into the cells of `period` ("keys": runs of at most ⌈n / CELLS⌉)."""
    if period == "keys":
        return _runs_of_keys(parts, selected)
    _, width, length = next(p for p in _PERIODS if p[0] == period)
    guess = max(1, round(length / (_days_per_partition(parts) or 1.0)))
    found: dict[str, list[tuple[int, int]]] = {}
    for lo, hi in selected.spans:
        i = lo
        while i <= hi:
            last = _last_labelled(parts, width, i, hi, guess)
            found.setdefault(parts.key(i)[:width], []).append((i, last))
            i = last + 1
    return [Cell(label, Intervals.of(spans)) for label, spans in found.items()]


def grid_cell(period: str, label: str, position: int) -> tuple[str, str]:
    """Where the page draws a cell: a day in its month's row, a month in its year's, a year
    in one row; runs of keys fifty to a row, by position."""
    if period == "day":
        return label[:7], label[8:]
    if period == "month":
        return label[:4], label[5:]
    if period == "year":
        return "years", label
    return f"{position // 50 * 50 + 1:,}..", label


def counts(status: AssetStatus, cell: Cell) -> list[int]:
    """The cell's partitions by state: fresh, stale, missing, failed."""
    found = status.counts(cell.spans)
    return [found[state] for state in NodeState]


def _days_per_partition(parts: Partitions) -> float | None:
    return parts.days_each if isinstance(parts, TimePartitions) else None


def _last_labelled(parts: Partitions, width: int, i: int, hi: int, guess: int) -> int:
    """The last index in i..hi whose label (its key's first `width` characters) is i's:
    the guess i + guess - 1 if it is that, else by binary search (labels never decrease)."""
    label = parts.key(i)[:width]

    def same(j: int) -> bool:
        return parts.key(j)[:width] == label

    j = min(hi, i + guess - 1)
    if same(j) and (j == hi or not same(j + 1)):
        return j
    lo, top = i, hi  # same(lo) holds; find the greatest such
    while lo < top:
        mid = (lo + top + 1) // 2
        if same(mid):
            lo = mid
        else:
            top = mid - 1
    return lo


def _runs_of_keys(parts: Partitions, selected: Intervals) -> list[Cell]:
    per = math.ceil(len(selected) / CELLS)
    out: list[Cell] = []
    spans: list[tuple[int, int]] = []
    taken = 0
    for lo, hi in selected.spans:
        while lo <= hi:
            end = min(hi, lo + per - taken - 1)
            spans.append((lo, end))
            taken += end - lo + 1
            lo = end + 1
            if taken == per:
                out.append(Cell(parts.key(spans[0][0]), Intervals.of(spans)))
                spans, taken = [], 0
    if spans:
        out.append(Cell(parts.key(spans[0][0]), Intervals.of(spans)))
    return out
