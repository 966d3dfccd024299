"""The status page's data (/status.json): each query's state, age, series and last error, and
the org's side of the API, for each kind of trouble the simulator can cause."""

from __future__ import annotations

import json
from typing import Any

from structlog.testing import capture_logs

from poller.digest import Digested, Digester, DigestJob
from tests.support.clock import PEAK, FakeClock
from tests.support.config import aggregate, observation
from tests.support.exposition import Exposition
from tests.support.stack import Stack, StackFactory

QUERIES = aggregate(
    "flows", every="60s", window="1h", group_by=["flowId"], stale_after="5m"
) + observation("active", every="30s")
TOKEN_TTL = 86399.0  # the simulator's token lifetime


async def status(stack: Stack) -> dict[str, Any]:
    """/status.json, as a script would read it."""
    code, body = await stack.get("/status.json")
    assert code == 200
    answer: dict[str, Any] = json.loads(body)
    return answer


def queries(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (org,) = answer["orgs"]
    return {q["name"]: q for q in org["queries"]}


async def make(stack_factory: StackFactory, faults: str = "") -> tuple[Stack, FakeClock]:
    clock = FakeClock(PEAK)
    stack = await stack_factory(QUERIES, schedule=False, clock=clock, faults=faults)
    return stack, clock


def series_of(scrape: Exposition, query: str) -> int:
    return len(scrape.flow_series(query))


async def test_before_any_poll_every_query_is_waiting(stack_factory: StackFactory) -> None:
    """Before the first poll: waiting, no age, no series, no error, no token, no request."""
    stack, clock = await make(stack_factory)
    answer = await status(stack)
    assert answer["shape"] == 1
    assert answer["generated_at"] == clock.now
    assert answer["poller"]["last_reload"] == {"ok": True, "at": clock.now, "message": "loaded"}
    assert answer["poller"]["config"] == "stack.yaml"
    (org,) = answer["orgs"]
    assert org["name"] == ""
    assert org["api"] == {
        "requests_last_minute": 0,
        "requests_per_minute": 300,
        "paused_until": None,
        "token_expires_at": None,
        "answers": [],
    }
    flows = queries(answer)["flows"]
    assert {k: flows[k] for k in ("state", "age", "series", "error", "last_duration")} == {
        "state": "waiting",
        "age": None,
        "series": 0,
        "error": None,
        "last_duration": None,
    }
    assert (flows["every"], flows["window"], flows["stale_after"]) == (60.0, "last 1h", 300.0)
    assert queries(answer)["active"]["window"] == "now"
    assert [(k["state"], k["error"]) for k in org["names"]] == [("waiting", None)] * 3


async def test_after_good_polls_ok_with_fresh_data_and_the_api_counted(
    stack_factory: StackFactory,
) -> None:
    """After both queries succeed: ok, age 0, the series /metrics exports, two requests in the
    last minute, three 200s (a login and two queries) and the token's expiry."""
    stack, clock = await make(stack_factory)
    assert await stack.daemon.poll_all() == {"flows": True, "active": True}
    answer = await status(stack)
    scrape = await stack.scrape()
    for name, q in queries(answer).items():
        assert (q["state"], q["age"], q["error"]) == ("ok", 0.0, None)
        assert q["series"] == series_of(scrape, name) > 0
        assert q["last_duration"] >= 0
    api = answer["orgs"][0]["api"]
    assert api["requests_last_minute"] == 2
    assert api["token_expires_at"] == clock.now + TOKEN_TTL
    assert api["answers"] == [{"minute": clock.now // 60 * 60, "codes": {"200": 3}}]


async def test_a_503_storm_shows_failing_with_the_correlation_id(
    stack_factory: StackFactory,
) -> None:
    """Every request 503: failing, with Genesys' status, code and the correlation id the log
    line carries; the answers count the four 503s of each query (three retries)."""
    stack, _ = await make(stack_factory, faults="503=1")
    with capture_logs() as logs:
        assert await stack.daemon.poll_all() == {"flows": False, "active": False}
    answer = await status(stack)
    logged = {e["query"]: e for e in logs if e["event"] == "poll_failing"}
    for name, q in queries(answer).items():
        assert q["state"] == "failing"
        error = q["error"]
        assert (error["status"], error["code"]) == (503, "service.unavailable")
        assert error["correlation_id"] == logged[name]["context_id"] is not None
        # The words of the log line's error, without the status, code and id shown apart.
        assert logged[name]["error"].startswith(error["message"] + " [status=503 ")
    codes = [m["codes"] for m in answer["orgs"][0]["api"]["answers"]]
    assert sum(c.get("503", 0) for c in codes) == 8
    assert sum(c.get("200", 0) for c in codes) == 1  # the login


async def test_a_long_retry_after_shows_throttled_until_when(stack_factory: StackFactory) -> None:
    """A 429 with Retry-After 300: both queries throttled, the pause until exactly then."""
    stack, clock = await make(stack_factory, faults="storm429=600s,retry_after=300")
    begun = clock.now
    assert await stack.daemon.poll("flows") is False
    answer = await status(stack)
    assert answer["orgs"][0]["api"]["paused_until"] == begun + 300
    assert {name: q["state"] for name, q in queries(answer).items()} == {
        "flows": "throttled",
        "active": "throttled",
    }
    assert queries(answer)["flows"]["error"]["status"] == 429
    clock.advance(301)
    stack.simulator.clear_faults()
    assert await stack.daemon.poll_all() == {"flows": True, "active": True}
    after = await status(stack)
    assert after["orgs"][0]["api"]["paused_until"] is None
    assert queries(after)["flows"]["state"] == "ok"
    # The last error stays, marked as past, for whoever looks after the fact.
    assert queries(after)["flows"]["error"]["status"] == 429
    assert queries(after)["flows"]["failing_now"] is False


async def test_bad_credentials_show_the_oauth_error(stack_factory: StackFactory) -> None:
    """A disabled OAuth client: failing with the login host's status and OAuth error code,
    and no token."""
    stack, _ = await make(stack_factory, faults="client_disabled")
    assert await stack.daemon.poll_all() == {"flows": False, "active": False}
    answer = await status(stack)
    for q in queries(answer).values():
        assert q["state"] == "failing"
        assert (q["error"]["status"], q["error"]["code"]) == (400, "unauthorized_client")
        assert (
            "OAuth login rejected (unauthorized_client: client is disabled)"
            in q["error"]["message"]
        )
    assert answer["orgs"][0]["api"]["token_expires_at"] is None


async def test_data_older_than_stale_after_shows_stale_with_no_series(
    stack_factory: StackFactory,
) -> None:
    """Good data, then failures for longer than stale_after (5m): stale, its series gone, and
    the age counts from the last good poll."""
    stack, clock = await make(stack_factory)
    assert await stack.daemon.poll("flows")
    good = clock.now
    stack.faults("forbidden=aggregates")
    clock.advance(301)
    assert await stack.daemon.poll("flows") is False
    flows = queries(await status(stack))["flows"]
    assert flows["state"] == "stale"
    assert flows["series"] == 0
    assert flows["age"] == clock.now - good
    assert flows["error"]["code"] == "missing.permissions"


async def test_a_renamed_flow_shows_among_the_names_changes(stack_factory: StackFactory) -> None:
    """A flow renamed between two names refreshes is listed with its old and new name."""
    stack, _ = await make(stack_factory)
    await stack.daemon.refresh_names()
    flow = stack.simulator.org.flows[0]
    stack.simulator.rename(flow.id, "Renamed <flow>")
    await stack.daemon.refresh_names()
    (org,) = (await status(stack))["orgs"]
    flows = {k["kind"]: k for k in org["names"]}["flows"]
    assert (flows["state"], flows["error"]) == ("ok", None)  # null: the README's "none"
    assert [(c["id"], c["change"], c["before"], c["name"]) for c in flows["changes"]] == [
        (flow.id, "renamed", flow.name, "Renamed <flow>")
    ]


class BrokenNormalizer(Digester):
    """Digests as the daemon's digester does, or raises `fault` as a bug in the normalizer
    would."""

    def __init__(self) -> None:
        super().__init__()
        self.fault: Exception | None = None

    async def digest(self, job: DigestJob) -> Digested:
        if self.fault is not None:
            raise self.fault
        return await super().digest(job)


async def test_a_poll_that_crashes_fails_goes_stale_and_recovers(
    stack_factory: StackFactory,
) -> None:
    """A normalizer that raises: failing with the exception's type and message, query_up 0, the
    traceback logged once, not ready and no series once stale_after passes; then it recovers."""
    clock = FakeClock(PEAK)
    broken = BrokenNormalizer()
    stack = await stack_factory(QUERIES, schedule=False, clock=clock, digester=broken)
    assert await stack.daemon.poll("flows")
    good = clock.now
    broken.fault = ZeroDivisionError("a bug in normalize")
    with capture_logs() as logs:
        assert await stack.daemon.poll("flows") is False
        clock.advance(60)
        assert await stack.daemon.poll("flows") is False
    crashed = [e for e in logs if e["event"] == "poll_crashed"]
    assert len(crashed) == 1
    assert crashed[0]["query"] == "flows"
    assert isinstance(crashed[0]["exc_info"], ZeroDivisionError)
    assert crashed[0]["error"] == "ZeroDivisionError: a bug in normalize"
    flows = queries(await status(stack))["flows"]
    assert flows["state"] == "failing"
    assert flows["error"]["message"] == "ZeroDivisionError: a bug in normalize"
    assert flows["series"] > 0  # still fresh enough to serve
    scrape = await stack.scrape()
    assert scrape.up("flows") == 0
    assert scrape.get("genesyscloud_poller_poll_failures_total", query="flows") == 2
    assert series_of(scrape, "flows") == flows["series"]

    clock.advance(241)  # 301 s after the last good poll: past stale_after (5m)
    assert await stack.daemon.poll("flows") is False
    flows = queries(await status(stack))["flows"]
    assert (flows["state"], flows["series"], flows["age"]) == ("stale", 0, clock.now - good)
    assert series_of(await stack.scrape(), "flows") == 0
    code, answer = await stack.ready()
    assert code == 503
    assert "ZeroDivisionError: a bug in normalize" in answer["queries_not_ready"]["flows"]

    broken.fault = None
    assert await stack.daemon.poll("flows")
    assert await stack.daemon.poll("active")
    flows = queries(await status(stack))["flows"]
    assert (flows["state"], flows["failing_now"]) == ("ok", False)
    assert series_of(await stack.scrape(), "flows") == flows["series"] > 0
    assert (await stack.ready())[0] == 200
