"""The push session with the real client against the simulator's Notifications API: it
connects, subscribes, hands on what the simulator publishes, and recovers by itself from each
socket fault, saying why in the self-metrics and the status.

The simulator's clock and publisher move only when a test ticks them; the session runs on real
time with no backoff (rng 0) and waits on what it receives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from structlog.testing import capture_logs

from poller.config.model import Credentials, GenesysSettings, PushSettings, Secret
from poller.genesys import GenesysClient
from poller.push.messages import PushedAggregates
from poller.push.session import PushSession
from poller.selfmetrics import SelfMetrics
from poller.simulator.pushsettings import PushSimSettings
from poller.timing import Clocks
from tests.simulator.push_support import PushSim, open_push_sim
from tests.support.wait import wait_until

P = "genesyscloud_poller_"
WITHIN = 10.0  # real seconds: a reconnect here takes a few milliseconds
QUIET = PushSimSettings(heartbeat=86400.0)  # data messages only


@dataclass
class Live:
    sim: PushSim
    client: GenesysClient
    metrics: SelfMetrics
    session: PushSession
    received: list[PushedAggregates] = field(default_factory=list)

    def sample(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(P + name, labels)
        return 0.0 if value is None else value

    @property
    def flows(self) -> list[str]:
        return [flow.id for flow in self.sim.state.org.flows]

    @property
    def busiest(self) -> str:
        return max(self.sim.state.org.flows, key=lambda f: f.peak).id

    async def simulated(self) -> dict[str, Any]:
        """The simulator's own view: GET /simulator/push."""
        reply = await self.sim.control("GET", "/simulator/push")
        assert reply.status == 200, reply.text
        got: dict[str, Any] = reply.json
        return got

    async def connected_with(self, topics: int) -> None:
        """Wait until the simulator has exactly one connected channel with `topics` topics
        and the session says connected."""

        async def held() -> bool:
            channels = (await self.simulated())["channels"]
            live = [c for c in channels if c["connected"]]
            return (
                len(live) == 1
                and live[0]["topics"] == topics
                and self.session.status().state == "connected"
            )

        await wait_until(held, within=WITHIN, what=f"one connected channel with {topics} topics")

    async def fault(self, kind: str) -> None:
        reply = await self.sim.control("POST", "/simulator/push/faults", {"fault": kind})
        assert reply.status == 200, reply.text
        assert reply.json["sockets"] == 1

    async def reconnected(self, reason: str) -> None:
        """Wait for the reconnect counted under `reason`, then for the socket to be back."""
        await wait_until(
            lambda: self.sample("push_reconnects_total", reason=reason) == 1,
            within=WITHIN,
            what=f"a reconnect for {reason}",
        )
        await self.connected_with(2 * len(self.flows))
        status = self.session.status()
        assert (status.state, status.last_reconnect_reason) == ("connected", reason)
        assert self.sample("push_connected") == 1


MakeLive = Callable[..., Any]


@pytest.fixture
async def make_live() -> AsyncIterator[MakeLive]:
    made: list[Live] = []

    async def make(
        push: PushSimSettings = QUIET,
        *,
        pong_wait: float = 10.0,
        forbid: int | None = None,
        **session: Any,
    ) -> Live:
        """A session on the real client against a new simulator; `forbid`: the index of a
        flow whose topics are forbidden before the session starts."""
        sim = await open_push_sim(push=push)
        if forbid is not None:
            flow = sim.state.org.flows[forbid].id
            reply = await sim.control("PUT", f"/simulator/push/forbidden/{flow}")
            assert reply.status == 200, reply.text
        metrics = SelfMetrics(process=False)
        settings = GenesysSettings("sim.test", api_base_url=sim.base, login_base_url=sim.base)
        client = GenesysClient(
            settings,
            Credentials(sim.settings.client_id, Secret(sim.settings.client_secret)),
            metrics,
            clocks=Clocks(rng=lambda: 0.0),
        )
        received: list[PushedAggregates] = []
        push_session = PushSession(
            client,
            PushSettings(enabled=True, **session),
            metrics,
            received.append,
            clocks=Clocks(rng=lambda: 0.0),
            pong_wait=pong_wait,
        )
        live = Live(sim, client, metrics, push_session, received)
        made.append(live)
        push_session.start()
        push_session.set_flows(live.flows)
        return live

    yield make
    for live in made:
        await live.session.stop()
        await live.client.close()
        await live.sim.close()


