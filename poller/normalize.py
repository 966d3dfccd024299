"""Genesys analytics responses -> Prometheus samples. Pure: no I/O, no clock, no logging.

A response becomes a `Snapshot`: families (name, HELP, whether a missing series is held at 0)
and, per family, a mapping from label tuples to values. Several buckets for the same group
(a response with `granularity`) are merged into one value for the whole window: counts and sums
add up, max and min take the extreme.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, NoReturn

from poller.errors import NormalizeError

Labels = tuple[tuple[str, str], ...]
Merge = Literal["sum", "max", "min"]

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


# (stats key, family, value is milliseconds) for each family of a timer metric.
TimerFamilies = tuple[tuple[str, Family, bool], ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    families: Mapping[str, Family]
    values: Mapping[str, Mapping[Labels, float]]

    def series_count(self) -> int:
        return sum(len(v) for v in self.values.values())


# Genesys metric -> (family stem, what it measures). Counts take stats.count.
COUNT_METRICS: dict[str, tuple[str, str]] = {
    "nFlow": ("entries", "Flow executions that started in the window"),
    "nFlowOutcome": ("outcomes", "Flow outcomes reached in the window"),
    "nFlowOutcomeFailed": ("outcomes_failed", "Flow outcomes reached with a failed value"),
    "nFlowMilestone": ("milestones", "Flow milestones reached in the window"),
    "oFlowMilestone": (
        "milestone_occurrences",
        "Occurrences of a milestone within single flow executions",
    ),
    "oFlow": ("active", "Flow executions in progress when the query ran"),
}
# Timers take stats.sum/max/min (milliseconds) and stats.count.
TIMER_METRICS: dict[str, tuple[str, str]] = {
    "tFlow": ("duration", "time spent in the flow"),
    "tFlowDisconnect": ("disconnect_duration", "time in flow of executions ended by disconnect"),
    "tFlowExit": ("exit_duration", "time in flow of executions that exited the flow"),
    "tFlowOutcome": ("outcome_duration", "time to complete a flow outcome"),
}

_CAMEL_1 = re.compile(r"(.)([A-Z][a-z]+)")
_CAMEL_2 = re.compile(r"([a-z0-9])([A-Z])")
_INVALID = re.compile(r"[^a-z0-9_]")
# `le` and `quantile` belong to histograms and summaries; promtool rejects them on a gauge.
_RESERVED_LABELS = frozenset({"query", "qualifier", "le", "quantile"})
# JSON may carry lone surrogate escapes ("\ud800"), which cannot be encoded as UTF-8: left in,
# they would make every later render of the whole exposition fail.
_SURROGATES = re.compile("[\ud800-\udfff]")


def snake_case(name: str) -> str:
    """flowId -> flow_id, nFlowOutcomeFailed -> n_flow_outcome_failed; safe as a label name."""
    s = _CAMEL_2.sub(r"\1_\2", _CAMEL_1.sub(r"\1_\2", name)).lower()
    s = _INVALID.sub("_", s)
    if not s or s[0].isdigit():
        s = "_" + s
    return s


@functools.lru_cache(maxsize=4096)
def _label_name(dimension: str) -> str:
    # Cached: every result container repeats the same few group keys, and snake_case's three
    # regex passes were most of the cost of normalizing a large response.
    name = snake_case(dimension)
    # A group key must never overwrite our own labels or use the reserved `__` prefix.
    if name in _RESERVED_LABELS or name.startswith("__"):
        name = "group_" + name.lstrip("_")
    return name


def _text(value: str) -> str:
    """`value` made encodable: lone surrogates become U+FFFD."""
    return value if value.isascii() else _SURROGATES.sub("\ufffd", value)


def _label_value(value: object) -> str:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list):
        # Multi-valued dimensions, as flattenMultivaluedDimensions would send them.
        return ",".join(_label_value(v) for v in value)
    return _text(str(value))


class _Builder:
    """Accumulates samples for one snapshot; families are created on first use."""

    def __init__(self) -> None:
        self.families: dict[str, Family] = {}
        self.values: dict[str, dict[Labels, float]] = {}
        # Family -> unit divisor, applied once in snapshot(): summing milliseconds and dividing
        # the total keeps whole-ms sums exact (8123.456 + 5532.11 != 13655.566 in floats).
        self.divisors: dict[str, float] = {}

    def add(self, family: Family, labels: Labels, value: float, divisor: float = 1.0) -> None:
        series = self.values.get(family.name)
        if series is None:
            self.families[family.name] = family
            series = self.values[family.name] = {}
            if divisor != 1.0:
                self.divisors[family.name] = divisor
        size = len(series)
        # One lookup for the common case, a series seen for the first time.
        old = series.setdefault(labels, value)
        if len(series) != size:
            return
        if family.merge == "sum":
            series[labels] = old + value
        elif family.merge == "max":
            series[labels] = max(old, value)
        else:
            series[labels] = min(old, value)

    def snapshot(self) -> Snapshot:
        for name, divisor in self.divisors.items():
            series = self.values[name]
            for labels, value in series.items():
                series[labels] = value / divisor
        return Snapshot(self.families, self.values)


def _count_family(metric: str) -> Family:
    known = COUNT_METRICS.get(metric)
    if known is not None:
        stem, what = known
    else:
        # The HELP names the metric in its parenthesis; repeating it here would read twice.
        stem, what = snake_case(metric), "Count of a metric new to this poller"
    return Family(
        PREFIX + stem,
        f"{what} (Genesys Cloud metric {_text(metric)}, stats.count). {CACHED_NOTE}",
        "sum",
        True,
    )


_TIMER_PARTS: tuple[tuple[str, str, str, Merge, bool], ...] = (
    # stats key, family suffix, what, merge, zero_fill
    ("sum", "_sum_seconds", "Total", "sum", True),
    ("max", "_max_seconds", "Longest", "max", False),
    ("min", "_min_seconds", "Shortest", "min", False),
)


def _timer_families(stem: str, source: str, what: str) -> TimerFamilies:
    """The four families of a timer: (stats key, family, divide ms by 1000)."""
    parts: list[tuple[str, Family, bool]] = [
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
    parts.append(
        (
            "count",
            Family(
                PREFIX + stem + "_measurements",
                f"Number of measurements of {what} ({source}, stats.count). {CACHED_NOTE}",
                "sum",
                True,
            ),
            False,
        )
    )
    return tuple(parts)


def _metric_timer(metric: str) -> TimerFamilies:
    known = TIMER_METRICS.get(metric)
    stem, what = known if known else (snake_case(metric), "time of a metric new to this poller")
    return _timer_families(stem, f"Genesys Cloud metric {_text(metric)}", what)


def _view_timer(view: str) -> TimerFamilies:
    view = _text(view)
    return _timer_families(
        "view_" + snake_case(view),
        f"Genesys Cloud aggregation view {view}",
        f"time measured by view {view}",
    )


class _Families:
    """Memoizes metric -> families so a large response builds each Family once."""

    def __init__(self) -> None:
        self._count: dict[str, Family] = {}
        self._timer: dict[str, TimerFamilies] = {}
        self._view: dict[str, TimerFamilies] = {}

    def count(self, metric: str) -> Family:
        fam = self._count.get(metric)
        if fam is None:
            fam = self._count[metric] = _count_family(metric)
        return fam

    def timer(self, metric: str) -> TimerFamilies:
        fams = self._timer.get(metric)
        if fams is None:
            fams = self._timer[metric] = _metric_timer(metric)
        return fams

    def view(self, name: str) -> TimerFamilies:
        fams = self._view.get(name)
        if fams is None:
            fams = self._view[name] = _view_timer(name)
        return fams


def _shown(got: object) -> str:
    """`got` as a JSON reader would name it; Python's None/True/dict would confuse them."""
    if got is None:
        return "null"
    if isinstance(got, bool):
        return "true" if got else "false"
    if isinstance(got, str | int | float):
        return repr(got)
    if isinstance(got, list):
        return "an array"
    if isinstance(got, dict):
        return "an object"
    return type(got).__name__


