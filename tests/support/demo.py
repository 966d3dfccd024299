"""The `demo` command as a child process on port 0: it prints the addresses it bound, so the
tests read them from its output instead of picking a port (and never talk to a stranger)."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from tests.support.exposition import Exposition
from tests.support.http import http_get, wait_for_status
from tests.support.process import Child

FREE_PORTS = ["--web.listen-address", "127.0.0.1:0", "--simulator.listen-address", "127.0.0.1:0"]
# config/demo.yaml's orgs and the simulator's OAuth clients they log in as (its first and second).
DEMO_CLIENTS = {"acme": "demo-client", "globex": "demo-client-2"}
# A loaded 2-core CI machine may take a while to import and start both servers; a wait returns
# as soon as they answer, so the long deadline costs nothing.
START_TIMEOUT = 120.0
ANNOUNCED_METRICS = r"^\s*metrics:\s+(\S+)/metrics$"
ANNOUNCED_SIMULATOR = r"^\s*simulator:\s+(\S+)$"


class Demo(Child):
    """A running `demo` (started by `command`, in its own session)."""

    def __init__(self, command: Sequence[str], env: dict[str, str] | None = None) -> None:
        super().__init__(command, env=env or dict(os.environ), name="demo")
        self.url = ""  # the daemon, http://HOST:PORT
        self.simulator_url = ""

    def wait_started(self, timeout: float = START_TIMEOUT) -> Demo:
        """Wait for the announcement and /readyz 200; fills `url` and `simulator_url`."""
        self.url = self.wait_line(ANNOUNCED_METRICS, timeout)[1]
        self.simulator_url = self.wait_line(ANNOUNCED_SIMULATOR, timeout)[1]
        wait_for_status(f"{self.url}/readyz", 200, timeout=timeout, alive=self.died)
        return self

    def get(self, path: str, method: str = "GET") -> tuple[int, str]:
        status, body = http_get(self.url + path, method=method)
        return status, body.decode("utf-8", "replace")

    def post(self, path: str) -> tuple[int, str]:
        return self.get(path, method="POST")

    def simulate(self, path: str, org: str, body: Any) -> None:
        """PUT `body` to the simulator's control API `path` for the demo org `org`."""
        url = f"{self.simulator_url}{path}?client_id={DEMO_CLIENTS[org]}"
        status, answer = http_get(url, method="PUT", body=body)
        assert status == 200, answer

    def flow_ids(self, org: str) -> list[str]:
        """The ids of the demo org `org`'s live flows, as the simulator lists them."""
        url = f"{self.simulator_url}/simulator/org?client_id={DEMO_CLIENTS[org]}"
        status, body = http_get(url)
        assert status == 200, body
        flows: list[dict[str, Any]] = json.loads(body)["flows"]
        return [f["id"] for f in flows if not f.get("deleted")]

    def flows_with_entries(self, org: str, start: float, end: float) -> set[str]:
        """The ids of the flows of the demo org `org` that the simulator says had an execution
        start between `start` and `end` (Unix seconds), every late one included."""
        iso = "%Y-%m-%dT%H:%M:%S.000Z"
        interval = "/".join(time.strftime(iso, time.gmtime(t)) for t in (start, end))
        body = {"interval": interval, "groupBy": ["flowId"], "metrics": ["nFlow"]}
        url = f"{self.simulator_url}/simulator/truth?client_id={DEMO_CLIENTS[org]}"
        status, answer = http_get(url, method="POST", body=body)
        assert status == 200, answer
        return {
            result["group"]["flowId"]
            for result in json.loads(answer).get("results", [])
            if any(m["stats"]["count"] > 0 for d in result["data"] for m in d["metrics"])
        }

    def org(self, name: str = "acme") -> dict[str, Any]:
        """The simulated org the demo's org `name` polls, from the simulator's control API."""
        client = DEMO_CLIENTS[name]
        status, body = http_get(f"{self.simulator_url}/simulator/org?client_id={client}")
        assert status == 200, body
        org: dict[str, Any] = json.loads(body)
        return org


def demo_command(*extra: str) -> list[str]:
    """`python -m poller demo` on port 0."""
    return [sys.executable, "-m", "poller", "demo", *FREE_PORTS, *extra]


def busy_flows(demo: Demo, scrape: Exposition, org: str) -> set[str]:
    """The flows of the demo org `org` that had an execution inside the hour of its last
    flows_1h poll, a margin (longer than the simulator's lag) off either end: each must have
    its series, while a flow without one has none (Genesys never zero-fills)."""
    polled = scrape.get(
        "genesyscloud_poller_query_last_success_timestamp_seconds", org=org, query="flows_1h"
    )
    assert polled is not None, f"{org}/flows_1h has not succeeded"
    return demo.flows_with_entries(org, polled - 3600 + 120, polled - 120)


def publish_every_flow(demo: Demo, org: str, *, worse: bool = False) -> None:
    """Publish the next version of every live flow of the demo org `org` now (the simulator's
    control API): executions that start from now on run it."""
    for flow_id in demo.flow_ids(org):
        demo.simulate(f"/simulator/flows/{flow_id}/publish", org, {"worse": worse})
