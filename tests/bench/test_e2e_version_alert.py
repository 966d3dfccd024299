"""End to end, a bad publish: `simulate` -> `run` with the shipped config/poller.yaml (name
listings read every minute) -> a real Prometheus with the shipped prometheus.yml and rules -> a
real Alertmanager with the shipped alertmanager.yml -> a webhook receiver here
(tests/support/alertstack.py wires it).

The busiest flow of one simulated org runs its version long enough for the rules to hold a
baseline of it (100 outcomes in Prometheus), then publishes a worse next version (about a
quarter of its outcomes fail): GenesysCloudFlowVersionRegression must arrive as a ticket naming
the flow and the new version, and for no other flow. The rule's `for: 5m`, the next name
listing and the new version's 30 outcomes make it several minutes at best, so the test lives
here (`make bench`), not in the fast e2e tier; test_e2e_prometheus.py runs the IVR dashboard's
panels and the KPI rules against the demo."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.alertstack import AlertStack, SimFlow, alert_stack
from tests.support.wait import Deadline

pytestmark = pytest.mark.e2e

ORG = "versions"
FLOWS = 12
LAG = 2.0
ALERT = "GenesysCloudFlowVersionRegression"
RUNBOOK = "https://github.com/genesyscloud-poller/genesyscloud-poller/blob/main/README.md#"
# The other versions' outcomes the rule needs (100) and a margin, before the publish.
BASELINE_OUTCOMES = 120
BASELINE_TIMEOUT = 30 * 60.0
# After the publish: a name listing (1m) and a poll (60 s), the new version's 30 outcomes, the
# rule's `for` (5m), a scrape and an evaluation (15 s each) and the ticket route's group_wait
# (30 s), with room for a quiet flow and a loaded 2-core machine.
ARRIVAL = 20 * 60.0


@dataclass
class Run:
    stack: AlertStack
    flow: SimFlow
    version: str  # the version the publish made live
    published: float  # time.time() of the publish


def _outcomes(stack: AlertStack, flow: SimFlow) -> float:
    """The flow's outcomes counted by ivr_versions in Prometheus' history so far."""
    expr = (
        f'sum(increase(genesyscloud_flow_outcomes_total{{org="{ORG}", flow_id="{flow.id}", '
        f'query="ivr_versions"}}[6h]))'
    )
    found = stack.prom.vector(expr)
    return float(found[0]["value"][1]) if found else 0.0


def _next_version(stack: AlertStack, flow: SimFlow) -> str:
    """The version a publish of the flow makes live, as the simulator lists it."""
    (listed,) = [f for f in stack.listed_flows(ORG) if f["id"] == flow.id]
    return str(listed["nextVersion"])


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The pipeline, the old version's baseline, the worse publish, and the watch until the
    notification arrived (or ARRIVAL passed)."""
    tmp = tmp_path_factory.mktemp("e2e-version")
    with alert_stack(tmp, {ORG: FLOWS}, lag=LAG, names_every="1m") as stack:
        flow = stack.flows_by_rate(ORG, time.time())[0]
        deadline = Deadline(BASELINE_TIMEOUT)
        while _outcomes(stack, flow) < BASELINE_OUTCOMES:
            if deadline.passed:
                deadline.fail(f"{BASELINE_OUTCOMES} outcomes of {flow} in Prometheus")
            assert stack.pollers[ORG].child.died() is None, stack.pollers[ORG].child.died()
            time.sleep(5)
        version = _next_version(stack, flow)
        published = time.time()
        stack.publish(flow, worse=True)
        deadline = Deadline(ARRIVAL)
        while not deadline.passed and not stack.notifications(alertname=ALERT, flow_id=flow.id):
            time.sleep(2)
        yield Run(stack, flow, version, published)


def _first(run: Run) -> dict[str, Any]:
    """The first firing alert of ALERT for the published flow that a notification carried."""
    arrived = run.stack.notifications(alertname=ALERT, flow_id=run.flow.id)
    seen = [(n.status, n.labels()) for n in run.stack.hook.notifications]
    assert arrived, f"no {ALERT} for {run.flow}: {seen}"
    firing: list[dict[str, Any]] = [
        a
        for a in arrived[0].alerts
        if a.get("status") == "firing" and a["labels"].get("flow_id") == run.flow.id
    ]
    return firing[0]


def test_worse_publish_tickets_version_regression(run: Run) -> None:
    """The worse version's failed outcomes arrive as a GenesysCloudFlowVersionRegression ticket
    for the flow, naming it, its new version, numbers and the runbook."""
    alert = _first(run)
    labels = alert["labels"]
    notes = alert["annotations"]
    assert labels["org"] == ORG
    assert labels["query"] == "ivr_versions"
    assert (labels["severity"], labels["component"]) == ("ticket", "flow")
    assert labels["signal"] in {"failed_outcomes", "disconnects"}
    # "Version 13.0 of flow X fails ..." or "Callers hang up in version 13.0 of flow X: ..."
    assert f"ersion {run.version} of flow {run.flow.name}" in notes["summary"]
    assert "%" in notes["description"]
    assert notes["runbook_url"] == RUNBOOK + ALERT.lower()


def test_no_other_flow_regresses(run: Run) -> None:
    """No flow but the published one is even pending GenesysCloudFlowVersionRegression."""
    started = run.stack.alerts_started(f'alertname="{ALERT}"', run.published, time.time())
    assert {s["flow_id"] for s in started} <= {run.flow.id}
