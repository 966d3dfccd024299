"""429 storms: the daemon waits the Retry-After it is given, pauses every query together, and
resumes by itself; a Retry-After too long to wait through fails the poll instead.

These run on the real clock and sleep (a Retry-After is a real timer); the simulator records
when each request arrived, so the pauses are checked on its side of the wire.
"""

from __future__ import annotations

import itertools
import time

from poller.daemon import Clocks
from poller.simulator import RequestRecord
from tests.reliability.reliability_support import Watch
from tests.support.stack import StackFactory
from tests.support.wait import WITHIN, wait_until

# A request that left before the daemon read the 429 may still arrive just after it.
IN_FLIGHT_GRACE = 0.25
REAL_TIME = Clocks(rng=lambda: 0.0)


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


async def test_retry_after_over_180s_fails_the_poll_and_retries_next_run(
    stack_factory: StackFactory, watch: Watch
) -> None:
    """A Retry-After of 600 s is not slept through: the poll fails at once with a log event
    naming the wait, the query is retried at its next scheduled run (one request per run,
    no pause), and it comes back up when the 429s stop."""
    stack = await stack_factory(clocks=REAL_TIME)
    await stack.wait_up()
    storm_set = time.time()
    stack.faults("storm429=2.5s,retry_after=600")
    down = await stack.wait_down("flows", within=2.5)
    assert down.total("genesyscloud_poller_api_throttled_total") > 0
    [event] = watch.events("poll_failing", query="flows")
    assert event["status"] == 429
    assert "Retry-After 600s" in event["error"]
    assert event["code"] == "too.many.requests.retry.after"
    await stack.wait_up(within=WITHIN)

    for path in {r.path for r in stack.simulator.stats.requests()}:
        storm = [
            r.at
            for r in stack.simulator.stats.requests(paths=[path])
            if r.status == 429 and r.at >= storm_set
        ]
        assert len(storm) >= 2, "the query tried again at its next run"
        gaps = [b - a for a, b in itertools.pairwise(storm)]
        assert min(gaps) > 0.3, f"one request per scheduled run, not a retry loop: {gaps}"
    status, _ = await stack.ready()
    assert status == 200
