"""Time units as plain functions: a partition's integer index, its key, and its bounds.

Every unit numbers its windows with consecutive integers, so ranges and offsets are
arithmetic. Day and coarser units count *local* calendar windows (`day` is the date's
ordinal, `month` is year * 12 + month - 1, ...); `hour` counts UTC hours since 1970, so a
local day with a DST change holds 23 or 25 of them. Keys:

| unit | key | index |
| --- | --- | --- |
| hour | `2013-03-15T14` (UTC or no zone); `2013-10-27T02+02:00` in a zone | UTC hours since 1970 |
| day | `2013-03-15` | the date's ordinal |
| week | `2013-W11`: the ISO week of the Monday inside it (any first day) | weeks since 0001-01-01 |
| month | `2013-03` | year * 12 + month - 1 |
| quarter | `2013-Q1` | year * 4 + quarter - 1 |
| year | `2013` | the year |
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assetflow.errors import PartitionKeyError

UNITS = ("hour", "day", "week", "month", "quarter", "year")
EPOCH = dt.datetime(1970, 1, 1)
HOUR = dt.timedelta(hours=1)

_PATTERNS = {
    "hour": re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2})(?::00)?([+-]\d{2}:\d{2})?$"),
    "day": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "week": re.compile(r"^(\d{4})-W(\d{2})$"),
    "month": re.compile(r"^(\d{4})-(\d{2})$"),
    "quarter": re.compile(r"^(\d{4})-Q(\d)$"),
    "year": re.compile(r"^(\d{4})$"),
}
EXAMPLES = {
    "hour": "2013-03-15T14",
    "day": "2013-03-15",
    "week": "2013-W11",
    "month": "2013-03",
    "quarter": "2013-Q1",
    "year": "2013",
}


def zone(name: str | None) -> ZoneInfo | None:
    """The zone of a partitioning; None or UTC: no conversion at all."""
    if name is None or name.upper() == "UTC":
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PartitionKeyError(
            f"unknown timezone {name!r}", "use an IANA name like Europe/Berlin"
        ) from None


def to_utc(local: dt.datetime, tz: ZoneInfo | None) -> dt.datetime:
    """A naive local wall-clock time as a naive UTC instant (the first, for a repeated one)."""
    if tz is None:
        return local
    return local.replace(tzinfo=tz).astimezone(dt.UTC).replace(tzinfo=None)


def to_local(instant: dt.datetime, tz: ZoneInfo | None) -> dt.datetime:
    """A naive UTC instant as naive local wall-clock time."""
    if tz is None:
        return instant
    return instant.replace(tzinfo=dt.UTC).astimezone(tz).replace(tzinfo=None)


# -- calendar units (day and coarser): index <-> the local date a window starts on ------------
def index_of_date(unit: str, day: dt.date, week_start: int = 0) -> int:
    """The index of the window containing local date `day`."""
    if unit == "day":
        return day.toordinal()
    if unit == "week":
        return (day.toordinal() - 1 - week_start) // 7  # 0001-01-01 was a Monday
    if unit == "month":
        return day.year * 12 + day.month - 1
    if unit == "quarter":
        return day.year * 4 + (day.month - 1) // 3
    if unit == "year":
        return day.year
    raise ValueError(unit)


def first_date(unit: str, index: int, week_start: int = 0) -> dt.date:
    """The local date the window `index` starts on."""
    if unit == "day":
        return dt.date.fromordinal(index)
    if unit == "week":
        return dt.date.fromordinal(index * 7 + 1 + week_start)
    if unit == "month":
        return dt.date(index // 12, index % 12 + 1, 1)
    if unit == "quarter":
        return dt.date(index // 4, index % 4 * 3 + 1, 1)
    if unit == "year":
        return dt.date(index, 1, 1)
    raise ValueError(unit)


# -- every unit: index <-> UTC instants and keys -------------------------------------------
def start_utc(unit: str, index: int, tz: ZoneInfo | None, week_start: int = 0) -> dt.datetime:
    """When window `index` starts, as a naive UTC instant."""
    if unit == "hour":
        return EPOCH + index * HOUR
    return to_utc(dt.datetime.combine(first_date(unit, index, week_start), dt.time()), tz)


def index_at(unit: str, instant: dt.datetime, tz: ZoneInfo | None, week_start: int = 0) -> int:
    """The index of the window containing the naive UTC `instant`."""
    if unit == "hour":
        return (instant - EPOCH) // HOUR
    return index_of_date(unit, to_local(instant, tz).date(), week_start)


@functools.lru_cache(maxsize=1 << 16)  # every key combination of a multi asset asks again
def key_of(unit: str, index: int, tz: ZoneInfo | None, week_start: int = 0) -> str:
    if unit == "hour":
        instant = EPOCH + index * HOUR
        if tz is None:
            return f"{instant:%Y-%m-%dT%H}"
        local = instant.replace(tzinfo=dt.UTC).astimezone(tz)
        offset = local.strftime("%z")
        return f"{local:%Y-%m-%dT%H}{offset[:3]}:{offset[3:]}"
    day = first_date(unit, index, week_start)
    if unit == "day":
        return day.isoformat()
    if unit == "week":
        year, week, _ = (day + dt.timedelta(days=(7 - day.weekday()) % 7)).isocalendar()
        return f"{year}-W{week:02d}"
    if unit == "month":
        return f"{day.year:04d}-{day.month:02d}"
    if unit == "quarter":
        return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year:04d}"


@functools.lru_cache(maxsize=1 << 16)
def index_of_key(unit: str, key: str, tz: ZoneInfo | None, week_start: int = 0) -> int:
    """The index of `key` in `unit`; one clear PartitionKeyError if it is not a valid key."""
    found = _PATTERNS[unit].match(key)
    if not found:
        raise PartitionKeyError(
            f"invalid {unit} partition key {key!r}", f"expected e.g. {EXAMPLES[unit]}"
        )
    try:
        if unit == "hour":
            return _hour_index(found, tz)
        if unit == "day":
            return index_of_date(unit, dt.date.fromisoformat(key))
        if unit == "week":
            monday = dt.date.fromisocalendar(int(found[1]), int(found[2]), 1)
            return index_of_date(unit, monday, week_start)
        if unit == "month":
            return index_of_date(unit, dt.date(int(found[1]), int(found[2]), 1))
        if unit == "quarter":
            if not 1 <= int(found[2]) <= 4:
                raise ValueError("quarter must be in 1..4")
            return int(found[1]) * 4 + int(found[2]) - 1
        return int(found[1])
    except ValueError as exc:
        raise PartitionKeyError(f"invalid {unit} partition key {key!r}: {exc}") from None


def _hour_index(found: re.Match[str], tz: ZoneInfo | None) -> int:
    """An hour key's index: its local wall-clock hour (the first, if the hour repeats),
    or the one its explicit offset names."""
    hour = int(found[2])
    if hour > 23:
        raise ValueError(f"hour must be in 0..23, got {hour}")
    local = dt.datetime.combine(dt.date.fromisoformat(found[1]), dt.time(hour))
    if found[3] is None:
        instant = to_utc(local, tz)
        if to_local(instant, tz) != local:
            raise ValueError(f"{local:%Y-%m-%d %H:00} does not exist in {tz} (a DST change)")
    else:
        sign = 1 if found[3][0] == "+" else -1
        instant = local - sign * dt.timedelta(hours=int(found[3][1:3]), minutes=int(found[3][4:]))
        if to_local(instant, tz) != local:
            raise ValueError(f"{found[3]} is not the offset of {tz or 'UTC'} at that hour")
    return (instant - EPOCH) // HOUR


def key_span(text: str) -> tuple[dt.datetime, dt.datetime]:
    """A key of any unit, `2013-03-15T14` to `2013`, as the local half-open [start, end)
    it covers (naive): what `--from`/`--to` accept for any partitioning."""
    text = str(text).strip()
    for unit in UNITS:
        if _PATTERNS[unit].match(text):
            if unit == "hour":  # local wall-clock time: an offset, if any, is not needed
                start = EPOCH + index_of_key(unit, text[:13], None) * HOUR
                return start, start + HOUR
            index = index_of_key(unit, text, None)
            start = dt.datetime.combine(first_date(unit, index), dt.time())
            return start, dt.datetime.combine(first_date(unit, index + 1), dt.time())
    raise PartitionKeyError(
        f"invalid partition key {text!r}",
        "expected e.g. 2013-03-15T14, 2013-03-15, 2013-W11, 2013-03, 2013-Q1 or 2013",
    )


def start_key(start: dt.date | None) -> dt.datetime:
    """A window's start as a naive UTC datetime, so that hours (of any zone), days and
    weeks order together (a date is its midnight)."""
    if start is None:
        return dt.datetime.min
    if isinstance(start, dt.datetime):
        return start.astimezone(dt.UTC).replace(tzinfo=None) if start.tzinfo else start
    return dt.datetime.combine(start, dt.time.min)
