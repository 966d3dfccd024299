"""Shared pieces of the reliability suite: secret collection, the watch over a run, and the
daemon child whose output the secret scan reads. The stack, child processes, HTTP and waiting
come from tests.support.

Everything runs on real time with short intervals (every: 1s); waits poll with a deadline.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from poller.simulator import Simulator, SimulatorSettings
from poller.simulator.tokens import TokenStore
from tests.support.http import fetch
from tests.support.process import Child
from tests.support.stack import ReleasableSleep

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


class DaemonProcess(Child):
    """A child of this suite: its whole output joins the secret scan once it has exited."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str], leaks: Leaks) -> None:
        super().__init__(args, env=env, name="daemon", seen=leaks.saw)
        self.leaks = leaks


async def http_get(url: str, leaks: Leaks, method: str = "GET") -> tuple[int, str]:
    """`fetch`, with the body handed to the secret scan."""
    status, body = await fetch(url, method)
    leaks.saw(f"{method} {url}", body)
    return status, body
