"""Per-flow faults in the engine: each kind changes exactly what it should from its moment on,
judged against the same org without the fault, and the caches never mix the two."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import structlog

from poller.simulator.engine import Engine
from poller.simulator.flowfaults import FAULT_KINDS, FlowFault
from poller.simulator.org import MAX_DURATION_MS, Flow, Org
from poller.simulator.validation import validate_aggregate
from tests.simulator.sim_support import NOW, interval, totals

# 10:00 UTC on a Thursday: business hours, every flow busy.
MOMENT = NOW - timedelta(hours=4)
MOMENT_MS = int(MOMENT.timestamp() * 1000)
WEEK = timedelta(days=7)
LATE = timedelta(milliseconds=MAX_DURATION_MS + 1)  # every execution started before has ended
COUNTS = ["nFlow", "nFlowOutcome", "nFlowOutcomeFailed", "nFlowMilestone"]
TIMERS = ["tFlow", "tFlowDisconnect", "tFlowExit", "tFlowOutcome", "oFlowMilestone"]
ORG = Org(1, 12)
BUSY = max(ORG.flows, key=lambda f: f.peak)  # tens of executions a minute at the peak
OTHER = next(f for f in ORG.flows if f is not BUSY)

Totals = dict[str, dict[str, int]]


def truth(
    engine: Engine,
    flow: Flow,
    start: datetime,
    end: datetime,
    metrics: list[str],
    group_by: tuple[str, ...] = (),
) -> dict[tuple[tuple[str, str], ...], Totals]:
    body: dict[str, Any] = {
        "interval": interval(start, end),
        "metrics": metrics,
        "groupBy": list(group_by),
        "filter": {"type": "and", "predicates": [{"dimension": "flowId", "value": flow.id}]},
    }
    return totals(engine.truth(validate_aggregate(body)).get("results", []))


def flat(engine: Engine, flow: Flow, start: datetime, end: datetime) -> Totals:
    """The flow's counts and timers over [start, end), in one group."""
    return truth(engine, flow, start, end, COUNTS + TIMERS).get((), {})


def count(stats: Totals, metric: str) -> int:
    return stats.get(metric, {}).get("count", 0)


def faulted(kind: str, flow: Flow = BUSY, factor: float = 3.0) -> Engine:
    engine = Engine(ORG)
    engine.set_flow_fault(flow.id, FlowFault(kind, MOMENT_MS, factor))
    return engine


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_before_the_moment_nothing_changes(kind: str) -> None:
    """Every metric stamped before the moment is what it is without the fault."""
    window = (MOMENT - timedelta(hours=2), MOMENT)
    assert flat(faulted(kind), BUSY, *window) == flat(Engine(ORG), BUSY, *window)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_other_flows_never_change(kind: str) -> None:
    """A fault on one flow leaves every other flow's data as it was, after the moment too."""
    window = (MOMENT - timedelta(hours=1), MOMENT + timedelta(hours=2))
    assert flat(faulted(kind), OTHER, *window) == flat(Engine(ORG), OTHER, *window)


def test_stop_ends_entries_and_then_everything() -> None:
    """stop: entries before the moment as usual, none after it; once the executions that started
    before have ended (20 minutes), the flow records nothing at all."""
    engine, normal = faulted("stop"), Engine(ORG)
    before = (MOMENT - timedelta(minutes=30), MOMENT)
    assert count(flat(engine, BUSY, *before), "nFlow") == count(
        flat(normal, BUSY, *before), "nFlow"
    )
    assert count(flat(normal, BUSY, MOMENT, MOMENT + timedelta(hours=1)), "nFlow") > 100
    assert count(flat(engine, BUSY, MOMENT, MOMENT + timedelta(hours=1)), "nFlow") == 0
    assert flat(engine, BUSY, MOMENT + LATE, MOMENT + timedelta(hours=2)) == {}


