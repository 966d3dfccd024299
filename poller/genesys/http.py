"""One aiohttp session: sends a request, reads the reply within the size limit, counts it, and
turns transport failures and Genesys error bodies into our error types."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import structlog

from poller import scope
from poller.catalog import CORRELATION_HEADER
from poller.config.model import GenesysSettings
from poller.errors import ApiError, BadResponseError, TransportError
from poller.selfmetrics import SelfMetrics
from poller.timing import Clock, Clocks

log = structlog.get_logger("poller.genesys")
QueryEndpoint = Literal["aggregates", "observations"]
ListingEndpoint = Literal["flows", "flow_outcomes", "flow_milestones"]
# The notification channel calls of push (create, subscriptions, HEAD; not the socket).
NotificationsEndpoint = Literal["notifications"]
# The endpoint label of the API self-metrics, and of our errors.
Endpoint = QueryEndpoint | ListingEndpoint | NotificationsEndpoint
RETRY_STATUSES = frozenset({429, 502, 503, 504})
WS_CLOSE_TIMEOUT = 5.0  # seconds a closing socket waits for the other side's close frame
MESSAGE_LIMIT = 500  # characters of a Genesys error message kept in our errors and logs


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    # Case-insensitive: HTTP/2 and proxies lower-case names (retry-after, inin-ratelimit-reset).
    headers: Mapping[str, str]

    @property
    def correlation_id(self) -> str | None:
        """What Genesys support asks for should the data turn out to be wrong."""
        return self.headers.get(CORRELATION_HEADER)


class RecentAnswers:
    """How the API answered, per minute, over the last MINUTES minutes: {status or "error": n}.
    For the status page; /metrics has the same as counters since start."""

    MINUTES = 5

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._minutes: deque[tuple[float, Counter[str]]] = deque()

    def record(self, code: str) -> None:
        minute = self._clock() // 60 * 60
        if not self._minutes or self._minutes[-1][0] != minute:
            self._minutes.append((minute, Counter()))
        self._minutes[-1][1][code] += 1
        self._forget(minute)

    def _forget(self, minute: float) -> None:
        while self._minutes and self._minutes[0][0] <= minute - 60 * self.MINUTES:
            self._minutes.popleft()

    def minutes(self) -> list[tuple[float, dict[str, int]]]:
        """(minute start, {code: answers}) for each minute that had any, oldest first."""
        self._forget(self._clock() // 60 * 60)
        return [(minute, dict(sorted(codes.items()))) for minute, codes in self._minutes]


class HttpSession:
    def __init__(self, settings: GenesysSettings, metrics: SelfMetrics, *, clocks: Clocks) -> None:
        self._settings = settings
        self._metrics = metrics
        self.recent = RecentAnswers(clocks.clock)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    async def close(self) -> None:
        """Close for good: a request still retrying must not open a new session, which nothing
        would ever close."""
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

    async def ws_connect(self, endpoint: str, url: str) -> aiohttp.ClientWebSocketResponse:
        """Open a WebSocket at `url` within the configured timeout; no auth header, no
        protocol-level heartbeat (the caller watches the socket). Errors never show the URL:
        a notification channel's connectUri is a capability."""
        if self._closed:
            raise TransportError("the HTTP client was closed", endpoint=endpoint)
        timeout = self._settings.timeout
        # A socket given up for silence may never answer our close frame: wait little for it.
        closing = aiohttp.ClientWSTimeout(ws_close=min(timeout, WS_CLOSE_TIMEOUT))
        try:
            async with asyncio.timeout(timeout):
                return await self._http().ws_connect(url, heartbeat=None, timeout=closing)
        except aiohttp.WSServerHandshakeError as exc:
            raise TransportError(
                f"the socket was refused (HTTP {exc.status})",
                endpoint=endpoint,
                status=exc.status,
                retryable=True,
            ) from None
        except TimeoutError:
            raise TransportError(
                f"no socket within {timeout:g}s", endpoint=endpoint, retryable=True
            ) from None
        except aiohttp.ClientError as exc:
            # The class and OS error only: some aiohttp errors print the URL.
            cause = getattr(exc, "os_error", None)
            said = f"{type(exc).__name__}: {cause}" if cause else type(exc).__name__
            raise TransportError(said, endpoint=endpoint, retryable=True) from None

    async def post(self, endpoint: str, url: str, payload: bytes, headers: dict[str, str]) -> Reply:
        """POST `payload`; any answer is a Reply, whatever its status."""
        return await self.request("POST", endpoint, url, headers, payload)

    async def get(self, endpoint: str, url: str, headers: dict[str, str]) -> Reply:
        """GET `url` (its query string included); any answer is a Reply, whatever its status."""
        return await self.request("GET", endpoint, url, headers)

    async def request(
        self,
        method: str,
        endpoint: str,
        url: str,
        headers: dict[str, str],
        payload: bytes | None = None,
    ) -> Reply:
        if self._closed:
            raise TransportError(
                "the HTTP client was closed (the daemon is stopping or its genesys settings "
                "were reloaded)",
                endpoint=endpoint,
            )
        started = time.perf_counter()
        try:
            async with self._http().request(method, url, data=payload, headers=headers) as resp:
                body = await self._read_limited(endpoint, resp)
                reply = Reply(resp.status, body, resp.headers.copy())
        except BadResponseError as err:
            # The request did get an answer: count it under its status like any other.
            self._count(endpoint, str(err.status), started)
            raise
        except TimeoutError:
            self._count(endpoint, "error", started)
            raise TransportError(
                f"no response within {self._settings.timeout:g}s", endpoint=endpoint, retryable=True
            ) from None
        except aiohttp.ClientError as exc:
            self._count(endpoint, "error", started)
            # The exception text names the host and the OS error, never headers or bodies.
            raise TransportError(
                f"{type(exc).__name__}: {exc}", endpoint=endpoint, retryable=True
            ) from None
        self._count(endpoint, str(reply.status), started)
        return reply

    def _count(self, endpoint: str, code: str, started: float) -> None:
        self.recent.record(code)
        self._metrics.api_requests.labels(endpoint, code).inc()
        self._metrics.api_request_duration.labels(endpoint).observe(time.perf_counter() - started)

    async def _read_limited(self, endpoint: str, resp: aiohttp.ClientResponse) -> bytes:
        limit = self._settings.max_response_bytes
        size = resp.content_length
        if size is None or size <= limit:
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.content.iter_chunked(1 << 16):
                size += len(chunk)
                if size > limit:
                    break
                chunks.append(chunk)
            else:
                return b"".join(chunks)
        over = f"of {size} bytes " if resp.content_length is not None else ""
        raise BadResponseError(
            f"response {over}is over the limit of {limit} bytes (genesys.max_response_bytes); "
            "narrow the query's group_by or window",
            endpoint=endpoint,
            status=resp.status,
            context_id=resp.headers.get(CORRELATION_HEADER),
        )


