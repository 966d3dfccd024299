"""Shared pieces of the reliability suite: secret collection, the watch over a run, and a
daemon subprocess whose JSON log lines are read as they come. The stack, scraping and waiting
come from tests.support.

Everything runs on real time with short intervals (every: 1s); waits poll with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from poller.simulator import Simulator, SimulatorSettings
from poller.simulator.tokens import TokenStore
from tests.support.stack import ReleasableSleep
from tests.support.wait import WITHIN, Deadline

ROOT = Path(__file__).resolve().parents[2]

# Known credentials, so every output can be scanned for them.
CLIENT_ID = "reliability-client"
CLIENT_SECRET = "rel-S3cret-5f1c9a7e0b2d4c68-do-not-log"

AGGREGATE = """
  - name: flows
    type: aggregate
    every: 1s
    window: 1h
    group_by: [flowId, flowName]
    metrics: [nFlow, tFlow]
"""
OBSERVATION = """
  - name: active
    type: observation
    every: 1s
    metrics: [oFlow]
    filter:
      type: or
      predicates: [{dimension: mediaType, value: voice}, {dimension: mediaType, value: chat}]
"""
BOTH = AGGREGATE + OBSERVATION


def sim_settings(**overrides: Any) -> SimulatorSettings:
    base: dict[str, Any] = {"seed": 11, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    base.update(overrides)
    return SimulatorSettings(**base)


# -- secrets ----------------------------------------------------------------------------------


class RecordingTokens(TokenStore):
    """The simulator's token store, remembering every token it ever issued."""

    def __init__(self, ttl: float, issued: list[str]) -> None:
        super().__init__(ttl)
        self.issued = issued

    def issue(self, client_id: str, now: float) -> str:
        token = super().issue(client_id, now)
        self.issued.append(token)
        return token


@dataclass
class Leaks:
    """What must never leak (the client secret, every issued token) and everything seen."""

    tokens: list[str] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)  # (where, text)

    def saw(self, where: str, text: str | bytes) -> None:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        self.texts.append((where, text))

    def secrets(self) -> list[str]:
        return [CLIENT_SECRET, *self.tokens]

    def found(self) -> list[str]:
        """`where` of every text holding a secret (never the secret itself)."""
        out = []
        for where, text in self.texts:
            for i, secret in enumerate(self.secrets()):
                if secret in text:
                    out.append(f"{where}: {'client secret' if i == 0 else f'token #{i}'}")
        return out


def record_tokens(simulator: Simulator, leaks: Leaks) -> None:
    simulator.state.tokens = RecordingTokens(simulator.settings.token_ttl, leaks.tokens)


async def capped_sleep(seconds: float) -> None:
    """The daemon's sleep in most tests: retry backoff shrinks to at most 50 ms, while waits the
    request budget must honour (429 pauses) are still kept, since the budget re-checks the clock
    after every sleep."""
    await asyncio.sleep(min(seconds, 0.05))


# -- what the fixtures hand to tests (defined here: tests cannot import `conftest` reliably) ---


@dataclass
class Watch:
    """Everything a test's run emitted: structlog events, stdlib log records, loop exceptions,
    and the texts and tokens the secret scan checks."""

    leaks: Leaks = field(default_factory=Leaks)
    logs: list[dict[str, Any]] = field(default_factory=list)
    loop_errors: list[dict[str, Any]] = field(default_factory=list)

    def events(self, name: str, **fields: Any) -> list[dict[str, Any]]:
        return [
            e
            for e in self.logs
            if e.get("event") == name and all(e.get(k) == v for k, v in fields.items())
        ]


SimFactory = Callable[..., Awaitable[tuple[Simulator, ReleasableSleep]]]
Spawn = Callable[..., Awaitable["DaemonProcess"]]


def sessions() -> list[aiohttp.ClientSession]:
    """Every aiohttp session still alive in this process."""
    return [o for o in gc.get_objects() if isinstance(o, aiohttp.ClientSession)]


# -- a daemon subprocess ----------------------------------------------------------------------


def daemon_env(sim_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENESYS_", "POLLER_"))}
    env.update(
        GENESYS_API_BASE_URL=sim_url,
        GENESYS_LOGIN_BASE_URL=sim_url,
        GENESYS_CLIENT_ID=CLIENT_ID,
        GENESYS_CLIENT_SECRET=CLIENT_SECRET,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class DaemonProcess:
    """A `python -m poller ...` child (or another program) whose stdout JSON lines are parsed
    as they arrive."""

    def __init__(self, proc: asyncio.subprocess.Process, leaks: Leaks) -> None:
        self.proc = proc
        self.leaks = leaks
        self.events: list[dict[str, Any]] = []
        self.stdout: list[str] = []
        self.stderr = b""
        self._new_line = asyncio.Event()
        self._drained = False
        self._readers = [
            asyncio.ensure_future(self._read_stdout()),
            asyncio.ensure_future(self._read_stderr()),
        ]

    @classmethod
    async def start(
        cls,
        args: Iterable[str],
        env: Mapping[str, str],
        leaks: Leaks,
        program: Iterable[str] = ("-m", "poller"),
    ) -> DaemonProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *program, *args,
            env=dict(env), cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(proc, leaks)

    async def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stdout.append(line)
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict):
                    self.events.append(event)
            self._new_line.set()
        self._new_line.set()

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = await self.proc.stderr.read()

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == event]

    async def wait_event(
        self, event: str, within: float = WITHIN, after: int = 0
    ) -> dict[str, Any]:
        """The first `event` among the log lines from index `after` on."""
        deadline = Deadline(within)
        while True:
            for e in self.events[after:]:
                if e.get("event") == event:
                    return e
            if self.proc.returncode is not None and self._readers[0].done():
                raise AssertionError(
                    f"the daemon exited ({self.proc.returncode}) before logging {event}; "
                    f"stderr: {self.stderr.decode(errors='replace')[-2000:]}"
                )
            if deadline.passed:
                deadline.fail(f"a {event!r} log line")
            self._new_line.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_line.wait(), min(deadline.left, 0.2))

    def send(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    async def stop(self, sig: signal.Signals = signal.SIGTERM, within: float = 5.0) -> float:
        """Signal the child and wait for it to exit; returns how long that took."""
        begun = time.monotonic()
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        await asyncio.wait_for(self.proc.wait(), within)
        took = time.monotonic() - begun
        await self.drain()
        return took

    async def drain(self) -> None:
        await asyncio.gather(*self._readers, return_exceptions=True)
        if not self._drained:
            self._drained = True
            self.leaks.saw("daemon stdout", "\n".join(self.stdout))
            self.leaks.saw("daemon stderr", self.stderr)

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        await self.drain()


async def http_get(url: str, leaks: Leaks, method: str = "GET") -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.request(method, url) as resp:
        body = await resp.text()
    leaks.saw(f"{method} {url}", body)
    return resp.status, body


def listen_url(started: Mapping[str, Any]) -> str:
    return "http://" + str(started["listen"][0])
