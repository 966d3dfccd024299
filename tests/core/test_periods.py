"""Calendar periods of counter queries: aligned to midnight in the query's zone, DST included,
and which period a counter shows while the previous one settles."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from poller.config.model import QueryConfig
from poller.periods import counter_interval, period_at

DUBLIN = ZoneInfo("Europe/Dublin")
QUERY = QueryConfig(
    name="q",
    type="aggregate",
    every=30.0,
    metrics=("nFlow",),
    time_zone="Europe/Dublin",
    mode="counter",
    period=3600.0,
    settle=600.0,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def periods_of_day(first: datetime, period: float) -> list[tuple[datetime, datetime]]:
    out = [period_at(first, period, DUBLIN)]
    while out[-1][1].astimezone(DUBLIN).date() == first.astimezone(DUBLIN).date():
        out.append(period_at(out[-1][1], period, DUBLIN))
    return out


@pytest.mark.parametrize(
    ("midnight", "hours"),
    [("2026-03-29T00:00:00", 23), ("2026-10-24T23:00:00", 25), ("2026-05-14T23:00:00", 24)],
)
def test_hourly_periods_fill_a_dst_day(midnight: str, hours: int) -> None:
    """Hour periods laid from Dublin midnight: 23 on the spring day, 25 on the autumn day, each
    one hour, back to back, ending at the next local midnight."""
    periods = periods_of_day(utc(midnight), 3600.0)
    assert len(periods) == hours
    assert periods[0][0] == utc(midnight)
    assert all(end - start == timedelta(hours=1) for start, end in periods)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(periods))


def test_a_day_that_is_no_whole_number_of_periods_ends_its_last_one_early() -> None:
    """24m periods on the 23 h day (57.5 of them): the last ends at the next midnight after 12m."""
    periods = periods_of_day(utc("2026-03-29T00:00:00"), 1440.0)
    assert periods[-1][1] == utc("2026-03-29T23:00:00")
    assert periods[-1][1] - periods[-1][0] == timedelta(minutes=12)


@pytest.mark.parametrize(
    ("now", "interval"),
    [
        ("2026-05-14T13:09:59.999", "2026-05-14T12:00:00.000Z/2026-05-14T13:00:00.000Z"),
        ("2026-05-14T13:10:00", "2026-05-14T13:00:00.000Z/2026-05-14T13:10:00.000Z"),
        ("2026-05-14T13:59:59.5", "2026-05-14T13:00:00.000Z/2026-05-14T13:59:59.500Z"),
    ],
)
def test_the_closed_period_is_asked_for_until_it_has_settled(now: str, interval: str) -> None:
    """Within settle (10m) of a period's start the whole previous period is asked for; from
    then on the current one up to now."""
    assert counter_interval(QUERY, utc(now).timestamp()) == interval


def test_a_daily_period_follows_local_midnight() -> None:
    """period 1d in Dublin summer time: midnight is 23:00 UTC the day before."""
    daily = replace(QUERY, period=86400.0)
    assert (
        counter_interval(daily, utc("2026-05-14T23:05:00").timestamp())
        == "2026-05-13T23:00:00.000Z/2026-05-14T23:00:00.000Z"
    )
