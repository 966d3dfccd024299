"""The shipped Prometheus config and rules: promtool accepts them, their unit tests pass, and
every alert is documented and unit-tested both ways."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

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


def test_promtool_check_rules_accepts_the_rules_file() -> None:
    """promtool check rules reports no problem in the shipped rules."""
    result = run([require_tool("promtool"), "check", "rules", str(RULES_FILE)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    """promtool test rules passes the shipped rule unit tests."""
    result = run(
        [require_tool("promtool"), "test", "rules", RULES_TEST_FILE.name],
        cwd=RULES_TEST_FILE.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_catch_a_broken_rule(tmp_path: Path) -> None:
    """The unit tests fail when an alert threshold changes (they pin the rules down)."""
    for path in (RULES_FILE, RULES_TEST_FILE):
        shutil.copy(path, tmp_path / path.name)
    rules = tmp_path / RULES_FILE.name
    text = rules.read_text()
    assert "ratio > 0.2" in text
    rules.write_text(text.replace("ratio > 0.2", "ratio > 0.3"))
    result = run([require_tool("promtool"), "test", "rules", RULES_TEST_FILE.name], cwd=tmp_path)
    assert result.returncode != 0
    assert "GenesysCloudFlowFailedOutcomesHigh" in result.stdout + result.stderr


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
    result = run([require_tool("promtool"), "test", "rules", RULES_TEST_FILE.name], cwd=tmp_path)
    assert result.returncode != 0
    assert "of two orgs on one endpoint, only the throttled one fires" in result.stderr


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


def test_every_alert_has_summary_description_severity_and_runbook() -> None:
    """Each alert carries summary, description, severity and a runbook URL to its README anchor."""
    alerts = alert_rules()
    assert len(alerts) >= 6
    for rule in alerts:
        name = rule["alert"]
        annotations = rule.get("annotations", {})
        assert annotations.get("summary"), name
        assert annotations.get("description"), name
        assert rule.get("labels", {}).get("severity") in ("critical", "warning", "info"), name
        assert annotations.get("runbook_url") == RUNBOOK_PREFIX + name.lower(), name


def test_readme_runbook_has_a_heading_per_alert() -> None:
    """README.md has the Runbook section the alerts' runbook_url anchors point into."""
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^## Runbook\s*$", readme, flags=re.MULTILINE), (
        "README.md has no '## Runbook' section"
    )
    headings = set(re.findall(r"^### (\S+)\s*$", readme, flags=re.MULTILINE))
    assert [r["alert"] for r in alert_rules() if r["alert"] not in headings] == []


def _unit_tests() -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = load_yaml(RULES_TEST_FILE)["tests"]
    return tests


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    """Each alert has a promtool case where it fires and one where it stays silent."""
    firing: set[str] = set()
    silent: set[str] = set()
    for case in _unit_tests():
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {r["alert"] for r in alert_rules()}
    assert len(names) >= 6
    assert names - firing == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested silent"


def test_every_recording_rule_is_unit_tested() -> None:
    """Each recording rule's output is asserted on in a promtool expression test."""
    asserted = {
        check["expr"].strip()
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
    assert len(names) >= 6
    assert with_org == names - {"GenesysCloudPollerDown"}
    assert without_org == names
