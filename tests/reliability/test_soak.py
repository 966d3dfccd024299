"""Soak: one daemon, several queries every 1-2 s, minutes of a random mix of every fault.

The daemon runs as a child process (soak_driver.py: the CLI's wiring plus a report after the
stop), because that is what makes the questions meaningful: the process is alive means the
daemon's own process survived; its RSS is the daemon's alone, not the test runner's and the
simulator's; and leftover tasks and sessions are counted in the process that made them, after
the same stop a SIGTERM causes. The simulator runs in this test's event loop, and the faults
are switched through its HTTP fault API, as an operator would with `simulate`.

SOAK_SECONDS sets how long faults are injected (default 90: with start-up and recovery the CI
run stays near 2 minutes, under 3); SOAK_SEED replays a run's random mix.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from pathlib import Path

import aiohttp
import pytest

from tests.reliability.reliability_support import (
    DaemonProcess,
    SimFactory,
    Spawn,
    Watch,
    daemon_env,
    http_get,
    sim_settings,
)
from tests.support.config import aggregate, observation
from tests.support.exposition import Exposition
from tests.support.process import listening
from tests.support.stack import config_text
from tests.support.wait import wait_until

SECONDS = float(os.environ.get("SOAK_SECONDS", "90"))
SEED = int(os.environ.get("SOAK_SEED", str(int(time.time()))))
RECOVERY = 25.0  # at most: the last faults' retries and login backoff have to run out
QUERIES = (
    aggregate(
        "flows",
        every="1s",
        group_by=["flowId", "flowName"],
        metrics=["nFlow", "tFlow"],
        stale_after="4s",
    )
    + aggregate(
        "outcomes",
        every="2s",
        group_by=["flowId", "flowOutcomeId"],
        metrics=["nFlowOutcome", "nFlowOutcomeFailed"],
    )
    + aggregate(
        "milestones",
        every="2s",
        window="30m",
        group_by=["flowId", "flowMilestoneId"],
        metrics=["nFlowMilestone"],
    )
    + observation("active", every="1s", stale_after="5s")
)
NAMES = ("flows", "outcomes", "milestones", "active")
# Every fault once, during warm-up, so whatever a fault allocates for good is in the baseline.
# A Retry-After over 180 s is left out: it pauses every query until it has passed, as it must
# (tests/reliability/test_throttling.py checks that on a fake clock), so nothing would recover.
TOUR = [
    "500=1", "502=0.5,503=0.5", "504=1", "reset=1", "malformed=1", "truncated=1",
    "wrongshape=1", "huge=1,huge_size=512kb", "latency=1500ms", "storm429=2s,retry_after=1",
    "storm429=1s,retry_after=3", "forbidden=observations", "token_down",
]  # fmt: skip
MIX = [
    "503=0.3", "500=0.2,502=0.2", "reset=0.3", "malformed=0.2,truncated=0.2",
    "wrongshape=0.3,huge=0.2,huge_size=512kb", "latency=1500ms",
    "storm429=2s,retry_after=2", "forbidden=aggregates", "token_down",
    "503=0.1,reset=0.1,malformed=0.1,latency=200ms", "",
]  # fmt: skip


class Soak:
    def __init__(self, url: str, proc: DaemonProcess, sim_url: str, watch: Watch) -> None:
        self.url = url
        self.proc = proc
        self.sim_url = sim_url
        self.watch = watch
        self.rss: list[tuple[float, float]] = []  # (seconds into the soak, bytes)
        self.begun = time.monotonic()

    async def faults(self, spec: str) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.put(
                self.sim_url + "/simulator/faults",
                data=spec,
                headers={"Content-Type": "text/plain"},
            ) as resp,
        ):
            assert resp.status == 200, await resp.text()

    async def scrape(self) -> Exposition:
        status, body = await http_get(self.url + "/metrics", self.watch.leaks)
        assert status == 200
        return Exposition(body)

    async def run_for(self, seconds: float) -> None:
        """Let the daemon work for `seconds`, checking every half second that it is alive and
        serving, and recording its RSS."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.proc.proc.returncode is None, "the daemon died"
            scrape = await self.scrape()
            rss = scrape.get("process_resident_memory_bytes")
            assert rss is not None
            self.rss.append((time.monotonic() - self.begun, rss))
            # The soak exists to let real time pass: this paces the checks, it waits for nothing.
            await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


@pytest.mark.soak
async def test_soak_under_random_faults(
    tmp_path: Path, sim_factory: SimFactory, spawn: Spawn, watch: Watch
) -> None:
    """After SOAK_SECONDS of faults (5 s tokens, 4 queries every 1-2 s) the daemon is
    alive, its RSS grew at most 10 % after warm-up, every query recovered once the faults
    stopped, it exits 0 on SIGTERM, and no task or HTTP session outlived its stop."""
    rng = random.Random(SEED)
    simulator, _ = await sim_factory(settings=sim_settings(token_ttl=5.0, flows=40))
    config = tmp_path / "soak.yaml"
    config.write_text(config_text(QUERIES, timeout="1s", max_response_bytes=262144))
    driver = str(Path(__file__).with_name("soak_driver.py"))
    proc = await spawn(["--config", str(config)], daemon_env(simulator.base_url), (driver,))
    url = await listening(proc)
    soak = Soak(url, proc, simulator.base_url, watch)
    end = soak.begun + SECONDS
    context = f"(SOAK_SEED={SEED})"

    async def all_up() -> bool:
        scrape = await soak.scrape()
        ready = (await http_get(url + "/readyz", watch.leaks))[0] == 200
        return ready and all(scrape.up(q) == 1 and scrape.flow_series(q) for q in NAMES)

    await wait_until(all_up, within=15, what="the first successful polls")
    tour = max(1.0, min(2.0, SECONDS / 2 / len(TOUR)))
    for spec in TOUR:
        await soak.faults(spec)
        await soak.run_for(tour)
    await soak.faults("")
    await wait_until(all_up, within=RECOVERY, what=f"recovery after the warm-up tour {context}")
    await soak.run_for(2)
    baseline = statistics.median(rss for _, rss in soak.rss[-4:])

    while time.monotonic() < end:
        spec = rng.choice(MIX)
        await soak.faults(spec)
        await soak.run_for(rng.uniform(1.0, 4.0))
        if spec == "token_down":
            # Back-to-back outages would grow the login backoff towards its 2 min cap.
            await soak.faults("")
            await soak.run_for(4)

    await soak.faults("")
    await wait_until(all_up, within=RECOVERY, what=f"every query to recover {context}")
    await soak.run_for(2)
    final = statistics.median(rss for _, rss in soak.rss[-4:])
    assert final <= baseline * 1.10, (
        f"RSS grew from {baseline / 2**20:.1f} MiB after warm-up to {final / 2**20:.1f} MiB "
        f"{context}"
    )
    scrape = await soak.scrape()
    assert scrape.total("genesyscloud_poller_poll_failures_total") > 0, "faults did happen"
    assert scrape.total("genesyscloud_poller_api_throttled_total") > 0

    took = await proc.stopped()
    assert proc.proc.returncode == 0
    assert took < 5
    [report] = proc.named("soak_report")
    assert report["leftover_tasks"] == [], context
    assert report["open_sessions"] == 0, context
    assert proc.named("poll_crashed") == [], context
    assert "Traceback" not in proc.errors, proc.errors[-3000:]
    dropped = proc.named("query_series_dropped_stale")
    recovered = proc.named("poll_recovered")
    assert dropped, "stale_after dropped series during long faults"
    assert {e["query"] for e in recovered} == set(NAMES)
