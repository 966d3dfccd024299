"""The Architect listings: paging as Genesys pages, divisions, the deleted flow, renames, 403."""

from __future__ import annotations

from typing import Any

from poller.simulator import parse_fault_spec
from tests.simulator.sim_support import MakeSim, Sim


async def get(sim: Sim, path: str) -> tuple[int, Any]:
    token = await sim.token()
    reply = await sim.send(path, method="GET", headers={"Authorization": f"Bearer {token}"})
    return reply.status, reply.json


async def test_flows_page_with_relative_next_uri_until_page_count(make_sim: MakeSim) -> None:
    """pageSize 8 over 20 flows (19 without the deleted one): 3 pages, total and pageCount on
    each, a relative nextUri on all but the last, ids in order and never repeated."""
    sim = await make_sim(flows=20)
    status, first = await get(sim, "/api/v2/flows?pageSize=8")
    assert status == 200
    assert (first["pageSize"], first["pageNumber"], first["total"], first["pageCount"]) == (
        8,
        1,
        19,
        3,
    )
    assert first["nextUri"] == "/api/v2/flows?pageSize=8&pageNumber=2"
    ids: list[str] = []
    body = first
    while True:
        ids += [e["id"] for e in body["entities"]]
        if "nextUri" not in body:
            break
        status, body = await get(sim, body["nextUri"])
        assert status == 200
    assert body["pageNumber"] == 3
    assert len(body["entities"]) == 3
    assert ids == sorted(ids)
    org = sim.state.org
    assert set(ids) == {f.id for f in org.flows[:-1]}


async def test_deleted_flow_only_with_deleted_true(make_sim: MakeSim) -> None:
    """The org's last flow is listed only with deleted=true, marked deleted; flows carry their
    type and division as analytics reports them."""
    sim = await make_sim(flows=5)
    org = sim.state.org
    _, listed = await get(sim, "/api/v2/flows?deleted=true&pageSize=25")
    by_id = {e["id"]: e for e in listed["entities"]}
    assert set(by_id) == {f.id for f in org.flows}
    last = org.flows[-1]
    assert by_id[last.id]["deleted"] is True
    assert [f.id for f in org.flows if by_id[f.id]["deleted"]] == [last.id]
    divisions = {d.id: d.name for d in org.divisions}
    for f in org.flows:
        assert (by_id[f.id]["type"], by_id[f.id]["division"]["id"]) == (f.type, f.division_id)
        assert by_id[f.id]["division"]["name"] == divisions[f.division_id]


async def test_outcomes_and_milestones_and_a_rename(make_sim: MakeSim) -> None:
    """Outcomes and milestones list the org's entities by name; PUT /simulator/names renames
    one in the listings."""
    sim = await make_sim()
    org = sim.state.org
    _, outcomes = await get(sim, "/api/v2/flows/outcomes?pageSize=100")
    assert {(e["id"], e["name"]) for e in outcomes["entities"]} == {
        (o.id, o.name) for o in org.outcomes
    }
    milestone = org.milestones[3]
    reply = await sim.send("/simulator/names", body={milestone.id: "Renamed"}, method="PUT")
    assert reply.status == 200
    _, milestones = await get(sim, "/api/v2/flows/milestones?pageSize=100")
    names = {e["id"]: e["name"] for e in milestones["entities"]}
    assert names[milestone.id] == "Renamed"
    assert len(names) == len(org.milestones)
    bad = await sim.send("/simulator/names", body={"no-such-id": "x"}, method="PUT")
    assert bad.status == 400


async def test_forbidden_listing_answers_403_naming_its_permission(make_sim: MakeSim) -> None:
    """forbidden=milestones: 403 missing.permissions naming architect:flowMilestone:view on
    that listing only."""
    sim = await make_sim(faults=parse_fault_spec("forbidden=milestones"))
    status, body = await get(sim, "/api/v2/flows/milestones")
    assert status == 403
    assert body["code"] == "missing.permissions"
    assert "architect:flowMilestone:view" in body["message"]
    assert (await get(sim, "/api/v2/flows/outcomes"))[0] == 200


async def test_bad_paging_parameters_are_400(make_sim: MakeSim) -> None:
    """pageNumber 0 or a pageSize over 500 is refused with a 400 naming the parameter."""
    sim = await make_sim()
    status, body = await get(sim, "/api/v2/flows?pageNumber=0")
    assert status == 400
    assert "pageNumber" in body["message"]
    status, body = await get(sim, "/api/v2/flows?pageSize=501")
    assert status == 400
    assert "pageSize" in body["message"]
