"""One org's push session: its notification channels kept subscribed and connected, and every
data frame handed to `on_aggregates`.

Each channel has a runner: create the channel, PUT its topics, open its socket, read frames
until the socket ends, then back off (full jitter, 1 s doubling to 60 s, reset once a socket
stayed up a minute) and go again. While a socket is open two helpers watch it: one pings after
`ping_after` of silence and gives up on the socket 10 s later if nothing at all came back
(`silent`), one re-subscribes every 12 h, which extends the channel's 24-hour life (a 404 then:
`expired`). A socket that closes without warning is `dropped`, unless a HEAD says the channel
is gone (`expired`). `v2.system.socket_closing` gets a new channel subscribed and connected
while the old socket is still read, then the old one is closed: no gap. `no_longer_subscribed`
and `token_revoked` (after a fresh login) get a new channel.

Nothing here stops a poll: the session only adds freshness, and while it is down the polls go
on as before. Channel ids and connectUris are capabilities: logs, metrics and the status show
the first 8 characters of an id, never a URI.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple, Protocol

import structlog

from poller import scope
from poller.config.model import PushSettings
from poller.errors import ApiError
from poller.genesys.notifications import TOPIC_PERMISSION, Channel
from poller.logsetup import forget_secret
from poller.push.messages import (
    FRAME_KINDS,
    PING,
    PushedAggregates,
    SystemNotice,
    Unusable,
    flow_of,
    kind_of,
    parse,
)
from poller.push.topics import assign, topics_of
from poller.selfmetrics import SelfMetrics
from poller.timing import Clocks

log = structlog.get_logger("poller.push")

State = Literal["off", "connecting", "connected", "reconnecting"]
Reason = Literal[
    "dropped", "socket_closing", "no_longer_subscribed", "token_revoked", "silent", "expired"
]
REASONS: Final[tuple[Reason, ...]] = (
    "dropped",
    "socket_closing",
    "no_longer_subscribed",
    "token_revoked",
    "silent",
    "expired",
)
TOPIC_LIMIT: Final = 1000  # topics per channel (Genesys: more is a 400)
PONG_WAIT: Final = 10.0  # seconds after a ping before a silent socket is given up
DEBOUNCE: Final = 1.0  # set_flows calls within this many seconds make one subscription call
RESUBSCRIBE: Final = 12 * 3600.0  # a channel lives 24 h; re-subscribing extends it
CHANNEL_LIFE: Final = 24 * 3600.0
BACKOFF_BASE: Final = 1.0
BACKOFF_MAX: Final = 60.0
STAYED_UP: Final = 60.0  # a socket open this long resets the backoff


class PushSocket(Protocol):
    """A channel's open socket, as the session uses it."""

    async def receive(self) -> str | None:
        """The next text frame; None once closed."""
        ...

    async def send(self, text: str) -> None: ...

    async def close(self) -> None: ...


class PushApi(Protocol):
    """The channel calls the session makes (GenesysClient's)."""

    async def create_channel(self) -> Channel: ...

    async def subscribe(self, channel: Channel, topics: Sequence[str]) -> list[str]: ...

    async def channel_exists(self, channel: Channel) -> bool: ...

    async def connect(self, channel: Channel) -> PushSocket: ...

    async def relogin(self) -> None: ...


class ChannelStatus(NamedTuple):
    id: str  # the first 8 characters
    topics: int
    connected: bool
    expires: float | None


@dataclass(frozen=True, slots=True)
class PushStatus:
    state: State
    channels: tuple[ChannelStatus, ...]
    topics: int
    last_message: float | None
    last_reconnect: float | None
    last_reconnect_reason: str
    forbidden: tuple[str, ...]  # flow ids whose topics Genesys left out


def backoff(attempt: int, rng: Callable[[], float]) -> float:
    """Full jitter: anywhere from 0 to 1 s doubling per attempt, at most 60 s."""
    return rng() * min(BACKOFF_MAX, BACKOFF_BASE * 2.0 ** (attempt - 1))


class _Replacement(NamedTuple):
    """A channel made, subscribed and connected on socket_closing, not yet swapped in."""

    channel: Channel
    socket: PushSocket
    sent: tuple[str, ...]
    answered: frozenset[str]


