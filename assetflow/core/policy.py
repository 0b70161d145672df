"""Retry policy and project-wide defaults: declared once, inherited, overridden per asset.

Transient errors are retried with exponential backoff and jitter; data errors never are.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from assetflow.errors import DataError, DefinitionError, StorageError

Jitter = Literal["full", "proportional", "none"]


@dataclass(frozen=True)
class RetryPolicy:
    """`max_retries` more attempts after the first; the n-th retry waits
    delay * backoff ** (n - 1), capped at max_delay (default: no cap), then jitter: `full`
    draws uniformly from [0, that], `proportional` from that +/- `jitter_ratio`, `none`
    waits exactly that."""

    max_retries: int = 0
    delay: float = 1.0
    backoff: float = 2.0
    max_delay: float | None = None  # no cap
    jitter: Jitter = "full"
    jitter_ratio: float = 0.2

    def __post_init__(self) -> None:
        problems = [
            "max_retries must be >= 0" if self.max_retries < 0 else "",
            "delay must be >= 0" if self.delay < 0 else "",
            "backoff must be >= 1" if self.backoff < 1 else "",
            "max_delay must be >= delay"
            if self.max_delay is not None and self.max_delay < self.delay
            else "",
            "jitter must be full, proportional or none"
            if self.jitter not in ("full", "proportional", "none")
            else "",
            "jitter_ratio must be in [0, 1]" if not 0 <= self.jitter_ratio <= 1 else "",
        ]
        problem = next((p for p in problems if p), None)
        if problem:
            raise DefinitionError(f"invalid RetryPolicy: {problem}")

    @property
    def attempts(self) -> int:
        return self.max_retries + 1

    def base_delay(self, retry: int) -> float:
        """The delay before retry number `retry` (1-based), before jitter."""
        planned = self.delay * self.backoff ** (retry - 1)
        return planned if self.max_delay is None else min(self.max_delay, planned)

    def delay_before(self, retry: int, rng: random.Random) -> float:
        base = self.base_delay(retry)
        if self.jitter == "full":
            return rng.uniform(0, base)
        if self.jitter == "proportional":
            return base * rng.uniform(1 - self.jitter_ratio, 1 + self.jitter_ratio)
        return base


NO_RETRY = RetryPolicy()


def retryable(error: BaseException, retry_on: Sequence[type[BaseException]] | None) -> bool:
    """Whether an attempt that raised `error` may be tried again. The executor has already
    turned the engine's data errors (conversion, constraint) into DataError."""
    if isinstance(error, DataError | DefinitionError | StorageError):
        return False
    if retry_on:
        return isinstance(error, tuple(retry_on))
    return isinstance(error, Exception)


Hook = Callable[[Any], None]


@dataclass(frozen=True)
class Defaults:
    """Project-wide defaults; declare one in any definitions module:

    defaults = project_defaults(retry=RetryPolicy(max_retries=3, delay=300),
                                on_failure=[webhook("ASSETFLOW_WEBHOOK_URL")])
    """

    retry: RetryPolicy = NO_RETRY
    on_failure: tuple[Hook, ...] = field(default=(), compare=False)
    on_run_end: tuple[Hook, ...] = field(default=(), compare=False)
    on_run_failure: tuple[Hook, ...] = field(default=(), compare=False)
    on_sla_miss: tuple[Hook, ...] = field(default=(), compare=False)


def project_defaults(
    *,
    retry: RetryPolicy | None = None,
    on_failure: Sequence[Hook] = (),
    on_run_end: Sequence[Hook] = (),
    on_run_failure: Sequence[Hook] = (),
    on_sla_miss: Sequence[Hook] = (),
) -> Defaults:
    """`on_failure`: each node failed after its final attempt (a `Failure`); `on_run_end`:
    every run's `RunSummary`; `on_run_failure`: the summary of a run that did not succeed;
    `on_sla_miss`: each late node (an `SlaMiss`)."""
    for hook in (*on_failure, *on_run_end, *on_run_failure, *on_sla_miss):
        if not callable(hook):
            raise DefinitionError(f"project_defaults: hook {hook!r} is not callable")
    return Defaults(
        retry or NO_RETRY,
        tuple(on_failure),
        tuple(on_run_end),
        tuple(on_run_failure),
        tuple(on_sla_miss),
    )