async def test_connects_subscribes_and_hands_on_the_simulators_figures(
    make_live: MakeLive,
) -> None:
    """Both topics of every flow on one channel; after a minute of simulated calls the busiest
    flow's message carries the interval's nFlow as an aggregate query of that interval
    gives it."""
    live = await make_live()
    await live.connected_with(2 * len(live.flows))
    assert live.session.status().topics == 8
    await live.sim.tick(60)
    await wait_until(
        lambda: any(m.flow_id == live.busiest and m.kind == "flow" for m in live.received),
        within=WITHIN,
        what="a message for the busiest flow",
    )
    message = next(m for m in live.received if m.flow_id == live.busiest and m.kind == "flow")
    [(interval, metrics)] = message.intervals
    pushed = {entry.metric: entry.stats for entry in metrics}
    assert pushed["nFlow"] is not None
    media = dict(message.group)["mediaType"]
    truth = await live.sim.results(
        {
            "interval": interval,
            "granularity": "PT30M",
            "groupBy": ["flowId", "mediaType"],
            "filter": {
                "type": "and",
                "predicates": [
                    {"dimension": "flowId", "value": live.busiest},
                    {"dimension": "mediaType", "value": media},
                ],
            },
            "metrics": ["nFlow"],
        }
    )
    [result] = truth
    [bucket] = result["data"]
    [n_flow] = bucket["metrics"]
    assert pushed["nFlow"].count == n_flow["stats"]["count"] > 0
    assert live.sample("push_messages_total", kind="flow") >= 1
    # The channel and its subscription, each a place in the org's request budget.
    assert live.sample("api_requests_total", endpoint="notifications", code="200") == 2
    assert live.sample("api_budget_places_taken_total") == 2


@pytest.mark.parametrize(
    ("fault", "reason", "new_channel"),
    [
        ("drop", "dropped", False),
        ("unsubscribed", "no_longer_subscribed", True),
        ("revoked", "token_revoked", True),
    ],
)
async def test_a_socket_fault_is_recovered_by_itself(
    make_live: MakeLive, fault: str, reason: str, new_channel: bool
) -> None:
    """Each fault: the session reconnects on its own (a new channel when the old one lost its
    topics or token), counts the reason, and data flows again."""
    live = await make_live()
    await live.connected_with(8)
    before = live.session.status().channels[0].id
    await live.fault(fault)
    await live.reconnected(reason)
    after = live.session.status().channels[0].id
    assert (after != before) is new_channel
    if fault == "revoked":
        assert live.sample("oauth_token_refreshes_total") == 2
    count = len(live.received)
    await live.sim.tick(60)
    await wait_until(lambda: len(live.received) > count, within=WITHIN, what="data again")


async def test_socket_closing_moves_to_a_new_channel_before_the_old_closes(
    make_live: MakeLive,
) -> None:
    """socket_closing: a new channel is subscribed and connected within the grace, the old
    socket is closed by the session, and data comes on the new one."""
    live = await make_live()
    await live.connected_with(8)
    before = live.session.status().channels[0].id
    with capture_logs() as logs:
        await live.fault("closing")
        await live.reconnected("socket_closing")
    assert live.session.status().channels[0].id != before
    [replaced] = [e for e in logs if e["event"] == "push_channel_replaced"]
    assert replaced["old"] == before
    count = len(live.received)
    await live.sim.tick(30)  # within the 60 s grace: the old socket would still be open
    await wait_until(lambda: len(live.received) > count, within=WITHIN, what="data again")


async def test_a_silent_socket_is_given_up_and_reconnected(make_live: MakeLive) -> None:
    """The simulator goes silent (no pong either): after ping_after and the pong wait the
    session closes the socket as `silent` and connects again."""
    live = await make_live(ping_after=0.2, pong_wait=0.2)
    await live.connected_with(8)
    await live.fault("silent")
    await live.reconnected("silent")


async def test_a_forbidden_flow_is_left_out_with_one_warning(make_live: MakeLive) -> None:
    """A flow whose topics the client may not read: the subscription leaves them out, one
    warning names the flow and the permission, the other flows are subscribed."""
    with capture_logs() as logs:
        live = await make_live(forbid=0)
        forbidden = live.flows[0]
        await live.connected_with(6)
        await wait_until(
            lambda: live.session.status().forbidden == (forbidden,),
            within=WITHIN,
            what="the forbidden flow",
        )
    assert live.sample("push_topics") == 6
    warnings = [e for e in logs if e["event"] == "push_topics_forbidden"]
    assert [(w["flows"], w["permission"]) for w in warnings] == [
        ([forbidden], "analytics:flowAggregate:view")
    ]


async def test_an_expired_channel_is_replaced(make_live: MakeLive) -> None:
    """A day later the simulator's channel has expired and its socket closed: HEAD says 404,
    the reason is `expired`, and a new channel takes over."""
    live = await make_live()
    await live.connected_with(8)
    before = live.session.status().channels[0].id
    await live.sim.tick(86400 + 60)
    await live.reconnected("expired")
    assert live.session.status().channels[0].id != before


async def test_the_expired_fault_is_recovered_with_a_new_channel(make_live: MakeLive) -> None:
    """The simulator's `expired` fault ends the channel as its 24 hours would: `expired`,
    and a new channel takes over."""
    live = await make_live()
    await live.connected_with(8)
    before = live.session.status().channels[0].id
    await live.fault("expired")
    await live.reconnected("expired")
    assert live.session.status().channels[0].id != before
