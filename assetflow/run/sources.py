"""Observing sources (a version per partition) and the SQL that reads a source partition."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from assetflow.core.intervals import Intervals
from assetflow.core.observations import SourceVersions
from assetflow.core.specs import SourceSpec
from assetflow.errors import AssetflowError, DefinitionError


@dataclass(frozen=True)
class SourceContext:
    """What a source function receives: one partition, or with `ranges=True` consecutive
    partitions (`start`..`end` spans them)."""

    source: str
    partitions: tuple[str, ...]
    start: dt.date | None
    end: dt.date | None
    path: str | None  # the partition's file, when the source declares path=
    ranges: bool = False

    @property
    def partition(self) -> str:
        if self.ranges:  # even for one: the same call may read a month in a batch
            raise DefinitionError(
                f"source {self.source} reads ranges (ranges=True): ctx.partition names one"
                " partition",
                "read ctx.start and ctx.end (or ctx.partitions)",
            )
        return self.partitions[0]


def partition_path(spec: SourceSpec, key: str, root: Path) -> Path | None:
    if spec.path is None:
        return None
    return root / spec.path.format(partition=key)


def file_version(path: Path) -> str | None:
    """Content hash of a file (touching it changes nothing), or None when it is absent."""
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()[:16]
    except FileNotFoundError:
        return None


def observe(spec: SourceSpec, spans: Intervals, root: Path) -> SourceVersions:
    """The current version of each partition of a source in `spans`: what its `observe`
    function says, or the content hash of the partition's file."""
    keys = spec.partitions.keys_in(spans)
    paths = [p for k in keys if (p := partition_path(spec, k, root)) is not None]
    details = tuple(str(p.relative_to(root)) for p in paths) if paths else ("",) * len(keys)
    if spec.observe is None:  # a source declares path= or observe= (defs/declare.py)
        return SourceVersions(spec.name, spans, keys, tuple(map(file_version, paths)), details)
    asked, found, key = spec.observe, [], ""
    try:
        for key in keys:
            version = asked(key)
            found.append(None if version is None else str(version))
    except AssetflowError:
        raise
    except Exception as exc:
        raise DefinitionError(
            f"{spec.where}: source {spec.name}[{key}]: observe failed: {type(exc).__name__}: {exc}"
        ) from exc
    return SourceVersions(spec.name, spans, keys, tuple(found), details)


def source_sql(spec: SourceSpec, keys: tuple[str, ...], root: Path) -> str:
    """The SELECT that reads a source's partition `keys` (one key, or with `ranges=True`
    consecutive ones), from the source's function."""
    start, _ = spec.partitions.window(spec.partitions.index(keys[0]))
    _, end = spec.partitions.window(spec.partitions.index(keys[-1]))
    path = partition_path(spec, keys[0], root)
    where = None if path is None else str(path)
    try:
        result = spec.fn(SourceContext(spec.name, keys, start, end, where, spec.ranges))
    except DefinitionError as exc:  # ctx.partition of a ranges=True source
        raise DefinitionError(f"{spec.where}: {exc.message}", exc.hint) from None
    if not isinstance(result, str):
        raise DefinitionError(
            f"{spec.where}: source {spec.name} returned {type(result).__name__}",
            "a source function returns SQL text",
        )
    return result
