"""Several orgs, one per OAuth client: separate data, tokens, rate budgets, faults and truth."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from poller.catalog import AGGREGATE_PATH, TOKEN_PATH
from poller.simulator import (
    FaultSettings,
    Simulator,
    SimulatorSettings,
    SimulatorSettingsError,
    parse_fault_spec,
)
from tests.simulator.sim_support import NOW, MakeSim, Sim, interval
from tests.support.clock import FakeClock
from tests.support.genesys import Reply

A = "demo-client"
B = "demo-client-2"
B_SECRET = "demo-secret-2"
BY_FLOW: dict[str, Any] = {
    "interval": interval(NOW - timedelta(hours=2), NOW),
    "groupBy": ["flowId"],
    "metrics": ["nFlow"],
}


async def token_of(sim: Sim, client_id: str, secret: str) -> str:
    reply = await sim.login(client_id, secret)
    assert reply.status == 200, reply.text
    token: str = reply.json["access_token"]
    return token


async def flow_ids(sim: Sim, token: str) -> set[str]:
    reply = await sim.api(AGGREGATE_PATH, BY_FLOW, token=token)
    assert reply.status == 200, reply.text
    return {r["group"]["flowId"] for r in reply.json["results"]}


async def aggregate_as(sim: Sim, token: str, body: dict[str, Any] = BY_FLOW) -> Reply:
    return await sim.api(AGGREGATE_PATH, body, token=token)


def test_org_k_takes_suffixed_credentials_and_the_next_seed() -> None:
    """orgs=3: org k is the first with `-k` credentials, seed + k - 1 and no faults."""
    settings = SimulatorSettings(seed=7, flows=3, faults=FaultSettings(token_down=True), orgs=3)
    assert settings.org_clients() == [
        ("demo-client", "demo-secret"),
        ("demo-client-2", "demo-secret-2"),
        ("demo-client-3", "demo-secret-3"),
    ]
    orgs = settings.org_settings()
    assert [(s.seed, s.flows, s.orgs) for s in orgs] == [(7, 3, 1), (8, 3, 1), (9, 3, 1)]
    assert [s.faults for s in orgs] == [FaultSettings(token_down=True)] + [FaultSettings()] * 2
    assert SimulatorSettings().org_clients() == [("demo-client", "demo-secret")]
    assert "demo-secret" not in repr(settings)
    assert repr(settings).endswith("orgs=3)")


@pytest.mark.parametrize("orgs", [0, 201])
def test_orgs_out_of_range_is_refused(orgs: int) -> None:
    """orgs outside 1..200 is a SimulatorSettingsError naming the value."""
    with pytest.raises(SimulatorSettingsError, match=f"orgs: expected 1 to 200, got {orgs}"):
        SimulatorSettings(orgs=orgs)


async def test_each_token_reads_only_its_own_orgs_data(make_sim: MakeSim) -> None:
    """Two orgs have different flow ids, and each client's token reads exactly its org's."""
    sim = await make_sim(flows=4, orgs=2)
    ids_a = {f.id for f in sim.state.org_state(A).org.flows}
    ids_b = {f.id for f in sim.state.org_state(B).org.flows}
    assert ids_a.isdisjoint(ids_b)
    assert await flow_ids(sim, await sim.token()) == ids_a
    assert await flow_ids(sim, await token_of(sim, B, B_SECRET)) == ids_b


async def test_control_org_endpoint_picks_the_org_by_client_id(make_sim: MakeSim) -> None:
    """GET /simulator/org is the first org's, or the one `?client_id=` names."""
    sim = await make_sim(flows=4, orgs=2)
    first = (await sim.send("/simulator/org", method="GET")).json
    named_a = (await sim.send(f"/simulator/org?client_id={A}", method="GET")).json
    named_b = (await sim.send(f"/simulator/org?client_id={B}", method="GET")).json
    assert first == named_a
    assert [f["id"] for f in first["flows"]] == [f.id for f in sim.state.org_state(A).org.flows]
    assert [f["id"] for f in named_b["flows"]] == [f.id for f in sim.state.org_state(B).org.flows]


async def test_one_orgs_secret_does_not_log_in_another(make_sim: MakeSim) -> None:
    """A's client id with B's secret (and B's id with A's) is 401 invalid_client."""
    sim = await make_sim(orgs=2)
    for client_id, secret in ((A, B_SECRET), (B, "demo-secret")):
        reply = await sim.login(client_id, secret)
        assert (reply.status, reply.json["error"]) == (401, "invalid_client")


