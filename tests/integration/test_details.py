"""Observation details end to end: the age of each flow's longest-running execution and the
truncated flag, exactly as the simulator's engine holds them at the poll's (fake) time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from poller.catalog import OBSERVATION_PATH
from tests.support.clock import PEAK, FakeClock
from tests.support.config import media, observation
from tests.support.stack import Stack, StackFactory

QUERIES = observation("active", every="15s", details=True, filter=media("voice", "chat"))
AGE = "genesyscloud_flow_oldest_execution_age_seconds"
TRUNCATED = "genesyscloud_flow_observations_truncated"


def entries(stack: Stack) -> dict[str, dict[str, Any]]:
    """{flowId: the oFlow data entry} of the simulator's own answer to the daemon's request."""
    (request,) = stack.bodies[OBSERVATION_PATH]
    answer = stack.truth(OBSERVATION_PATH, request)
    return {r["group"]["flowId"]: r["data"][0] for r in answer.get("results", [])}


def oldest(entry: dict[str, Any]) -> float:
    return min(
        datetime.fromisoformat(o["observationDate"]).timestamp() for o in entry["observations"]
    )


async def test_age_is_now_minus_the_oldest_execution(stack_factory: StackFactory) -> None:
    """With details on, the request carries detailMetrics and each flow's age is the poll's time
    minus the oldest observationDate the simulator holds; no conversation id becomes a label."""
    clock = FakeClock(PEAK)
    stack = await stack_factory(QUERIES, schedule=False, clock=clock)
    assert await stack.daemon.poll_all() == {"active": True}
    scrape = await stack.scrape()
    (request,) = stack.bodies[OBSERVATION_PATH]
    assert request["detailMetrics"] == ["oFlow"]
    truth = entries(stack)
    assert truth, "nothing is running in the simulator at its peak hour"
    assert scrape.by("flow_id", AGE) == {
        flow: round(clock.now - oldest(entry), 3) for flow, entry in truth.items()
    }
    assert max(scrape.by("flow_id", AGE).values()) > 60
    assert scrape.by("flow_id", TRUNCATED) == {
        flow: float(entry["truncated"]) for flow, entry in truth.items()
    }
    for labels, _ in scrape.series(AGE) + scrape.series(TRUNCATED):
        assert set(labels) == {"query", "flow_id", "media_type"}


async def test_truncated_lists_still_give_the_oldest_age(
    stack_factory: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the simulator cuts its lists (oldest and newest halves kept), the truncated gauge is
    1 and the age still equals now minus the oldest execution of the full list."""
    clock = FakeClock(PEAK)
    stack = await stack_factory(QUERIES, schedule=False, clock=clock)
    monkeypatch.setattr("poller.simulator.engine.OBSERVATION_DETAIL_LIMIT", 4)
    assert await stack.daemon.poll_all() == {"active": True}
    scrape = await stack.scrape()
    cut = entries(stack)
    monkeypatch.setattr("poller.simulator.engine.OBSERVATION_DETAIL_LIMIT", 10_000)
    full = entries(stack)
    truncated = {flow for flow, entry in cut.items() if entry["truncated"]}
    assert truncated, "no flow has more than 4 executions in progress at the peak hour"
    assert truncated == {flow for flow, entry in full.items() if entry["stats"]["count"] > 4}
    assert all(len(cut[flow]["observations"]) == 4 for flow in truncated)
    assert scrape.by("flow_id", TRUNCATED) == {flow: float(flow in truncated) for flow in full}
    assert scrape.by("flow_id", AGE) == {
        flow: round(clock.now - oldest(entry), 3) for flow, entry in full.items()
    }
    assert scrape.by("flow_id", "genesyscloud_flow_active") == {
        flow: entry["stats"]["count"] for flow, entry in full.items()
    }
