"""Request validation: each rule of shared/genesys-api.md §1 and §3 gives a Genesys-style 400."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from poller.catalog import AGGREGATE_PATH, OBSERVATION_PATH
from tests.simulator.sim_support import MakeSim, hours_before_now

VALID_AGGREGATE: dict[str, Any] = {"interval": hours_before_now(2, 1), "metrics": ["nFlow"]}
VALID_OBSERVATION: dict[str, Any] = {
    "filter": {"type": "or", "predicates": [{"dimension": "mediaType", "value": "voice"}]},
    "metrics": ["oFlow"],
}
METRIC_LIST = (
    "nFlow, nFlowMilestone, nFlowOutcome, nFlowOutcomeFailed, oFlowMilestone, tFlow, "
    "tFlowDisconnect, tFlowExit, tFlowOutcome"
)


def _view(**fields: Any) -> dict[str, Any]:
    view = {"name": "fast", "target": "tFlow", "function": "rangeBound", "range": {"lt": 30000}}
    view.update(fields)
    return view


def _pred(**fields: Any) -> dict[str, Any]:
    return {"type": "and", "predicates": [fields]}


# (id, changes to the valid body (None deletes the key), code, message; a message ending in
# "..." is a prefix because the allowable list that follows is long)
AGGREGATE_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "interval missing",
        {"interval": None},
        "bad.request",
        "Field [FlowAggregationQuery.interval] is required",
    ),
    (
        "metrics missing",
        {"metrics": None},
        "bad.request",
        "Field [FlowAggregationQuery.metrics] is required",
    ),
    (
        "metrics empty",
        {"metrics": []},
        "bad.request",
        "Field [FlowAggregationQuery.metrics] must not be empty",
    ),
    (
        "metrics not a list",
        {"metrics": "nFlow"},
        "bad.request",
        "Field [FlowAggregationQuery.metrics] must be an array of strings",
    ),
    (
        "unknown metric",
        {"metrics": ["nFlow", "nFlows"]},
        "invalid.value",
        "Value [nFlows] is not valid for field type [FlowAggregationQuery.metrics]. "
        f"Allowable values are: {METRIC_LIST}",
    ),
    (
        "observation metric in aggregates",
        {"metrics": ["oFlow"]},
        "invalid.value",
        "Value [oFlow] is not valid for field type [FlowAggregationQuery.metrics]. ...",
    ),
    (
        "interval without end",
        {"interval": "2026-05-14T12:00:00.000Z"},
        "invalid.date",
        "Invalid interval [2026-05-14T12:00:00.000Z]. Expected ISO-8601 <start>/<end>, e.g. "
        "2026-05-14T09:00:00.000Z/2026-05-14T10:00:00.000Z",
    ),
    (
        "interval without offset",
        {"interval": "2026-05-14T12:00:00/2026-05-14T13:00:00"},
        "invalid.date",
        "Invalid interval [2026-05-14T12:00:00/2026-05-14T13:00:00]. ...",
    ),
    (
        "interval not a date",
        {"interval": "yesterday/today"},
        "invalid.date",
        "Invalid interval [yesterday/today]. ...",
    ),
    (
        "interval ends before it starts",
        {"interval": "2026-05-14T13:00:00.000Z/2026-05-14T12:00:00.000Z"},
        "invalid.date",
        "Interval end must be after its start: [2026-05-14T13:00:00.000Z/2026-05-14T12:00:00.000Z]",
    ),
    (
        "empty interval",
        {"interval": "2026-05-14T13:00:00.000Z/2026-05-14T13:00:00.000Z"},
        "invalid.date",
        "Interval end must be after its start: ...",
    ),
    (
        "granularity not a duration",
        {"granularity": "15 minutes"},
        "invalid.value",
        "Value [15 minutes] is not valid for field type [FlowAggregationQuery.granularity]. "
        "Expected an ISO-8601 duration such as PT15M, PT1H or P1D",
    ),
    (
        "granularity zero",
        {"granularity": "PT0M"},
        "invalid.value",
        "Value [PT0M] is not valid for field type [FlowAggregationQuery.granularity]. ...",
    ),
    (
        "too many buckets",
        {"interval": "2026-05-01T00:00:00.000Z/2026-05-08T00:00:00.000Z", "granularity": "PT1S"},
        "response.entity.too.large",
        "Granularity [PT1S] splits interval [2026-05-01T00:00:00.000Z/2026-05-08T00:00:00.000Z] "
        "into more than 10000 buckets; use a coarser granularity or a shorter interval",
    ),
    (
        "unknown time zone",
        {"timeZone": "Mars/Olympus_Mons"},
        "invalid.value",
        "Value [Mars/Olympus_Mons] is not valid for field type [FlowAggregationQuery.timeZone]. "
        "Expected an IANA time zone id such as UTC or Europe/London",
    ),
    (
        "unknown groupBy dimension",
        {"groupBy": ["flowId", "queue"]},
        "invalid.value",
        "Value [queue] is not valid for field type [FlowAggregationQuery.groupBy]. "
        "Allowable values are: activeRouting, activeSkillId, ...",
    ),
    (
        "filter-only dimension in groupBy",
        {"groupBy": ["canonicalExternalContactId"]},
        "invalid.value",
        "Value [canonicalExternalContactId] is not valid for field type "
        "[FlowAggregationQuery.groupBy]. ...",
    ),
    (
        "filter type not and/or",
        {"filter": {"type": "xor", "predicates": [{"dimension": "flowId", "value": "x"}]}},
        "invalid.value",
        "Value [xor] is not valid for field type [QueryFilterType]. Allowable values are: and, or",
    ),
    (
        "filter without type",
        {"filter": {"predicates": [{"dimension": "flowId", "value": "x"}]}},
        "bad.request",
        "Field [FlowAggregateQueryFilter.type] is required",
    ),
    (
        "filter without clauses or predicates",
        {"filter": {"type": "and"}},
        "bad.request",
        "A filter (FlowAggregateQueryFilter) needs at least one clause or predicate",
    ),
    (
        "clause without predicates",
        {"filter": {"type": "and", "clauses": [{"type": "or", "predicates": []}]}},
        "bad.request",
        "Field [FlowAggregateQueryClause.predicates] must not be empty",
    ),
    (
        "clauses nested in a clause",
        {
            "filter": {
                "type": "and",
                "clauses": [{"type": "or", "clauses": [], "predicates": [{"dimension": "flowId"}]}],
            }
        },
        "bad.request",
        'Unrecognized field "clauses" (class FlowAggregateQueryClause), not marked as ignorable',
    ),
    (
        "predicate on an unknown dimension",
        {"filter": _pred(dimension="queue", value="x")},
        "invalid.value",
        "Value [queue] is not valid for field type [FlowAggregateQueryPredicate.dimension]. "
        "Allowable values are: activeRouting, ...",
    ),
    (
        "predicate without dimension",
        {"filter": _pred(value="x")},
        "bad.request",
        "Field [FlowAggregateQueryPredicate.dimension] is required",
    ),
    (
        "predicate type unknown",
        {"filter": _pred(type="segment", dimension="flowId", value="x")},
        "invalid.value",
        "Value [segment] is not valid for field type [FlowAggregateQueryPredicate.type]. "
        "Allowable values are: dimension, property, metric",
    ),
    (
        "predicate operator unknown",
        {"filter": _pred(dimension="flowId", operator="equals", value="x")},
        "invalid.value",
        "Value [equals] is not valid for field type [FlowAggregateQueryPredicate.operator]. "
        "Allowable values are: matches, exists, notExists",
    ),
    (
        "matches without value or range",
        {"filter": _pred(dimension="flowId")},
        "bad.request",
        "Predicate on [flowId] with operator [matches] needs a value or a range",
    ),
    (
        "value not a string",
        {"filter": _pred(dimension="flowId", value=7)},
        "bad.request",
        "Field [FlowAggregateQueryPredicate.value] must be a string",
    ),
    (
        "range with an unknown bound",
        {"filter": _pred(dimension="flowVersion", range={"eq": 1})},
        "bad.request",
        'Unrecognized field "eq" (class NumericRange), not marked as ignorable',
    ),
    (
        "range without bounds",
        {"filter": _pred(dimension="flowVersion", range={})},
        "bad.request",
        "Range of predicate on [flowVersion] needs at least one of gt, gte, lt, lte",
    ),
    (
        "view on a count metric",
        {"views": [_view(target="nFlow")]},
        "invalid.value",
        "Value [nFlow] is not valid for field type [FlowAggregationView.target]. "
        "Allowable values are: tFlow, tFlowDisconnect, tFlowExit, tFlowOutcome",
    ),
    (
        "view function unknown",
        {"views": [_view(function="histogram")]},
        "invalid.value",
        "Value [histogram] is not valid for field type [FlowAggregationView.function]. "
        "Allowable values are: rangeBound",
    ),
    (
        "view without name",
        {"views": [_view(name=None)]},
        "bad.request",
        "Field [FlowAggregationView.name] is required",
    ),
    (
        "view named like a metric",
        {"views": [_view(name="tFlow")]},
        "bad.request",
        "View name [tFlow] must not be the name of a metric",
    ),
    (
        "view names not unique",
        {"views": [_view(), _view(range={"gte": 30000})]},
        "bad.request",
        "View name [fast] is used more than once",
    ),
    (
        "view without bounds",
        {"views": [_view(range={})]},
        "bad.request",
        "View [fast] needs a range with at least one of gte, lt",
    ),
    (
        "view without range",
        {"views": [{"name": "fast", "target": "tFlow", "function": "rangeBound"}]},
        "bad.request",
        "View [fast] needs a range with at least one of gte, lt",
    ),
    (
        "view with an empty range",
        {"views": [_view(range={"gte": 5000, "lt": 5000})]},
        "bad.request",
        "View [fast] has an empty range: gte must be less than lt",
    ),
    (
        "view range with an unknown bound",
        {"views": [_view(range={"lte": 5000})]},
        "bad.request",
        'Unrecognized field "lte" (class AggregationRange), not marked as ignorable',
    ),
    (
        "more than 10 views",
        {"views": [_view(name=f"v{i}") for i in range(11)]},
        "bad.request",
        "At most 10 views are allowed per query, got 11",
    ),
    (
        "unknown top-level field",
        {"pageSize": 100},
        "bad.request",
        'Unrecognized field "pageSize" (class FlowAggregationQuery), not marked as ignorable',
    ),
    (
        "flatten not a boolean",
        {"flattenMultivaluedDimensions": "yes"},
        "bad.request",
        "Field [FlowAggregationQuery.flattenMultivaluedDimensions] must be a boolean",
    ),
    (
        "alternateTimeDimension unknown",
        {"alternateTimeDimension": "conversationStart"},
        "invalid.value",
        "Value [conversationStart] is not valid for field type "
        "[FlowAggregationQuery.alternateTimeDimension]. Allowable values are: eventTime",
    ),
]

OBSERVATION_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "filter missing",
        {"filter": None},
        "bad.request",
        "Field [FlowObservationQuery.filter] is required",
    ),
    (
        "metrics missing",
        {"metrics": None},
        "bad.request",
        "Field [FlowObservationQuery.metrics] is required",
    ),
    (
        "aggregate metric in observations",
        {"metrics": ["nFlow"]},
        "invalid.value",
        "Value [nFlow] is not valid for field type [FlowObservationQuery.metrics]. "
        "Allowable values are: oFlow",
    ),
    (
        "detail metric unknown",
        {"detailMetrics": ["tFlow"]},
        "invalid.value",
        "Value [tFlow] is not valid for field type [FlowObservationQuery.detailMetrics]. "
        "Allowable values are: oFlow",
    ),
    (
        "predicate on a dimension observations lack",
        {"filter": _pred(dimension="flowType", value="INBOUNDCALL")},
        "invalid.value",
        "Value [flowType] is not valid for field type [FlowObservationQueryPredicate.dimension]. "
        "Allowable values are: flowId, mediaType",
    ),
    (
        "groupBy is not a field of observations",
        {"groupBy": ["flowId"]},
        "bad.request",
        'Unrecognized field "groupBy" (class FlowObservationQuery), not marked as ignorable',
    ),
    (
        "interval is not a field of observations",
        {"interval": hours_before_now(1)},
        "bad.request",
        'Unrecognized field "interval" (class FlowObservationQuery), not marked as ignorable',
    ),
]


def _apply(valid: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(valid)
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    for view in body.get("views", []):
        for key in [k for k, v in view.items() if v is None]:
            del view[key]
    return body


def _assert_rejected(reply: Any, code: str, message: str) -> None:
    assert reply.status == 400, reply.text
    body = reply.json
    assert body["code"] == code
    assert body["status"] == 400
    if message.endswith("..."):
        assert body["message"].startswith(message[:-3]), body["message"]
    else:
        assert body["message"] == message
    assert body["contextId"] == reply.headers["ININ-Correlation-Id"]
    assert body["details"] == []
    assert body["errors"] == []


@pytest.mark.parametrize(
    ("changes", "code", "message"),
    [c[1:] for c in AGGREGATE_CASES],
    ids=[c[0] for c in AGGREGATE_CASES],
)
async def test_aggregate_rule(
    make_sim: MakeSim, changes: dict[str, Any], code: str, message: str
) -> None:
    """Each invalid aggregate body is refused with the Genesys code and message for its rule."""
    sim = await make_sim(flows=1)
    reply = await sim.aggregate(_apply(VALID_AGGREGATE, changes))
    _assert_rejected(reply, code, message)


@pytest.mark.parametrize(
    ("changes", "code", "message"),
    [c[1:] for c in OBSERVATION_CASES],
    ids=[c[0] for c in OBSERVATION_CASES],
)
async def test_observation_rule(
    make_sim: MakeSim, changes: dict[str, Any], code: str, message: str
) -> None:
    """Each invalid observation body is refused with the Genesys code and message for its rule."""
    sim = await make_sim(flows=1)
    reply = await sim.observe(_apply(VALID_OBSERVATION, changes))
    _assert_rejected(reply, code, message)


async def test_valid_bodies_are_accepted(make_sim: MakeSim) -> None:
    """The reference bodies of these tables pass, so each failure above is due to its change."""
    sim = await make_sim(flows=1)
    assert (await sim.aggregate(VALID_AGGREGATE)).status == 200
    assert (await sim.observe(VALID_OBSERVATION)).status == 200
    full = {
        **VALID_AGGREGATE,
        "granularity": "PT15M",
        "timeZone": "Europe/London",
        "groupBy": ["flowId", "flowOutcomeId"],
        "filter": {
            "type": "and",
            "clauses": [{"type": "or", "predicates": [{"dimension": "mediaType", "value": "x"}]}],
            "predicates": [
                {"type": "dimension", "dimension": "flowVersion", "range": {"gte": 1, "lt": 99}},
                {"dimension": "queueId", "operator": "notExists"},
            ],
        },
        "views": [_view(name=f"v{i}") for i in range(10)],
        "flattenMultivaluedDimensions": True,
        "alternateTimeDimension": "eventTime",
    }
    assert (await sim.aggregate(full)).status == 200


async def test_null_optional_fields_count_as_left_out(make_sim: MakeSim) -> None:
    """JSON null in an optional field is the same as leaving the field out."""
    sim = await make_sim(flows=1)
    nulls = dict.fromkeys(("granularity", "timeZone", "groupBy", "filter", "views"))
    plain = await sim.aggregate(VALID_AGGREGATE)
    with_nulls = await sim.aggregate({**VALID_AGGREGATE, **nulls})
    assert with_nulls.status == 200
    assert with_nulls.json == plain.json
    observed = await sim.observe({**VALID_OBSERVATION, "detailMetrics": None})
    assert observed.status == 200


@pytest.mark.parametrize("path", [AGGREGATE_PATH, OBSERVATION_PATH])
async def test_body_that_is_not_json(make_sim: MakeSim, path: str) -> None:
    """A body that is not JSON is a 400 bad.request with the service's malformed-syntax text."""
    sim = await make_sim(flows=1)
    headers = {"Authorization": f"Bearer {await sim.token()}", "Content-Type": "application/json"}
    reply = await sim.send(path, data=b'{"interval": ', headers=headers)
    _assert_rejected(
        reply,
        "bad.request",
        "The request could not be understood by the server due to malformed syntax.",
    )


