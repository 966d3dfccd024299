"""What the flow topics publish: the figures an aggregate query answers for the interval at that
moment, only when they changed, at most once a second per topic, and deltas when switched."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from poller.simulator.org import Flow
from poller.simulator.pushsettings import PushSimSettings
from tests.simulator.push_support import (
    MakePushSim,
    PushSim,
    data_of,
    flow_topic,
    frame,
    outcome_topic,
    pong,
)
from tests.simulator.sim_support import NOW, interval

FLOW_METRICS = ["nFlow", "tFlow", "tFlowDisconnect", "tFlowExit"]
OUTCOME_METRICS = ["nFlowOutcome", "nFlowOutcomeFailed", "tFlowOutcome"]
QUIET = PushSimSettings(heartbeat=86400.0)  # data messages only


def query(flow: Flow, start: datetime, minutes: int, outcome: bool = False) -> dict[str, Any]:
    """The aggregate query a topic's figures for one interval must equal."""
    return {
        "interval": interval(start, start + timedelta(minutes=minutes)),
        "granularity": f"PT{minutes}M",
        "groupBy": ["flowId", "flowOutcomeId", "mediaType"] if outcome else ["flowId", "mediaType"],
        "metrics": OUTCOME_METRICS if outcome else FLOW_METRICS,
        "filter": {"type": "and", "predicates": [{"dimension": "flowId", "value": flow.id}]},
    }


def by_group(results: list[dict[str, Any]]) -> dict[tuple[tuple[str, str], ...], Any]:
    """A query answer as group -> interval -> metric -> stats."""
    return {tuple(sorted(r["group"].items())): data_of({"eventBody": r}) for r in results}


def group_of(message: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(message["eventBody"]["group"].items()))


def busiest(sim: PushSim) -> Flow:
    return max(sim.state.org.flows, key=lambda f: f.peak)


async def test_running_totals_equal_the_query_at_the_same_moment(
    make_push_sim: MakePushSim,
) -> None:
    """At 14:10 every group of both topics of a busy flow gets one message whose figures for
    14:00-14:30 are the query endpoint's answer at that moment."""
    sim = await make_push_sim(push=QUIET)
    flow = busiest(sim)
    channel = await sim.channel()
    await sim.subscribe(channel["id"], [flow_topic(flow.id), outcome_topic(flow.id)])
    async with sim.socket(channel["connectUri"]) as ws:
        await sim.tick(10 * 60)
        got = await pong(ws)
        flows = [m for m in got if m["topicName"] == flow_topic(flow.id)]
        outcomes = [m for m in got if m["topicName"] == outcome_topic(flow.id)]
        assert len(flows) + len(outcomes) == len(got)
        assert {m["version"] for m in got} == {"2"}
        assert len({m["metadata"]["CorrelationId"] for m in got}) == len(got)
        flow_answer = by_group(await sim.results(query(flow, NOW, 30)))
        outcome_answer = by_group(await sim.results(query(flow, NOW, 30, outcome=True)))
    assert {group_of(m): data_of(m) for m in flows} == flow_answer
    assert {group_of(m): data_of(m) for m in outcomes} == outcome_answer
    assert len(outcome_answer) >= 2  # one message per outcome group
    [(_, figures)] = flow_answer.items()
    assert figures[interval(NOW, NOW + timedelta(minutes=30))]["nFlow"]["count"] > 0


async def test_just_after_a_boundary_the_previous_interval_is_its_truth(
    make_push_sim: MakePushSim,
) -> None:
    """6 s after 14:30 (lag 5 s) a message holds 14:00-14:30 as the truth has it, every late
    metric in, beside 14:30-15:00 as the query answers it."""
    sim = await make_push_sim(push=QUIET)
    flow = busiest(sim)
    channel = await sim.channel()
    await sim.subscribe(channel["id"], [flow_topic(flow.id)])
    async with sim.socket(channel["connectUri"]) as ws:
        await sim.tick(30 * 60 + 6)
        message = await frame(ws)
        now_answer = by_group(await sim.results(query(flow, NOW + timedelta(minutes=30), 30)))
    truth = await sim.send("/simulator/truth", body=query(flow, NOW, 30))
    [(group, settled)] = by_group(truth.json["results"]).items()
    current = now_answer.get(group, {})
    assert group_of(message) == group
    assert data_of(message) == settled | current
    assert len(data_of(message)) == 2


