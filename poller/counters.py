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
    Family,
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
class CounterSpec:
    """What a counter-mode query's series are: the timers that become histograms (with their
    `lt`-only views as buckets); every other timer and view becomes a summary."""

    histograms: tuple[tuple[str, Buckets], ...] = ()

    def buckets(self, metric: str) -> Buckets | None:
        """The buckets of `metric` if it is a histogram."""
        return next((b for m, b in self.histograms if m == metric), None)

    def bucket_views(self) -> frozenset[str]:
        """The views that are some histogram's buckets."""
        return frozenset(view for _, buckets in self.histograms for view, _ in buckets)


def counter_spec(query: QueryConfig) -> CounterSpec | None:
    """The spec of a counter-mode query's series, None in gauge mode."""
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
    return CounterSpec(tuple(histograms))


@dataclass(slots=True)
class _Totals:
    """A timer's or view's stats for one series, summed over the buckets of the period."""

    count: float = 0.0
    sum: float = 0.0  # milliseconds
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


# Name of a timer metric or a view -> labels -> its totals for that series.
_Timers = dict[str, dict[Labels, _Totals]]


class _CounterBuilder:
    """Accumulates one counter-mode response: counts and occurrences go straight to counters;
    timers and views are totalled per series first, and become families at the end."""

    def __init__(self, spec: CounterSpec) -> None:
        self.spec = spec
        self.counts = SeriesBuilder()
        self.timers: _Timers = {}
        self.views: _Timers = {}

    def add_metric(self, labels: Labels, entry: MetricEntry) -> None:
        if entry.qualifier is not None:
            labels = with_qualifier(labels, entry.qualifier)
        stats = entry.stats
        kind = metric(entry.metric).kind
        if kind == "timer":
            _total(self.timers, entry.metric, labels, stats)
        elif stats is None:
            return
        elif kind == "occurrences":
            times, runs = counter_families(entry.metric)
            self.counts.add_occurrences((times, runs), labels, stats)
        elif stats.count is not None:
            self.counts.add(counter_families(entry.metric)[0], labels, stats.count)

    def add_view(self, labels: Labels, name: str, stats: Stats | None) -> None:
        _total(self.views, name, labels, stats)

    def snapshot(self) -> Snapshot:
        """The counters, and for each timer and view its distribution and max/min gauges.

        A timer with buckets in the spec is a histogram: its bucket views are read as the
        counts under each bound and make no family of their own. Every other timer, and every
        other view, is a summary (_sum and _count only)."""
        out = self.counts.snapshot()
        for name, series in self.timers.items():
            buckets = self.spec.buckets(name)
            family = distribution_family(name, view=False, histogram=buckets is not None)
            if buckets is None:
                _add(out, family, _summary(series))
            else:
                _add(out, family, _histogram(series, buckets, self.views))
            _add_extremes(out, extreme_families(name, view=False), series)
        bucket_views = self.spec.bucket_views()
        for name, series in self.views.items():
            if name not in bucket_views:
                _add(out, distribution_family(name, view=True, histogram=False), _summary(series))
                _add_extremes(out, extreme_families(name, view=True), series)
        return out


def _total(timers: _Timers, name: str, labels: Labels, stats: Stats | None) -> None:
    if stats is not None:
        timers.setdefault(name, {}).setdefault(labels, _Totals()).add(stats)


def _summary(series: dict[Labels, _Totals]) -> Samples:
    """Per series: _sum (in seconds) and _count."""
    samples: Samples = []
    for labels, totals in series.items():
        samples.append(("_sum", labels, totals.sum / MS_PER_SECOND))
        samples.append(("_count", labels, totals.count))
    return samples


def _histogram(series: dict[Labels, _Totals], buckets: Buckets, views: _Timers) -> Samples:
    """Per series: a _bucket per bound, the count of its view (Genesys leaves out a view with
    no data: 0), the +Inf bucket (the timer's own count), then _sum and _count."""
    bounds = [(view, _seconds(bound / MS_PER_SECOND)) for view, bound in buckets]
    samples: Samples = []
    for labels, totals in series.items():
        for view, le in bounds:
            under = views.get(view, {}).get(labels)
            samples.append(("_bucket", (*labels, ("le", le)), under.count if under else 0.0))
        samples.append(("_bucket", (*labels, ("le", "+Inf")), totals.count))
        samples.append(("_sum", labels, totals.sum / MS_PER_SECOND))
        samples.append(("_count", labels, totals.count))
    return samples


def _add(out: Snapshot, family: Family, samples: Samples) -> None:
    out.families[family.name] = family
    out.samples[family.name] = samples


def _add_extremes(
    out: Snapshot, families: tuple[Family, Family], series: dict[Labels, _Totals]
) -> None:
    """The longest and shortest time of each series, as gauges, for the series that have one."""
    longest, shortest = families
    for family, values in (
        (longest, {labels: t.max for labels, t in series.items() if t.max is not None}),
        (shortest, {labels: t.min for labels, t in series.items() if t.min is not None}),
    ):
        if values:
            out.families[family.name] = family
            gauges = out.values.setdefault(family.name, {})
            for labels, value in values.items():
                gauges[labels] = value / MS_PER_SECOND


def _seconds(value: float) -> str:
    """An `le` label value: 30 for a whole number of seconds, else the float (0.5)."""
    return str(int(value)) if value.is_integer() else repr(value)


def normalize_counter(
    query: str, response: AggregateResponse, spec: CounterSpec, org: str = ""
) -> Snapshot:
    """A counter-mode query's FlowAggregateQueryResponse (one calendar period) -> counters,
    histograms and summaries over the period, and max/min gauges."""
    out = _CounterBuilder(spec)
    for labels, bucket in aggregate_buckets(query, org, response):
        for entry in bucket.metrics or ():
            out.add_metric(labels, entry)
        for view in bucket.views or ():
            out.add_view(labels, view.name, view.stats)
    return out.snapshot()
