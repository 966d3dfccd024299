"""The simulator, the daemon and its HTTP server, wired as a user wires them, on free ports."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from poller import scope
from poller.catalog import AGGREGATE_PATH, OBSERVATION_PATH
from poller.config import parse_config
from poller.config.model import Config, Credentials, Secret
from poller.daemon import Daemon
from poller.digest import Digester
from poller.selfmetrics import SelfMetrics
from poller.serving import bound_addresses, serve
from poller.simulator import Simulator, SimulatorSettings
from poller.simulator.pushsocket import Wait
from poller.simulator.validation import validate_aggregate, validate_observation
from poller.timing import Clocks
from tests.support.clock import FakeClock
from tests.support.config import Value, poller_yaml
from tests.support.exposition import Exposition
from tests.support.wait import WITHIN, wait_until

Seen = Callable[[str, str | bytes], None]


def _ignore(where: str, text: str | bytes) -> None:
    """The default `seen`: nobody is scanning the texts."""


def config_text(
    queries: str,
    *,
    timeout: str = "5s",
    max_response_bytes: int | None = None,
    rpm: int = 300,
    listen: str = "127.0.0.1:0",
    names: Mapping[str, Value] | None = None,
    push: Mapping[str, Value] | None = None,
) -> str:
    """A poller.yaml around a YAML list of queries (the API URLs come from the environment);
    `push`: the genesys.push keys."""
    return poller_yaml(
        queries,
        requests_per_minute=rpm,
        timeout=timeout,
        max_response_bytes=max_response_bytes or None,
        server={"listen": listen},
        names=names,
        push=push,
    )


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


async def start_simulator(
    settings: SimulatorSettings,
    prepare: Callable[[Simulator], None] | None = None,
    clock: FakeClock | None = None,
    push_wait: Wait | None = None,
) -> tuple[Simulator, ReleasableSleep]:
    """A simulator on a free loopback port (on `clock` if given, else real time); `prepare` sees
    it before it serves; `push_wait` paces its push publisher (a test that ticks it itself
    gives one that never returns)."""
    sleep = ReleasableSleep()
    if clock is None:
        simulator = Simulator(settings, sleep=sleep, push_wait=push_wait)
    else:
        simulator = Simulator(settings, clock=clock, sleep=sleep, push_wait=push_wait)
    if prepare is not None:
        prepare(simulator)
    await simulator.start("127.0.0.1", 0)
    return simulator, sleep


def record_bodies(simulator: Simulator) -> dict[str, list[Any]]:
    """{path: [JSON body, ...]} of every analytics request the simulator receives, recorded by a
    middleware the tests add (the simulator itself keeps no bodies)."""
    bodies: dict[str, list[Any]] = {AGGREGATE_PATH: [], OBSERVATION_PATH: []}

    @web.middleware
    async def recorder(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in bodies:
            with contextlib.suppress(ValueError):
                bodies[request.path].append(json.loads(await request.read()))
        return await handler(request)

    simulator.app.middlewares.append(recorder)
    return bodies


@dataclass
class Stack:
    simulator: Simulator
    sim_sleep: ReleasableSleep
    daemon: Daemon
    runner: web.AppRunner
    url: str
    http: aiohttp.ClientSession
    env: dict[str, str]
    text: str  # the config the loader reads (change it, then reload)
    seen: Seen = field(default=_ignore)  # every body the tests received, for secret scans
    bodies: dict[str, list[Any]] = field(default_factory=dict)  # what the daemon asked, by path

    def truth(self, path: str, body: Any) -> dict[str, Any]:
        """The simulator's own answer to `body` at its clock's now, computed by its engine
        directly (no HTTP, no faults): the ground truth the daemon's series come from."""
        state = self.simulator.state
        now_ms = int(state.clock() * 1000)
        if path == AGGREGATE_PATH:
            return state.engine.aggregate(validate_aggregate(body), now_ms)
        return state.engine.observe(validate_observation(body), now_ms)

    def load(self) -> Config:
        return parse_config(self.text, source="stack.yaml", env=self.env)

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.url + path) as resp:
            body = await resp.text()
        self.seen(f"GET {path}", body)
        return resp.status, body

    async def post(self, path: str) -> tuple[int, str]:
        async with self.http.post(self.url + path) as resp:
            body = await resp.text()
        self.seen(f"POST {path}", body)
        return resp.status, body

    async def scrape(self) -> Exposition:
        status, body = await self.get("/metrics")
        assert status == 200
        return Exposition(body)

    async def ready(self) -> tuple[int, dict[str, Any]]:
        status, body = await self.get("/readyz")
        answer: dict[str, Any] = json.loads(body)
        return status, answer

    async def wait_ready(self, within: float = WITHIN) -> None:
        async def ready() -> bool:
            return (await self.get("/readyz"))[0] == 200

        await wait_until(ready, within=within, what="/readyz to answer 200", interval=0.05)

    async def wait_up(self, *queries: str, within: float = WITHIN) -> Exposition:
        """Wait until every named query (default: all) has query_up 1; returns that scrape."""
        names = queries or tuple(self.daemon.pollers)
        return await self._wait_scrape(
            lambda s: all(s.up(q) == 1 for q in names),
            within,
            f"query_up 1 for {', '.join(names)}",
        )

    async def wait_down(self, query: str, within: float = WITHIN) -> Exposition:
        return await self._wait_scrape(
            lambda s: s.up(query) == 0, within, f"query_up 0 for {query}"
        )

    async def _wait_scrape(
        self, holds: Callable[[Exposition], bool], within: float, what: str
    ) -> Exposition:
        seen: list[Exposition] = []

        async def check() -> bool:
            scrape = await self.scrape()
            seen[:] = [scrape]
            return holds(scrape)

        await wait_until(check, within=within, what=what, interval=0.05)
        return seen[0]

    def faults(self, spec: str) -> None:
        self.simulator.set_faults(spec)

    async def close(self) -> None:
        self.sim_sleep.release()
        await self.http.close()
        await self.daemon.stop()
        await self.runner.cleanup()
        await self.simulator.stop()


