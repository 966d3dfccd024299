"""OAuth client credentials: the login request, token caching and refresh, 401s, login backoff."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from poller.errors import ApiError
from poller.selfmetrics import SelfMetrics
from tests.client.client_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    ExpectError,
    MakeClient,
    sample,
)
from tests.support.clock import FakeClock
from tests.support.genesys import FakeGenesys, Reply, genesys_error

QUERY = {"interval": "2026-05-17T06:25:00.000Z/2026-05-17T06:40:00.000Z", "metrics": ["nFlow"]}
BAD_CREDENTIALS = genesys_error(401, "bad.credentials", "Invalid login credentials.", "ctx-401")


async def test_login_sends_basic_auth_and_client_credentials_form(
    genesys: FakeGenesys, make_client: MakeClient
) -> None:
    """The login is a form POST of grant_type=client_credentials with Basic id:secret."""
    await make_client().query("aggregates", QUERY)
    [login] = genesys.requests_to(genesys.TOKEN)
    scheme, _, encoded = login.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == f"{CLIENT_ID}:{CLIENT_SECRET}"
    assert login.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert login.body == b"grant_type=client_credentials"
    assert login.method == "POST"


async def test_query_carries_bearer_token_and_json_body(
    genesys: FakeGenesys, make_client: MakeClient
) -> None:
    """A query POSTs its body as JSON with the access token as a Bearer header."""
    genesys.script(genesys.AGGREGATES, Reply(200, {"results": [{"group": {"flowId": "f1"}}]}))
    result = await make_client().query("aggregates", QUERY)
    assert result == {"results": [{"group": {"flowId": "f1"}}]}
    [sent] = genesys.requests_to(genesys.AGGREGATES)
    assert sent.headers["Authorization"] == "Bearer fake-access-token-1"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.json() == QUERY


async def test_token_is_reused_across_queries_and_endpoints(
    genesys: FakeGenesys, make_client: MakeClient, metrics: SelfMetrics
) -> None:
    """One login serves many queries on both endpoints."""
    client = make_client()
    for endpoint in ("aggregates", "observations", "aggregates"):
        await client.query(endpoint, QUERY)
    assert len(genesys.requests_to(genesys.TOKEN)) == 1
    sent = genesys.requests_to(genesys.AGGREGATES) + genesys.requests_to(genesys.OBSERVATIONS)
    assert {r.headers["Authorization"] for r in sent} == {"Bearer fake-access-token-1"}
    assert sample(metrics, "oauth_token_refreshes_total") == 1


async def test_token_refreshed_shortly_before_expiry(
    genesys: FakeGenesys, make_client: MakeClient, clock: FakeClock, metrics: SelfMetrics
) -> None:
    """A one-hour token is used for 55 minutes, then replaced before it runs out."""
    genesys.expires_in = 3600
    client = make_client()
    first_login = clock.now
    await client.query("aggregates", QUERY)
    assert sample(metrics, "oauth_token_expiry_timestamp_seconds") == first_login + 3600

    clock.advance(3299)  # margin is min(300 s, a tenth of the lifetime): still fresh
    await client.query("aggregates", QUERY)
    assert len(genesys.requests_to(genesys.TOKEN)) == 1

    clock.advance(2)  # 3301 s in: inside the margin
    await client.query("aggregates", QUERY)
    assert len(genesys.requests_to(genesys.TOKEN)) == 2
    last = genesys.requests_to(genesys.AGGREGATES)[-1]
    assert last.headers["Authorization"] == "Bearer fake-access-token-2"
    assert sample(metrics, "oauth_token_refreshes_total") == 2
    assert sample(metrics, "oauth_token_expiry_timestamp_seconds") == clock.now + 3600


async def test_401_triggers_one_relogin_and_retry(
    genesys: FakeGenesys, make_client: MakeClient, metrics: SelfMetrics
) -> None:
    """A revoked token gets one fresh login and the query is sent again with the new token."""
    genesys.script(genesys.AGGREGATES, BAD_CREDENTIALS, Reply(200, {"results": []}))
    result = await make_client().query("aggregates", QUERY)
    assert result == {"results": []}
    assert len(genesys.requests_to(genesys.TOKEN)) == 2
    auth = [r.headers["Authorization"] for r in genesys.requests_to(genesys.AGGREGATES)]
    assert auth == ["Bearer fake-access-token-1", "Bearer fake-access-token-2"]
    assert sample(metrics, "api_requests_total", endpoint="aggregates", code="401") == 1
    assert sample(metrics, "api_requests_total", endpoint="aggregates", code="200") == 1


async def test_401_twice_fails_with_genesys_details(
    genesys: FakeGenesys, make_client: MakeClient, expect_error: ExpectError[Any]
) -> None:
    """A second 401 after the re-login is an ApiError; no third login, no third attempt."""
    genesys.script(genesys.AGGREGATES, BAD_CREDENTIALS, BAD_CREDENTIALS, Reply(200))
    err = await expect_error(make_client().query("aggregates", QUERY), ApiError)
    assert (err.status, err.code, err.context_id) == (401, "bad.credentials", "ctx-401")
    assert "Invalid login credentials." in str(err)
    assert len(genesys.requests_to(genesys.TOKEN)) == 2
    assert len(genesys.requests_to(genesys.AGGREGATES)) == 2


async def test_wrong_credentials_name_the_environment_variables(
    genesys: FakeGenesys, make_client: MakeClient, expect_error: ExpectError[Any]
) -> None:
    """A rejected login says which settings to check, and is not retried."""
    genesys.script(genesys.TOKEN, Reply(401, {"error": "invalid_client"}))
    err = await expect_error(make_client().query("aggregates", QUERY), ApiError)
    assert "GENESYS_CLIENT_ID" in str(err)
    assert "GENESYS_CLIENT_SECRET" in str(err)
    assert err.status == 401
    assert len(genesys.requests_to(genesys.TOKEN)) == 1
    assert genesys.requests_to(genesys.AGGREGATES) == []


async def test_failed_login_backs_off_before_trying_again(
    genesys: FakeGenesys, make_client: MakeClient, clock: FakeClock, expect_error: ExpectError[Any]
) -> None:
    """After a failed login, queries fail at once without touching /oauth/token until it passes."""
    genesys.script(genesys.TOKEN, BAD_CREDENTIALS, BAD_CREDENTIALS)
    client = make_client()
    await expect_error(client.query("aggregates", QUERY), ApiError)
    assert len(genesys.requests_to(genesys.TOKEN)) == 1

    clock.advance(1.5)  # first backoff is 2 s
    err = await expect_error(client.query("aggregates", QUERY), ApiError)
    assert str(err).startswith("token: OAuth login rejected (Invalid login credentials.)")
    assert "next login attempt in 0.5s" in str(err)
    assert len(genesys.requests_to(genesys.TOKEN)) == 1

    clock.advance(1)
    await expect_error(client.query("aggregates", QUERY), ApiError)  # tries, fails again
    assert len(genesys.requests_to(genesys.TOKEN)) == 2

    clock.advance(3.5)  # the backoff doubled to 4 s
    await expect_error(client.query("aggregates", QUERY), ApiError)
    assert len(genesys.requests_to(genesys.TOKEN)) == 2

    clock.advance(1)  # the scripted failures are used up: this login succeeds
    assert await client.query("aggregates", QUERY) == {"results": []}
    assert len(genesys.requests_to(genesys.TOKEN)) == 3
    assert genesys.requests_to(genesys.AGGREGATES)[0].headers["Authorization"].startswith("Bearer")


async def test_token_endpoint_outage_is_retried_then_backs_off(
    genesys: FakeGenesys, make_client: MakeClient, clock: FakeClock, expect_error: ExpectError[Any]
) -> None:
    """A 503 from the login host is retried with backoff, then further logins wait."""
    outage = genesys_error(503, "service.unavailable", "Service Unavailable", "ctx-503")
    genesys.script(genesys.TOKEN, *[outage] * 4)
    client = make_client()
    err = await expect_error(client.query("aggregates", QUERY), ApiError)
    assert (err.status, err.code, err.context_id) == (503, "service.unavailable", "ctx-503")
    assert len(genesys.requests_to(genesys.TOKEN)) == 4
    assert clock.sleeps == [0.75, 1.5, 3.0]

    await expect_error(client.query("aggregates", QUERY), ApiError)
    assert len(genesys.requests_to(genesys.TOKEN)) == 4


async def test_concurrent_queries_share_one_login(
    genesys: FakeGenesys, make_client: MakeClient
) -> None:
    """Queries that start together wait for a single login instead of each logging in."""
    client = make_client()
    results = await asyncio.gather(*(client.query("aggregates", QUERY) for _ in range(5)))
    assert results == [{"results": []}] * 5
    assert len(genesys.requests_to(genesys.TOKEN)) == 1
    assert len(genesys.requests_to(genesys.AGGREGATES)) == 5


async def test_token_response_without_access_token_is_bad_response(
    genesys: FakeGenesys, make_client: MakeClient, expect_error: ExpectError[Any]
) -> None:
    """A 200 from the login host without an access_token fails clearly."""
    genesys.script(genesys.TOKEN, Reply(200, {"token_type": "bearer"}))
    err = await expect_error(make_client().query("aggregates", QUERY), ApiError)
    assert "access_token" in str(err)
    assert genesys.requests_to(genesys.AGGREGATES) == []
