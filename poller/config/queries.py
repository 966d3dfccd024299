"""The `queries` list and each query in it: its keys, unique name and type, and the model built
from it once its timing, metrics, filter and views (each checked in their own module) are valid.

Aggregate and observation queries share most keys; the ones that shape an aggregate's time
window (window, time_zone, delay) or its series (group_by, views) are refused on observation
queries with a message that says so, rather than as unknown keys, and so is an observation
query's `details` (the executions in progress) on aggregate queries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from poller.config.checker import MISSING, Checker
from poller.config.counter import CounterTiming, check_counter
from poller.config.filters import check_filter
from poller.config.messages import Loc, quote, where
from poller.config.metrics import check_group_by, check_metrics
from poller.config.model import DEFAULT_MAX_SERIES, QueryConfig, QueryType, Window
from poller.config.schedule import (
    DEFAULT_WINDOW,
    check_delay,
    check_every,
    check_stale_after,
    check_time_zone,
    check_window,
)
from poller.config.views import check_views

AGGREGATE_KEYS: Final = (
    "name",
    "type",
    "every",
    "window",
    "time_zone",
    "delay",
    "group_by",
    "metrics",
    "filter",
    "views",
    "stale_after",
    "mode",
    "period",
    "settle",
    "max_series",
)
AGGREGATE_ONLY_KEYS: Final = (
    "window",
    "time_zone",
    "delay",
    "group_by",
    "views",
    "mode",
    "period",
    "settle",
)
OBSERVATION_ONLY_KEYS: Final = ("details",)
OBSERVATION_KEYS: Final = (
    *(k for k in AGGREGATE_KEYS if k not in AGGREGATE_ONLY_KEYS),
    *OBSERVATION_ONLY_KEYS,
)
QUERY_TYPES: Final[tuple[QueryType, ...]] = ("aggregate", "observation")

_AGGREGATE_ONLY: Final = dict.fromkeys(
    AGGREGATE_ONLY_KEYS, "applies to aggregate queries only; remove it, or use type: aggregate"
)
_OBSERVATION_ONLY: Final = {
    "details": "applies to observation queries only (the executions in progress at each poll); "
    "remove it, or use type: observation"
}
_QUERY_NAME = re.compile(r"[a-z][a-z0-9_]*")


def check_queries(
    c: Checker, raw: object, loc: Loc = ("queries",), *, time_zone: str = "UTC"
) -> tuple[QueryConfig, ...] | None:
    """All queries of the list at `loc` (the top level's, or an org's), or None if any of them
    is invalid (or the list is missing or empty). Names are unique within one list.
    `time_zone` is the zone of the aggregate queries that name none (the top-level one)."""
    if raw is MISSING:
        c.missing((), "queries", "the list of queries to poll")
        return None
    items = c.sequence(loc, raw, " of queries")
    if items is None:
        return None
    if not items:
        c.error(loc, "is empty; define at least one query")
        return None
    names: dict[str, Loc] = {}
    out = [_query(c, (*loc, i), item, names, time_zone) for i, item in enumerate(items)]
    checked = [q for q in out if q is not None]
    return tuple(checked) if len(checked) == len(out) else None


def _query(
    c: Checker, loc: Loc, raw: object, names: dict[str, Loc], default_zone: str
) -> QueryConfig | None:
    m = c.mapping(loc, raw, " with name, type, every and metrics")
    if m is None:
        return None
    before = len(c.problems)
    raw_type = m.get("type")
    qtype: QueryType | None = next((t for t in QUERY_TYPES if raw_type == t), None)
    if qtype == "observation":
        c.keys(loc, m, OBSERVATION_KEYS, _AGGREGATE_ONLY)
    elif qtype == "aggregate":
        c.keys(loc, m, AGGREGATE_KEYS, _OBSERVATION_ONLY)
    else:  # the type's own problem is reported below; any known key may go with it
        c.keys(loc, m, (*AGGREGATE_KEYS, *OBSERVATION_ONLY_KEYS))
    name = _query_name(c, loc, m, names)
    if "type" not in m:
        c.missing(loc, "type", "'aggregate' or 'observation'")
    else:
        c.choice((*loc, "type"), m["type"], QUERY_TYPES, "query type")
    every = check_every(c, loc, m)
    window: Window | None = DEFAULT_WINDOW
    time_zone: str | None = "UTC"
    delay: float | None = 0.0
    group_by: tuple[str, ...] = ()
    counter: CounterTiming | None = CounterTiming()
    if qtype == "aggregate":
        counter = check_counter(c, loc, m, every)
        if counter is not None and counter.mode == "counter":
            window, delay = DEFAULT_WINDOW, 0.0  # refused by check_counter when given
        else:
            window = check_window(c, loc, m)
            delay = check_delay(c, loc, m, window)
        time_zone = check_time_zone(c, loc, m, default_zone)
        group_by = check_group_by(c, loc, m)
    metrics = check_metrics(c, loc, m, qtype)
    filter_ = check_filter(c, loc, m, qtype)
    views = check_views(c, loc, m) if qtype == "aggregate" else ()
    stale_after = check_stale_after(c, loc, m, every)
    max_series = _max_series(c, loc, m)
    details: bool | None = False
    if qtype == "observation" and "details" in m:
        details = c.boolean((*loc, "details"), m["details"])
    if len(c.problems) > before:
        return None
    # No new problem means every part above was checked and set.
    assert name is not None
    assert qtype is not None
    assert every is not None
    assert window is not None
    assert time_zone is not None
    assert delay is not None
    assert details is not None
    assert counter is not None
    assert max_series is not None
    return QueryConfig(
        name=name,
        type=qtype,
        every=every,
        metrics=metrics,
        window=window,
        time_zone=time_zone,
        delay=delay,
        group_by=group_by,
        filter=filter_,
        views=views,
        stale_after=stale_after,
        details=details,
        mode=counter.mode,
        period=counter.period,
        settle=counter.settle,
        max_series=max_series,
    )


# Far above what one Genesys answer can hold (a poll's body stops at max_response_bytes first):
# a value past it is a typo, not a plan.
MAX_SERIES_LIMIT: Final = 10_000_000


def _max_series(c: Checker, loc: Loc, m: Mapping[object, object]) -> int | None:
    """The most series a poll of the query may publish (see poller.serieslimit)."""
    if "max_series" not in m:
        return DEFAULT_MAX_SERIES
    return c.integer((*loc, "max_series"), m["max_series"], 1, MAX_SERIES_LIMIT)


def _query_name(
    c: Checker, loc: Loc, m: Mapping[object, object], names: dict[str, Loc]
) -> str | None:
    if "name" not in m:
        c.missing(loc, "name", "a unique name such as flows_today; it becomes the query label")
        return None
    nloc = (*loc, "name")
    name = c.string(nloc, m["name"], " such as flows_today")
    if name is None:
        return None
    if not _QUERY_NAME.fullmatch(name):
        c.error(
            nloc,
            f"{quote(name)} is not a valid query name; use lower-case letters, digits and _, "
            "starting with a letter, such as flows_today",
        )
        return None
    if name in names:
        c.error(nloc, f"duplicate query name {quote(name)} (also {where(names[name])})")
        return None
    names[name] = nloc
    return name
