"""The one way tests run a program as a child: `Child` starts it in its own session, collects its
stdout and stderr lines as they arrive (parsing the JSON ones as log events), and lets a test wait
for a line or an event it printed, blocking or awaited, never for a stretch of time. A wait fails
at once, with the output's tail, when the child has died instead.

Servers are started on port 0 and report the port they bound: the daemon's `started` event
carries `listen=[addresses]`, `simulate` prints its URL, Prometheus logs `Listening on`. Reading
it back leaves no window in which another process could take a port picked in advance.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

from tests.support.wait import WITHIN, Deadline

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
# How long a stopped child may take to exit before it is killed.
STOP_WITHIN = 10.0


def poller(*args: str) -> list[str]:
    """The command line of `python -m poller ARGS` with this interpreter."""
    return [sys.executable, "-m", "poller", *args]


class Child:
    """A running child program; its output is collected as it arrives.

    `seen(where, text)`, when given, receives the whole stdout and stderr once the child has
    exited and both are read (the reliability suite scans them for secrets)."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path = ROOT,
        name: str = "",
        seen: Callable[[str, str], None] | None = None,
    ) -> None:
        self.args = list(args)
        self.name = name or Path(self.args[0]).name
        environment = dict(os.environ if env is None else env)
        environment.setdefault("PYTHONUNBUFFERED", "1")
        self.proc = subprocess.Popen(
            self.args, cwd=cwd, env=environment, start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, errors="replace",
        )  # fmt: skip
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.events: list[dict[str, Any]] = []
        self._seen = seen
        self._finished = False
        self._changed = threading.Condition()
        self._wakers: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in ((self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr))
        ]
        for reader in self._readers:
            reader.start()

    # -- reading ------------------------------------------------------------------------------

    def _read(self, stream: IO[str] | None, lines: list[str]) -> None:
        assert stream is not None
        for raw in stream:
            line = raw.rstrip("\n")
            with self._changed:
                lines.append(line)
                if lines is self.stdout and line.startswith("{"):
                    with contextlib.suppress(ValueError):
                        event = json.loads(line)
                        if isinstance(event, dict):
                            self.events.append(event)
                self._notify()
        with self._changed:
            self._notify()

    def _notify(self) -> None:
        self._changed.notify_all()
        for loop, event in self._wakers:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
                loop.call_soon_threadsafe(event.set)

    @property
    def output(self) -> str:
        """Everything printed on stdout so far."""
        return "\n".join(self.stdout)

    @property
    def errors(self) -> str:
        """Everything printed on stderr so far."""
        return "\n".join(self.stderr)

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def named(self, event: str) -> list[dict[str, Any]]:
        """Every log event of that name so far."""
        return [e for e in self.events if e.get("event") == event]

    def _closed(self) -> bool:
        return not any(reader.is_alive() for reader in self._readers)

    def died(self) -> str | None:
        """Why the child is gone (its exit code and last output), or None while it runs."""
        if self.proc.poll() is None:
            return None
        for reader in self._readers:
            reader.join(5)
        return f"{self.name} exited with {self.proc.returncode}: {self._tail()}"

    def _tail(self) -> str:
        return f"stdout: {self.output[-2000:]!r}; stderr: {self.errors[-2000:]!r}"

    # -- finders, and the waits built on them --------------------------------------------------

    def find_line(self, pattern: str) -> re.Match[str] | None:
        """The first stdout or stderr line matching the regular expression `pattern`."""
        compiled = re.compile(pattern)
        for line in (*self.stdout, *self.stderr):
            if found := compiled.search(line):
                return found
        return None

    def find_event(self, event: str, after: int = 0, **fields: Any) -> dict[str, Any] | None:
        """The first `event` with these field values among the events from index `after` on."""
        for e in self.events[after:]:
            if e.get("event") == event and all(e.get(k) == v for k, v in fields.items()):
                return e
        return None

    def _waited(self, find: Callable[[], T | None], what: str, deadline: Deadline) -> T | None:
        """One look: what `find` found, or None; fails when nothing more can come or time is up."""
        found = find()
        if found is not None:
            return found
        if self._closed():
            self.proc.poll()
            raise AssertionError(
                f"{self.name} closed its output (exit code {self.proc.returncode}) before "
                f"{what}; {self._tail()}"
            )
        if deadline.passed:
            deadline.fail(f"{what} from {self.name}", last=self._tail())
        return None

    def wait(self, find: Callable[[], T | None], what: str, timeout: float = WITHIN) -> T:
        """Blocking: until `find` returns something other than None after the child printed."""
        deadline = Deadline(timeout)
        with self._changed:
            while (found := self._waited(find, what, deadline)) is None:
                self._changed.wait(deadline.left)
            return found

    async def wait_async(
        self, find: Callable[[], T | None], what: str, within: float = WITHIN
    ) -> T:
        """`wait` without blocking the event loop (for tests serving the child from it)."""
        deadline = Deadline(within)
        waker = (asyncio.get_running_loop(), asyncio.Event())
        with self._changed:
            self._wakers.append(waker)
        try:
            while True:
                waker[1].clear()
                with self._changed:
                    found = self._waited(find, what, deadline)
                if found is not None:
                    return found
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waker[1].wait(), deadline.left)
        finally:
            with self._changed:
                self._wakers.remove(waker)

    def wait_line(self, pattern: str, timeout: float = WITHIN) -> re.Match[str]:
        return self.wait(lambda: self.find_line(pattern), f"a line matching {pattern!r}", timeout)

    async def line(self, pattern: str, within: float = WITHIN) -> re.Match[str]:
        what = f"a line matching {pattern!r}"
        return await self.wait_async(lambda: self.find_line(pattern), what, within)

    def wait_event(
        self, event: str, timeout: float = WITHIN, after: int = 0, **fields: Any
    ) -> dict[str, Any]:
        find = lambda: self.find_event(event, after, **fields)  # noqa: E731
        return self.wait(find, f"a {event!r} log event", timeout)

    async def event(
        self, event: str, within: float = WITHIN, after: int = 0, **fields: Any
    ) -> dict[str, Any]:
        find = lambda: self.find_event(event, after, **fields)  # noqa: E731
        return await self.wait_async(find, f"a {event!r} log event", within)

    # -- ending -------------------------------------------------------------------------------

    def send(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def _finish(self) -> None:
        """Once exited: read the output to its end and hand it to `seen`."""
        for reader in self._readers:
            reader.join(10)
        if not self._finished:
            self._finished = True
            if self._seen is not None:
                self._seen(f"{self.name} stdout", self.output)
                self._seen(f"{self.name} stderr", self.errors)

    def output_closed(self, timeout: float) -> bool:
        """Whether every holder of the child's stdout and stderr (its own children too) closed
        them within `timeout` seconds."""
        deadline = Deadline(timeout)
        for reader in self._readers:
            reader.join(deadline.left)
        return self._closed()

    def exit_code(self, timeout: float = STOP_WITHIN) -> int:
        """Blocking: wait for the child to exit by itself; fails (after killing it) if it runs
        past `timeout`."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"{self.name} did not exit within {timeout:g}s; {self._tail()}"
            ) from None
        self._finish()
        return code

    async def exited(self, within: float = STOP_WITHIN) -> int:
        """`exit_code` without blocking the event loop."""
        return await asyncio.to_thread(self.exit_code, within)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = STOP_WITHIN) -> int:
        """Blocking: `sig` to the child's whole session, SIGKILL if it outstays `timeout`; the
        exit code."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.wait()
        self._finish()
        return code

    async def stopped(
        self, sig: signal.Signals = signal.SIGTERM, within: float = STOP_WITHIN
    ) -> float:
        """Send `sig` and wait, without blocking the loop, for the child to exit; how long that
        took. Fails (after killing it) if it runs past `within`."""
        begun = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        await self.exited(within)
        return time.monotonic() - begun

    def kill(self) -> None:
        """SIGKILL to the child's whole session, if it still runs."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._finish()


def started_url(started: Mapping[str, Any], scheme: str = "http") -> str:
    """The base URL of the first address in a `started` event's `listen`."""
    return f"{scheme}://{started['listen'][0]}"


def listen_url(child: Child, timeout: float = WITHIN) -> str:
    """Blocking: the base URL a daemon child reports in its `started` event."""
    return started_url(child.wait_event("started", timeout))


async def listening(child: Child, within: float = WITHIN, scheme: str = "http") -> str:
    """The base URL a daemon child reports in its `started` event, awaited."""
    return started_url(await child.event("started", within), scheme)


# Prometheus's exporter-toolkit logs the address its listener bound (port 0 resolved).
PROMETHEUS_LISTENING = r'msg="Listening on" address=(\S+)'
# `simulate` prints the URL of the port it bound.
SIMULATOR_LISTENING = r"^Genesys Cloud simulator on (http://\S+) "


def prometheus_url(child: Child, timeout: float = WITHIN) -> str:
    """Blocking: the base URL a Prometheus child started on port 0 logs."""
    return "http://" + child.wait_line(PROMETHEUS_LISTENING, timeout)[1]


def simulator_url(child: Child, timeout: float = WITHIN) -> str:
    """Blocking: the base URL a `simulate` child started on port 0 prints."""
    return child.wait_line(SIMULATOR_LISTENING, timeout)[1]


async def simulating(child: Child, within: float = WITHIN) -> str:
    """The base URL a `simulate` child started on port 0 prints, awaited."""
    return (await child.line(SIMULATOR_LISTENING, within))[1]
