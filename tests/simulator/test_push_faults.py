"""Push faults: the control call, what each does to a socket, and expiry."""

from __future__ import annotations

import aiohttp
import pytest

from poller.simulator.pushsettings import PushSimSettings
from tests.simulator.push_support import (
    CHANNELS,
    MakePushSim,
    PushSim,
    closed,
    flow_topic,
    frame,
    pong,
)

QUIET = PushSimSettings(heartbeat=86400.0)  # data messages only


async def subscribed(sim: PushSim) -> tuple[dict[str, str], str]:
    """A channel subscribed to the busiest flow's flow topic, and that topic."""
    flow = max(sim.state.org.flows, key=lambda f: f.peak)
    channel = await sim.channel()
    assert (await sim.subscribe(channel["id"], [flow_topic(flow.id)])).status == 200
    return channel, flow_topic(flow.id)


async def fault(sim: PushSim, body: dict[str, str]) -> dict[str, object]:
    reply = await sim.control("POST", "/simulator/push/faults", body)
    assert reply.status == 200, reply.text
    got: dict[str, object] = reply.json
    return got


async def test_drop_cuts_the_connection_without_a_close_frame(make_push_sim: MakePushSim) -> None:
    """After `drop` the client sees the connection end with no close frame and no system
    frame; the channel and its topics stay, and a new socket on it gets messages again."""
    sim = await make_push_sim(push=QUIET)
    channel, topic = await subscribed(sim)
    async with sim.socket(channel["connectUri"]) as ws:
        assert await fault(sim, {"fault": "drop"}) == {"fault": "drop", "org": None, "sockets": 1}
        end = await closed(ws)
        assert end.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        assert ws.close_code != 1000
    assert await sim.head(channel["id"]) == 200
    async with sim.socket(channel["connectUri"]) as ws:
        await sim.tick(60)
        assert [m["topicName"] for m in await pong(ws)] == [topic]


async def test_closing_warns_then_closes_after_the_grace(make_push_sim: MakePushSim) -> None:
    """`closing` sends v2.system.socket_closing; messages go on until `closing_grace` seconds
    later, when the socket is closed with a close frame."""
    sim = await make_push_sim(push=PushSimSettings(heartbeat=86400.0, closing_grace=10.0))
    channel, topic = await subscribed(sim)
    async with sim.socket(channel["connectUri"]) as ws:
        await fault(sim, {"fault": "closing"})
        warning = await frame(ws)
        assert warning["topicName"] == "v2.system.socket_closing"
        await sim.tick(9)
        assert [m["topicName"] for m in await pong(ws)] == [topic]
        await sim.tick(1)
        end = await closed(ws)
        assert (end.type, ws.close_code) == (aiohttp.WSMsgType.CLOSE, 1000)
    assert await sim.head(channel["id"]) == 200


async def test_unsubscribed_removes_the_topics_then_closes(make_push_sim: MakePushSim) -> None:
    """`unsubscribed` empties the channel's subscriptions, sends
    v2.system.no_longer_subscribed.{id} and closes the socket; the channel itself lives on."""
    sim = await make_push_sim(push=QUIET)
    channel, _ = await subscribed(sim)
    async with sim.socket(channel["connectUri"]) as ws:
        await fault(sim, {"fault": "unsubscribed"})
        notice = await frame(ws)
        assert notice["topicName"] == f"v2.system.no_longer_subscribed.{channel['id']}"
        assert (await closed(ws)).type == aiohttp.WSMsgType.CLOSE
    listed = await sim.call("GET", f"{CHANNELS}/{channel['id']}/subscriptions")
    assert listed.json == {"entities": []}
    assert await sim.head(channel["id"]) == 200


async def test_revoked_says_so_then_closes(make_push_sim: MakePushSim) -> None:
    """`revoked` sends v2.system.token_revoked.{id}, removes the topics and closes."""
    sim = await make_push_sim(push=QUIET)
    channel, _ = await subscribed(sim)
    async with sim.socket(channel["connectUri"]) as ws:
        await fault(sim, {"fault": "revoked"})
        notice = await frame(ws)
        assert notice["topicName"] == f"v2.system.token_revoked.{channel['id']}"
        assert (await closed(ws)).type == aiohttp.WSMsgType.CLOSE
    listed = await sim.call("GET", f"{CHANNELS}/{channel['id']}/subscriptions")
    assert listed.json == {"entities": []}