def _fail(where: str, expected: str, got: object) -> NoReturn:
    raise NormalizeError(f"{where}: expected {expected}, got {_shown(got):.80}")


# Positions in the response are passed as a base plus a suffix and joined only on failure:
# formatting a path for every value was a large share of the cost of a 100k-sample response.


def _number(value: object, where: str, field: str) -> float:
    """`value` (at `where`.stats.`field`) as a float."""
    if type(value) is float:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(f"{where}.stats.{field}", "a number", value)
    try:
        return float(value)
    except OverflowError:  # an int beyond float range; JSON has no size limit on integers
        _fail(f"{where}.stats.{field}", "a number within float range", value)


def _list(value: object, where: str, suffix: str = "") -> list[object]:
    if isinstance(value, list):
        return value
    if value is None:
        return []
    _fail(where + suffix, "a list", value)


def _dict(value: object, where: str, suffix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        return value
    if value is None:
        return {}
    _fail(where + suffix, "an object", value)


@functools.lru_cache(maxsize=1024)
def _label_plan(keys: tuple[str, ...]) -> tuple[tuple[str, str], ...] | str:
    """(label name, group key) in label order for a group with these keys, or what is wrong
    when two keys would become one label. Cached: every container of a response has the same
    keys."""
    names: dict[str, str] = {}
    for key in keys:
        name = _label_name(key)
        other = names.setdefault(name, key)
        if other != key:
            # Two labels with one name make the whole exposition unparseable.
            return f"keys {other!r} and {key!r} both become label {name}"
    return tuple(sorted(names.items()))


# Label name -> value -> the (name, value) pair: one shared pair per distinct value, since group
# values repeat across containers (a flow's id in each of its outcome groups).
_PairCache = dict[str, dict[str, tuple[str, str]]]


def _group_labels(query: Labels, group: object, where: str, cache: _PairCache) -> Labels:
    """The labels of a container: `query` (the query label pair, as a 1-tuple) and its group."""
    items = _dict(group, where, ".group")
    plan = _label_plan(tuple(items))
    if isinstance(plan, str):
        raise NormalizeError(f"{where}.group: {plan}")
    pairs = []
    for name, key in plan:
        value = items[key]
        if type(value) is not str or not value.isascii():  # the rare case: skip the call
            value = _label_value(value)
        known = cache.get(name)
        if known is None:
            known = cache[name] = {}
        pair = known.get(value)
        if pair is None:
            pair = known[value] = (name, value)
        pairs.append(pair)
    return query + tuple(pairs)


def _with_qualifier(labels: Labels, qualifier: object) -> Labels:
    if qualifier is None or qualifier == "":
        return labels
    return (*labels, ("qualifier", _label_value(qualifier)))


def _add_stats(
    out: _Builder, families: TimerFamilies, labels: Labels, stats: dict[str, object], where: str
) -> None:
    for key, family, is_ms in families:
        raw = stats.get(key)
        if raw is None:
            continue
        out.add(family, labels, _number(raw, where, key), MS_PER_SECOND if is_ms else 1.0)


def _add_metric(
    out: _Builder, fams: _Families, labels: Labels, entry: object, base: str, k: int
) -> None:
    """One metric entry, found at `base`[`k`]."""
    item = entry if isinstance(entry, dict) else _dict(entry, f"{base}[{k}]")
    metric = item.get("metric")
    if not isinstance(metric, str) or not metric:
        _fail(f"{base}[{k}].metric", "a metric name", metric)
    stats = item.get("stats")
    if not isinstance(stats, dict):
        stats = _dict(stats, f"{base}[{k}].stats")
    qualifier = item.get("qualifier")
    series_labels = labels if qualifier is None else _with_qualifier(labels, qualifier)
    if metric.startswith("t"):
        _add_stats(out, fams.timer(metric), series_labels, stats, f"{base}[{k}]")
        return
    raw = stats.get("count")
    if raw is not None:
        out.add(fams.count(metric), series_labels, _number(raw, f"{base}[{k}]", "count"))


def _add_view(out: _Builder, fams: _Families, labels: Labels, entry: object, where: str) -> None:
    item = _dict(entry, where)
    name = item.get("name")
    if not isinstance(name, str) or not name:
        _fail(f"{where}.name", "a view name", name)
    _add_stats(out, fams.view(name), labels, _dict(item.get("stats"), where, ".stats"), where)


def _containers(query: str, response: object) -> list[tuple[str, Labels, list[object]]]:
    """(position, group labels, data list) for each result container."""
    results = _list(_dict(response, "response").get("results"), "results")
    query_label: Labels = (("query", _text(query)),)
    cache: _PairCache = {}
    out = []
    for i, container in enumerate(results):
        where = f"results[{i}]"
        c = _dict(container, where)
        labels = _group_labels(query_label, c.get("group"), where, cache)
        out.append((where, labels, _list(c.get("data"), where, ".data")))
    return out


def normalize_aggregate(query: str, response: object) -> Snapshot:
    """A FlowAggregateQueryResponse -> samples, all buckets merged over the window."""
    out, fams = _Builder(), _Families()
    for where, labels, data in _containers(query, response):
        for j, bucket in enumerate(data):
            at = f"{where}.data[{j}]"
            b = _dict(bucket, at)
            metrics = _list(b.get("metrics"), at, ".metrics")
            if metrics:
                base = at + ".metrics"
                for k, entry in enumerate(metrics):
                    _add_metric(out, fams, labels, entry, base, k)
            for k, entry in enumerate(_list(b.get("views"), at, ".views")):
                _add_view(out, fams, labels, entry, f"{at}.views[{k}]")
    return out.snapshot()


def normalize_observation(query: str, response: object) -> Snapshot:
    """A FlowObservationQueryResponse -> samples. Counts come from stats.count, never from the
    observations list, which the API truncates."""
    out, fams = _Builder(), _Families()
    for where, labels, data in _containers(query, response):
        base = where + ".data"
        for j, entry in enumerate(data):
            _add_metric(out, fams, labels, entry, base, j)
    return out.snapshot()


def normalize(kind: str, query: str, response: object) -> Snapshot:
    """Dispatch on the query type (`aggregate` or `observation`)."""
    if kind == "observation":
        return normalize_observation(query, response)
    return normalize_aggregate(query, response)
