"""The run's progress, published beside the warehouse while a run holds it.

Reads during a run answer from the warehouse through the process that holds it
(store/served.py); what the warehouse cannot say yet — which run it is, how many of its
planned nodes settled and how, the first SETTLED_KEPT of them by name — the run publishes in
a small JSON file, replaced atomically at most once a second and removed when the run ends.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from assetflow.core.records import json_value
from assetflow.run.clock import Clock
from assetflow.store.served import alive

SETTLED_KEPT = 5000  # nodes a snapshot names (a second's write stays small)


def snapshot_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".run.json")


class Publisher:
    """Writes the snapshot of one run, throttled to one write a second."""

    def __init__(
        self, warehouse: Path, payload: dict[str, Any], clock: Clock, interval: float = 1.0
    ) -> None:
        self.path = snapshot_path(warehouse)
        self.clock = clock
        self.payload = payload
        self.interval = interval
        self._last = 0.0
        self.payload.setdefault("progress", {})
        self.publish(force=True)

    def advance(self, status: str, asset: str | None = None, partition: str | None = None) -> None:
        """One more node settled; the first SETTLED_KEPT are named, by asset (the page
        shows their states live), the rest only counted."""
        progress = self.payload["progress"]
        progress[status] = progress.get(status, 0) + 1
        settled = self.payload.setdefault("settled", {})
        if asset is not None and sum(progress.values()) <= SETTLED_KEPT:
            settled.setdefault(asset, {})[partition] = status
        self.publish()

    def publish(self, force: bool = False) -> None:
        now = self.clock.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        self.payload["as_of"] = json_value(self.clock())  # ISO 8601, UTC
        temp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        try:
            temp.write_text(json.dumps(self.payload, default=json_value), encoding="utf-8")
            os.replace(temp, self.path)  # readers see the old file or the new one, never half
        except OSError:  # a full disk: readers see the last one; the run goes on
            temp.unlink(missing_ok=True)

    def close(self) -> None:
        self.path.unlink(missing_ok=True)


def read(warehouse: Path) -> dict[str, Any] | None:
    """The snapshot of the run in progress; None if there is none, or if the process that
    published it is gone (killed: its snapshot stays behind, and is not news)."""
    try:
        live = json.loads(snapshot_path(warehouse).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return live if alive(live.get("pid")) else None
