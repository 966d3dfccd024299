"""Decoded Genesys analytics responses -> samples. Pure: no I/O, no clock, no logging (the
time of the poll, which execution ages need, is an argument).

A response becomes a `Snapshot`: families (name, HELP, whether a missing series is held at 0)
and, per family, a mapping from label tuples to values. Several buckets for the same group
(a response with `granularity`) are merged into one value for the whole window: counts and sums
add up, max and min take the extreme.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from poller.config.model import QueryConfig
from poller.errors import NormalizeError
from poller.families import (
    MS_PER_SECOND,
    OBSERVATIONS_TRUNCATED,
    OLDEST_EXECUTION_AGE,
    Family,
    TimerFamilies,
    count_family,
    counter_families,
    distribution_family,
    extreme_families,
    metric,
    occurrence_families,
    snake_case,
    timer_families,
    view_families,
)
from poller.responses import (
    AggregateResponse,
    Bucket,
    GroupValue,
    MetricEntry,
    ObservationEntry,
    ObservationResponse,
    Scalar,
    Stats,
)
from poller.scope import Labels as Labels
from poller.scope import series_labels

# A histogram's or summary's samples: (suffix such as _bucket, labels, value), in order.
Samples = list[tuple[str, Labels, float]]


@dataclass(frozen=True, slots=True)
class Snapshot:
    families: dict[str, Family]
    values: dict[str, dict[Labels, float]]
    # Histogram and summary families (counter mode), whose samples have names of their own.
    samples: dict[str, Samples] = field(default_factory=dict)


# `le` and `quantile` belong to histograms and summaries; promtool rejects them on a gauge.
_RESERVED_LABELS = frozenset({"org", "query", "qualifier", "le", "quantile"})


def _label_name(dimension: str) -> str:
    name = snake_case(dimension)
    # A group key must never overwrite our own labels or use the reserved `__` prefix.
    if name in _RESERVED_LABELS or name.startswith("__"):
        name = "group_" + name.lstrip("_")
    return name


def _label_value(value: GroupValue) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list):
        # Multi-valued dimensions, as flattenMultivaluedDimensions would send them.
        return ",".join(_label_value(v) for v in value)
    return str(value)


@functools.lru_cache(maxsize=1024)
def _label_plan(keys: tuple[str, ...]) -> tuple[tuple[str, str], ...] | str:
    """(label name, group key) in label order for a group with these keys, or what is wrong
    when two keys would become one label. Cached: every result of a response has the same keys."""
    names: dict[str, str] = {}
    for key in keys:
        name = _label_name(key)
        other = names.setdefault(name, key)
        if other != key:
            # Two labels with one name make the whole exposition unparseable.
            return f"keys {other!r} and {key!r} both become label {name}"
    return tuple(sorted(names.items()))


def _group_labels(query: Labels, group: dict[str, GroupValue] | None, where: str) -> Labels:
    """The labels of a result: the query label, then its group's, sorted by name."""
    if not group:
        return query
    plan = _label_plan(tuple(group))
    if isinstance(plan, str):
        raise NormalizeError(f"{where}.group: {plan}")
    return query + tuple((name, _label_value(group[key])) for name, key in plan)


def _with_qualifier(labels: Labels, qualifier: Scalar) -> Labels:
    if qualifier is None or qualifier == "":
        return labels
    return (*labels, ("qualifier", _label_value(qualifier)))


class _Builder:
    """Accumulates samples for one snapshot; families are created on first use."""

    def __init__(self) -> None:
        self.families: dict[str, Family] = {}
        self.values: dict[str, dict[Labels, float]] = {}
        # Families in milliseconds, divided once at the end: summing milliseconds and dividing
        # the total keeps whole-ms sums exact (8123.456 + 5532.11 != 13655.566 in floats).
        self.in_ms: set[str] = set()

    def add(self, family: Family, labels: Labels, value: float) -> None:
        series = self.values.get(family.name)
        if series is None:
            self.families[family.name] = family
            series = self.values[family.name] = {}
        old = series.get(labels)
        if old is None:
            series[labels] = value
        elif family.merge == "sum":
            series[labels] = old + value
        elif family.merge == "max":
            series[labels] = max(old, value)
        else:
            series[labels] = min(old, value)

    def add_stats(self, families: TimerFamilies, labels: Labels, stats: Stats | None) -> None:
        if stats is None:
            return
        for key, family, is_ms in families:
            value = getattr(stats, key)
            if value is not None:
                self.add(family, labels, value)
                if is_ms:
                    self.in_ms.add(family.name)

    def add_occurrences(
        self, families: tuple[Family, Family], labels: Labels, stats: Stats | None
    ) -> None:
        """oFlowMilestone's (times, executions) families from one bucket's stats."""
        if stats is None:
            return
        times, runs = families
        # Each bucket on its own: a bucket without a sum still counts its executions' occurrences.
        occurred = stats.count if stats.sum is None else stats.sum
        if occurred is not None:
            self.add(times, labels, occurred)
        if stats.count is not None:
            self.add(runs, labels, stats.count)

    def add_metric(self, labels: Labels, entry: MetricEntry) -> None:
        if entry.qualifier is not None:
            labels = _with_qualifier(labels, entry.qualifier)
        kind = metric(entry.metric).kind
        if kind == "timer":
            self.add_stats(timer_families(entry.metric), labels, entry.stats)
        elif kind == "occurrences":
            self.add_occurrences(occurrence_families(entry.metric), labels, entry.stats)
        elif entry.stats is not None and entry.stats.count is not None:
            self.add(count_family(entry.metric), labels, entry.stats.count)

    def snapshot(self) -> Snapshot:
        for name in self.in_ms:
            series = self.values[name]
            for labels, value in series.items():
                series[labels] = value / MS_PER_SECOND
        return Snapshot(self.families, self.values)


