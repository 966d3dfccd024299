"""Push's channel calls: create, subscriptions, HEAD and the socket, through the query
transport's token, budget, retries and re-login; errors that never show a capability."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer
from aioresponses import aioresponses

from poller.catalog import TOKEN_PATH
from poller.config.model import GenesysSettings
from poller.errors import ApiError, BadResponseError, TransportError
from poller.genesys.notifications import CHANNELS_PATH, Channel
from poller.selfmetrics import SelfMetrics
from poller.timing import Clocks
from tests.client.client_support import (
    CREDENTIALS,
    ExpectError,
    MakeClient,
    QueryingClient,
    sample,
)
from tests.support.clock import FakeClock
from tests.support.genesys import FakeGenesys, Reply, genesys_error

CHANNEL_ID = "streaming-0-2f9c8d7e6b5a4f3e2d1c0b9a"
URI = f"wss://streaming.fake.test/channels/{CHANNEL_ID}"
# 2026-12-09T00:57:00Z: 1_796_777_820 s after the epoch (date -d ... +%s)
EXPIRES = "2026-12-09T00:57:00.000Z"
CREATED = {"id": CHANNEL_ID, "connectUri": URI, "expires": EXPIRES}
SUBSCRIPTIONS = f"{CHANNELS_PATH}/{CHANNEL_ID}/subscriptions"
TOPICS = ["v2.analytics.flow.f1.aggregates", "v2.analytics.flowoutcome.f1.aggregates"]
CHANNEL = Channel(CHANNEL_ID, URI, 1_796_777_820.0)


async def test_create_channel_posts_with_the_bearer_token(
    genesys: FakeGenesys, make_client: MakeClient, metrics: SelfMetrics
) -> None:
    """A new channel: POST with the bearer token, counted under notifications and the budget."""
    genesys.script(CHANNELS_PATH, Reply(200, CREATED))
    channel = await make_client().create_channel()
    assert channel == Channel(CHANNEL_ID, URI, 1_796_777_820.0)
    [sent] = genesys.requests_to(CHANNELS_PATH)
    assert (sent.method, sent.headers["Authorization"]) == ("POST", "Bearer fake-access-token-1")
    assert sample(metrics, "api_requests_total", endpoint="notifications", code="200") == 1
    assert sample(metrics, "api_budget_places_taken_total") == 1


def test_channel_repr_hides_id_and_uri() -> None:
    """A channel printed anywhere shows neither its id nor its connectUri."""
    shown = repr(CHANNEL) + str(CHANNEL)
    assert CHANNEL_ID not in shown
    assert URI not in shown
    assert CHANNEL.short == "streamin"


async def test_subscribe_puts_the_topic_list_and_returns_the_answer(
    genesys: FakeGenesys, make_client: MakeClient
) -> None:
    """PUT replaces the topics with a JSON list of {id}; the answer's entities come back."""
    genesys.script(SUBSCRIPTIONS, Reply(200, {"entities": [{"id": TOPICS[0]}]}))
    assert await make_client().subscribe(CHANNEL, TOPICS) == [TOPICS[0]]
    [sent] = genesys.requests_to(SUBSCRIPTIONS)
    assert sent.method == "PUT"
    assert sent.json() == [{"id": topic} for topic in TOPICS]
    assert sent.headers["Content-Type"] == "application/json"


async def test_subscribe_asks_to_ignore_errors(clock: FakeClock, metrics: SelfMetrics) -> None:
    """The PUT carries ignoreErrors=true, so one forbidden topic never fails the call."""
    settings = GenesysSettings("fake.test", "https://api.fake.test", "https://login.fake.test")
    client = QueryingClient(settings, CREDENTIALS, metrics, clocks=Clocks(clock.time, clock.sleep))
    try:
        with aioresponses() as mock:
            mock.post(
                "https://login.fake.test" + TOKEN_PATH,
                payload={"access_token": "t-1", "expires_in": 86399},
            )
            mock.put(
                "https://api.fake.test" + SUBSCRIPTIONS + "?ignoreErrors=true",
                payload={"entities": [{"id": t} for t in TOPICS]},
            )
            assert await client.subscribe(CHANNEL, TOPICS) == TOPICS
    finally:
        await client.close()


async def test_subscriptions_get_lists_the_channels_topics(
    genesys: FakeGenesys, make_client: MakeClient
) -> None:
    """GET on the subscriptions answers the channel's topics."""
    genesys.script(SUBSCRIPTIONS, Reply(200, {"entities": [{"id": t} for t in TOPICS]}))
    assert await make_client().subscriptions(CHANNEL) == TOPICS
    assert [r.method for r in genesys.requests_to(SUBSCRIPTIONS)] == ["GET"]


