"""deploy/alertmanager/alertmanager.yml: amtool accepts it, each severity reaches its receiver at
its pace, and a real Alertmanager running it notifies flow alerts unless the poller behind them
is broken (the inhibitions), as seen by a webhook receiver in the test."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deploy_support import ALERTMANAGER_CONFIG, load_yaml, run
from tests.support.alertmanager import Alertmanager, Notification, WebhookReceiver, with_webhook
from tests.support.tools import require_tool

# Long enough for the slowest group_wait of the routes these tests use (10 s) on a loaded machine.
NOTIFIED_WITHIN = 60.0

# The design's pace per severity: (group_wait, group_interval, repeat_interval).
PACE = {
    "page": ("10s", "1m", "4h"),
    "critical": ("10s", "1m", "4h"),
    "ticket": ("30s", "5m", "12h"),
    "warning": ("30s", "5m", "12h"),
}


def _config() -> dict[str, Any]:
    config: dict[str, Any] = load_yaml(ALERTMANAGER_CONFIG)
    return config


def _route_for(severity: str) -> dict[str, Any]:
    routes: list[dict[str, Any]] = _config()["route"]["routes"]
    (route,) = [r for r in routes if r["matchers"] == [f'severity="{severity}"']]
    return route


def test_amtool_check_config_accepts_the_shipped_config() -> None:
    """`amtool check-config` accepts the file and counts two inhibit rules and two receivers."""
    result = run([require_tool("amtool"), "check-config", str(ALERTMANAGER_CONFIG)])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SUCCESS" in output
    assert "2 inhibit rules" in output
    assert "2 receivers" in output


def test_amtool_check_config_rejects_a_route_to_an_unknown_receiver(tmp_path: Path) -> None:
    """amtool really checks: a route naming a receiver that does not exist fails."""
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(ALERTMANAGER_CONFIG.read_text().replace("receiver: pager", "receiver: nope"))
    result = run([require_tool("amtool"), "check-config", str(broken)])
    assert result.returncode != 0
    assert "nope" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("severity", "receiver"),
    [("page", "pager"), ("critical", "pager"), ("ticket", "tickets"), ("warning", "tickets")],
)
def test_each_severity_reaches_its_receiver(severity: str, receiver: str) -> None:
    """`amtool config routes test` sends page and critical to the pager, the rest to tickets."""
    labels = [f"severity={severity}", "alertname=GenesysCloudFlowNoEntries", "org=acme"]
    result = run(
        [require_tool("amtool"), "config", "routes", "test",
         f"--config.file={ALERTMANAGER_CONFIG}", f"--verify.receivers={receiver}", *labels]
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


@pytest.mark.parametrize("severity", sorted(PACE))
def test_each_severity_has_the_designed_pace(severity: str) -> None:
    """group_wait, group_interval and repeat_interval per severity are the design's: a page
    waits only 10 s before its first notification, a ticket 30 s."""
    route = _route_for(severity)
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
        PACE[severity]
    )


def test_groups_are_one_alert_org_and_flow() -> None:
    """Notifications group by alertname, org and flow_id, and every route inherits that."""
    config = _config()
    assert config["route"]["group_by"] == ["alertname", "org", "flow_id"]
    assert all("group_by" not in r for r in config["route"]["routes"])


def test_inhibitions_silence_flow_alerts_behind_a_broken_poller() -> None:
    """A poller alert inhibits its org's flow alerts; PollerDown those of its target."""
    assert _config()["inhibit_rules"] == [
        {
            "source_matchers": ['component="poller"'],
            "target_matchers": ['component="flow"'],
            "equal": ["org"],
        },
        {
            "source_matchers": ['alertname="GenesysCloudPollerDown"'],
            "target_matchers": ['component="flow"'],
            "equal": ["job", "instance"],
        },
    ]


# ------------------------------------------------------------------ a real Alertmanager


@pytest.fixture(scope="module")
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def alertmanager(
    webhook: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Alertmanager]:
    config = with_webhook(
        ALERTMANAGER_CONFIG, webhook.url, tmp_path_factory.mktemp("am") / "alertmanager.yml"
    )
    with Alertmanager(config) as running:
        yield running


def _flow_alert(org: str, flow_id: str, instance: str = "poller-a:9864", **extra: str) -> Any:
    """A GenesysCloudFlowNoEntries alert as the shipped rule labels it."""
    labels = {
        "alertname": "GenesysCloudFlowNoEntries",
        "severity": "page",
        "component": "flow",
        "org": org,
        "flow_id": flow_id,
        "flow_name": f"Main menu {flow_id}",
        "query": "flows_counted",
        "job": "genesyscloud-poller",
        "instance": instance,
        **extra,
    }
    return {"labels": labels, "annotations": {"summary": f"No entries into {flow_id}"}}