def _buckets(query: str, org: str, response: AggregateResponse) -> Iterator[tuple[Labels, Bucket]]:
    """Every bucket of an aggregate response, with its result's labels."""
    base = series_labels(org, query)
    for i, result in enumerate(response.results or ()):
        labels = _group_labels(base, result.group, f"results[{i}]")
        for bucket in result.data or ():
            yield labels, bucket


def normalize_aggregate(query: str, response: AggregateResponse, org: str = "") -> Snapshot:
    """A FlowAggregateQueryResponse -> samples, all buckets merged over the window; `org`
    names the org whose series these are (none for a config without `orgs:`)."""
    out = _Builder()
    for labels, bucket in _buckets(query, org, response):
        for entry in bucket.metrics or ():
            out.add_metric(labels, entry)
        for view in bucket.views or ():
            out.add_stats(view_families(view.name), labels, view.stats)
    return out.snapshot()


def normalize_observation(
    query: str, response: ObservationResponse, now: float, org: str = ""
) -> Snapshot:
    """A FlowObservationQueryResponse, as answered at `now` (Unix seconds) -> samples. Counts
    come from stats.count, never from the observations list, which the API truncates."""
    out = _Builder()
    for i, result in enumerate(response.results or ()):
        where = f"results[{i}]"
        labels = _group_labels(series_labels(org, query), result.group, where)
        for j, entry in enumerate(result.data or ()):
            out.add_metric(labels, entry)
            if entry.observations is not None:
                _add_details(out, labels, entry, now, f"{where}.data[{j}]")
    return out.snapshot()


def _add_details(
    out: _Builder, labels: Labels, entry: ObservationEntry, now: float, where: str
) -> None:
    """The age of the oldest execution listed, and whether the list was cut."""
    if entry.qualifier is not None:
        labels = _with_qualifier(labels, entry.qualifier)
    out.add(OBSERVATIONS_TRUNCATED, labels, 1.0 if entry.truncated else 0.0)
    oldest: float | None = None
    for k, observation in enumerate(entry.observations or ()):
        started = _timestamp(observation.date, f"{where}.observations[{k}].observationDate")
        if oldest is None or started < oldest:
            oldest = started
    if oldest is not None:
        # An entry a little after `now` is clock skew between Genesys and us, not a negative age.
        # Rounded to the milliseconds observationDate has; float seconds add noise below that.
        out.add(OLDEST_EXECUTION_AGE, labels, round(max(now - oldest, 0.0), 3))


def _timestamp(text: str, where: str) -> float:
    """Unix seconds of an ISO-8601 date-time with its offset (`...T09:41:07.512Z`)."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        shown = repr(text if len(text) <= 40 else text[:37] + "...")
        raise NormalizeError(f"{where}: expected an ISO-8601 date-time with a zone, got {shown}")
    return parsed.timestamp()


# -- counter mode -----------------------------------------------------------------------------

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
        self.counts = _Builder()
        # (metric or view, is view) -> labels -> accumulated stats
        self.timers: dict[tuple[str, bool], dict[Labels, _Acc]] = {}

    def timer(self, key: tuple[str, bool], labels: Labels, stats: Stats | None) -> None:
        if stats is not None:
            self.timers.setdefault(key, {}).setdefault(labels, _Acc()).add(stats)

    def add_metric(self, labels: Labels, entry: MetricEntry) -> None:
        if entry.qualifier is not None:
            labels = _with_qualifier(labels, entry.qualifier)
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
    for labels, bucket in _buckets(query, org, response):
        for entry in bucket.metrics or ():
            out.add_metric(labels, entry)
        for view in bucket.views or ():
            out.timer((view.name, True), labels, view.stats)
    return out.snapshot()
