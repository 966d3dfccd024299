"""Every kind of broken answer: the daemon survives it, keeps the last good series with
query_up 0 and the last-success time frozen, says what went wrong once, and recovers on the
next good poll.

Polls are driven by hand (schedule off) so each case takes a fraction of a second; the
scheduled path under the same faults is covered by the soak and the storm, token and
staleness tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.reliability.reliability_support import Watch
from tests.support.exposition import Exposition
from tests.support.stack import Stack, StackFactory


@dataclass(frozen=True)
class Case:
    id: str
    spec: str = ""  # simulator fault spec; empty when the case breaks things another way
    says: str = ""  # what the poll_failing event's error says
    status: int | None = None
    code: str | None = None
    retried: str | None = None  # the api_retries_total reason when the fault is retried
    config: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case("500", "500=1", "unexpected condition", 500, "internal.server.error"),
    Case("502", "502=1", "invalid response from an upstream", 502, "bad.gateway", "status_502"),
    Case("503", "503=1", "currently unavailable", 503, "service.unavailable", "status_503"),
    Case("504", "504=1", "timed out", 504, "request.timeout", "status_504"),
    Case("timeout", "latency=600ms", "no response within 0.2s", retried="transport",
         config={"timeout": "200ms"}),
    Case("reset", "reset=1", "ServerDisconnected", retried="transport"),
    Case("dns", "", "genesys.invalid", retried="transport"),
    Case("malformed", "malformed=1", "not valid JSON", 200),
    Case("truncated", "truncated=1", "not valid JSON", 200),
    Case("wrongshape", "wrongshape=1", "unusable response: results: Expected `array | null`", 200),
    Case("huge", "huge=1,huge_size=256kb", "over the limit of 65536 bytes", 200,
         config={"max_response_bytes": 65536}),
]  # fmt: skip
QUERIES = {"flows": "aggregates", "active": "observations"}


async def break_it(stack: Stack, case: Case) -> None:
    if case.id == "dns":
        stack.env["GENESYS_API_BASE_URL"] = "http://genesys.invalid"
        assert (await stack.post("/-/reload"))[0] == 200
    else:
        stack.faults(case.spec)


async def repair(stack: Stack, case: Case) -> None:
    if case.id == "dns":
        stack.env["GENESYS_API_BASE_URL"] = stack.simulator.base_url
        assert (await stack.post("/-/reload"))[0] == 200
    else:
        stack.simulator.clear_faults()


def retries(scrape: Exposition, reason: str | None) -> float:
    return scrape.total("genesyscloud_poller_api_retries_total", reason=reason) if reason else 0.0


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_fault_keeps_last_series_marks_down_and_recovers(
    case: Case, stack_factory: StackFactory, watch: Watch
) -> None:
    """Under the fault every query fails without a crash: up 0, the last good series and
    last-success time unchanged, /readyz still 200 (not stale yet), one poll_failing event
    saying what broke; the next good poll brings up back to 1 with fresh data."""
    stack = await stack_factory(schedule=False, lifecycle=True, **case.config)
    assert await stack.daemon.poll_all() == {"flows": True, "active": True}
    good = await stack.scrape()
    assert good.flow_series("flows")
    assert good.flow_series("active")

    await break_it(stack, case)
    for _ in range(2):  # the second failure must not log again
        assert await stack.daemon.poll_all() == {"flows": False, "active": False}

    bad = await stack.scrape()
    for query, endpoint in QUERIES.items():
        assert bad.up(query) == 0
        assert bad.flow_series(query) == good.flow_series(query)
        assert bad.last_success(query) == good.last_success(query)
        [event] = watch.events("poll_failing", query=query)
        assert case.says in event["error"], event
        assert event["endpoint"] == endpoint
        assert event.get("status") == case.status
        if case.code:
            assert event["code"] == case.code
        if case.status is not None:  # a response came: its id is what Genesys support asks for
            assert event["context_id"], event
        assert watch.events("poll_failed_again", query=query)
        assert bad.get("genesyscloud_poller_poll_failures_total", query=query) == 2
    # Retried faults cost three retries per query per poll; the others none.
    expected = 3 * len(QUERIES) * 2 if case.retried else 0
    assert retries(bad, case.retried) - retries(good, case.retried) == expected
    status, body = await stack.ready()
    assert status == 200, body

    await repair(stack, case)
    assert await stack.daemon.poll_all() == {"flows": True, "active": True}
    healed = await stack.scrape()
    for query in QUERIES:
        assert healed.up(query) == 1
        assert healed.last_success(query) > good.last_success(query)  # type: ignore[operator]
        assert healed.flow_series(query)
        assert watch.events("poll_recovered", query=query)
