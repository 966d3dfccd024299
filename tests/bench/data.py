"""Synthetic flow aggregate responses of an exact size, with the labels a real org produces.

A response groups by flow and outcome (flowId, flowName, flowType, flowOutcomeId, flowOutcome,
flowOutcomeValue) and asks for nFlowOutcome and tFlowOutcome, so each result container becomes
exactly SERIES_PER_GROUP series: one count and the four timer families. Flow ids, names and
types come from the simulator's synthetic org, so label lengths are what a user would see.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from poller.config.model import QueryType
from poller.simulator.org import OUTCOME_VALUES, Org

QUERY = "bench_outcomes"
KIND: QueryType = "aggregate"
GROUP_BY = ("flowId", "flowName", "flowType", "flowOutcomeId", "flowOutcome", "flowOutcomeValue")
METRICS = ("nFlowOutcome", "tFlowOutcome")
SERIES_PER_GROUP = 5  # outcomes + the 4 outcome_duration families
# The family that sorts first in the exposition, and whose first series carries the marker.
MARKER_FAMILY = "genesyscloud_flow_outcome_duration_max_seconds"
# A marker no real group reaches (longest outcome times here stay under 11 minutes).
MARKER_PLACEHOLDER = 999_999


@dataclass(frozen=True, slots=True)
class Dataset:
    series: int
    response: dict[str, Any]

    def to_json(self) -> bytes:
        return json.dumps(self.response, separators=(",", ":")).encode()


def groups_for(series: int) -> int:
    if series % SERIES_PER_GROUP:
        raise ValueError(f"series must be a multiple of {SERIES_PER_GROUP}")
    return series // SERIES_PER_GROUP


def make_response(series: int, *, seed: int = 1, marker: int = 0) -> Dataset:
    """A FlowAggregateQueryResponse that normalizes to exactly `series` series.

    `marker` sets the first group's longest outcome time to `marker` seconds, so a reader of the
    exposition's first sample line can tell which response it comes from."""
    groups = groups_for(series)
    org = Org(seed, 0)
    per_flow = len(org.outcomes) * len(OUTCOME_VALUES)
    org = Org(seed, -(-groups // per_flow))
    rng = random.Random(seed)
    results: list[dict[str, Any]] = []
    for flow in org.flows:
        for outcome in org.outcomes:
            for value in OUTCOME_VALUES:
                if len(results) == groups:
                    break
                count = rng.randint(1, 500)
                low = rng.randint(1_000, 20_000)
                high = low + rng.randint(0, 600_000)
                total = (low + high) // 2 * count
                results.append(
                    {
                        "group": {
                            "flowId": flow.id,
                            "flowName": flow.name,
                            "flowType": flow.type,
                            "flowOutcomeId": outcome.id,
                            "flowOutcome": outcome.name,
                            "flowOutcomeValue": value,
                        },
                        "data": [
                            {
                                "interval": "2026-05-17T00:00:00.000Z/2026-05-17T06:40:00.000Z",
                                "metrics": [
                                    {"metric": "nFlowOutcome", "stats": {"count": count}},
                                    {
                                        "metric": "tFlowOutcome",
                                        "stats": {
                                            "max": high,
                                            "min": low,
                                            "count": count,
                                            "sum": total,
                                        },
                                    },
                                ],
                            }
                        ],
                    }
                )
    if marker:
        stats = results[0]["data"][0]["metrics"][1]["stats"]
        stats["max"] = marker * 1000
    return Dataset(series, {"results": results})


def query_yaml(name: str = QUERY, every: str = "1h") -> str:
    """The config entry of the query this data answers."""
    return (
        f"  - name: {name}\n"
        "    type: aggregate\n"
        f"    every: {every}\n"
        "    window: 1h\n"
        f"    group_by: [{', '.join(GROUP_BY)}]\n"
        f"    metrics: [{', '.join(METRICS)}]\n"
        # The benchmark's 100k-series polls are above the default limit on purpose.
        "    max_series: 1000000\n"
    )
