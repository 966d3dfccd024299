"""The aggregate query interval: sliding windows, `today` across DST, delay, exact ISO strings."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poller.config.model import QueryConfig, Window
from poller.windows import interval, window_bounds

ISO_INTERVAL = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"
)
# Zones whose days are not always 24 h long, or whose midnight is skipped or repeated.
TRICKY_ZONES = [
    "UTC",
    "Europe/Dublin",  # negative DST in tzdata: winter is the "summer" offset
    "America/Santiago",  # DST starts at midnight: 00:00 does not exist
    "America/Havana",  # DST ends at 01:00 -> 00:00: midnight happens twice
    "America/Asuncion",
    "Asia/Beirut",  # DST ends at 00:00 -> 23:00
    "Australia/Lord_Howe",  # 30-minute DST
    "Pacific/Apia",  # skipped 2011-12-30 entirely
    "Pacific/Chatham",
    "Africa/Casablanca",  # DST suspended for Ramadan
    "Asia/Kathmandu",
    "America/St_Johns",
]


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def today(zone: str, delay: float = 0.0) -> QueryConfig:
    return QueryConfig(
        "q", "aggregate", 60.0, ("nFlow",), Window(today=True), time_zone=zone, delay=delay
    )


def sliding(seconds: float, delay: float = 0.0) -> QueryConfig:
    return QueryConfig(
        "q", "aggregate", 60.0, ("nFlow",), Window(today=False, seconds=seconds), delay=delay
    )


# -- sliding -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "seconds", "delay", "expected"),
    [
        ("2026-05-17T06:40:00Z", 900, 0, "2026-05-17T06:25:00.000Z/2026-05-17T06:40:00.000Z"),
        ("2026-05-17T06:40:00Z", 900, 120, "2026-05-17T06:23:00.000Z/2026-05-17T06:38:00.000Z"),
        ("2026-05-17T00:10:00Z", 3600, 0, "2026-05-16T23:10:00.000Z/2026-05-17T00:10:00.000Z"),
        ("2026-05-17T06:40:00.123456Z", 60, 0, "2026-05-17T06:39:00.123Z/2026-05-17T06:40:00.123Z"),
        (
            "2026-05-17T06:40:00.999999Z",
            1.5,
            0.25,
            "2026-05-17T06:39:59.249Z/2026-05-17T06:40:00.749Z",
        ),
    ],
    ids=["15m", "15m-delay-2m", "across-midnight", "millis-kept", "sub-second"],
)
def test_sliding_window_exact_strings(
    now: str, seconds: float, delay: float, expected: str
) -> None:
    """A sliding window is [now - delay - window, now - delay), to the millisecond, in UTC."""
    assert interval(sliding(seconds, delay), ts(now)) == expected


# -- today -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "now", "expected"),
    [
        ("UTC", "2026-05-17T06:40:00Z", "2026-05-17T00:00:00.000Z/2026-05-17T06:40:00.000Z"),
        # Irish summer time (UTC+1): the local day began at 23:00 UTC the evening before.
        (
            "Europe/Dublin",
            "2026-05-17T06:40:00Z",
            "2026-05-16T23:00:00.000Z/2026-05-17T06:40:00.000Z",
        ),
        (
            "Europe/Dublin",
            "2026-01-15T06:40:00Z",
            "2026-01-15T00:00:00.000Z/2026-01-15T06:40:00.000Z",
        ),
        (
            "Asia/Kathmandu",
            "2026-05-17T06:40:00Z",
            "2026-05-16T18:15:00.000Z/2026-05-17T06:40:00.000Z",
        ),
        (
            "America/St_Johns",
            "2026-01-15T06:40:00Z",
            "2026-01-15T03:30:00.000Z/2026-01-15T06:40:00.000Z",
        ),
    ],
    ids=["utc", "dublin-summer", "dublin-winter", "kathmandu-5h45", "st-johns-minus-3h30"],
)
def test_today_starts_at_local_midnight(zone: str, now: str, expected: str) -> None:
    """`today` runs from local midnight in the query's time zone to now."""
    assert interval(today(zone), ts(now)) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Spring forward, 2025-03-30: 01:00 GMT -> 02:00 IST, a 23-hour day starting 00:00 UTC.
        ("2025-03-30T00:30:00Z", "2025-03-30T00:00:00.000Z/2025-03-30T00:30:00.000Z"),
        ("2025-03-30T01:30:00Z", "2025-03-30T00:00:00.000Z/2025-03-30T01:30:00.000Z"),
        ("2025-03-30T22:59:59.999Z", "2025-03-30T00:00:00.000Z/2025-03-30T22:59:59.999Z"),
        ("2025-03-31T06:00:00Z", "2025-03-30T23:00:00.000Z/2025-03-31T06:00:00.000Z"),
        # Fall back, 2025-10-26: 02:00 IST -> 01:00 GMT, a 25-hour day starting 23:00 UTC.
        ("2025-10-26T00:30:00Z", "2025-10-25T23:00:00.000Z/2025-10-26T00:30:00.000Z"),
        ("2025-10-26T01:30:00Z", "2025-10-25T23:00:00.000Z/2025-10-26T01:30:00.000Z"),
        ("2025-10-26T23:59:59Z", "2025-10-25T23:00:00.000Z/2025-10-26T23:59:59.000Z"),
        ("2025-10-27T08:00:00Z", "2025-10-27T00:00:00.000Z/2025-10-27T08:00:00.000Z"),
    ],
    ids=[
        "spring-before",
        "spring-after",
        "spring-last-ms",
        "spring-next-day",
        "fall-first-0130",
        "fall-second-0130",
        "fall-25h",
        "fall-next-day",
    ],
)
def test_today_in_dublin_across_dst(now: str, expected: str) -> None:
    """Europe/Dublin's 23-hour and 25-hour days start at their real local midnight."""
    assert interval(today("Europe/Dublin"), ts(now)) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # 2024-09-08: 00:00 -04 jumps to 01:00 -03, so the day starts at 01:00 local = 04:00Z.
        ("2024-09-08T12:00:00Z", "2024-09-08T04:00:00.000Z/2024-09-08T12:00:00.000Z"),
        ("2024-09-08T03:59:59Z", "2024-09-07T04:00:00.000Z/2024-09-08T03:59:59.000Z"),
        # 2024-04-06 24:00 -03 goes back to 23:00 -04: 23:xx happens twice, a 25-hour day.
        ("2024-04-07T02:30:00Z", "2024-04-06T03:00:00.000Z/2024-04-07T02:30:00.000Z"),
        ("2024-04-07T03:30:00Z", "2024-04-06T03:00:00.000Z/2024-04-07T03:30:00.000Z"),
        ("2024-04-07T12:00:00Z", "2024-04-07T04:00:00.000Z/2024-04-07T12:00:00.000Z"),
    ],
    ids=["skipped-midnight", "day-before", "fall-first-2330", "fall-second-2330", "fall-next"],
)
def test_today_in_santiago_where_midnight_is_skipped(now: str, expected: str) -> None:
    """America/Santiago's day without a midnight starts at the instant its clocks jump."""
    assert interval(today("America/Santiago"), ts(now)) == expected


