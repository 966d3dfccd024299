"""The browser harness itself, on pages served here: the dump runs the page's scripts, obeys its
Content-Security-Policy, and tells escaped markup from live markup. Each check is paired with
one that must come out the other way, so a harness that ran nothing could not pass."""

from __future__ import annotations

import asyncio
import base64
import html
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.support.browser import (
    PNG_SIGNATURE,
    ChromiumError,
    Dom,
    artifact,
    dump_dom,
    screenshot,
    with_basic_auth,
)

pytestmark = pytest.mark.e2e

SET_TITLE = "<script>document.title = 'ran';</script>"
PAYLOAD = "<img src=x onerror=\"document.title='pwned'\">"
USER, PASSWORD = "operator", "s3cret:/@"


def page(body: str) -> str:
    return f"<!doctype html><html><head><title>before</title></head><body>{body}</body></html>"


def html_response(body: str, csp: str | None = None) -> web.Response:
    headers = {"Content-Security-Policy": csp} if csp else {}
    return web.Response(text=page(body), content_type="text/html", headers=headers)


async def script_with_csp(_: web.Request) -> web.Response:
    return html_response(SET_TITLE, csp="script-src 'none'")


async def script(_: web.Request) -> web.Response:
    return html_response(SET_TITLE)


async def escaped(_: web.Request) -> web.Response:
    return html_response(f"<p id=payload>{html.escape(PAYLOAD)}</p>")


async def unescaped(_: web.Request) -> web.Response:
    return html_response(f"<p id=payload>{PAYLOAD}</p>")


async def private(request: web.Request) -> web.Response:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    if request.headers.get("Authorization") != f"Basic {token}":
        return web.Response(
            status=401, text="who are you?", headers={"WWW-Authenticate": 'Basic realm="t"'}
        )
    return html_response(f"<h1>private</h1>{SET_TITLE}")


@pytest.fixture
async def site() -> AsyncIterator[str]:
    """The pages above on a free port of this test's loop; Chromium runs in a thread meanwhile."""
    app = web.Application()
    app.router.add_get("/script-csp", script_with_csp)
    app.router.add_get("/script", script)
    app.router.add_get("/escaped", escaped)
    app.router.add_get("/unescaped", unescaped)
    app.router.add_get("/private", private)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


async def load(url: str) -> Dom:
    return Dom(await asyncio.to_thread(dump_dom, url))


async def test_dump_runs_inline_scripts(site: str) -> None:
    """Without a CSP the page's inline script runs before the dump: the title becomes 'ran'."""
    assert (await load(site + "/script")).title == "ran"


async def test_csp_script_src_none_blocks_inline_scripts(site: str) -> None:
    """The same page under `script-src 'none'` keeps its title: Chromium obeyed the header."""
    dom = await load(site + "/script-csp")
    assert dom.title == "before"
    assert len(dom.find_all("script")) == 1, "the script is there, it just did not run"


async def test_escaped_markup_stays_text(site: str) -> None:
    """Escaped `<img onerror>` is literal text in the DOM: no <img> element, title unchanged."""
    dom = await load(site + "/escaped")
    assert dom.find_all("img") == []
    (paragraph,) = [e for e in dom.find_all("p") if e.attrs.get("id") == "payload"]
    assert paragraph.text == PAYLOAD
    assert PAYLOAD in dom.text
    assert dom.title == "before"


async def test_unescaped_markup_runs(site: str) -> None:
    """The same markup unescaped becomes an <img> whose onerror runs: the title is 'pwned'."""
    dom = await load(site + "/unescaped")
    (img,) = dom.find_all("img")
    assert img.attrs.get("onerror") == "document.title='pwned'"
    assert dom.title == "pwned"
    assert PAYLOAD not in dom.text


async def test_basic_auth_credentials_in_the_url(site: str) -> None:
    """A page behind basic auth loads with `with_basic_auth`; without credentials headless
    Chromium gives up on the 401 (it dumps nothing), which `dump_dom` raises."""
    with pytest.raises(ChromiumError, match="ERR_INVALID_AUTH_CREDENTIALS"):
        await load(site + "/private")
    dom = await load(with_basic_auth(site + "/private", USER, PASSWORD))
    assert [h.text for h in dom.find_all("h1")] == ["private"]
    assert dom.title == "ran"


async def test_screenshot_writes_a_png(site: str) -> None:
    """`screenshot` writes a PNG of the requested page to the artifacts directory."""
    path = await asyncio.to_thread(screenshot, site + "/escaped", artifact("harness-escaped.png"))
    print(f"screenshot: {path}")
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert int.from_bytes(data[16:20], "big") == 1280, "the PNG's width is the window's"
