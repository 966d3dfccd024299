"""The per-flow fault control API (`/simulator/flows/...`) and the `--faults` items for it."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest

from poller.simulator import SimulatorSettings, SimulatorSettingsError
from poller.simulator.flowfaults import FlowFault, FlowFaultSpec
from poller.simulator.settings import parse_simulate_faults
from tests.simulator.sim_support import NOW, MakeSim, interval, totals

NOW_S = NOW.timestamp()


def _entries_body(flow_id: str, start_minutes: float, end_minutes: float) -> dict[str, Any]:
    return {
        "interval": interval(
            NOW + timedelta(minutes=start_minutes), NOW + timedelta(minutes=end_minutes)
        ),
        "metrics": ["nFlow"],
        "filter": {"type": "and", "predicates": [{"dimension": "flowId", "value": flow_id}]},
    }


async def test_put_get_delete_round_trip(make_sim: MakeSim) -> None:
    """PUT sets a flow's fault (by id or index, `at` defaulting to now), GET lists it, DELETE
    clears it; the truth follows each step."""
    sim = await make_sim(flows=6, lag=0.0)
    flow = max(sim.state.org.flows, key=lambda f: f.peak)
    put = await sim.send(
        f"/simulator/flows/{flow.index}/fault", body={"fault": "stop"}, method="PUT"
    )
    assert put.status == 200, put.text
    assert put.json == {
        "flow_id": flow.id,
        "flow_name": flow.name,
        "index": flow.index,
        "fault": "stop",
        "at": NOW_S,
    }
    assert sim.state.engine.flow_faults() == {flow.id: FlowFault("stop", int(NOW_S * 1000))}
    listed = await sim.send("/simulator/flows/faults", method="GET")
    assert listed.json == {"faults": [put.json]}
    after = _entries_body(flow.id, 0, 30)
    assert (await sim.send("/simulator/truth", body=after)).json == {}
    deleted = await sim.send(f"/simulator/flows/{flow.id}/fault", method="DELETE")
    assert deleted.status == 200
    assert deleted.json["fault"] is None
    assert (await sim.send("/simulator/flows/faults", method="GET")).json == {"faults": []}
    assert totals((await sim.send("/simulator/truth", body=after)).json["results"])


async def test_slow_takes_a_factor_and_a_moment(make_sim: MakeSim) -> None:
    """`at` (epoch seconds) and `factor` are kept as given; other kinds ignore the factor."""
    sim = await make_sim(flows=3)
    flow = sim.state.org.flows[1]
    put = await sim.send(
        f"/simulator/flows/{flow.id}/fault",
        body={"fault": "slow", "at": NOW_S + 90, "factor": 4},
        method="PUT",
    )
    assert (put.json["fault"], put.json["at"], put.json["factor"]) == ("slow", NOW_S + 90, 4.0)
    await sim.send(
        f"/simulator/flows/{flow.id}/fault", body={"fault": "fail", "factor": 4}, method="PUT"
    )
    assert sim.state.engine.flow_faults()[flow.id] == FlowFault("fail", int(NOW_S * 1000))


async def test_flow_faults_are_per_org(make_sim: MakeSim) -> None:
    """?client_id= picks the org; a fault on one org's flow leaves the other org alone."""
    sim = await make_sim(flows=3, orgs=2)
    second = sim.state.org_state("demo-client-2")
    flow = second.org.flows[0]
    put = await sim.send(
        f"/simulator/flows/{flow.id}/fault?client_id=demo-client-2",
        body={"fault": "fail"},
        method="PUT",
    )
    assert put.status == 200, put.text
    assert list(second.engine.flow_faults()) == [flow.id]
    assert sim.state.first.engine.flow_faults() == {}
    first = await sim.send("/simulator/flows/faults", method="GET")
    theirs = await sim.send("/simulator/flows/faults?client_id=demo-client-2", method="GET")
    assert first.json == {"faults": []}
    assert [f["flow_id"] for f in theirs.json["faults"]] == [flow.id]
    # The first org has no flow with the second org's id.
    wrong = await sim.send(
        f"/simulator/flows/{flow.id}/fault", body={"fault": "fail"}, method="PUT"
    )
    assert wrong.status == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"fault": "explode"}, "'explode' is not one of stop, fail, hangup, slow, milestone-drop"),
        ({}, "None is not one of"),
        ({"fault": "slow", "factor": 0}, "factor 0: expected a number from 1 to 100"),
        ({"fault": "slow", "factor": "3"}, "factor '3'"),
        ({"fault": "stop", "at": "soon"}, "at 'soon': expected epoch seconds"),
        ({"fault": "stop", "at": True}, "at True"),
        ({"fault": "stop", "when": 5}, "unknown keys 'when'"),
        (["stop"], "expected a JSON object"),
    ],
)
async def test_bad_bodies_get_400_with_a_clear_message(
    make_sim: MakeSim, body: object, message: str
) -> None:
    """A body the API cannot use is refused with 400 saying why; nothing is installed."""
    sim = await make_sim(flows=2)
    reply = await sim.send("/simulator/flows/0/fault", body=body, method="PUT")
    assert reply.status == 400
    assert reply.json["code"] == "bad.request"
    assert message in reply.json["message"]
    assert sim.state.engine.flow_faults() == {}


