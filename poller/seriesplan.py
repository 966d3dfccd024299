"""How many series a query is expected to publish per flow, for check-config: the one table of
each group_by dimension's typical number of values per flow and of the metrics that carry it,
times the series one group of each metric makes.

The series one group makes come from the normalizer itself (a made-up answer of one group, with
the metric and the views on it, normalized as a poll's would be), so the estimate follows the
families each metric makes in the query's mode (a count; a timer's sum, count, max and min; a
histogram's buckets) without a second list of them.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Final

from poller.config.model import QueryConfig
from poller.counters import counter_spec, normalize_counter
from poller.normalize import normalize_aggregate, normalize_observation
from poller.responses import AggregateResponse, ObservationResponse, decode
from poller.serieslimit import series_count

# The metrics emitted when an execution ends: they carry how it ended (the engine's rule: a
# metric carries what is known when it is emitted).
END_METRICS: Final = frozenset({"tFlow", "tFlowDisconnect", "tFlowExit", "oFlowMilestone"})
OUTCOME_METRICS: Final = frozenset({"nFlowOutcome", "nFlowOutcomeFailed", "tFlowOutcome"})
MILESTONE_METRICS: Final = frozenset({"nFlowMilestone", "oFlowMilestone"})


@dataclass(frozen=True, slots=True)
class Spread:
    """A dimension's values per flow: `low` to `high` usually, `why` in words when it varies;
    or, with `per`, one per such thing, which nothing in the flow bounds. `carried_by`: the
    metrics whose groups have it (None: every metric; the others land in one group without
    it). `same`: dimensions naming the same thing count once (flowId and flowName)."""

    low: int = 1
    high: int = 1
    why: str = ""
    per: str = ""
    carried_by: frozenset[str] | None = None
    same: str = ""

    def words(self) -> str:
        if self.per:
            return f"one per {self.per}, unbounded: cap it with a filter"
        return self.why


FLOW_LEVEL: Final = Spread()
_OUTCOME: Final = Spread(1, 100, "up to 100 outcomes", carried_by=OUTCOME_METRICS, same="outcome")

# Typical values per flow of the dimensions check-config can estimate: the one table of them.
# The flow-level ones are one per flow; the KPI dimensions take the values Genesys names (see
# the README's KPIs section).
SPREADS: Final[dict[str, Spread]] = {
    "flowId": Spread(same="flow"),
    "flowName": Spread(same="flow"),
    "flowType": FLOW_LEVEL,
    "flowSubType": FLOW_LEVEL,
    "mediaType": FLOW_LEVEL,
    "divisionId": FLOW_LEVEL,
    "flowVersion": Spread(1, 2, "1 live version, 2 while a publish's old version finishes"),
    "selfServed": Spread(2, 2, carried_by=END_METRICS),
    "disconnectType": Spread(4, 4, carried_by=END_METRICS),
    "exitReason": Spread(5, 5, carried_by=END_METRICS),
    "transferType": Spread(4, 4, carried_by=END_METRICS),
    "transferTargetName": Spread(per="transfer target", carried_by=END_METRICS),
    "recognitionFailureReason": Spread(4, 4, carried_by=END_METRICS),
    "flowOutcomeId": _OUTCOME,
    "flowOutcome": _OUTCOME,
    "flowOutcomeValue": Spread(per="value the flow sets", carried_by=OUTCOME_METRICS),
    "flowMilestoneId": Spread(
        1, 100, "up to 100 milestones", carried_by=MILESTONE_METRICS, same="milestone"
    ),
}
# A query grouped by neither has its series for the whole org, not per flow.
FLOW_DIMENSIONS: Final = ("flowId", "flowName")
_STATS: Final = {"count": 1, "sum": 1, "max": 1, "min": 1}
_OBSERVED_AT: Final = "2026-01-01T00:00:00.000Z"


def series_per_group(query: QueryConfig) -> int:
    """The series one group of the query's answer makes: each metric's and view's families."""
    if query.type == "observation":
        entry: dict[str, object] = {"metric": "oFlow", "stats": _STATS}
        if query.details:
            entry["observations"] = [{"observationDate": _OBSERVED_AT}]
        body = {"results": [{"group": {}, "data": [entry]}]}
        observed = decode("observation", json.dumps(body).encode())
        assert isinstance(observed, ObservationResponse)
        return series_count(normalize_observation(query.name, observed, 0.0))
    bucket: dict[str, object] = {
        "metrics": [{"metric": m, "stats": _STATS} for m in query.metrics],
        "views": [{"name": v.name, "stats": _STATS} for v in query.views],
    }
    body = {"results": [{"group": {}, "data": [bucket]}]}
    response = decode("aggregate", json.dumps(body).encode())
    assert isinstance(response, AggregateResponse)
    spec = counter_spec(query)
    if spec is None:
        return series_count(normalize_aggregate(query.name, response))
    return series_count(normalize_counter(query.name, response, spec))


def _groups(metric: str, group_by: tuple[str, ...]) -> tuple[int, int]:
    """The groups per flow (fewest, most) of `metric`'s answer grouped by `group_by`."""
    low = high = 1
    counted: set[str] = set()
    for dimension in group_by:
        spread = SPREADS.get(dimension, FLOW_LEVEL)
        if spread.carried_by is not None and metric not in spread.carried_by:
            continue
        if spread.same:
            if spread.same in counted:
                continue
            counted.add(spread.same)
        low, high = low * spread.low, high * spread.high
    return low, high


def expected(query: QueryConfig) -> tuple[int, int]:
    """The query's series per flow (fewest, most), each metric (with its views) times the
    groups of the dimensions it carries."""
    if query.type == "observation":
        per_group = series_per_group(query)
        return per_group, per_group
    low = high = 0
    for metric in query.metrics:
        views = tuple(v for v in query.views if v.target == metric)
        one = dataclasses.replace(query, metrics=(metric,), views=views)
        per_group = series_per_group(one)
        fewest, most = _groups(metric, query.group_by)
        low, high = low + per_group * fewest, high + per_group * most
    return low, high


def expected_series(query: QueryConfig) -> str:
    """One line of check-config: the query's expected series per flow, and what grows them."""
    low, high = expected(query)
    notes: list[str] = []
    unknown: list[str] = []
    per: list[str] = []
    said: set[str] = set()
    for dimension in query.group_by:
        spread = SPREADS.get(dimension)
        if spread is None:
            unknown.append(dimension)
            continue
        if spread.same and spread.same in said:
            continue  # flowOutcome beside flowOutcomeId: the same outcomes, said once
        said.add(spread.same)
        if spread.words():
            notes.append(f"{dimension}: {spread.words()}")
        if spread.per:
            per.append(spread.per)
    count = f"about {low}" if low == high else f"about {low} to {high}"
    if query.type == "observation" or any(d in query.group_by for d in FLOW_DIMENSIONS):
        text = f"{count} series per {' and '.join(['flow', *per])}"
    else:
        text = f"{count} series in all, not split by flow"
        if per:
            text += f", per {' and '.join(per)}"
    if unknown:
        notes.append(f"times the values of {', '.join(unknown)}, not estimated")
    if notes:
        text += f" ({'; '.join(notes)})"
    return f"{query.name}: {text}"
