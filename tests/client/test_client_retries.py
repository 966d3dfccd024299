"""What the client retries (429, 502/503/504, timeouts, connection errors), how long it waits,
and what it never retries."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from poller.errors import ApiError, ThrottledError, TransportError
from poller.genesys import QueryEndpoint, RetryPolicy
from poller.genesys.budget import SPAN, RequestBudget
from poller.selfmetrics import SelfMetrics
from poller.timing import Clocks
from tests.client.client_support import ExpectError, MakeClient, sample
from tests.support.clock import FakeClock
from tests.support.genesys import FakeGenesys, Reply, genesys_error
from tests.support.wait import wait_until

QUERY = {"interval": "2026-05-17T06:25:00.000Z/2026-05-17T06:40:00.000Z", "metrics": ["nFlow"]}
OK = Reply(200, {"results": [{"group": {"flowId": "f1"}}]})
RATE_MESSAGE = "Rate limit exceeded the maximum. Retry the request in [7] seconds"


def throttled(**headers: str) -> Reply:
    return genesys_error(429, "too.many.requests.retry.after", RATE_MESSAGE, "ctx-429", **headers)


class WatchedBudget(RequestBudget):
    """The real budget, counting callers currently inside acquire()."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting = 0

    async def acquire(self, max_pause: float = float("inf")) -> None:
        self.waiting += 1
        try:
            await super().acquire(max_pause)
        finally:
            self.waiting -= 1


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port that refuses connections: bound, never listening, and held for the whole test so
    that nothing else can take it meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        yield port


# -- 429 ---------------------------------------------------------------------------------------


async def test_429_waits_exactly_retry_after_before_the_next_request(
    genesys: FakeGenesys, make_client: MakeClient, clock: FakeClock, metrics: SelfMetrics
) -> None:
    """A 429 with Retry-After: 7 sleeps 7 s, then the retry succeeds."""
    genesys.script(genesys.AGGREGATES, throttled(Retry_After="7"), OK)
    start = clock.now
    assert await make_client().query("aggregates", QUERY) == OK.body
    assert clock.sleeps == [7.0]
    assert [r.time for r in genesys.requests_to(genesys.AGGREGATES)] == [start, start + 7]
    assert sample(metrics, "api_throttled_total", endpoint="aggregates") == 1
    assert sample(metrics, "api_retries_total", endpoint="aggregates", reason="status_429") == 1
    assert sample(metrics, "api_requests_total", endpoint="aggregates", code="429") == 1


async def test_429_pause_holds_a_concurrent_query_too(
    genesys: FakeGenesys, make_client: MakeClient, clock: FakeClock
) -> None:
    """While one query sits out a Retry-After, another query sends nothing until it is over."""
    clock.auto = False
    budget = WatchedBudget(300, clocks=Clocks(clock.time, clock.sleep))
    client = make_client(budget=budget)
    genesys.script(genesys.AGGREGATES, throttled(Retry_After="7"), OK)
    start = clock.now

    first = asyncio.create_task(client.query("aggregates", QUERY))
    await wait_until(lambda: clock.sleeping == 1, what="the throttled query to sleep")
    second = asyncio.create_task(client.query("observations", QUERY))
    await wait_until(lambda: budget.waiting == 2, what="the second query to queue")
    assert genesys.requests_to(genesys.OBSERVATIONS) == []

    clock.advance(7)
    assert list(await asyncio.gather(first, second)) == [OK.body, {"results": []}]
    assert clock.sleeps == [7.0]
    assert [r.time for r in genesys.requests_to(genesys.OBSERVATIONS)] == [start + 7]
    assert [r.time for r in genesys.requests_to(genesys.AGGREGATES)] == [start, start + 7]


async def test_rate_limit_header_names_are_case_insensitive(
    genesys: FakeGenesys, make_client: MakeClient, clock: FakeClock
) -> None:
    """retry-after and ININ-RateLimit-Reset in any letter case (HTTP/2, proxies) are honoured."""
    genesys.script(genesys.AGGREGATES, throttled(retry_after="11"), OK)
    genesys.script(genesys.OBSERVATIONS, throttled(ININ_RateLimit_Reset="13"), OK)
    client = make_client()
    await client.query("aggregates", QUERY)
    await client.query("observations", QUERY)
    assert clock.sleeps == [11.0, 13.0]


