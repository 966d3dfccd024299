"""The alerting pipeline as shipped, wired on free ports: `simulate` -> one `run` per simulated
org with the shipped config/poller.yaml -> a real Prometheus with the shipped prometheus.yml and
rules -> a real Alertmanager with the shipped alertmanager.yml -> a webhook receiver.

The end-to-end alert test and the detection benchmark share it. Each org is a simulator of its
own (seed 1, 2, ... in the order given, and its own number of flows: building the day so far is
the simulator's heaviest work, so orgs that only have to break get few flows, and separate
processes share it out over the cores), polled by a poller of its own, as a deployment with one
poller per org does; Prometheus tells them apart by an `org` label on each target, so the
shipped inhibitions (equal `org`) keep one org's broken poller from muting another org's flow
alerts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from poller.simulator.activity import rate
from poller.simulator.org import Org
from tests.deploy.deploy_support import DEPLOY, PROMETHEUS_CONFIG, ROOT, Prometheus, load_yaml
from tests.support.alertmanager import Alertmanager, Notification, WebhookReceiver, with_webhook
from tests.support.http import http_get, wait_for_status
from tests.support.process import Child, listen_url, poller, prometheus_url, simulator_url
from tests.support.tools import require_tool
from tests.support.wait import wait_for

POLLER_CONFIG = ROOT / "config" / "poller.yaml"
ALERTMANAGER_CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"
JOB = "genesyscloud-poller"
CLIENT_ID = "demo-client"
CLIENT_SECRET = "demo-secret"  # the simulator's documented demo credential
SEED = 1
START_TIMEOUT = 90.0
READY_TIMEOUT = 900.0  # every org's first polls answered (see `AlertStack.start`)


def noon_time_zone(now: float) -> str:
    """A fixed-offset IANA zone whose local time is within an hour of noon at `now`.

    The counter queries count from midnight in their time zone and, for `settle` after
    midnight, keep showing the closed day while its late data arrives. The rules do not judge
    silence over a window that overlaps a settle, so a run that crosses local midnight would be
    blind to a stopped flow for those minutes: a zone near noon keeps the run far from both.
    """
    offset = 12 - time.gmtime(now).tm_hour  # from -11 to +12 hours east of UTC
    # Etc/GMT zones carry the POSIX sign: Etc/GMT-3 is three hours EAST of Greenwich.
    return "Etc/UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def poller_config(now: float, names_every: str = "", push_every: str = "") -> dict[str, Any]:
    """The shipped config/poller.yaml with what a test must change: the listen address (a port
    the kernel picks), the counter queries' time zone (see `noon_time_zone`) and, when given,
    how often the name listings are read (a publish shows in them at the next read) and, with
    `push_every`, push on and every query polled that often."""
    config: dict[str, Any] = load_yaml(POLLER_CONFIG)
    config["server"]["listen"] = "127.0.0.1:0"
    if names_every:
        config["names"]["every"] = names_every
    if push_every:
        config["genesys"].setdefault("push", {})["enabled"] = True
        for query in config["queries"]:
            query["every"] = push_every
    for query in config["queries"]:
        if query.get("mode") == "counter":
            query["time_zone"] = noon_time_zone(now)
    return config


def prometheus_config(targets: dict[str, str], alertmanager: str) -> dict[str, Any]:
    """The shipped prometheus.yml (scrape and evaluation intervals as shipped) with its rule
    files by absolute path, one poller target per org, labelled with the org, and the test's
    Alertmanager."""
    config: dict[str, Any] = load_yaml(PROMETHEUS_CONFIG)
    base = PROMETHEUS_CONFIG.parent
    config["rule_files"] = [str(base / path) for path in config["rule_files"]]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == JOB
    job["static_configs"] = [
        {"targets": [address], "labels": {"org": org}} for org, address in targets.items()
    ]
    (managers,) = config["alerting"]["alertmanagers"]
    managers["static_configs"] = [{"targets": [alertmanager]}]
    return config


@dataclass(frozen=True, slots=True)
class SimFlow:
    """A flow of a simulated org, its expected entries per second right now and its median
    time in flow."""

    org: str
    id: str
    name: str
    per_second: float
    duration: float  # seconds


@dataclass
class OrgPoller:
    """One org's simulator and poller: the simulator's seed and URL, the poller's config file,
    address and process."""

    org: str
    seed: int
    flows: int
    simulator_url: str
    config: Path
    child: Child
    address: str  # host:port, Prometheus' target


@dataclass
class AlertStack:
    """The running pipeline; `close()` stops every process."""

    tmp: Path
    orgs: Mapping[str, int]  # org -> flows in its simulator
    lag: float
    names_every: str = ""  # names.every of the pollers; "" keeps the shipped value
    push_every: str = ""  # push on and every query polled this often; "" as shipped
    env: dict[str, str] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)
    pollers: dict[str, OrgPoller] = field(default_factory=dict)
    webhook: WebhookReceiver | None = None
    alertmanager: Alertmanager | None = None
    prometheus: Prometheus | None = None
    started: float = 0.0  # time.time() when Prometheus was ready

    # -- starting ---------------------------------------------------------------------------

    def start(self) -> None:
        prometheus_bin = require_tool("prometheus")
        self.webhook = WebhookReceiver()
        config = with_webhook(ALERTMANAGER_CONFIG, self.webhook.url, self.tmp / "alertmanager.yml")
        self.alertmanager = Alertmanager(config, storage=self.tmp / "alertmanager")
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("GENESYS_", "POLLER_"))
        }
        simulators = {
            org: self._simulate(org, seed, flows)
            for seed, (org, flows) in enumerate(self.orgs.items(), start=SEED)
        }
        settings = poller_config(time.time(), self.names_every, self.push_every)
        config_text = yaml.safe_dump(settings, sort_keys=False)
        for seed, (org, flows) in enumerate(self.orgs.items(), start=SEED):
            path = self.tmp / f"poller-{org}.yaml"
            path.write_text(config_text)
            url = simulator_url(simulators[org], START_TIMEOUT)
            self.pollers[org] = self._start_poller(
                OrgPoller(org, seed, flows, url, path, simulators[org], ""), "127.0.0.1:0"
            )
        # A simulator builds its org's day so far at the first queries (minutes of CPU for a
        # large org late in the day on a loaded machine), and meanwhile polls overrun their
        # interval or time out: Prometheus starts after, so that the rules' baselines never see
        # that warm-up.
        for org_poller in self.pollers.values():
            wait_for_status(
                f"http://{org_poller.address}/readyz", 200, timeout=READY_TIMEOUT,
                alive=org_poller.child.died,
            )  # fmt: skip
        path = self.tmp / "prometheus.yml"
        targets = {org: p.address for org, p in self.pollers.items()}
        manager = self.alertmanager.url.removeprefix("http://")
        path.write_text(yaml.safe_dump(prometheus_config(targets, manager), sort_keys=False))
        prometheus = self._child(
            [prometheus_bin, f"--config.file={path}", f"--storage.tsdb.path={self.tmp / 'tsdb'}",
             "--web.listen-address=127.0.0.1:0"],
            "prometheus",
        )  # fmt: skip
        self.prometheus = Prometheus(prometheus_url(prometheus, START_TIMEOUT))
        wait_for_status(
            f"{self.prometheus.base_url}/-/ready", 200, timeout=START_TIMEOUT,
            alive=prometheus.died,
        )  # fmt: skip
        self.started = time.time()

    def _simulate(self, org: str, seed: int, flows: int) -> Child:
        args = ["--listen-address", "127.0.0.1:0", "--flows", str(flows), "--seed", str(seed)]
        return self._child(poller("simulate", *args, "--lag", f"{self.lag:g}"), f"simulate-{org}")

    def _child(self, args: list[str], name: str, env: dict[str, str] | None = None) -> Child:
        child = Child(args, env=env or self.env, cwd=self.tmp, name=name)
        self.children.append(child)
        return child

    def _start_poller(self, org: OrgPoller, listen: str) -> OrgPoller:
        """`run` for the org, listening on `listen` (a restart takes its old address back, so
        Prometheus' target stays the same)."""
        loaded = yaml.safe_load(org.config.read_text())
        loaded["server"]["listen"] = listen
        org.config.write_text(yaml.safe_dump(loaded, sort_keys=False))
        env = {
            **self.env,
            "GENESYS_CLIENT_ID": CLIENT_ID,
            "GENESYS_CLIENT_SECRET": CLIENT_SECRET,
            "GENESYS_API_BASE_URL": org.simulator_url,
            "GENESYS_LOGIN_BASE_URL": org.simulator_url,
        }
        child = self._child(poller("run", "--config", str(org.config)), f"run-{org.org}", env)
        address = listen_url(child, START_TIMEOUT).removeprefix("http://")
        return dataclasses.replace(org, child=child, address=address)

    def close(self) -> None:
        for child in reversed(self.children):
            with contextlib.suppress(Exception):
                child.stop()
        if self.alertmanager is not None:
            self.alertmanager.stop()
        if self.webhook is not None:
            self.webhook.stop()

    # -- the simulator ----------------------------------------------------------------------

    def _sim(self, method: str, path: str, org: str, body: Any = None) -> Any:
        url = self.pollers[org].simulator_url + path
        status, answer = http_get(url, method=method, body=body)
        assert 200 <= status < 300, f"{method} {path} for {org}: {status} {answer[:300]!r}"
        return json.loads(answer) if answer else None

    def listed_flows(self, org: str) -> list[dict[str, Any]]:
        """The org's flows as the simulator lists them (`GET /simulator/org`)."""
        flows: list[dict[str, Any]] = self._sim("GET", "/simulator/org", org)["flows"]
        return flows

    def flows_by_rate(self, org: str, at: float) -> list[SimFlow]:
        """The org's live flows, busiest first, each with its expected entries per second at
        `at` (the simulator's own rate function over the next ten minutes, so a flow picked
        for its volume keeps it while a test watches)."""
        listed = self._sim("GET", "/simulator/org", org)["flows"]
        model = Org(self.pollers[org].seed, self.pollers[org].flows)
        minute = int(at // 60)
        out = []
        for flow in listed:
            if flow.get("deleted"):
                continue
            modelled = model.by_id[flow["id"]]
            expected = min(rate(modelled, minute + m) for m in range(10))
            median = modelled.durations[len(modelled.durations) // 2] / 1000
            out.append(SimFlow(org, flow["id"], flow["name"], expected / 60, median))
        return sorted(out, key=lambda f: -f.per_second)

    def flow_fault(self, flow: SimFlow, kind: str, at: float, factor: float | None = None) -> None:
        """Inject a per-flow fault from `at` (epoch seconds) on."""
        body: dict[str, Any] = {"fault": kind, "at": at}
        if factor is not None:
            body["factor"] = factor
        self._sim("PUT", f"/simulator/flows/{flow.id}/fault", flow.org, body)

    def publish(self, flow: SimFlow, *, worse: bool = False) -> None:
        """Publish the flow's next version now: executions that start from now on run it."""
        self._sim("PUT", f"/simulator/flows/{flow.id}/publish", flow.org, {"worse": worse})

    def org_faults(self, org: str, faults: dict[str, Any]) -> None:
        """Replace the org's API faults (`PUT /simulator/faults`)."""
        self._sim("PUT", "/simulator/faults", org, faults)

    # -- the pollers ------------------------------------------------------------------------

    def restart_poller(self, org: str) -> None:
        """Stop the org's poller and start it again on the same address (it logs in anew)."""
        old = self.pollers[org]
        old.child.stop()
        self.pollers[org] = self._start_poller(old, old.address)

    def kill_poller(self, org: str) -> None:
        """SIGKILL the org's poller, as a crash or an OOM kill would end it."""
        self.pollers[org].child.kill()

    # -- Prometheus and the receiver ----------------------------------------------------------

    @property
    def prom(self) -> Prometheus:
        assert self.prometheus is not None
        return self.prometheus

    @property
    def hook(self) -> WebhookReceiver:
        assert self.webhook is not None
        return self.webhook

    def _alerts_at(self, expr: str, at: float) -> list[dict[str, Any]]:
        answer = self.prom.api("query", query=expr, time=f"{at:.3f}")
        assert answer.get("status") == "success", answer.get("error")
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def alerts_started(self, selector: str, start: float, end: float) -> list[dict[str, str]]:
        """The labels of every alert matching `selector` that Prometheus evaluated as pending
        or firing at some time from `start` to `end` without holding it at `start`: the alerts
        that what happened at `start` raised."""
        span = max(1, math.ceil(end - start))
        during = self._alerts_at(f"last_over_time(ALERTS{{{selector}}}[{span}s])", end)
        before = self._alerts_at(f"ALERTS{{{selector}}}", start)

        def key(series: dict[str, Any]) -> frozenset[tuple[str, str]]:
            return frozenset((k, v) for k, v in series["metric"].items() if k != "alertstate")

        held = {key(s) for s in before}
        return [s["metric"] for s in during if key(s) not in held]

    def notified(self, since: float, **labels: str) -> list[tuple[float, dict[str, Any]]]:
        """(arrival, alert) of every firing alert with these label values that arrived in a
        notification after `since` and started after it (a group's later notifications repeat
        the alerts that fired before)."""
        out = []
        for notification in self.hook.notifications:
            if notification.received < since:
                continue
            for alert in notification.alerts:
                if (
                    alert.get("status") == "firing"
                    and all(alert["labels"].get(k) == v for k, v in labels.items())
                    and _epoch(alert["startsAt"]) >= since
                ):
                    out.append((notification.received, alert))
        return out

    def notifications(self, **labels: str) -> list[Notification]:
        """The notifications so far carrying a firing alert with these label values."""
        return [n for n in self.hook.notifications if n.carries(**labels)]

    def wait_series(self, expr: str, timeout: float) -> list[dict[str, Any]]:
        return wait_for(
            lambda: self.prom.vector(expr) or None, timeout=timeout, what=f"data from {expr!r}"
        )


def _epoch(rfc3339: str) -> float:
    """Alertmanager's timestamps (nanoseconds, `Z`) as epoch seconds."""
    stamp = re.sub(r"(\.\d{6})\d+", r"\1", rfc3339).replace("Z", "+00:00")
    return datetime.fromisoformat(stamp).timestamp()


@contextlib.contextmanager
def alert_stack(
    tmp: Path, orgs: Mapping[str, int], *, lag: float, names_every: str = "", push_every: str = ""
) -> Iterator[AlertStack]:
    """A started `AlertStack` of these orgs (name -> flows), closed at the end."""
    stack = AlertStack(tmp, orgs, lag, names_every, push_every)
    try:
        stack.start()
        yield stack
    finally:
        stack.close()
