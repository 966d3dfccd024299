"""End to end, the alert pack: `simulate` -> `run` with the shipped config/poller.yaml -> a real
Prometheus with the shipped prometheus.yml and rules (15 s scrape and evaluation) -> a real
Alertmanager with the shipped alertmanager.yml -> a webhook receiver here
(tests/support/alertstack.py wires it).

Four simulated orgs, a simulator and a poller each, run the scenarios at once:
- `flows`: `stop` on one busy flow and `fail` on another; each must arrive as a page with the
  flow's id, its name in the summary, a runbook link and numbers in the description;
- `stormed` (every API request answers 503), `refused` (the OAuth client disabled, the poller
  restarted so that it must log in), `killed` (the poller SIGKILLed): only the poller's own
  alerts may arrive, and no flow alert of these orgs may even be pending in Prometheus.

The tests assert what arrives and what it says, not how fast: the detection times are the
benchmark's (`python -m tests.bench --only alerts`). `GenesysCloudPollerDown` waits 5 minutes
(`for`) before it fires; that notification is the benchmark's too, and here the killed org
only has to stay quiet on the flow side.

The rules judge a silence against the flow's own recent rate, so the faults go in once the rules
know enough of every watched flow's past to page for its silence (the recorded expected entries
over the NoEntries window its rate calls for: 7 minutes of history for a busy flow in business
hours, more at night). With the simulators' start (each builds its org's day so far) the
module takes 11 to 13 minutes, most of it that wait: too long for `make test`, so `make bench`
runs it (tests/bench is not collected by default). One module-scoped run serves every test."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.alertmanager import Notification
from tests.support.alertstack import AlertStack, SimFlow, alert_stack
from tests.support.detection import (
    ALERT,
    history_needed,
    predicted,
    shipped_intervals,
    silence_window,
)
from tests.support.wait import Deadline

pytestmark = pytest.mark.e2e

FLOWS_ORG = "flows"
BROKEN = ("stormed", "refused", "killed")
FLOWS = 30
BROKEN_FLOWS = 12  # enough for a busy flow in each broken org, whose silence would page
ORGS = {FLOWS_ORG: FLOWS} | dict.fromkeys(BROKEN, BROKEN_FLOWS)
LAG = 2.0  # seconds of indexing lag in the simulator: Genesys' is a few seconds
# How long after its predicted worst case a notification may still arrive on a loaded 2-core
# machine (this only fails a test that would never pass; the speed is the benchmark's).
MARGIN = 4 * 60.0
# How long the poller alerts may take (their `for` and a margin).
POLLER_ARRIVAL = 8 * 60.0
# How long the broken orgs are watched beyond the time their busiest flow's stop would take to
# page: had the rules mistaken the missing data for silence, it would have paged by then.
OBSERVE_MARGIN = 60.0
FAULT_ALERTS = tuple(ALERT.values())
RUNBOOK = "https://github.com/genesyscloud-poller/genesyscloud-poller/blob/main/README.md#"


@dataclass
class Run:
    stack: AlertStack
    stopped: SimFlow
    failed: SimFlow
    faulted: float  # time.time() of the faults and the breaks
    ended: float  # time.time() when the watching ended


def _armed(stack: AlertStack, flow: SimFlow) -> bool:
    """Whether the rules now know enough of the flow's past to page for its silence: its
    expected entries over the NoEntries window its rate calls for are recorded and enough."""
    window = silence_window(flow.per_second)
    assert window is not None, f"{flow} is too quiet for any silence to be news"
    label, _, needed = window
    expr = (
        f'flow:genesyscloud_flow_entries:expected{label}{{org="{flow.org}", '
        f'flow_id="{flow.id}"}} >= {needed}'
    )
    return bool(stack.prom.vector(expr))


def _wait_armed(stack: AlertStack, flows: list[SimFlow]) -> None:
    """Until the silence of each flow would page: the rules need minutes of history first (a
    new deployment is protected from about ten minutes on, sooner for busy flows)."""
    needed = max(history_needed("stop", f.per_second) or 0.0 for f in flows)
    deadline = Deadline(needed + 5 * 60)
    while not all(_armed(stack, f) for f in flows):
        if deadline.passed:
            deadline.fail(f"the NoEntries baselines of {flows}")
        for org_poller in stack.pollers.values():
            assert org_poller.child.died() is None, org_poller.child.died()
        time.sleep(5)


def _busiest(stack: AlertStack, org: str) -> list[SimFlow]:
    """The org's flows, busiest first: in business hours (UTC) the first few take at least one
    entry every 5 s each, at night fewer, and the rules take longer to be sure (the waits follow
    their arithmetic)."""
    return stack.flows_by_rate(org, time.time())


def _arrival(stopped: SimFlow, failed: SimFlow) -> float:
    """How long the flow notifications may take: the later predicted worst case, plus MARGIN."""
    intervals = shipped_intervals()
    worst = [predicted("stop", stopped.per_second, intervals, LAG),
             predicted("fail", failed.per_second, intervals, LAG)]  # fmt: skip
    assert None not in worst, f"{stopped} or {failed} is too quiet for any alert to see"
    return max(w for w in worst if w is not None) + MARGIN


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The pipeline, its history, the faults and breaks at one moment, and the watch until
    every expected notification arrived and OBSERVE passed."""
    with alert_stack(tmp_path_factory.mktemp("e2e-alerts"), ORGS, lag=LAG) as stack:
        stopped, failed, *_ = _busiest(stack, FLOWS_ORG)
        # Each broken org's busiest flow: had the rules taken its missing data for silence, it
        # would page.
        watched = [_busiest(stack, org)[0] for org in BROKEN]
        _wait_armed(stack, [stopped, *watched])
        faulted = time.time()
        stack.flow_fault(stopped, "stop", faulted)
        stack.flow_fault(failed, "fail", faulted)
        stack.org_faults("stormed", {"503": 1})
        stack.org_faults("refused", {"client_disabled": True})
        stack.restart_poller("refused")  # a running poller keeps its token; a new one logs in
        stack.kill_poller("killed")
        expected = (
            {"alertname": "GenesysCloudFlowNoEntries", "flow_id": stopped.id},
            {"alertname": "GenesysCloudFlowFailureBudgetBurn", "flow_id": failed.id},
            {"org": "stormed", "component": "poller"},
            {"alertname": "GenesysCloudPollerLoginRefused", "org": "refused"},
        )
        # Each test asserts its own arrival: a missing one fails that test, not the module.
        deadline = Deadline(max(_arrival(stopped, failed), POLLER_ARRIVAL))
        while not deadline.passed and not all(stack.notifications(**e) for e in expected):
            time.sleep(1)
        # Absence is only shown by watching, as long as a silence would take to page.
        intervals = shipped_intervals()
        observe = max(predicted("stop", f.per_second, intervals, LAG) or 0.0 for f in watched)
        while time.time() < faulted + observe + OBSERVE_MARGIN:
            time.sleep(5)
        yield Run(stack, stopped, failed, faulted, time.time())


