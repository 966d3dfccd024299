"""The daemon end to end against the simulator: series, labels, values, readiness."""

from __future__ import annotations

import json
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

QUERIES = """
  - name: flows_1h
    type: aggregate
    every: 1s
    window: 1h
    group_by: [flowId, flowName, flowType]
    metrics: [nFlow, tFlow, nFlowOutcome, nFlowOutcomeFailed]
  - name: active
    type: observation
    every: 1s
    metrics: [oFlow]
    filter:
      type: or
      predicates: [{dimension: mediaType, value: voice}, {dimension: mediaType, value: chat}]
"""


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


async def test_serves_flow_series_with_labels_once_ready(stack_factory: Any) -> None:
    """After both queries succeed, /readyz is 200 and /metrics has entries, durations and active
    series labelled by query and flow, with sane values."""
    stack = await stack_factory(QUERIES)
    await stack.wait_ready()
    status, text = await stack.get("/metrics")
    assert status == 200
    fams = families(text)
    entries = fams["genesyscloud_flow_entries"].samples
    assert entries, "no entries series"
    for s in entries:
        assert set(s.labels) == {"query", "flow_id", "flow_name", "flow_type"}
        assert s.labels["query"] == "flows_1h"
        assert s.value >= 1
    durations = {
        s.labels["flow_id"]: s.value for s in fams["genesyscloud_flow_duration_sum_seconds"].samples
    }
    counts = {
        s.labels["flow_id"]: s.value
        for s in fams["genesyscloud_flow_duration_measurements"].samples
    }
    for flow, total in durations.items():
        assert 0 < total / counts[flow] < 3600, "average time in flow is not plausible seconds"
    active = fams["genesyscloud_flow_active"].samples
    assert active
    for s in active:
        assert set(s.labels) == {"query", "flow_id", "media_type"}
        assert s.labels["media_type"] in {"voice", "chat"}
        assert s.value >= 0
    up = {s.labels["query"]: s.value for s in fams["genesyscloud_poller_query_up"].samples}
    assert up == {"flows_1h": 1.0, "active": 1.0}


async def test_readyz_names_queries_until_they_succeed(stack_factory: Any) -> None:
    """Before any poll has succeeded, /readyz is 503 and names every query; after one
    successful poll of each it is 200."""
    stack = await stack_factory(QUERIES, schedule=False)
    status, body = await stack.get("/readyz")
    assert status == 503
    assert set(json.loads(body)["queries_not_ready"]) == {"flows_1h", "active"}
    assert await stack.daemon.poll_all() == {"flows_1h": True, "active": True}
    status, _ = await stack.get("/readyz")
    assert status == 200