def test_fail_fails_every_outcome_completed_after_the_moment() -> None:
    """fail: every outcome completing after the moment is FAILURE (those of executions that
    started before it too); entries, durations and milestones stay as they were."""
    engine, normal = faulted("fail"), Engine(ORG)
    window = (MOMENT, MOMENT + timedelta(hours=1))
    got, usual = flat(engine, BUSY, *window), flat(normal, BUSY, *window)
    assert count(usual, "nFlowOutcomeFailed") < 0.05 * count(usual, "nFlowOutcome")
    assert (
        count(got, "nFlowOutcomeFailed")
        == count(got, "nFlowOutcome")
        == count(usual, "nFlowOutcome")
    )
    for metric in ("nFlow", "nFlowMilestone", "tFlow", "tFlowDisconnect", "oFlowMilestone"):
        assert got[metric] == usual[metric]
    by_value = truth(engine, BUSY, *window, ["nFlowOutcome"], ("flowOutcomeValue",))
    assert list(by_value) == [(("flowOutcomeValue", "FAILURE"),)]


def test_hangup_ends_executions_early_by_customer_disconnect() -> None:
    """hangup: as many entries, but every execution starting after the moment ends by
    CUSTOMER_DISCONNECT within a tenth of its normal time."""
    engine, normal = faulted("hangup"), Engine(ORG)
    after = (MOMENT + LATE, MOMENT + timedelta(hours=2))
    got, usual = flat(engine, BUSY, *after), flat(normal, BUSY, *after)
    assert count(got, "nFlow") == count(usual, "nFlow")
    assert count(got, "tFlowDisconnect") == count(got, "tFlow") > 0
    assert count(usual, "tFlowDisconnect") < 0.5 * count(usual, "tFlow")
    mean, usual_mean = (s["tFlow"]["sum"] / s["tFlow"]["count"] for s in (got, usual))
    assert mean <= 0.1 * usual_mean
    assert got["tFlow"]["max"] <= 0.1 * MAX_DURATION_MS + 1
    ends = truth(engine, BUSY, *after, ["tFlow"], ("exitReason", "disconnectType"))
    assert list(ends) == [(("disconnectType", "peer"), ("exitReason", "CUSTOMER_DISCONNECT"))]
    # What would have happened later in the execution mostly never happens.
    assert count(got, "nFlowOutcome") < 0.2 * count(usual, "nFlowOutcome")


@pytest.mark.parametrize("factor", [3.0, 5.0])
def test_slow_multiplies_time_in_flow(factor: float) -> None:
    """slow: as many entries, and time in flow `factor` times as long (at most 20 minutes)."""
    engine, normal = faulted("slow", factor=factor), Engine(ORG)
    after = (MOMENT + LATE, MOMENT + timedelta(hours=2))
    got, usual = flat(engine, BUSY, *after), flat(normal, BUSY, *after)
    assert count(got, "nFlow") == count(usual, "nFlow")
    mean, usual_mean = (s["tFlow"]["sum"] / s["tFlow"]["count"] for s in (got, usual))
    # Durations capped at 20 minutes pull the mean a little under factor x.
    assert 0.8 * factor * usual_mean <= mean <= factor * usual_mean * 1.05
    assert got["tFlow"]["max"] <= MAX_DURATION_MS
    assert got["tFlow"]["min"] >= factor * usual["tFlow"]["min"] * 0.9


def test_milestone_drop_reaches_no_milestone() -> None:
    """milestone-drop: no milestone is reached by executions starting after the moment; entries,
    durations and outcomes stay as they were."""
    engine, normal = faulted("milestone-drop"), Engine(ORG)
    after = (MOMENT + LATE, MOMENT + timedelta(hours=2))
    got, usual = flat(engine, BUSY, *after), flat(normal, BUSY, *after)
    assert count(usual, "nFlowMilestone") > 0
    assert "nFlowMilestone" not in got
    assert "oFlowMilestone" not in got
    for metric in ("nFlow", "nFlowOutcome", "nFlowOutcomeFailed", "tFlow", "tFlowOutcome"):
        assert got[metric] == usual[metric]


