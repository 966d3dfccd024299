"""The Grafana dashboards, read statically: schema-valid, on the provisioned datasource, with
the panels and variables the issue asks for (test_e2e_prometheus.py runs their queries)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml

from tests.deploy.deploy_support import (
    DASHBOARDS,
    DEPLOY,
    FLOWS_DASHBOARD,
    GRAFANA_SCHEMA,
    HEALTH_DASHBOARD,
    IVR_DASHBOARD,
    load_dashboard,
    load_yaml,
    panels,
    run,
)
from tests.support.tools import require_tool

FLOWS = FLOWS_DASHBOARD
HEALTH = HEALTH_DASHBOARD
IVR = IVR_DASHBOARD


def _datasource_uid() -> str:
    (datasource,) = load_yaml(
        DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
    )["datasources"]
    uid: str = datasource["uid"]
    return uid


def _exprs(dashboard: dict[str, Any]) -> str:
    return "\n".join(t["expr"] for p in panels(dashboard) for t in p.get("targets", []))


def _legends(dashboard: dict[str, Any]) -> str:
    return "\n".join(t.get("legendFormat", "") for p in panels(dashboard) for t in p["targets"])


def test_the_three_dashboards_are_shipped() -> None:
    """The flows, the health and the IVR outcomes dashboards exist, with distinct uids and
    titles."""
    assert set(DASHBOARDS) == {FLOWS, HEALTH, IVR}
    loaded = [load_dashboard(p) for p in DASHBOARDS]
    assert {d["title"] for d in loaded} == {
        "Genesys Cloud flows",
        "genesyscloud-poller health",
        "IVR outcomes",
    }
    assert len({d["uid"] for d in loaded}) == 3


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_validates_against_the_grafana_schema(path: Path) -> None:
    """The dashboard JSON validates against Grafana 11.6's strict dashboard schema."""
    schema = json.loads(GRAFANA_SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in validator.iter_errors(load_dashboard(path))
    ]
    assert errors == []


def test_schema_rejects_what_grafana_exports_for_sharing() -> None:
    """The schema check is strict: `__inputs` and `id: null` fail (so the test above can fail)."""
    validator = jsonschema.Draft7Validator(json.loads(GRAFANA_SCHEMA.read_text()))
    exported = {**load_dashboard(FLOWS), "__inputs": [], "id": None}
    assert len(list(validator.iter_errors(exported))) == 2


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_query_and_variable_uses_the_provisioned_datasource(path: Path) -> None:
    """Panels, their targets and the variables name the provisioned datasource by uid."""
    dashboard = load_dashboard(path)
    wanted = {"type": "prometheus", "uid": _datasource_uid()}
    found = list(panels(dashboard))
    assert found
    for panel in found:
        assert panel["datasource"] == wanted, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == wanted, panel["title"]
            assert target["expr"].strip(), panel["title"]
    variables = dashboard["templating"]["list"]
    assert variables
    for variable in variables:
        assert variable["datasource"] == wanted, variable["name"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panel_ids_are_unique_and_panels_fit_the_grid(path: Path) -> None:
    """Panel ids are unique and every panel lies within the 24-column grid."""
    dashboard = load_dashboard(path)
    ids = [p["id"] for p in dashboard["panels"]]
    assert ids
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]


def test_flows_dashboard_has_the_requested_variables_and_content() -> None:
    """Variables org, query, division, flow type and flow; entries, active, outcomes, failures,
    durations, milestones."""
    dashboard = load_dashboard(FLOWS)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert list(variables) == ["org", "query", "division", "flow_type", "flow"]
    assert "flow_name" in variables["flow"]["query"]
    exprs = _exprs(dashboard)
    for family in (
        "genesyscloud_flow_entries", "genesyscloud_flow_active", "genesyscloud_flow_outcomes",
        "genesyscloud_flow_outcomes_failed", "genesyscloud_flow_duration_sum_seconds",
        "genesyscloud_flow_duration_measurements", "genesyscloud_flow_duration_max_seconds",
        "genesyscloud_flow_milestones",
    ):  # fmt: skip
        assert re.search(rf"\b{family}\b", exprs), family
    # flow_type narrows the flow variable, which the panels filter on; org narrows the others.
    used = exprs + "\n".join(v["query"] for v in variables.values())
    for name in variables:
        assert f"${name}" in used, f"variable {name} is never used"


