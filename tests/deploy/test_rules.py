"""The shipped Prometheus config and rules: promtool accepts them, their unit tests pass, and
every alert is documented and unit-tested both ways."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.deploy_support import (
    PROMETHEUS_CONFIG,
    ROOT,
    RULES_FILE,
    RULES_TEST_FILE,
    alert_rules,
    load_yaml,
    recording_rules,
    run,
)
from tests.support.tools import require_tool

RUNBOOK_PREFIX = "https://github.com/genesyscloud-poller/genesyscloud-poller/blob/main/README.md#"
# The rules' unit tests: the poller's alerts and the gauge rules at a 1-minute evaluation, the
# IVR alert pack at the shipped 15-second cadence, and the KPI rules over hours of history at the
# KPI queries' 1-minute cadence.
FLOW_ALERTS_TEST_FILE = RULES_TEST_FILE.with_name("genesyscloud-flow-alerts.rules.test.yml")
KPI_TEST_FILE = RULES_TEST_FILE.with_name("genesyscloud-kpi.rules.test.yml")
RULES_TEST_FILES = (RULES_TEST_FILE, FLOW_ALERTS_TEST_FILE, KPI_TEST_FILE)
# The matchers that keep the KPI queries' series out of the per-flow rules.
KPI_GUARD = (
    '{self_served="",flow_version="",exit_reason="",disconnect_type="",transfer_type="",'
    'recognition_failure_reason=""}'
)
FLOW_SEVERITIES = ("page", "ticket", "warning")
POLLER_SEVERITIES = ("critical", "warning")


def _promtool_test(directory: Path, *files: Path) -> str:
    """promtool test rules over `files` (names) in `directory`; the combined output."""
    result = run(
        [require_tool("promtool"), "test", "rules", *(f.name for f in files)],
        cwd=directory,
        timeout=300,
    )
    return f"rc={result.returncode}\n{result.stdout}{result.stderr}"


def test_promtool_check_rules_accepts_the_rules_file() -> None:
    """promtool check rules reports no problem in the shipped rules."""
    result = run([require_tool("promtool"), "check", "rules", str(RULES_FILE)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    """promtool test rules passes the three files of shipped rule unit tests."""
    output = _promtool_test(RULES_FILE.parent, *RULES_TEST_FILES)
    assert output.startswith("rc=0"), output
    assert output.count("SUCCESS") == 3, output


@pytest.mark.parametrize(
    ("old", "new", "alert"),
    [
        # A silence threshold: 15.2 entries expected in the busy flow's silent minute.
        ("expected1m15s >= 13", "expected1m15s >= 20", "GenesysCloudFlowNoEntries"),
        # The settle guard: a settling poller's frozen counters would read as silence.
        (
            "(max_over_time(genesyscloud_poller_query_settling[1m15s]) == 0)",
            "(max_over_time(genesyscloud_poller_query_settling[1m15s]) >= 0)",
            "GenesysCloudFlowNoEntries",
        ),
        # The poll guard: a 429 pause (no polls) would read as silence.
        (
            "genesyscloud_poller_query_interval_seconds >= 56.25)",
            "genesyscloud_poller_query_interval_seconds >= 0)",
            "GenesysCloudFlowNoEntries",
        ),
        # A burn tier's threshold.
        ("clamp_max(7 *", "clamp_max(12 *", "GenesysCloudFlowFailureBudgetBurn"),
        # The page tier's least number of failures: 9 of 24 must not page.
        (
            "failed_total" + KPI_GUARD + "[2m])) >= 10",
            "failed_total" + KPI_GUARD + "[2m])) >= 5",
            "GenesysCloudFlowFailureBudgetBurn",
        ),
        # The short window of the page tier must agree too.
        (
            "and flow:genesyscloud_flow_outcomes_failed:ratio_increase1m > ",
            "or flow:genesyscloud_flow_outcomes_failed:ratio_increase1m > ",
            "GenesysCloudFlowFailureBudgetBurn",
        ),
        ("ratio6h_before15m + 0.15", "ratio6h_before15m + 0.7", "GenesysCloudFlowDisconnectsHigh"),
        # The significance floor: 5 standard deviations of a binomial count.
        ("> 5 * sqrt(", "> 50 * sqrt(", "GenesysCloudFlowDisconnectsHigh"),
        ("p90_6h_before10m + 60", "p90_6h_before10m + 300", "GenesysCloudFlowSlow"),
        ("< 0.3 * flow_milestone", "< 0.01 * flow_milestone", "GenesysCloudFlowMilestoneDropped"),
        # A flow's own long calls: twice its p99 before a 17-minute call is stuck.
        (
            "2 * max by (org, flow_id) (flow:genesyscloud_flow_duration_seconds:p99_6h)",
            "1 * max by (org, flow_id) (flow:genesyscloud_flow_duration_seconds:p99_6h)",
            "GenesysCloudFlowExecutionStuck",
        ),
        ("names_up == 0", "names_up == 2", "GenesysCloudPollerNamesFailing"),
        # The KPI guard: without it, the KPI queries' series raise DisconnectsHigh per self_served.
        (KPI_GUARD, "", "GenesysCloudFlowDisconnectsHigh"),
        # Self-service: the drop under 70% of the baseline, and the hour's minimum volume (the
        # quiet flow has 48 executions).
        (
            "< 0.7 * flow:genesyscloud_flow_self_served:ratio6h_before1h",
            "< 0.9 * flow:genesyscloud_flow_self_served:ratio6h_before1h",
            "GenesysCloudFlowSelfServiceDropped",
        ),
        (
            "self_service_executions:increase1h >= 50",
            "self_service_executions:increase1h >= 40",
            "GenesysCloudFlowSelfServiceDropped",
        ),
        # Versions: twice the other versions' failed share, and the published version's 30
        # outcomes (the quiet flow's bad version has 24).
        (
            "> 2 * flow:genesyscloud_flow_outcomes_failed:ratio6h_other_versions",
            "> 9 * flow:genesyscloud_flow_outcomes_failed:ratio6h_other_versions",
            "GenesysCloudFlowVersionRegression",
        ),
        (
            "outcomes:increase1h_published >= 30",
            "outcomes:increase1h_published >= 20",
            "GenesysCloudFlowVersionRegression",
        ),
        ("0.9 * max by", "0.95 * max by", "GenesysCloudPollerBudgetNearLimit"),
        # Push: 29.25 entries expected in the busy flow's silent 30s.
        ("expected30s >= 26", "expected30s >= 30", "GenesysCloudFlowNoEntries"),
        # A query whose push reads 0, or read 0 once in the window, is not armed by push.
        (
            "(min_over_time(genesyscloud_poller_query_pushed[30s]) == 1)",
            "(min_over_time(genesyscloud_poller_query_pushed[30s]) >= 0)",
            "GenesysCloudFlowNoEntries",
        ),
        (
            "(min_over_time(genesyscloud_poller_query_pushed[1m15s]) == 1)",
            "(min_over_time(genesyscloud_poller_query_pushed[1m15s]) >= 0)",
            "GenesysCloudFlowNoEntries",
        ),
        # A reconnect in the window, the first one too (it creates its series), a socket stalled
        # without a frame for 45 s, a socket without data messages in the 30s window.
        (
            "push_reconnects_total offset 30s)",
            "push_reconnects_total)",
            "GenesysCloudFlowNoEntries",
        ),
        (
            "0 * sum by (job, instance, org) (genesyscloud_poller_push_reconnects_total)\n",
            "0 * sum by (job, instance, org) (genesyscloud_poller_push_reconnects_total) > 1\n",
            "GenesysCloudFlowNoEntries",
        ),
        (
            "push_last_message_timestamp_seconds <= 45)",
            "push_last_message_timestamp_seconds <= 450)",
            "GenesysCloudFlowNoEntries",
        ),
        (
            'kind=~"flow|flowoutcome"}[30s])) > 0)',
            'kind=~"flow|flowoutcome"}[30s])) >= 0)',
            "GenesysCloudFlowNoEntries",
        ),
        # The push burn tier: its 10 failures in 1m, and push live (the polled query's 20
        # failures in a minute must wait for the 2m tier).
        (
            "failed_total" + KPI_GUARD + "[1m])) >= 10",
            "failed_total" + KPI_GUARD + "[1m])) >= 25",
            "GenesysCloudFlowFailureBudgetBurn",
        ),
        (
            "\n            and on (job, instance, org, query)"
            " query:genesyscloud_poller_query_pushed:1m15s,",
            ",",
            "GenesysCloudFlowFailureBudgetBurn",
        ),
    ],
)
def test_promtool_unit_tests_catch_a_broken_rule(
    tmp_path: Path, old: str, new: str, alert: str
) -> None:
    """The unit tests fail when a threshold or a guard of an alert changes (they pin it down)."""
    text = RULES_FILE.read_text()
    assert text.count(old) >= 1, old
    (tmp_path / RULES_FILE.name).write_text(text.replace(old, new))
    # Only the unit tests that check this alert: each file's whole run takes tens of seconds.
    cases = [
        case
        for case in _unit_tests()
        if any(check["alertname"] == alert for check in case.get("alert_rule_test", []))
    ]
    assert cases
    evaluation = {c["name"]: path for path in RULES_TEST_FILES for c in load_yaml(path)["tests"]}
    for path in RULES_TEST_FILES:
        mine = [c for c in cases if evaluation[c["name"]] == path]
        if mine:
            document = {**load_yaml(path), "tests": mine}
            (tmp_path / path.name).write_text(yaml.safe_dump(document, sort_keys=False))
    files = [tmp_path / p.name for p in RULES_TEST_FILES if (tmp_path / p.name).exists()]
    output = _promtool_test(tmp_path, *files)
    assert not output.startswith("rc=0"), output
    assert alert in output


def test_promtool_unit_tests_catch_a_rule_that_merges_orgs(tmp_path: Path) -> None:
    """The unit tests fail when an aggregation drops org (two orgs' alerts would merge)."""
    for path in (RULES_FILE, RULES_TEST_FILE):
        shutil.copy(path, tmp_path / path.name)
    rules = tmp_path / RULES_FILE.name
    text = rules.read_text()
    assert text.count("sum by (job, instance, org, endpoint)") == 1
    rules.write_text(
        text.replace("by (job, instance, org, endpoint)", "by (job, instance, endpoint)")
    )
    output = _promtool_test(tmp_path, RULES_TEST_FILE)
    assert not output.startswith("rc=0"), output
    assert "of two orgs on one endpoint, only the throttled one fires" in output


def test_promtool_check_config_accepts_prometheus_yml_with_its_rule_files() -> None:
    """promtool check config accepts prometheus.yml and finds the rule file it names."""
    result = run([require_tool("promtool"), "check", "config", str(PROMETHEUS_CONFIG)])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "1 rule files found" in output
    assert f"{RULES_FILE.parent.name}/{RULES_FILE.name}" in output


def test_prometheus_yml_scrapes_the_poller_job() -> None:
    """The scrape job is named genesyscloud-poller, which GenesysCloudPollerDown selects on."""
    config = load_yaml(PROMETHEUS_CONFIG)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert "genesyscloud-poller" in jobs
    down = next(r for r in alert_rules() if r["alert"] == "GenesysCloudPollerDown")
    assert 'job="genesyscloud-poller"' in down["expr"]


def test_every_alert_has_summary_description_severity_component_and_runbook() -> None:
    """Each alert carries summary, description, a severity and a component (flow or poller, which
    Alertmanager's inhibitions select on), and a runbook URL to its README anchor."""
    alerts = alert_rules()
    assert len(alerts) >= 14
    for rule in alerts:
        name = rule["alert"]
        annotations = rule.get("annotations", {})
        labels = rule.get("labels", {})
        assert annotations.get("summary"), name
        assert annotations.get("description"), name
        flow = name.startswith("GenesysCloudFlow")
        assert labels.get("component") == ("flow" if flow else "poller"), name
        assert labels.get("severity") in (FLOW_SEVERITIES if flow else POLLER_SEVERITIES), name
        assert annotations.get("runbook_url") == RUNBOOK_PREFIX + name.lower(), name


def test_every_flow_alert_names_the_flow_from_its_info_series() -> None:
    """Each flow alert's summary looks the flow's name up in genesyscloud_flow_info, and falls
    back to the series' flow_name, then its flow_id."""
    lookup = (
        'printf "genesyscloud_flow_info{org=%q,flow_id=%q}" $labels.org $labels.flow_id | query'
    )
    flow_alerts = [r for r in alert_rules() if r["alert"].startswith("GenesysCloudFlow")]
    assert len(flow_alerts) >= 7
    for rule in flow_alerts:
        assert lookup in rule["annotations"]["summary"], rule["alert"]


def test_the_pack_has_the_alerts_the_issue_names() -> None:
    """The IVR alert pack and the poller's alerts are all there, and the fixed-ratio alert the
    budget burn supersedes is gone."""
    names = {r["alert"] for r in alert_rules()}
    assert names == {
        "GenesysCloudFlowNoEntries",
        "GenesysCloudFlowFailureBudgetBurn",
        "GenesysCloudFlowDisconnectsHigh",
        "GenesysCloudFlowSlow",
        "GenesysCloudFlowMilestoneDropped",
        "GenesysCloudFlowExecutionStuck",
        "GenesysCloudFlowSelfServiceDropped",
        "GenesysCloudFlowVersionRegression",
        "GenesysCloudPollerDown",
        "GenesysCloudPollerQueryFailing",
        "GenesysCloudPollerDataStale",
        "GenesysCloudPollerThrottled",
        "GenesysCloudPollerTokenExpiring",
        "GenesysCloudPollerLoginRefused",
        "GenesysCloudPollerNamesFailing",
        "GenesysCloudPollerBudgetNearLimit",
    }


def test_budget_burn_pages_fast_and_tickets_slow() -> None:
    """The budget burn has a page rule (fast tiers) and a ticket rule (the slow tier)."""
    burns = [r for r in alert_rules() if r["alert"] == "GenesysCloudFlowFailureBudgetBurn"]
    assert sorted(r["labels"]["severity"] for r in burns) == ["page", "ticket"]


def test_version_regression_has_a_rule_per_signal() -> None:
    """VersionRegression fires on failed outcomes or on disconnects, each with its signal label."""
    rules = [r for r in alert_rules() if r["alert"] == "GenesysCloudFlowVersionRegression"]
    assert sorted(r["labels"]["signal"] for r in rules) == ["disconnects", "failed_outcomes"]


# The counter families both the per-flow rules and the KPI queries have.
_SHARED_INPUT = re.compile(
    r"genesyscloud_flow_(?:duration_seconds_(?:count|sum|bucket)|disconnect_duration_seconds_count"
    r"|outcomes_total|outcomes_failed_total|entries_total)\b(\{[^}]*\})?"
)


def test_every_per_flow_rule_reads_only_series_without_kpi_labels() -> None:
    """Each counter-mode input of the per-flow rules and alerts carries the KPI guard; the KPI
    group's inputs select a KPI label instead."""
    document = load_yaml(RULES_FILE)
    groups = {g["name"]: g["rules"] for g in document["groups"]}
    per_flow = [*groups["genesyscloud-poller.counters"], *groups["genesyscloud-poller.flow-alerts"]]
    found = [m.group(1) for r in per_flow for m in _SHARED_INPUT.finditer(r["expr"])]
    assert len(found) > 30
    assert set(found) == {KPI_GUARD}
    kpi = [
        m.group(1) or ""
        for r in groups["genesyscloud-poller.kpis"]
        for m in _SHARED_INPUT.finditer(r["expr"])
    ]
    assert kpi
    chosen = re.compile(
        r"(self_served|flow_version|transfer_type|disconnect_type|recognition_failure_reason)"
        r'(!=""|="[^"]+")'
    )
    assert [selector for selector in kpi if not chosen.search(selector)] == []


def test_readme_runbook_has_a_heading_per_alert() -> None:
    """README.md has the Runbook section the alerts' runbook_url anchors point into."""
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^## Runbook\s*$", readme, flags=re.MULTILINE), (
        "README.md has no '## Runbook' section"
    )
    headings = set(re.findall(r"^### (\S+)\s*$", readme, flags=re.MULTILINE))
    assert [r["alert"] for r in alert_rules() if r["alert"] not in headings] == []