async def test_not_json_unknown_flow_and_unknown_org(make_sim: MakeSim) -> None:
    """A body that is not JSON gets 400; an unknown flow or index and an unknown org get 404."""
    sim = await make_sim(flows=2)
    garbage = await sim.send("/simulator/flows/0/fault", data=b"{stop", method="PUT")
    assert (garbage.status, garbage.json["message"]) == (400, "flow fault: the body is not JSON")
    for flow in ("2", "no-such-flow"):
        missing = await sim.send(f"/simulator/flows/{flow}/fault", method="DELETE")
        assert missing.status == 404
        assert "0 to 1" in missing.json["message"]
    org = await sim.send("/simulator/flows/faults?client_id=nobody", method="GET")
    assert org.status == 404


async def test_org_lists_entries_per_hour(make_sim: MakeSim) -> None:
    """GET /simulator/org gives each flow's index and mean entries per hour over a week."""
    sim = await make_sim(flows=5)
    flows = (await sim.send("/simulator/org", method="GET")).json["flows"]
    assert [f["index"] for f in flows] == [0, 1, 2, 3, 4]
    rates = [f["entries_per_hour"] for f in flows]
    assert all(r > 0 for r in rates)
    busiest = max(sim.state.org.flows, key=lambda f: f.peak)
    assert rates.index(max(rates)) == busiest.index


def test_simulate_faults_mix_request_and_flow_faults() -> None:
    """`--faults` takes flow items KIND=FLOW[xFACTOR][@WHEN] beside the request faults."""
    faults, flows = parse_simulate_faults(
        "503=0.1,stop=3@+5m,slow=7x4@+90s,fail=0,hangup=1@1778752800,milestone-drop=2"
    )
    assert faults.to_spec() == "503=0.1"
    assert flows == (
        FlowFaultSpec("stop", "3", delay=300.0),
        FlowFaultSpec("slow", "7", factor=4.0, delay=90.0),
        FlowFaultSpec("fail", "0"),
        FlowFaultSpec("hangup", "1", at=1778752800.0),
        FlowFaultSpec("milestone-drop", "2"),
    )


def test_simulate_faults_list_every_problem() -> None:
    """Every bad item is reported at once, request faults and flow faults alike."""
    with pytest.raises(SimulatorSettingsError) as caught:
        parse_simulate_faults("503=2,stop,fail=1x3,slow=2x0.5,hangup=1@soon,stop=4,fail=4")
    assert caught.value.problems == [
        "faults: 503='2': expected a rate between 0 and 1 (0.2) or a percentage (20%)",
        "faults: 'stop' needs a flow, e.g. stop=3@+5m",
        "faults: fail='1x3': only slow takes a factor",
        "faults: slow='2x0.5': factor 0.5: expected a number from 1 to 100",
        "faults: hangup='1@soon': expected @+DURATION after start-up (e.g. @+5m) or @EPOCH_SECONDS",
        "faults: flow 4 has two faults; give one per flow",
    ]


async def test_start_up_flow_faults_are_installed(make_sim: MakeSim) -> None:
    """Flow faults in the settings start at start-up plus their delay, or at their moment; an
    unknown flow is a settings error."""
    specs = (FlowFaultSpec("stop", "1", delay=60.0), FlowFaultSpec("fail", "0", at=NOW_S - 5))
    sim = await make_sim(flows=3, flow_faults=specs)
    org = sim.state.org
    assert sim.state.engine.flow_faults() == {
        org.flows[1].id: FlowFault("stop", int((NOW_S + 60) * 1000)),
        org.flows[0].id: FlowFault("fail", int((NOW_S - 5) * 1000)),
    }
    with pytest.raises(SimulatorSettingsError, match="numbered 0 to 2"):
        await make_sim(
            settings=SimulatorSettings(flows=3, flow_faults=(FlowFaultSpec("stop", "3"),))
        )


def test_simulate_refuses_a_flow_the_org_lacks() -> None:
    """`simulate --faults stop=N` with N past the org's flows exits 2 naming the range."""
    argv = ["simulate", "--listen-address", "127.0.0.1:0", "--flows", "4", "--faults", "stop=4"]
    done = subprocess.run(
        [sys.executable, "-m", "poller", *argv], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "stop=4: no flow has that id, and the org's flows are numbered 0 to 3" in done.stderr
