"""OAuth under stress: tokens expiring mid-run, tokens revoked, the login host down, and an
OAuth client missing a permission for one of the two endpoints."""

from __future__ import annotations

import itertools
import time

from poller.catalog import AGGREGATE_PATH, OBSERVATION_PATH, TOKEN_PATH
from tests.reliability.reliability_support import RecordingTokens, Watch, sim_settings
from tests.support.stack import Stack, StackFactory
from tests.support.wait import WITHIN, wait_until

ENDPOINT_PATHS = (AGGREGATE_PATH, OBSERVATION_PATH)


def statuses(stack: Stack, path: str, since: float = 0.0) -> list[int]:
    return [r.status for r in stack.simulator.stats.requests(paths=[path]) if r.at >= since]


async def test_token_expiring_mid_run_means_relogin_not_failure(
    stack_factory: StackFactory, watch: Watch
) -> None:
    """With 1 s tokens and 300 ms latency the daemon keeps logging in again: no poll fails, a
    query never gets two 401s in a row, and logins stay near one per token lifetime."""
    stack = await stack_factory(settings=sim_settings(token_ttl=1.0), faults="latency=300ms")
    begun = time.time()
    await stack.wait_up()

    async def relogged() -> bool:
        scrape = await stack.scrape()
        return scrape.total("genesyscloud_poller_oauth_token_refreshes_total") >= 3

    await wait_until(relogged, within=WITHIN, what="the daemon to log in three times")
    elapsed = time.time() - begun
    scrape = await stack.scrape()
    logins = len(stack.simulator.stats.requests(paths=[TOKEN_PATH]))
    # One login per 0.9 x lifetime (refreshed a tenth early), plus the first, plus slack for
    # latency: a login storm would be several times this.
    assert logins <= elapsed / 0.9 + 2
    for path in ENDPOINT_PATHS:
        seen = statuses(stack, path)
        assert seen.count(401) <= logins, "at most one 401 per token, per query"
        assert (401, 401) not in set(itertools.pairwise(seen)), seen
        assert set(seen) <= {200, 401}, seen
    assert scrape.total("genesyscloud_poller_poll_failures_total") == 0
    assert watch.events("poll_failing") == []


async def test_revoked_token_costs_one_401_per_query_and_one_login(
    stack_factory: StackFactory, watch: Watch
) -> None:
    """When every token is revoked at once, each query gets exactly one 401, the daemon logs
    in once (not once per query), and both polls still succeed."""
    stack = await stack_factory(schedule=False)
    assert await stack.daemon.poll_all() == {"flows": True, "active": True}
    revoked = time.time()
    stack.simulator.state.tokens = RecordingTokens(
        stack.simulator.settings.token_ttl, watch.leaks.tokens
    )
    assert await stack.daemon.poll_all() == {"flows": True, "active": True}
    for path in ENDPOINT_PATHS:
        assert statuses(stack, path, since=revoked) == [401, 200]
    assert statuses(stack, TOKEN_PATH, since=revoked) == [200]
    assert watch.events("poll_failing") == []


async def test_login_outage_fails_polls_backs_off_and_recovers(
    stack_factory: StackFactory, watch: Watch
) -> None:
    """With the token endpoint down for 2.5 s (and 1 s tokens) both queries fail naming the
    token endpoint, the login host sees at most two rounds of four attempts (the login
    backoff of 2 s, then 4 s), and both queries recover by themselves afterwards."""
    stack = await stack_factory(settings=sim_settings(token_ttl=1.0))
    await stack.wait_up()
    down_at = time.time()
    stack.faults("token_down")
    await stack.wait_down("flows", within=WITHIN)
    await stack.wait_down("active", within=WITHIN)

    async def outage_lasted() -> bool:
        return time.time() >= down_at + 2.5

    await wait_until(outage_lasted, within=WITHIN, what="2.5 s of outage")
    stack.simulator.clear_faults()
    up_at = time.time()
    await stack.wait_up(within=WITHIN)

    tokens = [r for r in stack.simulator.stats.requests(paths=[TOKEN_PATH]) if r.at >= down_at]
    during = [r for r in tokens if r.at < up_at]
    assert {r.status for r in during} == {503}
    assert 1 <= len(during) <= 8, f"{len(during)} logins in a 2.5 s outage"
    failing = watch.events("poll_failing")
    assert sorted(e["query"] for e in failing) == ["active", "flows"]
    assert {e["endpoint"] for e in failing} == {"token"}
    # The query that tried the login names Genesys' answer; one that found the login backing
    # off says so (which query is which depends on who asked first).
    assert any(e["status"] == 503 and e["code"] == "service.unavailable" for e in failing)
    assert all(e["status"] == 503 or "OAuth login backing off" in e["error"] for e in failing)
    for query in ("flows", "active"):
        assert watch.events("poll_recovered", query=query)
    scrape = await stack.scrape()
    assert scrape.get("genesyscloud_poller_api_requests_total", endpoint="token", code="503")
    status, _ = await stack.ready()
    assert status == 200


async def test_missing_permission_fails_only_that_query_and_names_it(
    stack_factory: StackFactory, watch: Watch
) -> None:
    """A 403 missing.permissions on observations fails the observation query with a log event
    and a /readyz reason naming the permission to grant; the aggregate query keeps polling."""
    stack = await stack_factory(faults="forbidden=observations")
    first = await stack.wait_up("flows")
    first_success = first.last_success("flows") or 0.0

    async def flows_polled_again() -> bool:
        return ((await stack.scrape()).last_success("flows") or 0.0) > first_success

    await wait_until(flows_polled_again, within=WITHIN, what="another successful flows poll")
    scrape = await stack.scrape()
    assert scrape.up("active") == 0
    assert scrape.flow_series("active") == {}
    assert scrape.flow_series("flows")
    [event] = watch.events("poll_failing", query="active")
    assert event["status"] == 403
    assert event["code"] == "missing.permissions"
    assert "analytics:flowObservation:view" in event["error"]
    assert watch.events("poll_failing", query="flows") == []
    status, body = await stack.ready()
    assert status == 503
    assert set(body["queries_not_ready"]) == {"active"}
    assert "analytics:flowObservation:view" in body["queries_not_ready"]["active"]


async def test_oauth_error_shows_in_the_log_and_in_readyz(
    stack_factory: StackFactory, watch: Watch
) -> None:
    """A login the login host refuses the OAuth way (400 unauthorized_client) is logged with its
    `error` and `error_description`, and /readyz gives the same reason; no secret shows."""
    stack = await stack_factory(schedule=False, faults="client_disabled")
    assert await stack.daemon.poll("flows") is False
    [failing] = watch.events("poll_failing", query="flows")
    assert failing["status"] == 400
    assert failing["code"] == "unauthorized_client"
    assert "OAuth login rejected (unauthorized_client: client is disabled)" in failing["error"]
    status, body = await stack.ready()
    assert status == 503
    assert "unauthorized_client: client is disabled" in body["queries_not_ready"]["flows"]
    secret = stack.simulator.settings.client_secret
    assert secret not in str(watch.logs)
    assert secret not in str(body)
