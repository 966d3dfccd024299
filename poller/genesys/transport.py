"""Flow queries: the shared request budget, the bearer token, one re-login on a 401, a 429's
Retry-After pausing every caller (the limit is per OAuth client), and retries of what may
succeed next time (429, 502, 503, 504, timeouts, connection errors)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from poller.config.model import GenesysSettings
from poller.errors import ApiError, ThrottledError
from poller.genesys.budget import NoSpareError, PausedError, RequestBudget
from poller.genesys.http import (
    Endpoint,
    HttpSession,
    ListingEndpoint,
    NotificationsEndpoint,
    QueryEndpoint,
    Reply,
    announce_pause,
    api_error,
    retry_after,
)
from poller.genesys.queries import ROUTES
from poller.genesys.retry import RetryPolicy, retrying
from poller.genesys.token import TokenSource
from poller.selfmetrics import SelfMetrics
from poller.timing import Clocks

# A poll waits in line through a Retry-After up to this long (the Java and Go SDKs stop at 180 s);
# a longer one fails the poll at once, and no query calls the API until it has passed.
MAX_RETRY_AFTER = 180.0


class QueryTransport:
    def __init__(
        self,
        http: HttpSession,
        tokens: TokenSource,
        budget: RequestBudget,
        settings: GenesysSettings,
        metrics: SelfMetrics,
        *,
        clocks: Clocks,
        policy: RetryPolicy,
    ) -> None:
        self._http = http
        self._tokens = tokens
        self.budget = budget
        self._settings = settings
        self._metrics = metrics
        self._clock, self._sleep, self._rng = clocks.clock, clocks.sleep, clocks.rng
        self._policy = policy

    async def post(self, endpoint: QueryEndpoint, body: dict[str, Any]) -> Reply:
        """POST a query; returns its 200 reply, body not yet decoded."""
        route = ROUTES[endpoint]
        url = self._settings.api_base_url + route.path
        payload = json.dumps(body).encode()

        async def acquire() -> None:
            await self.budget.acquire(max_pause=MAX_RETRY_AFTER)

        async def send(headers: dict[str, str]) -> Reply:
            headers["Content-Type"] = "application/json"
            return await self._http.post(endpoint, url, payload, headers)

        return await self._send(endpoint, route.permission, acquire, send)

    async def get(
        self, endpoint: ListingEndpoint, path_and_query: str, reserve: int, *, permission: str
    ) -> Reply:
        """GET a listing page (`path_and_query` relative to the API host, as a `nextUri` is);
        returns its 200 reply; a 403 names `permission`. Queries go first: it takes a place in
        the budget only when no query waits for one and `reserve` places stay free for them, and
        it never waits out a 429's pause."""
        url = self._settings.api_base_url + path_and_query

        async def acquire() -> None:
            try:
                await self.budget.acquire_spare(reserve)
            except NoSpareError as err:
                raise ApiError(str(err), endpoint=endpoint) from None

        async def send(headers: dict[str, str]) -> Reply:
            return await self._http.get(endpoint, url, headers)

        return await self._send(endpoint, permission, acquire, send)

    async def call(
        self,
        method: str,
        endpoint: NotificationsEndpoint,
        path_and_query: str,
        body: Any = None,
        *,
        permission: str,
    ) -> Reply:
        """Send one of push's channel calls (`path_and_query` on the API host, `body` as JSON);
        its 200 reply. In line with the queries for the budget and its pauses."""
        url = self._settings.api_base_url + path_and_query
        payload = None if body is None else json.dumps(body).encode()

        async def acquire() -> None:
            await self.budget.acquire(max_pause=MAX_RETRY_AFTER)

        async def send(headers: dict[str, str]) -> Reply:
            if payload is not None:
                headers["Content-Type"] = "application/json"
            return await self._http.request(method, endpoint, url, headers, payload)

        return await self._send(endpoint, permission, acquire, send)

    async def _send(
        self,
        endpoint: Endpoint,
        permission: str,
        acquire: Callable[[], Awaitable[None]],
        send: Callable[[dict[str, str]], Awaitable[Reply]],
    ) -> Reply:
        async def attempt() -> Reply:
            relogged = False
            while True:
                try:
                    await acquire()
                except PausedError as paused:
                    raise self._paused(endpoint, paused.until) from None
                self._metrics.api_budget_places.labels().inc()
                token = await self._tokens.token()
                reply = await send({"Authorization": f"Bearer {token}"})
                if reply.status == 200:
                    return reply
                if reply.status == 401 and not relogged:
                    # An expired or revoked token: log in again once, without using a retry.
                    relogged = True
                    self._tokens.forget(token)
                    continue
                raise self._error(endpoint, permission, reply)

        return await retrying(
            attempt,
            policy=self._policy,
            # A 429 already paused the budget, and so every caller, for its Retry-After.
            delay=lambda err, n: 0.0 if err.status == 429 else self._policy.backoff(n, self._rng),
            sleep=self._sleep,
            # A failed login was retried by the token source already.
            retryable=lambda err: err.retryable and err.endpoint == endpoint,
            metrics=self._metrics,
        )

    def _error(self, endpoint: Endpoint, permission: str, reply: Reply) -> ApiError:
        hint = ""
        if reply.status == 403:
            hint = f" (the OAuth client's role needs permission {permission})"
        error = api_error(endpoint, reply, hint)
        if reply.status != 429:
            return error
        self._metrics.api_throttled.labels(endpoint).inc()
        wait = retry_after(reply)
        if self.budget.paused() == 0:
            until = self._clock() + wait
            announce_pause(self._metrics, "api", until, wait, error)
        # Every query waits: the limit is per OAuth client, not per query.
        self.budget.pause(wait)
        if wait <= MAX_RETRY_AFTER:
            return error
        return ThrottledError(
            f"rate limited with Retry-After {wait:g}s, longer than the {MAX_RETRY_AFTER:g}s a "
            "poll waits through; no query calls the API until it has passed",
            retry_after=wait,
            endpoint=endpoint,
            status=429,
            code=error.code,
            context_id=error.context_id,
        )

    def _paused(self, endpoint: Endpoint, until: float) -> ThrottledError:
        left = until - self._clock()
        return ThrottledError(
            f"Genesys asked for no requests for another {left:.0f}s (a 429's Retry-After); "
            "this poll gives up instead of waiting",
            retry_after=left,
            endpoint=endpoint,
            status=429,
        )
