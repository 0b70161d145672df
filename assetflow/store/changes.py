"""What a run's commits changed, told to the status its holder keeps (live_facts.py).

While a run holds the warehouse, each of its commits that can change a node's facts — a
task's write, a reuse, a Delta commit recorded, an attempt, a check — goes through
`Changes.commit` (or `committing`): the commit happens under the gate and appends the nodes
it touched to the journal (or "anything": a table made or reshaped, partitions removed). A
reader that begins its snapshots under the gate knows exactly which entries they see: those
before `end`, and no other.

The journal is trusted only while a run records through it (`trust`, until `untrusted`): any
other write of the holder (an environment's promotion, a retention prune, a Delta table's
view refreshed, the nodes merged at a run's end) calls `untrusted`, and the status is then
read whole again.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from assetflow.core.intervals import Intervals

Scope = dict[str, Intervals]  # asset -> partition indexes


class Changes:
    """The journal of a holder's commits: per entry, the nodes they touched."""

    def __init__(self) -> None:
        self.gate = threading.Lock()  # held for the commit and the append; readers' snapshots
        self._entries: list[Scope | None] = []  # None: it may have changed anything
        self._first = 0  # the absolute position of _entries[0]
        self.era = 0  # moves on whenever the journal stops being trusted
        self.trusted = False

    def trust(self) -> None:
        """A run records through the journal from now on."""
        with self.gate:
            self.trusted = True

    def untrusted(self) -> None:
        """Something changed that the journal does not describe: no entry counts any more
        (until the next `trust`)."""
        with self.gate:
            self.trusted = False
            self.era += 1
            self._first += len(self._entries)
            self._entries.clear()

    def commit(self, cur: Any, nodes: Iterable[tuple[str, int]] | None) -> None:
        """`COMMIT` on `cur`, journaled with the nodes it touched (None: it may have changed
        anything)."""
        with self.committing(nodes):
            cur.execute("COMMIT")

    @contextlib.contextmanager
    def committing(self, nodes: Iterable[tuple[str, int]] | None) -> Iterator[None]:
        """Around a statement that commits by itself (an insert outside a transaction): the
        same as `commit`."""
        with self.gate:
            yield  # a commit that fails changed nothing: no entry
            if not self.trusted:
                return
            if nodes is None:
                self._entries.append(None)
                return
            spans: dict[str, list[int]] = {}
            for asset, index in nodes:
                spans.setdefault(asset, []).append(index)
            self._entries.append({a: Intervals.points(i) for a, i in spans.items()})

    @property
    def end(self) -> int:
        """The position after the last entry (read under the gate: every commit before it
        is visible to a snapshot begun then, none after it)."""
        return self._first + len(self._entries)

    def since(self, position: int, end: int) -> Scope | None:
        """The nodes the entries from `position` to `end` touched; None when one of them may
        have changed anything, or they are gone (the journal was distrusted since)."""
        if position < self._first:
            return None
        touched: Scope = {}
        for entry in self._entries[position - self._first : end - self._first]:
            if entry is None:
                return None
            for asset, indexes in entry.items():
                touched[asset] = touched.get(asset, Intervals()) | indexes
        return touched

    def forget(self, position: int) -> None:
        """Entries before `position` are needed no more."""
        with self.gate:
            drop = min(max(0, position - self._first), len(self._entries))
            del self._entries[:drop]
            self._first += drop
