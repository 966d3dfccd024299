"""The five example KPI queries end to end: the daemon polls the simulator in counter mode and,
once a day has settled, every KPI series on /metrics equals the simulator's truth for that day,
label by label and value by value, a publish of a worse version included."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from poller.simulator import SimulatorSettings
from poller.simulator.publishing import Publish
from tests.integration.conftest import SEED
from tests.support.clock import FakeClock
from tests.support.config import aggregate
from tests.support.exposition import Exposition
from tests.support.stack import StackFactory

# The contract's example queries (config/poller.yaml): counter mode, daily, settle 10m.
KPI_QUERIES: dict[str, tuple[list[str], list[str]]] = {
    "ivr_self_service": (["flowId", "selfServed"], ["tFlow"]),
    "ivr_transfers": (["flowId", "transferType", "transferTargetName"], ["tFlowExit"]),
    "ivr_disconnects": (["flowId", "disconnectType"], ["tFlowDisconnect"]),
    "ivr_recognition": (["flowId", "recognitionFailureReason"], ["tFlow"]),
    "ivr_versions": (
        ["flowId", "flowVersion", "selfServed"],
        ["tFlow", "tFlowDisconnect", "nFlowOutcome", "nFlowOutcomeFailed"],
    ),
}
QUERIES = "".join(
    aggregate(
        name,
        every="60s",
        group_by=group_by,
        metrics=metrics,
        mode="counter",
        period="1d",
        settle="10m",
    )
    for name, (group_by, metrics) in KPI_QUERIES.items()
)
# The families the contract names, by metric: timers as _seconds_count and _seconds_sum, with
# the period's longest and shortest as _max_seconds and _min_seconds.
TIMERS = {
    "tFlow": "genesyscloud_flow_duration",
    "tFlowExit": "genesyscloud_flow_exit_duration",
    "tFlowDisconnect": "genesyscloud_flow_disconnect_duration",
}
COUNTS = {
    "nFlowOutcome": "genesyscloud_flow_outcomes_total",
    "nFlowOutcomeFailed": "genesyscloud_flow_outcomes_failed_total",
}
LABELS = {
    "flowId": "flow_id",
    "selfServed": "self_served",
    "transferType": "transfer_type",
    "transferTargetName": "transfer_target_name",
    "disconnectType": "disconnect_type",
    "recognitionFailureReason": "recognition_failure_reason",
    "flowVersion": "flow_version",
}
DAY = ("2026-05-13T00:00:00.000Z", "2026-05-14T00:00:00.000Z")
SETTLING = datetime(2026, 5, 14, 0, 5, tzinfo=UTC)  # the day closed 5 minutes ago
PUBLISHED = datetime(2026, 5, 13, 11, 0, tzinfo=UTC)

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def expected(answer: dict[str, Any]) -> Series:
    """The series the contract says a day's answer becomes: one per group and family sample,
    labelled with the group's dimensions in snake case (a dimension the group lacks is no
    label), durations in seconds; a day is one bucket."""
    out: Series = {}
    for result in answer.get("results", []):
        labels = tuple(sorted((LABELS[k], v) for k, v in result["group"].items()))
        for bucket in result["data"]:
            for item in bucket["metrics"]:
                stats, metric = item["stats"], item["metric"]
                if metric in COUNTS:
                    out[COUNTS[metric], labels] = stats["count"]
                    continue
                stem = TIMERS[metric]
                out[stem + "_seconds_count", labels] = stats["count"]
                out[stem + "_seconds_sum", labels] = stats["sum"] / 1000
                out[stem + "_max_seconds", labels] = stats["max"] / 1000
                out[stem + "_min_seconds", labels] = stats["min"] / 1000
    return out


def shown(scrape: Exposition, query: str) -> Series:
    """The query's flow series, without the query label and labels left empty."""
    return {
        (name, tuple((k, v) for k, v in labels if k != "query" and v)): value
        for (name, labels), value in scrape.flow_series(query).items()
    }


async def test_kpi_series_equal_the_truth_once_the_day_settled(
    stack_factory: StackFactory,
) -> None:
    """Five minutes after midnight every KPI query shows the closed day, settling, and each of
    its series equals the simulator's total for that day: self-service, transfers by type and
    target, disconnects by type, recognition failures by reason, and both versions of a flow
    published worse at 11:00."""
    clock = FakeClock(SETTLING)
    settings = SimulatorSettings(seed=SEED, flows=12, lag=0.0)
    stack = await stack_factory(QUERIES, schedule=False, clock=clock, settings=settings)
    engine = stack.simulator.state.engine
    flow = max(stack.simulator.state.org.flows, key=lambda f: f.peak)
    engine.set_publish(flow.id, Publish(int(PUBLISHED.timestamp() * 1000), worse=True))
    for name in KPI_QUERIES:
        assert await stack.daemon.poll(name)
    scrape = await stack.scrape()
    for name, (group_by, metrics) in KPI_QUERIES.items():
        asked = stack.bodies["/api/v2/analytics/flows/aggregates/query"]
        body = {"interval": "/".join(DAY), "groupBy": group_by, "metrics": metrics}
        assert any(b["interval"] == body["interval"] for b in asked)
        truth = expected(stack.simulator.truth(body))
        assert len(truth) >= 2 * len(stack.simulator.state.org.flows), name
        got = shown(scrape, name)
        assert got.keys() == truth.keys(), name
        for key, value in truth.items():
            assert abs(got[key] - value) < 1e-6, (name, key)
    versions = {
        dict(labels)["flow_version"]
        for (_, labels) in shown(scrape, "ivr_versions")
        if dict(labels)["flow_id"] == flow.id
    }
    assert versions == {flow.version, flow.next_version}
    transfers = {
        dict(labels).get("transfer_type") for (_, labels) in shown(scrape, "ivr_transfers")
    }
    assert {"ACD", None} <= transfers
    reasons = {
        dict(labels).get("recognition_failure_reason")
        for (_, labels) in shown(scrape, "ivr_recognition")
    }
    assert {"NO_INPUT", "NO_MATCH", None} <= reasons
