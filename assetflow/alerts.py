"""Alerts: what a failure hook receives, and the built-in Slack-compatible webhook."""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger("assetflow.alerts")


@dataclass(frozen=True)
class Failure:
    """One node that failed after its final attempt."""

    asset: str
    partition: str
    run_id: str
    attempts: int
    error: str  # "ConnectionError: upstream timed out"
    log_path: str | None

    @property
    def text(self) -> str:
        where = f" — log: {self.log_path}" if self.log_path else ""
        plural = "attempt" if self.attempts == 1 else "attempts"
        return (
            f"{self.asset}[{self.partition}] failed in run {self.run_id} after "
            f"{self.attempts} {plural}: {self.error}{where}"
        )


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    status: str  # success | partial | failed | interrupted
    materialized: int
    verified: int
    failed: int
    not_run: int
    errors: tuple[str, ...]  # one line per failed node

    @property
    def text(self) -> str:
        head = (
            f"run {self.run_id} {self.status}: {self.materialized} materialized, "
            f"{self.verified} verified, {self.failed} failed, {self.not_run} not run"
        )
        return "\n".join([head, *self.errors[:10]])


def webhook(env_var: str = "ASSETFLOW_WEBHOOK_URL", timeout: float = 5.0) -> Callable:
    """A hook that posts `{"text": event.text}` to the URL in `env_var` (read when it fires,
    never logged). Works as on_failure and on_run_end hook alike."""

    def post(event: Failure | RunSummary) -> None:
        url = os.environ.get(env_var)
        if not url:
            raise RuntimeError(f"webhook alert: environment variable {env_var} is not set")
        body = json.dumps({"text": event.text}).encode()
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


def fire(hooks: Iterable[Callable], event: object, logger: logging.Logger) -> list[str]:
    """Call every hook; a failing hook is logged and never raises. Returns the failures."""
    problems = []
    for hook in hooks:
        try:
            hook(event)
        except Exception as exc:  # an alert must never fail the run
            name = getattr(hook, "__name__", repr(hook))
            problems.append(f"alert hook {name} failed: {type(exc).__name__}: {_reason(exc)}")
            logger.warning(problems[-1])
    return problems