async def test_retry_after_above_180_s_raises_throttled_without_sleeping(
    genesys: FakeGenesys, make_client: MakeClient, clock: FakeClock, expect_error: ExpectError[Any]
) -> None:
    """A Retry-After of 181 s (a daily cap) is not slept through: ThrottledError at once."""
    genesys.script(genesys.AGGREGATES, throttled(Retry_After="181"), OK)
    err = await expect_error(make_client().query("aggregates", QUERY), ThrottledError)
    assert err.retry_after == 181
    assert (err.status, err.code, err.context_id) == (
        429,
        "too.many.requests.retry.after",
        "ctx-429",
    )
    assert "181" in str(err)
    assert clock.sleeps == []
    assert len(genesys.requests_to(genesys.AGGREGATES)) == 1


async def test_retry_after_of_exactly_180_s_is_waited_through(
    genesys: FakeGenesys, make_client: MakeClient, clock: FakeClock
) -> None:
    """180 s is the longest wait the client sits out."""
    genesys.script(genesys.AGGREGATES, throttled(Retry_After="180"), OK)
    assert await make_client().query("aggregates", QUERY) == OK.body
    assert clock.sleeps == [180.0]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"inin_ratelimit_reset": "12"}, 12.0),
        ({}, 3.0),
        ({"Retry_After": "soon", "inin_ratelimit_reset": "5"}, 5.0),
    ],
    ids=["inin-ratelimit-reset", "default-3s", "unparsable-retry-after"],
)
async def test_429_without_retry_after_falls_back(
    genesys: FakeGenesys,
    make_client: MakeClient,
    clock: FakeClock,
    headers: dict[str, str],
    expected: float,
) -> None:
    """Without a usable Retry-After the wait is inin-ratelimit-reset, else 3 s."""
    genesys.script(genesys.AGGREGATES, throttled(**headers), OK)
    await make_client().query("aggregates", QUERY)
    assert clock.sleeps == [expected]


async def test_429s_until_retries_run_out_fail_with_genesys_details(
    genesys: FakeGenesys, make_client: MakeClient, clock: FakeClock, expect_error: ExpectError[Any]
) -> None:
    """Four 429s in a row end in an ApiError carrying the 429's code and contextId."""
    genesys.script(genesys.AGGREGATES, *[throttled(Retry_After="2")] * 4)
    err = await expect_error(make_client().query("aggregates", QUERY), ApiError)
    assert (err.status, err.code, err.context_id) == (
        429,
        "too.many.requests.retry.after",
        "ctx-429",
    )
    assert clock.sleeps == [2.0, 2.0, 2.0]
    assert len(genesys.requests_to(genesys.AGGREGATES)) == 4


# -- 5xx ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_gateway_errors_are_retried_with_backoff(
    genesys: FakeGenesys,
    make_client: MakeClient,
    clock: FakeClock,
    metrics: SelfMetrics,
    status: int,
) -> None:
    """502/503/504 are retried after growing, jittered waits, then the query succeeds."""
    failure = genesys_error(status, "service.unavailable", "try later", "ctx-5xx")
    genesys.script(genesys.AGGREGATES, failure, failure, OK)
    assert await make_client().query("aggregates", QUERY) == OK.body
    assert clock.sleeps == [0.75, 1.5]  # half of the cap fixed, half jitter (rng = 0.5)
    assert len(genesys.requests_to(genesys.AGGREGATES)) == 3
    reason = f"status_{status}"
    assert sample(metrics, "api_retries_total", endpoint="aggregates", reason=reason) == 2
    assert sample(metrics, "api_requests_total", endpoint="aggregates", code=str(status)) == 2


async def test_backoff_doubles_up_to_the_cap(
    genesys: FakeGenesys, make_client: MakeClient, clock: FakeClock
) -> None:
    """Waits double per attempt and stop growing at max_delay."""
    policy = RetryPolicy(max_retries=5, base_delay=1.0, max_delay=4.0)
    genesys.script(genesys.AGGREGATES, *[Reply(502, "Bad Gateway")] * 5, OK)
    await make_client(policy=policy).query("aggregates", QUERY)
    assert clock.sleeps == [0.75, 1.5, 3.0, 3.0, 3.0]


@pytest.mark.parametrize(
    ("rng_value", "expected"), [(0.0, [0.5, 1.0]), (0.999, [0.9995, 1.999])], ids=["low", "high"]
)
async def test_jitter_spreads_waits_between_half_and_all_of_the_cap(
    genesys: FakeGenesys,
    make_client: MakeClient,
    clock: FakeClock,
    rng_value: float,
    expected: list[float],
) -> None:
    """With the random source at its extremes, a wait is half the cap or (almost) all of it."""
    genesys.script(genesys.AGGREGATES, Reply(503), Reply(503), OK)
    await make_client(rng=lambda: rng_value).query("aggregates", QUERY)
    assert clock.sleeps == pytest.approx(expected)


