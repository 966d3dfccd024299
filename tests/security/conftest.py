"""Fixtures for the web security tests: one PKI and one set of bcrypt users per session, an
HTTP client session, and real servers built with build_app on 127.0.0.1, port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import bcrypt
import pytest
from aiohttp import web

from poller.config.webconfig import WebConfig
from poller.server import build_app
from tests.security.security_support import PASSWORD, Y_PASSWORD, Pki, make_pki, server_state

Serve = Callable[[WebConfig], Awaitable[str]]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def hashes() -> dict[str, str]:
    """alice has a $2b$ hash (Python's bcrypt), bob a $2y$ one (Go and htpasswd write those)."""
    alice = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    bob = "$2y$" + bcrypt.hashpw(Y_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()[4:]
    return {"alice": alice, "bob": bob}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # A fresh connection per request, so each request does its own TLS handshake.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
        yield s


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Starts build_app's app with the config's TLS, as daemon.serve does; returns the base URL."""
    runners: list[web.AppRunner] = []

    async def start(web_config: WebConfig) -> str:
        runner = web.AppRunner(build_app(server_state(), web_config), access_log=None)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=web_config.ssl_context)
        await site.start()
        host, port = runner.addresses[0][:2]
        return f"{'https' if web_config.ssl_context else 'http'}://{host}:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()
