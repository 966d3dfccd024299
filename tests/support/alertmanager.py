"""A real Alertmanager for tests, and the webhook receiver its notifications go to.

`Alertmanager(config)` runs Debian's `prometheus-alertmanager` on a port the kernel picks
(reading back the address it logs), with gossip off and its own storage directory, so several
can run at once. `WebhookReceiver()` serves 127.0.0.1:0 in a thread and records every
notification with the moment it arrived; a test waits for the one it expects, blocking or
awaited, never for a stretch of time. `with_webhook` points a shipped config's webhook receivers
at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from tests.support.http import http_get
from tests.support.process import Child
from tests.support.tools import require_tool
from tests.support.wait import WITHIN, Deadline

# Alertmanager's exporter-toolkit logs the address its listener bound (port 0 resolved).
ALERTMANAGER_LISTENING = r'msg="Listening on" address=(\S+)'


@dataclass(frozen=True, slots=True)
class Notification:
    """One webhook request: where it came in, its JSON body, and when (wall and monotonic)."""

    path: str
    body: dict[str, Any]
    received: float  # time.time(): compare with the moment a fault was injected
    received_monotonic: float

    @property
    def receiver(self) -> str:
        """The Alertmanager receiver that sent it."""
        return str(self.body.get("receiver", ""))

    @property
    def status(self) -> str:
        """`firing` or `resolved` (the group's status)."""
        return str(self.body.get("status", ""))

    @property
    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self.body.get("alerts", [])
        return alerts

    def labels(self) -> list[dict[str, str]]:
        """The label sets of the alerts it carries."""
        return [alert.get("labels", {}) for alert in self.alerts]

    def carries(self, **labels: str) -> bool:
        """Whether one of its firing alerts has all these label values."""
        return any(
            alert.get("status") == "firing"
            and all(alert.get("labels", {}).get(k) == v for k, v in labels.items())
            for alert in self.alerts
        )


class WebhookReceiver:
    """Alertmanager's webhook target: records every POST on 127.0.0.1:0 as a `Notification`."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []
        self._changed = threading.Condition()
        self._wakers: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"unparsed": raw.decode(errors="replace")}
                receiver._record(Notification(self.path, body, time.time(), time.monotonic()))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the recorded notifications are the log

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"

    def _record(self, notification: Notification) -> None:
        with self._changed:
            self.notifications.append(notification)
            self._changed.notify_all()
            for loop, event in self._wakers:
                with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
                    loop.call_soon_threadsafe(event.set)

    def find(self, predicate: Callable[[Notification], bool]) -> Notification | None:
        """The first notification so far that `predicate` accepts."""
        with self._changed:
            return next((n for n in self.notifications if predicate(n)), None)

    def wait_for(
        self, predicate: Callable[[Notification], bool], timeout: float = WITHIN
    ) -> Notification:
        """Blocking: the first notification `predicate` accepts, as soon as it arrives; fails
        the test (listing what did arrive) after `timeout` seconds."""
        deadline = Deadline(timeout)
        with self._changed:
            while (found := self.find(predicate)) is None:
                if deadline.passed:
                    deadline.fail("a matching webhook notification", last=self._summary())
                self._changed.wait(deadline.left)
            return found

    async def arrival(
        self, predicate: Callable[[Notification], bool], within: float = WITHIN
    ) -> Notification:
        """`wait_for` without blocking the event loop."""
        deadline = Deadline(within)
        waker = (asyncio.get_running_loop(), asyncio.Event())
        with self._changed:
            self._wakers.append(waker)
        try:
            while True:
                waker[1].clear()
                if (found := self.find(predicate)) is not None:
                    return found
                if deadline.passed:
                    deadline.fail("a matching webhook notification", last=self._summary())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waker[1].wait(), deadline.left)
        finally:
            with self._changed:
                self._wakers.remove(waker)

    def _summary(self) -> list[tuple[str, str, list[dict[str, str]]]]:
        return [(n.path, n.status, n.labels()) for n in self.notifications]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def with_webhook(config: Path, url: str, dest: Path) -> Path:
    """A copy of the Alertmanager config `config` at `dest` whose webhook URLs all go to `url`,
    each keeping its own path (so the receiver still tells them apart); `dest`."""
    loaded: dict[str, Any] = yaml.safe_load(config.read_text())
    base = url.rstrip("/")
    for receiver in loaded.get("receivers", []):
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = base + (urllib.parse.urlsplit(webhook["url"]).path or "/")
    dest.write_text(yaml.safe_dump(loaded, sort_keys=False))
    return dest


class Alertmanager:
    """A running `prometheus-alertmanager` with config `config`, on 127.0.0.1 and a free port.

    `storage` is its data directory (a temporary one, removed at `stop`, when omitted)."""

    def __init__(self, config: Path, storage: Path | None = None, timeout: float = 60) -> None:
        binary = require_tool("prometheus-alertmanager")
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if storage is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="alertmanager-")
            storage = Path(self._tmp.name)
        self.child = Child(
            [
                binary,
                f"--config.file={config}",
                f"--storage.path={storage}",
                "--web.listen-address=127.0.0.1:0",
                # Empty: no gossip, which would bind port 9094 on every interface.
                "--cluster.listen-address=",
            ],
            name="alertmanager",
        )
        try:
            self.url = "http://" + self.child.wait_line(ALERTMANAGER_LISTENING, timeout)[1]
        except BaseException:
            self.stop()
            raise

    def post_alerts(self, alerts: Iterable[dict[str, Any]]) -> None:
        """POST alerts (each `{"labels": ..., "annotations": ...}`) to /api/v2/alerts, as
        Prometheus does; fails the test unless Alertmanager accepts them."""
        body = list(alerts)
        code, answer = http_get(f"{self.url}/api/v2/alerts", method="POST", body=body)
        assert code == 200, f"Alertmanager answered {code}: {answer[:500]!r}"

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts it holds now (GET /api/v2/alerts), with their status."""
        code, answer = http_get(f"{self.url}/api/v2/alerts")
        assert code == 200, f"Alertmanager answered {code}: {answer[:500]!r}"
        alerts: list[dict[str, Any]] = json.loads(answer)
        return alerts

    def stop(self) -> int:
        """Stop it (SIGTERM, then SIGKILL) and remove its temporary storage; its exit code."""
        code = self.child.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return code

    def __enter__(self) -> Alertmanager:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
