"""stale_after: a query whose data is older than its stale_after loses its series (a gap on
the dashboard, not a frozen line) and makes /readyz 503, whether its polls fail or hang.

Staleness is a real timer (stale_after: 2s here), so these tests let real time pass and poll
with a deadline.
"""

from __future__ import annotations

import time

from poller.timing import Clocks
from tests.reliability.reliability_support import Watch
from tests.support.config import aggregate, observation
from tests.support.stack import StackFactory
from tests.support.wait import WITHIN, wait_until

QUERIES = aggregate("flows", every="1s", group_by=["flowId"], stale_after="2s") + observation(
    "active", every="1s", stale_after="2s"
)


async def test_failing_query_series_dropped_after_stale_after_then_restored(
    stack_factory: StackFactory, watch: Watch
) -> None:
    """A query failing (403) keeps its series until its data is 2 s old, then they vanish
    from /metrics and /readyz turns 503 naming it; the healthy query is untouched, and the
    first good poll brings the series and readiness back."""
    stack = await stack_factory(QUERIES)
    await stack.wait_up()
    stack.faults("forbidden=observations")
    down = await stack.wait_down("active", within=WITHIN)
    last_good = down.last_success("active") or 0.0
    assert down.flow_series("active"), "series are kept while the data is fresh enough"

    async def dropped() -> bool:
        return (await stack.scrape()).flow_series("active") == {}

    await wait_until(dropped, within=WITHIN, what="the stale series to be dropped")
    assert time.time() - last_good >= 2, "dropped only once older than stale_after"
    scrape = await stack.scrape()
    assert scrape.get("genesyscloud_poller_query_series", query="active") == 0
    assert scrape.up("flows") == 1
    assert scrape.flow_series("flows")
    [event] = watch.events("query_series_dropped_stale", query="active")
    assert event["stale_after_seconds"] == 2
    assert event["age_seconds"] >= 2
    status, body = await stack.ready()
    assert status == 503
    assert list(body["queries_not_ready"]) == ["active"]
    assert "over stale_after" in body["queries_not_ready"]["active"]

    stack.simulator.clear_faults()
    healed = await stack.wait_up("active", within=WITHIN)
    assert healed.flow_series("active")
    status, _ = await stack.ready()
    assert status == 200


async def test_query_stuck_in_a_pause_goes_stale_too(
    stack_factory: StackFactory, watch: Watch
) -> None:
    """A poll held for 3 s by a 429 Retry-After neither fails nor succeeds; once the data is
    older than stale_after (2 s) its series are dropped and /readyz is 503 anyway, and both
    come back when the pause ends."""
    stack = await stack_factory(QUERIES, clocks=Clocks(rng=lambda: 0.0))
    await stack.wait_up()
    stack.faults("storm429=3s,retry_after=3")

    async def dropped() -> bool:
        scrape = await stack.scrape()
        return scrape.flow_series("flows") == {} and scrape.flow_series("active") == {}

    await wait_until(dropped, within=WITHIN, what="the series of the paused queries to be dropped")
    status, body = await stack.ready()
    assert status == 503
    assert set(body["queries_not_ready"]) == {"flows", "active"}
    assert watch.events("query_series_dropped_stale", query="flows")
    await wait_until(
        lambda: _has_series(stack), within=WITHIN, what="the series to come back after the pause"
    )
    status, _ = await stack.ready()
    assert status == 200


async def _has_series(stack: object) -> bool:
    scrape = await stack.scrape()  # type: ignore[attr-defined]
    return bool(scrape.flow_series("flows") and scrape.flow_series("active"))
