"""The KPI dimensions in the simulator's truth: self-service, transfers, disconnects and
recognition failures, on the metrics the placement rule puts them on, with the shares each
flow's seeded distributions give over a day."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import pytest

from poller.simulator.engine import Engine
from poller.simulator.flowfaults import FlowFault
from poller.simulator.org import (
    END_KINDS,
    RECOGNITION_REASONS,
    RECOGNIZING_TYPES,
    TRANSFER_TARGETS,
    Flow,
    Org,
)
from poller.simulator.validation import validate_aggregate
from tests.simulator.sim_support import NOW, MakeSim, interval, totals

ORG = Org(1, 12)
ENGINE = Engine(ORG)
# A whole Wednesday (UTC): every flow has hundreds of executions or more.
DAY = (datetime(2026, 5, 13, tzinfo=NOW.tzinfo), datetime(2026, 5, 14, tzinfo=NOW.tzinfo))
DAY_SPAN = timedelta(days=1)
BUSY = sorted(ORG.flows, key=lambda f: f.peak)[-6:]  # thousands of executions a day each
END_METRICS = ["tFlow", "tFlowDisconnect", "tFlowExit"]
KPI_GROUPS = (
    ("flowId", "selfServed"),
    ("flowId", "transferType", "transferTargetName"),
    ("flowId", "disconnectType"),
    ("flowId", "recognitionFailureReason"),
    ("flowId", "flowVersion", "selfServed"),
)
# The templates a flow's executions repeat are 256 draws: a share over a day lies within a few
# of its standard errors (at most 0.5 / sqrt(256) = 0.031) of the seeded one.
TOLERANCE = 0.09

Groups = dict[tuple[tuple[str, str], ...], dict[str, dict[str, int]]]


def truth(
    metrics: list[str],
    group_by: tuple[str, ...],
    engine: Engine = ENGINE,
    window: tuple[datetime, datetime] = DAY,
    flow: Flow | None = None,
) -> Groups:
    body: dict[str, Any] = {
        "interval": interval(*window),
        "metrics": metrics,
        "groupBy": list(group_by),
    }
    if flow is not None:
        body["filter"] = {
            "type": "and",
            "predicates": [{"dimension": "flowId", "value": flow.id}],
        }
    return totals(engine.truth(validate_aggregate(body)).get("results", []))


def count(groups: Groups, metric: str, **dims: str) -> int:
    """The count of `metric` over the groups that have every one of `dims`."""
    return sum(
        stats.get(metric, {}).get("count", 0)
        for group, stats in groups.items()
        if all((k, v) in group for k, v in dims.items())
    )


def share_of(thresholds: tuple[float, ...], index: int) -> float:
    return thresholds[index] - (thresholds[index - 1] if index else 0.0)


def test_self_served_follows_the_definition() -> None:
    """FLOW_DISCONNECT ends are all self-served; transfers, exits and errors never are; a
    customer hang-up is self-served only after a success, so both values occur."""
    groups = truth(["tFlow"], ("exitReason", "selfServed"))
    served: dict[str, set[str]] = {dict(g)["exitReason"]: set() for g in groups}
    for group in groups:
        dims = dict(group)
        served[dims["exitReason"]].add(dims["selfServed"])
    assert served == {
        "FLOW_DISCONNECT": {"true"},
        "FLOW_ERROR_DISCONNECT": {"false"},
        "TRANSFER": {"false"},
        "EXIT": {"false"},
        "CUSTOMER_DISCONNECT": {"true", "false"},
    }


@pytest.mark.parametrize("flow", BUSY, ids=lambda f: f.name)
def test_self_served_share_is_the_seeded_one(flow: Flow) -> None:
    """A flow's self-served share of completed executions is its FLOW_DISCONNECT share plus its
    CUSTOMER_DISCONNECT share times the chance that at least one outcome succeeds."""
    groups = truth(["tFlow"], ("selfServed",), flow=flow)
    done = count(groups, "tFlow")
    no_success = math.prod(1 - o.reach * (1 - o.failure) for o in flow.outcomes)
    expected = share_of(flow.end_weights, 1) + share_of(flow.end_weights, 0) * (1 - no_success)
    assert done > 2000
    assert abs(count(groups, "tFlow", selfServed="true") / done - expected) < TOLERANCE
    assert (
        count(groups, "tFlow", selfServed="true") + count(groups, "tFlow", selfServed="false")
        == done
    )


@pytest.mark.parametrize("flow", BUSY, ids=lambda f: f.name)
def test_transfers_go_to_the_flow_targets_in_its_shares(flow: Flow) -> None:
    """Only TRANSFER ends carry transferType and transferTargetName, naming one of the flow's
    2-4 targets in the flow's seeded shares; EXIT ends land in the group without them."""
    groups = truth(["tFlowExit"], ("exitReason", "transferType", "transferTargetName"), flow=flow)
    transfers = count(groups, "tFlowExit", exitReason="TRANSFER")
    assert transfers > 500
    for group, stats in groups.items():
        dims = dict(group)
        if dims["exitReason"] == "EXIT":
            assert "transferType" not in dims
            assert "transferTargetName" not in dims
            continue
        nth = [
            n
            for n, t in enumerate(flow.targets)
            if (TRANSFER_TARGETS[t].type, TRANSFER_TARGETS[t].name)
            == (dims["transferType"], dims["transferTargetName"])
        ]
        assert len(nth) == 1, dims
        got = stats["tFlowExit"]["count"] / transfers
        assert abs(got - share_of(flow.target_weights, nth[0])) < TOLERANCE, dims
    names = {dict(g).get("transferTargetName") for g in groups} - {None}
    assert 2 <= len(names) <= 4


