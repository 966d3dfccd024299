"""Request validation for the two flow analytics endpoints (shared/genesys-api.md §1, §3).

Like the real service, the first problem found is reported, as a 400 `ErrorBody` whose code is
`invalid.value` for a value outside an allowed list, `invalid.date` for an interval that does
not parse or ends before it starts, and `bad.request` for everything else (missing fields,
wrong JSON types, unknown fields, rules between fields).

Only rules the API is known to have are enforced (shared/genesys-api.md §1, §10): an interval
may be any length, a granularity need not divide it (the last bucket ends with the interval),
and a `matches` predicate may carry a value, a range or both (both must hold). Two guards are
the simulator's own: `matches` needs a value or a range (nothing to match otherwise; the
poller's config check refuses it too), and an answer of more than MAX_BUCKETS buckets is
refused with the service's code for an oversized response, `response.entity.too.large`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

from poller.simulator import contract
from poller.simulator.query import AggregateQuery, Filter, ObservationQuery, Predicate, ViewSpec
from poller.simulator.replies import GenesysError
from poller.simulator.timeparse import bucket_bounds, parse_duration, parse_interval, to_ms

# Stands in for the service's response size limit, which is not published: a year of hours fits.
MAX_BUCKETS = 10_000

AGGREGATE_FIELDS = (
    "interval",
    "granularity",
    "timeZone",
    "groupBy",
    "filter",
    "metrics",
    "flattenMultivaluedDimensions",
    "views",
    "alternateTimeDimension",
)
OBSERVATION_FIELDS = ("filter", "metrics", "detailMetrics")


def _bad(message: str) -> GenesysError:
    return GenesysError(400, "bad.request", message)


def _invalid_value(value: object, field_type: str, allowed: Iterable[str]) -> GenesysError:
    shown = value if isinstance(value, str) else _json_text(value)
    return GenesysError(
        400,
        "invalid.value",
        f"Value [{shown}] is not valid for field type [{field_type}]. "
        f"Allowable values are: {', '.join(allowed)}",
    )


def _json_text(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _object(value: object, where: str, cls: str, fields: Sequence[str]) -> dict[str, object]:
    if not isinstance(value, dict):
        raise _bad(f"Field [{where}] must be a JSON object")
    for key in value:
        if key not in fields:
            raise _bad(f'Unrecognized field "{key}" (class {cls}), not marked as ignorable')
    return value


def _given(doc: dict[str, object], key: str, default: object) -> object:
    """An optional field; JSON null counts as left out, as the service's JSON mapper does."""
    value = doc.get(key)
    return default if value is None else value


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise _bad(f"Field [{where}] must be a string")
    return value