def test_flows_dashboard_names_flows_not_only_ids() -> None:
    """Every per-flow legend shows the flow name; the active panel joins names in by flow id."""
    dashboard = load_dashboard(FLOWS)
    per_flow = [
        t for p in panels(dashboard) for t in p["targets"] if "{{flow_" in t.get("legendFormat", "")
    ]
    assert len(per_flow) >= 8
    for target in per_flow:
        assert "{{flow_name}}" in target["legendFormat"], target["expr"]
    active = [t for t in per_flow if "genesyscloud_flow_active" in t["expr"]]
    assert active
    assert all("group_left (flow_name)" in t["expr"] for t in active)


def _targets_titled(dashboard: dict[str, Any], title: str) -> list[dict[str, Any]]:
    (panel,) = [p for p in panels(dashboard) if p["title"] == title]
    targets: list[dict[str, Any]] = panel["targets"]
    return targets


def test_flows_dashboard_division_variable_lists_flow_info_divisions() -> None:
    """The division variable lists division_name of genesyscloud_flow_info, with an All option."""
    (division,) = [
        v for v in load_dashboard(FLOWS)["templating"]["list"] if v["name"] == "division"
    ]
    assert division["query"] == 'label_values(genesyscloud_flow_info{org=~"$org"}, division_name)'
    assert (division["multi"], division["includeAll"], division["allValue"]) == (True, True, ".*")


def test_flows_dashboard_names_milestones_and_outcomes_through_the_info_families() -> None:
    """Milestones and failed outcomes get names from group_left joins on their ids."""
    dashboard = load_dashboard(FLOWS)
    (milestones,) = _targets_titled(dashboard, "Milestones reached by flow and milestone")
    assert "* on (org, flow_milestone_id) group_left (flow_milestone_name)" in milestones["expr"]
    assert 'genesyscloud_flow_milestone_info{org=~"$org"}' in milestones["expr"]
    assert milestones["legendFormat"] == "{{flow_name}}: {{flow_milestone_name}} {{org}}"
    (outcomes,) = _targets_titled(dashboard, "Failed outcomes by flow and outcome")
    assert "* on (org, flow_outcome_id) group_left (flow_outcome_name)" in outcomes["expr"]
    assert 'genesyscloud_flow_outcome_info{org=~"$org"}' in outcomes["expr"]
    assert outcomes["legendFormat"] == "{{flow_name}}: {{flow_outcome_name}} {{org}}"
    (division,) = _targets_titled(dashboard, "Failed outcomes by division")
    assert "* on (org, flow_id) group_left (division_name)" in division["expr"]
    assert re.search(r"\bgenesyscloud_flow_outcomes_failed\b", division["expr"])
    assert division["legendFormat"] == "{{division_name}} ({{query}}) {{org}}"
    assert not re.search(r"\{\{flow_(milestone|outcome)_id\}\}", _legends(dashboard))


def test_flows_dashboard_division_filters_every_panel_joined_to_an_info_family() -> None:
    """Each expression that joins an _info family restricts flows to $division through
    genesyscloud_flow_info, and only those panels depend on the Architect listings."""
    dashboard = load_dashboard(FLOWS)
    joined = [p["title"] for p in panels(dashboard) for t in p["targets"] if "_info" in t["expr"]]
    assert sorted(joined) == [
        "Failed outcomes by division",
        "Failed outcomes by flow and outcome",
        "Milestones reached by flow and milestone",
    ]
    exprs = [t["expr"] for p in panels(dashboard) for t in p["targets"] if "_info" in t["expr"]]
    assert len(exprs) == len(joined)
    for expr in exprs:
        assert 'genesyscloud_flow_info{org=~"$org", division_name=~"$division"}' in expr