async def test_retries_exhausted_carry_genesys_code_message_and_context_id(
    genesys: FakeGenesys, make_client: MakeClient, clock: FakeClock, expect_error: ExpectError[Any]
) -> None:
    """After max_retries, the error says what Genesys said and where to look it up."""
    failure = genesys_error(503, "service.unavailable", "Service is in maintenance", "ctx-abc-123")
    genesys.script(genesys.AGGREGATES, *[failure] * 4)
    err = await expect_error(make_client().query("aggregates", QUERY), ApiError)
    assert (err.status, err.code, err.context_id) == (503, "service.unavailable", "ctx-abc-123")
    assert err.message == "Service is in maintenance"
    assert str(err) == (
        "aggregates: Service is in maintenance [status=503 code=service.unavailable "
        "contextId=ctx-abc-123]"
    )
    assert len(genesys.requests_to(genesys.AGGREGATES)) == 4
    assert clock.sleeps == [0.75, 1.5, 3.0]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "invalid.value"),
        (403, "missing.permissions"),
        (404, "not.found"),
        (413, "request.entity.too.large"),
        (500, "internal.server.error"),
    ],
)
async def test_client_errors_and_500_are_not_retried(
    genesys: FakeGenesys,
    make_client: MakeClient,
    clock: FakeClock,
    metrics: SelfMetrics,
    expect_error: ExpectError[Any],
    status: int,
    code: str,
) -> None:
    """400/403/404/413/500 fail after exactly one request, with Genesys' details."""
    genesys.script(genesys.AGGREGATES, genesys_error(status, code, f"said {status}", "ctx-x"), OK)
    err = await expect_error(make_client().query("aggregates", QUERY), ApiError)
    assert (err.status, err.code, err.context_id) == (status, code, "ctx-x")
    assert f"said {status}" in str(err)
    assert not err.retryable
    assert len(genesys.requests_to(genesys.AGGREGATES)) == 1
    assert clock.sleeps == []
    assert (
        sample(metrics, "api_retries_total", endpoint="aggregates", reason=f"status_{status}") == 0
    )


@pytest.mark.parametrize(
    ("endpoint", "path", "permission"),
    [
        ("aggregates", FakeGenesys.AGGREGATES, "analytics:flowAggregate:view"),
        ("observations", FakeGenesys.OBSERVATIONS, "analytics:flowObservation:view"),
    ],
)
async def test_403_names_the_missing_permission(
    genesys: FakeGenesys,
    make_client: MakeClient,
    expect_error: ExpectError[Any],
    endpoint: QueryEndpoint,
    path: str,
    permission: str,
) -> None:
    """A 403 tells the operator which permission the OAuth client's role lacks."""
    genesys.script(path, genesys_error(403, "missing.permissions", "Missing permissions"))
    err = await expect_error(make_client().query(endpoint, QUERY), ApiError)
    assert permission in str(err)
    assert err.status == 403


async def test_error_without_json_body_still_reports_status_and_correlation_id(
    genesys: FakeGenesys, make_client: MakeClient, expect_error: ExpectError[Any]
) -> None:
    """An HTML error page yields 'HTTP <status>' and the correlation id header, in any case."""
    for name in ("ININ-Correlation-Id", "inin-correlation-id"):
        page = Reply(404, "<html>Not Found</html>", {"Content-Type": "text/html", name: "corr-9"})
        genesys.script(genesys.AGGREGATES, page)
        err = await expect_error(make_client().query("aggregates", QUERY), ApiError)
        assert (err.message, err.status, err.context_id) == ("HTTP 404", 404, "corr-9")


# -- transport ---------------------------------------------------------------------------------


async def test_timeout_is_a_transport_error_and_retried(
    genesys: FakeGenesys, make_client: MakeClient, metrics: SelfMetrics
) -> None:
    """A reply slower than the configured timeout is abandoned and the request retried."""
    genesys.script(genesys.AGGREGATES, Reply(200, {"late": True}, delay=5.0), OK)
    assert await make_client(timeout=0.2).query("aggregates", QUERY) == OK.body
    assert len(genesys.requests_to(genesys.AGGREGATES)) == 2
    assert sample(metrics, "api_retries_total", endpoint="aggregates", reason="transport") == 1
    assert sample(metrics, "api_requests_total", endpoint="aggregates", code="error") == 1


