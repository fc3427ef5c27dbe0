"""Times of the article and of the crawl: the one Taipei time zone and the one duration parser."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

# Both sites publish in Taipei time (no daylight saving since 1979): naive times they show are this.
TAIPEI = ZoneInfo("Asia/Taipei")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class DurationError(ValueError):
    """A duration cannot be understood; str() is a one-line explanation."""


def parse_duration(value: str | int | float, name: str = "duration", *, positive: bool = False,
                   unit_required: bool = False) -> timedelta:
    """`48h`, `90m`, `2d`, `30s`, `1.5h` or a plain number of seconds; `positive` refuses 0 and
    `unit_required` a number without its unit (where a bare number could be read as minutes)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not unit_required:
        seconds = float(value)
    else:
        match = _DURATION.match(value) if isinstance(value, str) else None
        if not match or (unit_required and not match.group(2)):
            unit = "a unit" if unit_required else "an optional unit"
            raise DurationError(f"{name} must be a number with {unit} s, m, h or d (e.g. 10m, 48h), got {value!r}")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 0:
        raise DurationError(f"{name} must not be negative, got {value!r}")
    if positive and seconds == 0:
        raise DurationError(f"{name} must be longer than 0, got {value!r}")
    return timedelta(seconds=seconds)


def iso(moment: datetime) -> str:
    """ISO 8601 with seconds and offset; a naive time is Taipei local time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=TAIPEI)
    return moment.isoformat(timespec="seconds")


def parse_iso(value: str | None) -> datetime | None:
    """A page's ISO 8601 time (`Z` and minutes-only forms accepted; no offset: Taipei); None when
    absent or malformed. Tolerant, for extraction; see `parse_time` for the article's own times."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=TAIPEI)


def parse_time(value: str) -> datetime:
    """An article time: ISO 8601 with a UTC offset, as an aware datetime; ValueError otherwise."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return moment


def same_instant(a: str, b: str) -> bool:
    """Whether two article times name the same instant (False when either is not a valid time)."""
    try:
        return parse_time(a) == parse_time(b)
    except ValueError:
        return False
