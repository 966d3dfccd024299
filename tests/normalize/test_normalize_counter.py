"""Counter mode's exposition: counters with _total, the duration histogram from lt views (every
bucket present, +Inf the timer's count), summaries otherwise, max/min gauges; promtool-clean."""

from __future__ import annotations

import json
import subprocess

from poller.config.model import QueryConfig, View
from poller.counters import counter_spec
from poller.digest import DigestJob, digest
from poller.store import SnapshotStore
from tests.support.exposition import Exposition
from tests.support.tools import require_tool

QUERY = QueryConfig(
    name="counted",
    type="aggregate",
    every=30.0,
    metrics=("nFlow", "oFlowMilestone", "tFlow", "tFlowOutcome"),
    mode="counter",
    views=(
        View("under30s", "tFlow", lt=30000),
        View("under2m", "tFlow", lt=120000),
        View("slow", "tFlowOutcome", gte=60000),
    ),
)
GROUP = {"flowId": "f1"}
RESPONSE = {
    "results": [
        {
            "group": GROUP,
            "data": [
                {
                    "metrics": [
                        {"metric": "nFlow", "stats": {"count": 7}},
                        {"metric": "oFlowMilestone", "stats": {"count": 3, "sum": 5}},
                        {
                            "metric": "tFlow",
                            "stats": {"count": 6, "sum": 123456, "max": 9e4, "min": 500},
                        },
                        {
                            "metric": "tFlowOutcome",
                            "stats": {"count": 2, "sum": 70000, "max": 65000, "min": 5000},
                        },
                    ],
                    # Genesys leaves out a view with no data: under30s has none here.
                    "views": [
                        {"name": "under2m", "stats": {"count": 6, "sum": 123456}},
                        {"name": "slow", "stats": {"count": 1, "sum": 65000}},
                    ],
                }
            ],
        }
    ]
}


def text() -> bytes:
    spec = counter_spec(QUERY)
    families = digest(DigestJob("aggregate", "counted", json.dumps(RESPONSE).encode(), 0.0, spec))
    store = SnapshotStore()
    store.commit(store.prepare("counted", families, 0.0))
    return b"".join(store.exposition().plain)


def test_counter_families_types_and_values() -> None:
    """Counts are counters named _total; tFlow is a histogram with le 30, 120 and +Inf (the
    missing view read as 0); tFlowOutcome, whose view has gte, is a summary, and so is the view."""
    body = text().decode()
    scrape = Exposition(body)
    flow = {"query": "counted", "flow_id": "f1"}
    assert "# TYPE genesyscloud_flow_entries_total counter" in body
    assert "# TYPE genesyscloud_flow_duration_seconds histogram" in body
    assert "# TYPE genesyscloud_flow_outcome_duration_seconds summary" in body
    assert "# TYPE genesyscloud_flow_view_slow_seconds summary" in body
    assert scrape.get("genesyscloud_flow_entries_total", **flow) == 7
    assert scrape.get("genesyscloud_flow_milestone_occurrences_total", **flow) == 5
    assert scrape.get("genesyscloud_flow_milestone_executions_total", **flow) == 3
    assert {
        labels["le"]: value
        for labels, value in scrape.series("genesyscloud_flow_duration_seconds_bucket", **flow)
    } == {"30": 0, "120": 6, "+Inf": 6}
    assert scrape.get("genesyscloud_flow_duration_seconds_sum", **flow) == 123.456
    assert scrape.get("genesyscloud_flow_duration_seconds_count", **flow) == 6
    assert scrape.get("genesyscloud_flow_duration_max_seconds", **flow) == 90
    assert scrape.get("genesyscloud_flow_outcome_duration_seconds_sum", **flow) == 70
    assert scrape.get("genesyscloud_flow_outcome_duration_seconds_count", **flow) == 2
    assert scrape.get("genesyscloud_flow_view_slow_seconds_count", **flow) == 1
    assert "genesyscloud_flow_view_under2m" not in body  # its counts are the buckets


def test_counter_exposition_passes_promtool() -> None:
    """promtool check metrics (parse and lint) accepts counter mode's exposition."""
    result = subprocess.run(
        [require_tool("promtool"), "check", "metrics"],
        input=text(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