def _unit_tests() -> list[dict[str, Any]]:
    return [case for path in RULES_TEST_FILES for case in load_yaml(path)["tests"]]


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    """Each alert has a promtool case where it fires and one where it stays silent."""
    firing: set[str] = set()
    silent: set[str] = set()
    for case in _unit_tests():
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {r["alert"] for r in alert_rules()}
    assert len(names) >= 14
    assert names - firing == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested silent"


def test_every_recording_rule_is_unit_tested() -> None:
    """Each recording rule's output is asserted on in a promtool expression test."""
    asserted = {
        # The record itself, or the record narrowed by a label selector.
        re.sub(r"\{[^}]*\}$", "", check["expr"].strip())
        for case in _unit_tests()
        for check in case.get("promql_expr_test", [])
        if check.get("exp_samples")
    }
    records = [r["record"] for r in recording_rules()]
    assert records
    assert [record for record in records if record not in asserted] == []


# `by (...)`, `on (...)` and `without (...)` label lists in rule expressions.
_LABEL_LIST = re.compile(r"\b(by|on|without)\s*\(([^)]*)\)")
ORG_IN_ANNOTATION = "{{ with $labels.org }}"


def _label_lists() -> list[tuple[str, str, list[str]]]:
    return [
        (rule.get("alert") or rule["record"], keyword, [n.strip() for n in names.split(",")])
        for rule in [*recording_rules(), *alert_rules()]
        for keyword, names in _LABEL_LIST.findall(rule["expr"])
    ]


