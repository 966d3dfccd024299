"""What the flow topics publish: the figures of the current interval (and, just after a
boundary, of the previous one) per topic and group, from the engine's aggregate answer for that
interval and granularity, and which of them a channel has not been sent yet.

The figures are an aggregate query's answer (`Engine.aggregate`, the code behind the query
endpoint): bounds = the UTC-aligned intervals, granularity = the interval, grouped by the
topics' dimensions, restricted to the subscribed flows. So a running-total message equals what
the query endpoint answers for that interval at that moment.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from poller.simulator.engine import COUNT_METRICS, Engine
from poller.simulator.notifications import TopicKind, topic_name
from poller.simulator.query import AggregateQuery
from poller.simulator.timeparse import format_interval

FLOW_METRICS: tuple[str, ...] = ("nFlow", "tFlow", "tFlowDisconnect", "tFlowExit")
OUTCOME_METRICS: tuple[str, ...] = ("nFlowOutcome", "nFlowOutcomeFailed", "tFlowOutcome")
# The flow topic's groups are (flowId, mediaType), the outcome topic's these.
OUTCOME_GROUP_BY: tuple[str, ...] = ("flowId", "flowOutcomeId", "mediaType")
MIN_GAP = 1.0  # seconds between two sends of one topic on one channel
# How long after a boundary the previous interval is still published when it changes: its
# records become visible `lag` after they happen.
PREVIOUS_SLACK = 10.0

Stats = dict[str, Any]
Metrics = dict[str, Stats]  # metric -> stats, as the query answers them
GroupKey = tuple[tuple[str, str], ...]
# topic -> group -> interval -> metrics
Figures = dict[str, dict[GroupKey, dict[str, Metrics]]]


def intervals(now: float, interval: float, lag: float) -> tuple[int, ...]:
    """The bounds (epoch ms) of the intervals published at `now`: the current one, and the
    previous one until `lag` + PREVIOUS_SLACK after the boundary."""
    size = round(interval * 1000)
    now_ms = round(now * 1000)
    start = now_ms // size * size
    if now_ms - start < (lag + PREVIOUS_SLACK) * 1000:
        return (start - size, start, start + size)
    return (start, start + size)


def figures(
    engine: Engine, flow_ids: Iterable[str], bounds: tuple[int, ...], now: float
) -> Figures:
    """Both topics' figures at `now` for the flows `flow_ids`, per topic, group and interval.

    One query answers both: grouped by the outcome topic's dimensions, the flow topic's metrics
    (which carry no `flowOutcomeId`) come back in groups without it, exactly as a query grouped
    by `flowId` and `mediaType` alone answers them; so each record is read once, not twice.
    """
    query = AggregateQuery(
        bounds=bounds, metrics=FLOW_METRICS + OUTCOME_METRICS, group_by=OUTCOME_GROUP_BY
    )
    answer = engine.aggregate(query, round(now * 1000), flow_ids)
    out: Figures = {}
    for result in answer.get("results", []):
        group = result["group"]
        kind: TopicKind = "flowoutcome" if "flowOutcomeId" in group else "flow"
        topic = topic_name(kind, group["flowId"])
        per_interval = out.setdefault(topic, {}).setdefault(tuple(sorted(group.items())), {})
        for item in result["data"]:
            metrics = {m["metric"]: m["stats"] for m in item.get("metrics", [])}
            if metrics:
                per_interval[item["interval"]] = metrics
    return out


def interval_names(bounds: tuple[int, ...]) -> set[str]:
    return {format_interval(lo, hi) for lo, hi in itertools.pairwise(bounds)}


@dataclass
class Sent:
    """What one channel was last sent, per topic: the figures, and when."""

    figures: Figures = field(default_factory=dict)
    at: dict[str, float] = field(default_factory=dict)

    def forget(self, keep_topics: set[str], keep_intervals: set[str]) -> None:
        """Drop topics no longer subscribed (a new subscription starts from scratch) and
        intervals no longer published."""
        for topic in list(self.figures):
            if topic not in keep_topics:
                del self.figures[topic]
                self.at.pop(topic, None)
                continue
            for by_interval in self.figures[topic].values():
                for name in list(by_interval):
                    if name not in keep_intervals:
                        del by_interval[name]


def messages(
    current: Figures, topics: Iterable[str], sent: Sent, now: float, *, deltas: bool
) -> list[dict[str, Any]]:
    """The messages a channel subscribed to `topics` is due: one per (topic, group) whose figures
    changed since its last message, holding the intervals that changed, for topics last sent
    at least MIN_GAP ago. Marks them sent."""
    out: list[dict[str, Any]] = []
    for topic in topics:
        groups = current.get(topic)
        if not groups or now - sent.at.get(topic, float("-inf")) < MIN_GAP:
            continue
        before = sent.figures.setdefault(topic, {})
        due = False
        for group, by_interval in groups.items():
            previous = before.setdefault(group, {})
            data = []
            for name, metrics in sorted(by_interval.items()):
                last = previous.get(name)
                if last == metrics:
                    continue
                shown = _delta(metrics, last or {}) if deltas else metrics
                data.append(
                    {
                        "interval": name,
                        "metrics": [{"metric": m, "stats": s} for m, s in shown.items()],
                    }
                )
                previous[name] = metrics
            if data:
                out.append(message(topic, dict(group), data))
                due = True
        if due:
            sent.at[topic] = now
    return out


def _delta(metrics: Metrics, last: Metrics) -> Metrics:
    """The change since `last`: counts and sums subtracted; min and max are the interval's so
    far (an extreme has no difference). Metrics that did not change are left out."""
    out: Metrics = {}
    for name, stats in metrics.items():
        old = last.get(name)
        if old == stats:
            continue
        if old is None:
            out[name] = dict(stats)
            continue
        changed = {"count": stats["count"] - old["count"]}
        if name not in COUNT_METRICS:
            changed = {
                "max": stats["max"],
                "min": stats["min"],
                "count": stats["count"] - old["count"],
                "sum": stats["sum"] - old["sum"],
            }
        out[name] = changed
    return out


def message(topic: str, group: dict[str, str], data: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "topicName": topic,
        "version": "2",
        "eventBody": {"group": group, "data": data},
        "metadata": {"CorrelationId": str(uuid.uuid4())},
    }
