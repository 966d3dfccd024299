"""Canned HTTP replies and the scriptable fake Genesys Cloud server of the unit tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, CIMultiDictProxy

from poller.catalog import AGGREGATE_PATH, OBSERVATION_PATH, TOKEN_PATH
from poller.config.model import GenesysSettings
from tests.support.clock import FakeClock


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: scripted for a fake server, or received from a real one.

    `body`: dict/list is sent as JSON, str/bytes verbatim.
    """

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # real seconds before answering (for client timeouts only)
    chunked: bool = False  # no Content-Length: the body goes out in chunks
    # Content-Length of the whole body, then the connection drops halfway through it.
    cut: bool = False

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()

    @property
    def text(self) -> str:
        return self.payload().decode("utf-8", "replace")

    @property
    def json(self) -> Any:
        """The body parsed as JSON (a dict/list body as given)."""
        if isinstance(self.body, str | bytes):
            return json.loads(self.body)
        return self.body


def genesys_error(
    status: int, code: str, message: str, context_id: str = "ctx-0000", **headers: str
) -> Reply:
    """A reply with Genesys' ErrorBody shape."""
    body = {
        "message": message,
        "code": code,
        "status": status,
        "contextId": context_id,
        "details": [],
        "errors": [],
    }
    return Reply(status, body, headers={k.replace("_", "-"): v for k, v in headers.items()})


@dataclass(frozen=True)
class Seen:
    """A request the fake server received."""

    method: str
    path: str
    headers: CIMultiDictProxy[str]
    body: bytes
    time: float  # FakeClock.now when it arrived

    def json(self) -> Any:
        return json.loads(self.body)


class FakeGenesys:
    """A fake Genesys Cloud (login and API on one loopback server), scripted per path.

    Each path answers from its own queue of `Reply`s. When a queue is empty, /oauth/token issues
    a fresh token (`fake-access-token-1`, `-2`, ...) and the query paths answer
    `{"results": []}`. Every request is recorded with the FakeClock's time, and every token handed
    out (scripted or not) is listed in `tokens`, so tests can check no error shows one.
    """

    TOKEN = TOKEN_PATH
    AGGREGATES = AGGREGATE_PATH
    OBSERVATIONS = OBSERVATION_PATH

    def __init__(self, clock: FakeClock, *, expires_in: float = 86399) -> None:
        self.clock = clock
        self.expires_in = expires_in
        self.requests: list[Seen] = []
        self.tokens: list[str] = []
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1", port=0)

    async def __aenter__(self) -> FakeGenesys:
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()  # releases handlers still "thinking" about a timed-out request
        await self._server.close()

    @property
    def url(self) -> str:
        return str(self._server.make_url("")).rstrip("/")

    def settings(self, **overrides: Any) -> GenesysSettings:
        return GenesysSettings(
            region="fake.test", api_base_url=self.url, login_base_url=self.url, **overrides
        )

    def script(self, path: str, *replies: Reply) -> None:
        self._scripts[path].extend(replies)

    def requests_to(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Seen(
                request.method,
                request.path,
                CIMultiDictProxy(CIMultiDict(request.headers)),
                body,
                self.clock.now,
            )
        )
        script = self._scripts[request.path]
        reply = script.popleft() if script else self._default(request.path)
        if isinstance(reply.body, dict) and isinstance(reply.body.get("access_token"), str):
            self.tokens.append(reply.body["access_token"])
        if reply.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), reply.delay)
        headers = CIMultiDict(reply.headers)
        headers.setdefault("Content-Type", "application/json")
        payload = reply.payload()
        if reply.cut:
            return await _cut(request, reply.status, headers, payload)
        if not reply.chunked:
            return web.Response(status=reply.status, body=payload, headers=headers)
        resp = web.StreamResponse(status=reply.status, headers=headers)
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for start in range(0, len(payload), 4096):
            await resp.write(payload[start : start + 4096])
        await resp.write_eof()
        return resp

    def _default(self, path: str) -> Reply:
        if path == TOKEN_PATH:
            token = f"fake-access-token-{len(self.tokens) + 1}"
            body = {"access_token": token, "token_type": "bearer", "expires_in": self.expires_in}
            return Reply(200, body)
        if path in (AGGREGATE_PATH, OBSERVATION_PATH):
            return Reply(200, {"results": []})
        return genesys_error(404, "not.found", f"no route {path}")


async def _cut(
    request: web.Request, status: int, headers: CIMultiDict[str], payload: bytes
) -> web.StreamResponse:
    """Status, headers and half the body, then the socket closes, as a dropped connection
    leaves it."""
    resp = web.StreamResponse(status=status, headers=headers)
    resp.content_length = len(payload)
    await resp.prepare(request)
    await resp.write(payload[: len(payload) // 2])
    assert request.transport is not None
    request.transport.close()
    return resp
