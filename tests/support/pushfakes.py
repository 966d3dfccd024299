"""A fake Notifications API and fake sockets for push session tests: in memory, scriptable,
recording every call, with no real time anywhere."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from poller.errors import ApiError, TransportError
from poller.genesys.notifications import Channel

# Long enough that a log or page showing more than 8 characters of one is caught.
ID_TAIL = "-7e3f9a1c5b2d4e6f8a0b1c2d3e4f5a6b"


class FakeSocket:
    """One open socket: the test `push`es frames and `drop`s it; `sent` holds what the session
    sent (pings)."""

    def __init__(self, channel: Channel, calls: list[Call]) -> None:
        self.channel = channel
        self._calls = calls
        self.sent: list[str] = []
        self.closed = False
        self.closed_by_session = False
        self._frames: asyncio.Queue[str | None] = asyncio.Queue()

    def push(self, frame: str | dict[str, Any]) -> None:
        self._frames.put_nowait(frame if isinstance(frame, str) else json.dumps(frame))

    def drop(self) -> None:
        """The server side goes away without a word."""
        self.closed = True
        self._frames.put_nowait(None)

    async def receive(self) -> str | None:
        if self.closed and self._frames.empty():
            return None
        return await self._frames.get()

    async def send(self, text: str) -> None:
        if not self.closed:
            self.sent.append(text)

    async def close(self) -> None:
        if not self.closed:
            self.closed = self.closed_by_session = True
            self._calls.append(Call("close", self.channel.id))
            self._frames.put_nowait(None)


@dataclass
class Call:
    what: str  # create, subscribe, exists, connect, relogin, close (the session closed a socket)
    channel: str = ""  # the channel's full id
    topics: tuple[str, ...] = ()


class FakeNotifications:
    """The channel calls, in memory. Channels are `0001-channel...` (shown: `0001-cha`);
    `gone` channels answer 404 (HEAD False, PUT ApiError 404); topics in `forbidden` are left
    out of answers; an ApiError queued in `fail[what]` is raised by the next call of that
    kind."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.calls: list[Call] = []
        self.channels: list[Channel] = []
        self.topics: dict[str, tuple[str, ...]] = {}
        self.sockets: list[FakeSocket] = []
        self.gone: set[str] = set()
        self.forbidden: set[str] = set()
        self.fail: dict[str, deque[ApiError]] = {}
        self.logins = 0
        self.hold_create: asyncio.Event | None = None  # set: create_channel waits for it

    def _failing(self, what: str) -> None:
        queue = self.fail.get(what)
        if queue:
            raise queue.popleft()

    def calls_of(self, what: str) -> list[Call]:
        return [call for call in self.calls if call.what == what]

    @property
    def socket(self) -> FakeSocket:
        """The latest socket."""
        return self.sockets[-1]

    async def create_channel(self) -> Channel:
        if self.hold_create is not None:
            await self.hold_create.wait()
        self._failing("create")
        number = len(self.channels) + 1
        channel = Channel(
            f"{number:04d}-channel{ID_TAIL}",
            f"wss://streaming.fake.test/channels/{number:04d}-channel{ID_TAIL}",
            self.clock() + 86400,
        )
        self.calls.append(Call("create", channel.id))
        self.channels.append(channel)
        return channel

    async def subscribe(self, channel: Channel, topics: Sequence[str]) -> list[str]:
        self.calls.append(Call("subscribe", channel.id, tuple(topics)))
        self._failing("subscribe")
        if channel.id in self.gone:
            raise ApiError("channel not found", endpoint="notifications", status=404)
        answered = tuple(topic for topic in topics if topic not in self.forbidden)
        self.topics[channel.id] = answered
        return list(answered)

    async def channel_exists(self, channel: Channel) -> bool:
        self.calls.append(Call("exists", channel.id))
        self._failing("exists")
        return channel.id not in self.gone

    async def connect(self, channel: Channel) -> FakeSocket:
        self.calls.append(Call("connect", channel.id))
        self._failing("connect")
        if channel.id in self.gone:
            raise TransportError(
                "the socket was refused (HTTP 404)", endpoint="notifications", status=404
            )
        socket = FakeSocket(channel, self.calls)
        self.sockets.append(socket)
        return socket

    async def relogin(self) -> None:
        self.calls.append(Call("relogin"))
        self.logins += 1


def flow_message(flow: str, count: int, interval: str) -> dict[str, Any]:
    """A flow topic data message with nFlow = `count` for `interval`."""
    return {
        "topicName": f"v2.analytics.flow.{flow}.aggregates",
        "version": "2",
        "eventBody": {
            "group": {"flowId": flow, "mediaType": "voice"},
            "data": [
                {"interval": interval, "metrics": [{"metric": "nFlow", "stats": {"count": count}}]}
            ],
        },
        "metadata": {"CorrelationId": "00000000-0000-4000-8000-000000000001"},
    }


HEARTBEAT = {"topicName": "channel.metadata", "eventBody": {"message": "WebSocket Heartbeat"}}
PONG = {"topicName": "channel.metadata", "eventBody": {"message": "pong"}}


def system(event: str, channel: Channel | None = None) -> dict[str, Any]:
    """A v2.system frame; the channel-specific ones end in the channel's id."""
    topic = f"v2.system.{event}" + (f".{channel.id}" if channel else "")
    return {"topicName": topic, "eventBody": {"message": event}}