DEFAULT_RETRY_AFTER = 3.0


def retry_after(reply: Reply) -> float:
    """Seconds a 429 asks us to wait: Retry-After, else inin-ratelimit-reset, else 3 s."""
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


def announce_pause(
    metrics: SelfMetrics, host: str, until: float, wait: float, error: ApiError
) -> None:
    """A 429 started a pause of every request to `host`: said once, in the log and a gauge."""
    metrics.api_paused_until.labels(host).set(until)
    log.warning(
        "api_paused",
        **scope.log_fields(metrics.org),
        host=host,
        endpoint=error.endpoint,
        retry_after_seconds=wait,
        until=until,
        code=error.code,
        context_id=error.context_id,
    )


def error_body(reply: Reply) -> dict[str, Any] | None:
    """An error reply's JSON object, or None when it has none (a proxy's HTML page, say)."""
    try:
        body = json.loads(reply.body)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def api_error(endpoint: str, reply: Reply, hint: str = "") -> ApiError:
    """The error a non-200 reply stands for, with Genesys' message, code and contextId."""
    message, code, context_id = f"HTTP {reply.status}", None, None
    body = error_body(reply)
    if body is not None:
        if isinstance(body.get("message"), str):
            message = body["message"][:MESSAGE_LIMIT]
        if isinstance(body.get("code"), str):
            code = body["code"]
        if isinstance(body.get("contextId"), str):
            context_id = body["contextId"]
    return ApiError(
        message + hint,
        endpoint=endpoint,
        status=reply.status,
        code=code,
        context_id=context_id or reply.correlation_id,
        retryable=reply.status in RETRY_STATUSES,
    )
