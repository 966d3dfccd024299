"""Publishing a flow's next version: versions before and after the moment, a worse version,
the listing's publishedVersion, the control API and the `--faults` item."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

import pytest
import structlog

from poller.simulator import SimulatorSettingsError
from poller.simulator.engine import Engine
from poller.simulator.flowfaults import FlowFault, FlowFaultSpec
from poller.simulator.org import MAX_DURATION_MS, Flow, Org
from poller.simulator.publishing import Publish, PublishSpec
from poller.simulator.settings import parse_simulate_faults
from poller.simulator.validation import validate_aggregate
from tests.simulator.sim_support import NOW, MakeSim, interval, totals

ORG = Org(1, 12)
BUSY = max(ORG.flows, key=lambda f: f.peak)
OTHER = next(f for f in ORG.flows if f is not BUSY)
MOMENT = NOW - timedelta(hours=5)  # 09:00 UTC on a Thursday
MOMENT_MS = int(MOMENT.timestamp() * 1000)
LATE = timedelta(milliseconds=MAX_DURATION_MS + 1)  # every execution started before has ended
WEEK = timedelta(days=7)
METRICS = ["nFlow", "tFlow", "tFlowDisconnect", "nFlowOutcome", "nFlowOutcomeFailed"]

Groups = dict[tuple[tuple[str, str], ...], dict[str, dict[str, int]]]


def truth(
    engine: Engine,
    start: datetime,
    end: datetime,
    group_by: tuple[str, ...] = ("flowVersion",),
    flow: Flow = BUSY,
) -> Groups:
    body: dict[str, Any] = {
        "interval": interval(start, end),
        "metrics": METRICS,
        "groupBy": list(group_by),
        "filter": {"type": "and", "predicates": [{"dimension": "flowId", "value": flow.id}]},
    }
    return totals(engine.truth(validate_aggregate(body)).get("results", []))


def published(worse: bool = False, at: int = MOMENT_MS) -> Engine:
    engine = Engine(ORG)
    engine.set_publish(BUSY.id, Publish(at, worse))
    return engine


def versions(groups: Groups, metric: str) -> set[str]:
    return {dict(g)["flowVersion"] for g, stats in groups.items() if metric in stats}


def count(groups: Groups, metric: str, **dims: str) -> int:
    return sum(
        stats.get(metric, {}).get("count", 0)
        for group, stats in groups.items()
        if all((k, v) in group for k, v in dims.items())
    )


def test_next_version_is_the_next_major() -> None:
    """A flow of version "N.0" publishes "N+1.0"."""
    for flow in ORG.flows:
        assert float(flow.next_version) == float(flow.version) + 1
        assert flow.next_version.endswith(".0")


def test_executions_after_the_moment_run_the_new_version() -> None:
    """Entries before the moment are the old version and after it the new one; ends in the
    20 minutes after it are both, and after those only the new version's."""
    engine = published()
    old, new = BUSY.version, BUSY.next_version
    before = truth(engine, MOMENT - timedelta(hours=2), MOMENT)
    assert versions(before, "nFlow") == versions(before, "tFlow") == {old}
    entries = truth(engine, MOMENT, MOMENT + timedelta(hours=1))
    assert versions(entries, "nFlow") == {new}
    assert versions(truth(engine, MOMENT, MOMENT + timedelta(minutes=5)), "tFlow") == {old, new}
    after = truth(engine, MOMENT + LATE, MOMENT + timedelta(hours=2))
    assert versions(after, "tFlow") == versions(after, "nFlowOutcome") == {new}


def test_a_plain_publish_changes_only_the_version() -> None:
    """Without `worse`, the executions are the same ones: every total is what it was, and
    other flows keep their own version."""
    window = (MOMENT - timedelta(hours=1), MOMENT + timedelta(hours=2))
    plain = truth(Engine(ORG), *window, group_by=("selfServed", "exitReason"))
    assert truth(published(), *window, group_by=("selfServed", "exitReason")) == plain
    other = truth(published(), *window, flow=OTHER)
    assert set(other) == {(("flowVersion", OTHER.version),)}


