"""Time units as plain functions: a partition's integer index, its key, and its bounds.

Every unit numbers its windows with consecutive integers, so ranges and offsets are
arithmetic. Day and coarser units count *local* calendar windows (`day` is the date's
ordinal, `month` is year * 12 + month - 1, ...); `hour` counts UTC hours since 1970, so a
local day with a DST change holds 23 or 25 of them; so do the windows of N minutes (`5min`:
N divides 60, so they tile every hour). Keys:

| unit | key | index |
| --- | --- | --- |
| `Nmin` | `2013-03-15T14:05` (UTC or no zone); `…T02:05+02:00` in a zone | N minutes since 1970 |
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

UNITS = ("hour", "day", "week", "month", "quarter", "year")  # and "Nmin": minutes_unit(N)
EPOCH = dt.datetime(1970, 1, 1)
HOUR = dt.timedelta(hours=1)
MINUTE_STEPS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)  # the steps that tile an hour
_MINUTES = re.compile(r"^(\d+)min$")
_MINUTE_KEY = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})([+-]\d{2}:\d{2})?$")

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


def minutes_unit(every: int) -> str:
    """The unit of windows of `every` minutes: `5min`."""
    if every not in MINUTE_STEPS:
        raise PartitionKeyError(
            f"minutely partitions need a step that divides an hour, got every={every!r}",
            "use one of " + ", ".join(map(str, MINUTE_STEPS)),
        )
    return f"{every}min"


def minutes(unit: str) -> int | None:
    """N of a unit of N minutes (`5min`); None for the others."""
    found = _MINUTES.match(unit)
    return int(found[1]) if found else None


@functools.lru_cache(maxsize=64)
def step(unit: str) -> dt.timedelta | None:
    """The fixed length of a unit counted on the UTC time line (hours, N minutes); None for the
    calendar units (day and coarser), whose length is local."""
    if unit == "hour":
        return HOUR
    every = minutes(unit)
    return None if every is None else dt.timedelta(minutes=every)


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
    if length := step(unit):
        return EPOCH + index * length
    return to_utc(dt.datetime.combine(first_date(unit, index, week_start), dt.time()), tz)


def index_at(unit: str, instant: dt.datetime, tz: ZoneInfo | None, week_start: int = 0) -> int:
    """The index of the window containing the naive UTC `instant`."""
    if length := step(unit):
        return (instant - EPOCH) // length
    return index_of_date(unit, to_local(instant, tz).date(), week_start)


@functools.lru_cache(maxsize=1 << 16)  # every key combination of a multi asset asks again
def key_of(unit: str, index: int, tz: ZoneInfo | None, week_start: int = 0) -> str:
    if length := step(unit):
        instant = EPOCH + index * length
        shown = "%Y-%m-%dT%H" if unit == "hour" else "%Y-%m-%dT%H:%M"
        if tz is None:
            return instant.strftime(shown)
        local = instant.replace(tzinfo=dt.UTC).astimezone(tz)
        offset = local.strftime("%z")
        return f"{local.strftime(shown)}{offset[:3]}:{offset[3:]}"
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


def clock_keys(unit: str, first: int, last: int) -> list[str]:
    """The keys of windows first..last of a unit on the clock, without a zone: a day's prefix
    and the keys' times of day, joined (a status over a million windows makes every key)."""
    length = step(unit)
    assert length is not None
    per_day = dt.timedelta(days=1) // length  # the epoch is a midnight: day = index // per_day
    times = [key_of(unit, i, None)[10:] for i in range(per_day)]
    out: list[str] = []
    index = first
    while index <= last:
        day, slot = divmod(index, per_day)
        upto = min(last, (day + 1) * per_day - 1)
        prefix = (EPOCH + dt.timedelta(days=day)).date().isoformat()
        out.extend([prefix + t for t in times[slot : slot + upto - index + 1]])
        index = upto + 1
    return out


@functools.lru_cache(maxsize=1 << 16)
def index_of_key(unit: str, key: str, tz: ZoneInfo | None, week_start: int = 0) -> int:
    """The index of `key` in `unit`; one clear PartitionKeyError if it is not a valid key."""
    length, every = step(unit), minutes(unit)
    found = (_PATTERNS[unit] if every is None else _MINUTE_KEY).match(key)
    if not found:
        example = EXAMPLES[unit] if every is None else "2013-03-15T14:05"
        raise PartitionKeyError(f"invalid {unit} partition key {key!r}", f"expected e.g. {example}")
    try:
        if length is not None:
            return _clock_index(found, tz, length)
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


def _clock_index(found: re.Match[str], tz: ZoneInfo | None, length: dt.timedelta) -> int:
    """An hour's or N minutes' key's index: its local wall-clock time (the first, if the time
    repeats), or the one its explicit offset names."""
    hour, minute, offset = int(found[2]), 0, found[found.re.groups]
    if found.re is _MINUTE_KEY:
        minute, every = int(found[3]), length // dt.timedelta(minutes=1)
        if minute > 59 or minute % every:
            raise ValueError(f"{found[2]}:{found[3]} does not start a {every}-minute window")
    if hour > 23:
        raise ValueError(f"hour must be in 0..23, got {hour}")
    local = dt.datetime.combine(dt.date.fromisoformat(found[1]), dt.time(hour, minute))
    if offset is None:
        instant = to_utc(local, tz)
        if to_local(instant, tz) != local:
            raise ValueError(f"{local:%Y-%m-%d %H:%M} does not exist in {tz} (a DST change)")
    else:
        sign = 1 if offset[0] == "+" else -1
        instant = local - sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:]))
        if to_local(instant, tz) != local:
            raise ValueError(f"{offset} is not the offset of {tz or 'UTC'} at that time")
    return (instant - EPOCH) // length


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
    if _MINUTE_KEY.match(text):  # a wall-clock minute (not :00); an offset is not needed
        try:
            start = dt.datetime.fromisoformat(text[:16])
            return start, start + dt.timedelta(minutes=1)
        except ValueError as exc:
            raise PartitionKeyError(f"invalid partition key {text!r}: {exc}") from None
    raise PartitionKeyError(
        f"invalid partition key {text!r}",
        "expected e.g. 2013-03-15T14:05, 2013-03-15T14, 2013-03-15, 2013-W11, 2013-03, 2013-Q1"
        " or 2013",
    )


def start_key(start: dt.date | None) -> dt.datetime:
    """A window's start as a naive UTC datetime, so that hours (of any zone), days and
    weeks order together (a date is its midnight)."""
    if start is None:
        return dt.datetime.min
    if isinstance(start, dt.datetime):
        return start.astimezone(dt.UTC).replace(tzinfo=None) if start.tzinfo else start
    return dt.datetime.combine(start, dt.time.min)