def test_ivr_dashboard_has_the_kpi_panels_and_the_flows_dashboards_variables() -> None:
    """The IVR outcomes dashboard has the org and division variables of the flows dashboard, a
    flow variable by name, and a panel per KPI: self-service, transfers, disconnects,
    recognition failures and the version comparison."""
    dashboard = load_dashboard(IVR)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert list(variables) == ["org", "division", "flow"]
    flows = {v["name"]: v for v in load_dashboard(FLOWS)["templating"]["list"]}
    for name in ("org", "division"):
        assert variables[name]["query"] == flows[name]["query"], name
    assert variables["flow"]["query"].endswith(", flow_name)")
    titles = [p["title"] for p in panels(dashboard)]
    assert titles[:4] == [
        "Self-service share by flow",
        "Transfers by type and target",
        "Why callers leave: disconnects by type",
        "Recognition failures by reason",
    ]
    assert [t for t in titles if t.startswith("Versions: ")] == titles[4:]
    exprs = _exprs(dashboard)
    for label in (
        'self_served="true"', 'transfer_type!=""', 'disconnect_type!=""',
        'recognition_failure_reason!=""', 'flow_version!=""',
    ):  # fmt: skip
        assert label in exprs, label
    used = exprs + "\n".join(v["query"] for v in variables.values())
    for name in variables:
        assert f"${name}" in used, f"variable {name} is never used"


def test_ivr_dashboard_names_flows_and_targets_never_bare_ids() -> None:
    """Every IVR panel joins the flow's name (narrowed by division and flow) and shows it; no
    legend shows an id; transfers show the target's name."""
    dashboard = load_dashboard(IVR)
    targets = [t for p in panels(dashboard) for t in p["targets"]]
    assert len(targets) >= 8
    join = (
        "* on (org, flow_id) group_left (flow_name)\n"
        "topk by (org, flow_id) (1, group by (org, flow_id, flow_name) (genesyscloud_flow_info"
        '{org=~"$org", division_name=~"$division", flow_name=~"$flow"}))'
    )
    for target in targets:
        assert target["expr"].endswith(join), target["refId"]
        assert target["legendFormat"].startswith("{{flow_name}}"), target["legendFormat"]
    assert not re.search(r"\{\{\w*_id\}\}", _legends(dashboard))
    (transfers,) = _targets_titled(dashboard, "Transfers by type and target")
    assert "{{transfer_target_name}}" in transfers["legendFormat"]


def test_ivr_dashboard_marks_the_live_version_from_published_version() -> None:
    """Each version panel has the published version's series, marked (live), and the other
    versions' series, split on genesyscloud_flow_info's published_version."""
    dashboard = load_dashboard(IVR)
    version_panels = [p for p in panels(dashboard) if p["title"].startswith("Versions: ")]
    assert len(version_panels) == 4
    live_join = (
        "label_replace(group by (org, flow_id, published_version) "
        '(genesyscloud_flow_info{org=~"$org", published_version!=""}), '
        '"flow_version", "$1", "published_version", "(.+)")'
    )
    for panel in version_panels:
        live, other = panel["targets"]
        assert f"and on (org, flow_id, flow_version)\n  {live_join}" in live["expr"]
        assert live["legendFormat"] == "{{flow_name}} {{flow_version}} (live) {{org}}"
        assert f"unless on (org, flow_id, flow_version)\n  {live_join}" in other["expr"]
        assert other["legendFormat"] == "{{flow_name}} {{flow_version}} {{org}}"


def test_health_dashboard_covers_the_poller_self_metrics() -> None:
    """Query up, freshness, poll duration, API codes, throttling, retries and token expiry."""
    exprs = _exprs(load_dashboard(HEALTH))
    for family in (
        "genesyscloud_poller_query_up", "genesyscloud_poller_query_last_success_timestamp_seconds",
        "genesyscloud_poller_query_duration_seconds", "genesyscloud_poller_api_requests_total",
        "genesyscloud_poller_api_throttled_total", "genesyscloud_poller_api_retries_total",
        "genesyscloud_poller_oauth_token_expiry_timestamp_seconds",
        "genesyscloud_poller_api_request_duration_seconds_bucket",
    ):  # fmt: skip
        assert re.search(rf"\b{family}\b", exprs), family


# ------------------------------------------------------------------ many orgs

