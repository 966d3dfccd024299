"""Basic auth from `basic_auth_users`: who gets in, what a refused client sees, what is cached."""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer

from poller.webauth import BasicAuth
from tests.security.conftest import Serve
from tests.security.security_support import PASSWORD, Y_PASSWORD, basic, fetch, write_config

PROTECTED = ["/metrics", "/readyz", "/", "/status.json"]


def users_yaml(hashes: dict[str, str], extra: str = "") -> str:
    lines = ["basic_auth_users:"] + [f"  {user}: '{h}'" for user, h in hashes.items()]
    return "\n".join(lines) + "\n" + extra


@pytest.fixture
async def url(serve: Serve, tmp_path: Path, hashes: dict[str, str]) -> str:
    return await serve(write_config(tmp_path, users_yaml(hashes)))


@pytest.mark.parametrize("path", PROTECTED)
async def test_no_credentials_is_401_with_basic_challenge(
    url: str, http: aiohttp.ClientSession, path: str
) -> None:
    """Without an Authorization header every path but /healthz is 401 with a Basic challenge."""
    status, body, headers = await fetch(http, url + path)
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Basic")
    assert body == "Unauthorized\n"


@pytest.mark.parametrize("path", PROTECTED)
async def test_right_password_is_served(url: str, http: aiohttp.ClientSession, path: str) -> None:
    """The right user and password get /metrics, /readyz, the status page and its JSON."""
    status, body, _ = await fetch(http, url + path, basic("alice", PASSWORD))
    assert status == 200
    assert body


async def test_metrics_body_is_the_real_exposition(url: str, http: aiohttp.ClientSession) -> None:
    """An authenticated scrape gets the exposition, not some other 200."""
    _, body, headers = await fetch(http, url + "/metrics", basic("alice", PASSWORD))
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "genesyscloud_poller_build_info" in body


async def test_go_style_2y_hash_is_accepted(url: str, http: aiohttp.ClientSession) -> None:
    """A $2y$ hash (htpasswd, Go exporters' files) is read and checked like a $2b$ one."""
    status, _, _ = await fetch(http, url + "/metrics", basic("bob", Y_PASSWORD))
    assert status == 200
    status, _, _ = await fetch(http, url + "/metrics", basic("bob", PASSWORD))
    assert status == 401


async def test_healthz_is_open(url: str, http: aiohttp.ClientSession) -> None:
    """/healthz answers 200 without credentials, so liveness probes need none."""
    status, body, _ = await fetch(http, url + "/healthz")
    assert (status, body) == (200, "ok\n")


@pytest.mark.parametrize(
    ("user", "password"),
    [
        ("alice", "wrong"),
        ("alice", ""),
        ("alice", PASSWORD.upper()),
        ("mallory", PASSWORD),
        ("bob", PASSWORD),  # alice's password does not open bob's account
        ("", PASSWORD),
    ],
    ids=["wrong", "empty", "case", "unknown-user", "other-users-password", "no-user"],
)
async def test_wrong_credentials_are_401(
    url: str, http: aiohttp.ClientSession, user: str, password: str
) -> None:
    """A wrong password, an unknown user or another user's password is 401."""
    status, _, headers = await fetch(http, url + "/metrics", basic(user, password))
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Basic")


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!not-base64!!!",
        "Basic " + b64(b"alice"),  # no colon
        "Basic " + b64(PASSWORD.encode()),  # no colon, only the password
        "Basic " + b64(b"alice:\xff\xfe"),  # not UTF-8
        "Basic " + b64(b"alice:" + b"x" * 100),  # over bcrypt's 72 bytes
        "Basic " + b64(b"alice:pass\x00word"),
        "Basic",
        "Basic ",
        "Bearer " + b64(f"alice:{PASSWORD}".encode()),
        b64(f"alice:{PASSWORD}".encode()),  # no scheme at all
    ],
)
async def test_malformed_authorization_is_401_not_500(
    url: str, http: aiohttp.ClientSession, header: str
) -> None:
    """A malformed Authorization header is an ordinary 401; the server keeps serving."""
    status, _, _ = await fetch(http, url + "/metrics", {"Authorization": header})
    assert status == 401
    status, _, _ = await fetch(http, url + "/metrics", basic("alice", PASSWORD))
    assert status == 200


async def test_scheme_is_case_insensitive(url: str, http: aiohttp.ClientSession) -> None:
    """`basic` in lower case is accepted, as RFC 7617 and Go's Request.BasicAuth read it."""
    header = "basic " + b64(f"alice:{PASSWORD}".encode())
    status, _, _ = await fetch(http, url + "/metrics", {"Authorization": header})
    assert status == 200


