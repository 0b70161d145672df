"""Wall-clock time, resolved at the edge and passed in everywhere else."""

from __future__ import annotations

import datetime as dt


def utc_now() -> dt.datetime:
    """Wall-clock time as naive UTC, the form every timestamp is stored in."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