def _string_list(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(f"Field [{where}] must be an array of strings")
    return list(value)


def _enum_list(value: object, where: str, allowed: Sequence[str]) -> tuple[str, ...]:
    items = _string_list(value, where)
    for item in items:
        if item not in allowed:
            raise _invalid_value(item, where, allowed)
    return tuple(dict.fromkeys(items))  # duplicates add nothing to an answer


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(f"Field [{where}] must be a number")
    return float(value)


def validate_aggregate(body: object) -> AggregateQuery:
    """A `FlowAggregationQuery` body -> the engine's query, or GenesysError."""
    cls = "FlowAggregationQuery"
    doc = _object(body, cls, cls, AGGREGATE_FIELDS)
    if "interval" not in doc:
        raise _bad(f"Field [{cls}.interval] is required")
    interval_text = _string(doc["interval"], f"{cls}.interval")
    if "metrics" not in doc:
        raise _bad(f"Field [{cls}.metrics] is required")
    metrics = _enum_list(doc["metrics"], f"{cls}.metrics", contract.AGGREGATE_METRICS)
    if not metrics:
        raise _bad(f"Field [{cls}.metrics] must not be empty")

    parsed = parse_interval(interval_text)
    if parsed is None:
        raise GenesysError(
            400,
            "invalid.date",
            f"Invalid interval [{interval_text}]. Expected ISO-8601 <start>/<end>, e.g. "
            "2026-05-14T09:00:00.000Z/2026-05-14T10:00:00.000Z",
        )
    start, end = parsed
    if end <= start:
        raise GenesysError(
            400, "invalid.date", f"Interval end must be after its start: [{interval_text}]"
        )

    zone_name = _string(_given(doc, "timeZone", "UTC"), f"{cls}.timeZone")
    zone = _zone(zone_name, f"{cls}.timeZone")
    granularity = doc.get("granularity")
    bounds: list[int]
    if granularity is None:
        bounds = [to_ms(start), to_ms(end)]
    else:
        text = _string(granularity, f"{cls}.granularity")
        duration = parse_duration(text)
        if duration is None:
            raise GenesysError(
                400,
                "invalid.value",
                f"Value [{text}] is not valid for field type [{cls}.granularity]. "
                "Expected an ISO-8601 duration such as PT15M, PT1H or P1D",
            )
        try:
            bounds = bucket_bounds(start, end, duration, zone, MAX_BUCKETS)
        except OverflowError:
            raise GenesysError(
                400,
                "response.entity.too.large",
                f"Granularity [{text}] splits interval [{interval_text}] into more than "
                f"{MAX_BUCKETS} buckets; use a coarser granularity or a shorter interval",
            ) from None

    group_by = _enum_list(
        _given(doc, "groupBy", []), f"{cls}.groupBy", contract.GROUP_BY_DIMENSIONS
    )
    query_filter = None
    if doc.get("filter") is not None:
        query_filter = _filter(
            doc["filter"], "FlowAggregate", contract.AGGREGATE_FILTER_DIMENSIONS, nested=True
        )
    views = _views(_given(doc, "views", []))
    flatten = _given(doc, "flattenMultivaluedDimensions", False)
    if not isinstance(flatten, bool):
        raise _bad(f"Field [{cls}.flattenMultivaluedDimensions] must be a boolean")
    alternate = doc.get("alternateTimeDimension")
    if alternate is not None and alternate not in contract.ALTERNATE_TIME_DIMENSIONS:
        raise _invalid_value(
            alternate, f"{cls}.alternateTimeDimension", contract.ALTERNATE_TIME_DIMENSIONS
        )
    return AggregateQuery(
        bounds=tuple(bounds),
        metrics=metrics,
        group_by=group_by,
        filter=query_filter,
        views=views,
    )


def validate_observation(body: object) -> ObservationQuery:
    """A `FlowObservationQuery` body -> the engine's query, or GenesysError."""
    cls = "FlowObservationQuery"
    doc = _object(body, cls, cls, OBSERVATION_FIELDS)
    if doc.get("filter") is None:
        raise _bad(f"Field [{cls}.filter] is required")
    if "metrics" not in doc:
        raise _bad(f"Field [{cls}.metrics] is required")
    metrics = _enum_list(doc["metrics"], f"{cls}.metrics", contract.OBSERVATION_METRICS)
    if not metrics:
        raise _bad(f"Field [{cls}.metrics] must not be empty")
    details = _enum_list(
        _given(doc, "detailMetrics", []), f"{cls}.detailMetrics", contract.OBSERVATION_METRICS
    )
    query_filter = _filter(
        doc["filter"], "FlowObservation", contract.OBSERVATION_FILTER_DIMENSIONS, nested=True
    )
    return ObservationQuery(filter=query_filter, metrics=metrics, details=bool(details))


def _filter(value: object, prefix: str, dimensions: Sequence[str], *, nested: bool) -> Filter:
    cls = f"{prefix}QueryFilter" if nested else f"{prefix}QueryClause"
    fields = ("type", "clauses", "predicates") if nested else ("type", "predicates")
    doc = _object(value, cls, cls, fields)
    kind = doc.get("type")
    if kind is None:
        raise _bad(f"Field [{cls}.type] is required")
    if kind not in contract.FILTER_TYPES:
        raise _invalid_value(kind, "QueryFilterType", contract.FILTER_TYPES)
    raw_predicates = doc.get("predicates", [])
    if not isinstance(raw_predicates, list):
        raise _bad(f"Field [{cls}.predicates] must be an array")
    if not nested and not raw_predicates:
        raise _bad(f"Field [{cls}.predicates] must not be empty")
    predicates = tuple(_predicate(p, prefix, dimensions) for p in raw_predicates)
    clauses: tuple[Filter, ...] = ()
    if nested:
        raw_clauses = doc.get("clauses", [])
        if not isinstance(raw_clauses, list):
            raise _bad(f"Field [{cls}.clauses] must be an array")
        clauses = tuple(_filter(c, prefix, dimensions, nested=False) for c in raw_clauses)
        if not clauses and not predicates:
            raise _bad(f"A filter ({cls}) needs at least one clause or predicate")
    return Filter(type=str(kind), predicates=predicates, clauses=clauses)


def _predicate(value: object, prefix: str, dimensions: Sequence[str]) -> Predicate:
    cls = f"{prefix}QueryPredicate"
    doc = _object(value, cls, cls, ("type", "dimension", "operator", "value", "range"))
    kind = doc.get("type", "dimension")
    if kind not in contract.PREDICATE_TYPES:
        raise _invalid_value(kind, f"{cls}.type", contract.PREDICATE_TYPES)
    if "dimension" not in doc:
        raise _bad(f"Field [{cls}.dimension] is required")
    dimension = doc["dimension"]
    if dimension not in dimensions:
        raise _invalid_value(dimension, f"{cls}.dimension", dimensions)
    assert isinstance(dimension, str)
    operator = doc.get("operator", "matches")
    if operator not in contract.PREDICATE_OPERATORS:
        raise _invalid_value(operator, f"{cls}.operator", contract.PREDICATE_OPERATORS)
    value = None
    if doc.get("value") is not None:
        value = _string(doc["value"], f"{cls}.value")
    bounds: tuple[tuple[str, float], ...] = ()
    if doc.get("range") is not None:
        rng = _object(doc["range"], f"{cls}.range", "NumericRange", contract.RANGE_KEYS)
        if not rng:
            raise _bad(
                f"Range of predicate on [{dimension}] needs at least one of "
                f"{', '.join(contract.RANGE_KEYS)}"
            )
        bounds = tuple((k, _number(v, f"NumericRange.{k}")) for k, v in rng.items())
    if operator != "matches":
        # exists and notExists look at the dimension only; a value or range is not used.
        return Predicate(dimension=dimension, operator=str(operator))
    if value is None and not bounds:
        raise _bad(f"Predicate on [{dimension}] with operator [matches] needs a value or a range")
    return Predicate(dimension=dimension, operator="matches", value=value, range=bounds)


def _views(value: object) -> tuple[ViewSpec, ...]:
    cls = "FlowAggregationView"
    if not isinstance(value, list):
        raise _bad("Field [FlowAggregationQuery.views] must be an array")
    if len(value) > contract.MAX_VIEWS:
        raise _bad(f"At most {contract.MAX_VIEWS} views are allowed per query, got {len(value)}")
    views: list[ViewSpec] = []
    names: set[str] = set()
    for item in value:
        doc = _object(item, cls, cls, ("target", "function", "range", "name"))
        for required in ("target", "function", "name"):
            if doc.get(required) is None:
                raise _bad(f"Field [{cls}.{required}] is required")
        name = _string(doc["name"], f"{cls}.name")
        target = doc["target"]
        if target not in contract.TIMER_METRICS:
            # rangeBound needs a timer; the service lists only the metrics it could use.
            raise _invalid_value(target, f"{cls}.target", contract.TIMER_METRICS)
        function = doc["function"]
        if function not in contract.VIEW_FUNCTIONS:
            raise _invalid_value(function, f"{cls}.function", contract.VIEW_FUNCTIONS)
        if not name.strip():
            raise _bad(f"Field [{cls}.name] must not be empty")
        if name in contract.AGGREGATE_METRICS:
            raise _bad(f"View name [{name}] must not be the name of a metric")
        if name in names:
            raise _bad(f"View name [{name}] is used more than once")
        names.add(name)
        rng = _object(doc.get("range", {}), f"{cls}.range", "AggregationRange", ("gte", "lt"))
        gte = _number(rng["gte"], "AggregationRange.gte") if rng.get("gte") is not None else None
        lt = _number(rng["lt"], "AggregationRange.lt") if rng.get("lt") is not None else None
        if gte is None and lt is None:
            raise _bad(f"View [{name}] needs a range with at least one of gte, lt")
        if gte is not None and lt is not None and gte >= lt:
            raise _bad(f"View [{name}] has an empty range: gte must be less than lt")
        views.append(ViewSpec(name=name, target=str(target), gte=gte, lt=lt))
    return tuple(views)


def _zone(name: str, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, KeyError):
        # ZoneInfoNotFoundError is a KeyError; malformed keys raise ValueError.
        raise GenesysError(
            400,
            "invalid.value",
            f"Value [{name}] is not valid for field type [{where}]. "
            "Expected an IANA time zone id such as UTC or Europe/London",
        ) from None
