"""HTTP from tests: a blocking GET for synchronous tests (urllib), an awaitable one for tests
whose event loop also runs a server (aiohttp), and a wait for a status code in each form."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import aiohttp

from tests.support.wait import WITHIN, wait_for, wait_value


def http_get(
    url: str, timeout: float = 10, method: str = "GET", body: Any = None
) -> tuple[int, bytes]:
    """(status, body); (0, b"") when nothing answers. `body` goes as JSON."""
    data = None if body is None else json.dumps(body).encode()
    headers = {} if body is None else {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


def wait_for_status(url: str, status: int, *, timeout: float, **kwargs: Any) -> bytes:
    """Blocking: GET `url` until it answers `status`; its body. `alive` as in `wait_for`."""

    def probe() -> bytes | None:
        code, body = http_get(url)
        return body if code == status else None

    return wait_for(probe, timeout=timeout, what=f"{url} to answer {status}", **kwargs)


async def fetch(url: str, method: str = "GET", within: float = 30) -> tuple[int, str]:
    """(status, body text) without blocking the loop; raises aiohttp.ClientError when nothing
    answers."""
    limit = aiohttp.ClientTimeout(total=within)
    async with aiohttp.ClientSession(timeout=limit) as http, http.request(method, url) as resp:
        return resp.status, await resp.text()


async def await_status(
    url: str,
    status: int = 200,
    *,
    within: float = WITHIN,
    alive: Callable[[], str | None] | None = None,
) -> str:
    """GET `url` until it answers `status`; its body. `alive` returns why the server died, to
    fail at once instead of at the deadline."""

    async def probe() -> str | None:
        if alive is not None and (why := alive()) is not None:
            raise AssertionError(f"gave up waiting for {url} to answer {status}: {why}")
        try:
            code, body = await fetch(url)
        except aiohttp.ClientError:
            return None
        return body if code == status else None

    return await wait_value(probe, within=within, what=f"{url} to answer {status}")
