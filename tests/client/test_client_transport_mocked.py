"""Transport failures a loopback server cannot easily produce, mocked with aioresponses.

aioresponses replaces ClientSession._request, so these tests exercise the client's own retry
and error handling around aiohttp, not aiohttp's wire behaviour (the fake server covers that).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import ServerDisconnectedError
from aioresponses import aioresponses

from poller.catalog import AGGREGATE_PATH, TOKEN_PATH
from poller.config.model import GenesysSettings
from poller.selfmetrics import SelfMetrics
from poller.timing import Clocks
from tests.client.client_support import (
    CREDENTIALS,
    QueryingClient,
    sample,
)
from tests.support.clock import FakeClock

API = "https://api.fake.test"
LOGIN = "https://login.fake.test"
TOKEN = "mocked-access-token-1"
QUERY = {"interval": "2026-05-17T06:25:00.000Z/2026-05-17T06:40:00.000Z", "metrics": ["nFlow"]}
RESULT = {"results": [{"group": {"flowId": "f1"}, "data": []}]}


@pytest.fixture
async def client(clock: FakeClock, metrics: SelfMetrics) -> AsyncIterator[QueryingClient]:
    settings = GenesysSettings("fake.test", api_base_url=API, login_base_url=LOGIN)
    client = QueryingClient(
        settings, CREDENTIALS, metrics, clocks=Clocks(clock.time, clock.sleep, lambda: 0.5)
    )
    yield client
    await client.close()


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as mock:
        mock.post(LOGIN + TOKEN_PATH, payload={"access_token": TOKEN, "expires_in": 86399})
        yield mock


async def test_mocked_responses_reach_the_client(
    mocked: aioresponses, client: QueryingClient
) -> None:
    """A mocked login and a mocked 200 reach the client as real responses."""
    mocked.post(API + AGGREGATE_PATH, payload=RESULT)
    assert await client.query("aggregates", QUERY) == RESULT


async def test_server_disconnect_is_retried(
    mocked: aioresponses, client: QueryingClient, clock: FakeClock, metrics: SelfMetrics
) -> None:
    """A ServerDisconnectedError is a transport failure: backed off, retried, then success."""
    mocked.post(API + AGGREGATE_PATH, exception=ServerDisconnectedError())
    mocked.post(API + AGGREGATE_PATH, payload=RESULT)
    assert await client.query("aggregates", QUERY) == RESULT
    assert clock.sleeps == [0.75]
    assert sample(metrics, "api_retries_total", endpoint="aggregates", reason="transport") == 1
    assert sample(metrics, "api_requests_total", endpoint="aggregates", code="error") == 1


async def test_login_disconnect_is_retried(client: QueryingClient, metrics: SelfMetrics) -> None:
    """A dropped connection to the login host is retried before the query goes out."""
    with aioresponses() as mock:
        mock.post(LOGIN + TOKEN_PATH, exception=ServerDisconnectedError())
        mock.post(LOGIN + TOKEN_PATH, payload={"access_token": TOKEN, "expires_in": 86399})
        mock.post(API + AGGREGATE_PATH, payload=RESULT)
        assert await client.query("aggregates", QUERY) == RESULT
    assert sample(metrics, "api_retries_total", endpoint="token", reason="transport") == 1
    assert sample(metrics, "oauth_token_refreshes_total") == 1
