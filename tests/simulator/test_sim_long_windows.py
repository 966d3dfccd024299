"""Configs the poller's check accepts are answered by the simulator, however long the window.

The poller's duration syntax has no days, so a 30-day window is written 720h.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from poller.config import parse_config
from poller.genesys.queries import request_body
from tests.simulator.sim_support import NOW
from tests.support.config import aggregate, poller_yaml

CONFIG = poller_yaml(
    aggregate(
        "month",
        every="5m",
        window="720h",
        group_by=["flowId", "flowName"],
        metrics=["nFlow", "tFlow", "nFlowOutcome"],
        views=[
            {
                "name": "tFlowUnder30s",
                "target": "tFlow",
                "function": "rangeBound",
                "range": {"lt": 30000},
            }
        ],
    ),
    aggregate(
        "today",
        every="1m",
        window="today",
        time_zone="Europe/Dublin",
        group_by=["flowId"],
        metrics=["nFlow", "tFlow"],
    ),
    aggregate(
        "versions",
        every="1m",
        window="1h",
        filter={
            "type": "and",
            "predicates": [
                {"dimension": "flowVersion", "value": "1.0", "range": {"gte": 1}},
                {"dimension": "flowOutcomeId", "operator": "exists", "value": "ignored"},
            ],
        },
    ),
)


@pytest.mark.parametrize("name", ["month", "today"])
async def test_checked_window_is_answered_with_data(make_sim: Any, name: str) -> None:
    """A query with window 720h or today gets a 200 with nFlow for every flow of the org."""
    query = next(q for q in parse_config(CONFIG, env={}).queries if q.name == name)
    sim = await make_sim(flows=3)
    started = time.perf_counter()
    reply = await sim.aggregate(request_body(query, NOW.timestamp()))
    assert reply.status == 200, reply.text
    results = reply.json["results"]
    assert {r["group"]["flowId"] for r in results} == {f.id for f in sim.state.org.flows}
    for result in results:
        [bucket] = result["data"]
        nflow = next(m for m in bucket["metrics"] if m["metric"] == "nFlow")
        assert nflow["stats"]["count"] > 0
    assert time.perf_counter() - started < 30  # a poll's worth of time, on a slow machine


async def test_month_views_and_mixed_predicates_are_answered(make_sim: Any) -> None:
    """The month's view comes back beside tFlow, and a predicate with value and range (or
    exists with a value), which the check accepts, gets a 200 rather than a 400."""
    queries = {q.name: q for q in parse_config(CONFIG, env={}).queries}
    sim = await make_sim(flows=2)
    month = await sim.aggregate(request_body(queries["month"], NOW.timestamp()))
    assert month.status == 200, month.text
    for result in month.json["results"]:
        [bucket] = result["data"]
        tflow = next(m for m in bucket["metrics"] if m["metric"] == "tFlow")
        [view] = bucket["views"]
        assert view["name"] == "tFlowUnder30s"
        assert 0 < view["stats"]["count"] < tflow["stats"]["count"]
    versions = await sim.aggregate(request_body(queries["versions"], NOW.timestamp()))
    assert versions.status == 200, versions.text