ORG_FILTER = 'org=~"$org"'
# Families of the poller process as a whole: they never carry org, so an org filter would empty
# them; the health dashboard narrows them through $instance, whose list follows $org.
INSTANCE_LEVEL = re.compile(
    r"up|process_\w+|genesyscloud_poller_build_info|genesyscloud_poller_config_\w+"
)
# A selector with matchers: `name{...}` or `{__name__=~"...", ...}`.
SELECTOR = re.compile(r'(\w*)\{(?:__name__=~"(\w+)[^"]*",\s*)?([^}]*)\}')


def _targets(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for p in panels(dashboard) for t in p["targets"]]


@pytest.mark.parametrize(
    ("path", "query"),
    [
        pytest.param(FLOWS, "label_values(genesyscloud_poller_query_up, org)", id="flows"),
        pytest.param(
            HEALTH, 'label_values(genesyscloud_poller_query_up{job=~"$job"}, org)', id="health"
        ),
    ],
)
def test_dashboard_has_an_org_variable_whose_all_matches_no_org(path: Path, query: str) -> None:
    """The org variable lists the orgs of query_up; All is `.*`, which also matches series
    without org (a config without `orgs:`)."""
    (org,) = [v for v in load_dashboard(path)["templating"]["list"] if v["name"] == "org"]
    assert org["query"] == query
    assert (org["multi"], org["includeAll"], org["allValue"]) == (True, True, ".*")
    assert org["current"] == {"text": "All", "value": "$__all"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_selector_filters_on_org_but_the_process_wide_ones(path: Path) -> None:
    """Each series selector of a panel or variable (but the org and job pickers) filters
    org=~"$org", except those of process-wide families, which filter on $instance instead."""
    dashboard = load_dashboard(path)
    pickers = {"org", "job"}
    variables = [v["query"] for v in dashboard["templating"]["list"] if v["name"] not in pickers]
    texts = [t["expr"] for t in _targets(dashboard)] + variables
    selectors = [m for text in texts for m in SELECTOR.findall(text)]
    assert len(selectors) > 15
    for name, name_regex, matchers in selectors:
        family = name or name_regex
        if INSTANCE_LEVEL.fullmatch(family):
            assert ORG_FILTER not in matchers, family
            assert 'instance=~"$instance"' in matchers, family
        else:
            assert ORG_FILTER in matchers, (family, matchers)
    # No series is named without matchers, where an org filter would be missing.
    bare = re.compile(r"\b(?:genesyscloud|up|process)\w*\b(?![{(])")
    assert [n for text in texts for n in bare.findall(text)] == []


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_by_and_on_list_keeps_orgs_apart(path: Path) -> None:
    """Each `by (...)` and `on (...)` list of a panel names org."""
    lists = re.findall(r"\b(?:by|on) \(([^)]*)\)", _exprs(load_dashboard(path)))
    assert lists
    assert [names for names in lists if "org" not in names.split(", ")] == []


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_legends_of_org_series_end_with_the_org(path: Path) -> None:
    """A legend made of labels ends with {{org}} when its query filters org (empty without
    one), and never shows org otherwise."""
    labelled = [t for t in _targets(load_dashboard(path)) if "{{" in t["legendFormat"]]
    filtered = [t for t in labelled if ORG_FILTER in t["expr"]]
    assert filtered, "no legend of an org series to check"
    for target in labelled:
        legend = target["legendFormat"]
        if target in filtered:
            assert legend.endswith(" {{org}}"), target["expr"]
            assert legend.count("{{org}}") == 1, legend
        else:
            assert "{{org}}" not in legend, legend


def test_health_instance_variable_follows_the_org_variable() -> None:
    """The health dashboard's instances are those polling the chosen orgs."""
    variables = {v["name"]: v for v in load_dashboard(HEALTH)["templating"]["list"]}
    assert list(variables) == ["job", "org", "instance", "query"]
    assert variables["instance"]["query"] == (
        'label_values(genesyscloud_poller_query_up{job=~"$job", org=~"$org"}, instance)'
    )


# ------------------------------------------------------------------ alert annotations


def _annotation(name: str) -> dict[str, Any]:
    annotations: list[dict[str, Any]] = load_dashboard(FLOWS)["annotations"]["list"]
    (annotation,) = [a for a in annotations if a["name"] == name]
    return annotation


def test_flows_dashboard_annotates_firing_flow_and_poller_alerts() -> None:
    """The flows dashboard marks firing flow alerts (narrowed by $org and $flow) and the poller's
    alerts (by $org), both from Prometheus's ALERTS series, shown by default."""
    flows = _annotation("Flow alerts")
    poller = _annotation("Poller alerts")
    for annotation in (flows, poller):
        assert annotation["datasource"] == {"type": "prometheus", "uid": _datasource_uid()}
        assert (annotation["enable"], annotation["hide"]) == (True, False)
    assert flows["expr"] == (
        'ALERTS{alertstate="firing", component="flow", org=~"$org", flow_name=~"$flow"}'
    )
    assert 'component="poller", org=~"$org"' in poller["expr"]


# The alerts Prometheus would hold: a flow alert firing for the picked org and flow, the same
# alert pending, for another org, for another flow, and without org (a config without orgs:);
# poller alerts of the picked and another org, and GenesysCloudPollerDown (no org).
_ALERTS = {
    "picked": 'alertname="GenesysCloudFlowNoEntries", alertstate="firing", component="flow", '
    'org="acme", flow_name="Main menu (1)", flow_id="f1", severity="page"',
    "pending": 'alertname="GenesysCloudFlowSlow", alertstate="pending", component="flow", '
    'org="acme", flow_name="Main menu (1)", flow_id="f1", severity="warning"',
    "other org": 'alertname="GenesysCloudFlowNoEntries", alertstate="firing", component="flow", '
    'org="globex", flow_name="Main menu (1)", flow_id="f9", severity="page"',
    "other flow": 'alertname="GenesysCloudFlowNoEntries", alertstate="firing", component="flow", '
    'org="acme", flow_name="Billing", flow_id="f2", severity="page"',
    "no org": 'alertname="GenesysCloudFlowNoEntries", alertstate="firing", component="flow", '
    'flow_name="Main menu (1)", flow_id="f1", severity="page"',
    "poller": 'alertname="GenesysCloudPollerQueryFailing", alertstate="firing", '
    'component="poller", org="acme", severity="warning"',
    "other poller": 'alertname="GenesysCloudPollerQueryFailing", alertstate="firing", '
    'component="poller", org="globex", severity="warning"',
    "down": 'alertname="GenesysCloudPollerDown", alertstate="firing", component="poller", '
    'severity="critical"',
}


def _grafana_regex(values: list[str]) -> str:
    """What Grafana puts in place of a multi-value variable in a Prometheus regex matcher:
    the values with regex metacharacters escaped (twice, for the PromQL string), or-ed."""
    escaped = [re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


@pytest.mark.parametrize(
    ("annotation", "org", "flow", "shown"),
    [
        pytest.param("Flow alerts", ["acme"], ["Main menu (1)"], ["picked"], id="flows-picked"),
        pytest.param(
            "Flow alerts", [".*"], [".*"], ["picked", "other org", "other flow", "no org"],
            id="flows-all",
        ),
        pytest.param("Poller alerts", ["acme"], [".*"], ["poller", "down"], id="poller-picked"),
        pytest.param(
            "Poller alerts", [".*"], [".*"], ["poller", "other poller", "down"], id="poller-all"
        ),
    ],
)  # fmt: skip
def test_alert_annotation_shows_the_alerts_of_the_picked_org_and_flow(
    tmp_path: Path, annotation: str, org: list[str], flow: list[str], shown: list[str]
) -> None:
    """Prometheus's engine (promtool test rules) evaluates the annotation's query, its variables
    replaced as Grafana does, over ALERTS series: only the firing alerts of the picked org and
    flow come out; All (`.*`) also keeps alerts without org."""
    expr = _annotation(annotation)["expr"]
    for name, values in (("org", org), ("flow", flow)):
        replacement = ".*" if values == [".*"] else _grafana_regex(values)
        expr = expr.replace(f"${name}", replacement)
    tests = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f"ALERTS{{{labels}}}", "values": "1x10"}
                    for labels in _ALERTS.values()
                ],
                "promql_expr_test": [
                    {
                        "expr": expr,
                        "eval_time": "5m",
                        "exp_samples": [
                            {"labels": f"ALERTS{{{_ALERTS[key]}}}", "value": 1} for key in shown
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "annotation.test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = run([require_tool("promtool"), "test", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