async def test_head_tells_a_valid_channel_from_a_gone_one(
    genesys: FakeGenesys, make_client: MakeClient
) -> None:
    """HEAD 200: the channel is valid; 404: gone (not an error)."""
    path = f"{CHANNELS_PATH}/{CHANNEL_ID}"
    genesys.script(path, Reply(200), genesys_error(404, "not.found", "gone"))
    client = make_client()
    assert await client.channel_exists(CHANNEL) is True
    assert await client.channel_exists(CHANNEL) is False
    assert [r.method for r in genesys.requests_to(path)] == ["HEAD", "HEAD"]


async def test_a_401_logs_in_again_once(
    genesys: FakeGenesys, make_client: MakeClient, metrics: SelfMetrics
) -> None:
    """A refused token on a channel call: one fresh login, then the call goes through."""
    genesys.script(
        CHANNELS_PATH,
        genesys_error(401, "bad.credentials", "Invalid token"),
        Reply(200, CREATED),
    )
    assert (await make_client().create_channel()).short == "streamin"
    sent = genesys.requests_to(CHANNELS_PATH)
    assert [r.headers["Authorization"] for r in sent] == [
        "Bearer fake-access-token-1",
        "Bearer fake-access-token-2",
    ]
    assert sample(metrics, "oauth_token_refreshes_total") == 2


async def test_relogin_fetches_a_new_token(genesys: FakeGenesys, make_client: MakeClient) -> None:
    """relogin (a revoked token) drops the token and logs in again."""
    client = make_client()
    await client.login()
    await client.relogin()
    genesys.script(CHANNELS_PATH, Reply(200, CREATED))
    await client.create_channel()
    assert len(genesys.requests_to(genesys.TOKEN)) == 2
    [sent] = genesys.requests_to(CHANNELS_PATH)
    assert sent.headers["Authorization"] == "Bearer fake-access-token-2"


async def test_a_503_is_retried_as_a_query_is(
    genesys: FakeGenesys, make_client: MakeClient, metrics: SelfMetrics, clock: FakeClock
) -> None:
    """A gateway error is backed off (1 s cap, jitter at its middle: 0.75 s) and retried."""
    genesys.script(CHANNELS_PATH, genesys_error(503, "unavailable", "busy"), Reply(200, CREATED))
    await make_client().create_channel()
    assert clock.sleeps == [0.75]
    assert sample(metrics, "api_retries_total", endpoint="notifications", reason="status_503") == 1


async def test_a_403_names_the_assumed_permission(
    genesys: FakeGenesys, make_client: MakeClient, expect_error: ExpectError[ApiError]
) -> None:
    """A refused subscription call says so with Genesys' words and the permission."""
    genesys.script(
        SUBSCRIPTIONS, genesys_error(403, "missing.permissions", "Not allowed", "ctx-403")
    )
    error = await expect_error(make_client().subscribe(CHANNEL, TOPICS), ApiError)
    assert str(error) == (
        "notifications: Not allowed (the OAuth client's role needs permission "
        "analytics:flowAggregate:view (assumed)) [status=403 code=missing.permissions "
        "contextId=ctx-403]"
    )


async def test_a_400_quoting_the_channel_shows_only_its_start(
    genesys: FakeGenesys, make_client: MakeClient, expect_error: ExpectError[ApiError]
) -> None:
    """Genesys' message may quote the channel id: the error keeps 8 characters of it."""
    genesys.script(
        SUBSCRIPTIONS,
        genesys_error(400, "bad.request", f"Too many topics on channel {CHANNEL_ID}", "ctx-1"),
    )
    error = await expect_error(make_client().subscribe(CHANNEL, TOPICS * 600), ApiError)
    assert str(error) == (
        "notifications: Too many topics on channel streamin... "
        "[status=400 code=bad.request contextId=ctx-1]"
    )
    assert CHANNEL_ID not in repr(error)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"id": CHANNEL_ID, "expires": EXPIRES}, "Object missing required field `connectUri`"),
        ({"id": CHANNEL_ID, "connectUri": URI, "expires": "tomorrow"}, "expires: not an ISO"),
        ("<html>", "not JSON"),
        ({"id": "", "connectUri": URI, "expires": EXPIRES}, "an empty id or connectUri"),
    ],
)
async def test_a_bad_channel_answer_names_the_place_never_the_uri(
    genesys: FakeGenesys,
    make_client: MakeClient,
    expect_error: ExpectError[ApiError],
    body: object,
    why: str,
) -> None:
    """A malformed channel answer is a BadResponseError naming what is wrong, without the URI."""
    genesys.script(CHANNELS_PATH, Reply(200, body))
    error = await expect_error(make_client().create_channel(), BadResponseError)
    assert why in str(error)
    assert URI not in str(error)