async def test_rate_budget_is_per_org(make_sim: MakeSim) -> None:
    """With A's budget spent, A gets 429 while B's first request is 200 with its own count."""
    sim = await make_sim(requests_per_minute=2, orgs=2)
    token_a = await sim.token()
    token_b = await token_of(sim, B, B_SECRET)
    assert [(await aggregate_as(sim, token_a)).status for _ in range(3)] == [200, 200, 429]
    reply_b = await aggregate_as(sim, token_b)
    assert reply_b.status == 200
    assert (reply_b.headers["inin-ratelimit-count"], reply_b.headers["inin-ratelimit-allowed"]) == (
        "1",
        "2",
    )
    assert (await aggregate_as(sim, token_a)).status == 429


async def test_faults_on_one_org_leave_the_other_answering(make_sim: MakeSim) -> None:
    """PUT /simulator/faults?client_id=B breaks B only: A's answer is unchanged, byte for byte."""
    sim = await make_sim(orgs=2)
    token_a = await sim.token()
    token_b = await token_of(sim, B, B_SECRET)
    before = await aggregate_as(sim, token_a)
    put = await sim.send(f"/simulator/faults?client_id={B}", method="PUT", body={"503": 1})
    assert (put.status, put.json["503"]) == (200, 1)
    after = await aggregate_as(sim, token_a)
    assert (before.status, after.status) == (200, 200)
    assert after.text == before.text
    assert (await aggregate_as(sim, token_b)).status == 503
    assert (await sim.send("/simulator/faults", method="GET")).json == FaultSettings().to_json()
    named = await sim.send(f"/simulator/faults?client_id={B}", method="GET")
    assert named.json == parse_fault_spec("503=1").to_json()
    cleared = await sim.send(f"/simulator/faults?client_id={B}", method="DELETE")
    assert cleared.json == FaultSettings().to_json()
    assert (await aggregate_as(sim, token_b)).status == 200


async def test_429_storm_on_one_org_only(make_sim: MakeSim) -> None:
    """A storm429 on B answers B's requests 429 with its Retry-After; A's stay 200."""
    sim = await make_sim(orgs=2)
    token_a = await sim.token()
    token_b = await token_of(sim, B, B_SECRET)
    sim.state.org_state(B).faults.set(parse_fault_spec("storm429=30s,retry_after=7"))
    storm = await aggregate_as(sim, token_b)
    assert (storm.status, storm.headers["Retry-After"]) == (429, "7")
    assert (await aggregate_as(sim, token_a)).status == 200
    assert (await sim.login(B, B_SECRET)).status == 200
    sim.clock.advance(30)
    assert (await aggregate_as(sim, token_b)).status == 200


@pytest.mark.parametrize(
    ("spec", "status", "error"),
    [
        ("client_disabled", 400, "unauthorized_client"),
        ("token_down", 503, None),
        ("login429=30s", 429, None),
    ],
)
async def test_login_faults_on_one_org_only(
    make_sim: MakeSim, spec: str, status: int, error: str | None
) -> None:
    """A login fault on B refuses B's client only; A's client still gets a token."""
    sim = await make_sim(orgs=2)
    put = await sim.send(
        f"/simulator/faults?client_id={B}",
        method="PUT",
        data=spec,
        headers={"Content-Type": "text/plain"},
    )
    assert put.json == parse_fault_spec(spec).to_json()
    assert sim.state.org_state(A).faults.settings == FaultSettings()
    refused = await sim.login(B, B_SECRET)
    assert refused.status == status
    if error is not None:
        assert refused.json["error"] == error
    assert (await sim.login()).status == 200


async def test_stats_are_kept_per_org(make_sim: MakeSim) -> None:
    """Each org's stats hold its own client's requests; `?client_id=` picks them over HTTP."""
    sim = await make_sim(orgs=2)
    await aggregate_as(sim, await sim.token())
    token_b = await token_of(sim, B, B_SECRET)
    await aggregate_as(sim, token_b)
    await aggregate_as(sim, token_b)
    assert sim.state.org_state(A).stats.count(AGGREGATE_PATH, 200) == 1
    assert sim.state.org_state(B).stats.count(AGGREGATE_PATH, 200) == 2
    stats_b = (await sim.send(f"/simulator/stats?client_id={B}", method="GET")).json
    assert stats_b["requests"] == {AGGREGATE_PATH: {"200": 2}, TOKEN_PATH: {"200": 1}}
    assert list(stats_b["clients"]) == [B]
    stats_a = (await sim.send("/simulator/stats", method="GET")).json
    assert list(stats_a["clients"]) == [A]


