"""ISO-8601 instants, intervals and durations as the analytics API takes them, and bucket layout.

Times inside the simulator are integer epoch milliseconds. Buckets are laid out from the start
of the interval: calendar parts of a granularity (years, months, weeks, days) step on the
query zone's wall clock, so a P1D bucket spans 23 or 25 hours across a DST change; clock parts
(hours, minutes, seconds) are exact durations. The last bucket ends with the interval, shorter
than the granularity when that does not divide the interval (what the service does then is not
documented; data outside the interval is never counted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)

_INSTANT = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$"
)
_DURATION = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d{1,3})?)S)?)?$"
)


def parse_instant(text: str) -> datetime | None:
    """An ISO-8601 date-time with an explicit offset (`Z` or `+01:00`), or None."""
    m = _INSTANT.match(text)
    if not m:
        return None
    base, frac, zone = m.groups()
    frac = (frac or "")[:7]  # datetime keeps microseconds; the API works in milliseconds
    zone = "+00:00" if zone == "Z" else zone
    if len(zone) == 5:
        zone = zone[:3] + ":" + zone[3:]
    try:
        return datetime.fromisoformat(base + frac + zone)
    except ValueError:
        return None


def to_ms(moment: datetime) -> int:
    return (moment - EPOCH) // MS


def format_ms(ms: int) -> str:
    """UTC with milliseconds and `Z`, the way the API writes intervals."""
    return (EPOCH + ms * MS).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def format_interval(lo: int, hi: int) -> str:
    return f"{format_ms(lo)}/{format_ms(hi)}"


def parse_interval(text: str) -> tuple[datetime, datetime] | None:
    """`start/end`, both instants with offsets; None when the text is not that shape."""
    start_text, sep, end_text = text.partition("/")
    if not sep:
        return None
    start, end = parse_instant(start_text.strip()), parse_instant(end_text.strip())
    if start is None or end is None:
        return None
    return start, end


@dataclass(frozen=True, slots=True)
class Duration:
    """An ISO-8601 duration: a calendar part (laid out in the query's zone) and an exact part."""

    months: int
    days: int
    exact: timedelta

    def is_zero(self) -> bool:
        return not self.months and not self.days and not self.exact


def parse_duration(text: str) -> Duration | None:
    m = _DURATION.match(text)
    if not m or text.endswith("T") or text == "P":
        return None
    years, months, weeks, days, hours, minutes, seconds = m.groups()
    duration = Duration(
        months=int(years or 0) * 12 + int(months or 0),
        days=int(weeks or 0) * 7 + int(days or 0),
        exact=timedelta(
            hours=int(hours or 0), minutes=int(minutes or 0), seconds=float(seconds or 0)
        ),
    )
    return None if duration.is_zero() else duration


def _add_months(moment: datetime, months: int) -> datetime:
    total = moment.year * 12 + moment.month - 1 + months
    year, month0 = divmod(total, 12)
    month = month0 + 1
    # Clamp to the month's last day, as calendars do (Jan 31 + P1M = Feb 28).
    first_of_next = datetime(year + month // 12, month % 12 + 1, 1)
    last_day = (first_of_next - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def add_duration(start: datetime, duration: Duration, times: int, zone: ZoneInfo) -> datetime:
    """`start + times * duration`, calendar parts on the zone's wall clock."""
    moment = start
    if duration.months or duration.days:
        wall = start.astimezone(zone).replace(tzinfo=None)
        wall = _add_months(wall, duration.months * times) + timedelta(days=duration.days * times)
        moment = wall.replace(tzinfo=zone)
    return moment.astimezone(UTC) + duration.exact * times


def bucket_bounds(
    start: datetime, end: datetime, duration: Duration, zone: ZoneInfo, limit: int
) -> list[int]:
    """Bucket boundaries in ms from start to end; the last one is `end`. Raises OverflowError
    past `limit` buckets."""
    bounds = [to_ms(start)]
    end_ms = to_ms(end)
    i = 1
    while bounds[-1] < end_ms:
        if i > limit:
            raise OverflowError(i)
        bounds.append(min(end_ms, to_ms(add_duration(start, duration, i, zone))))
        i += 1
    return bounds
