"""The `interval` an aggregate query asks for. Pure: `now` comes in as an argument.

Sliding: [now - delay - window, now - delay). Today: from local midnight of the day that contains
now - delay, in the query's time zone, to now - delay. Midnight is found by wall-clock date in
the zone, so DST changes (a 23 h or 25 h day, or a zone whose midnight is skipped) still give the
right instant, and the interval is never empty or inverted.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from poller.config.model import QueryConfig

# Genesys rejects an empty interval; at 00:00:00.000 exactly we ask for the first second.
MIN_SPAN = timedelta(seconds=1)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.astimezone(UTC).microsecond // 1000:03d}Z"
    )


def local_midnight(moment: datetime, zone: ZoneInfo) -> datetime:
    """The first instant of the calendar day (in `zone`) that contains `moment`."""
    local = moment.astimezone(zone)
    # fold=0 resolves an ambiguous midnight (DST ending at 00:00) to its first occurrence, and a
    # midnight that does not exist (DST starting at 00:00) to the instant the day really starts.
    return datetime.combine(local.date(), time(0, 0), tzinfo=zone).astimezone(UTC)


def utc_ms(moment: float) -> datetime:
    """`moment` (Unix seconds) in UTC, cut to whole milliseconds: the interval format carries no
    more, and rounding an end down keeps start < end after the start is rounded too."""
    at = datetime.fromtimestamp(moment, UTC)
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def window_bounds(query: QueryConfig, now: float) -> tuple[datetime, datetime]:
    end = utc_ms(now - query.delay)
    if query.window.today:
        start = local_midnight(end, ZoneInfo(query.time_zone))
    else:
        start = end - timedelta(seconds=query.window.seconds)
    if end - start < MIN_SPAN:
        end = start + MIN_SPAN
    return start, end


def interval(query: QueryConfig, now: float) -> str:
    """The ISO-8601 `start/end` string for the query's window at `now`."""
    start, end = window_bounds(query, now)
    return f"{iso(start)}/{iso(end)}"
