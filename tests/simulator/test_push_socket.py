"""The channel's socket: heartbeats, ping and pong, one socket per channel."""

from __future__ import annotations

import aiohttp
import pytest

from tests.simulator.push_support import CHANNELS, MakePushSim, closed, frame, pong

HEARTBEAT = {"topicName": "channel.metadata", "eventBody": {"message": "WebSocket Heartbeat"}}


async def test_a_heartbeat_every_30_seconds_by_default(make_push_sim: MakePushSim) -> None:
    """Nothing for 29 s after connecting, a heartbeat at 30 s, the next at 60 s."""
    sim = await make_push_sim()
    channel = await sim.channel()
    async with sim.socket(channel["connectUri"]) as ws:
        await sim.tick(29)
        assert await pong(ws) == []
        await sim.tick(1)
        assert await pong(ws) == [HEARTBEAT]
        await sim.tick(29)
        assert await pong(ws) == []
        await sim.tick(1)
        assert await frame(ws) == HEARTBEAT


async def test_the_heartbeat_setting_changes_the_period(make_push_sim: MakePushSim) -> None:
    """PUT /simulator/push {"heartbeat": 5}: a heartbeat every 5 s."""
    sim = await make_push_sim()
    put = await sim.control("PUT", "/simulator/push", {"heartbeat": 5})
    assert put.json["settings"]["heartbeat"] == 5.0
    channel = await sim.channel()
    async with sim.socket(channel["connectUri"]) as ws:
        await sim.tick(4)
        assert await pong(ws) == []
        await sim.tick(1)
        assert await pong(ws) == [HEARTBEAT]


async def test_ping_gets_a_pong_and_other_text_nothing(make_push_sim: MakePushSim) -> None:
    """`{"message": "ping"}` is answered with the channel.metadata pong; other text is not."""
    sim = await make_push_sim()
    channel = await sim.channel()
    async with sim.socket(channel["connectUri"]) as ws:
        await ws.send_str("hello")
        await ws.send_str('{"message": "pong"}')
        await ws.send_str('{"message": "ping"}')
        assert await frame(ws) == {
            "topicName": "channel.metadata",
            "eventBody": {"message": "pong"},
        }


async def test_a_second_socket_closes_the_first(make_push_sim: MakePushSim) -> None:
    """Connecting again to a channel closes the first socket; the second one is served."""
    sim = await make_push_sim()
    channel = await sim.channel()
    async with (
        sim.socket(channel["connectUri"]) as first,
        sim.socket(channel["connectUri"]) as second,
    ):
        end = await closed(first)
        assert end.type == aiohttp.WSMsgType.CLOSE
        assert await pong(second) == []
        listed = (await sim.control("GET", "/simulator/push")).json["channels"]
        assert [(c["id"], c["connected"]) for c in listed] == [(channel["id"], True)]
    listed = (await sim.control("GET", "/simulator/push")).json["channels"]
    assert [c["connected"] for c in listed] == [False]


async def test_a_socket_to_an_unknown_channel_is_404(make_push_sim: MakePushSim) -> None:
    """The socket of a channel that does not exist (never made, or gone) is refused with 404."""
    sim = await make_push_sim()
    uri = sim.base.replace("http://", "ws://") + f"{CHANNELS}/nope/socket"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await sim.http.ws_connect(uri)
    assert refused.value.status == 404
