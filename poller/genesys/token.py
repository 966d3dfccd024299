"""OAuth client credentials: a cached access token, refreshed ahead of its expiry, one login at
a time, with a growing pause after failed logins so a wrong secret never hammers the login host.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import aiohttp

from poller.catalog import TOKEN_PATH
from poller.config.model import Credentials, GenesysSettings
from poller.errors import ApiError, BadResponseError
from poller.genesys.http import HttpSession, Reply, api_error
from poller.genesys.retry import RetryPolicy, retrying
from poller.logsetup import forget_secret, register_secret
from poller.selfmetrics import SelfMetrics

DEFAULT_EXPIRES_IN = 86399.0  # what Genesys gives a client-credentials token


class TokenSource:
    def __init__(
        self,
        http: HttpSession,
        settings: GenesysSettings,
        credentials: Credentials,
        metrics: SelfMetrics,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        rng: Callable[[], float],
        policy: RetryPolicy,
    ) -> None:
        self._http = http
        self._settings = settings
        self._credentials = credentials
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._policy = policy
        self._token: str | None = None
        self._expires = 0.0
        self._margin = 0.0
        self._lock = asyncio.Lock()
        self._failures = 0
        self._blocked_until = 0.0

    def _fresh(self) -> bool:
        return self._token is not None and self._clock() < self._expires - self._margin

    async def token(self) -> str:
        """A valid access token, logging in first if there is none or it is about to expire."""
        if not self._fresh():
            # Concurrent pollers wait for one login instead of each calling the login host.
            async with self._lock:
                if not self._fresh():
                    await self._login()
        assert self._token is not None
        return self._token

    def forget(self, token: str) -> None:
        """Genesys refused `token` (401): the next call logs in again."""
        if self._token == token:
            self._token = None

    async def _login(self) -> None:
        now = self._clock()
        if now < self._blocked_until:
            raise ApiError(
                f"OAuth login backing off after {self._failures} failed attempt(s); "
                f"next attempt in {self._blocked_until - now:.0f}s",
                endpoint="token",
            )
        try:
            reply = await retrying(
                self._attempt,
                policy=self._policy,
                delay=lambda _err, attempt: self._policy.backoff(attempt, self._rng),
                sleep=self._sleep,
                on_retry=self._count_retry,
            )
            self._accept(reply)
        except ApiError:
            self._failures += 1
            pause = self._policy.login_backoff * 2 ** (self._failures - 1)
            self._blocked_until = self._clock() + min(self._policy.login_backoff_max, pause)
            raise
        self._failures = 0
        self._blocked_until = 0.0

    def _count_retry(self, err: ApiError) -> None:
        reason = f"status_{err.status}" if err.status else "transport"
        self._metrics.api_retries.labels("token", reason).inc()

    async def _attempt(self) -> Reply:
        headers = {
            # aiohttp 3.14 deprecates BasicAuth objects; the header is what the login host reads.
            "Authorization": aiohttp.encode_basic_auth(
                self._credentials.client_id, self._credentials.client_secret.reveal()
            ),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        url = self._settings.login_base_url + TOKEN_PATH
        reply = await self._http.post("token", url, b"grant_type=client_credentials", headers)
        if reply.status == 200:
            return reply
        error = api_error("token", reply)
        if reply.status in (400, 401, 403):
            raise ApiError(
                f"OAuth login rejected ({error.message}); check GENESYS_CLIENT_ID and "
                "GENESYS_CLIENT_SECRET and the region",
                endpoint="token",
                status=reply.status,
                code=error.code,
                context_id=error.context_id,
            )
        raise error

    def _accept(self, reply: Reply) -> None:
        try:
            body = json.loads(reply.body)
            token = body["access_token"]
            expires_in = float(body.get("expires_in", DEFAULT_EXPIRES_IN))
        except (ValueError, UnicodeDecodeError, KeyError, TypeError):
            token = None
        if not isinstance(token, str) or not token:
            raise BadResponseError(
                "token response has no access_token", endpoint="token", status=reply.status
            )
        if self._token:
            forget_secret(self._token)
        register_secret(token)
        self._token = token
        self._expires = self._clock() + expires_in
        self._margin = min(self._policy.refresh_margin, expires_in / 10)
        self._metrics.token_refreshes.inc()
        self._metrics.token_expiry.set(self._expires)
