"""Transport failures a loopback server cannot easily produce, mocked with aioresponses.

aioresponses replaces ClientSession._request, so these tests exercise the client's own retry
and error handling around aiohttp, not aiohttp's wire behaviour (the fake server covers that).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientPayloadError, ServerDisconnectedError

from poller.catalog import AGGREGATE_PATH, TOKEN_PATH
from poller.config.model import GenesysSettings
from poller.errors import TransportError
from poller.selfmetrics import SelfMetrics
from poller.timing import Clocks
from tests.client.aioresponses_shim import CompatClientResponse, aioresponses
from tests.client.client_support import (
    CREDENTIALS,
    QueryingClient,
    assert_no_secrets,
    sample,
)
from tests.support.clock import FakeClock

API = "https://api.fake.test"
LOGIN = "https://login.fake.test"
TOKEN = "mocked-access-token-1"
QUERY = {"interval": "2026-05-17T06:25:00.000Z/2026-05-17T06:40:00.000Z", "metrics": ["nFlow"]}
RESULT = {"results": [{"group": {"flowId": "f1"}, "data": []}]}


class _HalfThenDrop:
    """A body stream that yields the first half of the body, then fails like a dropped socket."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader

    async def iter_chunked(self, size: int) -> AsyncIterator[bytes]:
        data = await self._reader.read()
        yield data[: len(data) // 2]
        raise ClientPayloadError("Response payload is not completed: ContentLengthError")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)


class TruncatedBodyResponse(CompatClientResponse):
    """Status and headers arrive, then the connection drops halfway through the body."""

    @property
    def content(self) -> Any:
        return self._half

    @content.setter
    def content(self, reader: Any) -> None:
        self._half = _HalfThenDrop(reader)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def metrics() -> SelfMetrics:
    return SelfMetrics(process=False)


@pytest.fixture
async def client(clock: FakeClock, metrics: SelfMetrics) -> AsyncIterator[QueryingClient]:
    settings = GenesysSettings("fake.test", api_base_url=API, login_base_url=LOGIN)
    client = QueryingClient(
        settings, CREDENTIALS, metrics, clocks=Clocks(clock.time, clock.sleep, lambda: 0.5)
    )
    yield client
    await client.close()


@pytest.fixture
def mocked() -> Any:
    with aioresponses() as mock:
        mock.post(LOGIN + TOKEN_PATH, payload={"access_token": TOKEN, "expires_in": 86399})
        yield mock


async def test_shim_lets_mocked_responses_through(mocked: Any, client: QueryingClient) -> None:
    """With the shim, a mocked login and a mocked 200 reach the client as real responses."""
    mocked.post(API + AGGREGATE_PATH, payload=RESULT)
    assert await client.query("aggregates", QUERY) == RESULT


async def test_server_disconnect_is_retried(
    mocked: Any, client: QueryingClient, clock: FakeClock, metrics: SelfMetrics
) -> None:
    """A ServerDisconnectedError is a transport failure: backed off, retried, then success."""
    mocked.post(API + AGGREGATE_PATH, exception=ServerDisconnectedError())
    mocked.post(API + AGGREGATE_PATH, payload=RESULT)
    assert await client.query("aggregates", QUERY) == RESULT
    assert clock.sleeps == [0.75]
    assert sample(metrics, "api_retries_total", endpoint="aggregates", reason="transport") == 1
    assert sample(metrics, "api_requests_total", endpoint="aggregates", code="error") == 1


async def test_payload_cut_mid_body_is_retried(
    mocked: Any, client: QueryingClient, metrics: SelfMetrics
) -> None:
    """A body that stops halfway (ClientPayloadError) is retried, not parsed as JSON."""
    mocked.post(API + AGGREGATE_PATH, payload=RESULT, response_class=TruncatedBodyResponse)
    mocked.post(API + AGGREGATE_PATH, payload=RESULT)
    assert await client.query("aggregates", QUERY) == RESULT
    assert sample(metrics, "api_retries_total", endpoint="aggregates", reason="transport") == 1


async def test_payload_cut_every_time_raises_transport_error(
    mocked: Any, client: QueryingClient, clock: FakeClock
) -> None:
    """When every body is cut short, the TransportError names ClientPayloadError."""
    for _ in range(4):
        mocked.post(API + AGGREGATE_PATH, payload=RESULT, response_class=TruncatedBodyResponse)
    with pytest.raises(TransportError) as caught:
        await client.query("aggregates", QUERY)
    assert "ClientPayloadError" in str(caught.value)
    assert caught.value.retryable
    assert clock.sleeps == [0.75, 1.5, 3.0]
    assert_no_secrets(caught.value, [TOKEN])


async def test_login_disconnect_is_retried(client: QueryingClient, metrics: SelfMetrics) -> None:
    """A dropped connection to the login host is retried before the query goes out."""
    with aioresponses() as mock:
        mock.post(LOGIN + TOKEN_PATH, exception=ServerDisconnectedError())
        mock.post(LOGIN + TOKEN_PATH, payload={"access_token": TOKEN, "expires_in": 86399})
        mock.post(API + AGGREGATE_PATH, payload=RESULT)
        assert await client.query("aggregates", QUERY) == RESULT
    assert sample(metrics, "api_retries_total", endpoint="token", reason="transport") == 1
    assert sample(metrics, "oauth_token_refreshes_total") == 1