def test_a_worse_version_fails_and_loses_callers() -> None:
    """The worse version's outcomes fail about a quarter of the time (the old one's 1-3 %), its
    customer hang-ups about double and its self-served share falls."""
    engine = published(worse=True)
    window = (MOMENT - timedelta(hours=3), MOMENT + timedelta(hours=3))
    groups = truth(engine, *window, group_by=("flowVersion", "exitReason", "selfServed"))

    def share(metric: str, part: int, version: str) -> float:
        return part / count(groups, metric, flowVersion=version)

    old, new = BUSY.version, BUSY.next_version
    failed_old = share("nFlowOutcome", count(groups, "nFlowOutcomeFailed", flowVersion=old), old)
    failed_new = share("nFlowOutcome", count(groups, "nFlowOutcomeFailed", flowVersion=new), new)
    assert failed_old < 0.04
    assert 0.15 < failed_new < 0.4
    hangup = {"exitReason": "CUSTOMER_DISCONNECT"}
    hangups_old = share("tFlow", count(groups, "tFlow", flowVersion=old, **hangup), old)
    hangups_new = share("tFlow", count(groups, "tFlow", flowVersion=new, **hangup), new)
    assert 1.5 < hangups_new / hangups_old < 2.6
    served_old = share("tFlow", count(groups, "tFlow", flowVersion=old, selfServed="true"), old)
    served_new = share("tFlow", count(groups, "tFlow", flowVersion=new, selfServed="true"), new)
    assert served_new < served_old


def test_publishing_is_deterministic_for_a_seed() -> None:
    """Two orgs of the same seed with the same worse publish answer the same."""
    window = (MOMENT, MOMENT + timedelta(hours=1))
    group_by = ("flowVersion", "selfServed")
    again = Engine(Org(1, 12))
    again.set_publish(BUSY.id, Publish(MOMENT_MS, worse=True))
    first = truth(published(worse=True), *window, group_by=group_by)
    assert first == truth(again, *window, group_by=group_by)
    assert count(first, "tFlow", flowVersion=BUSY.next_version) > 0


def test_a_later_fault_keeps_the_published_version() -> None:
    """A fault set after a publish changes what the new version does, not which version runs;
    mending it leaves the publish in place."""
    engine = published()
    engine.set_flow_fault(BUSY.id, FlowFault("hangup", MOMENT_MS + 3_600_000))
    later = (MOMENT + timedelta(hours=1) + LATE, MOMENT + timedelta(hours=2))
    groups = truth(engine, *later, group_by=("flowVersion", "exitReason"))
    assert versions(groups, "tFlow") == {BUSY.next_version}
    assert {dict(g)["exitReason"] for g, s in groups.items() if "tFlow" in s} == {
        "CUSTOMER_DISCONNECT"
    }
    engine.set_flow_fault(BUSY.id, None)
    assert truth(engine, *later) == truth(published(), *later)


def test_the_caches_never_mix_versions() -> None:
    """Answers cached before a publish are not reused after it (nor a week earlier's after
    it), and undoing the publish brings the old version back everywhere."""
    engine = Engine(ORG)
    window = (MOMENT + LATE, MOMENT + timedelta(hours=2))
    last_week = (window[0] - WEEK, window[1] - WEEK)
    normal = truth(engine, *window)
    assert truth(engine, *last_week) == normal
    engine.set_publish(BUSY.id, Publish(MOMENT_MS))
    assert versions(truth(engine, *window), "tFlow") == {BUSY.next_version}
    assert truth(engine, *last_week) == normal
    engine.set_publish(BUSY.id, None)
    assert truth(engine, *window) == normal
    assert engine.publishes() == {}


def test_publishing_logs_one_event_each_way() -> None:
    """Publishing logs the flow and its new version; undoing it logs the version it is back to."""
    engine = Engine(ORG, client_id="demo-client")
    with structlog.testing.capture_logs() as events:
        engine.set_publish(BUSY.id, Publish(MOMENT_MS, worse=True))
        engine.set_publish(BUSY.id, None)
    assert [(e["event"], e["flow_id"], e["version"]) for e in events] == [
        ("simulator.flow_published", BUSY.id, BUSY.next_version),
        ("simulator.flow_publish_undone", BUSY.id, BUSY.version),
    ]
    assert events[0]["worse"] is True
    assert events[0]["at"] == "2026-05-14T09:00:00.000Z"


def _listed(reply: Any) -> dict[str, Any]:
    assert reply.status == 200, reply.text
    return {f["id"]: f["publishedVersion"] for f in reply.json["entities"]}


async def test_listing_publishes_the_new_version_from_the_moment(make_sim: MakeSim) -> None:
    """Every flow in the Architect listing has a publishedVersion, its own; a publish set for
    later changes it when the clock reaches the moment; undoing it changes it back."""
    sim = await make_sim(flows=4)
    flow = sim.state.org.flows[1]
    token = await sim.token()
    headers = {"Authorization": f"Bearer {token}"}

    async def listing() -> dict[str, Any]:
        return _listed(await sim.send("/api/v2/flows", method="GET", headers=headers))

    own = {f.id: {"id": f.version, "name": f.version} for f in sim.state.org.flows[:-1]}
    assert await listing() == own
    put = await sim.send(
        f"/simulator/flows/{flow.id}/publish",
        body={"at": NOW.timestamp() + 60, "worse": True},
        method="PUT",
    )
    assert put.status == 200, put.text
    assert put.json == {
        "flow_id": flow.id,
        "flow_name": flow.name,
        "index": 1,
        "version": flow.next_version,
        "previous_version": flow.version,
        "at": NOW.timestamp() + 60,
        "worse": True,
    }
    assert await listing() == own
    sim.clock.advance(60)
    assert await listing() == {**own, flow.id: {"id": flow.next_version, "name": flow.next_version}}
    listed = await sim.send("/simulator/flows/publishes", method="GET")
    assert listed.json == {"publishes": [put.json]}
    undone = await sim.send(f"/simulator/flows/{flow.index}/publish", method="DELETE")
    assert undone.json == {
        "flow_id": flow.id,
        "flow_name": flow.name,
        "index": 1,
        "version": flow.version,
        "publish": None,
    }
    assert await listing() == own


