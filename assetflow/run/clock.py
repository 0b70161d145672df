"""Time, resolved once at the edge (the CLI) and passed down: the only module that reads it.

A clock gives timestamps (`clock()`, naive UTC, the form every timestamp is stored in),
monotonic time for durations and waits, and `sleep()` until a retry is due.

- `WallClock`: the machine's time.
- `NoWaitClock` (`--now T`: drills, tests, docs): the machine's time, except that a wait
  with nothing else to do (a retry's backoff) passes at once and moves the clock on, so a
  5-minute backoff is planned and recorded without waiting 5 minutes. T itself is the
  command's *logical* now (which partitions exist, what is due, what is late), not a
  timestamp: a run records when it really happened, as Airflow records a DAG run's start
  apart from its logical date.
- `FixedClock(T)`: starts at T and advances with the real time that passes, waits skipped:
  for tests and simulations that want every recorded timestamp to derive from T.
"""

from __future__ import annotations

import datetime as dt
import time


class Clock:
    """The interface every layer above the core receives; the wall clock by default."""

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


WallClock = Clock


class NoWaitClock(Clock):
    """The wall clock, except that a wait with nothing else to do passes at once."""

    def __init__(self) -> None:
        self._skipped = 0.0

    def __call__(self) -> dt.datetime:
        return super().__call__() + dt.timedelta(seconds=self._skipped)

    def monotonic(self) -> float:
        return time.monotonic() + self._skipped

    def sleep(self, seconds: float) -> None:
        self._skipped += max(0.0, seconds)


class FixedClock(Clock):
    """Time from a given start, advancing with elapsed (and skipped) time."""

    def __init__(self, start: dt.datetime) -> None:
        self.start = start
        self._origin = time.monotonic()
        self._skipped = 0.0

    def __call__(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.monotonic() - self._origin)

    def monotonic(self) -> float:
        return time.monotonic() + self._skipped

    def sleep(self, seconds: float) -> None:
        self._skipped += max(0.0, seconds)
