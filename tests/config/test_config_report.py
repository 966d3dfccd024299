"""The query plan `check-config` prints: the table, the shipped alerts fed, the cost and the
warnings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from poller.checkreport import format_report, requests_per_minute
from poller.config import parse_config
from tests.support.config import Value, aggregate, observation, org_entry, poller_yaml


def plan_config(
    *,
    listen: str = ":9864",
    hour_metrics: Sequence[str] = ("nFlow",),
    names: Mapping[str, Value] | None = None,
    requests_per_minute: int | None = 300,
    strict_names: bool | None = None,
) -> str:
    """Today's flows in Dublin, the last 2 h five minutes late, the active ones; 300 a minute."""
    return poller_yaml(
        aggregate(
            "flows_today",
            every="60s",
            window="today",
            time_zone="Europe/Dublin",
            group_by=["flowId", "flowType"],
            metrics=[
                "nFlow",
                "tFlow",
                "nFlowOutcome",
                "nFlowOutcomeFailed",
                "tFlowOutcome",
                "tFlowExit",
            ],
        ),
        aggregate("flows_hour", every="1h", window="2h", delay="5m", metrics=hour_metrics),
        observation("flows_active", every="15s"),
        server={"listen": listen},
        names=names,
        requests_per_minute=requests_per_minute,
        strict_names=strict_names,
    )


CONFIG = plan_config()

POLLER_ALERTS = (
    "GenesysCloudPollerDown, GenesysCloudPollerQueryFailing, GenesysCloudPollerDataStale, "
    "GenesysCloudPollerThrottled, GenesysCloudPollerTokenExpiring, "
    "GenesysCloudPollerLoginRefused, "
)
# What check-config says of a config that feeds no flow alert (names on).
FEEDS_NO_FLOW_ALERT = [
    "Shipped alerts (deploy/prometheus/rules) this config feeds:",
    f"  {POLLER_ALERTS}GenesysCloudPollerNamesFailing, GenesysCloudPollerBudgetNearLimit: "
    "the poller's own metrics",
    "It cannot feed:",
    "  GenesysCloudFlowNoEntries: needs nFlow in a counter-mode query grouped by flowId",
    "  GenesysCloudFlowFailureBudgetBurn: needs nFlowOutcome and nFlowOutcomeFailed in a "
    "counter-mode query grouped by flowId (no outcome dimension in group_by)",
    "  GenesysCloudFlowDisconnectsHigh: needs tFlow and tFlowDisconnect in a counter-mode query "
    "grouped by flowId",
    "  GenesysCloudFlowSlow: needs tFlow with lt views (a histogram) in a counter-mode query "
    "grouped by flowId",
    "  GenesysCloudFlowMilestoneDropped: needs nFlowMilestone in a counter-mode query grouped by "
    "flowId and flowMilestoneId; and nFlow in a counter-mode query grouped by flowId",
    "  GenesysCloudFlowExecutionStuck: needs an observation query with details: true",
    "  GenesysCloudFlowSelfServiceDropped: needs tFlow in a counter-mode query grouped by flowId "
    "and selfServed",
    "  GenesysCloudFlowVersionRegression: needs nFlowOutcome and nFlowOutcomeFailed in a "
    "counter-mode query grouped by flowId and flowVersion (no outcome dimension in group_by); "
    "and tFlow and tFlowDisconnect in a counter-mode query grouped by flowId, flowVersion and "
    "selfServed",
]
SERIES = (
    "Series expected per flow, from each group_by dimension's typical values per flow "
    "(a poll over a query's max_series fails):"
)
# The same with names.every: off.
FEEDS_NOTHING = [
    FEEDS_NO_FLOW_ALERT[0],
    f"  {POLLER_ALERTS}GenesysCloudPollerBudgetNearLimit: the poller's own metrics",
    *FEEDS_NO_FLOW_ALERT[2:],
    "  GenesysCloudPollerNamesFailing: needs the name listings (names.every not off)",
    "Note: the flow alerts' summaries name the flow from genesyscloud_flow_info; with "
    "names.every: off they show its id instead.",
]


def test_plan_text() -> None:
    """The plan names the hosts, the listen address, one row per query and the total cost."""
    config = parse_config(CONFIG, source="config/poller.yaml", env={})
    assert format_report(config).splitlines() == [
        "config/poller.yaml: valid",
        "Genesys API https://api.mypurecloud.ie (login https://login.mypurecloud.ie), "
        "budget 300 requests/minute",
        "Serving metrics on :9864 (all interfaces)",
        "QUERY         TYPE         EVERY  WINDOW                 GROUP BY          "
        "METRICS                              REQ/MIN",
        "flows_today   aggregate    1m     today (Europe/Dublin)  flowId, flowType  "
        "nFlow, tFlow, nFlowOutcome, +3 more  1.0",
        "flows_hour    aggregate    1h     last 2h, 5m delay      -                 "
        "nFlow                                0.017",
        "flows_active  observation  15s    now                    -                 "
        "oFlow                                4.0",
        SERIES,
        # Gauge mode, one group per flow: nFlow, nFlowOutcome and nFlowOutcomeFailed 1 each,
        # tFlow, tFlowOutcome and tFlowExit 4 each (sum, max, min, measurements): 15.
        "  flows_today: about 15 series per flow",
        "  flows_hour: about 1 series in all, not split by flow",
        "  flows_active: about 1 series per flow",
        *FEEDS_NO_FLOW_ALERT,
        "Names: every 1h, 4 listings (/api/v2/flows, /api/v2/flows?deleted=true, "
        "/api/v2/flows/outcomes, /api/v2/flows/milestones), one request per 100 entities "
        "each: 0.067 requests/minute or more, only from what the queries leave (8 a minute "
        "kept for them).",
        "Names need the permissions architect:flow:view, architect:flowOutcome:view, "
        "architect:flowMilestone:view; without one, that listing's names are missing and "
        "genesyscloud_poller_names_up{kind} is 0.",
        "Total: 5.0 requests/minute of a budget of 300 (2 %).",
    ]


