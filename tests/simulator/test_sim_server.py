"""`Simulator` on a real socket, as the CLI, the integration tests and the benchmarks use it."""

from __future__ import annotations

import aiohttp
import pytest
import structlog

from poller.catalog import AGGREGATE_PATH, TOKEN_PATH
from poller.simulator import FaultSettings, Simulator, SimulatorSettings
from tests.simulator.sim_support import NOW, VALID_BODY, basic
from tests.support.clock import FakeClock


async def _login(http: aiohttp.ClientSession, sim: Simulator) -> str:
    headers = {"Authorization": basic(sim.settings.client_id, sim.settings.client_secret)}
    async with http.post(
        sim.base_url + TOKEN_PATH, data={"grant_type": "client_credentials"}, headers=headers
    ) as resp:
        assert resp.status == 200
        token: str = (await resp.json())["access_token"]
        return token


async def test_serves_login_and_api_on_one_base_url() -> None:
    """After start(), base_url serves both the token and the analytics paths."""
    with structlog.testing.capture_logs() as events:
        sim = Simulator(SimulatorSettings(flows=2), clock=FakeClock(NOW))
        await sim.start("127.0.0.1", 0)
    try:
        assert sim.base_url.startswith("http://127.0.0.1:")
        assert not sim.base_url.endswith(":0")
        async with aiohttp.ClientSession() as http:
            token = await _login(http, sim)
            async with http.post(
                sim.base_url + AGGREGATE_PATH,
                json=VALID_BODY,
                headers={"Authorization": f"Bearer {token}"},
            ) as resp:
                assert resp.status == 200
                assert "results" in await resp.json()
        started = [e for e in events if e["event"] == "simulator.started"]
        assert started[0]["base_url"] == sim.base_url
    finally:
        await sim.stop()


async def test_context_manager_and_stop() -> None:
    """`async with` starts and stops; after stop nothing listens and base_url is refused."""
    async with Simulator(SimulatorSettings(flows=1)) as sim:
        url = sim.base_url
        assert sim.org.flows[0].name == "Main IVR"
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.post(url + TOKEN_PATH)
    await sim.stop()  # stopping twice is harmless


async def test_base_url_before_start() -> None:
    """base_url before start() is an error that says what to do."""
    sim = Simulator()
    with pytest.raises(RuntimeError, match="await start"):
        _ = sim.base_url


async def test_set_faults_at_run_time() -> None:
    """set_faults takes a spec or settings, applies at once, and stats see the effect."""
    async with Simulator(SimulatorSettings(flows=1), clock=FakeClock(NOW)) as sim:
        sim.set_faults("token_down")
        assert sim.faults == FaultSettings(token_down=True)
        headers = {"Authorization": basic(sim.settings.client_id, sim.settings.client_secret)}
        async with aiohttp.ClientSession() as http:
            async with http.post(
                sim.base_url + TOKEN_PATH,
                data={"grant_type": "client_credentials"},
                headers=headers,
            ) as resp:
                assert resp.status == 503
            sim.clear_faults()
            await _login(http, sim)
        assert sim.stats.count(TOKEN_PATH, 503) == 1
        assert sim.stats.count(TOKEN_PATH, 200) == 1


async def test_start_twice_is_refused() -> None:
    """A running simulator refuses a second start instead of leaking a listener."""
    async with Simulator(SimulatorSettings(flows=1)) as sim:
        with pytest.raises(RuntimeError, match="already running"):
            await sim.start()
