"""A running simulator and daemon, wired as a user would wire them, on free local ports."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from poller.config import parse_config
from poller.config.model import Credentials, Secret
from poller.daemon import Clocks, Daemon, bound_addresses, serve
from poller.simulator import Simulator, SimulatorSettings

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Stack:
    simulator: Simulator
    daemon: Daemon
    runner: web.AppRunner
    url: str
    http: aiohttp.ClientSession

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.url + path) as resp:
            return resp.status, await resp.text()

    async def wait_ready(self, within: float = 20.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            status, _ = await self.get("/readyz")
            if status == 200:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"not ready after {within}s: {(await self.get('/readyz'))[1]}")


def config_text(sim_url: str, queries: str, rpm: int = 300) -> str:
    return f"""
genesys:
  region: mypurecloud.ie
  requests_per_minute: {rpm}
  timeout: 5s
server:
  listen: "127.0.0.1:0"
queries:
{queries}
"""


@pytest.fixture
async def stack_factory() -> AsyncIterator[Callable[..., object]]:
    """Builds stacks from a queries YAML snippet; tears every one down afterwards."""
    made: list[Stack] = []

    async def make(
        queries: str,
        *,
        settings: SimulatorSettings | None = None,
        rpm: int = 300,
        schedule: bool = True,
    ) -> Stack:
        simulator = Simulator(settings or SimulatorSettings(seed=7))
        await simulator.start("127.0.0.1", 0)
        env = {
            "GENESYS_API_BASE_URL": simulator.base_url,
            "GENESYS_LOGIN_BASE_URL": simulator.base_url,
        }
        config = parse_config(config_text(simulator.base_url, queries, rpm), source="test", env=env)
        sim = settings or SimulatorSettings(seed=7)
        credentials = Credentials(sim.client_id, Secret(sim.client_secret))
        daemon = Daemon(config, credentials, clocks=Clocks(rng=lambda: 0.0))
        runner = await serve(daemon, "127.0.0.1", 0, schedule=schedule)
        url = "http://" + bound_addresses(runner)[0]
        stack = Stack(simulator, daemon, runner, url, aiohttp.ClientSession())
        made.append(stack)
        return stack

    yield make
    for stack in made:
        await stack.http.close()
        await stack.daemon.stop()
        await stack.runner.cleanup()
        await stack.simulator.stop()
