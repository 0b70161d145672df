"""The Python API, for notebooks and scripts: what the CLI does, as calls that return data.

    import assetflow
    p = assetflow.Pipeline("path/to/project")   # or Pipeline() at or above the current folder
    p.status("daily_*")                         # the records `status --json` prints
    p.materialize("daily_*", start="2013-01-01", end="2013-01-31")
    p.read("daily_carrier_delays", "2013-01-15").df()

Every call is one session: it opens the warehouse, does its work and closes it, so a notebook
never holds the file between calls (and never blocks a run for longer than one read). While
another process runs, `status`, `plan`, `why` and `read` answer through it, as of its last
commit (store/served.py), as the CLI's reads do; `status()` adds the run's `in_progress`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assetflow.app import asset_tests, keys, queries
from assetflow.app.config import load_project
from assetflow.app.live import in_progress
from assetflow.app.materialize import RunOptions, materialize
from assetflow.app.session import Request, Session, resolve_range
from assetflow.app.state import status_json
from assetflow.core.asset_tests import TestResult
from assetflow.core.explain import Reason
from assetflow.core.planner import Plan
from assetflow.core.records import AssetInfo, RunRecord, RunResult, Trigger
from assetflow.run.clock import NoWaitClock, WallClock


@dataclass(frozen=True)
class Rows:
    """An asset's stored rows: `.arrow()`, `.df()` (pandas) or `.pl()` (polars)."""

    table: Any  # a pyarrow.Table, with the `_partition` column

    def arrow(self) -> Any:
        return self.table

    def df(self) -> Any:
        return self.table.to_pandas()

    def pl(self) -> Any:
        import polars

        return polars.from_arrow(self.table)

    def __len__(self) -> int:
        return int(self.table.num_rows)


class Pipeline:
    """A project: its definitions and its warehouse.

    `now` fixes what "now" means for every call (a logical date; retry waits then pass at
    once, as with the CLI's --now); by default each call reads the wall clock.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        warehouse: str | None = None,
        now: dt.datetime | None = None,
        env: str | None = None,
    ) -> None:
        """`env`: the environment every call works in (default prod; docs/environments.md)."""
        self.project = load_project(Path(path) if path is not None else None, warehouse, env)
        self.now = now

    @contextmanager
    def _session(self) -> Iterator[Session]:
        clock = NoWaitClock() if self.now is not None else WallClock()
        with Session(self.project, clock, self.now) as session:
            yield session

    def _request(self, selection: tuple[str, ...], start: str | None, end: str | None) -> Request:
        return Request(selection, *resolve_range(self.project, None, start, end))

    def assets(self, *selection: str) -> list[AssetInfo]:
        """Every selected asset (all by default): partitions, inputs, checks, last run."""
        with self._session() as session:
            return queries.assets(session, Request(selection))

    def status(self, *selection: str, start: str | None = None, end: str | None = None) -> dict:
        """Counts per asset and every node that is not fresh, with its causes: the records
        `assetflow status --json` prints (docs/cli.md has their schema)."""
        with self._session() as session:
            request = self._request(selection, start, end)
            snap = queries.status(session, request)  # during a run: as of its last commit
            running = in_progress(session)
            found = {**status_json(snap), **({"in_progress": running} if running else {})}
            return json.loads(json.dumps(found))  # plain values, as --json prints

    def plan(self, *selection: str, start: str | None = None, end: str | None = None) -> Plan:
        """The minimal plan that `materialize` would run (`.as_json()` as --dry-run --json)."""
        with self._session() as session:
            request = self._request(selection, start, end)
            return materialize(session, request, RunOptions(dry_run=True)).plan

    def materialize(
        self,
        *selection: str,
        start: str | None = None,
        end: str | None = None,
        force: bool = False,
        full_refresh: bool = False,
        concurrency: int | None = None,
        wait: float = 0.0,
    ) -> RunResult | None:
        """Run the minimal plan (None when everything is fresh already). The run is
        recorded like any other, with trigger `api`; its status and per-node results are
        in the returned record (`.status`, `.results`, `.counts()`)."""
        options = RunOptions(
            force=force, full_refresh=full_refresh, concurrency=concurrency, wait=wait,
            trigger=Trigger("api"), release=True,
        )  # fmt: skip
        with self._session() as session:
            return materialize(session, self._request(selection, start, end), options).result

    def why(self, asset: str, partition: str | None = None) -> Reason:
        """Why a node is not fresh, as a tree (`.as_dict()` as `why --json`)."""
        with self._session() as session:
            return queries.why(session, asset, partition)

    def read(
        self,
        asset: str,
        partition: str | None = None,
        *,
        start: str | None = None,
        end: str | None = None,
    ) -> Rows:
        """The stored rows of one partition, of start..end, or of every partition."""
        first, last = (partition, partition) if partition is not None else (start, end)
        with self._session() as session:
            return Rows(queries.read_rows(session, asset, first, last))

    def partition_keys(self, name: str | None = None) -> dict[str, list[str]]:
        """Each dynamic key set (or the one named) and its keys, in the order they were added."""
        with self._session() as session:
            return keys.listing(session, name)

    def add_partition_keys(self, name: str, *new: str, wait: float = 0.0) -> list[str]:
        """Add keys to a dynamic key set; returns those that were not there yet."""
        with self._session() as session:
            return list(keys.change(session, name, list(new), add=True, wait=wait).changed)

    def remove_partition_keys(self, name: str, *gone: str, wait: float = 0.0) -> list[str]:
        """Remove keys from a dynamic key set (their rows stay until wiped); returns those
        that were there."""
        with self._session() as session:
            return list(keys.change(session, name, list(gone), add=False, wait=wait).changed)

    def test(self, *selection: str) -> list[TestResult]:
        """The asset tests of the selection (all by default, or by name), each computed from
        its fixture rows in memory: `.passed`, `.report()` (the differences, for people) and
        `.as_json()` (as `assetflow test --json`). Under pytest:

            @pytest.mark.parametrize("result", Pipeline(".").test(), ids=lambda r: r.name)
            def test_asset(result):
                assert result.passed, result.report()
        """
        with self._session() as session:
            return asset_tests.run_tests(session, selection)

    def runs(
        self, limit: int = 20, status: str | None = None, trigger: str | None = None
    ) -> list[RunRecord]:
        """The latest runs, newest first."""
        with self._session() as session:
            return queries.list_runs(session, limit, status, trigger)
