"""What the simulated endpoints accept: the simulator's own copy of the Genesys Cloud lists.

Copied from the official SDK models, not from the poller's catalog, so that a wrong name in the
poller fails against the simulator as it would against Genesys. Sources (shared/genesys-api.md
§1-§3): `purecloudplatformclientv2` 269.0.0 models `flow_aggregation_query.py`,
`flow_aggregate_query_predicate.py`, `flow_aggregate_query_filter.py`,
`flow_aggregation_view.py`, `flow_observation_query.py`, `flow_observation_query_predicate.py`
and `numeric_range.py`, and the same enums in the Swagger definitions of the "PureCloud
Platform API" (api-evangelist/genesys `openapi/genesys-analytics-api-openapi.yml`).
tests/simulator/test_sim_lists.py compares these lists with the poller's.
"""

from __future__ import annotations

# FlowAggregationQuery.metrics
AGGREGATE_METRICS: tuple[str, ...] = (
    "nFlow",
    "nFlowMilestone",
    "nFlowOutcome",
    "nFlowOutcomeFailed",
    "oFlowMilestone",
    "tFlow",
    "tFlowDisconnect",
    "tFlowExit",
    "tFlowOutcome",
)

# FlowAggregationView.target takes any of them, but rangeBound needs a timer.
TIMER_METRICS: tuple[str, ...] = tuple(m for m in AGGREGATE_METRICS if m.startswith("t"))

# FlowObservationQuery.metrics and .detailMetrics
OBSERVATION_METRICS: tuple[str, ...] = ("oFlow",)

# FlowAggregationQuery.groupBy
GROUP_BY_DIMENSIONS: tuple[str, ...] = (
    "activeRouting", "activeSkillId", "addressFrom", "addressTo", "agentAssistantId",
    "agentBullseyeRing", "agentOwned", "agentRank", "agentScore", "ani", "assignerId",
    "authenticated", "conversationId", "conversationInitiator", "convertedFrom", "convertedTo",
    "customerParticipation", "deliveryStatus", "destinationAddress", "direction",
    "disconnectType", "divisionId", "dnis", "edgeId", "eligibleAgentCount", "endingLanguage",
    "entryReason", "entryType", "errorCode", "exitReason", "extendedDeliveryStatus",
    "externalContactId", "externalMediaCount", "externalOrganizationId", "externalTag",
    "firstQueue", "flaggedReason", "flowId", "flowInType", "flowMilestoneId", "flowName",
    "flowOutType", "flowOutcome", "flowOutcomeId", "flowOutcomeValue", "flowSubType", "flowType",
    "flowVersion", "groupId", "interactionType", "journeyActionId", "journeyActionMapId",
    "journeyActionMapVersion", "journeyCustomerId", "journeyCustomerIdType",
    "journeyCustomerSessionId", "journeyCustomerSessionIdType", "knowledgeBaseId", "mediaCount",
    "mediaType", "messageType", "originatingDirection", "outboundCampaignId",
    "outboundContactId", "outboundContactListId", "participantName", "peerId", "proposedAgentId",
    "provider", "purpose", "queueId", "recognitionFailureReason", "remote", "removedSkillId",
    "requestedLanguageId", "requestedRouting", "requestedRoutingSkillId", "roomId",
    "routingPriority", "routingRing", "routingRule", "routingRuleType", "scoredAgentId",
    "selectedAgentId", "selectedAgentRank", "selfServed", "sessionDnis", "sessionId",
    "skillExpressionId", "startingLanguage", "stationId", "teamId", "transferTargetAddress",
    "transferTargetName", "transferType", "usedRouting", "userId", "videoPresent",
    "waitingInteractionCount", "wrapUpCode",
)  # fmt: skip

# FlowAggregateQueryPredicate.dimension: the groupBy list plus one filter-only dimension.
AGGREGATE_FILTER_DIMENSIONS: tuple[str, ...] = tuple(
    sorted((*GROUP_BY_DIMENSIONS, "canonicalExternalContactId"))
)

# FlowObservationQueryPredicate.dimension
OBSERVATION_FILTER_DIMENSIONS: tuple[str, ...] = ("flowId", "mediaType")

FILTER_TYPES: tuple[str, ...] = ("and", "or")  # QueryFilter.type and QueryClause.type
PREDICATE_TYPES: tuple[str, ...] = ("dimension", "property", "metric")
PREDICATE_OPERATORS: tuple[str, ...] = ("matches", "exists", "notExists")
RANGE_KEYS: tuple[str, ...] = ("gt", "gte", "lt", "lte")  # NumericRange
VIEW_FUNCTIONS: tuple[str, ...] = ("rangeBound",)  # FlowAggregationView.function
VIEW_RANGE_KEYS: tuple[str, ...] = ("gte", "lt")  # AggregationRange
ALTERNATE_TIME_DIMENSIONS: tuple[str, ...] = ("eventTime",)
MAX_VIEWS = 10  # "User-defined Views on Aggregations" on the Developer Center

# Permissions (x-inin-requires-permissions) and paths of the Swagger operations.
AGGREGATE_PERMISSION = "analytics:flowAggregate:view"
OBSERVATION_PERMISSION = "analytics:flowObservation:view"
AGGREGATE_PATH = "/api/v2/analytics/flows/aggregates/query"
OBSERVATION_PATH = "/api/v2/analytics/flows/observations/query"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a URL path, not a password
# The Architect listings (ArchitectApi: getFlows, getFlowsOutcomes, getFlowsMilestones).
FLOWS_PATH = "/api/v2/flows"
OUTCOMES_PATH = "/api/v2/flows/outcomes"
MILESTONES_PATH = "/api/v2/flows/milestones"
FLOWS_PERMISSION = "architect:flow:view"
OUTCOMES_PERMISSION = "architect:flowOutcome:view"
MILESTONES_PERMISSION = "architect:flowMilestone:view"
LISTING_PAGE_SIZE = 25  # the listings' default pageSize
# Every Genesys Cloud response names its request with this header (the SDK logging blog's trace).
CORRELATION_HEADER = "ININ-Correlation-Id"