async def test_listings_and_renames_are_per_org(make_sim: MakeSim) -> None:
    """B's token lists B's flows, and a rename on B shows in B's listing only."""
    sim = await make_sim(flows=3, orgs=2)
    token_b = await token_of(sim, B, B_SECRET)
    flow_b = sim.state.org_state(B).org.flows[0]
    renamed = await sim.send(
        f"/simulator/names?client_id={B}", method="PUT", body={flow_b.id: "Org B IVR"}
    )
    assert (renamed.status, renamed.json) == (200, {flow_b.id: "Org B IVR"})
    auth_b = {"Authorization": f"Bearer {token_b}"}
    listed = await sim.send("/api/v2/flows?deleted=true", method="GET", headers=auth_b)
    names = {e["id"]: e["name"] for e in listed.json["entities"]}
    assert set(names) == {f.id for f in sim.state.org_state(B).org.flows}
    assert names[flow_b.id] == "Org B IVR"
    assert sim.state.org_state(A).renames == {}
    # A's ids are unknown to B's names endpoint, and the other way round.
    flow_a = sim.state.org_state(A).org.flows[0]
    wrong = await sim.send(f"/simulator/names?client_id={B}", method="PUT", body={flow_a.id: "x"})
    assert wrong.status == 400


async def test_truth_is_per_org(make_sim: MakeSim) -> None:
    """POST /simulator/truth?client_id=B is B's totals, what B's token reads once visible."""
    sim = await make_sim(flows=4, orgs=2, lag=0.0)
    truth_a = await sim.send("/simulator/truth", body=BY_FLOW)
    truth_b = await sim.send(f"/simulator/truth?client_id={B}", body=BY_FLOW)
    assert (truth_a.status, truth_b.status) == (200, 200)
    assert truth_a.json == (await aggregate_as(sim, await sim.token())).json
    assert truth_b.json == (await aggregate_as(sim, await token_of(sim, B, B_SECRET))).json
    assert truth_a.json != truth_b.json


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/simulator/faults"),
        ("PUT", "/simulator/faults"),
        ("DELETE", "/simulator/faults"),
        ("GET", "/simulator/stats"),
        ("GET", "/simulator/org"),
        ("PUT", "/simulator/names"),
        ("POST", "/simulator/truth"),
    ],
)
async def test_unknown_client_id_is_404_naming_it(
    make_sim: MakeSim, method: str, path: str
) -> None:
    """Every control endpoint answers 404 for an unknown client_id, naming it and the known."""
    sim = await make_sim(orgs=2)
    reply = await sim.send(f"{path}?client_id=nobody", method=method, body={})
    assert reply.status == 404
    assert reply.json == {
        "message": f"no simulated org has client id 'nobody'; known: {A}, {B}",
        "code": "not.found",
        "status": 404,
    }
    assert sim.state.org_state(A).faults.settings == FaultSettings()


async def test_simulator_object_methods_take_a_client_id() -> None:
    """Simulator's truth, set_faults, clear_faults, rename and org_state act on the named org."""
    settings = SimulatorSettings(flows=2, orgs=2, lag=0.0)
    async with Simulator(settings, clock=FakeClock(NOW)) as sim:
        assert sim.client_ids == [A, B]
        assert sim.org_state() is sim.org_state(A)
        assert sim.org is sim.org_state(A).org
        sim.set_faults("token_down", client_id=B)
        assert sim.org_state(B).faults.settings == FaultSettings(token_down=True)
        assert sim.faults == FaultSettings()
        sim.rename(sim.org_state(B).org.flows[0].id, "Renamed", client_id=B)
        assert sim.org_state(A).renames == {}
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{sim.base_url}/simulator/truth?client_id={B}", json=BY_FLOW) as resp,
        ):
            assert resp.status == 200
            assert await resp.json() == sim.truth(BY_FLOW, client_id=B)
        assert sim.truth(BY_FLOW) != sim.truth(BY_FLOW, client_id=B)
        sim.clear_faults(client_id=B)
        assert sim.org_state(B).faults.settings == FaultSettings()
        with pytest.raises(KeyError, match="no simulated org has client id 'nobody'"):
            sim.set_faults("token_down", client_id="nobody")
