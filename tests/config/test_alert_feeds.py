"""Which shipped alerts a config feeds: the table against the rule files, the shipped configs'
verdicts, and the near misses that feed nothing, each with the reason check-config gives."""

from __future__ import annotations

from pathlib import Path

import yaml

from poller.alertfeeds import FEEDS, report
from poller.checkreport import org_view
from poller.config import load_config, parse_config
from tests.support.config import Value, aggregate, observation, poller_yaml

ROOT = Path(__file__).parents[2]
RULES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))


def rule_alerts() -> set[str]:
    """Every alert name in the shipped rule files (their promtool tests left out)."""
    names: set[str] = set()
    for path in RULES:
        if path.name.endswith(".test.yml"):
            continue
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            names.update(rule["alert"] for rule in group["rules"] if "alert" in rule)
    return names


def test_table_names_exactly_the_shipped_alerts() -> None:
    """Every alert in deploy/prometheus/rules has a row in the feeds table, and every row is a
    shipped alert: check-config never vouches for an alert that does not exist."""
    assert {feed.alert for feed in FEEDS} == rule_alerts()


def feeds_lines(text: str) -> list[str]:
    """The lines of check-config's alert section in the report of a config without orgs."""
    return report(parse_config(poller_yaml(text), env={}))


def test_shipped_config_feeds_every_alert() -> None:
    """config/poller.yaml feeds every shipped alert, each from the queries named: the IVR KPI
    queries feed the KPI alerts, and only those (their series carry a KPI label)."""
    config = load_config(ROOT / "config" / "poller.yaml", env={})
    assert report(config) == [
        "Shipped alerts (deploy/prometheus/rules) this config feeds:",
        "  GenesysCloudFlowNoEntries: flows_counted",
        "  GenesysCloudFlowFailureBudgetBurn: flows_counted",
        "  GenesysCloudFlowDisconnectsHigh: flows_counted",
        "  GenesysCloudFlowSlow: flows_counted",
        "  GenesysCloudFlowMilestoneDropped: milestones_counted + flows_counted",
        "  GenesysCloudFlowExecutionStuck: flows_active",
        "  GenesysCloudFlowSelfServiceDropped: ivr_self_service",
        "  GenesysCloudFlowVersionRegression: ivr_versions",
        "  GenesysCloudPollerDown, GenesysCloudPollerQueryFailing, GenesysCloudPollerDataStale, "
        "GenesysCloudPollerThrottled, GenesysCloudPollerTokenExpiring, "
        "GenesysCloudPollerLoginRefused, GenesysCloudPollerNamesFailing, "
        "GenesysCloudPollerBudgetNearLimit: the poller's own metrics",
    ]


def test_demo_config_feeds_every_alert_in_each_org() -> None:
    """config/demo.yaml feeds every shipped alert in each of its orgs."""
    text = (ROOT / "config" / "demo.yaml").read_text(encoding="utf-8")
    env = {
        "GENESYS_API_BASE_URL": "http://127.0.0.1:1",
        "GENESYS_LOGIN_BASE_URL": "http://127.0.0.1:1",
    }
    config = parse_config(text, env=env)
    for org in config.orgs:
        lines = report(org_view(config, org))
        assert not any(line.startswith("It cannot feed") for line in lines), lines
        assert "  GenesysCloudFlowMilestoneDropped: milestones_counted + flows_counted" in lines


HISTOGRAM: list[Value] = [
    {"name": "under30s", "target": "tFlow", "range": {"lt": 30000}},
    {"name": "under2m", "target": "tFlow", "range": {"lt": 120000}},
]


def unfed(text: str) -> list[str]:
    """The lines under "It cannot feed:" for a config of these queries."""
    lines = feeds_lines(text)
    return lines[lines.index("It cannot feed:") + 1 :] if "It cannot feed:" in lines else []


def test_gauge_mode_and_split_outcomes_feed_no_rate_alert() -> None:
    """The same metrics in gauge mode feed nothing; a counter query split by outcome feeds no
    failure budget; views with a lower bound make no histogram."""
    gauge = unfed(
        aggregate(
            "flows",
            group_by=["flowId", "flowName"],
            metrics=["nFlow", "nFlowOutcome", "nFlowOutcomeFailed", "tFlow", "tFlowDisconnect"],
            views=HISTOGRAM,
        )
    )
    assert [line.split(":")[0] for line in gauge][:5] == [
        "  GenesysCloudFlowNoEntries",
        "  GenesysCloudFlowFailureBudgetBurn",
        "  GenesysCloudFlowDisconnectsHigh",
        "  GenesysCloudFlowSlow",
        "  GenesysCloudFlowMilestoneDropped",
    ]
    split = unfed(
        aggregate(
            "flows",
            mode="counter",
            group_by=["flowId", "flowOutcomeId"],
            metrics=["nFlow", "nFlowOutcome", "nFlowOutcomeFailed", "tFlow"],
            views=[{"name": "band", "target": "tFlow", "range": {"gte": 1000, "lt": 30000}}],
        )
    )
    assert split[:3] == [
        "  GenesysCloudFlowFailureBudgetBurn: needs nFlowOutcome and nFlowOutcomeFailed in a "
        "counter-mode query grouped by flowId (no outcome dimension in group_by)",
        "  GenesysCloudFlowDisconnectsHigh: needs tFlow and tFlowDisconnect in a counter-mode "
        "query grouped by flowId",
        "  GenesysCloudFlowSlow: needs tFlow with lt views (a histogram) in a counter-mode query "
        "grouped by flowId",
    ]


