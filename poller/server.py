"""The HTTP side: /metrics, /healthz, /readyz, the status page at / and /status.json (aiohttp).

/metrics sends what is ready: the store's exposition of the flow series, then the self-metrics.
With gzip, the store's gzip body is followed by the self-metrics' gzip member, which every gzip
reader (Go's included) reads as one stream, so a scrape never compresses the large part.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4

from poller.config.webconfig import WebConfig
from poller.selfmetrics import SelfMetrics
from poller.statuspage import csp, new_nonce, render
from poller.store import SnapshotStore
from poller.webauth import BasicAuth, add_response_headers

# Readiness: (ready, {query: reason it is not ready}).
Readiness = Callable[[], tuple[bool, dict[str, str]]]


@dataclass(frozen=True, slots=True)
class ServerState:
    store: SnapshotStore
    metrics: SelfMetrics
    readiness: Readiness
    # The status page's data (poller.statusdata): the daemon's state, never the series store.
    status: Callable[[], dict[str, Any]]
    # What POST /-/reload does; None unless the lifecycle API is enabled (--web.enable-lifecycle),
    # since without basic auth anyone who can reach the port could otherwise trigger it.
    reload: Callable[[], Awaitable[tuple[bool, str]]] | None = None
    # What this replica polls ({"shard": {...}, "orgs": [...]}); {} for a config without orgs.
    ownership: Callable[[], dict[str, Any]] = dict


STATE = web.AppKey("state", ServerState)
LIFECYCLE_DISABLED = (
    "Lifecycle API is not enabled: start the poller with --web.enable-lifecycle to allow "
    "POST /-/reload (SIGHUP reloads either way).\n"
)


def _accepts_gzip(request: web.Request) -> bool:
    return "gzip" in request.headers.get("Accept-Encoding", "").lower()


async def metrics_handler(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    flows = state.store.exposition()
    response = web.StreamResponse(
        headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4, "Vary": "Accept-Encoding"}
    )
    pieces: tuple[bytes | memoryview, ...]
    if _accepts_gzip(request):
        response.headers["Content-Encoding"] = "gzip"
        pieces = (flows.gzip, state.metrics.render_gzip())
    else:
        # The flow text stays in the pieces it was rendered in: 30 MB at 100k series, never
        # copied into one body.
        pieces = (*flows.plain, state.metrics.render())
    response.content_length = sum(map(len, pieces))
    await response.prepare(request)
    try:
        for piece in pieces:
            await response.write(piece)
        await response.write_eof()
    except ConnectionError:
        pass  # the scraper went away (its timeout, say): there is nobody left to tell
    return response


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    ready, waiting = state.readiness()
    body: dict[str, Any] = {
        "status": "ready" if ready else "not ready",
        "queries_not_ready": waiting,
    }
    body.update(state.ownership())
    return web.json_response(body, status=200 if ready else 503)


async def status_page(request: web.Request) -> web.Response:
    nonce = new_nonce()
    text = render(request.app[STATE].status(), nonce)
    response = web.Response(text=text, content_type="text/html")
    response.headers["Content-Security-Policy"] = csp(nonce)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


async def status_json(request: web.Request) -> web.Response:
    response = web.json_response(request.app[STATE].status())
    response.headers["Cache-Control"] = "no-store"
    return response


async def reload_handler(request: web.Request) -> web.Response:
    reload = request.app[STATE].reload
    if reload is None:
        return web.Response(status=403, text=LIFECYCLE_DISABLED)
    ok, message = await reload()
    return web.json_response(
        {"status": "ok" if ok else "failed", "message": message}, status=200 if ok else 500
    )


def build_app(state: ServerState, web_config: WebConfig | None = None) -> web.Application:
    middlewares = []
    if web_config is not None and web_config.users:
        middlewares.append(BasicAuth(web_config.users))
    app = web.Application(middlewares=middlewares, handler_args={"max_field_size": 16384})
    if web_config is not None and web_config.headers:
        add_response_headers(app, web_config.headers)
    app[STATE] = state
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/", status_page)
    app.router.add_get("/status.json", status_json)
    app.router.add_post("/-/reload", reload_handler)
    return app