def test_disconnect_types_split_the_disconnects() -> None:
    """tFlowDisconnect by disconnectType: peer, system and error, as the exit reasons say
    (CUSTOMER_DISCONNECT peer, FLOW_DISCONNECT system, FLOW_ERROR_DISCONNECT error), summing to
    the plain count."""
    by_type = truth(["tFlowDisconnect"], ("exitReason", "disconnectType"))
    pairs = {(dict(g)["exitReason"], dict(g)["disconnectType"]) for g in by_type}
    assert pairs == {
        ("CUSTOMER_DISCONNECT", "peer"),
        ("FLOW_DISCONNECT", "system"),
        ("FLOW_ERROR_DISCONNECT", "error"),
    }
    plain = truth(["tFlowDisconnect"], ())
    assert count(by_type, "tFlowDisconnect") == count(plain, "tFlowDisconnect")


@pytest.mark.parametrize("flow", ORG.flows, ids=lambda f: f.name)
def test_recognition_fails_only_in_recognizing_flows(flow: Flow) -> None:
    """Voice IVR and bot flows fail recognition in their seeded share of executions, with a
    reason from the known ones; chat, message and in-queue flows never do."""
    groups = truth(["tFlow"], ("recognitionFailureReason",), flow=flow)
    done = count(groups, "tFlow")
    failed = done - groups.get((), {}).get("tFlow", {}).get("count", 0)
    reasons = {dict(g)["recognitionFailureReason"] for g in groups if g}
    if flow.type not in RECOGNIZING_TYPES:
        assert failed == 0
        assert flow.recognition == 0.0
        return
    assert reasons <= set(RECOGNITION_REASONS)
    if done > 2000:
        assert abs(failed / done - flow.recognition) < TOLERANCE / 2


def test_execution_and_outcome_metrics_carry_no_end_dimensions() -> None:
    """nFlow and the outcome metrics grouped by the end-only dimensions come back in one group
    per flow without them, with the plain counts."""
    end_only = ("selfServed", "exitReason", "transferType", "recognitionFailureReason")
    metrics = ["nFlow", "nFlowOutcome", "nFlowOutcomeFailed", "tFlowOutcome"]
    grouped = truth(metrics, ("flowId", *end_only))
    plain = truth(metrics, ("flowId",))
    assert grouped == plain


def test_milestone_totals_carry_the_end_dimensions() -> None:
    """oFlowMilestone lands at the end with selfServed and exitReason (true only for the
    in-flow ends), and its groups add up to the plain count; nFlowMilestone carries neither."""
    grouped = truth(["oFlowMilestone", "nFlowMilestone"], ("selfServed", "exitReason"))
    plain = truth(["oFlowMilestone", "nFlowMilestone"], ())
    with_end = [dict(g) for g, s in grouped.items() if "oFlowMilestone" in s]
    assert with_end
    assert all("selfServed" in g and "exitReason" in g for g in with_end)
    assert grouped[()] == {"nFlowMilestone": plain[()]["nFlowMilestone"]}
    assert count(grouped, "oFlowMilestone") == count(plain, "oFlowMilestone")
    assert count(grouped, "oFlowMilestone", selfServed="true", exitReason="TRANSFER") == 0


