"""429 storms: the daemon waits the Retry-After it is given, pauses every query together, and
resumes by itself; a Retry-After too long to wait through fails the poll at once, and nothing
calls that host again until it has passed.

These run on the real clock and sleep (a Retry-After is a real timer); the simulator records
when each request arrived, so the pauses are checked on its side of the wire.
"""

from __future__ import annotations

import time

from poller.catalog import TOKEN_PATH
from poller.simulator import RequestRecord
from poller.timing import Clocks
from tests.reliability.reliability_support import Watch
from tests.support.clock import FakeClock
from tests.support.stack import StackFactory
from tests.support.wait import wait_until

# A request that left before the daemon read the 429 may still arrive just after it.
IN_FLIGHT_GRACE = 0.25
REAL_TIME = Clocks(rng=lambda: 0.0)
PEAK = 1_778_767_200.0  # 2026-05-14T14:00:00Z, a Thursday's busy hour in the simulator


def sent_during_pause(records: list[RequestRecord]) -> list[RequestRecord]:
    """Requests that arrived while some earlier 429's Retry-After still ran (any query)."""
    pauses = [(r.at, r.at + r.retry_after) for r in records if r.status == 429 and r.retry_after]
    return [
        r for r in records if any(start + IN_FLIGHT_GRACE < r.at < end for start, end in pauses)
    ]


async def test_storm_pauses_every_query_for_retry_after_then_resumes(
    stack_factory: StackFactory, watch: Watch
) -> None:
    """During a 429 storm no query sends anything until Retry-After has passed, the throttled
    counter rises, and both queries resume on their own when the storm ends."""
    stack = await stack_factory(clocks=REAL_TIME)
    before = await stack.wait_up()
    storm_set = time.time()
    stack.faults("storm429=2s,retry_after=2")
    storm_end = storm_set + 2

    async def resumed() -> bool:
        scrape = await stack.scrape()
        return all(
            scrape.up(q) == 1 and (scrape.last_success(q) or 0) > storm_end
            for q in ("flows", "active")
        )

    await wait_until(resumed, within=12, what="both queries to succeed after the storm")
    after = await stack.scrape()

    records = stack.simulator.stats.requests()
    throttled = [r for r in records if r.status == 429]
    assert {r.path for r in throttled} == {r.path for r in records}, "both endpoints were hit"
    assert sent_during_pause(records) == []
    first = min(r.at for r in throttled)
    later = [r.at for r in records if r.at > first + IN_FLIGHT_GRACE]
    assert min(later) >= first + 2, "nothing went out before the Retry-After ended"

    for endpoint in ("aggregates", "observations"):
        rose = after.total("genesyscloud_poller_api_throttled_total", endpoint=endpoint)
        assert rose > before.total("genesyscloud_poller_api_throttled_total", endpoint=endpoint)
        assert after.total("genesyscloud_poller_api_retries_total", reason="status_429") > 0
    # Held through its next tick, a query's scheduled runs are skipped, not queued.
    assert after.total("genesyscloud_poller_polls_skipped_total") > 0
    # The retry after the pause outlasts the 2 s storm: no poll failed, nothing logged as such.
    assert watch.events("poll_failing") == []
    assert after.total("genesyscloud_poller_poll_failures_total") == 0


async def test_retry_after_of_300s_pauses_every_query_until_it_has_passed(
    stack_factory: StackFactory, watch: Watch
) -> None:
    """A 429 with Retry-After: 300 fails its poll at once (no 300 s sleep), no query sends
    anything to the API until the 300 s have passed, scheduled polls meanwhile are skipped as
    `paused`, a gauge says until when, the log says so once, and both queries come back."""
    clock = FakeClock(PEAK)
    stack = await stack_factory(schedule=False, clock=clock)
    assert await stack.daemon.poll_all() == {"flows": True, "active": True}
    stack.faults("storm429=10s,retry_after=300")
    throttled_at = clock.now
    sent_before = len(stack.simulator.stats.requests())

    assert await stack.daemon.poll("flows") is False
    assert clock.now == throttled_at, "the poll did not sleep through the Retry-After"
    for _ in range(5):
        assert await stack.daemon.poll_all() == {"flows": False, "active": False}
        clock.advance(59)
    assert clock.now - throttled_at == 295
    since = stack.simulator.stats.requests()[sent_before:]
    assert [r.status for r in since] == [429], "one request, then none until 300 s had passed"

    scrape = await stack.scrape()
    until = throttled_at + 300
    assert scrape.get("genesyscloud_poller_api_paused_until_timestamp_seconds", host="api") == until
    for query in ("flows", "active"):
        assert (
            scrape.get("genesyscloud_poller_polls_skipped_total", query=query, reason="paused") == 5
        )
    [paused] = watch.events("api_paused")
    assert (paused["host"], paused["retry_after_seconds"], paused["until"]) == ("api", 300, until)
    [failing] = watch.events("poll_failing", query="flows")
    assert failing["status"] == 429
    assert "Retry-After 300s" in failing["error"]

    clock.advance(5)
    assert await stack.daemon.poll_all() == {"flows": True, "active": True}
    resumed = stack.simulator.stats.requests()[sent_before + 1 :]
    assert resumed
    assert min(r.at for r in resumed) >= until


async def test_login_429_pauses_logins_until_its_retry_after(
    stack_factory: StackFactory, watch: Watch
) -> None:
    """A 429 from the login host is not retried within its Retry-After (no 1-4 s backoff
    loop): one login request, polls skipped as `paused` until it has passed, then they work."""
    clock = FakeClock(PEAK)
    stack = await stack_factory(schedule=False, clock=clock, faults="login429=10s,retry_after=120")
    begun = clock.now
    assert await stack.daemon.poll("flows") is False
    assert clock.now == begun
    clock.advance(60)
    assert await stack.daemon.poll_all() == {"flows": False, "active": False}
    logins = stack.simulator.stats.requests(paths=[TOKEN_PATH])
    assert [r.status for r in logins] == [429]
    [paused] = watch.events("api_paused")
    assert (paused["host"], paused["until"]) == ("login", begun + 120)
    scrape = await stack.scrape()
    assert (
        scrape.get("genesyscloud_poller_polls_skipped_total", query="flows", reason="paused") == 1
    )
    assert scrape.get("genesyscloud_poller_api_paused_until_timestamp_seconds", host="login") == (
        begun + 120
    )

    clock.advance(61)
    assert await stack.daemon.poll_all() == {"flows": True, "active": True}
    assert [r.status for r in stack.simulator.stats.requests(paths=[TOKEN_PATH])] == [429, 200]
