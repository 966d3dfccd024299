"""Counter mode: a calendar period's aggregate response -> counters since the period began,
histograms or summaries of its timers, and their max/min gauges. Pure, like the normalizer.

A counter-mode query asks Genesys for the whole period so far at every poll; the totals it gets
only grow until the period closes and settles, so they are exported as counters (Prometheus'
increase() and rate() take the restart at a new period as a reset).
"""

from __future__ import annotations

from dataclasses import dataclass

from poller.config.model import QueryConfig
from poller.families import (
    MS_PER_SECOND,
    counter_families,
    distribution_family,
    extreme_families,
    metric,
)
from poller.normalize import (
    Samples,
    SeriesBuilder,
    Snapshot,
    aggregate_buckets,
    with_qualifier,
)
from poller.responses import AggregateResponse, MetricEntry, Stats
from poller.scope import Labels

# A histogram's buckets: (view name, upper bound in milliseconds), by bound.
Buckets = tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class CounterPlan:
    """What a counter-mode query's series are: the timers that become histograms (with their
    `lt`-only views as buckets); every other timer and view becomes a summary."""

    histograms: tuple[tuple[str, Buckets], ...] = ()

    def buckets(self, metric: str) -> Buckets | None:
        return next((b for m, b in self.histograms if m == metric), None)


def counter_plan(query: QueryConfig) -> CounterPlan | None:
    """The plan of a counter-mode query, None in gauge mode."""
    if query.mode != "counter":
        return None
    by_target: dict[str, list[tuple[str, float | None, float | None]]] = {}
    for view in query.views:
        by_target.setdefault(view.target, []).append((view.name, view.gte, view.lt))
    histograms = []
    for target, views in by_target.items():
        bounds = [lt for _, gte, lt in views if gte is None and lt is not None]
        if len(bounds) == len(views) and len(set(bounds)) == len(bounds):
            # Every view of the target is `lt`-only, with distinct bounds: buckets, in order.
            buckets = sorted(
                ((name, lt) for name, _, lt in views if lt is not None), key=lambda b: b[1]
            )
            histograms.append((target, tuple(buckets)))
    return CounterPlan(tuple(histograms))


@dataclass(slots=True)
class _Acc:
    count: float = 0.0
    sum: float = 0.0
    max: float | None = None
    min: float | None = None

    def add(self, stats: Stats) -> None:
        self.count += stats.count or 0.0
        if stats.sum is not None:
            self.sum += stats.sum
        if stats.max is not None:
            self.max = stats.max if self.max is None else max(self.max, stats.max)
        if stats.min is not None:
            self.min = stats.min if self.min is None else min(self.min, stats.min)


class _CounterBuilder:
    def __init__(self, plan: CounterPlan) -> None:
        self.plan = plan
        self.counts = SeriesBuilder()
        # (metric or view, is view) -> labels -> accumulated stats
        self.timers: dict[tuple[str, bool], dict[Labels, _Acc]] = {}

    def timer(self, key: tuple[str, bool], labels: Labels, stats: Stats | None) -> None:
        if stats is not None:
            self.timers.setdefault(key, {}).setdefault(labels, _Acc()).add(stats)

    def add_metric(self, labels: Labels, entry: MetricEntry) -> None:
        if entry.qualifier is not None:
            labels = with_qualifier(labels, entry.qualifier)
        stats = entry.stats
        kind = metric(entry.metric).kind
        if kind == "timer":
            self.timer((entry.metric, False), labels, stats)
        elif stats is None:
            return
        elif kind == "occurrences":
            times, runs = counter_families(entry.metric)
            self.counts.add_occurrences((times, runs), labels, stats)
        elif stats.count is not None:
            self.counts.add(counter_families(entry.metric)[0], labels, stats.count)

    def snapshot(self) -> Snapshot:
        out = self.counts.snapshot()
        bucketed = {view for _, buckets in self.plan.histograms for view, _ in buckets}
        views = {k[0]: v for k, v in self.timers.items() if k[1]}
        for (name, is_view), series in self.timers.items():
            if is_view and name in bucketed:
                continue
            buckets = None if is_view else self.plan.buckets(name)
            family = distribution_family(name, view=is_view, histogram=buckets is not None)
            highest, lowest = extreme_families(name, view=is_view)
            samples: Samples = []
            for labels, acc in series.items():
                if buckets is not None:
                    for view, bound in buckets:
                        got = views.get(view, {}).get(labels)
                        le = (("le", _bound(bound / MS_PER_SECOND)),)
                        samples.append(("_bucket", labels + le, got.count if got else 0.0))
                    samples.append(("_bucket", (*labels, ("le", "+Inf")), acc.count))
                samples.append(("_sum", labels, acc.sum / MS_PER_SECOND))
                samples.append(("_count", labels, acc.count))
                for extreme, value in ((highest, acc.max), (lowest, acc.min)):
                    if value is not None:
                        out.families[extreme.name] = extreme
                        out.values.setdefault(extreme.name, {})[labels] = value / MS_PER_SECOND
            out.families[family.name] = family
            out.samples[family.name] = samples
        return out


def _bound(seconds: float) -> str:
    return str(int(seconds)) if seconds.is_integer() else repr(seconds)


def normalize_counter(
    query: str, response: AggregateResponse, plan: CounterPlan, org: str = ""
) -> Snapshot:
    """A counter-mode query's FlowAggregateQueryResponse (one calendar period) -> counters,
    histograms and summaries over the period, and max/min gauges."""
    out = _CounterBuilder(plan)
    for labels, bucket in aggregate_buckets(query, org, response):
        for entry in bucket.metrics or ():
            out.add_metric(labels, entry)
        for view in bucket.views or ():
            out.timer((view.name, True), labels, view.stats)
    return out.snapshot()
