"""The self-metrics the shipped alerts read besides the flow series, through the daemon and the
simulator on one fake clock: query_settling flipping with the clock between polls, the request
budget, and the places taken in it."""

from __future__ import annotations

from datetime import UTC, datetime

from poller.catalog import AGGREGATE_PATH
from tests.support.clock import FakeClock
from tests.support.config import aggregate
from tests.support.stack import StackFactory, config_text

SETTLING = "genesyscloud_poller_query_settling"
BUDGET = "genesyscloud_poller_api_budget_requests_per_minute"
PLACES = "genesyscloud_poller_api_budget_places_taken_total"
REQUESTS = "genesyscloud_poller_api_requests_total"

QUERIES = aggregate(
    "counted",
    every="30s",
    group_by=["flowId"],
    mode="counter",
    period="15m",
    settle="5m",
) + aggregate("hourly", every="1m", window="1h", group_by=["flowId"])


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


async def test_settling_follows_the_clock_between_polls(stack_factory: StackFactory) -> None:
    """query_settling is 1 for the first 5m of each 15m period and 0 after, read at each scrape
    without a poll in between; a gauge-mode query has no series; a poll while it is 1 asks for
    the closed period."""
    clock = FakeClock(at("2026-05-14T14:04:59"))
    stack = await stack_factory(QUERIES, schedule=False, clock=clock)
    assert await stack.daemon.poll("counted")
    assert stack.bodies[AGGREGATE_PATH][-1]["interval"] == (
        "2026-05-14T13:45:00.000Z/2026-05-14T14:00:00.000Z"
    )
    scrape = await stack.scrape()
    assert scrape.series(SETTLING) == [({"query": "counted"}, 1.0)]
    seen = []
    for moment in ("14:05:00", "14:14:59", "14:15:00", "14:19:59", "14:20:00"):
        clock.now = at(f"2026-05-14T{moment}")
        seen.append((await stack.scrape()).get(SETTLING, query="counted"))
    assert seen == [0.0, 0.0, 1.0, 1.0, 0.0]
    clock.now = at("2026-05-14T14:17:00")
    assert await stack.daemon.poll("counted")
    assert stack.bodies[AGGREGATE_PATH][-1]["interval"] == (
        "2026-05-14T14:00:00.000Z/2026-05-14T14:15:00.000Z"
    )
    assert (await stack.scrape()).get(SETTLING, query="counted") == 1.0


async def test_budget_and_places_taken_match_the_requests(stack_factory: StackFactory) -> None:
    """The budget gauge is the configured requests_per_minute; every request to the API host,
    a retried 503 included, takes one place, and no login does."""
    clock = FakeClock(at("2026-05-14T14:10:00"))
    stack = await stack_factory(QUERIES, schedule=False, clock=clock, rpm=120)
    scrape = await stack.scrape()
    assert scrape.get(BUDGET) == 120.0
    assert scrape.get(PLACES) == 0.0
    assert await stack.daemon.poll_all() == {"counted": True, "hourly": True}
    stack.faults("503=1")
    assert not await stack.daemon.poll("hourly")
    scrape = await stack.scrape()
    # The failed poll's first attempt and its 3 retries (RetryPolicy.max_retries).
    assert scrape.get(REQUESTS, endpoint="aggregates", code="503") == 4.0
    assert scrape.get(REQUESTS, endpoint="aggregates", code="200") == 2.0
    assert scrape.get(REQUESTS, endpoint="token", code="200") == 1.0
    assert scrape.get(PLACES) == 6.0


async def test_reload_keeps_budget_and_settling_current(stack_factory: StackFactory) -> None:
    """A reload that changes requests_per_minute changes the budget gauge; one that turns the
    counter query into a gauge query drops its settling series, and one that removes it too."""
    clock = FakeClock(at("2026-05-14T14:04:00"))
    stack = await stack_factory(QUERIES, schedule=False, clock=clock)
    assert (await stack.scrape()).get(BUDGET) == 300.0
    stack.text = config_text(QUERIES, rpm=90)
    assert (await stack.daemon.reload())[0]
    scrape = await stack.scrape()
    assert scrape.get(BUDGET) == 90.0
    assert scrape.series(SETTLING) == [({"query": "counted"}, 1.0)]
    as_gauge = aggregate("counted", every="30s", window="1h", group_by=["flowId"])
    stack.text = config_text(as_gauge, rpm=90)
    assert (await stack.daemon.reload())[0]
    scrape = await stack.scrape()
    assert scrape.series(SETTLING) == []
    assert scrape.get("genesyscloud_poller_query_up", query="counted") == 0.0
    stack.text = config_text(QUERIES, rpm=90)
    assert (await stack.daemon.reload())[0]
    assert (await stack.scrape()).series(SETTLING) == [({"query": "counted"}, 1.0)]
    stack.text = config_text(aggregate("hourly", every="1m", window="1h"), rpm=90)
    assert (await stack.daemon.reload())[0]
    assert (await stack.scrape()).series(SETTLING) == []
