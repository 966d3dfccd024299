"""Decoded Genesys analytics responses -> samples (gauge mode). Pure: no I/O, no clock, no
logging (the time of the poll, which execution ages need, is an argument).

A response becomes a `Snapshot`: families (from the catalogue in `families.py`) and, per family,
a mapping from label tuples to values. Several buckets for the same group (a response with
`granularity`) are merged into one value for the whole window: counts and sums add up, max and
min take the extreme. Counter mode (`counters.py`) builds on the labels and merging here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from poller.errors import NormalizeError
from poller.families import (
    MS_PER_SECOND,
    OBSERVATIONS_TRUNCATED,
    OLDEST_EXECUTION_AGE,
    Family,
    TimerFamilies,
    count_family,
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
    """One poll's samples: what render.py writes as the text format."""

    families: dict[str, Family]
    values: dict[str, dict[Labels, float]]
    # Histogram and summary families (counter mode), whose samples have names of their own.
    samples: dict[str, Samples] = field(default_factory=dict)


# `le` and `quantile` belong to histograms and summaries; promtool rejects them on a gauge.
_RESERVED_LABELS = frozenset({"org", "query", "qualifier", "le", "quantile"})


def label_name(dimension: str) -> str:
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
def _key_labels(keys: tuple[str, ...]) -> tuple[tuple[str, str], ...] | str:
    """(label name, group key) in label order for a group with these keys, or what is wrong
    when two keys would become one label. Cached: every result of a response has the same keys."""
    names: dict[str, str] = {}
    for key in keys:
        name = label_name(key)
        other = names.setdefault(name, key)
        if other != key:
            # Two labels with one name make the whole exposition unparseable.
            return f"keys {other!r} and {key!r} both become label {name}"
    return tuple(sorted(names.items()))


def _group_labels(query: Labels, group: dict[str, GroupValue] | None, where: str) -> Labels:
    """The labels of a result: the query label, then its group's, sorted by name."""
    if not group:
        return query
    pairs = _key_labels(tuple(group))
    if isinstance(pairs, str):
        raise NormalizeError(f"{where}.group: {pairs}")
    return query + tuple((name, _label_value(group[key])) for name, key in pairs)


def with_qualifier(labels: Labels, qualifier: Scalar) -> Labels:
    """A metric entry's labels: its result's, and its qualifier (an outcome's or milestone's
    id) when it has one."""
    if qualifier is None or qualifier == "":
        return labels
    return (*labels, ("qualifier", _label_value(qualifier)))


class SeriesBuilder:
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
        """An occurrence metric's (times, executions) families from one bucket's stats."""
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
            labels = with_qualifier(labels, entry.qualifier)
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


def aggregate_buckets(
    query: str, org: str, response: AggregateResponse
) -> Iterator[tuple[Labels, Bucket]]:
    """Every bucket of an aggregate response, with its result's labels."""
    base = series_labels(org, query)
    for i, result in enumerate(response.results or ()):
        labels = _group_labels(base, result.group, f"results[{i}]")
        for bucket in result.data or ():
            yield labels, bucket


def normalize_aggregate(query: str, response: AggregateResponse, org: str = "") -> Snapshot:
    """A FlowAggregateQueryResponse -> samples, all buckets merged over the window; `org`
    names the org whose series these are (none for a config without `orgs:`)."""
    out = SeriesBuilder()
    for labels, bucket in aggregate_buckets(query, org, response):
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
    out = SeriesBuilder()
    for i, result in enumerate(response.results or ()):
        where = f"results[{i}]"
        labels = _group_labels(series_labels(org, query), result.group, where)
        for j, entry in enumerate(result.data or ()):
            out.add_metric(labels, entry)
            if entry.observations is not None:
                _add_details(out, labels, entry, now, f"{where}.data[{j}]")
    return out.snapshot()


def _add_details(
    out: SeriesBuilder, labels: Labels, entry: ObservationEntry, now: float, where: str
) -> None:
    """The age of the oldest execution listed, and whether the list was cut."""
    if entry.qualifier is not None:
        labels = with_qualifier(labels, entry.qualifier)
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
