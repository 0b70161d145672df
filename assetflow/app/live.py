"""The run another process is running: what it last published about its progress.

Reads during a run answer from the warehouse itself, through the process that holds it
(store/served.py). What that process publishes beside the warehouse (run/snapshot.py) adds
what the warehouse cannot say yet: which run it is, how far it got, the nodes settled so far.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from typing import Any

from assetflow.app.session import Session
from assetflow.errors import UsageError
from assetflow.run import snapshot


@dataclass(frozen=True)
class LiveRun:
    """What the process holding the warehouse last published about its run."""

    run_id: str
    pid: int
    started_at: str | None
    as_of: str  # ISO 8601, when it published this
    planned: int | None
    progress: dict[str, int]  # settled nodes by how: {"success": 12, "failed": 1}
    settled: dict[str, dict[str, str]] = field(repr=False)  # asset -> partition -> how

    @staticmethod
    def read(session: Session) -> LiveRun | None:
        """The run in progress, or None (none, or its process is gone)."""
        live = snapshot.read(session.project.warehouse_path)
        if live is None:
            return None
        return LiveRun(
            str(live.get("run_id") or "?"), int(live.get("pid") or 0), live.get("started_at"),
            str(live.get("as_of") or ""), live.get("planned"), dict(live.get("progress") or {}),
            live.get("settled") or {},
        )  # fmt: skip

    @property
    def done(self) -> int:
        return sum(self.progress.values())

    def in_progress(self) -> dict[str, Any]:
        """The one shape every reader gives the run (`in_progress` in docs/cli.md)."""
        return {
            "run_id": self.run_id, "pid": self.pid, "started_at": self.started_at,
            "as_of": self.as_of, "planned": self.planned, "progress": self.progress,
        }  # fmt: skip


def cancel(session: Session, run_id: str) -> int:
    """Stop the run in progress `run_id` as Ctrl-C would (SIGINT to its process: it ends
    `interrupted`, what it committed kept, resumable); its process id."""
    live = LiveRun.read(session)
    if live is None or live.run_id != run_id or live.pid <= 0:
        raise UsageError(f"run {run_id} is not running", "it may have ended: see its status")
    os.kill(live.pid, signal.SIGINT)
    return live.pid


def in_progress(session: Session) -> dict[str, Any] | None:
    """The run holding the warehouse, as `in_progress` (None when none runs)."""
    live = LiveRun.read(session)
    return live.in_progress() if live is not None else None
