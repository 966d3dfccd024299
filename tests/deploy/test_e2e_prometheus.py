"""End to end: the daemon with the demo's config and the demo's simulated orgs, scraped by a real
Prometheus that loads the shipped rules. Every dashboard query, every recording rule and every
alert is run against it.

One module-scoped stack serves all tests here (about 15 s to become useful, and the first test of
a counter panel waits up to two polls of the KPI queries for their counters to move)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from poller.simulator import SimulatorSettings
from tests.deploy.deploy_support import (
    DASHBOARDS,
    FLOWS_DASHBOARD,
    PROMETHEUS_CONFIG,
    ROOT,
    RULES_FILE,
    Prometheus,
    alert_rules,
    load_dashboard,
    load_yaml,
    panels,
    recording_rules,
    run,
    substitute_variables,
)
from tests.support.demo import Demo, publish_every_flow
from tests.support.http import http_get, wait_for_status
from tests.support.process import Child, listen_url, poller, prometheus_url, simulator_url
from tests.support.tools import require_tool
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e

JOB = "genesyscloud-poller"
TARGET_LABELS = {"job", "instance"}

# Label names of each family per demo query (config/demo.yaml, whose orgs add `org`), as
# documented.
FLOWS_1H = {"org", "query", "flow_id", "flow_name", "flow_type"}
OUTCOMES_1H = FLOWS_1H - {"flow_type"} | {"flow_outcome_id", "flow_outcome", "flow_outcome_value"}
MILESTONES_1H = {"org", "query", "flow_id", "flow_name", "flow_milestone_id"}
FLOWS_ACTIVE = {"org", "query", "flow_id", "media_type"}
TIMERS = ("duration", "disconnect_duration", "exit_duration")
STATS = ("sum_seconds", "max_seconds", "min_seconds", "measurements")
EXPECTED_FAMILIES: dict[tuple[str, str], set[str]] = {
    ("genesyscloud_flow_entries", "flows_1h"): FLOWS_1H,
    ("genesyscloud_flow_outcomes", "flows_1h"): FLOWS_1H,
    ("genesyscloud_flow_outcomes_failed", "flows_1h"): FLOWS_1H,
    **{(f"genesyscloud_flow_{t}_{s}", "flows_1h"): FLOWS_1H for t in TIMERS for s in STATS},
    ("genesyscloud_flow_outcomes", "outcomes_1h"): OUTCOMES_1H,
    ("genesyscloud_flow_outcomes_failed", "outcomes_1h"): OUTCOMES_1H,
    **{(f"genesyscloud_flow_outcome_duration_{s}", "outcomes_1h"): OUTCOMES_1H for s in STATS},
    ("genesyscloud_flow_milestones", "milestones_1h"): MILESTONES_1H,
    ("genesyscloud_flow_active", "flows_active"): FLOWS_ACTIVE,
    ("genesyscloud_flow_oldest_execution_age_seconds", "flows_active"): FLOWS_ACTIVE,
    ("genesyscloud_flow_observations_truncated", "flows_active"): FLOWS_ACTIVE,
}
SELF_METRICS = [
    "genesyscloud_poller_query_up", "genesyscloud_poller_query_last_success_timestamp_seconds",
    "genesyscloud_poller_query_duration_seconds", "genesyscloud_poller_query_series",
    "genesyscloud_poller_query_interval_seconds", "genesyscloud_poller_polls_total",
    "genesyscloud_poller_poll_failures_total", "genesyscloud_poller_polls_skipped_total",
    "genesyscloud_poller_api_requests_total",
    "genesyscloud_poller_api_request_duration_seconds_bucket",
    "genesyscloud_poller_oauth_token_refreshes_total",
    "genesyscloud_poller_oauth_token_expiry_timestamp_seconds",
    "genesyscloud_poller_build_info", "genesyscloud_poller_config_last_reload_successful",
    "genesyscloud_poller_config_last_reload_success_timestamp_seconds",
    "process_start_time_seconds", "process_resident_memory_bytes",
]  # fmt: skip
KPI_QUERIES = {
    "ivr_self_service",
    "ivr_transfers",
    "ivr_disconnects",
    "ivr_recognition",
    "ivr_versions",
}
DEMO_QUERIES = {
    "flows_1h",
    "flows_counted",
    "milestones_counted",
    "outcomes_1h",
    "milestones_1h",
    "flows_active",
    *KPI_QUERIES,
}
DEMO_ORGS = ("acme", "globex")

# How long a query may take to have data: the published versions' first failed outcomes (a
# minute or two) and a KPI poll after them, plus two minutes for a loaded 2-core machine. No
# period starts while the module runs (see `_demo_config`), so no settle holds the counters
# still. A wait returns as soon as the data is there.
DATA_TIMEOUT = 2 * 60.0 + 120.0
START_TIMEOUT = 120.0
# The local hour of the counter queries' time zone when the stack starts (see `_demo_config`).
LOCAL_HOUR = 2
# The KPI queries' `every` here (config/demo.yaml: 60s, see `_demo_config`).
KPI_EVERY = "15s"


@dataclass
class Stack:
    prometheus: Prometheus
    poller_url: str


def _prometheus_config(poller: str) -> dict[str, Any]:
    """The shipped prometheus.yml, scraping and evaluating every second, aimed at the test
    poller, with the shipped rules file by absolute path."""
    config: dict[str, Any] = load_yaml(PROMETHEUS_CONFIG)
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    config["rule_files"] = [str(RULES_FILE)]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == JOB
    job["static_configs"] = [{"targets": [poller]}]
    return config


def _zone_at(hour: int, now: float) -> str:
    """A fixed-offset IANA zone (Etc/GMT-14 to Etc/GMT+12) in which it is `hour` o'clock at
    `now`."""
    offset = (hour - time.gmtime(now).tm_hour) % 24
    if offset > 14:
        offset -= 24
    return f"Etc/GMT{-offset:+d}"  # the Etc zones' sign is POSIX's: Etc/GMT-2 is UTC+2


def _demo_config(tmp: Path) -> Path:
    """config/demo.yaml with two changes. A time zone in which it is now LOCAL_HOUR o'clock: the
    counter queries' day began two hours ago and ends in 21, so no period starts, and no settle
    holds the counters still or keeps a version published now out of them, while the module runs
    (in UTC, a run just after midnight waited the KPI queries' 10-minute settle), and the first
    day query asks the simulator for two hours, not for up to a whole day. And the KPI queries
    poll every KPI_EVERY: every panel and rule on them waits for their counters' first change
    (a second poll), and the published versions' for a poll after their first executions."""
    config = load_yaml(ROOT / "config" / "demo.yaml")
    assert "time_zone" not in config
    config["time_zone"] = _zone_at(LOCAL_HOUR, time.time())
    kpi = [q for q in config["queries"] if q["name"] in KPI_QUERIES]
    assert {q["name"] for q in kpi} == KPI_QUERIES
    for query in kpi:
        query["every"] = KPI_EVERY
    path = tmp / "demo.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _demo_env(config: Path, simulator: str) -> dict[str, str]:
    """The environment `demo` gives its daemon: each org logs in as the simulator's org of its
    place, through the variables the config names, against the simulator's URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENESYS_", "POLLER_"))}
    env.update(GENESYS_API_BASE_URL=simulator, GENESYS_LOGIN_BASE_URL=simulator)
    orgs = load_yaml(config)["orgs"]
    clients = SimulatorSettings(orgs=len(orgs)).org_clients()
    for org, (client_id, secret) in zip(orgs, clients, strict=True):
        env[org["client_id_env"]] = client_id
        env[org["client_secret_env"]] = secret
    return env


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The demo's simulated orgs (`simulate --orgs 2`, the demo's seed and size), the daemon
    (`run`) on the demo's config in a time zone where it is LOCAL_HOUR, and a Prometheus scraping
    it, each on the port it bound and reported; all stopped at the end of the module."""
    prometheus_bin = require_tool("prometheus")
    tmp = tmp_path_factory.mktemp("e2e")
    config = _demo_config(tmp)
    orgs = str(len(DEMO_ORGS))
    # A Demo for its control-API helpers (publish, flow ids), which need only the simulator.
    simulated = Demo(poller("simulate", "--listen-address", "127.0.0.1:0", "--orgs", orgs))
    children: list[Child] = [simulated]
    try:
        simulated.simulator_url = simulator_url(simulated, START_TIMEOUT)
        daemon = Child(
            poller("run", "--config", str(config), "--web.listen-address", "127.0.0.1:0"),
            env=_demo_env(config, simulated.simulator_url), name="run",
        )  # fmt: skip
        children.append(daemon)
        simulated.url = listen_url(daemon, START_TIMEOUT)
        wait_for_status(f"{simulated.url}/readyz", 200, timeout=START_TIMEOUT, alive=daemon.died)
        prom_config = tmp / "prometheus.yml"
        prom_config.write_text(
            yaml.safe_dump(_prometheus_config(simulated.url.removeprefix("http://")))
        )
        prometheus = Child(
            [prometheus_bin, f"--config.file={prom_config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             "--web.listen-address=127.0.0.1:0"],
            cwd=tmp, name="prometheus",
        )  # fmt: skip
        children.append(prometheus)
        prom_url = prometheus_url(prometheus, timeout=60)
        wait_for_status(f"{prom_url}/-/ready", 200, timeout=60, alive=prometheus.died)
        api = Prometheus(prom_url)
        # A scrape taken after every query has succeeded.
        api.wait_vector(
            f'count(genesyscloud_poller_query_up{{job="{JOB}"}} == 1) == '
            f"{len(DEMO_QUERIES) * len(DEMO_ORGS)}",
            timeout=DATA_TIMEOUT,
        )
        assert api.vector(f'genesyscloud_poller_query_settling{{job="{JOB}"}} == 1') == []
        # Every flow publishes a worse next version now: executions that started before end on
        # the old one for a few minutes, so the IVR dashboard's version panels and the version
        # rules have the published version and another one, as on the day of a publish. About a
        # quarter of the new versions' outcomes fail (1-3% of a normal version's), so each org's
        # live versions have failures within a minute or two even at night, when a normal
        # version's first failure in the quieter org took 13 minutes.
        for org in DEMO_ORGS:
            publish_every_flow(simulated, org, worse=True)
        yield Stack(api, simulated.url)
    finally:
        for child in reversed(children):
            child.stop()


def _finite(result: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in result if math.isfinite(float(s["value"][1]))]


def _wait_finite(prom: Prometheus, expr: str) -> list[dict[str, Any]]:
    return wait_for(
        lambda: _finite(prom.vector(expr)) or None,
        timeout=DATA_TIMEOUT,
        what=f"finite samples from {expr!r}",
    )


# ------------------------------------------------------------------ scraping and series


def test_prometheus_scrapes_the_poller(stack: Stack) -> None:
    """The poller target is up in Prometheus, scraped without errors."""
    targets = stack.prometheus.api("targets")["data"]["activeTargets"]
    (target,) = [t for t in targets if t["labels"]["job"] == JOB]
    assert target["health"] == "up", target["lastError"]
    assert target["lastError"] == ""


def test_flow_families_carry_the_documented_labels(stack: Stack) -> None:
    """Each flow family of each demo query has exactly the documented label names."""
    series = stack.prometheus.vector(
        f'{{__name__=~"genesyscloud_flow_.+", __name__!~".+_info", job="{JOB}"}}'
    )
    found: dict[tuple[str, str], set[frozenset[str]]] = {}
    for sample in series:
        labels = dict(sample["metric"])
        key = (labels.pop("__name__"), labels["query"])
        names = set(labels) - TARGET_LABELS - {"qualifier"}
        found.setdefault(key, set()).add(frozenset(names))
    missing = sorted(set(EXPECTED_FAMILIES) - set(found))
    assert missing == []
    for key, expected in EXPECTED_FAMILIES.items():
        assert found[key] == {frozenset(expected)}, key
    # flow names are real names, not ids, and the active family has none of its own.
    names = {s["metric"].get("flow_name") for s in series} - {None}
    assert names
    assert all(name and name != s["metric"]["flow_id"] for s in series
               if (name := s["metric"].get("flow_name")))  # fmt: skip


@pytest.mark.parametrize(
    ("family", "id_label", "info", "name_label"),
    [
        (
            "genesyscloud_flow_milestones",
            "flow_milestone_id",
            "genesyscloud_flow_milestone_info",
            "flow_milestone_name",
        ),
        (
            "genesyscloud_flow_outcomes",
            "flow_outcome_id",
            "genesyscloud_flow_outcome_info",
            "flow_outcome_name",
        ),
        ("genesyscloud_flow_entries", "flow_id", "genesyscloud_flow_info", "division_name"),
    ],
)
def test_names_join_names_every_exported_id(
    stack: Stack, family: str, id_label: str, info: str, name_label: str
) -> None:
    """Joined through its _info family with group_left, every id the demo exports gets a
    name (flows: a division), in the real Prometheus."""
    selector = f'{family}{{job="{JOB}", {id_label}!=""}}'
    joined = f'{selector} * on (org, {id_label}) group_left ({name_label}) {info}{{job="{JOB}"}}'
    result = stack.prometheus.wait_vector(joined, timeout=DATA_TIMEOUT)
    ids = {s["metric"][id_label] for s in stack.prometheus.vector(selector)}
    named = {s["metric"][id_label] for s in result if s["metric"].get(name_label)}
    assert ids
    assert named == ids


def test_poller_self_metrics_are_scraped(stack: Stack) -> None:
    """The poller's own families reach Prometheus, with one query_up per demo org and query at
    1, and one org_info per org."""
    for name in SELF_METRICS:
        assert stack.prometheus.vector(f'{name}{{job="{JOB}"}}'), name
    up = stack.prometheus.vector(f'genesyscloud_poller_query_up{{job="{JOB}"}}')
    assert {(s["metric"]["org"], s["metric"]["query"]): s["value"][1] for s in up} == {
        (org, query): "1" for org in DEMO_ORGS for query in DEMO_QUERIES
    }
    info = stack.prometheus.vector(f'genesyscloud_poller_org_info{{job="{JOB}"}}')
    assert {s["metric"]["org"]: s["metric"]["genesys_region"] for s in info} == {
        "acme": "mypurecloud.ie",
        "globex": "usw2.pure.cloud",
    }


def test_promtool_check_metrics_accepts_the_poller_output(stack: Stack) -> None:
    """`promtool check metrics` finds no problem in the daemon's /metrics."""
    status, body = http_get(f"{stack.poller_url}/metrics")
    assert status == 200
    assert b"genesyscloud_flow_entries" in body
    result = run([require_tool("promtool"), "check", "metrics"], input=body.decode())
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------------ dashboards


def _targets() -> Iterator[tuple[str, dict[str, Any], list[str]]]:
    """(test id, target, its dashboard's variable names) of every panel target as shipped."""
    for path in DASHBOARDS:
        dashboard = load_dashboard(path)
        names = [v["name"] for v in dashboard["templating"]["list"]]
        for panel in panels(dashboard):
            for target in panel["targets"]:
                yield f"{path.stem}:{panel['title']}:{target['refId']}", target, names


def _panel_targets() -> list[Any]:
    return [
        pytest.param(substitute_variables(target["expr"], names), id=ident)
        for ident, target, names in _targets()
    ]


def _variable_queries() -> list[Any]:
    params = []
    for path in DASHBOARDS:
        dashboard = load_dashboard(path)
        names = [v["name"] for v in dashboard["templating"]["list"]]
        for variable in dashboard["templating"]["list"]:
            query = variable["query"]
            assert query.startswith("label_values("), query
            assert query.endswith(")"), query
            selector, _, label = query[len("label_values(") : -1].rpartition(",")
            params.append(
                pytest.param(
                    substitute_variables(selector.strip(), names),
                    label.strip(),
                    id=f"{path.stem}:{variable['name']}",
                )
            )
    return params


def _orgs(prom: Prometheus) -> list[str]:
    """The orgs the demo polls: none without `orgs:` in its config (no org label at all)."""
    up = prom.vector(f'genesyscloud_poller_query_up{{job="{JOB}"}}')
    assert up
    return sorted({s["metric"]["org"] for s in up if "org" in s["metric"]})


@pytest.mark.parametrize("expr", _panel_targets())
def test_dashboard_panel_query_returns_data(stack: Stack, expr: str) -> None:
    """Every panel query (variables as `.*`) returns finite samples from the demo."""
    assert _wait_finite(stack.prometheus, expr)


@pytest.mark.parametrize(("selector", "label"), _variable_queries())
def test_dashboard_variable_lists_values(stack: Stack, selector: str, label: str) -> None:
    """Every template variable's label_values() query offers at least one value; the org
    variable offers exactly the demo's orgs (none for a config without `orgs:`)."""
    if label == "org":
        answer = stack.prometheus.api("label/org/values", **{"match[]": selector})
        assert answer["data"] == _orgs(stack.prometheus)
        return
    values = wait_for(
        lambda: (
            stack.prometheus.api(f"label/{label}/values", **{"match[]": selector})["data"] or None
        ),
        timeout=DATA_TIMEOUT,
        what=f"values of {label} in {selector}",
    )
    assert all(values)


def test_flows_dashboard_offers_flow_names(stack: Stack) -> None:
    """The flow variable lists the demo's flow names (not ids)."""
    flows = load_dashboard(FLOWS_DASHBOARD)
    (flow_var,) = [v for v in flows["templating"]["list"] if v["name"] == "flow"]
    selector = flow_var["query"][len("label_values(") :].rpartition(",")[0]
    selector = substitute_variables(selector, _flows_variable_names())
    values = stack.prometheus.api("label/flow_name/values", **{"match[]": selector})["data"]
    assert "Main IVR" in values


def _flows_targets_joining(needle: str) -> list[str]:
    """The flows dashboard's target expressions that contain `needle`, as shipped."""
    return [
        t["expr"]
        for p in panels(load_dashboard(FLOWS_DASHBOARD))
        for t in p["targets"]
        if needle in t["expr"]
    ]


def _flows_variable_names() -> list[str]:
    return [v["name"] for v in load_dashboard(FLOWS_DASHBOARD)["templating"]["list"]]


@pytest.mark.parametrize(
    ("id_label", "name_label", "exported"),
    [
        (
            "flow_milestone_id",
            "flow_milestone_name",
            f'genesyscloud_flow_milestones{{job="{JOB}", flow_milestone_id!=""}}',
        ),
        (
            "flow_outcome_id",
            "flow_outcome_name",
            f'genesyscloud_flow_outcomes_failed{{job="{JOB}", flow_outcome_id!=""}}',
        ),
    ],
)
def test_dashboard_join_names_every_exported_id(
    stack: Stack, id_label: str, name_label: str, exported: str
) -> None:
    """The shipped flows dashboard's join (variables as `.*`) gives a name to every milestone or
    outcome id that the demo exports in the family its panel reads, and to no other id (an
    outcome without a failure yet today is in other outcome families, not in this one)."""
    exprs = _flows_targets_joining(f"group_left ({name_label})")
    assert len(exprs) == 1
    ids = {s["metric"][id_label] for s in stack.prometheus.vector(exported)}
    assert ids
    result = _wait_finite(stack.prometheus, substitute_variables(exprs[0], _flows_variable_names()))
    named = {s["metric"][id_label] for s in result if s["metric"].get(name_label)}
    assert named == ids
    assert all(s["metric"].get(name_label) for s in result)


def _org_targets() -> list[Any]:
    """Every panel target whose legend shows the org, with the dashboard's variable names."""
    return [
        pytest.param(target["expr"], names, id=ident)
        for ident, target, names in _targets()
        if "{{org}}" in target.get("legendFormat", "")
    ]


@pytest.mark.parametrize(("expr", "names"), _org_targets())
def test_org_variable_narrows_every_panel_that_shows_the_org(
    stack: Stack, expr: str, names: list[str]
) -> None:
    """With one org chosen, a panel that shows the org shows only that org's series; with an
    org the demo does not poll, none at all."""
    others = [n for n in names if n != "org"]
    _wait_finite(stack.prometheus, substitute_variables(expr, names))
    absent = substitute_variables(expr.replace("$org", "no-such-org"), others)
    assert stack.prometheus.vector(absent) == []
    for org in _orgs(stack.prometheus):
        chosen = substitute_variables(expr.replace("$org", org), others)
        result = _wait_finite(stack.prometheus, chosen)
        assert {s["metric"].get("org") for s in result} == {org}


def test_division_variable_narrows_every_joined_panel_to_its_flows(stack: Stack) -> None:
    """With one division chosen, each panel joined through genesyscloud_flow_info shows only
    that division's flows (all of them that the unfiltered panel shows), for every division."""
    info = stack.prometheus.vector(f'genesyscloud_flow_info{{job="{JOB}"}}')
    flows_of: dict[str, set[str]] = {}
    for sample in info:
        flows_of.setdefault(sample["metric"]["division_name"], set()).add(
            sample["metric"]["flow_id"]
        )
    assert len(flows_of) == 3
    names = [n for n in _flows_variable_names() if n != "division"]
    exprs = _flows_targets_joining('division_name=~"$division"')
    assert len(exprs) == 3
    for expr in exprs:
        everything = _wait_finite(
            stack.prometheus, substitute_variables(expr, _flows_variable_names())
        )
        for division, flows in flows_of.items():
            chosen = substitute_variables(expr.replace("$division", division), names)
            result = _finite(stack.prometheus.vector(chosen))
            if "group_left (division_name)" in expr:
                assert {s["metric"]["division_name"] for s in result} == {division}
                continue
            shown = {s["metric"]["flow_id"] for s in everything} & flows
            assert {s["metric"]["flow_id"] for s in result} == shown, (division, expr)


# ------------------------------------------------------------------ rules


# Rules that read the past through `offset` (the alert pack's baselines: the hours before a
# window) have data only after that much history, longer than this module runs; their promtool
# unit tests cover them.
RECENT_RULES = [r for r in recording_rules() if "offset" not in r["expr"]]


@pytest.mark.parametrize("rule", RECENT_RULES, ids=lambda r: r["record"])
def test_recording_rule_returns_data(stack: Stack, rule: dict[str, Any]) -> None:
    """Prometheus evaluates each recording rule that needs no long history into finite samples
    from the demo."""
    recorded = _wait_finite(stack.prometheus, rule["record"])
    assert all(s["metric"]["job"] == JOB for s in recorded)


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_expression_evaluates(stack: Stack, rule: dict[str, Any]) -> None:
    """Each alert expression parses and evaluates against the demo's series."""
    answer = stack.prometheus.query(rule["expr"])
    assert answer["status"] == "success", answer.get("error")


def _evaluated_rules(stack: Stack) -> list[dict[str, Any]]:
    """The rules Prometheus reports, once each has been evaluated at least once."""

    def evaluated() -> list[dict[str, Any]] | None:
        groups = stack.prometheus.api("rules")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        return rules if rules and all(r["health"] != "unknown" for r in rules) else None

    return wait_for(evaluated, timeout=DATA_TIMEOUT, what="every rule to be evaluated")


def test_every_loaded_rule_evaluates_without_error(stack: Stack) -> None:
    """Prometheus loaded every shipped rule and reports each one healthy after evaluating it."""
    rules = _evaluated_rules(stack)
    assert {r["name"] for r in rules} == {
        r.get("record") or r["alert"] for r in [*recording_rules(), *alert_rules()]
    }
    assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []


def test_healthy_demo_raises_no_poller_alert(stack: Stack) -> None:
    """A healthy poller trips none of the poller alerts, not even as pending."""
    _evaluated_rules(stack)
    active = stack.prometheus.vector('ALERTS{alertname=~"GenesysCloudPoller.*"}')
    assert [s["metric"] for s in active] == []
