"""Which queries push can feed, which of their metrics, and why not the rest. Pure.

The two flow topics publish, per flow and interval, what an aggregate query with that interval as
its granularity would return for their groups and metrics (shared/genesys-api.md §11):
- `v2.analytics.flow.{id}.aggregates`: group {flowId, mediaType}; nFlow, tFlow, tFlowDisconnect,
  tFlowExit;
- `v2.analytics.flowoutcome.{id}.aggregates`: group {flowId, flowOutcomeId, mediaType};
  nFlowOutcome, nFlowOutcomeFailed, tFlowOutcome.
A query's series can be rebuilt from them when its series are sums of those groups over the
topic's intervals: an aggregate query counting since a boundary that falls on an interval
boundary (counter mode, `window: today`), grouped by a subset of the topic's dimensions (flowName
and flowType come from the names listing), filtered on mediaType alone. A timer with views is
left to the polls: the topics carry no view, and a histogram whose count moved without its
buckets would mislead every quantile read from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from poller.config.model import DAY_SECONDS, PushSettings, QueryConfig

TopicKind = Literal["flow", "flowoutcome"]

TOPIC_METRICS: Final[dict[TopicKind, frozenset[str]]] = {
    "flow": frozenset({"nFlow", "tFlow", "tFlowDisconnect", "tFlowExit"}),
    "flowoutcome": frozenset({"nFlowOutcome", "nFlowOutcomeFailed", "tFlowOutcome"}),
}
# Dimensions a topic's group carries, and those the names listing adds to it.
TOPIC_GROUPS: Final[dict[TopicKind, frozenset[str]]] = {
    "flow": frozenset({"flowId", "mediaType"}),
    "flowoutcome": frozenset({"flowId", "flowOutcomeId", "mediaType"}),
}
NAMED: Final = frozenset({"flowName", "flowType"})


@dataclass(frozen=True, slots=True)
class PushFeed:
    """What push feeds of one query: its metrics per topic kind, the media types its filter
    keeps (None: all), and why each metric it does not feed is left to the polls."""

    query: str
    metrics: tuple[tuple[TopicKind, tuple[str, ...]], ...] = ()
    media: frozenset[str] | None = None
    not_fed: tuple[tuple[str, str], ...] = ()  # (metric, or "" for the whole query; why)

    @property
    def fed(self) -> bool:
        return bool(self.metrics)

    def kinds(self) -> tuple[TopicKind, ...]:
        return tuple(kind for kind, _ in self.metrics)

    def fed_metrics(self) -> frozenset[str]:
        return frozenset(m for _, metrics in self.metrics for m in metrics)


def feed_of(query: QueryConfig, push: PushSettings) -> PushFeed:
    """What push can feed of `query` when push delivers intervals of `push.interval` seconds."""
    whole = _whole_query_reason(query, push.interval)
    if whole is not None:
        return PushFeed(query.name, not_fed=(("", whole),))
    media = _media(query.filter)
    if isinstance(media, str):
        return PushFeed(query.name, not_fed=(("", media),))
    with_views = {view.target for view in query.views}
    by_kind: dict[TopicKind, list[str]] = {}
    not_fed: list[tuple[str, str]] = []
    for metric in query.metrics:
        kind = next((k for k, carried in TOPIC_METRICS.items() if metric in carried), None)
        if kind is None:
            not_fed.append((metric, "no push topic carries it"))
            continue
        extra = sorted(set(query.group_by) - TOPIC_GROUPS[kind] - NAMED)
        if extra:
            not_fed.append((metric, f"its topic has no {', '.join(extra)} to group by"))
        elif metric in with_views:
            not_fed.append((metric, "it has views, which no topic carries (the polls keep them)"))
        else:
            by_kind.setdefault(kind, []).append(metric)
    metrics = tuple((kind, tuple(names)) for kind, names in by_kind.items())
    return PushFeed(query.name, metrics, media, tuple(not_fed))


def _whole_query_reason(query: QueryConfig, interval: float) -> str | None:
    """Why push can feed none of the query's metrics, or None."""
    if query.type != "aggregate":
        return "observations have no push topic"
    if query.mode != "counter" and not query.window.today:
        return "a sliding window does not start on an interval boundary"
    if query.mode != "counter" and query.delay:
        return "a delayed window waits for settled data, push brings the newest"
    period = query.period if query.mode == "counter" else DAY_SECONDS
    if period < DAY_SECONDS and period % interval:
        return f"its period is not a whole number of {_minutes(interval)} intervals"
    if not _aligned(ZoneInfo(query.time_zone), interval):
        return f"midnight in {query.time_zone} is not on a {_minutes(interval)} boundary in UTC"
    return None


def _aligned(zone: ZoneInfo, interval: float) -> bool:
    """Whether the zone's UTC offset is a whole number of intervals in winter and in summer (of
    a fixed year: zones change their offsets too rarely to make this depend on the clock)."""
    for month in (1, 7):
        offset = datetime(2026, month, 1, tzinfo=zone).utcoffset()
        if offset is not None and offset.total_seconds() % interval:
            return False
    return True


def _media(spec: Any) -> frozenset[str] | str | None:
    """The media types a filter keeps (None: no filter), or why push cannot apply it."""
    if spec is None:
        return None
    if spec.get("clauses"):
        return "its filter has clauses; push applies a filter on mediaType alone"
    predicates = spec.get("predicates") or []
    values: set[str] = set()
    for predicate in predicates:
        dimension = predicate.get("dimension")
        if dimension != "mediaType" or predicate.get("operator", "matches") != "matches":
            return f"its filter is on {dimension}; push applies a filter on mediaType alone"
        values.add(str(predicate.get("value")))
    if spec.get("type") == "and" and len(values) > 1:
        return frozenset()
    return frozenset(values)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g}-minute"


def report(queries: Sequence[QueryConfig], push: PushSettings) -> list[str]:
    """check-config's lines on push for one org (none with push off): what it feeds of each
    query, and why not the rest."""
    if not push.enabled:
        return []
    lines = [
        f"Push: on, {_minutes(push.interval)} intervals, up to {push.max_channels} channel(s) of "
        "the 20 Genesys allows the OAuth client (1,000 topics each, 2 per flow); channel calls "
        "take about 2 requests at start and after each reconnect, 1 per channel every 12h. "
        "The topics need analytics:flowAggregate:view (assumed: Genesys does not document it). "
        "Queries push feeds are polled with that interval as their granularity; polls stay the "
        "exact backstop:"
    ]
    for query in queries:
        feed = feed_of(query, push)
        whole = [why for metric, why in feed.not_fed if not metric]
        if whole:
            lines.append(f"  {query.name}: polled only ({whole[0]})")
            continue
        fed = ", ".join(m for _, metrics in feed.metrics for m in metrics)
        reasons: dict[str, list[str]] = {}
        for metric, why in feed.not_fed:
            reasons.setdefault(why, []).append(metric)
        rest = "; ".join(f"not {', '.join(metrics)}: {why}" for why, metrics in reasons.items())
        if feed.fed:
            lines.append(f"  {query.name}: push feeds {fed}" + (f"; {rest}" if rest else ""))
        else:
            lines.append(f"  {query.name}: polled only ({rest})")
    return lines
