"""The `demo` command as a child process on free ports: it prints the addresses it bound, so the
tests read them from its output instead of guessing a port (and never talk to a stranger)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]
FREE_PORTS = ["--web.listen-address", "127.0.0.1:0", "--simulator.listen-address", "127.0.0.1:0"]
# config/demo.yaml's orgs and the simulator's OAuth clients they log in as (its first and second).
DEMO_CLIENTS = {"acme": "demo-client", "globex": "demo-client-2"}
# A loaded 2-core CI machine may take a while to import and start both servers.
START_TIMEOUT = 120.0


def http_get(
    url: str, timeout: float = 10, method: str = "GET", body: Any = None
) -> tuple[int, bytes]:
    """(status, body); (0, b"") when nothing answers. `body` goes as JSON."""
    data = None if body is None else json.dumps(body).encode()
    headers = {} if body is None else {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


class Demo:
    """A running `demo` (started by `command`, in its own session); its output is collected as
    it arrives."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            command, cwd=ROOT, start_new_session=True, env=env or dict(os.environ),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = ""  # the daemon, http://HOST:PORT
        self.simulator_url = ""

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def _died(self) -> str | None:
        if self.proc.poll() is None:
            return None
        self._reader.join(5)
        return f"the demo exited with {self.proc.returncode}: {self.output[-2000:]}"

    def wait_started(self, timeout: float = START_TIMEOUT) -> Demo:
        """Wait for the announcement and /readyz 200; fills `url` and `simulator_url`."""

        def announced() -> tuple[str, str] | None:
            text = self.output
            metrics = re.search(r"^\s*metrics:\s+(\S+)/metrics$", text, re.M)
            simulator = re.search(r"^\s*simulator:\s+(\S+)$", text, re.M)
            return (metrics[1], simulator[1]) if metrics and simulator else None

        self.url, self.simulator_url = wait_for(
            announced, timeout=timeout, what="the demo's addresses", alive=self._died
        )
        wait_for(
            lambda: True if http_get(self.url + "/readyz")[0] == 200 else None,
            timeout=timeout,
            what=f"{self.url}/readyz to answer 200",
            alive=self._died,
        )
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

    def org(self, name: str = "acme") -> dict[str, Any]:
        """The simulated org the demo's org `name` polls, from the simulator's control API."""
        client = DEMO_CLIENTS[name]
        status, body = http_get(f"{self.simulator_url}/simulator/org?client_id={client}")
        assert status == 200, body
        org: dict[str, Any] = json.loads(body)
        return org

    def output_closed(self, timeout: float) -> bool:
        """Whether every holder of the demo's stdout (its children too) closed it in time."""
        self._reader.join(timeout)
        return not self._reader.is_alive()

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM to the whole session; SIGKILL if it outstays `timeout`. The exit code."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            code = self.proc.wait()
        self._reader.join(5)
        return code


def demo_command(*extra: str) -> list[str]:
    """`python -m poller demo` on free ports."""
    return [sys.executable, "-m", "poller", "demo", *FREE_PORTS, *extra]
