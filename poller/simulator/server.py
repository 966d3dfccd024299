"""`Simulator`: the simulator app on a real socket, for the CLI, integration tests and benches."""

from __future__ import annotations

import asyncio
import random
import time
from types import TracebackType
from typing import Any

import structlog
from aiohttp import web

from poller.simulator.app import (
    Clock,
    OrgState,
    SimulatorState,
    Sleep,
    build_simulator_app,
    state_of,
)
from poller.simulator.org import Org
from poller.simulator.pushsocket import PushHub, Wait
from poller.simulator.settings import FaultSettings, SimulatorSettings, parse_fault_spec
from poller.simulator.stats import SimulatorStats
from poller.simulator.validation import validate_aggregate

log = structlog.get_logger("poller.simulator")


class Simulator:
    """Serves the login and API paths on one address: point both GENESYS_LOGIN_BASE_URL and
    GENESYS_API_BASE_URL at `base_url`.

    With `settings.orgs` > 1 it serves that many orgs, one per `settings.org_clients()`
    credential. Methods that take `client_id` act on that client's org (the first org when
    None, and KeyError for an unknown one); the `faults`, `stats` and `org` properties are the
    first org's.
    """

    def __init__(
        self,
        settings: SimulatorSettings | None = None,
        *,
        clock: Clock = time.time,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
        push_wait: Wait | None = None,
    ) -> None:
        self.settings = settings or SimulatorSettings()
        self.app = build_simulator_app(
            self.settings, clock=clock, rng=rng, sleep=sleep, push_wait=push_wait
        )
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    @property
    def state(self) -> SimulatorState:
        return state_of(self.app)

    def org_state(self, client_id: str | None = None) -> OrgState:
        """One org's data, faults, stats and renames (the first org's for None)."""
        return self.state.org_state(client_id)

    @property
    def client_ids(self) -> list[str]:
        """Every org's client id, the first org first."""
        return list(self.state.orgs)

    def truth(self, body: Any, *, client_id: str | None = None) -> dict[str, Any]:
        """The ground truth for an aggregate query body: the final totals of its interval, every
        late metric included, whatever the clock says (for tests)."""
        return self.org_state(client_id).engine.truth(validate_aggregate(body))

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        self._base_url = f"http://{_client_host(str(bound_host))}:{bound_port}"
        log.info(
            "simulator.started",
            base_url=self._base_url,
            flows=self.settings.flows,
            seed=self.settings.seed,
            orgs=self.settings.orgs,
            faults=self.faults.to_spec() or "none",
        )

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            log.info("simulator.stopped", base_url=self._base_url)

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the simulator is not running; await start() first")
        return self._base_url

    @property
    def faults(self) -> FaultSettings:
        return self.state.faults.settings

    @faults.setter
    def faults(self, faults: FaultSettings | str) -> None:
        self.set_faults(faults)

    def set_faults(self, faults: FaultSettings | str, *, client_id: str | None = None) -> None:
        """Install faults now (a spec string is parsed); a 429 storm starts at this moment."""
        parsed = parse_fault_spec(faults) if isinstance(faults, str) else faults
        self.org_state(client_id).faults.set(parsed)

    def rename(self, ident: str, name: str, *, client_id: str | None = None) -> None:
        """What the Architect listings call a flow, outcome or milestone from now on."""
        self.org_state(client_id).renames[ident] = name

    def clear_faults(self, *, client_id: str | None = None) -> None:
        self.set_faults(FaultSettings(), client_id=client_id)

    @property
    def push(self) -> PushHub:
        """The Notifications API's channels, sockets and publisher (every org's)."""
        return self.state.push

    @property
    def stats(self) -> SimulatorStats:
        return self.state.stats

    @property
    def org(self) -> Org:
        return self.state.org


def _client_host(host: str) -> str:
    """An address a client can dial for the bound one (wildcards mean loopback)."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if ":" in host:
        return "[::1]" if host == "::" else f"[{host}]"
    return host