async def test_body_that_is_not_an_object(make_sim: MakeSim) -> None:
    """A JSON array where the query object belongs is a 400 bad.request."""
    sim = await make_sim(flows=1)
    reply = await sim.aggregate([VALID_AGGREGATE])  # type: ignore[arg-type]
    _assert_rejected(reply, "bad.request", "Field [FlowAggregationQuery] must be a JSON object")


async def test_wrong_content_type(make_sim: MakeSim) -> None:
    """A JSON body sent as text/plain is a 415 unsupported.media.type."""
    sim = await make_sim(flows=1)
    headers = {"Authorization": f"Bearer {await sim.token()}", "Content-Type": "text/plain"}
    reply = await sim.send(AGGREGATE_PATH, data=b"{}", headers=headers)
    assert reply.status == 415
    assert reply.json["code"] == "unsupported.media.type"


async def test_request_body_over_the_platform_limit(make_sim: MakeSim) -> None:
    """A body over 512000 bytes is a 413 request.entity.too.large naming the maximum."""
    sim = await make_sim(flows=1)
    body = {**VALID_AGGREGATE, "filter": _pred(dimension="flowId", value="x" * 600_000)}
    reply = await sim.aggregate(body)
    assert reply.status == 413
    assert reply.json["code"] == "request.entity.too.large"
    assert reply.json["message"] == "Maximum bytes: 512000"


async def test_unknown_path_and_method(make_sim: MakeSim) -> None:
    """Unknown paths are a Genesys 404 not.found; GET on a query endpoint is refused."""
    sim = await make_sim(flows=1)
    missing = await sim.send("/api/v2/analytics/flows/details/query", body={})
    assert missing.status == 404
    assert missing.json["code"] == "not.found"
    wrong_method = await sim.send(AGGREGATE_PATH, method="GET")
    assert wrong_method.status == 405
    assert wrong_method.json["status"] == 405