@pytest.mark.parametrize(
    ("zone", "now", "expected"),
    [
        (
            "Europe/Dublin",
            "2025-03-30T23:00:00Z",
            "2025-03-30T23:00:00.000Z/2025-03-30T23:00:01.000Z",
        ),
        (
            "America/Santiago",
            "2024-09-08T04:00:00Z",
            "2024-09-08T04:00:00.000Z/2024-09-08T04:00:01.000Z",
        ),
        ("UTC", "2025-10-27T00:00:00.500Z", "2025-10-27T00:00:00.000Z/2025-10-27T00:00:01.000Z"),
    ],
    ids=["dublin-midnight", "santiago-jump", "utc-half-second"],
)
def test_today_at_midnight_is_never_empty(zone: str, now: str, expected: str) -> None:
    """In the first second of a day the interval is that whole second, never empty."""
    assert interval(today(zone), ts(now)) == expected


def test_today_on_the_day_after_a_skipped_day() -> None:
    """Pacific/Apia skipped 2011-12-30: the 31st starts where the 29th ended."""
    query = today("Pacific/Apia")
    assert interval(query, ts("2011-12-30T09:59:00Z")) == (
        "2011-12-29T10:00:00.000Z/2011-12-30T09:59:00.000Z"
    )
    assert interval(query, ts("2011-12-30T12:00:00Z")) == (
        "2011-12-30T10:00:00.000Z/2011-12-30T12:00:00.000Z"
    )


def test_delay_moves_today_back_to_the_previous_day() -> None:
    """A delay that reaches back past midnight asks for the whole previous local day so far."""
    query = today("Europe/Dublin", delay=120)
    # 00:01 IST on 17 May; two minutes earlier it was still 16 May.
    assert interval(query, ts("2026-05-16T23:01:00Z")) == (
        "2026-05-15T23:00:00.000Z/2026-05-16T22:59:00.000Z"
    )
    assert interval(query, ts("2026-05-16T23:03:00Z")) == (
        "2026-05-16T23:00:00.000Z/2026-05-16T23:01:00.000Z"
    )


# -- properties --------------------------------------------------------------------------------

MOMENTS = st.floats(min_value=ts("2000-01-01T00:00:00Z"), max_value=ts("2037-12-31T00:00:00Z"))
DELAYS = st.sampled_from([0.0, 0.5, 59.0, 300.0, 3600.0, 7200.5])


@settings(max_examples=400, deadline=None)
@given(zone=st.sampled_from(TRICKY_ZONES), now=MOMENTS, delay=DELAYS)
def test_today_is_never_empty_and_starts_at_the_first_instant_of_the_day(
    zone: str, now: float, delay: float
) -> None:
    """For any moment and zone, `today` starts at the first instant of now-delay's local day."""
    tz = ZoneInfo(zone)
    start, end = window_bounds(today(zone, delay), now)
    assert start < end
    assert ISO_INTERVAL.match(interval(today(zone, delay), now))
    wanted_end = datetime.fromtimestamp(now - delay, UTC)
    wanted_end = wanted_end.replace(microsecond=wanted_end.microsecond // 1000 * 1000)
    day = wanted_end.astimezone(tz).date()
    assert start.astimezone(tz).date() == day
    assert (start - timedelta(milliseconds=1)).astimezone(tz).date() < day
    assert end == max(wanted_end, start + timedelta(seconds=1))


@settings(max_examples=200, deadline=None)
@given(
    now=MOMENTS,
    seconds=st.floats(min_value=1.0, max_value=7 * 86400.0),
    delay=DELAYS,
)
def test_sliding_window_always_spans_the_window(now: float, seconds: float, delay: float) -> None:
    """A sliding interval ends at now-delay (to the ms) and is as long as the window."""
    start, end = window_bounds(sliding(seconds, delay), now)
    assert end - start == timedelta(seconds=seconds)
    assert abs(end.timestamp() - (now - delay)) < 0.001
    assert end.timestamp() <= now - delay + 1e-6  # float seconds round to the microsecond
    assert ISO_INTERVAL.match(interval(sliding(seconds, delay), now))
