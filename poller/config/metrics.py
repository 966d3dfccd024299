"""A query's `metrics` and `group_by`: what it fetches and which dimensions split the series.

Both are checked against the catalog for the query's type. Genesys adds names over time, so an
unknown name shaped like a Genesys one is only a warning under `strict_names: false`. Grouping
by a per-conversation dimension is refused either way: it would create a series per call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, NamedTuple

from poller import catalog
from poller.config.checker import Checker
from poller.config.messages import Loc, did_you_mean, quote
from poller.config.model import QueryType

# Unknown metric names shaped like Genesys ones (n/t/o + CamelCase) may be new Genesys metrics;
# with strict_names: false they are let through with a warning.
_PLAUSIBLE_METRIC = re.compile(r"[nto][A-Z][A-Za-z0-9]*")


class _MetricKind(NamedTuple):
    name: str  # as in "unknown flow <name> metric"
    own: tuple[str, ...]
    other: tuple[str, ...]  # the other query type's metrics, refused with `misuse`
    misuse: str


_KINDS: Final[dict[QueryType, _MetricKind]] = {
    "aggregate": _MetricKind(
        "aggregate",
        catalog.AGGREGATE_METRICS,
        catalog.OBSERVATION_METRICS,
        "is a flow observation metric; use it in a query with type: observation",
    ),
    "observation": _MetricKind(
        "observation",
        catalog.OBSERVATION_METRICS,
        catalog.AGGREGATE_METRICS,
        "is a flow aggregate metric; observation queries take only oFlow",
    ),
}


def check_metrics(
    c: Checker, loc: Loc, m: Mapping[object, object], qtype: QueryType | None
) -> tuple[str, ...]:
    """The metrics of the query mapping `m` at `loc`, each once."""
    example = "[oFlow]" if qtype == "observation" else "[nFlow, tFlow]"
    if "metrics" not in m:
        c.missing(loc, "metrics", f"the Genesys metrics to fetch, such as {example}")
        return ()
    mloc = (*loc, "metrics")
    items = c.sequence(mloc, m["metrics"], f" of metrics such as {example}")
    if items is None:
        return ()
    if not items:
        c.error(mloc, f"is empty; list at least one metric, such as {example}")
        return ()
    out: list[str] = []
    for iloc, metric in c.unique_strings(mloc, items, " such as nFlow", "metric"):
        out.append(metric)
        if qtype is not None:
            _metric_name(c, iloc, metric, _KINDS[qtype])
    return tuple(out)


def _metric_name(c: Checker, loc: Loc, metric: str, kind: _MetricKind) -> None:
    if metric in kind.own:
        return
    if metric in kind.other:
        c.error(loc, f"{quote(metric)} {kind.misuse}")
        return
    hint = did_you_mean(metric, kind.own)
    c.unknown_name(
        loc,
        f"unknown flow {kind.name} metric {quote(metric)}{hint}",
        plausible=_PLAUSIBLE_METRIC.fullmatch(metric) is not None,
    )


def check_group_by(c: Checker, loc: Loc, m: Mapping[object, object]) -> tuple[str, ...]:
    """The group_by dimensions of the aggregate query mapping `m` at `loc`, each once."""
    if "group_by" not in m:
        return ()
    gloc = (*loc, "group_by")
    items = c.sequence(gloc, m["group_by"], " of dimensions such as [flowId, flowType]")
    if items is None:
        return ()
    out: list[str] = []
    for iloc, dim in c.unique_strings(gloc, items, " such as flowId", "dimension"):
        if dim in catalog.HIGH_CARDINALITY_DIMENSIONS:
            c.error(
                iloc,
                f"{quote(dim)} would create a series per conversation; filter on it instead "
                "of grouping by it",
            )
        elif dim in catalog.AGGREGATE_FILTER_DIMENSIONS and dim not in catalog.GROUP_BY_DIMENSIONS:
            c.error(iloc, f"{quote(dim)} can be used in a filter only, not in group_by")
        elif dim not in catalog.GROUP_BY_DIMENSIONS:
            hint = did_you_mean(dim, catalog.GROUP_BY_DIMENSIONS)
            c.unknown_name(iloc, f"unknown dimension {quote(dim)}{hint}")
        out.append(dim)
    return tuple(out)
