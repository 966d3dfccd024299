"""OAuth client credentials, bearer tokens with expiry, and the per-client rate budget."""

from __future__ import annotations

import structlog

from poller.catalog import AGGREGATE_PATH, OBSERVATION_PATH, TOKEN_PATH
from poller.simulator import parse_fault_spec
from tests.simulator.sim_support import VALID_BODY, MakeSim, basic
from tests.support.genesys import Reply

OBSERVATION = {
    "filter": {"type": "or", "predicates": [{"dimension": "mediaType", "value": "voice"}]},
    "metrics": ["oFlow"],
}


async def test_token_for_the_configured_client(make_sim: MakeSim) -> None:
    """Right Basic credentials and grant type give a bearer token that lasts token_ttl."""
    sim = await make_sim(token_ttl=3600.0)
    reply = await sim.login()
    assert reply.status == 200
    body = reply.json
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert isinstance(body["access_token"], str)
    assert len(body["access_token"]) >= 32
    second = await sim.login()
    assert second.json["access_token"] != body["access_token"]


def oauth(reply: Reply) -> tuple[int, str, str]:
    """(status, error, error_description) of an OAuth error answer; the two descriptions agree."""
    body = reply.json
    assert set(body) == {"error", "description", "error_description"}
    assert body["description"] == body["error_description"]
    return reply.status, body["error"], body["error_description"]


async def test_wrong_secret_is_refused(make_sim: MakeSim) -> None:
    """A wrong client secret is an OAuth 401 invalid_client that does not echo the secret."""
    sim = await make_sim()
    reply = await sim.login(secret="not-the-secret")
    assert oauth(reply) == (401, "invalid_client", "client authentication failed")
    assert "not-the-secret" not in reply.text


async def test_wrong_client_id_is_refused(make_sim: MakeSim) -> None:
    """An unknown client id is an OAuth 401 invalid_client."""
    sim = await make_sim()
    reply = await sim.login(client_id="someone-else")
    assert oauth(reply) == (401, "invalid_client", "client authentication failed")


async def test_token_request_without_credentials(make_sim: MakeSim) -> None:
    """A token request without Basic credentials is an OAuth 401 invalid_client."""
    sim = await make_sim()
    reply = await sim.send(TOKEN_PATH, data={"grant_type": "client_credentials"})
    assert oauth(reply) == (401, "invalid_client", "client credentials were not supplied")


async def test_other_grant_types_are_refused(make_sim: MakeSim) -> None:
    """Only grant_type=client_credentials is served: others are unsupported_grant_type."""
    sim = await make_sim()
    reply = await sim.login(grant="password")
    assert oauth(reply) == (400, "unsupported_grant_type", "grant type is not supported")


async def test_disabled_client_is_unauthorized(make_sim: MakeSim) -> None:
    """With the client_disabled fault, the right credentials get 400 unauthorized_client."""
    sim = await make_sim()
    sim.state.faults.set(parse_fault_spec("client_disabled"))
    reply = await sim.login()
    assert oauth(reply) == (400, "unauthorized_client", "client is disabled")


async def test_login_429_storm_answers_with_retry_after(make_sim: MakeSim) -> None:
    """login429 makes the token endpoint answer 429 with the fault's Retry-After until it ends."""
    sim = await make_sim()
    sim.state.faults.set(parse_fault_spec("login429=30s,retry_after=300"))
    reply = await sim.login()
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "300"
    assert reply.json["code"] == "too.many.requests.retry.after"
    sim.clock.advance(30)
    assert (await sim.login()).status == 200


async def test_api_without_bearer_token(make_sim: MakeSim) -> None:
    """An API call without Authorization is a 401 authentication.required."""
    sim = await make_sim()
    reply = await sim.send(AGGREGATE_PATH, body=VALID_BODY)
    assert reply.status == 401
    assert reply.json["code"] == "authentication.required"
    assert (
        reply.json["message"] == "No authentication bearer token specified in authorization header."
    )


async def test_api_with_basic_instead_of_bearer(make_sim: MakeSim) -> None:
    """Client credentials sent straight to the API are not a bearer token."""
    sim = await make_sim()
    headers = {"Authorization": basic(sim.settings.client_id, sim.settings.client_secret)}
    reply = await sim.send(AGGREGATE_PATH, body=VALID_BODY, headers=headers)
    assert reply.status == 401
    assert reply.json["code"] == "authentication.required"


async def test_unknown_token(make_sim: MakeSim) -> None:
    """A token the simulator never issued is a 401 bad.credentials."""
    sim = await make_sim()
    reply = await sim.api(AGGREGATE_PATH, VALID_BODY, token="made-up-token")
    assert reply.status == 401
    assert reply.json["code"] == "bad.credentials"
    assert "made-up-token" not in reply.text


async def test_token_expires_on_the_clock(make_sim: MakeSim) -> None:
    """A token works until token_ttl has passed on the injected clock, then gets 401."""
    sim = await make_sim(token_ttl=2.0)
    token = await sim.token()
    sim.clock.advance(1.9)
    assert (await sim.api(AGGREGATE_PATH, VALID_BODY, token=token)).status == 200
    sim.clock.advance(0.1)
    expired = await sim.api(AGGREGATE_PATH, VALID_BODY, token=token)
    assert expired.status == 401
    assert expired.json["code"] == "bad.credentials"
    fresh = (await sim.login()).json["access_token"]
    assert (await sim.api(AGGREGATE_PATH, VALID_BODY, token=fresh)).status == 200