async def test_timeouts_until_retries_run_out_raise_transport_error(
    genesys: FakeGenesys, make_client: MakeClient, expect_error: ExpectError[Any]
) -> None:
    """Every attempt timing out ends in a TransportError naming the timeout."""
    genesys.script(genesys.AGGREGATES, *[Reply(200, delay=5.0)] * 2)
    client = make_client(timeout=0.2, policy=RetryPolicy(max_retries=1))
    err = await expect_error(client.query("aggregates", QUERY), TransportError)
    assert "no response within 0.2s" in str(err)
    assert err.endpoint == "aggregates"
    assert len(genesys.requests_to(genesys.AGGREGATES)) == 2


async def test_payload_cut_mid_body_is_retried(
    genesys: FakeGenesys, make_client: MakeClient, metrics: SelfMetrics
) -> None:
    """A body that stops halfway (ClientPayloadError) is retried, not parsed as JSON."""
    genesys.script(genesys.AGGREGATES, Reply(200, OK.body, cut=True), OK)
    assert await make_client().query("aggregates", QUERY) == OK.body
    assert len(genesys.requests_to(genesys.AGGREGATES)) == 2
    assert sample(metrics, "api_retries_total", endpoint="aggregates", reason="transport") == 1


async def test_payload_cut_every_time_raises_transport_error(
    genesys: FakeGenesys,
    make_client: MakeClient,
    clock: FakeClock,
    expect_error: ExpectError[Any],
) -> None:
    """When every body is cut short, the TransportError names ClientPayloadError."""
    genesys.script(genesys.AGGREGATES, *[Reply(200, OK.body, cut=True)] * 4)
    err = await expect_error(make_client().query("aggregates", QUERY), TransportError)
    assert "ClientPayloadError" in str(err)
    assert err.retryable
    assert clock.sleeps == [0.75, 1.5, 3.0]


async def test_connection_refused_is_retried_then_transport_error(
    genesys: FakeGenesys,
    make_client: MakeClient,
    clock: FakeClock,
    metrics: SelfMetrics,
    expect_error: ExpectError[Any],
    closed_port: int,
) -> None:
    """A closed API port gives TransportError after the retries, each counted as an error."""
    settings = genesys.settings()
    api = f"http://127.0.0.1:{closed_port}"
    client = make_client(
        settings=type(settings)(settings.region, api_base_url=api, login_base_url=genesys.url)
    )
    err = await expect_error(client.query("aggregates", QUERY), TransportError)
    assert err.retryable
    assert "127.0.0.1" in str(err)
    assert clock.sleeps == [0.75, 1.5, 3.0]
    assert sample(metrics, "api_requests_total", endpoint="aggregates", code="error") == 4
    assert sample(metrics, "api_retries_total", endpoint="aggregates", reason="transport") == 3


async def test_login_host_unreachable_is_transport_error(
    genesys: FakeGenesys,
    make_client: MakeClient,
    expect_error: ExpectError[Any],
    closed_port: int,
) -> None:
    """A closed login port is a TransportError from the token endpoint; no query is sent."""
    settings = genesys.settings()
    login = f"http://127.0.0.1:{closed_port}"
    client = make_client(
        settings=type(settings)(settings.region, api_base_url=genesys.url, login_base_url=login)
    )
    err = await expect_error(client.query("aggregates", QUERY), TransportError)
    assert err.endpoint == "token"
    assert genesys.requests_to(genesys.AGGREGATES) == []


# -- the shared budget -------------------------------------------------------------------------


async def test_request_budget_is_shared_by_all_queries(
    genesys: FakeGenesys, make_client: MakeClient, clock: FakeClock
) -> None:
    """With 2 requests per minute, a third query on any endpoint waits for the window."""
    clock.auto = False
    client = make_client(requests_per_minute=2)
    start = clock.now
    queries = asyncio.gather(
        client.query("aggregates", QUERY),
        client.query("observations", QUERY),
        client.query("aggregates", QUERY),
    )
    await wait_until(lambda: clock.sleeping == 1, what="the third query to wait")
    await wait_until(lambda: len(genesys.requests) == 3, what="login and two queries")
    clock.advance(SPAN)
    await queries
    times = sorted(r.time for r in genesys.requests if r.path != genesys.TOKEN)
    assert times == [start, start, start + SPAN]
    assert clock.sleeps == [SPAN]
