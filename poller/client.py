"""The Genesys Cloud HTTP client: the only module that knows HTTP and Genesys error bodies.

OAuth client credentials with a cached token refreshed ahead of expiry, one re-login on a 401,
the shared request budget, and retries with exponential backoff and jitter on 429 (honouring
Retry-After, pausing every caller), 502, 503, 504, timeouts and connection errors. Everything
that goes wrong leaves as one of the ApiError types, carrying Genesys' code and contextId and
never a secret or a token.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from poller.budget import RequestBudget
from poller.catalog import (
    AGGREGATE_PATH,
    AGGREGATE_PERMISSION,
    CORRELATION_HEADER,
    OBSERVATION_PATH,
    OBSERVATION_PERMISSION,
    TOKEN_PATH,
)
from poller.config.model import Credentials, GenesysSettings
from poller.errors import ApiError, BadResponseError, ThrottledError, TransportError
from poller.logsetup import forget_secret, register_secret
from poller.selfmetrics import SelfMetrics

Endpoint = Literal["aggregates", "observations"]
PATHS: dict[str, str] = {"aggregates": AGGREGATE_PATH, "observations": OBSERVATION_PATH}
PERMISSIONS: dict[str, str] = {
    "aggregates": AGGREGATE_PERMISSION,
    "observations": OBSERVATION_PERMISSION,
}
RETRY_STATUSES = frozenset({502, 503, 504})
DEFAULT_RETRY_AFTER = 3.0
# The Java and Go SDKs stop at 180 s: longer waits are daily caps, not bursts.
MAX_RETRY_AFTER = 180.0
# Parsing takes ~10 ms per MB; above this size it moves off the event loop.
PARSE_IN_THREAD_BYTES = 256 * 1024


_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace, as the json module defines it


def loads_in_pieces(body: bytes) -> object:
    """json.loads(body), but a top-level object's arrays are decoded an element at a time.

    One json.loads call holds the GIL throughout (~0.1 s for a 10 MB response here), which
    stalls the event loop even from a worker thread; between elements, other threads get their
    turn. Whatever this reader does not expect, invalid JSON included, goes to json.loads, so
    the results and the errors are json.loads' own."""
    text = body.decode(json.detect_encoding(body), "surrogatepass")
    try:
        return _object_in_pieces(text)
    except ValueError:  # JSONDecodeError included
        return json.loads(text)


def _skip(s: str, i: int) -> int:
    """The index of the first non-whitespace character at or after `i`."""
    match = _SPACE.match(s, i)
    assert match is not None  # `*` matches the empty string anywhere
    return match.end()


def _object_in_pieces(s: str) -> dict[str, object]:
    i = _skip(s, 0)
    if s[i : i + 1] != "{":
        raise ValueError("not an object")
    out: dict[str, object] = {}
    i = _skip(s, i + 1)
    if s[i : i + 1] == "}":
        i += 1
    else:
        while True:
            if s[i : i + 1] != '"':
                raise ValueError("expected a key")
            key, i = _DECODER.raw_decode(s, i)
            i = _skip(s, i)
            if s[i : i + 1] != ":":
                raise ValueError("expected a colon")
            i = _skip(s, i + 1)
            if s[i : i + 1] == "[":
                out[key], i = _array_in_pieces(s, i)
            else:
                out[key], i = _DECODER.raw_decode(s, i)
            i = _skip(s, i)
            mark = s[i : i + 1]
            i = _skip(s, i + 1)
            if mark == "}":
                break
            if mark != ",":
                raise ValueError("expected a comma")
    if _skip(s, i) != len(s):
        raise ValueError("extra data")
    return out


