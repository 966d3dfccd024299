"""OAuth client credentials: a cached access token, refreshed ahead of its expiry, one login at
a time, with a growing pause after failed logins so a wrong secret never hammers the login host.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp

from poller.catalog import TOKEN_PATH
from poller.config.model import Credentials, GenesysSettings
from poller.errors import ApiError, BadResponseError, ThrottledError
from poller.genesys.http import (
    HttpSession,
    Reply,
    announce_pause,
    api_error,
    error_body,
    retry_after,
)
from poller.genesys.retry import RetryPolicy, retrying
from poller.logsetup import forget_secret, register_secret
from poller.selfmetrics import SelfMetrics
from poller.timing import Clocks

DEFAULT_EXPIRES_IN = 86399.0  # what Genesys gives a client-credentials token


class TokenSource:
    def __init__(
        self,
        http: HttpSession,
        settings: GenesysSettings,
        credentials: Credentials,
        metrics: SelfMetrics,
        *,
        clocks: Clocks,
        policy: RetryPolicy,
    ) -> None:
        self._http = http
        self._settings = settings
        self._credentials = credentials
        self._metrics = metrics
        self._clock, self._sleep, self._rng = clocks.clock, clocks.sleep, clocks.rng
        self._policy = policy
        self._token: str | None = None
        self._expires = 0.0
        self._margin = 0.0
        self._lock = asyncio.Lock()
        self._failures = 0
        self._blocked_until = 0.0
        self._last_error: ApiError | None = None
        self._paused_until = 0.0

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

    async def lifetime(self) -> float:
        """Seconds the current token has left, logging in first if needed."""
        await self.token()
        return self._expires - self._clock()

    def forget(self, token: str) -> None:
        """Genesys refused `token` (401): the next call logs in again."""
        if self._token == token:
            self._token = None

    @property
    def expires_at(self) -> float | None:
        """When the current access token expires; None before the first login."""
        return self._expires if self._token is not None else None

    @property
    def paused_until(self) -> float:
        """Until when a 429 from the login host asked for no logins (0: never)."""
        return self._paused_until

    async def _login(self) -> None:
        now = self._clock()
        if now < self._blocked_until and self._last_error is not None:
            last = self._last_error
            raise ApiError(
                f"{last.message}; next login attempt in {self._blocked_until - now:.1f}s",
                endpoint="token",
                status=last.status,
                code=last.code,
                context_id=last.context_id,
            )
        try:
            reply = await retrying(
                self._attempt,
                policy=self._policy,
                delay=lambda _err, attempt: self._policy.backoff(attempt, self._rng),
                sleep=self._sleep,
                metrics=self._metrics,
            )
            self._accept(reply)
        except ThrottledError as err:
            # The login host's own 429: no login before its Retry-After has passed.
            self._blocked_until = self._paused_until = self._clock() + err.retry_after
            self._last_error = err
            announce_pause(self._metrics, "login", self._paused_until, err.retry_after, err)
            raise
        except ApiError as err:
            self._failures += 1
            pause = self._policy.login_backoff * 2 ** (self._failures - 1)
            self._blocked_until = self._clock() + min(self._policy.login_backoff_max, pause)
            self._last_error = err
            raise
        self._failures = 0
        self._blocked_until = 0.0

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
        if reply.status == 429:
            wait = retry_after(reply)
            error = api_error("token", reply)
            raise ThrottledError(
                f"the login host answered 429 with Retry-After {wait:g}s; no login until then",
                retry_after=wait,
                endpoint="token",
                status=429,
                code=error.code,
                context_id=error.context_id,
            )
        if reply.status in (400, 401, 403):
            raise _rejected(reply, self._credentials.origin)
        raise api_error("token", reply)

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
        self._metrics.token_refreshes.labels().inc()
        self._metrics.token_expiry.labels().set(self._expires)


def _rejected(reply: Reply, origin: str) -> ApiError:
    """A refused login, in the OAuth error body's own words (RFC 6749 §5.2): the login host does
    not answer with the API host's `{message, code}`. Never holds the secret: the host does not
    echo it, and the body is cut short."""
    error = description = None
    body = error_body(reply)
    if body is not None:
        if isinstance(body.get("error"), str):
            error = body["error"][:100]
        for key in ("error_description", "description", "message"):
            if isinstance(body.get(key), str) and body[key]:
                description = body[key][:300]
                break
    said = ": ".join(part for part in (error, description) if part) or f"HTTP {reply.status}"
    return ApiError(
        f"OAuth login rejected ({said}); check {origin} and the region",
        endpoint="token",
        status=reply.status,
        code=error,
        context_id=reply.correlation_id,
    )
