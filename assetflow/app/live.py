"""Answering while another process runs: the one query every read uses.

DuckDB lets no other process open a file one process holds read-write. The process that
holds it publishes its run beside the warehouse (run/snapshot.py); `answer_now_or_live` asks
a question of the warehouse and, while a run holds it, returns that run's `LiveRun` instead,
so each read says what it shows then (status and runs as of the run's start, its progress).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from assetflow.app.session import Session
from assetflow.errors import WarehouseLockedError
from assetflow.run import snapshot

T = TypeVar("T")


@dataclass(frozen=True)
class LiveRun:
    """What the process holding the warehouse last published about its run."""

    run_id: str
    pid: int
    started_at: str | None
    as_of: str  # ISO 8601, when it published this
    planned: int | None
    progress: dict[str, int]  # settled nodes by how: {"success": 12, "failed": 1}
    status: dict[str, Any] = field(repr=False)  # `status --json` as of the run's start
    runs: tuple[dict[str, Any], ...] = field(repr=False)  # the latest runs, as `runs --json`
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
            live.get("status") or {"assets": [], "nodes": []}, tuple(live.get("runs") or ()),
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

    def latest_runs(
        self, limit: int, status: str | None = None, trigger: str | None = None
    ) -> list[dict[str, Any]]:
        return [
            r
            for r in self.runs
            if status in (None, r["status"]) and trigger in (None, r["trigger"])
        ][:limit]


def answer_now_or_live(session: Session, ask: Callable[[], T]) -> T | LiveRun:
    """ask() of the warehouse now; while another process holds it, that process's run; the
    lock error itself if it published none."""
    try:
        return ask()
    except WarehouseLockedError:
        live = LiveRun.read(session)
        if live is None:
            raise
        return live
