"""What the Genesys Cloud flow endpoints accept, as published (shared/genesys-api.md §1, §3, §5).

Kept as data so the config checker, the simulator and the docs agree on one list. Genesys grows
these lists over time, which is why `genesys.strict_names: false` exists.
"""

from __future__ import annotations

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

OBSERVATION_METRICS: tuple[str, ...] = ("oFlow",)

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

# Filters accept one dimension more than groupBy does.
AGGREGATE_FILTER_DIMENSIONS: tuple[str, ...] = (*GROUP_BY_DIMENSIONS, "canonicalExternalContactId")

OBSERVATION_FILTER_DIMENSIONS: tuple[str, ...] = ("flowId", "mediaType")

FILTER_TYPES: tuple[str, ...] = ("and", "or")
PREDICATE_TYPES: tuple[str, ...] = ("dimension", "property", "metric")
PREDICATE_OPERATORS: tuple[str, ...] = ("matches", "exists", "notExists")
RANGE_KEYS: tuple[str, ...] = ("gt", "gte", "lt", "lte")
VIEW_FUNCTIONS: tuple[str, ...] = ("rangeBound",)
MAX_VIEWS = 10

# Per-conversation dimensions: grouping by them makes one series per call, which no Prometheus
# server survives. The config checker refuses them in groupBy.
HIGH_CARDINALITY_DIMENSIONS: frozenset[str] = frozenset(
    {
        "conversationId", "sessionId", "ani", "dnis", "sessionDnis", "addressFrom", "addressTo",
        "externalContactId", "journeyCustomerId", "journeyCustomerSessionId", "outboundContactId",
        "peerId", "roomId", "destinationAddress",
    }
)  # fmt: skip

# SDK region name -> domain; API host is api.<domain>, login host is login.<domain>.
REGIONS: dict[str, str] = {
    "us_east_1": "mypurecloud.com",
    "us_east_2": "use2.us-gov-pure.cloud",
    "us_west_2": "usw2.pure.cloud",
    "ca_central_1": "cac1.pure.cloud",
    "sa_east_1": "sae1.pure.cloud",
    "mx_central_1": "mxc1.pure.cloud",
    "eu_west_1": "mypurecloud.ie",
    "eu_west_2": "euw2.pure.cloud",
    "eu_central_1": "mypurecloud.de",
    "eu_central_2": "euc2.pure.cloud",
    "eusc_de_east_1": "edee1.eusc-pure.cloud",
    "me_central_1": "mec1.pure.cloud",
    "ap_south_1": "aps1.pure.cloud",
    "ap_southeast_1": "apse1.pure.cloud",
    "ap_southeast_2": "mypurecloud.com.au",
    "ap_northeast_1": "mypurecloud.jp",
    "ap_northeast_2": "apne2.pure.cloud",
    "ap_northeast_3": "apne3.pure.cloud",
}

AGGREGATE_PERMISSION = "analytics:flowAggregate:view"
OBSERVATION_PERMISSION = "analytics:flowObservation:view"
AGGREGATE_PATH = "/api/v2/analytics/flows/aggregates/query"
OBSERVATION_PATH = "/api/v2/analytics/flows/observations/query"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a URL path, not a password
# The Architect listings that name the ids analytics reports (GET, paged).
FLOWS_PATH = "/api/v2/flows"
FLOW_OUTCOMES_PATH = "/api/v2/flows/outcomes"
FLOW_MILESTONES_PATH = "/api/v2/flows/milestones"
FLOWS_PERMISSION = "architect:flow:view"
FLOW_OUTCOMES_PERMISSION = "architect:flowOutcome:view"
FLOW_MILESTONES_PERMISSION = "architect:flowMilestone:view"
# Genesys Cloud's id for a request, on every response: support traces a call with it.
CORRELATION_HEADER = "ININ-Correlation-Id"
