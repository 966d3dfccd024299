"""The simulated traffic: a daily and a weekly curve over flows of very different volumes."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

from poller.simulator.activity import PERIOD_MINUTES, entries_per_hour, rate
from poller.simulator.engine import Engine
from poller.simulator.org import Flow, Org
from poller.simulator.validation import validate_aggregate
from tests.simulator.sim_support import interval, totals

THURSDAY = datetime(2026, 5, 14, tzinfo=UTC)
SUNDAY = THURSDAY + timedelta(days=3)


def entries(engine: Engine, start: datetime, hours: float) -> int:
    """The org's entries over `hours` from `start`, from the engine's truth."""
    body = {"interval": interval(start, start + timedelta(hours=hours)), "metrics": ["nFlow"]}
    got = totals(engine.truth(validate_aggregate(body)).get("results", []))
    return got.get((), {}).get("nFlow", {}).get("count", 0)


def expected(flow: Flow, start: datetime, hours: float) -> float:
    first = int(start.timestamp()) // 60
    return sum(rate(flow, m) for m in range(first, first + round(hours * 60)))


def test_night_is_quieter_than_day_and_the_evening_declines_gradually() -> None:
    """Entries at 03:00 are a few percent of those at 11:00, and the evening falls hour by hour
    until 01:00 without any hour losing more than 40 % of the one before."""
    engine = Engine(Org(1, 12))
    day = entries(engine, THURSDAY + timedelta(hours=11), 1)
    night = entries(engine, THURSDAY + timedelta(hours=3), 1)
    assert 0.02 * day < night < 0.08 * day
    evening = [entries(engine, THURSDAY + timedelta(hours=h), 1) for h in range(17, 25)]
    assert evening == sorted(evening, reverse=True)
    assert all(later > 0.6 * earlier for earlier, later in itertools.pairwise(evening))


def test_weekend_is_quieter_than_weekdays() -> None:
    """Sunday's business hours see well under half of a Thursday's; weekdays are alike."""
    engine = Engine(Org(1, 12))
    thursday = entries(engine, THURSDAY + timedelta(hours=9), 8)
    monday = entries(engine, THURSDAY + timedelta(days=4, hours=9), 8)
    sunday = entries(engine, SUNDAY + timedelta(hours=9), 8)
    assert sunday < 0.5 * thursday
    assert 0.85 < monday / thursday < 1.15


def test_the_entries_follow_the_rate() -> None:
    """Per flow, a day's entries match the expected count of activity.rate within Poisson noise."""
    org = Org(1, 12)
    engine = Engine(org)
    for flow in org.flows:
        body = {
            "interval": interval(THURSDAY, THURSDAY + timedelta(days=1)),
            "metrics": ["nFlow"],
            "filter": {"type": "and", "predicates": [{"dimension": "flowId", "value": flow.id}]},
        }
        got = totals(engine.truth(validate_aggregate(body)).get("results", []))
        seen = got.get((), {}).get("nFlow", {}).get("count", 0)
        mean = expected(flow, THURSDAY, 24)
        assert abs(seen - mean) <= 5 * math.sqrt(mean) + 1


def test_volumes_span_three_orders_of_magnitude() -> None:
    """50 flows go from a few entries an hour to a few a second at the peak; busy flows are few."""
    flows = Org(1, 50).flows
    hourly = sorted(entries_per_hour(f) for f in flows)
    assert hourly[-1] / hourly[0] >= 1000
    assert hourly[0] < 3
    peaks = [f.peak / 60 for f in flows]  # per second
    assert 2 <= max(peaks) <= 3.5
    assert sum(p >= 1 for p in peaks) <= 10
    # Every decade of volume has flows in it.
    decades = {math.floor(math.log10(h)) for h in hourly}
    assert decades >= {0, 1, 2, 3}


def test_the_traffic_repeats_weekly_and_is_deterministic_for_a_seed() -> None:
    """The same seed gives the same volumes and the same entries; another seed other volumes.
    A flow-minute's rate depends only on its minute of the week."""
    first, again, other = Org(7, 20), Org(7, 20), Org(8, 20)
    assert [f.peak for f in first.flows] == [f.peak for f in again.flows]
    assert [f.peak for f in first.flows] != [f.peak for f in other.flows]
    start = THURSDAY + timedelta(hours=10)
    assert entries(Engine(first), start, 1) == entries(Engine(again), start, 1)
    minute = int(start.timestamp()) // 60
    flow = first.flows[3]
    assert rate(flow, minute) == rate(flow, minute + PERIOD_MINUTES) > 0


def test_outcomes_fail_rarely() -> None:
    """Each outcome fails in 1-3 % of the executions reaching it, so 95 % objectives hold."""
    for flow in Org(1, 50).flows:
        for outcome in flow.outcomes:
            assert 0.01 <= outcome.failure <= 0.03