async def test_publish_defaults_to_now_and_not_worse(make_sim: MakeSim) -> None:
    """An empty body publishes now, not worse."""
    sim = await make_sim(flows=3)
    reply = await sim.send("/simulator/flows/0/publish", body={}, method="PUT")
    assert reply.status == 200, reply.text
    flow = sim.state.org.flows[0]
    assert sim.state.engine.publishes() == {flow.id: Publish(int(NOW.timestamp() * 1000))}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1], "publish: expected a JSON object"),
        ({"when": 1}, "publish: unknown keys 'when'; known: at, worse"),
        ({"worse": "yes"}, "publish: worse 'yes': expected true or false"),
        ({"at": "soon"}, "publish: at 'soon': expected epoch seconds"),
    ],
)
async def test_bad_publish_bodies_are_refused(
    make_sim: MakeSim, body: object, message: str
) -> None:
    """A bad body gets 400 naming the problem, and publishes nothing."""
    sim = await make_sim(flows=3)
    reply = await sim.send("/simulator/flows/0/publish", body=body, method="PUT")
    assert reply.status == 400
    assert reply.json["message"].startswith(message)
    assert sim.state.engine.publishes() == {}


async def test_publishing_an_unknown_flow_is_404(make_sim: MakeSim) -> None:
    """A flow that is neither an id nor an index of the org gets 404."""
    sim = await make_sim(flows=3)
    reply = await sim.send("/simulator/flows/7/publish", body={}, method="PUT")
    assert reply.status == 404
    assert "index from 0 to 2" in reply.json["message"]


def test_faults_items_publish_flows() -> None:
    """`publish:FLOW[:worse][@WHEN]` items mix with faults, also on the same flow."""
    _, items = parse_simulate_faults(
        "503=0.1,publish:3:worse@+10m,hangup=3@+20m,publish:1@1700000000"
    )
    assert items == (
        FlowFaultSpec("hangup", "3", delay=1200.0),
        PublishSpec("3", worse=True, delay=600.0),
        PublishSpec("1", at=1.7e9),
    )


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("publish:", "faults: 'publish:': expected publish:FLOW[:worse][@WHEN]"),
        ("publish:3:better", "faults: 'publish:3:better': after the flow only :worse may follow"),
        ("publish:3@tomorrow", "faults: 'publish:3@tomorrow': expected @+DURATION"),
        ("publish:3,publish:3:worse", "faults: flow 3 is published twice; give one"),
    ],
)
def test_bad_publish_items_are_refused(spec: str, problem: str) -> None:
    """A bad publish item names itself and the fix."""
    with pytest.raises(SimulatorSettingsError) as caught:
        parse_simulate_faults(spec)
    assert caught.value.problems[0].startswith(problem)


async def test_faults_items_publish_at_start_up(make_sim: MakeSim) -> None:
    """A publish item given at start-up is installed on the first org, after its delay."""
    _, items = parse_simulate_faults("publish:2:worse@+5m")
    sim = await make_sim(flows=4, flow_faults=items)
    flow = sim.state.org.flows[2]
    assert sim.state.engine.publishes() == {
        flow.id: Publish(int(NOW.timestamp() * 1000) + 300_000, worse=True)
    }


async def test_publishing_an_unknown_flow_at_start_up_is_refused(make_sim: MakeSim) -> None:
    """A publish item naming a flow the org lacks stops the start with the org's range."""
    with pytest.raises(SimulatorSettingsError) as caught:
        await make_sim(flows=3, flow_faults=(PublishSpec("7"),))
    assert caught.value.problems == [
        "faults: publish:7: no flow has that id, and the org's flows are numbered 0 to 2"
    ]


def test_simulate_refuses_a_bad_publish_item() -> None:
    """`simulate --faults publish:1:better` is a usage error (exit 2) naming the item and fix."""
    argv = ["simulate", "--listen-address", "127.0.0.1:0", "--faults", "publish:1:better"]
    done = subprocess.run(
        [sys.executable, "-m", "poller", *argv], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "'publish:1:better': after the flow only :worse may follow" in done.stderr