def test_every_by_and_on_list_keeps_org_apart() -> None:
    """Each `by`/`on` list names org, except the join on the per-process start time; no
    `without` list removes org, so no rule adds two orgs' numbers together."""
    lists = _label_lists()
    assert len(lists) > 20
    missing = {
        (name, keyword, tuple(labels))
        for name, keyword, labels in lists
        if keyword != "without" and "org" not in labels
    }
    assert missing == {
        ("GenesysCloudPollerQueryFailing", "on", ("job", "instance")),
    }
    assert [n for n, keyword, labels in lists if keyword == "without" and "org" in labels] == []


def test_alerts_about_an_org_name_it_only_when_there_is_one() -> None:
    """Every alert but PollerDown (a scrape target has no org) names the org in its summary
    and description inside `{{ with $labels.org }}`, which renders nothing without one."""
    alerts = alert_rules()
    assert len(alerts) >= 6
    for rule in alerts:
        annotations = rule["annotations"]
        named = [ORG_IN_ANNOTATION in annotations[key] for key in ("summary", "description")]
        assert named == [rule["alert"] != "GenesysCloudPollerDown"] * 2, rule["alert"]


def test_every_org_alert_is_unit_tested_firing_with_and_without_org() -> None:
    """Each alert but PollerDown has a promtool case firing for one org, and one without org."""
    with_org: set[str] = set()
    without_org: set[str] = set()
    for case in _unit_tests():
        for check in case.get("alert_rule_test", []):
            for alert in check.get("exp_alerts") or []:
                labels = alert["exp_labels"]
                (with_org if "org" in labels else without_org).add(check["alertname"])
    names = {r["alert"] for r in alert_rules()}
    assert len(names) >= 14
    assert with_org == names - {"GenesysCloudPollerDown"}
    assert without_org == names
