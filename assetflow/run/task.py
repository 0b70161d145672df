"""The task boundary: what the executor hands a worker, and what it gets back.

A `Task` is one attempt at one node or one batch of contiguous nodes of an asset. It holds
names, keys, index ranges, versions and times: no connection, logger, lock or function, so
it pickles and another process (or machine) can run it. The worker resolves the asset's
function from its own loaded definitions, by name.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from assetflow.core.intervals import Intervals
from assetflow.core.planner import PlannedNode
from assetflow.core.records import (
    FULL_REFRESH,
    CheckResult,
    InputRange,
    InputVersion,
    NodeWrite,
    Published,
    Written,
)

Versions = Mapping[tuple[str, str], str | None]


@dataclass(frozen=True)
class Task:
    run_id: str
    asset: str
    code_version: str
    nodes: tuple[NodeWrite, ...]  # one, or a contiguous batch; ascending
    reads: tuple[InputRange, ...]  # per dependency, what the whole task reads
    attempt: int
    log_path: str  # the file the attempt's log lines go to (created on the first line)
    refresh: bool = False  # the asset's table is rebuilt from these nodes alone (one write)
    grouped: bool = False  # adjacent single nodes written together (group commit)
    env: str = "prod"  # the environment it runs in (its resources' values)
    # Delta Lake, outside prod: (input, environment, keys) for the input partitions an
    # environment of the chain holds itself; the others are prod's.
    held: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    def calls_per_node(self, batch_size: int) -> bool:
        """Whether the asset's function is called once per node (a full refresh or a group
        of an asset computed a partition per call), not once for the whole task."""
        return batch_size == 1 and (self.refresh or self.grouped)

    @property
    def partition(self) -> str:
        """The partition label: `2013-03-15`, or `2013-03-01..2013-03-31` for a batch."""
        return span_label(self.nodes[0].partition, self.nodes[-1].partition)

    @property
    def header(self) -> str:
        return attempt_header(self.asset, self.partition, self.attempt, self.run_id)


def span_label(first: str, last: str) -> str:
    """A task's partitions as one label (its log file is named so): a key, or `first..last`."""
    return first if first == last else f"{first}..{last}"


def attempt_header(asset: str, label: str, attempt: int, run_id: str) -> str:
    """The line that opens an attempt in the task's log."""
    return f"--- {asset}[{label}] attempt {attempt} (run {run_id})\n"


@dataclass(frozen=True)
class TaskResult:
    """One attempt's outcome; pickles (the error with it)."""

    written: dict[str, Written]  # partition -> what its write recorded; empty on failure
    error: BaseException | None
    trace: str  # the traceback of a failure, for the node's log
    seconds: float
    logged: bool  # the attempt wrote to its log file
    checks: dict[str, tuple[CheckResult, ...]] = field(default_factory=dict)
    reshaped: str | None = None  # how the write changed the asset's table, one line
    keys_added: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (dynamic key set, new keys)
    published: Published | None = None  # the Delta commit a worker made (storage = "delta")
    failed: str | None = None  # a group's failure: the partition whose own call raised


def make_task(
    run_id: str,
    planned: Sequence[PlannedNode],
    versions: Versions,
    code_version: str,
    attempt: int,
    started_at: dt.datetime,
    log_path: str,
    grouped: bool = False,
    env: str = "prod",
) -> Task:
    """The task for `planned` (one node or a batch), with its inputs' current versions."""
    writes = tuple(
        NodeWrite(
            run_id=run_id,
            asset=p.node.asset,
            partition=p.node.partition,
            partition_index=p.index,
            code_version=code_version,
            inputs=input_versions(p, versions),
            clipped=clipped_note(p),
            started_at=started_at,
            attempt=attempt,
        )
        for p in planned
    )
    asset = planned[0].node.asset
    refresh = planned[0].reason == FULL_REFRESH
    return Task(
        run_id, asset, code_version, writes, merged_reads(planned), attempt, log_path, refresh,
        grouped, env,
    )  # fmt: skip


def node_reads(task: Task, node: NodeWrite) -> tuple[InputRange, ...]:
    """What one node of a task reads: per dependency, the span of its recorded inputs."""
    out = []
    for rng in task.reads:
        indexes = [i.partition_index for i in node.inputs if i.input == rng.name]
        lo, hi = (min(indexes), max(indexes)) if indexes else (rng.first, rng.first - 1)
        spans = None if rng.spans is None else Intervals.points(indexes)
        out.append(dataclasses.replace(rng, first=lo, last=hi, spans=spans))
    return tuple(out)


def input_versions(planned: PlannedNode, versions: Versions) -> tuple[InputVersion, ...]:
    """Everything the node reads, with the version each partition has now."""
    rows = []
    for rng in planned.inputs:
        for index in rng.indexes():
            key = rng.partitions.key(index)
            rows.append(InputVersion(rng.name, key, index, versions.get((rng.name, key)) or ""))
    return tuple(rows)


def merged_reads(task: Sequence[PlannedNode]) -> tuple[InputRange, ...]:
    """What a task reads: per dependency, the span from its first to its last node's reads."""
    if len(task) == 1:
        return task[0].inputs
    merged = []
    for column in zip(*(p.inputs for p in task), strict=True):
        read = [r for r in column if r.first <= r.last]
        head = column[0]
        lo = min((r.first for r in read), default=head.first)
        hi = max((r.last for r in read), default=head.last)
        clipped = any(r.clipped for r in column)
        spans = None
        if head.spans is not None:  # several dimensions: exactly what the nodes read
            spans = Intervals.of(s for r in column if r.spans for s in r.spans.spans)
        merged.append(dataclasses.replace(head, first=lo, last=hi, clipped=clipped, spans=spans))
    return tuple(merged)


def clipped_note(planned: PlannedNode) -> str | None:
    notes = []
    for rng in planned.inputs:
        if rng.clipped:
            keys = rng.keys
            span = f"{keys[0]}..{keys[-1]}" if keys else "nothing"
            notes.append(f"{rng.name} window clipped to {span}")
    return "; ".join(notes) or None
