"""The HTTP side: /metrics, /healthz, /readyz and a landing page (aiohttp).

/metrics serves the store's cached pieces followed by the self-metrics (re-rendered only when
they changed; the process metrics read at most once a second), without joining the pieces into
one copy.
With gzip, the store's cached gzip body is followed by the self-metrics' gzip members, which
every gzip reader (Go's included) reads as one stream, so a scrape never recompresses the
large part.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_writer import StreamWriter
from aiohttp.payload import Payload
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4

from poller import __version__
from poller.config.webconfig import WebConfig
from poller.selfmetrics import SelfMetrics
from poller.store import SnapshotStore
from poller.webauth import BasicAuth, headers_middleware

# Readiness: (ready, {query: reason it is not ready}).
Readiness = Callable[[], tuple[bool, dict[str, str]]]


@dataclass(frozen=True, slots=True)
class ServerState:
    store: SnapshotStore
    metrics: SelfMetrics
    readiness: Readiness
    queries: Callable[[], list[str]]
    reload: Callable[[], Awaitable[tuple[bool, str]]] | None = None


STATE = web.AppKey("state", ServerState)


def _accepts_gzip(request: web.Request) -> bool:
    return "gzip" in request.headers.get("Accept-Encoding", "").lower()


# A body up to this size is queued whole: waiting for one piece to drain before the next would
# cost the scraper a round trip. A larger one (plain text at 100k series is 29 MB) is sent a
# piece at a time, so a slow scraper never makes us hold a second copy of it.
QUEUE_WHOLE_BYTES = 2 * 1024 * 1024


class _Pieces(Payload):
    """A body sent as the pieces the store keeps it in, never joined into one copy."""

    _autoclose = True  # nothing to release

    def __init__(self, pieces: list[bytes]) -> None:
        super().__init__(pieces, content_type=CONTENT_TYPE_PLAIN_0_0_4)
        self._pieces = pieces
        self._size = sum(map(len, pieces))
        self._queue_whole = self._size <= QUEUE_WHOLE_BYTES

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return b"".join(self._pieces).decode(encoding, errors)

    async def write(self, writer: AbstractStreamWriter) -> None:
        if self._queue_whole and isinstance(writer, StreamWriter):
            for piece in self._pieces[:-1]:
                await writer.write(piece, drain=False)
            await writer.write(self._pieces[-1])
            return
        for piece in self._pieces:
            await writer.write(piece)


async def metrics_handler(request: web.Request) -> web.Response:
    state = request.app[STATE]
    headers = {"Content-Type": CONTENT_TYPE_PLAIN_0_0_4, "Vary": "Accept-Encoding"}
    if _accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        pieces = [state.store.gzipped(), *state.metrics.render_gzip()]
        return web.Response(body=_Pieces(pieces), headers=headers)
    return web.Response(
        body=_Pieces([*state.store.parts(), state.metrics.render()]), headers=headers
    )


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    ready, waiting = request.app[STATE].readiness()
    body = {"status": "ready" if ready else "not ready", "queries_not_ready": waiting}
    return web.json_response(body, status=200 if ready else 503)


LANDING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>genesyscloud-poller</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40em;margin:2em auto;line-height:1.5}}
code{{background:#eee;padding:0 .2em}}</style></head>
<body><h1>genesyscloud-poller</h1>
<p>Genesys Cloud flow analytics as Prometheus metrics. Version {version}.</p>
<ul>
<li><a href="metrics">/metrics</a> &mdash; flow metrics and the poller's own health</li>
<li><a href="readyz">/readyz</a> &mdash; ready once every query has succeeded</li>
<li><a href="healthz">/healthz</a> &mdash; the process is alive</li>
</ul>
<p>Queries: {queries}</p>
</body></html>
"""


async def landing(request: web.Request) -> web.Response:
    names = request.app[STATE].queries()
    queries = ", ".join(f"<code>{html.escape(n)}</code>" for n in names) or "none"
    return web.Response(
        text=LANDING.format(version=html.escape(__version__), queries=queries),
        content_type="text/html",
    )


async def reload_handler(request: web.Request) -> web.Response:
    reload = request.app[STATE].reload
    if reload is None:
        raise web.HTTPNotFound()
    ok, message = await reload()
    return web.json_response(
        {"status": "ok" if ok else "failed", "message": message}, status=200 if ok else 500
    )


def build_app(state: ServerState, web_config: WebConfig | None = None) -> web.Application:
    middlewares = []
    if web_config is not None:
        if web_config.headers:
            middlewares.append(headers_middleware(web_config.headers))
        if web_config.users:
            middlewares.append(BasicAuth(web_config.users))
    app = web.Application(middlewares=middlewares, handler_args={"max_field_size": 16384})
    app[STATE] = state
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/", landing)
    app.router.add_post("/-/reload", reload_handler)
    return app