async def test_refusal_leaks_neither_password_nor_hash(
    url: str, http: aiohttp.ClientSession, hashes: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A 401's body and headers and the logs hold neither the tried password nor the hash."""
    tried = "hunter2-tried-password"
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as events:
        responses = [
            await fetch(http, url + "/metrics", basic("alice", tried)),
            await fetch(http, url + "/metrics", basic("mallory", tried)),
        ]
    for status, body, headers in responses:
        assert status == 401
        seen = body + repr(headers)
        for secret in (tried, hashes["alice"], hashes["alice"][7:29], PASSWORD):
            assert secret not in seen
    logged = repr(events) + caplog.text
    for secret in (tried, hashes["alice"], PASSWORD):
        assert secret not in logged


async def test_configured_headers_on_success_and_refusal(
    serve: Serve, tmp_path: Path, hashes: dict[str, str], http: aiohttp.ClientSession
) -> None:
    """http_server_config.headers are sent on 200s and on 401s alike."""
    extra = (
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
        "    Strict-Transport-Security: max-age=31536000\n"
    )
    url = await serve(write_config(tmp_path, users_yaml(hashes, extra)))
    for auth, expected in ((basic("alice", PASSWORD), 200), (None, 401), (basic("x", "y"), 401)):
        status, _, headers = await fetch(http, url + "/metrics", auth)
        assert status == expected
        assert headers["X-Frame-Options"] == "deny"
        assert headers["Strict-Transport-Security"] == "max-age=31536000"


# -- what bcrypt is asked to do --------------------------------------------------------------


class CountingAuth(BasicAuth):
    """BasicAuth that counts its bcrypt checks and how many ran at once (a fake, not a mock)."""

    def __init__(self, users: dict[str, bytes], slow: float = 0.0) -> None:
        super().__init__(users)
        self.calls: list[bytes] = []
        self.running = 0
        self.most_at_once = 0
        self._slow = slow
        self._guard = threading.Lock()

    def _checkpw(self, password: bytes, hashed: bytes) -> bool:
        with self._guard:
            self.calls.append(hashed)
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            if self._slow:
                time.sleep(self._slow)  # stands in for a costly hash, in the worker thread
            return super()._checkpw(password, hashed)
        finally:
            with self._guard:
                self.running -= 1


async def ok(_request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


@pytest.fixture
def counting_auth(hashes: dict[str, str]) -> CountingAuth:
    return CountingAuth({u: h.encode() for u, h in hashes.items()})


@pytest.fixture
async def counted_url(counting_auth: CountingAuth) -> AsyncIterator[str]:
    app = web.Application(middlewares=[counting_auth])
    app.router.add_get("/metrics", ok)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    yield str(server.make_url(""))
    await server.close()


async def test_second_right_request_is_served_from_cache(
    counted_url: str, counting_auth: CountingAuth, http: aiohttp.ClientSession
) -> None:
    """bcrypt runs once for a right password; the next scrape with it skips bcrypt."""
    for _ in range(3):
        status, _, _ = await fetch(http, counted_url + "/metrics", basic("alice", PASSWORD))
        assert status == 200
    assert len(counting_auth.calls) == 1


async def test_wrong_passwords_are_never_cached_as_right(
    counted_url: str, counting_auth: CountingAuth, http: aiohttp.ClientSession
) -> None:
    """Each wrong try is checked by bcrypt and refused; the cache only lets a right pair in."""
    for _ in range(2):
        status, _, _ = await fetch(http, counted_url + "/metrics", basic("alice", "nope"))
        assert status == 401
    assert len(counting_auth.calls) == 2
    status, _, _ = await fetch(http, counted_url + "/metrics", basic("alice", PASSWORD))
    assert status == 200
    status, _, _ = await fetch(http, counted_url + "/metrics", basic("alice", "nope"))
    assert status == 401
    assert len(counting_auth.calls) == 4


async def test_unknown_user_costs_a_bcrypt_check_too(
    counted_url: str,
    counting_auth: CountingAuth,
    http: aiohttp.ClientSession,
    hashes: dict[str, str],
) -> None:
    """An unknown user is checked against a dummy hash of the same cost, so timing hides names."""
    status, _, _ = await fetch(http, counted_url + "/metrics", basic("mallory", PASSWORD))
    assert status == 401
    [hashed] = counting_auth.calls
    assert hashed not in {h.encode() for h in hashes.values()}
    assert hashed[4:7] == hashes["alice"][4:7].encode()  # same cost


async def test_bcrypt_checks_run_one_at_a_time(
    hashes: dict[str, str], http: aiohttp.ClientSession
) -> None:
    """Concurrent bad passwords are checked one after another, never filling the thread pool."""
    auth = CountingAuth({u: h.encode() for u, h in hashes.items()}, slow=0.01)
    app = web.Application(middlewares=[auth])
    app.router.add_get("/metrics", ok)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        url = str(server.make_url("/metrics"))
        results = await asyncio.gather(
            *(fetch(http, url, basic("alice", f"guess-{i}")) for i in range(8))
        )
    finally:
        await server.close()
    assert [status for status, _, _ in results] == [401] * 8
    assert len(auth.calls) == 8
    assert auth.most_at_once == 1