async def test_silent_sends_nothing_until_the_next_fault(make_push_sim: MakePushSim) -> None:
    """After `silent` neither data nor heartbeats come (the socket stays open): the first
    frame after a minute of changing data is the system frame of a later fault."""
    sim = await make_push_sim(push=PushSimSettings(heartbeat=5.0))
    channel, _ = await subscribed(sim)
    async with sim.socket(channel["connectUri"]) as ws:
        await fault(sim, {"fault": "silent"})
        for _ in range(60):
            await sim.tick(1)
        assert (await sim.control("GET", "/simulator/push")).json["channels"][0]["sent"] == 0
        await fault(sim, {"fault": "unsubscribed"})
        notice = await frame(ws)
        assert notice["topicName"] == f"v2.system.no_longer_subscribed.{channel['id']}"


async def test_a_fault_for_one_org_leaves_the_others(make_push_sim: MakePushSim) -> None:
    """`"org": CLIENT_ID` hits that org's sockets only; an unknown org is 404, an unknown
    fault 400 listing the known ones."""
    sim = await make_push_sim(orgs=2, push=QUIET)
    mine = await sim.channel()
    login = await sim.login("demo-client-2", "demo-secret-2")
    theirs = await sim.channel(token=login.json["access_token"])
    async with sim.socket(mine["connectUri"]) as first, sim.socket(theirs["connectUri"]) as second:
        hit = await fault(sim, {"fault": "unsubscribed", "org": "demo-client-2"})
        assert hit == {"fault": "unsubscribed", "org": "demo-client-2", "sockets": 1}
        assert (await frame(second))["topicName"].startswith("v2.system.no_longer_subscribed.")
        assert await pong(first) == []
    unknown = await sim.control("POST", "/simulator/push/faults", {"fault": "drop", "org": "x"})
    assert unknown.status == 404
    bad = await sim.control("POST", "/simulator/push/faults", {"fault": "explode"})
    assert bad.status == 400
    assert "drop, closing, unsubscribed, revoked, silent, expired" in bad.json["message"]


async def test_an_expired_channel_closes_its_socket(make_push_sim: MakePushSim) -> None:
    """24 hours after its last subscription a channel is gone: the tick closes its socket and
    HEAD answers 404."""
    sim = await make_push_sim(push=QUIET, token_ttl=3 * 86400.0)
    channel, _ = await subscribed(sim)
    async with sim.socket(channel["connectUri"]) as ws:
        await sim.tick(86400)
        assert (await closed(ws)).type == aiohttp.WSMsgType.CLOSE
    assert await sim.head(channel["id"]) == 404
    assert (await sim.control("GET", "/simulator/push")).json["channels"] == []


async def test_the_expired_fault_ends_the_channel(make_push_sim: MakePushSim) -> None:
    """`expired` ends the channel at once, as its 24 hours would: the socket is closed, HEAD
    answers 404 and a new socket on it is refused."""
    sim = await make_push_sim(push=QUIET)
    channel, _ = await subscribed(sim)
    async with sim.socket(channel["connectUri"]) as ws:
        assert (await fault(sim, {"fault": "expired"}))["sockets"] == 1
        assert (await closed(ws)).type == aiohttp.WSMsgType.CLOSE
    assert await sim.head(channel["id"]) == 404
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await sim.http.ws_connect(channel["connectUri"])


async def test_silent_ignores_protocol_pings_too(make_push_sim: MakePushSim) -> None:
    """A WebSocket protocol ping gets its pong before `silent`, and none after (the client's
    own heartbeat times out)."""
    sim = await make_push_sim(push=QUIET)
    channel = await sim.channel()
    async with sim.http.ws_connect(channel["connectUri"], autoping=False) as ws:
        await ws.ping(b"before")
        answer = await ws.receive(timeout=5)
        assert (answer.type, answer.data) == (aiohttp.WSMsgType.PONG, b"before")
        await fault(sim, {"fault": "silent"})
        await ws.ping(b"after")
        await fault(sim, {"fault": "unsubscribed"})
        notice = await ws.receive(timeout=5)
        assert notice.type == aiohttp.WSMsgType.TEXT
        assert notice.json()["topicName"].startswith("v2.system.no_longer_subscribed.")
