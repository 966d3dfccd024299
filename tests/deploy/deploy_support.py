"""Helpers shared by the deploy tests: paths, the shipped files, Prometheus's HTTP API."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from poller.config.values import parse_duration
from tests.support.http import http_get
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES_FILE = DEPLOY / "prometheus" / "rules" / "genesyscloud-poller.rules.yml"
RULES_TEST_FILE = DEPLOY / "prometheus" / "rules" / "genesyscloud-poller.rules.test.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
FLOWS_DASHBOARD = DEPLOY / "grafana" / "dashboards" / "genesyscloud-flows.json"
HEALTH_DASHBOARD = DEPLOY / "grafana" / "dashboards" / "genesyscloud-poller-health.json"
IVR_DASHBOARD = DEPLOY / "grafana" / "dashboards" / "genesyscloud-ivr-outcomes.json"
GRAFANA_SCHEMA = Path(__file__).parent / "fixtures" / "grafana-dashboard-v11.6.jsonschema.json"
KUBERNETES = DEPLOY / "kubernetes"
KUBERNETES_SHARDED = DEPLOY / "kubernetes-sharded"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
ALERTMANAGER_CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"
DOCKERFILE = ROOT / "Dockerfile"


def run(
    args: list[str], *, timeout: float = 120, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = load_yaml(RULES_FILE)["groups"]
    return groups


def all_rules() -> Iterator[dict[str, Any]]:
    for group in rule_groups():
        yield from group["rules"]


def alert_rules() -> list[dict[str, Any]]:
    return [r for r in all_rules() if "alert" in r]


def recording_rules() -> list[dict[str, Any]]:
    return [r for r in all_rules() if "record" in r]


def load_dashboard(path: Path) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(path.read_text())
    return dashboard


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows; rows themselves excluded."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def demo_counters_quiet() -> float:
    """The longest the demo's counters (config/demo.yaml's counter queries) go without a change,
    in seconds: a period's settle, when they hold the closed period's totals, plus a poll on
    either side of it."""
    demo = load_yaml(ROOT / "config" / "demo.yaml")
    return max(
        parse_duration(q["settle"], where="settle") + 2 * parse_duration(q["every"], where="every")
        for q in demo["queries"]
        if q.get("mode") == "counter"
    )


# Grafana's built-in variables, replaced by values that Prometheus accepts in their places. The
# range of an "over the range" panel must hold a change of the demo's counters, or a ratio of
# them is empty: twice their longest quiet stretch holds one whatever the phase of their period
# (2 x (10m settle + 2 x 60s) = 24m with config/demo.yaml's KPI queries).
DASHBOARD_RANGE = round(2 * demo_counters_quiet())
GRAFANA_BUILTINS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": f"{DASHBOARD_RANGE}s",
    "${__range}": f"{DASHBOARD_RANGE}s",
    "$__range_s": str(DASHBOARD_RANGE),
}


def substitute_variables(expr: str, names: list[str]) -> str:
    """Replace Grafana variables: built-ins with durations, template variables with `.*`."""
    for builtin, value in sorted(GRAFANA_BUILTINS.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(builtin, value)
    for name in sorted(names, key=len, reverse=True):
        for form in (f"${{{name}:regex}}", f"${{{name}}}", f"${name}"):
            expr = expr.replace(form, ".*")
    # `$1` is label_replace()'s reference to a regex group, which Grafana leaves alone.
    assert not re.search(r"\$(?!\d)", expr), f"unsubstituted variable left in {expr!r}"
    return expr


class Prometheus:
    """The HTTP API of a running Prometheus server."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def api(self, path: str, **params: str) -> dict[str, Any]:
        url = f"{self.base_url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        code, body = http_get(url, timeout=10)
        try:
            answer: dict[str, Any] = json.loads(body)
        except ValueError:
            answer = {"status": "error", "error": f"HTTP {code}: {body[:200]!r}"}
        return answer

    def query(self, expr: str) -> dict[str, Any]:
        """The full answer of an instant query (status, data or error)."""
        return self.api("query", query=expr)

    def vector(self, expr: str) -> list[dict[str, Any]]:
        """The result of an instant query; fails the test on a query error."""
        answer = self.query(expr)
        assert answer.get("status") == "success", f"{expr!r}: {answer.get('error')}"
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def wait_vector(self, expr: str, *, timeout: float) -> list[dict[str, Any]]:
        """Poll an instant query until it returns samples."""
        return wait_for(
            lambda: self.vector(expr) or None, timeout=timeout, what=f"data from {expr!r}"
        )
