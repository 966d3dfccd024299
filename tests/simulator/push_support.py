"""Helpers for the push (Notifications API) tests: a simulator whose publisher ticks only when
the test says so, on a fake clock, and a client for its channels and sockets."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from poller.simulator import SimulatorSettings, build_simulator_app
from poller.simulator.pushsocket import PushHub
from tests.simulator.sim_support import NOW, Sim
from tests.support.clock import FakeClock
from tests.support.genesys import Reply

CHANNELS = "/api/v2/notifications/channels"
FRAME_WAIT = 5.0  # seconds a test waits for a frame the simulator owes it before failing


async def never(_seconds: float) -> None:
    """The publisher's wait in these tests: it never ticks by itself (`PushSim.tick` does)."""
    await asyncio.Event().wait()


def flow_topic(flow_id: str) -> str:
    return f"v2.analytics.flow.{flow_id}.aggregates"


def outcome_topic(flow_id: str) -> str:
    return f"v2.analytics.flowoutcome.{flow_id}.aggregates"


@dataclass
class PushSim(Sim):
    @property
    def hub(self) -> PushHub:
        return self.state.push

    async def tick(self, seconds: float = 0.0) -> None:
        """Move the clock `seconds` on, then run one publisher tick."""
        self.clock.advance(seconds)
        await self.hub.tick()

    async def call(
        self, method: str, path: str, body: Any = None, *, token: str | None = None
    ) -> Reply:
        bearer = token if token is not None else await self.token()
        return await self.send(
            path, body=body, headers={"Authorization": f"Bearer {bearer}"}, method=method
        )

    async def channel(self, *, token: str | None = None) -> dict[str, Any]:
        reply = await self.call("POST", CHANNELS, token=token)
        assert reply.status == 200, reply.text
        got: dict[str, Any] = reply.json
        return got

    async def subscribe(
        self, channel_id: str, topics: list[str], method: str = "PUT", query: str = ""
    ) -> Reply:
        return await self.call(
            method, f"{CHANNELS}/{channel_id}/subscriptions{query}", [{"id": t} for t in topics]
        )

    async def head(self, channel_id: str) -> int:
        return (await self.call("HEAD", f"{CHANNELS}/{channel_id}")).status

    async def control(self, method: str, path: str, body: Any = None) -> Reply:
        return await self.send(path, body=body, method=method)

    @asynccontextmanager
    async def socket(self, connect_uri: str) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
        async with self.http.ws_connect(connect_uri, autoclose=False) as ws:
            yield ws


MakePushSim = Callable[..., Awaitable[PushSim]]


async def open_push_sim(*, clock: FakeClock | None = None, **overrides: Any) -> PushSim:
    """A simulator (4 flows, lag 5 s unless `overrides` say otherwise) whose push publisher
    ticks only on `PushSim.tick`."""
    settings = dataclasses.replace(SimulatorSettings(flows=4), **overrides)
    fake = clock or FakeClock(NOW)
    app = build_simulator_app(settings, clock=fake, sleep=fake.sleep, push_wait=never)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return PushSim(server, aiohttp.ClientSession(), fake, settings)


async def frame(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The next text frame as JSON; fails when the socket closes or nothing comes."""
    msg = await ws.receive(timeout=FRAME_WAIT)
    assert msg.type == aiohttp.WSMsgType.TEXT, f"expected a text frame, got {msg.type!r}"
    got: dict[str, Any] = json.loads(msg.data)
    return got


async def pong(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    """Ping and wait for the pong: every frame the simulator sent before it. The pong answers
    at once, so frames queued before the ping are all in the list."""
    await ws.send_str('{"message": "ping"}')
    out: list[dict[str, Any]] = []
    while True:
        got = await frame(ws)
        if got == {"topicName": "channel.metadata", "eventBody": {"message": "pong"}}:
            return out
        out.append(got)


async def closed(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    """The closing message of a socket the simulator closes, skipping frames before it."""
    while True:
        msg = await ws.receive(timeout=FRAME_WAIT)
        if msg.type != aiohttp.WSMsgType.TEXT:
            return msg


def data_of(message: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """A data message's figures: interval -> metric -> stats."""
    return {
        item["interval"]: {m["metric"]: m["stats"] for m in item["metrics"]}
        for item in message["eventBody"]["data"]
    }