async def test_every_response_carries_the_headers(make_sim: MakeSim) -> None:
    """Token, success and error responses all carry a correlation id and rate-limit headers."""
    sim = await make_sim(requests_per_minute=50)
    replies = [
        await sim.login(),
        await sim.aggregate(VALID_BODY),
        await sim.aggregate({"metrics": ["nFlow"]}),
        await sim.send(AGGREGATE_PATH, body=VALID_BODY),
    ]
    ids = {reply.headers["ININ-Correlation-Id"] for reply in replies}
    assert len(ids) == len(replies)
    assert {reply.headers["inin-ratelimit-allowed"] for reply in replies} == {"50"}
    # On the held clock: the login and the unauthenticated request count nothing; each admitted
    # analytics request (valid or not) adds one, and the window's first request leaves it in 60 s.
    assert [reply.headers["inin-ratelimit-count"] for reply in replies] == ["0", "1", "2", "0"]
    assert [reply.headers["inin-ratelimit-reset"] for reply in replies] == ["60"] * 4


async def test_rate_budget_exceeded_then_reset_by_the_clock(make_sim: MakeSim) -> None:
    """Over the per-minute budget: 429 with Retry-After and the Genesys body, until 60 s pass."""
    sim = await make_sim(requests_per_minute=5)
    for n in range(1, 6):
        sim.clock.advance(1.0)
        reply = await sim.aggregate(VALID_BODY)
        assert reply.status == 200
        assert reply.headers["inin-ratelimit-count"] == str(n)
    sim.clock.advance(10.0)  # the first request is now 14 s old
    refused = await sim.aggregate(VALID_BODY)
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "46"
    body = refused.json
    assert body["code"] == "too.many.requests.retry.after"
    assert body["status"] == 429
    assert body["message"] == "Rate limit exceeded the maximum. Retry the request in [46] seconds"
    assert body["contextId"] == refused.headers["ININ-Correlation-Id"]
    assert refused.headers["inin-ratelimit-count"] == "5"
    assert refused.headers["inin-ratelimit-reset"] == "46"
    sim.clock.advance(45.0)
    assert (await sim.aggregate(VALID_BODY)).status == 429  # one second early
    sim.clock.advance(1.0)  # the first request leaves the 60 s window
    assert (await sim.aggregate(VALID_BODY)).status == 200
    assert (await sim.aggregate(VALID_BODY)).status == 429


async def test_budget_is_shared_by_both_endpoints(make_sim: MakeSim) -> None:
    """Aggregates and observations draw on one budget per client; the token endpoint does not."""
    sim = await make_sim(requests_per_minute=3)
    assert (await sim.aggregate(VALID_BODY)).status == 200
    assert (await sim.observe(OBSERVATION)).status == 200
    assert (await sim.login()).status == 200
    assert (await sim.aggregate(VALID_BODY)).status == 200
    assert (await sim.observe(OBSERVATION)).status == 429


async def test_refused_requests_do_not_use_the_budget(make_sim: MakeSim) -> None:
    """Hammering during a 429 does not push the reset further out."""
    sim = await make_sim(requests_per_minute=2)
    await sim.aggregate(VALID_BODY)
    await sim.aggregate(VALID_BODY)
    for _ in range(5):
        sim.clock.advance(10.0)
        assert (await sim.aggregate(VALID_BODY)).status == 429
    sim.clock.advance(10.0)  # 60 s after the first request
    assert (await sim.aggregate(VALID_BODY)).status == 200


async def test_stats_show_rate_and_pause_violations(make_sim: MakeSim) -> None:
    """Stats count per path and status and flag requests sent before Retry-After elapsed."""
    sim = await make_sim(requests_per_minute=2)
    for _ in range(3):
        await sim.aggregate(VALID_BODY)  # the third is refused with Retry-After 60
    sim.clock.advance(30.0)
    await sim.observe(OBSERVATION)  # too early: still inside the pause
    stats = sim.state.stats
    assert stats.count(AGGREGATE_PATH, 200) == 2
    assert stats.count(AGGREGATE_PATH, 429) == 1
    assert stats.count(OBSERVATION_PATH, 429) == 1
    assert stats.max_in_window("demo-client") == 4
    early = stats.sent_during_pause("demo-client")
    assert [r.path for r in early] == [OBSERVATION_PATH]
    http = await sim.send("/simulator/stats", method="GET")
    client = http.json["clients"]["demo-client"]
    assert client["sent_during_429_pause"] == 1
    assert client["requests"] == 4
    assert http.json["requests"][AGGREGATE_PATH] == {"200": 2, "429": 1}


async def test_no_secret_or_token_in_logs_or_stats(make_sim: MakeSim) -> None:
    """Neither the client secret nor a token shows up in log events or the stats endpoint."""
    with structlog.testing.capture_logs() as events:
        sim = await make_sim()
        token = await sim.token()
        await sim.login(secret="wrong-secret-value")
        await sim.aggregate(VALID_BODY)
        stats = (await sim.send("/simulator/stats", method="GET")).text
    logged = repr(events)
    for secret in (sim.settings.client_secret, "wrong-secret-value", token):
        assert secret not in logged
        assert secret not in stats
    assert "demo-secret" not in repr(sim.settings)