@dataclass(eq=False)
class _Slot:
    """One channel's place: the flows it carries, the channel and socket it has now."""

    flows: tuple[str, ...] = ()
    sent: tuple[str, ...] | None = None  # the topics last PUT (None: none yet)
    subscribed: frozenset[str] = frozenset()  # the topics the last answer listed
    channel: Channel | None = None
    socket: PushSocket | None = None
    check: bool = False  # HEAD the channel before connecting again
    renewed: float = 0.0  # when the channel was made or last subscribed (its life restarts)
    reason: Reason | None = None  # why the session closed the socket itself
    frames: int = 0
    last_frame: float = 0.0
    replacing: asyncio.Task[None] | None = None  # a new channel after socket_closing
    replacement: _Replacement | None = None
    task: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def topics(self) -> tuple[str, ...]:
        return topics_of(self.flows)

    @property
    def stale(self) -> bool:
        """Whether the channel's subscription differs from the slot's topics."""
        return self.topics != (self.sent or ())


class PushSession:
    def __init__(
        self,
        api: PushApi,
        settings: PushSettings,
        metrics: SelfMetrics,
        on_aggregates: Callable[[PushedAggregates], None],
        *,
        clocks: Clocks | None = None,
        topic_limit: int = TOPIC_LIMIT,
        pong_wait: float = PONG_WAIT,
    ) -> None:
        clocks = clocks or Clocks()
        self._api = api
        self._settings = settings
        self._metrics = metrics
        self._on_aggregates = on_aggregates
        self._clock, self._sleep, self._rng = clocks.clock, clocks.sleep, clocks.rng
        self._topic_limit = topic_limit
        self._pong_wait = pong_wait
        self._log = log.bind(**scope.log_fields(metrics.org))
        self._slots: list[_Slot] = []
        self._flows: frozenset[str] = frozenset()
        self._changed = asyncio.Event()
        self._planner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self._ever_connected = False
        self._last_message: float | None = None
        self._last_reconnect: float | None = None
        self._last_reason = ""
        self._forbidden: dict[int, frozenset[str]] = {}
        self._warned_forbidden: set[str] = set()
        self._left_out = 0

    # -- the org's polling calls these

    def start(self) -> None:
        """Connect (in the background, within the running loop)."""
        if self._started:
            return
        self._started = True
        for kind in FRAME_KINDS:
            self._metrics.push_messages.labels(kind)
        for reason in REASONS:
            self._metrics.push_reconnects.labels(reason)
        self._plan(self._flows)
        self._planner = asyncio.create_task(self._plan_changes(), name="push-planner")
        self._show()

    async def stop(self) -> None:
        """Close every socket and stop; the status reads off."""
        self._started = False
        tasks = [t for t in (self._planner, *self._tasks) if t is not None]
        tasks += [slot.task for slot in self._slots if slot.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for slot in self._slots:
            await self._close(slot)
            _retire(slot.channel)
        self._slots = []
        self._forbidden.clear()
        self._ever_connected = False
        self._show()

    def set_flows(self, flow_ids: Iterable[str]) -> None:
        """The flows to subscribe (both topics each); calls within a second make one change."""
        flows = frozenset(flow_ids)
        if flows == self._flows:
            return
        self._flows = flows
        self._changed.set()

    def status(self) -> PushStatus:
        channels = tuple(
            ChannelStatus(
                slot.channel.short if slot.channel else "",
                len(slot.subscribed),
                slot.socket is not None,
                slot.channel.expires if slot.channel else None,
            )
            for slot in self._slots
        )
        return PushStatus(
            state=self._state(),
            channels=channels,
            topics=sum(len(slot.subscribed) for slot in self._slots),
            last_message=self._last_message,
            last_reconnect=self._last_reconnect,
            last_reconnect_reason=self._last_reason,
            forbidden=tuple(sorted(set().union(*self._forbidden.values()))),
        )

    # -- topics

    async def _plan_changes(self) -> None:
        while True:
            await self._changed.wait()
            await self._sleep(DEBOUNCE)
            self._changed.clear()
            self._plan(self._flows)

    def _plan(self, flows: frozenset[str]) -> None:
        plan = assign(
            [slot.flows for slot in self._slots],
            flows,
            limit=self._topic_limit,
            max_channels=self._settings.max_channels,
        )
        if plan.left_out and not self._left_out:
            self._log.warning(
                "push_topics_left_out",
                flows=len(plan.left_out),
                max_channels=self._settings.max_channels,
                topics_per_channel=self._topic_limit,
                fix="raise push.max_channels (Genesys allows 20 channels per OAuth client)",
            )
        self._left_out = len(plan.left_out)
        for gone in self._slots[len(plan.channels) :]:
            self._forget(gone)
        del self._slots[len(plan.channels) :]
        for index, flows_of_slot in enumerate(plan.channels):
            if index == len(self._slots):
                self._slots.append(_Slot())
            slot = self._slots[index]
            if slot.flows == flows_of_slot and slot.task is not None:
                continue
            slot.flows = flows_of_slot
            if slot.task is None:
                slot.task = asyncio.create_task(self._run(slot), name=f"push-channel-{index}")
            elif slot.socket is not None:
                # Connected: subscribe now. Otherwise the runner does before it connects.
                self._spawn(self._update(slot))
        self._show()

    def _forget(self, slot: _Slot) -> None:
        if slot.task is not None:
            slot.task.cancel()
        _retire(slot.channel)
        self._forbidden.pop(id(slot), None)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _update(self, slot: _Slot) -> None:
        """Subscribe a connected channel to its new topics, backing off and trying again while
        it stays connected (a reconnect subscribes it anyway)."""
        attempt = 0
        while slot.socket is not None and slot.stale:
            try:
                await self._subscribe(slot)
            except ApiError as err:
                attempt += 1
                delay = backoff(attempt, self._rng)
                self._log.warning(
                    "push_subscribe_failed",
                    channel=self._short(slot),
                    error=str(err),
                    attempt=attempt,
                    delay=round(delay, 3),
                )
                await self._sleep(delay)

    async def _subscribe(self, slot: _Slot, *, again: bool = False) -> None:
        """PUT the slot's topics if they changed (or `again`: to extend the channel's life),
        and take the answer: topics left out are forbidden."""
        async with slot.lock:
            channel, topics = slot.channel, slot.topics
            if channel is None or not (slot.stale or again):
                return
            answered = await self._api.subscribe(channel, topics)
            if slot.channel is not channel:
                return
            slot.sent, slot.renewed = topics, self._clock()
            slot.subscribed = frozenset(answered) & frozenset(topics)
            # Assumed: a re-subscription extends the channel's life to a full day from now.
            slot.channel = Channel(channel.id, channel.connect_uri, self._clock() + CHANNEL_LIFE)
            self._take_forbidden(slot, set(topics) - slot.subscribed)
            self._show()

    def _take_forbidden(self, slot: _Slot, refused: set[str]) -> None:
        flows = frozenset(flow for topic in refused if (flow := flow_of(topic)) is not None)
        self._forbidden[id(slot)] = flows
        new = sorted(flows - self._warned_forbidden)
        if not new:
            return
        self._warned_forbidden.update(new)
        self._log.warning(
            "push_topics_forbidden",
            flows=new,
            topics=len(refused),
            permission=TOPIC_PERMISSION,
            note="the permission is assumed (Genesys documents none for these topics); those "
            "flows are polled as before",
        )

    # -- a channel's runner

    async def _run(self, slot: _Slot) -> None:
        attempt = 0
        while True:
            try:
                socket = await self._open(slot)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a bad answer must not end push for good
                attempt += 1
                delay = backoff(attempt, self._rng)
                self._log.warning(
                    "push_connect_failed",
                    channel=self._short(slot),
                    error=_said(err),
                    attempt=attempt,
                    delay=round(delay, 3),
                )
                await self._sleep(delay)
                continue
            up_since = self._clock()
            self._log.info(
                "push_connected",
                channel=self._short(slot),
                topics=len(slot.subscribed),
                attempt=attempt,
            )
            try:
                reason = await self._serve(slot, socket)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a bug must cost a reconnect, not push for good
                self._log.error(
                    "push_read_failed", channel=self._short(slot), error=type(err).__name__
                )
                reason = "dropped"
            if self._clock() - up_since >= STAYED_UP:
                attempt = 0
            attempt += 1
            delay = backoff(attempt, self._rng)
            self._last_reconnect, self._last_reason = self._clock(), reason
            self._metrics.push_reconnects.labels(reason).inc()
            self._log.warning(
                "push_reconnecting",
                channel=self._short(slot),
                reason=reason,
                attempt=attempt,
                delay=round(delay, 3),
            )
            if reason in ("no_longer_subscribed", "token_revoked", "expired", "socket_closing"):
                _retire(slot.channel)
                slot.channel = None
            if reason == "token_revoked":
                with contextlib.suppress(ApiError):
                    await self._api.relogin()
            self._show()
            await self._sleep(delay)

    async def _open(self, slot: _Slot) -> PushSocket:
        """A connected socket for the slot: its channel (a new one if it has none or it is
        gone), subscribed."""
        if slot.channel is not None and slot.check:
            if not await self._api.channel_exists(slot.channel):
                _retire(slot.channel)
                slot.channel = None
            slot.check = False
        if slot.channel is None:
            channel = await self._api.create_channel()
            slot.channel, slot.sent, slot.subscribed = channel, None, frozenset()
            slot.renewed = self._clock()
        channel = slot.channel
        # Until it connects: a failed subscription or connect may mean the channel is gone.
        slot.check = True
        await self._subscribe(slot)
        socket = await self._api.connect(channel)
        slot.check = False
        slot.socket, slot.reason, slot.frames = socket, None, 0
        slot.last_frame = self._clock()
        self._ever_connected = True
        if slot.stale:
            self._spawn(self._update(slot))
        self._show()
        return socket

    async def _serve(self, slot: _Slot, socket: PushSocket) -> Reason:
        """Read the socket until it ends; why it did. A socket_closing notice swaps in a new
        channel and goes on reading that one."""
        helpers: list[asyncio.Task[None]] = []
        try:
            while True:
                helpers = [
                    asyncio.create_task(self._watch(slot, socket)),
                    asyncio.create_task(self._keep(slot, socket)),
                ]
                reason = await self._read(slot, socket)
                for task in helpers:
                    task.cancel()
                if slot.replacing is not None:
                    # Whether the old socket closed first or the replacement closed it.
                    with contextlib.suppress(Exception):
                        await slot.replacing
                    slot.replacing = None
                if reason != "socket_closing" or slot.replacement is None:
                    break
                with contextlib.suppress(Exception):
                    await socket.close()
                old, new = slot.channel, slot.replacement
                slot.channel, socket, slot.replacement, slot.reason = (
                    new.channel,
                    new.socket,
                    None,
                    None,
                )
                slot.socket, slot.sent, slot.renewed = socket, new.sent, self._clock()
                slot.subscribed = new.answered & frozenset(new.sent)
                self._take_forbidden(slot, set(new.sent) - slot.subscribed)
                _retire(old)
                if slot.stale:  # the flows changed while the new channel was made
                    self._spawn(self._update(slot))
                slot.last_frame = self._clock()
                self._last_reconnect, self._last_reason = self._clock(), reason
                self._metrics.push_reconnects.labels(reason).inc()
                self._log.info(
                    "push_channel_replaced",
                    old=old.short if old else "",
                    new=slot.channel.short,
                    reason=reason,
                )
                self._show()
        finally:
            for task in helpers:
                task.cancel()
            if slot.replacing is not None:
                slot.replacing.cancel()
                slot.replacing = None
            await self._close(slot)
        if reason == "dropped" and slot.channel is not None:
            with contextlib.suppress(ApiError):
                if not await self._api.channel_exists(slot.channel):
                    reason = "expired"
        return reason

    async def _read(self, slot: _Slot, socket: PushSocket) -> Reason:
        closing = False
        while True:
            text = await socket.receive()
            if text is None:
                if slot.reason is not None:
                    return slot.reason
                return "socket_closing" if closing else "dropped"
            now = self._clock()
            slot.frames += 1
            slot.last_frame = self._last_message = now
            frame = parse(text)
            self._metrics.push_messages.labels(kind_of(frame)).inc()
            self._metrics.push_last_message.labels().set(now)
            if isinstance(frame, PushedAggregates):
                self._dispatch(frame)
            elif isinstance(frame, Unusable):
                self._log.debug("push_frame_unusable", topic=frame.topic, why=frame.why)
            elif isinstance(frame, SystemNotice):
                if frame.event == "socket_closing" and not closing:
                    closing = True
                    slot.replacing = asyncio.create_task(self._replace(slot, socket))
                elif frame.event in ("no_longer_subscribed", "token_revoked"):
                    slot.reason = frame.event
                    await socket.close()
                    return frame.event

    def _dispatch(self, message: PushedAggregates) -> None:
        try:
            self._on_aggregates(message)
        except Exception as err:  # one bad message must not end the socket
            self._log.error("push_dispatch_failed", flow=message.flow_id, error=type(err).__name__)

    async def _replace(self, slot: _Slot, old: PushSocket) -> None:
        """A new channel, subscribed and connected, then the old socket closed."""
        topics = slot.topics
        try:
            channel = await self._api.create_channel()
            answered = await self._api.subscribe(channel, topics) if topics else []
            socket = await self._api.connect(channel)
        except ApiError as err:
            # The old socket closes by itself soon; the runner starts afresh then.
            self._log.warning("push_replace_failed", channel=self._short(slot), error=str(err))
            return
        slot.replacement = _Replacement(channel, socket, topics, frozenset(answered))
        slot.reason = "socket_closing"
        await old.close()

    async def _watch(self, slot: _Slot, socket: PushSocket) -> None:
        """Ping after `ping_after` of silence; no frame at all within the pong wait: silent."""
        ping_after = self._settings.ping_after
        while True:
            quiet = self._clock() - slot.last_frame
            if quiet < ping_after:
                await self._sleep(ping_after - quiet)
                continue
            seen = slot.frames
            await socket.send(PING)
            await self._sleep(self._pong_wait)
            if slot.frames == seen:
                slot.reason = "silent"
                await socket.close()
                return

    async def _keep(self, slot: _Slot, socket: PushSocket) -> None:
        """Re-subscribe RESUBSCRIBE after the channel was made or last subscribed, whatever
        reconnects came between, to keep it past its 24 hours."""
        while slot.channel is not None:
            due = slot.renewed + RESUBSCRIBE - self._clock()
            if due > 0:
                await self._sleep(due)
                continue
            try:
                await self._subscribe(slot, again=True)
            except ApiError as err:
                if err.status == 404:
                    slot.reason = "expired"
                    await socket.close()
                    return
                # The channel has hours of life left: try again in a minute.
                self._log.warning(
                    "push_subscribe_failed",
                    channel=self._short(slot),
                    error=str(err),
                    delay=BACKOFF_MAX,
                )
                await self._sleep(BACKOFF_MAX)

    async def _close(self, slot: _Slot) -> None:
        socket, slot.socket = slot.socket, None
        if socket is not None:
            with contextlib.suppress(Exception):
                await socket.close()
        if slot.replacement is not None:
            spare, slot.replacement = slot.replacement.socket, None
            with contextlib.suppress(Exception):
                await spare.close()
        self._show()

    # -- what shows

    def _state(self) -> State:
        if not self._started:
            return "off"
        if self._slots and all(slot.socket is not None for slot in self._slots):
            return "connected"
        return "reconnecting" if self._ever_connected else "connecting"

    def _show(self) -> None:
        metrics = self._metrics
        connected = self._state() == "connected"
        metrics.push_connected.labels().set(1 if connected else 0)
        metrics.push_channels.labels().set(sum(1 for s in self._slots if s.channel is not None))
        metrics.push_topics.labels().set(sum(len(s.subscribed) for s in self._slots))
        metrics.changed()

    @staticmethod
    def _short(slot: _Slot) -> str:
        return slot.channel.short if slot.channel is not None else ""


def _retire(channel: Channel | None) -> None:
    """The channel is no longer used: its id need not be watched for in logs any more."""
    if channel is not None:
        forget_secret(channel.id)


def _said(err: Exception) -> str:
    """An error as a log may show it: ours carry no secret; anything else only its type."""
    return str(err) if isinstance(err, ApiError) else type(err).__name__
