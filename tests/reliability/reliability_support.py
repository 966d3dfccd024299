"""Shared pieces of the reliability suite: the simulator + daemon stack, scraping, waiting,
secret collection and a daemon subprocess whose JSON log lines are read as they come.

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
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from poller.config import parse_config
from poller.config.model import Config
from poller.daemon import Daemon
from poller.simulator import Simulator, SimulatorSettings
from poller.simulator.tokens import TokenStore

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


def config_text(
    queries: str,
    *,
    timeout: str = "5s",
    max_response_bytes: int | None = None,
    rpm: int = 300,
    listen: str = "127.0.0.1:0",
) -> str:
    extra = f"  max_response_bytes: {max_response_bytes}\n" if max_response_bytes else ""
    return (
        "genesys:\n"
        "  region: mypurecloud.ie\n"
        f"  requests_per_minute: {rpm}\n"
        f"  timeout: {timeout}\n"
        f"{extra}"
        "server:\n"
        f'  listen: "{listen}"\n'
        "queries:\n"
        f"{queries}"
    )


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


class ReleasableSleep:
    """The simulator's sleep (its injected latency): real, but cut short on `release()`, so
    tear-down never waits for a slow answer nobody is listening to any more."""

    def __init__(self) -> None:
        self._released = asyncio.Event()
        self.holding = 0  # requests the simulator is holding right now
        self.held = 0  # requests it has held in all

    async def __call__(self, seconds: float) -> None:
        self.holding += 1
        self.held += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), seconds)
        finally:
            self.holding -= 1

    def release(self) -> None:
        self._released.set()


async def start_simulator(settings: SimulatorSettings, leaks: Leaks) -> tuple[Simulator, Any]:
    sleep = ReleasableSleep()
    simulator = Simulator(settings, sleep=sleep)
    record_tokens(simulator, leaks)
    await simulator.start("127.0.0.1", 0)
    return simulator, sleep


# -- scraping ---------------------------------------------------------------------------------


class Scrape:
    """A parsed /metrics body, looked up by sample name (counters end in _total)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: list[tuple[str, dict[str, str], float]] = [
            (s.name, dict(s.labels), s.value)
            for family in text_string_to_metric_families(text)
            for s in family.samples
        ]

    def get(self, name: str, **labels: str) -> float | None:
        for sample, have, value in self.samples:
            if sample == name and all(have.get(k) == v for k, v in labels.items()):
                return value
        return None

    def total(self, name: str, **labels: str) -> float:
        return sum(
            value
            for sample, have, value in self.samples
            if sample == name and all(have.get(k) == v for k, v in labels.items())
        )

    def up(self, query: str) -> float | None:
        return self.get("genesyscloud_poller_query_up", query=query)

    def last_success(self, query: str) -> float | None:
        return self.get("genesyscloud_poller_query_last_success_timestamp_seconds", query=query)

    def flow_series(self, query: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """The query's flow series: (sample name, labels) -> value."""
        return {
            (sample, tuple(sorted(have.items()))): value
            for sample, have, value in self.samples
            if sample.startswith("genesyscloud_flow_") and have.get("query") == query
        }


# -- waiting ----------------------------------------------------------------------------------


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 10.0, what: str = "condition"
) -> None:
    """Poll `check` until it holds; fail after `within` real seconds."""
    deadline = time.monotonic() + within
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {within:g}s waiting for {what}")
        await asyncio.sleep(0.05)


async def capped_sleep(seconds: float) -> None:
    """The daemon's sleep in most tests: retry backoff shrinks to at most 50 ms, while waits the
    request budget must honour (429 pauses) are still kept, since the budget re-checks the clock
    after every sleep."""
    await asyncio.sleep(min(seconds, 0.05))


# -- the in-process stack ---------------------------------------------------------------------


@dataclass
class Stack:
    simulator: Simulator
    sim_sleep: ReleasableSleep
    daemon: Daemon
    runner: web.AppRunner
    url: str
    http: aiohttp.ClientSession
    leaks: Leaks
    env: dict[str, str]
    text: str  # the config the loader reads (change it, then reload)

    def load(self) -> Config:
        return parse_config(self.text, source="reliability.yaml", env=self.env)

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.url + path) as resp:
            body = await resp.text()
        self.leaks.saw(f"GET {path}", body)
        return resp.status, body

    async def post(self, path: str) -> tuple[int, str]:
        async with self.http.post(self.url + path) as resp:
            body = await resp.text()
        self.leaks.saw(f"POST {path}", body)
        return resp.status, body

    async def scrape(self) -> Scrape:
        status, body = await self.get("/metrics")
        assert status == 200
        return Scrape(body)

    async def ready(self) -> tuple[int, dict[str, Any]]:
        status, body = await self.get("/readyz")
        return status, json.loads(body)

    async def wait_up(self, *queries: str, within: float = 10.0) -> Scrape:
        """Wait until every named query (default: all) has query_up 1; returns that scrape."""
        names = queries or tuple(self.daemon.pollers)
        seen: list[Scrape] = []

        async def all_up() -> bool:
            scrape = await self.scrape()
            seen[:] = [scrape]
            return all(scrape.up(q) == 1 for q in names)

        await eventually(all_up, within=within, what=f"query_up 1 for {', '.join(names)}")
        return seen[0]

    async def wait_down(self, query: str, within: float = 10.0) -> Scrape:
        seen: list[Scrape] = []

        async def down() -> bool:
            scrape = await self.scrape()
            seen[:] = [scrape]
            return scrape.up(query) == 0

        await eventually(down, within=within, what=f"query_up 0 for {query}")
        return seen[0]

    def faults(self, spec: str) -> None:
        self.simulator.set_faults(spec)


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


StackFactory = Callable[..., Awaitable[Stack]]
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

    async def wait_event(self, event: str, within: float = 10.0, after: int = 0) -> dict[str, Any]:
        """The first `event` among the log lines from index `after` on."""
        deadline = time.monotonic() + within
        while True:
            for e in self.events[after:]:
                if e.get("event") == event:
                    return e
            if self.proc.returncode is not None and self._readers[0].done():
                raise AssertionError(
                    f"the daemon exited ({self.proc.returncode}) before logging {event}; "
                    f"stderr: {self.stderr.decode(errors='replace')[-2000:]}"
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {event!r} log line within {within:g}s")
            self._new_line.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_line.wait(), min(left, 0.2))

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