def test_milestones_need_entries_and_details_need_details() -> None:
    """A milestone counter alone does not feed MilestoneDropped (the share needs entries); an
    observation query without details does not feed ExecutionStuck."""
    lines = feeds_lines(
        aggregate(
            "milestones",
            mode="counter",
            group_by=["flowId", "flowMilestoneId"],
            metrics=["nFlowMilestone"],
        )
        + observation("active")
    )
    assert (
        "  GenesysCloudFlowMilestoneDropped: needs nFlow in a counter-mode query grouped by flowId"
    ) in lines
    assert "  GenesysCloudFlowExecutionStuck: needs an observation query with details: true" in (
        lines
    )
    fed = feeds_lines(observation("active", details=True))
    assert "  GenesysCloudFlowExecutionStuck: active" in fed


VERSIONS = aggregate(
    "ivr_versions",
    mode="counter",
    group_by=["flowId", "flowVersion", "selfServed"],
    metrics=["tFlow", "tFlowDisconnect", "nFlowOutcome", "nFlowOutcomeFailed"],
)


def test_kpi_queries_feed_the_kpi_alerts_and_no_per_flow_one() -> None:
    """tFlow by selfServed feeds SelfServiceDropped; outcomes, failed outcomes, tFlow and
    tFlowDisconnect by flowVersion feed VersionRegression, named once; grouped by a KPI
    dimension they feed none of the per-flow alerts (their rules read unlabelled series)."""
    self_service = aggregate(
        "ivr_self_service", mode="counter", group_by=["flowId", "selfServed"], metrics=["tFlow"]
    )
    lines = feeds_lines(self_service + VERSIONS)
    assert lines[1:3] == [
        "  GenesysCloudFlowSelfServiceDropped: ivr_self_service",
        "  GenesysCloudFlowVersionRegression: ivr_versions",
    ]
    # Its rule reads series without flow_version: the versions query alone does not feed it.
    assert "  GenesysCloudFlowSelfServiceDropped" in [
        line.split(":")[0] for line in unfed(VERSIONS)
    ]
    assert [line.split(":")[0] for line in unfed(VERSIONS)][:5] == [
        "  GenesysCloudFlowNoEntries",
        "  GenesysCloudFlowFailureBudgetBurn",
        "  GenesysCloudFlowDisconnectsHigh",
        "  GenesysCloudFlowSlow",
        "  GenesysCloudFlowMilestoneDropped",
    ]


def test_kpi_alerts_need_counter_mode_and_versions_need_every_outcome_of_a_version() -> None:
    """In gauge mode neither KPI alert is fed; a versions query split by outcome, without
    tFlowDisconnect or not split by selfServed does not feed VersionRegression, and says what is
    missing."""
    gauge = unfed(VERSIONS.replace("mode: counter", "mode: gauge"))
    assert [line.split(":")[0] for line in gauge if "SelfService" in line or "Version" in line] == [
        "  GenesysCloudFlowSelfServiceDropped",
        "  GenesysCloudFlowVersionRegression",
    ]
    by_outcome = aggregate(
        "versions",
        mode="counter",
        group_by=["flowId", "flowVersion", "selfServed", "flowOutcomeId"],
        metrics=["tFlow", "tFlowDisconnect", "nFlowOutcome", "nFlowOutcomeFailed"],
    )
    assert (
        "  GenesysCloudFlowVersionRegression: needs nFlowOutcome and nFlowOutcomeFailed in a "
        "counter-mode query grouped by flowId and flowVersion (no outcome dimension in group_by)"
    ) in unfed(by_outcome)
    no_disconnects = aggregate(
        "versions",
        mode="counter",
        group_by=["flowId", "flowVersion", "selfServed"],
        metrics=["tFlow", "nFlowOutcome", "nFlowOutcomeFailed"],
    )
    hang_ups = (
        "  GenesysCloudFlowVersionRegression: needs tFlow and tFlowDisconnect in a counter-mode "
        "query grouped by flowId, flowVersion and selfServed"
    )
    assert hang_ups in unfed(no_disconnects)
    # Hang-ups are the disconnects that were not self-served: without selfServed, no signal.
    not_split = aggregate(
        "versions",
        mode="counter",
        group_by=["flowId", "flowVersion"],
        metrics=["tFlow", "tFlowDisconnect", "nFlowOutcome", "nFlowOutcomeFailed"],
    )
    assert hang_ups in unfed(not_split)
