"""The Notifications API's routes and the push control API.

API (bearer token and rate budget as every API call, through the app's `admit`):
`POST /api/v2/notifications/channels`, `GET|POST|PUT|DELETE
/api/v2/notifications/channels/{id}/subscriptions[?ignoreErrors=true]`, `HEAD
/api/v2/notifications/channels/{id}`; and the socket at `/api/v2/notifications/channels/{id}/socket`
(the channel's `connectUri`; no auth, no budget).

Control (no token): `GET|PUT /simulator/push` (channels and settings), `POST
/simulator/push/faults` (`{"fault": KIND, "org": CLIENT_ID}`), `PUT|DELETE
/simulator/push/forbidden/{flow}` (`?client_id=` for another org than the first).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from poller.simulator.notifications import SubscribeMode
from poller.simulator.pushsettings import PUSH_FAULTS, PushFault, push_settings_from_json
from poller.simulator.pushsocket import PushHub, PushOrg
from poller.simulator.replies import MALFORMED, GenesysError, json_response
from poller.simulator.timeparse import format_ms

# The org a token authorises (its client id) and the clock's now, after the gateway's checks.
Admit = Callable[[web.Request], Awaitable[tuple[str, float]]]
FindFlow = Callable[[str, str], str | None]  # (client id, flow id or index) -> flow id
PUSH = web.AppKey("simulator_push", PushHub)
CHANNELS_PATH = "/api/v2/notifications/channels"
CHANNEL_PATH = CHANNELS_PATH + "/{channel_id}"
SUBSCRIPTIONS_PATH = CHANNEL_PATH + "/subscriptions"
SOCKET_PATH = CHANNEL_PATH + "/socket"
NOTIFICATIONS_PREFIX = CHANNELS_PATH


def add_push_routes(app: web.Application, hub: PushHub, admit: Admit, find_flow: FindFlow) -> None:
    app[PUSH] = hub

    async def org_of(request: web.Request) -> tuple[PushOrg, float]:
        client_id, now = await admit(request)
        return hub.org(client_id), now

    async def create_channel(request: web.Request) -> web.StreamResponse:
        org, now = await org_of(request)
        channel = org.channels.create(org.client_id, now)
        uri = f"ws://{request.host}{CHANNELS_PATH}/{channel.id}/socket"
        return json_response(
            {
                "id": channel.id,
                "connectUri": uri,
                "expires": format_ms(round(channel.expires * 1000)),
            }
        )

    async def head_channel(request: web.Request) -> web.StreamResponse:
        org, now = await org_of(request)
        org.channels.find(request.match_info["channel_id"], now)
        return web.Response(status=200)

    async def subscriptions(request: web.Request) -> web.StreamResponse:
        org, now = await org_of(request)
        channel = org.channels.find(request.match_info["channel_id"], now)
        if request.method == "GET":
            topics = list(channel.topics)
        elif request.method == "DELETE":
            org.channels.unsubscribe_all(channel)
            topics = []
        else:
            mode: SubscribeMode = "add" if request.method == "POST" else "replace"
            ignore = request.query.get("ignoreErrors", "false").lower() == "true"
            topics = org.channels.subscribe(
                channel,
                await _topics(request),
                mode,
                ignore_errors=ignore,
                limit=hub.settings.topic_limit,
                now=now,
            )
        return json_response({"entities": [{"id": t} for t in topics]})

    async def socket(request: web.Request) -> web.StreamResponse:
        found = hub.find_channel(request.match_info["channel_id"], hub.clock())
        if found is None:
            return web.Response(status=404, text="no such channel")
        ws = web.WebSocketResponse()
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="expected a WebSocket upgrade")
        return await hub.serve(request, *found)

    async def get_push(request: web.Request) -> web.StreamResponse:
        client_id = request.query.get("client_id")
        if client_id is not None and client_id not in hub.orgs:
            return _not_found(f"no simulated org has client id {client_id!r}")
        return json_response(hub.to_json(client_id))

    async def put_push(request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _bad_request(["push: the body is not JSON"])
        got = push_settings_from_json(body, hub.settings)
        if isinstance(got, list):
            return _bad_request(got)
        hub.settings = got
        return json_response(hub.to_json())

    async def post_fault(request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        kinds = ", ".join(PUSH_FAULTS)
        shape = '{"fault": KIND, "org": CLIENT_ID}'
        if (
            not isinstance(body, dict)
            or set(body) - {"fault", "org"}
            or body.get("fault") not in PUSH_FAULTS
        ):
            return _bad_request([f"push fault: expected {shape} with KIND one of {kinds}"])
        client_id = body.get("org")
        if client_id is not None and client_id not in hub.orgs:
            return _not_found(f"no simulated org has client id {client_id!r}")
        fault: PushFault = body["fault"]
        sockets = await hub.fault(fault, client_id)
        return json_response({"fault": fault, "org": client_id, "sockets": sockets})

    async def forbidden(request: web.Request) -> web.StreamResponse:
        client_id = request.query.get("client_id")
        try:
            org = hub.org(client_id)
        except KeyError as exc:
            return _not_found(str(exc.args[0]))
        ident = request.match_info["flow"]
        flow_id = find_flow(org.client_id, ident)
        if flow_id is None:
            return _not_found(f"no simulated flow has id {ident!r}; give a flow id or an index")
        if request.method == "PUT":
            org.channels.forbidden.add(flow_id)
        else:
            org.channels.forbidden.discard(flow_id)
        return json_response({"forbidden": sorted(org.channels.forbidden)})

    app.router.add_post(CHANNELS_PATH, create_channel)
    app.router.add_route("HEAD", CHANNEL_PATH, head_channel)
    for method in ("GET", "POST", "PUT", "DELETE"):
        app.router.add_route(method, SUBSCRIPTIONS_PATH, subscriptions)
    app.router.add_get(SOCKET_PATH, socket)
    app.router.add_get("/simulator/push", get_push)
    app.router.add_put("/simulator/push", put_push)
    app.router.add_post("/simulator/push/faults", post_fault)
    app.router.add_put("/simulator/push/forbidden/{flow}", forbidden)
    app.router.add_delete("/simulator/push/forbidden/{flow}", forbidden)


async def _topics(request: web.Request) -> list[str]:
    """The topics of a subscription body: a JSON list of `{"id": TOPIC}`."""
    if request.content_type != "application/json":
        raise GenesysError(
            415,
            "unsupported.media.type",
            f"Unsupported Media Type [{request.content_type}]; send application/json",
        )
    try:
        body = json.loads(await request.read())
    except ValueError:
        raise GenesysError(400, "bad.request", MALFORMED) from None
    if not isinstance(body, list) or not all(
        isinstance(item, dict) and isinstance(item.get("id"), str) for item in body
    ):
        raise GenesysError(
            400, "bad.request", 'The body must be a JSON list of topics: [{"id": "TOPIC"}, ...]'
        )
    return [item["id"] for item in body]


def _bad_request(problems: list[str]) -> web.Response:
    return json_response(
        {
            "message": "; ".join(problems),
            "code": "bad.request",
            "status": 400,
            "problems": problems,
        },
        status=400,
    )


def _not_found(message: str) -> web.Response:
    return json_response({"message": message, "code": "not.found", "status": 404}, status=404)