async def test_the_previous_interval_stops_after_the_boundary(make_push_sim: MakePushSim) -> None:
    """Once the previous interval's late data is all visible it is not published again: a
    message 20 s after the boundary holds the current interval only."""
    sim = await make_push_sim(push=QUIET)
    flow = busiest(sim)
    channel = await sim.channel()
    await sim.subscribe(channel["id"], [flow_topic(flow.id)])
    async with sim.socket(channel["connectUri"]) as ws:
        await sim.tick(30 * 60 + 20)
        message = await frame(ws)
    assert list(data_of(message)) == [
        interval(NOW + timedelta(minutes=30), NOW + timedelta(hours=1))
    ]


async def test_a_message_only_when_the_figures_changed(make_push_sim: MakePushSim) -> None:
    """Second by second, a quiet flow's topic gets a message exactly when the query's answer
    for the interval changed since the last one, holding the new answer."""
    sim = await make_push_sim(push=QUIET)
    flow = sorted(sim.state.org.flows, key=lambda f: f.peak)[2]
    channel = await sim.channel()
    await sim.subscribe(channel["id"], [flow_topic(flow.id)])
    seen = {"changed": 0, "unchanged": 0}
    async with sim.socket(channel["connectUri"]) as ws:
        await sim.tick(5 * 60)
        last = by_group(await sim.results(query(flow, NOW, 30)))
        assert await pong(ws) != []
        for _ in range(90):
            await sim.tick(1)
            answer = by_group(await sim.results(query(flow, NOW, 30)))
            got = await pong(ws)
            if answer == last:
                seen["unchanged"] += 1
                assert got == []
            else:
                seen["changed"] += 1
                assert [{group_of(m): data_of(m)} for m in got] == [answer]
            last = answer
    assert seen["changed"] >= 3, seen
    assert seen["unchanged"] >= 3, seen


async def test_at_most_one_message_a_second_per_topic(make_push_sim: MakePushSim) -> None:
    """Half-second ticks: changed figures go only when the topic's last message is a second
    old or more, else they wait; a message holds the query's answer at that moment."""
    sim = await make_push_sim(lag=0.0, push=QUIET)
    flow = busiest(sim)
    channel = await sim.channel()
    await sim.subscribe(channel["id"], [flow_topic(flow.id)])
    held = 0
    async with sim.socket(channel["connectUri"]) as ws:
        await sim.tick(10 * 60)
        sent, sent_at = by_group(await sim.results(query(flow, NOW, 30))), sim.clock.now
        assert len(await pong(ws)) == 1
        for _ in range(40):
            await sim.tick(0.5)
            answer = by_group(await sim.results(query(flow, NOW, 30)))
            got = [{group_of(m): data_of(m)} for m in await pong(ws)]
            if sim.clock.now - sent_at < 1:
                assert got == []
                held += answer != sent
            elif answer != sent:
                assert got == [answer]
                sent, sent_at = answer, sim.clock.now
            else:
                assert got == []
    assert held >= 5


