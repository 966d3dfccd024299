"""Property: no request line a client can send makes the HTTP server answer 5xx.

The daemon's real app (with a reloadable config and published series) runs in a thread of its
own; Hypothesis writes raw request lines to it over a socket, so paths reach the server exactly
as generated (no client-side quoting or normalising).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from aiohttp import web
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from poller.config import parse_config
from poller.config.model import Config, Credentials, Secret
from poller.daemon import Daemon
from poller.serving import bound_addresses, serve
from tests.normalize.normalize_support import publish
from tests.reliability.reliability_support import AGGREGATE, CLIENT_ID, CLIENT_SECRET
from tests.support.stack import config_text

ENV = {"GENESYS_API_BASE_URL": "http://127.0.0.1:9", "GENESYS_LOGIN_BASE_URL": "http://127.0.0.1:9"}
RESPONSE = {"results": [{"group": {"flowId": "f1", "flowName": "Main"}, "data": [{"metrics": [
    {"metric": "nFlow", "stats": {"count": 3}}]}]}]}  # fmt: skip


@pytest.fixture(scope="module")
def address() -> Iterator[tuple[str, int]]:
    """The daemon's app served from a thread with its own event loop (polling off; the
    lifecycle API on, so that POST /-/reload really reloads)."""
    loop = asyncio.new_event_loop()

    def load() -> Config:
        return parse_config(config_text(AGGREGATE), source="props.yaml", env=ENV)

    async def start() -> tuple[Daemon, web.AppRunner]:
        daemon = Daemon(load(), Credentials(CLIENT_ID, Secret(CLIENT_SECRET)), loader=load)
        publish(daemon.store, "aggregate", "flows", RESPONSE, 0.0)
        return daemon, await serve(daemon, "127.0.0.1", 0, schedule=False, enable_lifecycle=True)

    async def stop() -> None:
        await daemon.stop()
        await runner.cleanup()

    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    daemon, runner = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    host, port = bound_addresses(runner)[0].rsplit(":", 1)
    yield host, int(port)
    asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def status_of(address: tuple[str, int], request: bytes) -> int | None:
    """The status the server answers `request` with; None if it closes without answering."""
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    if not data:
        return None
    line = data.split(b"\r\n", 1)[0].split()
    assert line[0].startswith(b"HTTP/1."), data[:200]
    return int(line[1])


KNOWN = ["", "metrics", "readyz", "healthz", "-", "reload", "..", ".", "%", "%2F", "%2e%2e",
         "%ff", "%00", "%zz", "?", "?a=%ff", "#", "&", ";", "//", "\\", "~", "*"]  # fmt: skip
printable = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=10)
unicode = st.text(st.characters(exclude_categories=["Cs"]), max_size=6)
segments = st.one_of(
    st.sampled_from(KNOWN),
    printable,
    unicode.map(lambda text: quote(text, safe="")),  # as a client would send it
    unicode,  # raw bytes in the request line, as a broken client would
)
paths = st.one_of(
    st.lists(segments, max_size=6).map(lambda parts: "/" + "/".join(parts)),
    st.sampled_from(["*", "http://127.0.0.1/metrics", "metrics", "/" + "a" * 9000]),
)
VERBS = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT",
         "PROPFIND"]  # fmt: skip
methods = st.one_of(
    st.sampled_from(VERBS),
    st.sampled_from(["GET", "POST"]),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=methods, path=paths, gzip=st.booleans())
@example(method="POST", path="/-/reload", gzip=False)
@example(method="GET", path="/metrics?x=%ff", gzip=True)
@example(method="GET", path="/%ff", gzip=False)
def test_no_request_line_gets_a_5xx(
    address: tuple[str, int], method: str, path: str, gzip: bool
) -> None:
    """Any method and any path (odd escapes, non-ASCII, huge, absolute-form) gets a 1xx-4xx
    answer or a closed connection from the daemon's app, never a 5xx."""
    headers = "Host: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n"
    if gzip:
        headers += "Accept-Encoding: gzip\r\n"
    request = f"{method} {path} HTTP/1.1\r\n{headers}\r\n".encode()
    status = status_of(address, request)
    # /readyz answering 503 is its documented "not ready" (nothing polls here), not an error;
    # HEAD is answered as GET is.
    not_ready = status == 503 and method in ("GET", "HEAD") and path.split("?")[0] == "/readyz"
    assert status is None or status < 500 or not_ready, f"{method} {path!r} -> {status}"
