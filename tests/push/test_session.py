"""The push session's channel lifecycle against a fake Notifications API, in virtual time:
subscriptions, frames, every reconnect reason, backoff, status and self-metrics."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from structlog.testing import capture_logs

from poller.config.model import PushSettings
from poller.errors import ApiError, TransportError
from poller.push.messages import PING, PushedAggregates
from poller.push.session import (
    DEBOUNCE,
    PONG_WAIT,
    RESUBSCRIBE,
    ChannelStatus,
    PushSession,
    PushStatus,
)
from poller.push.topics import Plan, assign, topics_of
from poller.responses import MetricEntry, Stats
from poller.selfmetrics import SelfMetrics
from poller.timing import Clocks
from tests.support.clock import START, FakeClock
from tests.support.pushfakes import (
    HEARTBEAT,
    ID_TAIL,
    PONG,
    FakeNotifications,
    flow_message,
    system,
)
from tests.support.wait import wait_until

P = "genesyscloud_poller_"
INTERVAL = "2026-05-17T06:30:00.000Z/2026-05-17T07:00:00.000Z"
DAY = 86400.0


def topics(*flows: str) -> tuple[str, ...]:
    """Both topics of each flow, spelled out (not through the code under test)."""
    return tuple(
        f"v2.analytics.{kind}.{flow}.aggregates"
        for flow in flows
        for kind in ("flow", "flowoutcome")
    )


@dataclass
class Rig:
    """A session on a fake API, a held clock, and what it handed on."""

    clock: FakeClock
    api: FakeNotifications
    metrics: SelfMetrics
    session: PushSession
    received: list[PushedAggregates] = field(default_factory=list)

    def sample(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(P + name, labels)

    async def sleepers(self, count: int) -> None:
        """Wait until `count` tasks sleep on the clock (everything else is idle)."""
        await wait_until(lambda: self.clock.sleeping == count, what=f"{count} sleepers")

    async def connected(self, sockets: int = 1) -> None:
        """Wait until `sockets` sockets were opened and the session is connected and idle
        (each socket's silence watch and re-subscription sleeping)."""
        await wait_until(lambda: len(self.api.sockets) >= sockets, what=f"{sockets} sockets")
        await wait_until(lambda: self.session.status().state == "connected", what="connected")
        await self.sleepers(2 * len(self.session.status().channels))

    async def subscribed(self, *flows: str, channels: int = 1) -> None:
        """Start, give the flows, let the debounce second pass, wait for the subscriptions
        and `channels` connected sockets."""
        self.session.start()
        await self.connected()
        self.session.set_flows(flows)
        await self.sleepers(3)
        self.clock.advance(DEBOUNCE)
        await wait_until(lambda: bool(self.api.calls_of("subscribe")), what="a subscription")
        await self.connected(channels)


MakeRig = Callable[..., Rig]


@pytest.fixture
async def make_rig() -> AsyncIterator[MakeRig]:
    rigs: list[Rig] = []

    def make(*, raising: bool = False, topic_limit: int = 1000, **settings: Any) -> Rig:
        clock = FakeClock(auto=False)
        api = FakeNotifications(clock)
        metrics = SelfMetrics(process=False)
        received: list[PushedAggregates] = []

        def take(message: PushedAggregates) -> None:
            if raising:
                raise ValueError("a bug downstream")
            received.append(message)

        session = PushSession(
            api,
            PushSettings(enabled=True, **settings),
            metrics,
            take,
            clocks=Clocks(clock.time, clock.sleep, lambda: 0.5),
            topic_limit=topic_limit,
        )
        rig = Rig(clock, api, metrics, session, received)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        await rig.session.stop()


# -- topics per channel


def test_topics_of_gives_both_topics_per_flow() -> None:
    """Each flow gets its flow topic and its outcome topic, in that order."""
    assert topics_of(["f1", "f2"]) == topics("f1", "f2")


def test_assign_fills_channels_up_to_the_limit_and_caps_them() -> None:
    """2 flows fit a 4-topic channel; 5 flows on at most 2 channels leave the last one out."""
    plan = assign([], ["f5", "f3", "f1", "f4", "f2"], limit=4, max_channels=2)
    assert plan == Plan((("f1", "f2"), ("f3", "f4")), ("f5",))


def test_assign_keeps_flows_where_they_are() -> None:
    """A new flow goes to the first channel with room; the others stay put."""
    plan = assign([("f1", "f9"), ("f3",)], ["f1", "f2", "f3", "f9"], limit=4, max_channels=4)
    assert plan == Plan((("f1", "f9"), ("f3", "f2")), ())


def test_assign_packs_again_when_fewer_channels_do() -> None:
    """When the flows fit fewer channels, they are packed from the start."""
    plan = assign([("f1", "f2"), ("f3", "f4"), ("f5",)], ["f2", "f5"], limit=4, max_channels=4)
    assert plan == Plan((("f2", "f5"),), ())


def test_assign_always_keeps_one_channel() -> None:
    """No flows yet: one channel, with nothing on it."""
    assert assign([], [], limit=1000, max_channels=4) == Plan(((),), ())


# -- connecting and subscribing


async def test_connects_then_subscribes_both_topics_per_flow(make_rig: MakeRig) -> None:
    """One channel, one PUT with both topics of each flow after the debounce second; status and
    self-metrics say connected with 4 topics."""
    rig = make_rig()
    with capture_logs() as logs:
        await rig.subscribed("f2", "f1")
    [channel] = rig.api.channels
    assert [(c.what, c.channel) for c in rig.api.calls] == [
        ("create", channel.id),
        ("connect", channel.id),
        ("subscribe", channel.id),
    ]
    assert rig.api.calls_of("subscribe")[0].topics == topics("f1", "f2")
    await wait_until(lambda: rig.session.status().topics == 4)
    assert rig.session.status() == PushStatus(
        state="connected",
        channels=(ChannelStatus("0001-cha", 4, True, START + DEBOUNCE + DAY),),
        topics=4,
        last_message=None,
        last_reconnect=None,
        last_reconnect_reason="",
        forbidden=(),
    )
    assert rig.sample("push_connected") == 1
    assert rig.sample("push_channels") == 1
    assert rig.sample("push_topics") == 4
    assert [e for e in logs if e["event"] == "push_connected"] == [
        {
            "event": "push_connected",
            "log_level": "info",
            "channel": "0001-cha",
            "topics": 0,
            "attempt": 0,
        }
    ]


async def test_flow_changes_within_a_second_make_one_subscription(make_rig: MakeRig) -> None:
    """Three set_flows calls within the debounce second: one PUT, with the last flows."""
    rig = make_rig()
    rig.session.start()
    await rig.connected()
    rig.session.set_flows(["f1"])
    await rig.sleepers(3)
    rig.session.set_flows(["f1", "f2"])
    rig.session.set_flows(["f3"])
    rig.clock.advance(DEBOUNCE)
    await wait_until(lambda: rig.session.status().topics == 2)
    await rig.sleepers(2)
    assert [c.topics for c in rig.api.calls_of("subscribe")] == [topics("f3")]


async def test_a_new_flow_changes_only_the_channel_it_lands_on(make_rig: MakeRig) -> None:
    """With 4 topics a channel, flows f1-f4 take two channels; f5 opens a third, subscribed
    alone; f6 joins it with one PUT; the first two channels see no call."""
    rig = make_rig(topic_limit=4)
    await rig.subscribed("f1", "f2", "f3", "f4", channels=2)
    first, second = rig.api.channels
    puts = [(c.channel, c.topics) for c in rig.api.calls_of("subscribe")]
    assert sorted(puts) == [(first.id, topics("f1", "f2")), (second.id, topics("f3", "f4"))]
    rig.session.set_flows(["f1", "f2", "f3", "f4", "f5"])
    await rig.sleepers(5)
    rig.clock.advance(DEBOUNCE)
    await rig.connected(3)
    third = rig.api.channels[2]
    rig.session.set_flows(["f1", "f2", "f3", "f4", "f5", "f6"])
    await rig.sleepers(7)
    rig.clock.advance(DEBOUNCE)
    await wait_until(lambda: rig.session.status().topics == 12)
    new_puts = [(c.channel, c.topics) for c in rig.api.calls_of("subscribe")][2:]
    assert new_puts == [(third.id, topics("f5")), (third.id, topics("f5", "f6"))]
    assert rig.sample("push_channels") == 3


async def test_flows_beyond_max_channels_are_left_out_with_one_warning(
    make_rig: MakeRig,
) -> None:
    """Two 4-topic channels hold 4 flows: the fifth and sixth are left out, warned once."""
    rig = make_rig(topic_limit=4, max_channels=2)
    with capture_logs() as logs:
        await rig.subscribed("f1", "f2", "f3", "f4", "f5", channels=2)
        rig.session.set_flows(["f1", "f2", "f3", "f4", "f5", "f6"])
        await rig.sleepers(5)
        rig.clock.advance(DEBOUNCE)
        await rig.sleepers(4)
    assert rig.session.status().topics == 8
    warnings = [e for e in logs if e["event"] == "push_topics_left_out"]
    assert warnings == [
        {
            "event": "push_topics_left_out",
            "log_level": "warning",
            "flows": 1,
            "max_channels": 2,
            "topics_per_channel": 4,
            "fix": "raise push.max_channels (Genesys allows 20 channels per OAuth client)",
        }
    ]


async def test_forbidden_topics_warn_once_naming_the_permission(make_rig: MakeRig) -> None:
    """Topics the answer leaves out are forbidden: one warning naming the (assumed) permission
    and the flow; the status lists the flow; only granted topics count."""
    rig = make_rig()
    rig.api.forbidden.update(topics("f2"))
    with capture_logs() as logs:
        await rig.subscribed("f1", "f2")
        await wait_until(lambda: rig.session.status().forbidden == ("f2",))
        rig.session.set_flows(["f1", "f2", "f3"])
        await rig.sleepers(3)
        rig.clock.advance(DEBOUNCE)
        await wait_until(lambda: rig.session.status().topics == 4)
    assert [e for e in logs if e["event"] == "push_topics_forbidden"] == [
        {
            "event": "push_topics_forbidden",
            "log_level": "warning",
            "flows": ["f2"],
            "topics": 2,
            "permission": "analytics:flowAggregate:view",
            "note": "the permission is assumed (Genesys documents none for these topics); "
            "those flows are polled as before",
        }
    ]
    assert rig.session.status().forbidden == ("f2",)
    assert rig.sample("push_topics") == 4  # f1 and f3, two topics each


# -- frames


async def test_frames_are_dispatched_and_counted_by_kind(make_rig: MakeRig) -> None:
    """Data goes to on_aggregates; every frame is counted by kind and moves last_message; an
    unusable one is logged at debug without its body."""
    rig = make_rig()
    await rig.subscribed("f1")
    rig.clock.advance(5)
    socket = rig.api.socket
    with capture_logs() as logs:
        socket.push(flow_message("f1", 51, INTERVAL))
        socket.push(HEARTBEAT)
        socket.push(system("something_new"))
        socket.push("secret-looking garbage")
        socket.push(flow_message("f1", 52, INTERVAL))
        await wait_until(lambda: rig.sample("push_messages_total", kind="flow") == 2)
    expected = [
        PushedAggregates(
            "flow",
            "f1",
            (("flowId", "f1"), ("mediaType", "voice")),
            ((INTERVAL, (MetricEntry("nFlow", Stats(count=count)),)),),
        )
        for count in (51, 52)
    ]
    assert rig.received == expected
    counts = {
        kind: rig.sample("push_messages_total", kind=kind)
        for kind in ("flow", "flowoutcome", "heartbeat", "system", "unusable")
    }
    assert counts == {"flow": 2, "flowoutcome": 0, "heartbeat": 1, "system": 1, "unusable": 1}
    assert rig.sample("push_last_message_timestamp_seconds") == START + DEBOUNCE + 5
    assert rig.session.status().last_message == START + DEBOUNCE + 5
    [unusable] = [e for e in logs if e["event"] == "push_frame_unusable"]
    assert unusable == {
        "event": "push_frame_unusable",
        "log_level": "debug",
        "topic": None,
        "why": "frame is not JSON (22 characters)",
    }


async def test_a_failing_consumer_costs_one_message_not_the_socket(make_rig: MakeRig) -> None:
    """on_aggregates raising is logged; the socket stays and the next frames are read."""
    rig = make_rig(raising=True)
    await rig.subscribed("f1")
    with capture_logs() as logs:
        rig.api.socket.push(flow_message("f1", 1, INTERVAL))
        rig.api.socket.push(HEARTBEAT)
        await wait_until(lambda: rig.sample("push_messages_total", kind="heartbeat") == 1)
    assert [e for e in logs if e["event"] == "push_dispatch_failed"] == [
        {"event": "push_dispatch_failed", "log_level": "error", "flow": "f1", "error": "ValueError"}
    ]
    assert rig.session.status().state == "connected"


# -- reconnects, one reason each


async def reconnected(rig: Rig, sockets: int, delay: float) -> None:
    """Wait for the backoff sleep of `delay`, let it pass, wait until connected again."""
    await wait_until(lambda: delay in rig.clock.sleeps, what=f"a backoff of {delay}")
    await rig.sleepers(1)
    assert rig.session.status().state == "reconnecting"
    assert rig.sample("push_connected") == 0
    rig.clock.advance(delay)
    await rig.connected(sockets)


async def test_a_dropped_socket_reconnects_to_the_same_channel(make_rig: MakeRig) -> None:
    """Closed without warning, the channel still there (HEAD): `dropped`, a jittered 0.5 s
    (rng 0.5 of the 1 s first step), then the same channel again with no new PUT."""
    rig = make_rig()
    await rig.subscribed("f1")
    [channel] = rig.api.channels
    with capture_logs() as logs:
        rig.api.socket.drop()
        await reconnected(rig, 2, 0.5)
    assert [(c.what, c.channel) for c in rig.api.calls[3:]] == [
        ("exists", channel.id),
        ("connect", channel.id),
    ]
    assert rig.sample("push_reconnects_total", reason="dropped") == 1
    status = rig.session.status()
    assert (status.last_reconnect, status.last_reconnect_reason) == (START + DEBOUNCE, "dropped")
    assert [e for e in logs if e["event"] == "push_reconnecting"] == [
        {
            "event": "push_reconnecting",
            "log_level": "warning",
            "channel": "0001-cha",
            "reason": "dropped",
            "attempt": 1,
            "delay": 0.5,
        }
    ]


async def test_a_gone_channel_is_expired_and_replaced(make_rig: MakeRig) -> None:
    """A drop whose channel HEAD answers 404: `expired`; a new channel, subscribed, connected."""
    rig = make_rig()
    await rig.subscribed("f1")
    old = rig.api.channels[0]
    rig.api.gone.add(old.id)
    rig.api.socket.drop()
    await reconnected(rig, 2, 0.5)
    new = rig.api.channels[1]
    assert [(c.what, c.channel) for c in rig.api.calls[3:]] == [
        ("exists", old.id),
        ("create", new.id),
        ("subscribe", new.id),
        ("connect", new.id),
    ]
    assert rig.sample("push_reconnects_total", reason="expired") == 1
    assert rig.sample("push_reconnects_total", reason="dropped") == 0
    assert rig.session.status().channels[0].id == "0002-cha"


async def test_silence_sends_a_ping_and_a_pong_keeps_the_socket(make_rig: MakeRig) -> None:
    """60 s without a frame: a ping; a pong within 10 s: the socket stays."""
    rig = make_rig()
    await rig.subscribed("f1")
    socket = rig.api.socket
    rig.clock.advance(60)
    await wait_until(lambda: socket.sent == [PING])
    socket.push(PONG)
    await wait_until(lambda: rig.sample("push_messages_total", kind="heartbeat") == 1)
    rig.clock.advance(PONG_WAIT)
    await rig.sleepers(2)
    assert not socket.closed
    assert rig.sample("push_reconnects_total", reason="silent") == 0


async def test_no_answer_to_a_ping_is_silent(make_rig: MakeRig) -> None:
    """A ping after 60 s of silence and nothing back within 10 s: closed as `silent`, then
    the same channel again."""
    rig = make_rig()
    await rig.subscribed("f1")
    socket = rig.api.socket
    rig.clock.advance(60)
    await wait_until(lambda: socket.sent == [PING])
    await rig.sleepers(2)  # the pong wait and the re-subscription
    rig.clock.advance(PONG_WAIT)
    await reconnected(rig, 2, 0.5)
    assert socket.closed_by_session
    assert rig.sample("push_reconnects_total", reason="silent") == 1
    assert rig.api.sockets[1].channel.id == rig.api.channels[0].id


async def test_socket_closing_connects_a_new_channel_before_closing_the_old(
    make_rig: MakeRig,
) -> None:
    """socket_closing: the old socket is still read while a new channel is created,
    subscribed and connected; only then is the old one closed. No backoff, no gap."""
    rig = make_rig()
    await rig.subscribed("f1")
    old = rig.api.channels[0]
    old_socket = rig.api.socket
    rig.api.hold_create = gate = __import__("asyncio").Event()
    with capture_logs() as logs:
        old_socket.push(system("socket_closing"))
        old_socket.push(flow_message("f1", 7, INTERVAL))
        await wait_until(lambda: len(rig.received) == 1)
        assert rig.session.status().state == "connected"
        gate.set()
        await wait_until(lambda: len(rig.api.sockets) == 2)
        await wait_until(lambda: rig.session.status().channels[0].id == "0002-cha")
        await rig.sleepers(2)
    new = rig.api.channels[1]
    assert [(c.what, c.channel) for c in rig.api.calls[3:]] == [
        ("create", new.id),
        ("subscribe", new.id),
        ("connect", new.id),
        ("close", old.id),
    ]
    assert rig.api.calls[4].topics == topics("f1")
    assert rig.sample("push_reconnects_total", reason="socket_closing") == 1
    assert [e for e in logs if e["event"] == "push_channel_replaced"] == [
        {
            "event": "push_channel_replaced",
            "log_level": "info",
            "old": "0001-cha",
            "new": "0002-cha",
            "reason": "socket_closing",
        }
    ]
    rig.api.socket.push(flow_message("f1", 8, INTERVAL))
    await wait_until(lambda: len(rig.received) == 2)
    assert 0.5 not in rig.clock.sleeps


async def test_no_longer_subscribed_gets_a_new_channel(make_rig: MakeRig) -> None:
    """no_longer_subscribed: the socket is closed, `no_longer_subscribed` counted, and a new
    channel subscribed and connected after the backoff."""
    rig = make_rig()
    await rig.subscribed("f1")
    old = rig.api.channels[0]
    rig.api.socket.push(system("no_longer_subscribed", old))
    await reconnected(rig, 2, 0.5)
    new = rig.api.channels[1]
    assert [(c.what, c.channel) for c in rig.api.calls[3:]] == [
        ("close", old.id),
        ("create", new.id),
        ("subscribe", new.id),
        ("connect", new.id),
    ]
    assert rig.sample("push_reconnects_total", reason="no_longer_subscribed") == 1


async def test_a_revoked_token_logs_in_afresh_then_gets_a_new_channel(make_rig: MakeRig) -> None:
    """token_revoked: a fresh login, then a new channel."""
    rig = make_rig()
    await rig.subscribed("f1")
    old = rig.api.channels[0]
    rig.api.socket.push(system("token_revoked", old))
    await reconnected(rig, 2, 0.5)
    new = rig.api.channels[1]
    assert [c.what for c in rig.api.calls[3:]] == [
        "close",
        "relogin",
        "create",
        "subscribe",
        "connect",
    ]
    assert rig.api.calls[-1].channel == new.id
    assert rig.sample("push_reconnects_total", reason="token_revoked") == 1


async def test_channel_is_resubscribed_every_12_hours_and_expires_on_404(
    make_rig: MakeRig,
) -> None:
    """Every 12 h the same topics are PUT again (extending the channel); a 404 then is
    `expired`, and a new channel follows."""
    rig = make_rig(ping_after=10 * DAY)
    await rig.subscribed("f1")
    old = rig.api.channels[0]
    rig.clock.advance(RESUBSCRIBE)
    await wait_until(lambda: len(rig.api.calls_of("subscribe")) == 2)
    await rig.sleepers(2)
    assert rig.api.calls_of("subscribe")[1].topics == topics("f1")
    assert rig.session.status().channels[0].expires == START + DEBOUNCE + RESUBSCRIBE + DAY
    rig.api.gone.add(old.id)
    rig.clock.advance(RESUBSCRIBE)
    await reconnected(rig, 2, 0.5)
    assert rig.sample("push_reconnects_total", reason="expired") == 1
    assert rig.api.sockets[1].channel.id == rig.api.channels[1].id


async def test_backoff_doubles_with_full_jitter_up_to_60_s_and_resets(make_rig: MakeRig) -> None:
    """Failed connects wait rng * 1, 2, 4 ... capped at 60 s (rng 0.5 here: 0.5 ... 30); a
    socket that stayed up a minute starts the next reconnect at 0.5 s again, one that did not
    goes on doubling."""
    rig = make_rig()
    rig.api.fail["connect"] = deque(
        TransportError("refused", endpoint="notifications", retryable=True) for _ in range(8)
    )
    with capture_logs() as logs:
        rig.session.start()
        for sleeps in range(1, 9):
            await wait_until(lambda n=sleeps: len(rig.clock.sleeps) == n)  # type: ignore[misc]
            rig.clock.advance(rig.clock.sleeps[-1])
        await rig.connected()
        rig.api.socket.drop()  # up for no time at all: the attempts go on counting
        await reconnected(rig, 2, 30.0)
        rig.clock.advance(60)  # a minute up; the ping after 60 s of silence gets its pong
        await wait_until(lambda: rig.api.socket.sent == [PING])
        rig.api.socket.push(PONG)
        await wait_until(lambda: rig.sample("push_messages_total", kind="heartbeat") == 1)
        rig.api.socket.drop()
        await reconnected(rig, 3, 0.5)
    failed = [e["delay"] for e in logs if e["event"] == "push_connect_failed"]
    assert failed == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    again = [(e["attempt"], e["delay"]) for e in logs if e["event"] == "push_reconnecting"]
    assert again == [(9, 30.0), (1, 0.5)]


async def test_stop_closes_the_socket_and_reads_off(make_rig: MakeRig) -> None:
    """stop: socket closed, state off, connected/channels/topics gauges 0."""
    rig = make_rig()
    await rig.subscribed("f1")
    await rig.session.stop()
    assert rig.api.socket.closed_by_session
    status = rig.session.status()
    assert (status.state, status.channels, status.topics) == ("off", (), 0)
    assert (rig.sample("push_connected"), rig.sample("push_channels")) == (0, 0)
    assert rig.sample("push_topics") == 0


async def test_no_log_shows_a_whole_channel_id_or_a_connect_uri(make_rig: MakeRig) -> None:
    """Through every reason, logs and the status show at most 8 characters of a channel id."""
    rig = make_rig()
    with capture_logs() as logs:
        await rig.subscribed("f1")
        rig.api.socket.push(system("no_longer_subscribed", rig.api.channels[0]))
        await reconnected(rig, 2, 0.5)
        rig.api.socket.push(system("token_revoked", rig.api.channels[1]))
        await reconnected(rig, 3, 1.0)  # the second attempt: that socket was up for no time
        rig.api.socket.push(system("socket_closing"))
        await wait_until(lambda: len(rig.api.sockets) == 4)
        await rig.sleepers(2)
    shown = json.dumps(logs, default=str) + repr(rig.session.status())
    assert ID_TAIL[:4] not in shown
    assert "wss://" not in shown


async def next_backoff(rig: Rig, since: int) -> tuple[float, int]:
    """Wait for the runner's first sleep after the `since`-th (its backoff, the only sleeper
    then) and let it pass; its length, and the count to wait from for the next one."""
    await wait_until(lambda: len(rig.clock.sleeps) > since and rig.clock.sleeping == 1)
    delay = rig.clock.sleeps[since]
    rig.clock.advance(delay)
    return delay, len(rig.clock.sleeps)


async def test_a_failed_connect_checks_the_channel_before_trying_again(
    make_rig: MakeRig,
) -> None:
    """After a drop the connect fails: the next attempt HEADs the channel; still there, it is
    used again (no new channel); gone, a new one is made."""
    rig = make_rig()
    await rig.subscribed("f1")
    first = rig.api.channels[0]
    refused = TransportError("refused", endpoint="notifications", retryable=True)
    rig.api.fail["connect"] = deque([refused])
    since = len(rig.clock.sleeps)
    rig.api.socket.drop()
    delay, since = await next_backoff(rig, since)
    assert delay == 0.5
    delay, _ = await next_backoff(rig, since)
    assert delay == 1.0  # the second attempt: rng 0.5 of 2 s
    await rig.connected(2)
    assert [(c.what, c.channel) for c in rig.api.calls[3:]] == [
        ("exists", first.id),  # after the drop: dropped, not expired
        ("connect", first.id),  # refused
        ("exists", first.id),  # checked before the next try
        ("connect", first.id),
    ]
    assert len(rig.api.channels) == 1
    since = len(rig.clock.sleeps)
    rig.api.socket.drop()
    await wait_until(lambda: len(rig.clock.sleeps) > since and rig.clock.sleeping == 1)
    rig.api.gone.add(first.id)  # evicted during the backoff: the connect is refused
    _, since = await next_backoff(rig, since)
    await next_backoff(rig, since)
    await rig.connected(3)
    second = rig.api.channels[1]
    assert [(c.what, c.channel) for c in rig.api.calls[7:]] == [
        ("exists", first.id),
        ("connect", first.id),
        ("exists", first.id),
        ("create", second.id),
        ("subscribe", second.id),
        ("connect", second.id),
    ]


async def test_a_failed_replacement_falls_back_to_a_reconnect(make_rig: MakeRig) -> None:
    """socket_closing but the new channel cannot be made: the old socket is read until the
    server closes it, then `socket_closing` is counted and a new channel follows the backoff."""
    rig = make_rig()
    await rig.subscribed("f1")
    old_socket = rig.api.socket
    rig.api.fail["create"] = deque(
        [ApiError("busy", endpoint="notifications", status=503, retryable=True)]
    )
    with capture_logs() as logs:
        old_socket.push(system("socket_closing"))
        await wait_until(lambda: any(e["event"] == "push_replace_failed" for e in logs))
        old_socket.push(flow_message("f1", 3, INTERVAL))
        await wait_until(lambda: len(rig.received) == 1)
        old_socket.drop()  # the grace is over
        await reconnected(rig, 2, 0.5)
    assert rig.sample("push_reconnects_total", reason="socket_closing") == 1
    assert rig.sample("push_reconnects_total", reason="dropped") == 0
    assert rig.api.socket.channel.id == rig.api.channels[1].id
    assert not old_socket.closed_by_session


async def test_one_channel_down_of_two_reads_not_connected(make_rig: MakeRig) -> None:
    """push_connected is 1 only while every channel's socket is open."""
    rig = make_rig(topic_limit=2)
    await rig.subscribed("f1", "f2", channels=2)
    assert rig.sample("push_connected") == 1
    rig.api.sockets[0].drop()
    await wait_until(lambda: 0.5 in rig.clock.sleeps)
    status = rig.session.status()
    assert status.state == "reconnecting"
    assert [c.connected for c in status.channels] == [False, True]
    assert rig.sample("push_connected") == 0
    assert rig.sample("push_channels") == 2


async def test_a_failed_subscription_is_tried_again_while_connected(make_rig: MakeRig) -> None:
    """A PUT that fails on a connected channel is tried again after a backoff (rng 0.5 of
    1 s), with the same topics, and the socket stays."""
    rig = make_rig()
    rig.session.start()
    await rig.connected()
    rig.api.fail["subscribe"] = deque(
        [ApiError("busy", endpoint="notifications", status=503, retryable=True)]
    )
    rig.session.set_flows(["f1"])
    await rig.sleepers(3)
    since = len(rig.clock.sleeps)
    rig.clock.advance(DEBOUNCE)
    await wait_until(lambda: len(rig.clock.sleeps) > since)
    assert rig.clock.sleeps[since] == 0.5
    rig.clock.advance(0.5)
    await wait_until(lambda: rig.session.status().topics == 2)
    assert [c.topics for c in rig.api.calls_of("subscribe")] == [topics("f1")] * 2
    assert rig.api.socket.closed is False


async def test_reconnects_do_not_put_off_the_resubscription(make_rig: MakeRig) -> None:
    """The 12 h count runs from the last subscription, not from the latest socket: a drop
    after 6 h and a reconnect to the same channel leave the PUT due 6 h later."""
    rig = make_rig(ping_after=10 * DAY)
    await rig.subscribed("f1")
    rig.clock.advance(RESUBSCRIBE / 2)
    rig.api.socket.drop()
    await reconnected(rig, 2, 0.5)
    assert len(rig.api.calls_of("subscribe")) == 1  # the same channel keeps its topics
    rig.clock.advance(RESUBSCRIBE / 2 - 0.5)
    await wait_until(lambda: len(rig.api.calls_of("subscribe")) == 2)
    assert rig.api.calls_of("subscribe")[1].topics == topics("f1")
