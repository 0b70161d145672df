"""A source's observed versions as columns: one record per source, not one per partition.

A status over a source of five-minute windows observes a million partitions; a million
frozen `Observation`s cost more than the status itself. `SourceVersions` keeps the indexes as
intervals and the keys, versions and details as tuples, in index order. Where one partition at
a time is wanted (a node's `why`, a run recording what it read, a sensor) `each` gives them.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass

from assetflow.core.intervals import Intervals
from assetflow.core.records import Observation


@dataclass(frozen=True)
class SourceVersions:
    """The versions of a source's partitions `spans` (None: that partition has no data)."""

    source: str
    spans: Intervals
    keys: tuple[str, ...]
    versions: tuple[str | None, ...]
    details: tuple[str, ...]  # what was read: the partition's file, or ""

    def each(self, only: Container[str] | None = None) -> Iterator[Observation]:
        """One `Observation` per partition (with `only`: per partition whose key is in it)."""
        for index, key, version, detail in zip(
            self.spans, self.keys, self.versions, self.details, strict=True
        ):
            if only is None or key in only:
                yield Observation(self.source, key, index, version, detail)

    def runs(self) -> list[tuple[int, int, str | None]]:
        """(first, last, version): consecutive partitions with one version, as one run."""
        out: list[tuple[int, int, str | None]] = []
        at = 0
        for lo, hi in self.spans.spans:
            first, version = lo, self.versions[at]
            for index in range(lo + 1, hi + 1):
                at += 1
                if self.versions[at] != version:
                    out.append((first, index - 1, version))
                    first, version = index, self.versions[at]
            out.append((first, hi, version))
            at += 1
        return out


def each_observation(
    observed: Iterable[SourceVersions], only: Mapping[str, Container[str]] | None = None
) -> list[Observation]:
    """One `Observation` per partition observed, source by source (with `only`: per
    partition whose key is in its source's entry)."""
    return [
        o
        for batch in observed
        for o in batch.each(None if only is None else only.get(batch.source, ()))
    ]