@pytest.mark.parametrize("group_by", KPI_GROUPS, ids="-".join)
def test_kpi_groups_sum_to_the_plain_totals(group_by: tuple[str, ...]) -> None:
    """Each KPI query's groups add up, per flow, to the flow's plain counts and sums."""
    metrics = ["tFlow", "tFlowDisconnect", "tFlowExit", "nFlowOutcome", "nFlowOutcomeFailed"]
    grouped = truth(metrics, group_by)
    plain = truth(metrics, ("flowId",))
    summed: Groups = {}
    for group, stats in grouped.items():
        flow = ((k, v) for k, v in group if k == "flowId")
        into = summed.setdefault(tuple(flow), {})
        for metric, stat in stats.items():
            merged = into.setdefault(metric, {"count": 0, "sum": 0})
            merged["count"] += stat["count"]
            merged["sum"] += stat.get("sum", 0)
    for group, stats in plain.items():
        for metric, stat in stats.items():
            assert summed[group][metric]["count"] == stat["count"], (group, metric)
            assert summed[group][metric]["sum"] == stat.get("sum", 0), (group, metric)


def test_failed_outcomes_end_self_service() -> None:
    """Under `fail` no outcome succeeds after the moment, so once every execution that started
    before has ended no customer hang-up is self-served; flow disconnects still are."""
    flow = BUSY[-1]
    moment = NOW - timedelta(hours=4)
    engine = Engine(ORG)
    engine.set_flow_fault(flow.id, FlowFault("fail", int(moment.timestamp() * 1000)))
    later = (moment + timedelta(minutes=21), moment + timedelta(hours=2))
    groups = truth(["tFlow"], ("exitReason", "selfServed"), engine, later, flow)
    assert count(groups, "tFlow", exitReason="CUSTOMER_DISCONNECT", selfServed="true") == 0
    assert count(groups, "tFlow", exitReason="CUSTOMER_DISCONNECT", selfServed="false") > 0
    assert count(groups, "tFlow", exitReason="FLOW_DISCONNECT", selfServed="true") > 0
    before = truth(
        ["tFlow"],
        ("exitReason", "selfServed"),
        engine,
        (later[0] - DAY_SPAN, later[1] - DAY_SPAN),
        flow,
    )
    assert count(before, "tFlow", exitReason="CUSTOMER_DISCONNECT", selfServed="true") > 0


def test_hangups_carry_no_transfer() -> None:
    """Under `hangup` every execution starting after the moment ends by CUSTOMER_DISCONNECT:
    once the earlier ones have ended, no end carries a transfer target."""
    flow = BUSY[-1]
    moment = NOW - timedelta(hours=4)
    engine = Engine(ORG)
    engine.set_flow_fault(flow.id, FlowFault("hangup", int(moment.timestamp() * 1000)))
    later = (moment + timedelta(minutes=21), moment + timedelta(hours=2))
    groups = truth(["tFlow"], ("exitReason", "transferType"), engine, later, flow)
    assert {dict(g)["exitReason"] for g in groups} == {END_KINDS[0].exit_reason}
    assert all("transferType" not in dict(g) for g in groups)


async def test_org_summary_names_what_the_data_shows(make_sim: MakeSim) -> None:
    """GET /simulator/org lists each flow's transfer targets, exactly those its TRANSFER ends
    name over a day, its next version, and a recognition share only for recognizing flows."""
    sim = await make_sim(flows=6)
    summary = (await sim.send("/simulator/org", method="GET")).json["flows"]
    body = {
        "interval": interval(*DAY),
        "metrics": ["tFlowExit"],
        "groupBy": ["flowId", "transferType", "transferTargetName"],
    }
    seen: dict[str, set[tuple[str, str]]] = {}
    for result in (await sim.send("/simulator/truth", body=body)).json["results"]:
        group = result["group"]
        if "transferType" in group:
            pair = (group["transferType"], group["transferTargetName"])
            seen.setdefault(group["flowId"], set()).add(pair)
    for flow in summary:
        targets = {(t["type"], t["name"]) for t in flow["transferTargets"]}
        assert targets == seen[flow["id"]], flow["name"]
        assert float(flow["nextVersion"]) == float(flow["version"]) + 1
        recognizing = flow["type"] in RECOGNIZING_TYPES
        assert (flow["recognitionFailureShare"] > 0) == recognizing
