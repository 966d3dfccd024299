"""check-config's expected series per flow: each metric's families in the query's mode, times
the typical values per flow of the dimensions that metric carries, and what grows unbounded."""

from __future__ import annotations

import pytest

from poller.config import parse_config
from poller.seriesplan import expected_series
from tests.support.config import Value, aggregate, observation, poller_yaml

HISTOGRAM: list[Value] = [
    {"name": "under30s", "target": "tFlow", "range": {"lt": 30000}},
    {"name": "under2m", "target": "tFlow", "range": {"lt": 120000}},
]


def line(query: str) -> str:
    (parsed,) = parse_config(poller_yaml(query), env={}).queries
    return expected_series(parsed)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # A timer in counter mode: _sum, _count, _max, _min = 4; x 2 selfServed values.
        (
            aggregate(
                "ivr_self_service",
                group_by=["flowId", "selfServed"],
                metrics=["tFlow"],
                mode="counter",
            ),
            "ivr_self_service: about 8 series per flow",
        ),
        # 4 per group x 4 disconnect types.
        (
            aggregate(
                "ivr_disconnects",
                group_by=["flowId", "disconnectType"],
                metrics=["tFlowDisconnect"],
                mode="counter",
            ),
            "ivr_disconnects: about 16 series per flow",
        ),
        # 4 per group x 4 transfer types, per transfer target (no bound).
        (
            aggregate(
                "ivr_transfers",
                group_by=["flowId", "transferType", "transferTargetName"],
                metrics=["tFlowExit"],
                mode="counter",
            ),
            "ivr_transfers: about 16 series per flow and transfer target (transferTargetName: "
            "one per transfer target, unbounded: cap it with a filter)",
        ),
        # tFlow and tFlowDisconnect: 4 x 2 selfServed each = 16; the outcome counters carry no
        # selfServed: 1 each = 2; 18 per version, 1 or 2 versions.
        (
            aggregate(
                "ivr_versions",
                group_by=["flowId", "flowVersion", "selfServed"],
                metrics=["tFlow", "tFlowDisconnect", "nFlowOutcome", "nFlowOutcomeFailed"],
                mode="counter",
            ),
            "ivr_versions: about 18 to 36 series per flow (flowVersion: 1 live version, 2 while "
            "a publish's old version finishes)",
        ),
        # A histogram: 2 buckets + Inf, _sum, _count, _max, _min = 7; nFlow 1.
        (
            aggregate(
                "slow",
                group_by=["flowId", "flowName"],
                metrics=["nFlow", "tFlow"],
                views=HISTOGRAM,
                mode="counter",
            ),
            "slow: about 8 series per flow",
        ),
        # Gauge mode: a timer is 4 gauges, each of its views 4 more: 1 + 4 + 2 x 4 = 13.
        (
            aggregate("gauges", group_by=["flowId"], metrics=["nFlow", "tFlow"], views=HISTOGRAM),
            "gauges: about 13 series per flow",
        ),
        # Outcome counters x 1 to 100 outcomes (flowOutcome names the same ones: counted once);
        # nFlow carries no outcome: 1. 1 + 2 x (1 to 100) = 3 to 201.
        (
            aggregate(
                "outcomes",
                group_by=["flowId", "flowOutcomeId", "flowOutcome"],
                metrics=["nFlow", "nFlowOutcome", "nFlowOutcomeFailed"],
            ),
            "outcomes: about 3 to 201 series per flow (flowOutcomeId: up to 100 outcomes)",
        ),
        # No flow dimension: the series are the org's.
        (aggregate("total", metrics=["nFlow"]), "total: about 1 series in all, not split by flow"),
        # A dimension outside the table is named, not guessed.
        (
            aggregate("queues", group_by=["flowId", "queueId"], metrics=["nFlow"]),
            "queues: about 1 series per flow (times the values of queueId, not estimated)",
        ),
        # An observation: oFlow, and with details the age and the truncated flag: 3.
        (observation("active", details=True), "active: about 3 series per flow"),
    ],
)
def test_expected_series_per_flow(query: str, expected: str) -> None:
    """The line check-config prints for the query: the arithmetic in each case's comment."""
    assert line(query) == expected
