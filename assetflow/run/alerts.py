"""Alerts: firing hooks, and the built-in Slack-compatible webhook. What hooks receive
(Failure, RunSummary, SlaMiss) are records in core/alerts.py."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import queue
import threading
import urllib.error
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("assetflow.alerts")


ALERT_CAP = 30.0  # seconds a run's end waits for its alerts to be delivered, in all


def webhook(env_var: str = "ASSETFLOW_WEBHOOK_URL", timeout: float = 5.0) -> Callable:
    """A hook that posts `{"text": event.text, "event": kind, "fields": {...}}` to the URL in
    `env_var` (read when it fires, never logged). Slack reads `text`; scripts read `fields`.
    Works as any hook: on_failure, on_run_end, on_run_failure, on_sla_miss."""

    def post(event: Any) -> None:
        url = os.environ.get(env_var)
        if not url:
            raise RuntimeError(f"webhook alert: environment variable {env_var} is not set")
        dataclass = dataclasses.is_dataclass(event) and not isinstance(event, type)
        fields = dataclasses.asdict(event) if dataclass else {}
        payload = {"text": event.text, "event": type(event).__name__, "fields": fields}
        body = json.dumps(payload, default=str).encode()
        import urllib.request  # only when an alert fires: it costs ~25 ms to import

        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()

    post.__name__ = f"webhook({env_var})"
    return post


def _reason(exc: Exception) -> str:
    """What went wrong, without the URL (urllib's messages can carry it)."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc)


def fire(
    hooks: Iterable[Callable],
    event: object,
    logger: logging.Logger,
    silent: dict[str, int] | None = None,
) -> list[str]:
    """Call every hook; a failing hook is logged and never raises. Returns the failures.
    `silent`: hooks that timed out (by name) and how many of their alerts were skipped since;
    a hook that times out joins it, and is not called again."""
    problems = []
    for hook in hooks:
        name = getattr(hook, "__name__", repr(hook))
        if silent is not None and name in silent:
            silent[name] += 1
            continue
        try:
            hook(event)
        except Exception as exc:  # an alert must never fail the run
            problems.append(f"alert hook {name} failed: {type(exc).__name__}: {_reason(exc)}")
            logger.warning(problems[-1])
            if silent is not None and _timed_out(exc):
                silent[name] = 0
    return problems


def _timed_out(exc: Exception) -> bool:
    """An endpoint that did not answer in time (not one that answered with an error)."""
    reason = getattr(exc, "reason", None) if isinstance(exc, urllib.error.URLError) else exc
    return isinstance(reason, TimeoutError)


class Deliveries:
    """Hooks called on a thread of their own, in order, so that a slow or silent endpoint
    never holds up scheduling. `close(cap)` waits for what is queued at most `cap` seconds
    in all and returns, one line each, the hooks that failed and what was not delivered."""

    def __init__(self, limit: int = 1000, silent: dict[str, int] | None = None) -> None:
        """`silent`: hooks that timed out, shared by a run's deliveries (the run's failures
        and its end): an endpoint that timed out once in a run is not tried again in it."""
        self.silent = {} if silent is None else silent
        self._queue: queue.Queue[tuple[Iterable[Callable], object, logging.Logger] | None]
        self._queue = queue.Queue(maxsize=limit)
        self._problems: list[str] = []
        self._thread: threading.Thread | None = None
        self._dropped = 0

    def submit(self, hooks: Iterable[Callable], event: object, logger: logging.Logger) -> None:
        hooks = tuple(hooks)
        if not hooks:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._deliver, daemon=True, name="alerts")
            self._thread.start()
        try:
            self._queue.put_nowait((hooks, event, logger))
        except queue.Full:
            self._dropped += 1

    def close(self, cap: float) -> list[str]:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=cap)
            if self._thread.is_alive():
                left = self._queue.qsize()
                self._problems.append(
                    f"alerts: {left + 1} not delivered within {cap:g}s (an endpoint is not"
                    " answering)"
                )
        if self._dropped:
            self._problems.append(f"alerts: {self._dropped} dropped (more than the queue holds)")
        for name, skipped in self.silent.items():
            if skipped:
                self._problems.append(
                    f"alert hook {name} timed out: {skipped} later alert"
                    f"{'s' if skipped > 1 else ''} of this run not sent to it"
                )
                self.silent[name] = 0  # said once
        return list(self._problems)

    def _deliver(self) -> None:
        while (item := self._queue.get()) is not None:
            hooks, event, logger = item
            self._problems += fire(hooks, event, logger, self.silent)
