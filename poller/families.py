"""The catalogue of what this poller exports about flows: every family's name, HELP, type and
unit, derived from one table of the Genesys metrics it knows.

Pure data and the functions that name families from it; the normalizer (gauge mode) and counter
mode fill them with values. A metric Genesys adds later gets a family too, named after it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

Merge = Literal["sum", "max", "min"]
FamilyType = Literal["gauge", "counter", "histogram", "summary"]
# How a metric's stats become series: a count (stats.count), per-execution occurrences
# (stats.sum and stats.count) or a timer (stats.sum/max/min in milliseconds and stats.count).
MetricKind = Literal["count", "occurrences", "timer"]

PREFIX = "genesyscloud_flow_"
# Genesys sends durations in milliseconds; Prometheus' base unit is the second.
MS_PER_SECOND = 1000.0
CACHED_NOTE = (
    "Cached from the scheduled query named in the query label, over that query's window; "
    "refreshed on its schedule, not on scrape."
)
COUNTER_NOTE = (
    "Counts from the start of the calendar period of the query named in the query label (its "
    "period and time_zone), late data included; restarts from 0 once the closed period has "
    "settled. Use increase() or rate(). Refreshed on the query's schedule, not on scrape."
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
class Metric:
    """A Genesys metric's row: its kind, then the stem of its families' names and what they
    measure. An occurrence metric has two families: `stem` counts the times something happened
    (stats.sum), `runs_stem` the executions it happened in (stats.count)."""

    kind: MetricKind
    stem: str
    what: str
    runs_stem: str = ""
    runs_what: str = ""


# The one table: every Genesys metric this poller knows.
METRICS: dict[str, Metric] = {
    "nFlow": Metric("count", "entries", "Flow executions that started in the window"),
    "nFlowOutcome": Metric("count", "outcomes", "Flow outcomes reached in the window"),
    "nFlowOutcomeFailed": Metric(
        "count", "outcomes_failed", "Flow outcomes reached with a failed value"
    ),
    "nFlowMilestone": Metric("count", "milestones", "Flow milestones reached in the window"),
    "oFlow": Metric("count", "active", "Flow executions in progress when the query ran"),
    # sum / count is Genesys' "milestone reached on average 2 times per flow execution".
    "oFlowMilestone": Metric(
        "occurrences",
        "milestone_occurrences",
        "Times a milestone was reached within flow executions",
        "milestone_executions",
        "Flow executions that reached the milestone",
    ),
    "tFlow": Metric("timer", "duration", "time spent in the flow"),
    "tFlowDisconnect": Metric(
        "timer", "disconnect_duration", "time in flow of executions ended by disconnect"
    ),
    "tFlowExit": Metric(
        "timer", "exit_duration", "time in flow of executions that exited the flow"
    ),
    "tFlowOutcome": Metric("timer", "outcome_duration", "time to complete a flow outcome"),
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


def snake_case(name: str) -> str:
    """flowId -> flow_id, nFlowOutcomeFailed -> n_flow_outcome_failed; safe as a label name."""
    s = _CAMEL_2.sub(r"\1_\2", _CAMEL_1.sub(r"\1_\2", name)).lower()
    s = _INVALID.sub("_", s)
    if not s or s[0].isdigit():
        s = "_" + s
    return s


@functools.lru_cache(maxsize=256)
def metric(name: str) -> Metric:
    """`name`'s row of METRICS, or the row of a metric new to this poller: Genesys names its
    timers t*, and everything else is counted."""
    known = METRICS.get(name)
    if known is not None:
        return known
    # The HELP names the metric in its parenthesis; repeating it here would read twice.
    if name.startswith("t"):
        return Metric("timer", snake_case(name), "time of a metric new to this poller")
    return Metric("count", snake_case(name), "Count of a metric new to this poller")


# -- gauge mode: one value per series over the query's window ----------------------------------

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


@functools.lru_cache(maxsize=256)
def count_family(name: str) -> Family:
    """The gauge of a count metric (stats.count)."""
    row = metric(name)
    return _counting(row.stem, row.what, f"{name}, stats.count")


@functools.lru_cache(maxsize=32)
def occurrence_families(name: str, *, counter: bool = False) -> tuple[Family, Family]:
    """(times it happened, executions it happened in) of an occurrence metric."""
    row = metric(name)
    return (
        _counting(
            row.stem,
            row.what,
            f"{name}, stats.sum; stats.count when no sum is sent",
            counter=counter,
        ),
        _counting(row.runs_stem, row.runs_what, f"{name}, stats.count", counter=counter),
    )


@functools.lru_cache(maxsize=256)
def timer_families(name: str) -> TimerFamilies:
    """The sum, max, min and measurements gauges of a timer metric."""
    row = metric(name)
    return _timer_families(row.stem, f"Genesys Cloud metric {name}", row.what)


@functools.lru_cache(maxsize=256)
def view_families(view: str) -> TimerFamilies:
    """The sum, max, min and measurements gauges of a configured view."""
    return _timer_families(
        "view_" + snake_case(view),
        f"Genesys Cloud aggregation view {view}",
        f"time measured by view {view}",
    )


# -- counter mode: totals since the start of the query's calendar period ------------------------


@functools.lru_cache(maxsize=256)
def counter_families(name: str) -> tuple[Family, ...]:
    """The counters of a count or occurrence metric: one, or (times, executions)."""
    row = metric(name)
    if row.kind == "occurrences":
        return occurrence_families(name, counter=True)
    what = row.what.replace("in the window", "in the period")
    return (_counting(row.stem, what, f"{name}, stats.count", counter=True),)


@functools.lru_cache(maxsize=256)
def distribution_family(name: str, *, view: bool, histogram: bool) -> Family:
    """The histogram (with buckets) or summary of a timer metric or a view (`view`)."""
    if view:
        stem = "view_" + snake_case(name)
        source, what = f"Genesys Cloud aggregation view {name}", f"time in view {name}"
    else:
        row = metric(name)
        stem, source, what = row.stem, f"Genesys Cloud metric {name}", row.what
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


@functools.lru_cache(maxsize=256)
def extreme_families(name: str, *, view: bool) -> tuple[Family, Family]:
    """(longest, shortest): the max and min gauges of a timer metric or a view (`view`), the
    same in both modes."""
    parts = {key: family for key, family, _ in (view_families if view else timer_families)(name)}
    return parts["max"], parts["min"]
