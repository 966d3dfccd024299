"""The flow queries as the API takes them: each type's endpoint, path and permission, and the
JSON body a query posts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from poller.catalog import (
    AGGREGATE_PATH,
    AGGREGATE_PERMISSION,
    OBSERVATION_PATH,
    OBSERVATION_PERMISSION,
)
from poller.config.model import QueryConfig
from poller.genesys.http import QueryEndpoint
from poller.periods import counter_interval
from poller.windows import interval


@dataclass(frozen=True, slots=True)
class Route:
    path: str  # on the API host
    permission: str  # what the OAuth client's role needs, named when a 403 comes


ROUTES: Final[dict[QueryEndpoint, Route]] = {
    "aggregates": Route(AGGREGATE_PATH, AGGREGATE_PERMISSION),
    "observations": Route(OBSERVATION_PATH, OBSERVATION_PERMISSION),
}


def endpoint_of(query: QueryConfig) -> QueryEndpoint:
    return "observations" if query.type == "observation" else "aggregates"


def request_body(query: QueryConfig, now: float, granularity: str | None = None) -> dict[str, Any]:
    """The JSON body the query posts at `now`; `granularity` splits it into buckets (a query
    push feeds asks for the topics' interval)."""
    if query.type == "observation":
        observe: dict[str, Any] = {"filter": query.filter, "metrics": list(query.metrics)}
        if query.details:
            # Lists each execution in progress, for the age of the oldest (shared/genesys-api.md
            # §3.1); oFlow is the only detail metric there is.
            observe["detailMetrics"] = ["oFlow"]
        return observe
    # A counter query asks for its calendar period (the closed one while it settles).
    span = counter_interval(query, now) if query.mode == "counter" else interval(query, now)
    body: dict[str, Any] = {"interval": span, "timeZone": query.time_zone}
    if granularity is not None:
        body["granularity"] = granularity
    if query.group_by:
        body["groupBy"] = list(query.group_by)
    if query.filter is not None:
        body["filter"] = query.filter
    body["metrics"] = list(query.metrics)
    if query.views:
        body["views"] = [
            {
                "name": v.name,
                "target": v.target,
                "function": "rangeBound",
                "range": {k: b for k, b in (("gte", v.gte), ("lt", v.lt)) if b is not None},
            }
            for v in query.views
        ]
    return body
