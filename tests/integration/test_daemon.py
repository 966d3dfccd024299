"""The daemon end to end against the simulator: series, labels, values, readiness."""

from __future__ import annotations

import json
from typing import Any

import pytest

from poller.catalog import AGGREGATE_PATH, OBSERVATION_PATH
from tests.support.clock import PEAK, FakeClock
from tests.support.config import aggregate, media, observation
from tests.support.stack import StackFactory

QUERIES = aggregate(
    "flows_1h",
    every="1s",
    window="1h",
    group_by=["flowId", "flowName", "flowType"],
    metrics=["nFlow", "tFlow", "nFlowOutcome", "nFlowOutcomeFailed"],
) + observation("active", every="1s", filter=media("voice", "chat"))


def totals(answer: dict[str, Any], metric: str) -> dict[str, dict[str, int]]:
    """{flowId: stats of `metric` merged over every bucket} in an aggregate answer."""
    out: dict[str, dict[str, int]] = {}
    for result in answer.get("results", []):
        merged = out.setdefault(result["group"]["flowId"], {})
        for bucket in result["data"]:
            for item in bucket.get("metrics", []):
                if item["metric"] == metric:
                    for key in ("count", "sum"):
                        if key in item["stats"]:
                            merged[key] = merged.get(key, 0) + item["stats"][key]
    return out


async def test_serves_flow_series_with_labels_once_ready(stack_factory: StackFactory) -> None:
    """After both queries succeed, /readyz is 200 and /metrics has entries, durations and active
    series labelled by query and flow, each exactly what the simulator's engine computes for the
    same seed, interval and moment."""
    stack = await stack_factory(QUERIES, schedule=False, clock=FakeClock(PEAK))
    assert await stack.daemon.poll_all() == {"flows_1h": True, "active": True}
    await stack.wait_ready()
    scrape = await stack.scrape()

    (aggregate,) = stack.bodies[AGGREGATE_PATH]
    truth = stack.truth(AGGREGATE_PATH, aggregate)
    flows = totals(truth, "nFlow")
    timings = totals(truth, "tFlow")
    assert flows, "the simulator has no flow data at its peak hour"
    for labels, _ in scrape.series("genesyscloud_flow_entries"):
        assert set(labels) == {"query", "flow_id", "flow_name", "flow_type"}
        assert labels["query"] == "flows_1h"
    assert scrape.by("flow_id", "genesyscloud_flow_entries") == {
        flow: stats["count"] for flow, stats in flows.items()
    }
    assert scrape.by("flow_id", "genesyscloud_flow_duration_measurements") == {
        flow: stats["count"] for flow, stats in timings.items()
    }
    assert scrape.by("flow_id", "genesyscloud_flow_duration_sum_seconds") == pytest.approx(
        {flow: stats["sum"] / 1000 for flow, stats in timings.items()}
    )

    (observation,) = stack.bodies[OBSERVATION_PATH]
    active_truth = {
        (r["group"]["flowId"], r["group"]["mediaType"]): r["data"][0]["stats"]["count"]
        for r in stack.truth(OBSERVATION_PATH, observation).get("results", [])
    }
    assert active_truth, "nothing is running in the simulator at its peak hour"
    active = scrape.series("genesyscloud_flow_active")
    for labels, _ in active:
        assert set(labels) == {"query", "flow_id", "media_type"}
    assert {(labels["flow_id"], labels["media_type"]): v for labels, v in active} == active_truth
    assert scrape.by("query", "genesyscloud_poller_query_up") == {"flows_1h": 1.0, "active": 1.0}


async def test_readyz_names_queries_until_they_succeed(stack_factory: StackFactory) -> None:
    """Before any poll has succeeded, /readyz is 503 and names every query; after one
    successful poll of each it is 200."""
    stack = await stack_factory(QUERIES, schedule=False)
    status, body = await stack.get("/readyz")
    assert status == 503
    assert set(json.loads(body)["queries_not_ready"]) == {"flows_1h", "active"}
    assert await stack.daemon.poll_all() == {"flows_1h": True, "active": True}
    status, _ = await stack.get("/readyz")
    assert status == 200


MILESTONE_QUERIES = aggregate(
    "milestones_1h",
    every="1s",
    window="1h",
    group_by=["flowId", "flowMilestoneId"],
    metrics=["oFlowMilestone"],
)


async def test_milestone_occurrences_are_the_sum_and_executions_the_count(
    stack_factory: StackFactory,
) -> None:
    """Per flow and milestone, genesyscloud_flow_milestone_occurrences is exactly the simulator's
    oFlowMilestone stats.sum (times reached) and genesyscloud_flow_milestone_executions its
    stats.count (executions that reached it)."""
    stack = await stack_factory(MILESTONE_QUERIES, schedule=False, clock=FakeClock(PEAK))
    assert await stack.daemon.poll_all() == {"milestones_1h": True}
    scrape = await stack.scrape()

    (body,) = stack.bodies[AGGREGATE_PATH]
    truth: dict[tuple[str, str], dict[str, int]] = {}
    for result in stack.truth(AGGREGATE_PATH, body).get("results", []):
        merged = truth.setdefault(
            (result["group"]["flowId"], result["group"]["flowMilestoneId"]), {"count": 0, "sum": 0}
        )
        for bucket in result["data"]:
            for item in bucket["metrics"]:
                merged["count"] += item["stats"]["count"]
                merged["sum"] += item["stats"]["sum"]
    # Only a milestone reached more than once in some execution tells the two apart.
    assert any(t["sum"] > t["count"] for t in truth.values()), "no milestone repeated at peak"

    def by_milestone(family: str) -> dict[tuple[str, str], float]:
        return {
            (labels["flow_id"], labels["flow_milestone_id"]): value
            for labels, value in scrape.series(family, query="milestones_1h")
        }

    assert by_milestone("genesyscloud_flow_milestone_occurrences") == {
        group: t["sum"] for group, t in truth.items()
    }
    assert by_milestone("genesyscloud_flow_milestone_executions") == {
        group: t["count"] for group, t in truth.items()
    }
