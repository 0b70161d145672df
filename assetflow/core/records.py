"""Every record assetflow passes between its layers, frozen, and the enums of its states.

States and causes are `StrEnum`s: the same values in the code, in SQL parameters, in the
metadata tables and in `--json` output. Records carry no connection, logger or lock, so
that any of them can cross a process boundary (pickle).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:
    from assetflow.core.intervals import Intervals
    from assetflow.core.partitions import Partitions


class NodeState(StrEnum):
    """The status of one node (asset x partition)."""

    FRESH = "fresh"
    STALE = "stale"
    MISSING = "missing"
    FAILED = "failed"


class Cause(StrEnum):
    """Why a node is not fresh, listed in this order (status --json, why)."""

    MISSING = "missing"
    CODE_CHANGED = "code_changed"
    SCHEMA_CHANGED = "schema_changed"  # its table changed shape after it was written
    UPSTREAM_CHANGED = "upstream_changed"
    UPSTREAM_STALE = "upstream_stale"
    FAILED = "failed"
    CHECK_FAILED = "check_failed"

    @staticmethod
    def main(causes: list[Cause]) -> Cause | None:
        """The cause a plan shows as a node's reason: the first that applies of a failure,
        then missing, then the staleness causes from the most local."""
        return next((c for c in _PRECEDENCE if c in causes), None)

    @staticmethod
    def precedence() -> tuple[Cause, ...]:
        return _PRECEDENCE


_PRECEDENCE = (
    Cause.CHECK_FAILED,
    Cause.FAILED,
    Cause.MISSING,
    Cause.SCHEMA_CHANGED,
    Cause.CODE_CHANGED,
    Cause.UPSTREAM_CHANGED,
    Cause.UPSTREAM_STALE,
)

FORCED = "forced"  # the reason of a planned node that is fresh but --force rebuilds it
FULL_REFRESH = "full_refresh"  # the reason of every node of an asset --full-refresh rebuilds


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    PARTIAL = "partial"  # some nodes built, some failed or not run
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # Ctrl-C: scheduling stopped, running transactions ended
    ABANDONED = "abandoned"  # the process died; found by the next writer


class AttemptStatus(StrEnum):
    """The outcome of one attempt of a node, or how a node of a run ended."""

    SUCCESS = "success"
    VERIFIED = "verified"  # early cutoff: inputs unchanged, not recomputed
    RETRYING = "retrying"
    FAILED = "failed"
    UPSTREAM_FAILED = "upstream_failed"
    NOT_RUN = "not_run"  # the run stopped (a definition mistake, Ctrl-C) before it


@dataclass(frozen=True)
class Trigger:
    """What started a run: `manual`, `backfill`, `eager`, or a named schedule or sensor."""

    kind: str
    name: str = ""

    def __str__(self) -> str:  # as stored in assetflow.runs.trigger
        return f"{self.kind}:{self.name}" if self.name else self.kind


# -- nodes and what they read ------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class Node:
    asset: str
    partition: str

    def __str__(self) -> str:
        return f"{self.asset}[{self.partition}]"


@dataclass(frozen=True, slots=True)
class NodeId:
    """A node's identity inside a run: its asset and its partition's index there. A run
    schedules by it; partition keys are resolved at the edges (the plan names each node's
    key; the worker and the run's recorder write it)."""

    asset: str
    index: int


@dataclass(frozen=True)
class InputRange:
    """The upstream partitions (a contiguous index range) one node reads from one dependency."""

    name: str
    first: int
    last: int  # inclusive; first > last when the window was clipped away
    clipped: bool
    is_source: bool
    partitions: Partitions = field(compare=False, repr=False)
    spans: Intervals | None = None  # several dimensions: exactly these, within first..last

    @property
    def keys(self) -> tuple[str, ...]:
        if self.spans is not None:
            return self.partitions.keys_in(self.spans)
        return self.partitions.keys_between(self.first, self.last)

    def indexes(self) -> list[int]:
        """The indexes of the partitions read (those that exist)."""
        if self.spans is not None:
            return [i for lo, hi in self.spans.spans for i in range(lo, hi + 1)]
        return (
            [self.partitions.index(k) for k in self.keys]
            if self.partitions.is_keyed
            else list(range(self.first, self.last + 1))
        )


@dataclass(frozen=True)
class Published:
    """A write a worker committed to a Delta table; the coordinator records its lineage."""

    version: int  # the commit's version in the asset's Delta table
    table_schema: str  # the columns written, "name TYPE,..."
    reshaped: str | None = None  # how the commit changed the table, one line
    removed: tuple[str, ...] = ()  # other partitions whose rows the commit removed


@dataclass(frozen=True)
class Observation:
    """A source partition's version as observed now (None: it has no data)."""

    source: str
    partition: str
    index: int
    version: str | None
    detail: str


# -- what the lineage record says ------------------------------------------------------------
@dataclass(frozen=True)
class Facts:
    """What the lineage record says about every node, as index intervals per asset."""

    existing: dict[str, Intervals]
    code_changed: dict[str, Intervals]
    schema_changed: dict[str, Intervals]
    upstream_changed: dict[str, Intervals]
    failed: dict[str, Intervals]
    check_failed: dict[str, Intervals]
    # For nodes whose inputs can grow or shrink (clipped windows, `all` mappings):
    # (asset, partition index) -> {input: (first index, last index, count)} as recorded.
    recorded_ranges: dict[tuple[str, int], dict[str, tuple[int, int, int]]]

    @staticmethod
    def none() -> Facts:
        """A warehouse that has recorded nothing yet."""
        return Facts({}, {}, {}, {}, {}, {}, {})


@dataclass(frozen=True)
class InputFact:
    name: str
    partition: str
    recorded: str | None
    current: str | None

    @property
    def changed(self) -> bool:
        return self.recorded != self.current


@dataclass(frozen=True)
class NodeRecord:
    """The latest materialization of one node and how its inputs compare today."""

    run_id: str
    code_version: str
    data_version: str
    ended_at: dt.datetime
    inputs: tuple[InputFact, ...]
    # The table's columns ("name TYPE,...") when the node was written, and now.
    table_schema: str | None = None
    table_now: str | None = None

    def schema_change(self) -> str:
        """How the table changed since: `v VARCHAR -> INTEGER, x added, w removed`."""
        before, after = _columns(self.table_schema), _columns(self.table_now)
        parts = [f"{c} {t} -> {after[c]}" for c, t in before.items() if after.get(c, t) != t]
        parts += [f"{c} added" for c in after if c not in before]
        parts += [f"{c} removed" for c in before if c not in after]
        return ", ".join(parts)


def _columns(schema: str | None) -> dict[str, str]:
    """ "name TYPE,..." as {name: TYPE} (a type may hold commas inside parentheses)."""
    out: dict[str, str] = {}
    depth, item = 0, ""
    for ch in (schema or "") + ",":
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            name, _, kind = item.partition(" ")
            if name:
                out[name] = kind
            item = ""
        else:
            item += ch
    return out


# -- runs, attempts, checks as stored ---------------------------------------------------------
@dataclass(frozen=True)
class RunRecord:
    run_id: str
    trigger: str
    selection: dict[str, Any]  # {"assets": [...], "from": KEY | None, "to": KEY | None}
    started_at: dt.datetime
    ended_at: dt.datetime | None
    status: RunStatus
    planned: int
    succeeded: int
    verified: int
    failed: int
    skipped: int
    message: str | None
    pid: int | None = None  # the process that ran it
    env: str = "prod"  # the environment it ran in (or, promoted into)


@dataclass(frozen=True)
class AttemptRecord:
    asset: str
    partition: str
    attempt: int  # 0 for nodes settled without running: verified or upstream_failed
    started_at: dt.datetime
    ended_at: dt.datetime
    status: AttemptStatus
    error_class: str | None
    error_message: str | None
    next_retry_at: dt.datetime | None
    log_path: str | None
    run_id: str = ""


Severity = Literal["error", "warn"]


@dataclass(frozen=True)
class CheckResult:
    check: str
    severity: Severity
    passed: bool
    failing_rows: int
    message: str
    samples: tuple[dict[str, Any], ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)
    node: tuple[str, str] | None = None  # (asset, partition), once run on a node

    @property
    def blocking_failure(self) -> bool:
        return not self.passed and self.severity == "error"

    def samples_json(self) -> str:
        return json.dumps(list(self.samples), default=str)


@dataclass(frozen=True)
class CheckRecord:
    asset: str
    partition: str
    check: str
    severity: str
    passed: bool
    failing_rows: int
    message: str
    samples: tuple[dict[str, Any], ...]  # up to 5 failing rows
    run_id: str | None
    checked_at: dt.datetime

    @property
    def blocking_failure(self) -> bool:  # as CheckResult's: a failed check of severity error
        return not self.passed and self.severity == "error"


# -- writing partitions ----------------------------------------------------------------------
class InputVersion(NamedTuple):
    """One upstream partition a node read, and the version it had then."""

    input: str  # the upstream asset or source
    partition: str
    partition_index: int
    version: str  # "" when it had none (never built, or a source not observed)


@dataclass(frozen=True)
class NodeWrite:
    """Everything recorded with one node's data, in its transaction."""

    run_id: str
    asset: str
    partition: str
    partition_index: int
    code_version: str
    inputs: tuple[InputVersion, ...]
    clipped: str | None
    started_at: dt.datetime
    attempt: int = 1  # recorded as a successful attempt in the same transaction
    log_path: str | None = None


@dataclass(frozen=True)
class Written:
    row_count: int
    data_version: str
    materialization_id: int
    reused_from: int | None = None  # copied from this materialization, not computed


# -- what a run produced ----------------------------------------------------------------------
@dataclass(frozen=True)
class NodeResult:
    node: Node
    status: AttemptStatus  # success | verified | failed | upstream_failed | not_run
    rows: int | None = None
    seconds: float = 0.0
    error: str | None = None
    log_path: str | None = None
    attempts: int = 0
    reused: bool = False  # another environment held it: copied, not computed


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: RunStatus  # success | partial | failed | interrupted
    results: tuple[NodeResult, ...]
    stopped_by: Exception | None  # the first definition mistake (its asset's nodes all failed)
    exit_code: int  # an errors.ExitCode
    checks: tuple[int, int, int] = (0, 0, 0)  # passed, warned, failed (blocking)
    warnings: tuple[str, ...] = ()  # alert hooks that failed, one line each
    schema_changes: tuple[str, ...] = ()  # tables that changed shape, one line each
    keys_added: dict[str, tuple[str, ...]] = field(default_factory=dict)  # dynamic key sets

    @property
    def message(self) -> str | None:
        if self.stopped_by is None:
            return None
        one_line = getattr(self.stopped_by, "one_line", None)
        return one_line() if one_line else str(self.stopped_by)

    @property
    def reused(self) -> int:
        """Nodes materialized by copying what another environment held (not computed)."""
        return sum(r.reused for r in self.results)

    def counts(self) -> RunCounts:
        """How its nodes ended: materialized + verified + failed + not_run = planned."""
        by = [r.status for r in self.results]
        skipped = by.count(AttemptStatus.UPSTREAM_FAILED) + by.count(AttemptStatus.NOT_RUN)
        return RunCounts(
            len(by),
            by.count(AttemptStatus.SUCCESS),
            by.count(AttemptStatus.VERIFIED),
            by.count(AttemptStatus.FAILED),
            skipped,
        )


class RunCounts(NamedTuple):
    """A run's nodes by how they ended (upstream_failed counts as not run)."""

    planned: int
    materialized: int
    verified: int
    failed: int
    not_run: int


@dataclass(frozen=True)
class AssetInfo:
    """What `assetflow assets` shows of one asset."""

    asset: str
    description: str
    partitions: str  # "daily 2013-01-01..2013-12-31"
    group: str | None
    reads: tuple[str, ...]  # "raw_flights via window(0, 0)"
    checks: tuple[str, ...]
    schedules: tuple[str, ...]
    where: str  # file:line of the declaration
    materialized: int  # partitions with a materialization
    last_run: str | None
    last_built_at: dt.datetime | None
    recent_rows: tuple[tuple[str, int], ...]  # (partition, rows), latest partitions first
    unseen: tuple[str, ...] = ()  # project code its code version cannot see


@dataclass(frozen=True)
class TickEvent:
    kind: str  # schedule | sensor | eager | sla | prune
    name: str
    detail: str
    run_id: str | None = None
    status: RunStatus | None = None  # the run's outcome, when one ran
    error: bool = False  # the tick could not do what was due (cron monitoring sees exit 1)


def json_value(value: object) -> object:
    """How a record's values that JSON has no type for are written (`json.dumps(default=)`):
    a timestamp (naive UTC inside assetflow) as ISO 8601 with its zone, a date as ISO 8601,
    anything else as its text."""
    if isinstance(value, dt.datetime):
        zoned = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return zoned.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