class StackFactory(Protocol):
    def __call__(
        self,
        queries: str = ...,
        *,
        settings: SimulatorSettings | None = None,
        faults: str = "",
        schedule: bool = True,
        clocks: Clocks | None = None,
        clock: FakeClock | None = None,
        lifecycle: bool = False,
        digester: Digester | None = None,
        push_wait: Wait | None = None,
        **config: Any,
    ) -> Awaitable[Stack]: ...


class Stacks:
    """Builds stacks and tears every one of them down in `close()`.

    `settings` and `clocks` are the defaults for every stack; `seen` gets every body the tests
    receive, `prepare` every simulator before it serves (both for secret scans)."""

    def __init__(
        self,
        *,
        queries: str,
        settings: Callable[[], SimulatorSettings],
        clocks: Callable[[], Clocks],
        seen: Seen = _ignore,
        prepare: Callable[[Simulator], None] | None = None,
    ) -> None:
        self.queries = queries
        self.settings = settings
        self.clocks = clocks
        self.seen = seen
        self.prepare = prepare
        self.made: list[Stack] = []

    async def make(
        self,
        queries: str | None = None,
        *,
        settings: SimulatorSettings | None = None,
        faults: str = "",
        schedule: bool = True,
        clocks: Clocks | None = None,
        clock: FakeClock | None = None,
        lifecycle: bool = False,
        digester: Digester | None = None,
        push_wait: Wait | None = None,
        **config: Any,
    ) -> Stack:
        """A stack serving `queries` (a YAML list); `config` are `config_text` options.

        With `clock`, the simulator and the daemon both run on that fake clock; with
        `lifecycle`, POST /-/reload reloads (as `--web.enable-lifecycle` does)."""
        settings = settings or self.settings()
        bodies: dict[str, list[Any]] = {}

        def prepare(simulator: Simulator) -> None:
            bodies.update(record_bodies(simulator))
            if self.prepare is not None:
                self.prepare(simulator)

        simulator, sim_sleep = await start_simulator(settings, prepare, clock, push_wait)
        if faults:
            simulator.set_faults(faults)
        env = {
            "GENESYS_API_BASE_URL": simulator.base_url,
            "GENESYS_LOGIN_BASE_URL": simulator.base_url,
        }
        text = config_text(self.queries if queries is None else queries, **config)
        credentials = Credentials(settings.client_id, Secret(settings.client_secret))
        stack: Stack
        parsed = parse_config(text, source="stack.yaml", env=env)
        daemon = Daemon(
            parsed,
            credentials,
            loader=lambda: stack.load(),
            clocks=clocks
            or (self.clocks() if clock is None else Clocks(clock, clock.sleep, lambda: 0.0)),
            # Tests read a change's effect on the self-metrics at once.
            metrics=SelfMetrics(render_max_age=0, org_label=scope.labelled(parsed)),
            digester=digester,
        )
        runner = await serve(daemon, "127.0.0.1", 0, schedule=schedule, enable_lifecycle=lifecycle)
        url = "http://" + bound_addresses(runner)[0]
        http = aiohttp.ClientSession()
        stack = Stack(simulator, sim_sleep, daemon, runner, url, http, env, text, self.seen, bodies)
        self.made.append(stack)
        return stack

    async def close(self) -> None:
        for stack in self.made:
            await stack.close()
