"""The notification sockets and their publisher: one `PushHub` per simulator.

A channel's socket (its `connectUri`, no auth) gets JSON text frames: the flow topics' messages
(`pushfigures`), a `channel.metadata` heartbeat every `heartbeat` seconds, a pong for each
`{"message": "ping"}` the client sends, and the system frames of the faults (`pushsettings`).
One socket per channel: a second connection closes the first.

The hub ticks once a second (`wait` is injected: tests give one that never returns and call
`tick` themselves, with the simulator's clock held). A tick, on the simulator's clock: due
`--faults` items, expired channels, closes due after `socket_closing`, heartbeats, and then, per
org with a connected socket, the figures of every topic some connected channel subscribes to,
computed once per tick in a worker thread (as the query endpoint computes them), and sent to
each channel that is due them. The cost grows with the subscribed flows only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import WSMsgType, web

from poller.simulator.engine import Engine
from poller.simulator.notifications import Channel, Channels, parse_topic
from poller.simulator.pushfigures import Figures, Sent, figures, interval_names, intervals, messages
from poller.simulator.pushsettings import PushFault, PushSimSettings

log = structlog.get_logger("poller.simulator")

Clock = Callable[[], float]
Wait = Callable[[float], Awaitable[None]]
TICK = 1.0  # seconds
HEARTBEAT = {"topicName": "channel.metadata", "eventBody": {"message": "WebSocket Heartbeat"}}
PONG = {"topicName": "channel.metadata", "eventBody": {"message": "pong"}}
SYSTEM_TOPICS: dict[str, str] = {
    "closing": "v2.system.socket_closing",
    "unsubscribed": "v2.system.no_longer_subscribed",
    "revoked": "v2.system.token_revoked",
}


def short(channel_id: str) -> str:
    """What the log shows of a channel id: it is a capability."""
    return channel_id[:8]


@dataclass
class PushOrg:
    """One org as the hub sees it."""

    client_id: str
    engine: Engine
    lag: float  # seconds
    lock: Callable[[], asyncio.Lock]  # the org's engine lock (one query at a time)
    channels: Channels = field(default_factory=Channels)


@dataclass
class PushSocket:
    channel: Channel
    client_id: str
    ws: web.WebSocketResponse
    request: web.Request
    beat: float  # when the last heartbeat was sent (or the socket opened)
    silent: bool = False
    closing_at: float | None = None


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    at: float  # epoch seconds
    fault: PushFault
    client_id: str


class PushHub:
    def __init__(
        self,
        orgs: list[PushOrg],
        settings: PushSimSettings,
        clock: Clock,
        wait: Wait | None = None,
    ) -> None:
        self.orgs = {o.client_id: o for o in orgs}
        self.settings = settings
        self.clock = clock
        self._wait = wait or asyncio.sleep
        self.sockets: dict[str, PushSocket] = {}  # by channel id
        self._sent: dict[str, Sent] = {}  # by channel id
        self.scheduled: list[ScheduledFault] = []
        self._task: asyncio.Task[None] | None = None
        self._tick_lock = asyncio.Lock()
        self._closers: set[asyncio.Task[bool]] = set()
        for org in orgs:
            org.channels.on_gone = self._gone

    def org(self, client_id: str | None = None) -> PushOrg:
        """The org of `client_id` (the first for None); KeyError naming an unknown one."""
        if client_id is None:
            return next(iter(self.orgs.values()))
        found = self.orgs.get(client_id)
        if found is None:
            raise KeyError(f"no simulated org has client id {client_id!r}")
        return found

    def find_channel(self, channel_id: str, now: float) -> tuple[PushOrg, Channel] | None:
        for org in self.orgs.values():
            channel = org.channels.get(channel_id, now)
            if channel is not None:
                return org, channel
        return None

    def sent(self, channel: Channel) -> Sent:
        return self._sent.setdefault(channel.id, Sent())

    # -- the socket -------------------------------------------------------------------------

    async def serve(
        self, request: web.Request, org: PushOrg, channel: Channel
    ) -> web.StreamResponse:
        """Serve a channel's socket until either side closes it."""
        # Protocol pings are answered here, not by aiohttp, so that a silent socket ignores them.
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        now = self.clock()
        sock = PushSocket(channel, org.client_id, ws, request, beat=now)
        previous = self.sockets.get(channel.id)
        self.sockets[channel.id] = sock
        channel.connected = True
        channel.used = now
        if previous is not None:
            log.info("simulator.push.replaced", channel=short(channel.id))
            self._close(previous, message=b"replaced by a newer connection")
        log.info("simulator.push.connected", channel=short(channel.id), client_id=org.client_id)
        self.start()
        try:
            async for msg in ws:
                if sock.silent:
                    continue
                if msg.type == WSMsgType.TEXT and _is_ping(msg.data):
                    await self._send(sock, PONG)
                elif msg.type == WSMsgType.PING:
                    await ws.pong(msg.data)
        finally:
            if self.sockets.get(channel.id) is sock:
                del self.sockets[channel.id]
                channel.connected = False
            log.info("simulator.push.disconnected", channel=short(channel.id))
        return ws

    async def _send(self, sock: PushSocket, frame: dict[str, Any]) -> bool:
        if sock.ws.closed:
            return False
        try:
            await sock.ws.send_str(json.dumps(frame, separators=(",", ":")))
        except (ConnectionError, RuntimeError):
            return False
        return True

    def _close(self, sock: PushSocket, message: bytes = b"") -> None:
        """Close a socket with a close frame, without waiting for the client's answer here."""
        task = asyncio.create_task(sock.ws.close(message=message))
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    def _drop(self, sock: PushSocket) -> None:
        """Cut the connection without a close frame, as a network failure would."""
        transport = sock.request.transport
        if transport is not None:
            transport.abort()
        else:  # already gone
            self._close(sock)

    def _gone(self, channel: Channel, reason: str) -> None:
        self._sent.pop(channel.id, None)
        log.info("simulator.push.channel_gone", channel=short(channel.id), reason=reason)
        sock = self.sockets.get(channel.id)
        if sock is not None:
            self._close(sock, message=reason.encode())

    # -- faults -----------------------------------------------------------------------------

    async def fault(self, fault: PushFault, client_id: str | None = None) -> int:
        """Apply a fault to every connected socket (of one org with `client_id`); how many."""
        now = self.clock()
        hit = [s for s in list(self.sockets.values()) if client_id in (None, s.client_id)]
        for sock in hit:
            log.info("simulator.push.fault", fault=fault, channel=short(sock.channel.id))
            if fault == "drop":
                self._drop(sock)
            elif fault == "silent":
                sock.silent = True
            elif fault == "expired":
                sock.channel.expires = now
                self.orgs[sock.client_id].channels.expire(now)
            elif fault == "closing":
                sock.silent = False
                body = {"message": f"the socket closes in {self.settings.closing_grace:g} s"}
                await self._send(sock, {"topicName": SYSTEM_TOPICS[fault], "eventBody": body})
                sock.closing_at = now + self.settings.closing_grace
                if self.settings.closing_grace <= 0:
                    self._close(sock, message=b"socket closing")
            else:
                sock.silent = False
                sock.channel.topics = {}
                self._sent.pop(sock.channel.id, None)
                topic = f"{SYSTEM_TOPICS[fault]}.{sock.channel.id}"
                body = {"message": "the channel's subscriptions were removed"}
                await self._send(sock, {"topicName": topic, "eventBody": body})
                self._close(sock, message=fault.encode())
        return len(hit)

    def schedule(self, fault: PushFault, at: float, client_id: str) -> None:
        self.scheduled.append(ScheduledFault(at, fault, client_id))
        self.scheduled.sort(key=lambda s: s.at)

    # -- the publisher ----------------------------------------------------------------------

    def start(self) -> None:
        """Start ticking (at the first connection: a simulator nobody pushes to never ticks)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._wait(TICK)
            try:
                await self.tick()
            except Exception:  # a bug here must not stop every later tick
                log.exception("simulator.push.tick_failed")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for sock in list(self.sockets.values()):
            with contextlib.suppress(Exception):
                await sock.ws.close(message=b"server shutdown")
        for closer in list(self._closers):
            with contextlib.suppress(Exception):
                await closer

    async def tick(self) -> None:
        """One pass of the publisher at the clock's now."""
        async with self._tick_lock:
            now = self.clock()
            while self.scheduled and self.scheduled[0].at <= now:
                due = self.scheduled.pop(0)
                await self.fault(due.fault, due.client_id)
            for org in self.orgs.values():
                org.channels.expire(now)
            for sock in list(self.sockets.values()):
                if sock.closing_at is not None and now >= sock.closing_at:
                    sock.closing_at = None
                    self._close(sock, message=b"socket closing")
                elif not sock.silent and now - sock.beat >= self.settings.heartbeat:
                    sock.beat = now
                    await self._send(sock, HEARTBEAT)
            for org in self.orgs.values():
                await self._publish(org, now)

    async def _publish(self, org: PushOrg, now: float) -> None:
        live = [s for s in self.sockets.values() if s.client_id == org.client_id]
        if not live:
            return
        flow_ids: set[str] = set()
        for sock in live:
            for topic in sock.channel.topics:
                parsed = parse_topic(topic)
                if parsed is not None and org.channels.may_read(parsed[1]):
                    flow_ids.add(parsed[1])
        bounds = intervals(now, self.settings.interval, org.lag)
        current: Figures = {}
        if flow_ids:
            async with org.lock():
                current = await asyncio.to_thread(
                    figures, org.engine, sorted(flow_ids), bounds, now
                )
        names = interval_names(bounds)
        for sock in live:
            channel = sock.channel
            if self.sockets.get(channel.id) is not sock:
                continue  # closed, replaced or its channel gone while the figures were computed
            sent = self.sent(channel)
            sent.forget(set(channel.topics), names)
            if sock.silent or sock.ws.closed:
                continue
            for frame in messages(current, channel.topics, sent, now, deltas=self.settings.deltas):
                if await self._send(sock, frame):
                    channel.sent += 1

    # -- control ----------------------------------------------------------------------------

    def to_json(self, client_id: str | None = None) -> dict[str, object]:
        channels = [
            {
                "id": c.id,
                "connected": c.connected,
                "topics": len(c.topics),
                "sent": c.sent,
                "client_id": c.client_id,
            }
            for org in self.orgs.values()
            if client_id in (None, org.client_id)
            for c in org.channels.all()
        ]
        return {"channels": channels, "settings": self.settings.to_json()}


def _is_ping(text: str) -> bool:
    try:
        body = json.loads(text)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("message") == "ping"
