"""Decoded Genesys analytics responses -> samples. Pure: no I/O, no clock, no logging (the
time of the poll, which execution ages need, is an argument).

A response becomes a `Snapshot`: families (name, HELP, whether a missing series is held at 0)
and, per family, a mapping from label tuples to values. Several buckets for the same group
(a response with `granularity`) are merged into one value for the whole window: counts and sums
add up, max and min take the extreme.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from poller.config.model import QueryConfig
from poller.errors import NormalizeError
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

Merge = Literal["sum", "max", "min"]
FamilyType = Literal["gauge", "counter", "histogram", "summary"]
# A histogram's or summary's samples: (suffix such as _bucket, labels, value), in order.
Samples = list[tuple[str, Labels, float]]

PREFIX = "genesyscloud_flow_"
MS_PER_SECOND = 1000.0
CACHED_NOTE = (
    "Cached from the scheduled query named in the query label, over that query's window; "
    "refreshed on its schedule, not on scrape."
)


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    help: str
    merge: Merge
    # Count-like series that vanish from a response are exported as 0 for a while, since the API
    # never zero-fills; max and min have no meaningful zero and are dropped at once.
    zero_fill: bool
    type: FamilyType = "gauge"


@dataclass(frozen=True, slots=True)
class Snapshot:
    families: dict[str, Family]
    values: dict[str, dict[Labels, float]]
    # Histogram and summary families (counter mode), whose samples have names of their own.
    samples: dict[str, Samples] = field(default_factory=dict)


# Genesys metric -> (family stem, what it measures). Counts take stats.count.
COUNT_METRICS: dict[str, tuple[str, str]] = {
    "nFlow": ("entries", "Flow executions that started in the window"),
    "nFlowOutcome": ("outcomes", "Flow outcomes reached in the window"),
    "nFlowOutcomeFailed": ("outcomes_failed", "Flow outcomes reached with a failed value"),
    "nFlowMilestone": ("milestones", "Flow milestones reached in the window"),
    "oFlow": ("active", "Flow executions in progress when the query ran"),
}
# Per-execution occurrence metrics count two things: stats.sum the times something happened,
# stats.count the executions it happened in (sum / count is Genesys' "milestone reached on
# average 2 times per flow execution"). Metric -> (stem, what) for stats.sum, then stats.count.
OCCURRENCE_METRICS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "oFlowMilestone": (
        ("milestone_occurrences", "Times a milestone was reached within flow executions"),
        ("milestone_executions", "Flow executions that reached the milestone"),
    ),
}
# Timers take stats.sum/max/min (milliseconds) and stats.count.
TIMER_METRICS: dict[str, tuple[str, str]] = {
    "tFlow": ("duration", "time spent in the flow"),
    "tFlowDisconnect": ("disconnect_duration", "time in flow of executions ended by disconnect"),
    "tFlowExit": ("exit_duration", "time in flow of executions that exited the flow"),
    "tFlowOutcome": ("outcome_duration", "time to complete a flow outcome"),
}

# From an observation query's `detailMetrics` (one execution per entry of `observations`).
OLDEST_EXECUTION_AGE = Family(
    PREFIX + "oldest_execution_age_seconds",
    "Age in seconds, at the poll, of the longest-running execution in the flow: the poll's time "
    "minus the oldest observationDate (entry into the flow) in the Genesys Cloud oFlow "
    "observations (detailMetrics); a truncated list keeps the oldest, so it is exact then too. "
    "Only for groups with executions in progress. Refreshed on the query's schedule, not on "
    "scrape.",
    "max",
    zero_fill=False,
)
OBSERVATIONS_TRUNCATED = Family(
    PREFIX + "observations_truncated",
    "1 if Genesys Cloud cut the oFlow observations list of the group (truncated: the oldest and "
    "newest halves kept), else 0. Refreshed on the query's schedule, not on scrape.",
    "max",
    zero_fill=False,
)

_CAMEL_1 = re.compile(r"(.)([A-Z][a-z]+)")
_CAMEL_2 = re.compile(r"([a-z0-9])([A-Z])")
_INVALID = re.compile(r"[^a-z0-9_]")
# `le` and `quantile` belong to histograms and summaries; promtool rejects them on a gauge.
_RESERVED_LABELS = frozenset({"org", "query", "qualifier", "le", "quantile"})


def snake_case(name: str) -> str:
    """flowId -> flow_id, nFlowOutcomeFailed -> n_flow_outcome_failed; safe as a label name."""
    s = _CAMEL_2.sub(r"\1_\2", _CAMEL_1.sub(r"\1_\2", name)).lower()
    s = _INVALID.sub("_", s)
    if not s or s[0].isdigit():
        s = "_" + s
    return s


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


# (stats field, family, divide milliseconds by 1000) for each family of a timer.
TimerFamilies = tuple[tuple[str, Family, bool], ...]

_TIMER_PARTS: tuple[tuple[str, str, str, Merge, bool], ...] = (
    # stats field, family suffix, what, merge, zero_fill
    ("sum", "_sum_seconds", "Total", "sum", True),
    ("max", "_max_seconds", "Longest", "max", False),
    ("min", "_min_seconds", "Shortest", "min", False),
)


def _timer_families(stem: str, source: str, what: str) -> TimerFamilies:
    parts = [
        (
            key,
            Family(
                PREFIX + stem + suffix,
                f"{label} {what}, in seconds ({source}, stats.{key} / 1000). {CACHED_NOTE}",
                merge,
                zero_fill,
            ),
            True,
        )
        for key, suffix, label, merge, zero_fill in _TIMER_PARTS
    ]
    count = Family(
        PREFIX + stem + "_measurements",
        f"Number of measurements of {what} ({source}, stats.count). {CACHED_NOTE}",
        "sum",
        True,
    )
    return (*parts, ("count", count, False))


def _counting(stem: str, what: str, source: str, *, counter: bool = False) -> Family:
    """A count-like family: a gauge over the window, or in counter mode a `_total` counter."""
    if counter:
        return Family(
            PREFIX + stem + "_total",
            f"{what} (Genesys Cloud metric {source}). {COUNTER_NOTE}",
            "sum",
            True,
            "counter",
        )
    return Family(
        PREFIX + stem, f"{what} (Genesys Cloud metric {source}). {CACHED_NOTE}", "sum", True
    )


def _count_stem(metric: str) -> tuple[str, str]:
    """(family stem, what it measures) of a count metric, known or new to this poller."""
    # The HELP names the metric in its parenthesis; repeating it here would read twice.
    return COUNT_METRICS.get(metric) or (snake_case(metric), "Count of a metric new to this poller")


def _timer_stem(metric: str) -> tuple[str, str]:
    return TIMER_METRICS.get(metric) or (snake_case(metric), "time of a metric new to this poller")


@functools.lru_cache(maxsize=256)
def count_family(metric: str) -> Family:
    stem, what = _count_stem(metric)
    return _counting(stem, what, f"{metric}, stats.count")


@functools.lru_cache(maxsize=32)
def occurrence_families(metric: str, *, counter: bool = False) -> tuple[Family, Family]:
    """(times it happened, executions it happened in) for an OCCURRENCE_METRICS metric."""
    (times_stem, times_what), (runs_stem, runs_what) = OCCURRENCE_METRICS[metric]
    return (
        _counting(
            times_stem,
            times_what,
            f"{metric}, stats.sum; stats.count when no sum is sent",
            counter=counter,
        ),
        _counting(runs_stem, runs_what, f"{metric}, stats.count", counter=counter),
    )


@functools.lru_cache(maxsize=256)
def timer_families(metric: str) -> TimerFamilies:
    stem, what = _timer_stem(metric)
    return _timer_families(stem, f"Genesys Cloud metric {metric}", what)


@functools.lru_cache(maxsize=256)
def view_families(view: str) -> TimerFamilies:
    return _timer_families(
        "view_" + snake_case(view),
        f"Genesys Cloud aggregation view {view}",
        f"time measured by view {view}",
    )


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
        if entry.metric.startswith("t"):
            self.add_stats(timer_families(entry.metric), labels, entry.stats)
        elif entry.metric in OCCURRENCE_METRICS:
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

COUNTER_NOTE = (
    "Counts from the start of the calendar period of the query named in the query label (its "
    "period and time_zone), late data included; restarts from 0 once the closed period has "
    "settled. Use increase() or rate(). Refreshed on the query's schedule, not on scrape."
)
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


@functools.lru_cache(maxsize=256)
def counter_families(metric: str) -> tuple[Family, ...]:
    """The counters of a count or occurrence metric: one, or (times, executions)."""
    if metric in OCCURRENCE_METRICS:
        return occurrence_families(metric, counter=True)
    stem, what = _count_stem(metric)
    what = what.replace("in the window", "in the period")
    return (_counting(stem, what, f"{metric}, stats.count", counter=True),)


@functools.lru_cache(maxsize=256)
def duration_family(stem: str, source: str, what: str, histogram: bool) -> Family:
    kind: FamilyType = "histogram" if histogram else "summary"
    buckets = " Buckets are the query's lt views on it, le in seconds." if histogram else ""
    return Family(
        PREFIX + stem + "_seconds",
        f"Distribution of {what}, in seconds ({source}: _sum stats.sum / 1000, _count "
        f"stats.count).{buckets} {COUNTER_NOTE}",
        "sum",
        False,
        kind,
    )


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
        if entry.metric.startswith("t"):
            self.timer((entry.metric, False), labels, stats)
        elif stats is None:
            return
        elif entry.metric in OCCURRENCE_METRICS:
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
            if is_view:
                stem = "view_" + snake_case(name)
                source, what = f"Genesys Cloud aggregation view {name}", f"time in view {name}"
                extremes = view_families(name)
            else:
                stem, what = _timer_stem(name)
                source, extremes = f"Genesys Cloud metric {name}", timer_families(name)
            family = duration_family(stem, source, what, buckets is not None)
            kinds = {key: fam for key, fam, _ in extremes}
            highest, lowest = kinds["max"], kinds["min"]
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