async def test_a_bad_subscriptions_answer_names_the_place(
    genesys: FakeGenesys, make_client: MakeClient, expect_error: ExpectError[ApiError]
) -> None:
    """An answer without entities fails naming the field, with the channel cut short."""
    genesys.script(SUBSCRIPTIONS, Reply(200, {"topics": []}))
    error = await expect_error(make_client().subscriptions(CHANNEL), BadResponseError)
    assert str(error) == (
        "notifications: channel streamin: the subscriptions answer is not {entities: [{id}]} "
        "(Object missing required field `entities`) [status=200]"
    )


class SocketServer:
    """A loopback WebSocket: sends `first`, answers pings with a pong, and after `later`
    real seconds sends one more frame."""

    def __init__(self, later: float) -> None:
        self.later = later
        app = web.Application()
        app.router.add_get("/channels/{id}", self._socket)
        self.server = TestServer(app, host="127.0.0.1", port=0)

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str('{"topicName": "channel.metadata", "eventBody": {"message": "hi"}}')
        late = asyncio.create_task(self._late(ws))
        async for message in ws:
            if message.type == WSMsgType.TEXT and message.data == '{"message": "ping"}':
                await ws.send_str(
                    '{"topicName": "channel.metadata", "eventBody": {"message": "pong"}}'
                )
        late.cancel()
        return ws

    async def _late(self, ws: web.WebSocketResponse) -> None:
        await asyncio.sleep(self.later)
        await ws.send_str("late")


@pytest.fixture
async def sockets() -> AsyncIterator[SocketServer]:
    server = SocketServer(later=1.0)
    await server.server.start_server()
    yield server
    await server.server.close()


async def test_connect_reads_frames_past_the_request_timeout(
    sockets: SocketServer, make_client: MakeClient
) -> None:
    """The socket opens at the connectUri as given, answers a ping, and stays open longer
    than genesys.timeout (0.5 s here): that timeout is for the handshake only."""
    uri = str(sockets.server.make_url(f"/channels/{CHANNEL_ID}")).replace("http", "ws", 1)
    client = make_client(timeout=0.5)
    socket = await client.connect(Channel(CHANNEL_ID, uri, 0.0))
    assert await socket.receive() == (
        '{"topicName": "channel.metadata", "eventBody": {"message": "hi"}}'
    )
    await socket.send('{"message": "ping"}')
    assert await socket.receive() == (
        '{"topicName": "channel.metadata", "eventBody": {"message": "pong"}}'
    )
    assert await socket.receive() == "late"
    await socket.close()
    assert socket.closed
    assert await socket.receive() is None


async def test_a_refused_socket_is_a_transport_error_without_the_uri(
    sockets: SocketServer, make_client: MakeClient, expect_error: ExpectError[ApiError]
) -> None:
    """A handshake answered 404 (a gone channel) fails clearly, never showing the URI."""
    uri = str(sockets.server.make_url(f"/gone/{CHANNEL_ID}")).replace("http", "ws", 1)
    error = await expect_error(make_client().connect(Channel(CHANNEL_ID, uri, 0.0)), TransportError)
    assert str(error) == "notifications: the socket was refused (HTTP 404) [status=404]"


async def test_a_429_pauses_the_budget_then_the_call_goes_through(
    genesys: FakeGenesys, make_client: MakeClient, metrics: SelfMetrics, clock: FakeClock
) -> None:
    """A channel call answered 429 pauses every caller for its Retry-After (2 s), as a query's
    would, then goes through."""
    genesys.script(
        CHANNELS_PATH,
        genesys_error(429, "too.many.requests", "slow down", Retry_After="2"),
        Reply(200, CREATED),
    )
    client = make_client()
    await client.create_channel()
    assert clock.sleeps == [2.0]
    assert sample(metrics, "api_throttled_total", endpoint="notifications") == 1
    assert sample(metrics, "api_budget_places_taken_total") == 2
    assert client.paused_until() == pytest.approx(clock.now)
