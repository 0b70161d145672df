"""What alert hooks receive (`on_failure`, `on_run_end`, `on_run_failure`, `on_sla_miss`):
frozen records with a one-line `text` (run/alerts.py delivers them)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from assetflow.core.records import NodeState, RunStatus


@dataclass(frozen=True)
class Failure:
    """One node that failed after its final attempt. `pipeline` is the schedule or sensor
    that started the run, else the project's folder name; `logical_date` is the start of
    the partition's window (None for an unpartitioned asset)."""

    pipeline: str
    asset: str
    partition: str
    logical_date: dt.date | None
    run_id: str
    attempts: int
    error: str  # "ConnectionError: upstream timed out"
    log_path: str | None
    url: str | None = None  # the run on the web page, when `ui_url` is configured

    @property
    def text(self) -> str:
        when = f" for {self.logical_date}" if self.logical_date else ""
        plural = "attempt" if self.attempts == 1 else "attempts"
        where = f" — log: {self.log_path}" if self.log_path else ""
        return (
            f"[{self.pipeline}] {self.asset}[{self.partition}]{when} failed after "
            f"{self.attempts} {plural} in run {self.run_id}: {self.error}{where}"
            + (f" — {self.url}" if self.url else "")
        )


@dataclass(frozen=True)
class RunSummary:
    pipeline: str
    run_id: str
    status: RunStatus  # success | partial | failed | interrupted
    materialized: int
    verified: int
    failed: int
    not_run: int
    errors: tuple[str, ...]  # one line per failed node
    url: str | None = None  # the run on the web page, when `ui_url` is configured

    @property
    def text(self) -> str:
        head = (
            f"[{self.pipeline}] run {self.run_id} {self.status}: {self.materialized} "
            f"materialized, {self.verified} verified, {self.failed} failed, "
            f"{self.not_run} not run" + (f" — {self.url}" if self.url else "")
        )
        return "\n".join([head, *self.errors[:10]])


@dataclass(frozen=True)
class SlaMiss:
    """What `on_sla_miss` hooks receive, once per late node."""

    asset: str
    partition: str
    deadline: dt.datetime
    status: NodeState
    url: str | None = None  # the asset on the web page, when `ui_url` is configured

    @property
    def text(self) -> str:
        return (
            f"{self.asset}[{self.partition}] missed its SLA: not fresh by "
            f"{self.deadline:%Y-%m-%d %H:%M} UTC (status {self.status})"
            + (f" — {self.url}" if self.url else "")
        )
