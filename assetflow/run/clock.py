"""Time, resolved at the edge and passed in everywhere else.

A clock is called for the current time (naive UTC, the form every timestamp is stored in),
and the scheduler asks it for `monotonic()` time and to `sleep()` until a retry is due.
Under `--now T` (drills, tests, docs) runs use a `NoWaitClock`: records keep wall-clock
timestamps, but a retry's backoff passes at once, so a 5-minute backoff is planned and
recorded (`next_retry_at`) without waiting 5 minutes.
"""

from __future__ import annotations

import datetime as dt
import time


def utc_now() -> dt.datetime:
    """Wall-clock time as naive UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Clock:
    """The wall clock."""

    def __call__(self) -> dt.datetime:
        return utc_now()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class NoWaitClock(Clock):
    """The wall clock, except that a wait with nothing else to do passes at once."""

    def __init__(self) -> None:
        self._skipped = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self._skipped

    def sleep(self, seconds: float) -> None:
        self._skipped += max(0.0, seconds)


WALL = Clock()