def test_requests_per_minute_is_sixty_over_every() -> None:
    """Each query costs 60/every requests per minute; the total is their sum."""
    config = parse_config(CONFIG, env={})
    assert requests_per_minute(config) == pytest.approx(1.0 + 1 / 60 + 4.0)


def test_over_budget_plan_warns_and_names_the_fix() -> None:
    """When the queries need more than requests_per_minute, a WARNING line says what to raise."""
    config = parse_config(plan_config(requests_per_minute=4), env={})
    lines = format_report(config).splitlines()
    assert lines[-2] == "Total: 5.0 requests/minute of a budget of 4 (125 %)."
    assert lines[-1] == (
        "WARNING: the queries need 5.0 requests/minute, more than the budget of 4; polls will be "
        "delayed by the budget. Raise `every` on some queries, or raise "
        "genesys.requests_per_minute if the OAuth client's rate limit allows it."
    )


def test_plan_within_budget_has_no_warning() -> None:
    """A plan that fits its budget prints no WARNING line."""
    assert "WARNING" not in format_report(parse_config(CONFIG, env={}))


def test_plan_lists_config_warnings() -> None:
    """Each Config.warnings entry (strict_names: false) becomes its own WARNING line."""
    lenient = plan_config(requests_per_minute=None, strict_names=False, hour_metrics=["nFlowNew"])
    lines = format_report(parse_config(lenient, env={})).splitlines()
    assert lines[-1] == (
        "WARNING: queries[1].metrics[0]: unknown flow aggregate metric 'nFlowNew' "
        "(did you mean 'nFlow'?)"
    )


def test_plan_shows_overridden_hosts_and_ipv6_listen() -> None:
    """Base URLs from the environment and a bracketed IPv6 listen address are shown as used."""
    text = plan_config(listen="[::1]:9100")
    env = {"GENESYS_API_BASE_URL": "http://127.0.0.1:9865"}
    lines = format_report(parse_config(text, env=env)).splitlines()
    assert lines[1].startswith(
        "Genesys API http://127.0.0.1:9865 (login https://login.mypurecloud.ie)"
    )
    assert lines[2] == "Serving metrics on [::1]:9100"


def test_plan_names_off_and_names_starved() -> None:
    """check-config says when names are off, and warns when the queries leave them no budget."""
    off = parse_config(plan_config(names={"every": "off"}), env={})
    assert "Names: off (names.every: off); no _info families." in format_report(off).splitlines()
    starved = parse_config(plan_config(requests_per_minute=8), env={})
    assert (
        "WARNING: the queries may send 8 requests in a minute, the whole budget of 8; the name "
        "listings will never run. Raise genesys.requests_per_minute or `every` on some queries, "
        "or set names.every: off."
    ) in format_report(starved).splitlines()


ORGS = poller_yaml(
    aggregate("flows", every="60s"),
    server={"listen": "127.0.0.1:9864"},
    names={"every": "off"},
    orgs=org_entry("acme", client_id_env="ACME_ID", client_secret_env="ACME_SECRET")
    + org_entry(
        "globex",
        observation("active", every="15s"),
        region="us_east_1",
        api_base_url="https://api.example.com",
        requests_per_minute=2,
        client_id_env="GLOBEX_ID",
        client_secret_env="GLOBEX_SECRET",
    ),
)


def test_plan_with_orgs_has_a_plan_per_org() -> None:
    """With orgs:, each org gets a heading (region, hosts, budget), its own query table and its
    own budget line, and the over-budget warning names that org's requests_per_minute."""
    config = parse_config(ORGS, source="p.yaml", env={})
    assert format_report(config).splitlines() == [
        "p.yaml: valid",
        "Serving metrics on 127.0.0.1:9864",
        "",
        "Org acme (mypurecloud.ie): Genesys API https://api.mypurecloud.ie "
        "(login https://login.mypurecloud.ie), budget 300 requests/minute",
        "QUERY  TYPE       EVERY  WINDOW   GROUP BY  METRICS  REQ/MIN",
        "flows  aggregate  1m     last 1h  -         nFlow    1.0",
        SERIES,
        "  flows: about 1 series in all, not split by flow",
        *FEEDS_NOTHING,
        "Names: off (names.every: off); no _info families.",
        "Total: 1.0 requests/minute of a budget of 300 (0 %).",
        "",
        "Org globex (mypurecloud.com): Genesys API https://api.example.com "
        "(login https://login.mypurecloud.com), budget 2 requests/minute",
        "QUERY   TYPE         EVERY  WINDOW  GROUP BY  METRICS  REQ/MIN",
        "active  observation  15s    now     -         oFlow    4.0",
        SERIES,
        "  active: about 1 series per flow",
        *FEEDS_NOTHING,
        "Names: off (names.every: off); no _info families.",
        "Total: 4.0 requests/minute of a budget of 2 (200 %).",
        "WARNING: the queries need 4.0 requests/minute, more than the budget of 2; polls will be "
        "delayed by the budget. Raise `every` on some queries, or raise "
        "orgs[1].requests_per_minute if the OAuth client's rate limit allows it.",
    ]
