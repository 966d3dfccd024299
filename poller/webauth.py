"""The web endpoints' access rules: basic auth against bcrypt hashes and the configured response
headers, as aiohttp middleware (the settings come from `poller.config.webconfig`).

/healthz stays open so that liveness probes need no credentials; every other path needs auth.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections.abc import Awaitable, Callable, Mapping

import bcrypt
from aiohttp import web

OPEN_PATHS = frozenset({"/healthz"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BasicAuth:
    """aiohttp middleware checking basic auth against bcrypt hashes.

    bcrypt is slow on purpose (tens of ms); a scrape every few seconds would pay it each time,
    so a successful (user, password) pair is remembered by its SHA-256, as exporter-toolkit does.
    An unknown user is checked against a dummy hash so that timing does not reveal user names.
    Checks run one at a time in a worker thread: the event loop stays free, and a flood of bad
    passwords costs one core and never fills the default executor that DNS lookups share.
    """

    # aiohttp reads this marker from the object in the middleware list, i.e. this instance;
    # @web.middleware on __call__ would mark only the method, and aiohttp would then call the
    # instance as an old-style middleware factory, answering every request with a 500.
    __middleware_version__ = 1

    def __init__(self, users: Mapping[str, bytes], open_paths: frozenset[str] = OPEN_PATHS):
        self._users = dict(users)
        self._open = open_paths
        self._ok: set[bytes] = set()
        self._one_at_a_time = asyncio.Lock()
        self._dummy: bytes | None = None

    def _checkpw(self, password: bytes, hashed: bytes) -> bool:
        """The one place bcrypt runs (tests subclass it to count calls)."""
        try:
            return bcrypt.checkpw(password, hashed)
        except ValueError:  # over 72 bytes, or a hash bcrypt refuses
            return False

    def _dummy_hash(self) -> bytes:
        if self._dummy is None:
            cost = max((int(h[4:6]) for h in self._users.values()), default=10)
            self._dummy = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=cost))
        return self._dummy

    def _verified(self, user: str, password: str) -> bool:
        key = self._key(user, password)
        if key is None:
            self._checkpw(password.encode(), self._dummy_hash())
            return False
        if key in self._ok:  # verified by a request that held the lock before this one
            return True
        ok = self._checkpw(password.encode(), self._users[user])
        if ok:
            self._ok.add(key)
        return ok

    def _key(self, user: str, password: str) -> bytes | None:
        hashed = self._users.get(user)
        if hashed is None:
            return None
        return hashlib.sha256(user.encode() + b"\0" + password.encode() + b"\0" + hashed).digest()

    async def _check(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        # The scheme is case-insensitive (RFC 7617), as Go's Request.BasicAuth reads it.
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if not sep or not user:
            return False
        if self._key(user, password) in self._ok:
            return True
        async with self._one_at_a_time:
            return await asyncio.to_thread(self._verified, user, password)

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self._users or request.path in self._open:
            return await handler(request)
        if await self._check(request.headers.get("Authorization", "")):
            return await handler(request)
        raise web.HTTPUnauthorized(
            text="Unauthorized\n", headers={"WWW-Authenticate": 'Basic realm="genesyscloud-poller"'}
        )


def add_response_headers(app: web.Application, headers: Mapping[str, str]) -> None:
    """Every response gets `headers` (http_server_config.headers), error and streamed
    responses included: the signal fires as each response's headers are about to be sent."""

    async def on_prepare(_request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(headers)

    app.on_response_prepare.append(on_prepare)