def _barrier(alert: dict[str, Any]) -> dict[str, Any]:
    """An alert in the same group as `alert` that no inhibition matches (no component): the
    group's notification carries it, so its arrival shows the group was flushed, and whether
    `alert` rode along shows whether it was inhibited."""
    labels = {k: v for k, v in alert["labels"].items() if k != "component"}
    return {"labels": {**labels, "barrier": "yes"}, "annotations": {}}


def _group(org: str, flow_id: str) -> Any:
    """Accepts a firing notification of GenesysCloudFlowNoEntries for that org and flow."""

    def accepts(n: Notification) -> bool:
        return n.status == "firing" and n.body.get("groupLabels") == {
            "alertname": "GenesysCloudFlowNoEntries",
            "org": org,
            "flow_id": flow_id,
        }

    return accepts


def _flow_alert_in(n: Notification) -> bool:
    return n.carries(component="flow")


_PAGE = _flow_alert("acme", "flow-page")
# A poller alert of globex, beside the same flow alert of globex (inhibited) and of initech.
_QUERY_FAILING = {
    "labels": {
        "alertname": "GenesysCloudPollerQueryFailing",
        "severity": "warning",
        "component": "poller",
        "org": "globex",
        "query": "flows_counted",
        "job": "genesyscloud-poller",
        "instance": "poller-a:9864",
    },
    "annotations": {"summary": "Query flows_counted of globex is failing"},
}
_INHIBITED_BY_ORG = _flow_alert("globex", "flow-org")
# A down poller (no org), beside a flow alert from its instance and one from another instance.
_POLLER_DOWN = {
    "labels": {
        "alertname": "GenesysCloudPollerDown",
        "severity": "critical",
        "component": "poller",
        "job": "genesyscloud-poller",
        "instance": "poller-down:9864",
    },
    "annotations": {"summary": "The poller poller-down:9864 is down"},
}
_INHIBITED_BY_INSTANCE = _flow_alert("umbrella", "flow-down", instance="poller-down:9864")


@pytest.fixture(scope="module")
def posted(alertmanager: Alertmanager) -> float:
    """Every test's alerts, posted at once (monotonic time returned): each test's groups are its
    own (org, flow), so the group waits run side by side instead of one after another."""
    moment = time.monotonic()
    alertmanager.post_alerts(
        [
            _PAGE,
            _QUERY_FAILING,
            _INHIBITED_BY_ORG,
            _barrier(_INHIBITED_BY_ORG),
            _flow_alert("initech", "flow-org"),
            _POLLER_DOWN,
            _INHIBITED_BY_INSTANCE,
            _barrier(_INHIBITED_BY_INSTANCE),
            _flow_alert("hooli", "flow-down", instance="poller-up:9864"),
        ]
    )
    return moment


@pytest.mark.e2e
def test_a_page_alert_is_notified_to_the_pager(posted: float, webhook: WebhookReceiver) -> None:
    """A firing page alert reaches the pager webhook, grouped by alertname, org and flow_id,
    no sooner than the route's 10 s group_wait."""
    notification = webhook.wait_for(_group("acme", "flow-page"), NOTIFIED_WITHIN)
    assert notification.path == "/page"
    assert notification.receiver == "pager"
    assert notification.carries(alertname="GenesysCloudFlowNoEntries", flow_id="flow-page")
    assert notification.received_monotonic - posted >= 9.5  # group_wait, with clock slack


@pytest.mark.e2e
def test_a_poller_alert_inhibits_the_flow_alerts_of_its_org_only(
    posted: float, webhook: WebhookReceiver
) -> None:
    """With a poller alert firing for globex, globex's flow alert is not notified while the same
    flow alert of initech is."""
    other_org = webhook.wait_for(_group("initech", "flow-org"), NOTIFIED_WITHIN)
    assert other_org.carries(component="flow", org="initech", flow_id="flow-org")
    flushed = webhook.wait_for(_group("globex", "flow-org"), NOTIFIED_WITHIN)
    assert flushed.carries(barrier="yes")
    assert not _flow_alert_in(flushed), flushed.labels()
    assert webhook.find(lambda n: n.carries(component="flow", org="globex")) is None


@pytest.mark.e2e
def test_poller_down_inhibits_the_flow_alerts_of_its_instance(
    posted: float, webhook: WebhookReceiver
) -> None:
    """GenesysCloudPollerDown (no org) silences the flow alerts scraped from its instance, of
    any org, and is itself paged; the same flow alert from another instance is notified."""
    webhook.wait_for(_group("hooli", "flow-down"), NOTIFIED_WITHIN)
    flushed = webhook.wait_for(_group("umbrella", "flow-down"), NOTIFIED_WITHIN)
    assert flushed.carries(barrier="yes")
    assert not _flow_alert_in(flushed), flushed.labels()
    paged = webhook.wait_for(
        lambda n: n.carries(alertname="GenesysCloudPollerDown", instance="poller-down:9864"),
        NOTIFIED_WITHIN,
    )
    assert (paged.path, paged.receiver) == ("/page", "pager")
    assert webhook.find(lambda n: n.carries(component="flow", org="umbrella")) is None