async def test_deltas_add_up_to_the_running_total(make_push_sim: MakePushSim) -> None:
    """With the delta switch on, the counts and sums of a topic's messages for an interval add
    up to the query's running total; each message holds only the metrics that changed."""
    sim = await make_push_sim(push=QUIET)
    put = await sim.control("PUT", "/simulator/push", {"deltas": True})
    assert put.json["settings"]["deltas"] is True
    flow = busiest(sim)
    channel = await sim.channel()
    await sim.subscribe(channel["id"], [flow_topic(flow.id)])
    summed: dict[str, dict[str, int]] = {}
    messages = 0
    async with sim.socket(channel["connectUri"]) as ws:
        for step in range(31):
            await sim.tick(1 if step else 10 * 60)
            for message in await pong(ws):
                messages += 1
                [(_, metrics)] = data_of(message).items()
                for name, stats in metrics.items():
                    into = summed.setdefault(name, {"count": 0, "sum": 0})
                    into["count"] += stats["count"]
                    into["sum"] += stats.get("sum", 0)
                    assert stats["count"] > 0
        [(_, total)] = by_group(await sim.results(query(flow, NOW, 30))).items()
    [running] = total.values()
    assert messages >= 10
    assert summed == {m: {"count": s["count"], "sum": s.get("sum", 0)} for m, s in running.items()}


async def test_the_interval_setting_sets_the_messages_interval(make_push_sim: MakePushSim) -> None:
    """With a 15-minute interval the 14:10 message holds 14:00-14:15 as a PT15M query has it."""
    sim = await make_push_sim(push=QUIET)
    await sim.control("PUT", "/simulator/push", {"interval": 900})
    flow = busiest(sim)
    channel = await sim.channel()
    await sim.subscribe(channel["id"], [flow_topic(flow.id)])
    async with sim.socket(channel["connectUri"]) as ws:
        await sim.tick(10 * 60)
        message = await frame(ws)
        answer = by_group(await sim.results(query(flow, NOW, 15)))
    assert {group_of(message): data_of(message)} == answer
    assert list(data_of(message)) == [interval(NOW, NOW + timedelta(minutes=15))]


async def test_only_subscribed_flows_are_published(make_push_sim: MakePushSim) -> None:
    """A channel gets the topics it subscribed to and no other; a flow made forbidden after
    subscribing is no longer published."""
    sim = await make_push_sim(push=QUIET)
    a, b = sorted(sim.state.org.flows, key=lambda f: -f.peak)[:2]
    channel = await sim.channel()
    await sim.subscribe(channel["id"], [flow_topic(a.id), flow_topic(b.id)])
    async with sim.socket(channel["connectUri"]) as ws:
        await sim.tick(10 * 60)
        first = await pong(ws)
        assert sorted(m["topicName"] for m in first) == sorted([flow_topic(a.id), flow_topic(b.id)])
        await sim.control("PUT", f"/simulator/push/forbidden/{b.id}")
        await sim.tick(60)
        assert [m["topicName"] for m in await pong(ws)] == [flow_topic(a.id)]


async def test_each_channel_gets_its_own_deltas(make_push_sim: MakePushSim) -> None:
    """Two channels on one topic, the second subscribed a minute later, deltas on: the second's
    first message is the running total (its change since nothing), the first's the change since
    its own last message."""
    sim = await make_push_sim(push=PushSimSettings(heartbeat=86400.0, deltas=True))
    flow = busiest(sim)
    early, late = await sim.channel(), await sim.channel()
    await sim.subscribe(early["id"], [flow_topic(flow.id)])
    async with sim.socket(early["connectUri"]) as first, sim.socket(late["connectUri"]) as second:
        await sim.tick(10 * 60)
        [before] = by_group(await sim.results(query(flow, NOW, 30))).values()
        [early_first] = await pong(first)
        await sim.subscribe(late["id"], [flow_topic(flow.id)])
        await sim.tick(60)
        [after] = by_group(await sim.results(query(flow, NOW, 30))).values()
        [late_first] = await pong(second)
        [early_second] = await pong(first)
    [running_before] = before.values()
    [running] = after.values()
    assert data_of(early_first) == before
    assert data_of(late_first) == after
    [(_, change)] = data_of(early_second).items()
    assert change["nFlow"]["count"] == running["nFlow"]["count"] - running_before["nFlow"]["count"]
    assert change["tFlow"]["sum"] == running["tFlow"]["sum"] - running_before["tFlow"]["sum"]