def _array_in_pieces(s: str, i: int) -> tuple[list[object], int]:
    """The array starting at s[i] ("["), and the index just past it."""
    out: list[object] = []
    i = _skip(s, i + 1)
    if s[i : i + 1] == "]":
        return out, i + 1
    while True:
        item, i = _DECODER.raw_decode(s, i)
        out.append(item)
        i = _skip(s, i)
        mark = s[i : i + 1]
        if mark == "]":
            return out, i + 1
        if mark != ",":
            raise ValueError("expected a comma")
        i = _skip(s, i + 1)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0
    # Refresh the token this long before it expires, capped at a tenth of its lifetime.
    refresh_margin: float = 300.0
    # After a failed login, wait this long (doubling per failure) before trying again.
    login_backoff: float = 2.0
    login_backoff_max: float = 120.0


@dataclass(frozen=True, slots=True)
class Answer:
    """A query's parsed JSON, and the ININ-Correlation-Id Genesys gave the response: what
    Genesys support asks for should the data turn out to be wrong."""

    data: object
    correlation_id: str | None


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    body: bytes
    # Case-insensitive: HTTP/2 and proxies lower-case names (retry-after, inin-ratelimit-reset).
    headers: Mapping[str, str]


class GenesysClient:
    def __init__(
        self,
        settings: GenesysSettings,
        credentials: Credentials,
        metrics: SelfMetrics,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        budget: RequestBudget | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._settings = settings
        self._credentials = credentials
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self.budget = budget or RequestBudget(
            settings.requests_per_minute, clock=clock, sleep=sleep
        )
        self._policy = policy or RetryPolicy()
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._token: str | None = None
        self._token_expires = 0.0
        self._margin = 0.0
        self._login_lock = asyncio.Lock()
        self._login_failures = 0
        self._login_blocked_until = 0.0

    async def close(self) -> None:
        """Close the session for good: a request still retrying must not open a new one, which
        nothing would ever close."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._settings.timeout),
                headers={"User-Agent": "genesyscloud-poller"},
                raise_for_status=False,
            )
        return self._session

    # -- queries -----------------------------------------------------------------------------

    async def query(self, endpoint: Endpoint, body: dict[str, Any]) -> object:
        """POST a query and return the parsed JSON response."""
        return (await self.answer(endpoint, body)).data

    async def answer(self, endpoint: Endpoint, body: dict[str, Any]) -> Answer:
        """POST a query and return the parsed JSON response with its correlation id."""
        url = self._settings.api_base_url + PATHS[endpoint]
        payload = json.dumps(body).encode()
        relogged = False
        attempt = 0
        while True:
            await self.budget.acquire()
            token = await self._access_token()
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            try:
                reply = await self._send(endpoint, url, payload, headers)
            except TransportError as err:
                error: ApiError = err
            else:
                if reply.status == 200:
                    correlation_id = reply.headers.get(CORRELATION_HEADER)
                    if len(reply.body) > PARSE_IN_THREAD_BYTES:
                        data = await asyncio.to_thread(
                            self._parse_json, endpoint, reply, loads_in_pieces
                        )
                    else:
                        data = self._parse_json(endpoint, reply)
                    return Answer(data, correlation_id)
                if reply.status == 401 and not relogged:
                    # An expired or revoked token: log in again once, without using a retry.
                    relogged = True
                    self._forget_token(token)
                    continue
                error = self._api_error(endpoint, reply)
                if reply.status == 429:
                    self._metrics.api_throttled.labels(endpoint).inc()
                    wait = self._retry_after(reply)
                    if wait > MAX_RETRY_AFTER:
                        raise ThrottledError(
                            f"rate limited with Retry-After {wait:g}s, longer than the "
                            f"{MAX_RETRY_AFTER:g}s the poller waits through; giving up until the "
                            "next scheduled run",
                            retry_after=wait,
                            endpoint=endpoint,
                            status=429,
                            code=error.code,
                            context_id=error.context_id,
                        )
                    self.budget.pause(wait)
            if not error.retryable or attempt >= self._policy.max_retries:
                raise error
            attempt += 1
            reason = "status_" + str(error.status) if error.status else "transport"
            self._metrics.api_retries.labels(endpoint, reason).inc()
            if error.status != 429:  # a 429 already paused the budget for Retry-After
                await self._sleep(self._backoff(attempt))

    # -- HTTP --------------------------------------------------------------------------------

    async def _send(
        self,
        endpoint: str,
        url: str,
        payload: bytes,
        headers: dict[str, str],
    ) -> _Reply:
        if self._closed:
            raise TransportError(
                "the HTTP client was closed (the daemon is stopping or its genesys settings "
                "were reloaded)",
                endpoint=endpoint,
            )
        started = time.perf_counter()
        try:
            async with self._http().post(url, data=payload, headers=headers) as resp:
                body = await self._read_limited(endpoint, resp)
                reply = _Reply(resp.status, body, resp.headers.copy())
        except BadResponseError as err:
            # The request did get an answer: count it under its status like any other.
            self._count(endpoint, str(err.status), started)
            raise
        except TimeoutError:
            self._count(endpoint, "error", started)
            raise TransportError(
                f"no response within {self._settings.timeout:g}s", endpoint=endpoint,
                retryable=True,
            ) from None  # fmt: skip
        except aiohttp.ClientError as exc:
            self._count(endpoint, "error", started)
            # The exception text names the host and the OS error, never headers or bodies.
            raise TransportError(
                f"{type(exc).__name__}: {exc}", endpoint=endpoint, retryable=True
            ) from None
        self._count(endpoint, str(reply.status), started)
        return reply

    def _count(self, endpoint: str, code: str, started: float) -> None:
        self._metrics.api_requests.labels(endpoint, code).inc()
        self._metrics.api_request_duration.labels(endpoint).observe(time.perf_counter() - started)

    async def _read_limited(self, endpoint: str, resp: aiohttp.ClientResponse) -> bytes:
        limit = self._settings.max_response_bytes
        if resp.content_length is not None and resp.content_length > limit:
            raise BadResponseError(
                f"response of {resp.content_length} bytes is over the limit of {limit} bytes "
                "(genesys.max_response_bytes); narrow the query's group_by or window",
                endpoint=endpoint, status=resp.status,
                context_id=resp.headers.get(CORRELATION_HEADER),
            )  # fmt: skip
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > limit:
                raise BadResponseError(
                    f"response is over the limit of {limit} bytes (genesys.max_response_bytes); "
                    "narrow the query's group_by or window",
                    endpoint=endpoint, status=resp.status,
                    context_id=resp.headers.get(CORRELATION_HEADER),
                )  # fmt: skip
            chunks.append(chunk)
        return b"".join(chunks)

    def _parse_json(
        self, endpoint: str, reply: _Reply, loads: Callable[[bytes], object] = json.loads
    ) -> object:
        try:
            return loads(reply.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadResponseError(
                f"response is not valid JSON ({exc.__class__.__name__} at byte "
                f"{getattr(exc, 'pos', '?')} of {len(reply.body)})",
                endpoint=endpoint, status=reply.status,
                context_id=reply.headers.get(CORRELATION_HEADER),
            ) from None  # fmt: skip

    def _api_error(self, endpoint: str, reply: _Reply) -> ApiError:
        message, code, context_id = f"HTTP {reply.status}", None, None
        try:
            body = json.loads(reply.body)
        except (ValueError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict):
            if isinstance(body.get("message"), str):
                message = body["message"][:500]
            if isinstance(body.get("code"), str):
                code = body["code"]
            if isinstance(body.get("contextId"), str):
                context_id = body["contextId"]
        context_id = context_id or reply.headers.get(CORRELATION_HEADER)
        if reply.status == 403 and endpoint in PERMISSIONS:
            message += f" (the OAuth client's role needs permission {PERMISSIONS[endpoint]})"
        return ApiError(
            message,
            endpoint=endpoint,
            status=reply.status,
            code=code,
            context_id=context_id,
            retryable=reply.status in RETRY_STATUSES or reply.status == 429,
        )

    def _retry_after(self, reply: _Reply) -> float:
        for header in ("Retry-After", "inin-ratelimit-reset"):
            raw = reply.headers.get(header)
            if raw is None:
                continue
            try:
                value = float(raw)
            except ValueError:
                continue
            if value >= 0:
                return value
        return DEFAULT_RETRY_AFTER

    def _backoff(self, attempt: int) -> float:
        """Exponential with jitter (half fixed, half random): retries of many pollers spread out."""
        cap = min(self._policy.max_delay, self._policy.base_delay * 2.0 ** (attempt - 1))
        return cap / 2 + self._rng() * cap / 2

    # -- OAuth -------------------------------------------------------------------------------

    def _token_fresh(self) -> bool:
        if self._token is None:
            return False
        return self._clock() < self._token_expires - self._margin

    async def _access_token(self) -> str:
        if self._token_fresh():
            assert self._token is not None
            return self._token
        # Concurrent pollers wait for one login instead of each hitting the token endpoint.
        async with self._login_lock:
            if not self._token_fresh():
                await self._login()
            assert self._token is not None
            return self._token

    def _forget_token(self, token: str) -> None:
        if self._token == token:
            self._token = None

    async def _login(self) -> None:
        now = self._clock()
        if now < self._login_blocked_until:
            raise ApiError(
                f"OAuth login backing off after {self._login_failures} failed attempt(s); "
                f"next attempt in {self._login_blocked_until - now:.0f}s",
                endpoint="token",
            )
        try:
            await self._login_attempts()
        except ApiError:
            self._login_failures += 1
            backoff = min(
                self._policy.login_backoff_max,
                self._policy.login_backoff * 2 ** (self._login_failures - 1),
            )
            self._login_blocked_until = self._clock() + backoff
            raise
        self._login_failures = 0
        self._login_blocked_until = 0.0

    async def _login_attempts(self) -> None:
        url = self._settings.login_base_url + TOKEN_PATH
        headers = {
            # aiohttp 3.14 deprecates BasicAuth objects; the header is what the login host reads.
            "Authorization": aiohttp.encode_basic_auth(
                self._credentials.client_id, self._credentials.client_secret.reveal()
            ),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        attempt = 0
        while True:
            try:
                reply = await self._send("token", url, b"grant_type=client_credentials", headers)
            except TransportError as err:
                error: ApiError = err
            else:
                if reply.status == 200:
                    self._accept_token(reply)
                    return
                error = self._api_error("token", reply)
                if reply.status in (400, 401, 403):
                    raise ApiError(
                        f"OAuth login rejected ({error.message}); check GENESYS_CLIENT_ID and "
                        "GENESYS_CLIENT_SECRET and the region",
                        endpoint="token", status=reply.status, code=error.code,
                        context_id=error.context_id,
                    )  # fmt: skip
            if not error.retryable or attempt >= self._policy.max_retries:
                raise error
            attempt += 1
            self._metrics.api_retries.labels(
                "token", f"status_{error.status}" if error.status else "transport"
            ).inc()
            await self._sleep(self._backoff(attempt))

    def _accept_token(self, reply: _Reply) -> None:
        try:
            body = json.loads(reply.body)
            token = body["access_token"]
            expires_in = float(body.get("expires_in", 86399))
        except (ValueError, UnicodeDecodeError, KeyError, TypeError):
            raise BadResponseError(
                "token response has no access_token", endpoint="token", status=reply.status
            ) from None
        if not isinstance(token, str) or not token:
            raise BadResponseError(
                "token response has no access_token", endpoint="token", status=reply.status
            )
        now = self._clock()
        if self._token:
            forget_secret(self._token)
        register_secret(token)
        self._token = token
        self._token_expires = now + expires_in
        self._margin = min(self._policy.refresh_margin, expires_in / 10)
        self._metrics.token_refreshes.inc()
        self._metrics.token_expiry.set(self._token_expires)
