"""The frozen specs that declarations produce (see assetflow/defs/declare.py): assets, sources,
schedules and sensors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assetflow.core.checks import Check
from assetflow.core.mapping_kinds import Mapping
from assetflow.core.partitions import Partitions
from assetflow.core.policy import RetryPolicy


@dataclass(frozen=True)
class Dep:
    name: str
    mapping: Mapping
    as_param: bool  # passed to the function as an argument


@dataclass(frozen=True)
class AssetSpec:
    name: str
    fn: Callable[..., Any] = field(repr=False, compare=False)
    partitions: Partitions
    deps: tuple[Dep, ...]
    code_version: str
    file: str
    line: int
    description: str = ""
    context_param: str | None = None
    retry: RetryPolicy | None = None  # None: the project default
    retry_on: tuple[type[BaseException], ...] = ()
    on_failure: tuple[Callable[..., Any], ...] | None = field(default=None, compare=False)
    checks: tuple[Check, ...] = ()
    batch_size: int = 1  # up to this many contiguous stale partitions run as one task
    partition_by: str | None = None  # the output column (a date) that places rows in partitions
    automation: str | None = None  # "eager": materialize when upstream data changes
    sla: dt.timedelta | None = None  # fresh by sla after the data is due, or late
    on_sla_miss: tuple[Callable[..., Any], ...] | None = field(default=None, compare=False)
    group: str | None = None  # selectable as `group:NAME`
    # Upstream parameters the body reads as Python values (an SQL asset usually reads none):
    # only those are handed a DuckDB relation, which costs a bind per call.
    used_params: frozenset[str] = frozenset()
    # The contract: the output's columns in order, name -> DuckDB type (with NOT NULL when
    # the column may not hold NULL). Empty: the table follows whatever the asset returns.
    columns: tuple[tuple[str, str], ...] = ()
    # Upstream parameters annotated as another kind of frame: name -> "arrow", "pandas",
    # "polars" or "polars_lazy" (the others receive a DuckDB relation).
    input_kinds: tuple[tuple[str, str], ...] = ()
    # The body only returns SQL text (a string or f-string): calling it has no side effects,
    # so a dry run may bind its query to say how the table's columns will change.
    returns_sql: bool = False
    # Dynamic key sets this asset adds keys to: (key set, column). Each distinct value of the
    # column in what it writes becomes a key, in the write's transaction.
    adds_keys: tuple[tuple[str, str], ...] = ()
    # Names the body reads that its code version cannot see: project code imported from
    # outside definitions/ (editing it does not stale the asset; `why` and `assets` say so).
    unseen: tuple[str, ...] = ()
    # The columns that name a row (`env diff` pairs rows by them); empty: whole rows.
    key: tuple[str, ...] = ()
    # The resources it uses (`ctx.resources.NAME`); those among its parameters are passed so.
    resources: tuple[str, ...] = ()
    resource_params: tuple[str, ...] = ()

    @property
    def contract(self) -> dict[str, str]:
        return dict(self.columns)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class SourceSpec:
    """An external input: observed for a version, read through its function, never written."""

    name: str
    fn: Callable[..., Any] = field(repr=False, compare=False)
    partitions: Partitions
    path: str | None  # landing pattern with `{partition}`, relative to the project root
    observe: Callable[[str], str | None] | None = field(repr=False, compare=False)
    file: str
    line: int
    description: str = ""
    ranges: bool = False  # its function may read consecutive partitions in one call

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    cron: str
    selection: tuple[str, ...]
    timezone: str = "UTC"
    catchup: bool = False
    where: str = field(default="", compare=False)  # file:line of the declaration


Rows = tuple[dict[str, Any], ...] | str  # rows as dicts, or a CSV file (project-relative)


@dataclass(frozen=True)
class AssetTestSpec:
    """An asset's logic pinned by fixture rows: computed for `partition` (a key, or
    `first..last` for a range) from the rows `given` for each input, it must return `expect`
    (the columns `expect` names; changed rows told by `key`, when given)."""

    name: str
    asset: str
    partition: str | None
    given: tuple[tuple[str, Rows], ...] = field(compare=False)
    expect: Rows = field(compare=False)
    key: tuple[str, ...] = ()
    now: dt.datetime | None = None  # the command's `--now` when None
    where: str = field(default="", compare=False)  # file:line of the declaration


@dataclass(frozen=True)
class SensorSpec:
    """A file sensor: a new or changed file of `source` materializes what became stale. A
    key sensor (`key_set` and `pattern`): every file or folder matching `pattern` is a key
    of the dynamic key set; new ones are added and their partitions materialized."""

    name: str
    source: str  # "" for a key sensor
    selection: tuple[str, ...] = ()  # default: everything downstream of the source
    where: str = field(default="", compare=False)  # file:line of the declaration
    key_set: str | None = None
    pattern: str | None = None  # a glob relative to the project root