def _seen(run: Run) -> list[tuple[str, list[dict[str, str]]]]:
    return [(n.status, n.labels()) for n in run.stack.hook.notifications]


def _alert(notification: Notification, **labels: str) -> dict[str, Any]:
    alert: dict[str, Any]
    (alert,) = [
        a
        for a in notification.alerts
        if a.get("status") == "firing" and all(a["labels"].get(k) == v for k, v in labels.items())
    ]
    return alert


def _assert_flow_page(run: Run, alertname: str, flow: SimFlow) -> None:
    """The first notification of `alertname` for `flow` pages with everything a responder
    needs: the flow's id and org, its name in the summary, numbers, and the runbook."""
    labels = {"alertname": alertname, "flow_id": flow.id}
    arrived = run.stack.notifications(**labels)
    assert arrived, f"no {alertname} for {flow}: {_seen(run)}"
    first = arrived[0]
    alert = _alert(first, **labels)
    got = alert["labels"]
    notes = alert["annotations"]
    assert isinstance(got, dict)
    assert isinstance(notes, dict)
    assert got["org"] == FLOWS_ORG
    assert got["severity"] == "page"
    assert got["component"] == "flow"
    assert flow.name in notes["summary"]
    assert re.search(r"\d", notes["description"]), notes["description"]
    assert notes["runbook_url"] == RUNBOOK + alertname.lower()


def test_stopped_busy_flow_pages_no_entries(run: Run) -> None:
    """A busy flow that stops taking calls arrives as a GenesysCloudFlowNoEntries page with its
    id, name, numbers and runbook."""
    _assert_flow_page(run, "GenesysCloudFlowNoEntries", run.stopped)


def test_failing_busy_flow_pages_budget_burn(run: Run) -> None:
    """A busy flow whose every outcome fails arrives as a GenesysCloudFlowFailureBudgetBurn
    page with its id, name, numbers and runbook."""
    _assert_flow_page(run, "GenesysCloudFlowFailureBudgetBurn", run.failed)


def test_healthy_flows_of_the_faulted_org_stay_quiet(run: Run) -> None:
    """No flow of the faulted org other than the two broken ones is notified by an alert that
    a fault raises. (GenesysCloudFlowExecutionStuck is not one: the simulator's normal traffic
    holds executions of up to 20 minutes, which that alert rightly reports.)"""
    flows = {
        alert["labels"].get("flow_id")
        for name in FAULT_ALERTS
        for _, alert in run.stack.notified(run.stack.started, org=FLOWS_ORG, alertname=name)
    }
    assert flows <= {run.stopped.id, run.failed.id}


@pytest.mark.parametrize("org", BROKEN)
def test_broken_poller_notifies_only_poller_alerts(run: Run, org: str) -> None:
    """Once an org's poller is broken (503s, login refused, killed), every alert notified about
    that org that started since is a poller alert (component=poller, severity critical or
    warning)."""
    about = [alert["labels"] for _, alert in run.stack.notified(run.faulted, org=org)]
    assert [a for a in about if a.get("component") != "poller"] == []
    assert {a["severity"] for a in about} <= {"critical", "warning"}
    if org != "killed":  # GenesysCloudPollerDown waits 5 minutes: the benchmark's to show
        assert about, f"no poller alert arrived for {org}: {_seen(run)}"


@pytest.mark.parametrize("org", BROKEN)
def test_broken_poller_leaves_no_flow_alert_pending(run: Run, org: str) -> None:
    """No flow alert of an org whose poller is broken starts, even as pending, in Prometheus at
    any evaluation from the break to the end of the watch: missing data is never silence."""
    started = run.stack.alerts_started(f'component="flow", org="{org}"', run.faulted, run.ended)
    assert started == []