def test_the_weekly_cache_never_mixes_faulted_and_normal_data() -> None:
    """The same place in the week answers normal traffic a week before the fault and faulted
    traffic after it, in either order, and clearing the fault brings the normal traffic back."""
    engine = Engine(ORG)
    window = (MOMENT + LATE, MOMENT + timedelta(hours=2))
    last_week = (window[0] - WEEK, window[1] - WEEK)
    normal = flat(engine, BUSY, *window)  # cached under its place in the week
    assert flat(engine, BUSY, *last_week) == normal
    engine.set_flow_fault(BUSY.id, FlowFault("stop", MOMENT_MS))
    assert flat(engine, BUSY, *window) == {}
    assert flat(engine, BUSY, *last_week) == normal
    next_week = (window[0] + WEEK, window[1] + WEEK)
    assert flat(engine, BUSY, *next_week) == {}  # a fault lasts until it is cleared
    engine.set_flow_fault(BUSY.id, None)
    assert flat(engine, BUSY, *window) == normal
    assert flat(engine, BUSY, *next_week) == normal


def test_a_fault_set_later_in_the_week_keeps_earlier_answers() -> None:
    """Blocks that end before the moment still share their place in the week: a fault set now
    does not change what an earlier interval answers, even one cached before."""
    engine = Engine(ORG)
    earlier = (MOMENT - timedelta(hours=3), MOMENT)
    cached = flat(engine, BUSY, *earlier)
    engine.set_flow_fault(BUSY.id, FlowFault("milestone-drop", MOMENT_MS))
    assert flat(engine, BUSY, *earlier) == cached
    assert flat(Engine(ORG), BUSY, *earlier) == cached


def test_faults_are_listed_replaced_and_cleared() -> None:
    """flow_faults lists the flows that have one; a new fault replaces a flow's old one."""
    engine = Engine(ORG)
    stop = FlowFault("stop", MOMENT_MS)
    slow = FlowFault("slow", MOMENT_MS, 4.0)
    engine.set_flow_fault(BUSY.id, stop)
    engine.set_flow_fault(OTHER.id, stop)
    engine.set_flow_fault(BUSY.id, slow)
    assert engine.flow_faults() == {BUSY.id: slow, OTHER.id: stop}
    engine.set_flow_fault(BUSY.id, None)
    assert engine.flow_faults() == {OTHER.id: stop}
    with pytest.raises(KeyError):
        engine.set_flow_fault("no-such-flow", stop)


def test_setting_and_clearing_a_fault_logs_one_event_each() -> None:
    """One event when a fault is set, one when it is cleared, naming the flow."""
    engine = Engine(ORG, client_id="demo-client")
    with structlog.testing.capture_logs() as events:
        engine.set_flow_fault(BUSY.id, FlowFault("hangup", MOMENT_MS))
        engine.set_flow_fault(BUSY.id, None)
    assert [(e["event"], e["fault"], e["flow_id"], e["flow_name"]) for e in events] == [
        ("simulator.flow_fault", "hangup", BUSY.id, BUSY.name),
        ("simulator.flow_fault_cleared", "hangup", BUSY.id, BUSY.name),
    ]
    assert events[0]["at"] == "2026-05-14T10:00:00.000Z"
    assert events[0]["client_id"] == "demo-client"


def test_observations_follow_the_faults() -> None:
    """stop: the executions running die out within 20 minutes, and none starts; hangup: the
    executions running shrink to the few short ones."""
    from poller.simulator.validation import validate_observation

    body = {
        "filter": {"type": "or", "predicates": [{"dimension": "flowId", "value": BUSY.id}]},
        "metrics": ["oFlow"],
    }
    query = validate_observation(body)

    def running(engine: Engine, moment: datetime) -> int:
        results = engine.observe(query, int(moment.timestamp() * 1000)).get("results", [])
        return sum(r["data"][0]["stats"]["count"] for r in results)

    normal, stopped, hung = Engine(ORG), faulted("stop"), faulted("hangup")
    soon = MOMENT + timedelta(minutes=5)
    assert running(normal, MOMENT) == running(stopped, MOMENT) > 10
    assert 0 < running(stopped, soon) < running(normal, soon)
    assert running(stopped, MOMENT + LATE) == 0
    assert running(hung, MOMENT + LATE) < 0.2 * running(normal, MOMENT + LATE)


def test_fault_values_are_checked() -> None:
    """An unknown kind or a factor out of 1..100 is refused when the fault is made."""
    with pytest.raises(ValueError, match="not one of"):
        FlowFault("explode", MOMENT_MS)
    with pytest.raises(ValueError, match="factor"):
        FlowFault("slow", MOMENT_MS, 0.5)
