"""Fixtures of the reliability suite: a watch over everything a run emits, and stacks of the
simulator and the daemon on free local ports."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from reliability_support import (
    BOTH,
    CLIENT_ID,
    CLIENT_SECRET,
    DaemonProcess,
    ReleasableSleep,
    SimFactory,
    Spawn,
    Stack,
    StackFactory,
    Watch,
    capped_sleep,
    config_text,
    sessions,
    sim_settings,
    start_simulator,
)
from structlog.testing import capture_logs

from poller.config import parse_config
from poller.config.model import Credentials, Secret
from poller.daemon import Clocks, Daemon, bound_addresses, serve
from poller.simulator import Simulator, SimulatorSettings


def from_simulator(record: logging.LogRecord) -> bool:
    """aiohttp's error for a simulator handler whose client gave up (a timeout test) is the
    simulator's business, not the daemon's."""
    tb = record.exc_info[2] if record.exc_info else None
    while tb is not None:
        if "/poller/simulator/" in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


@pytest.fixture
async def watch(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Watch]:
    """Records loop exceptions and all logs; afterwards asserts there were no unhandled
    exceptions, no errors from asyncio, aiohttp or APScheduler, and no secret anywhere."""
    w = Watch()
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: w.loop_errors.append(context))
    caplog.set_level(logging.DEBUG)
    with capture_logs() as logs:
        w.logs = logs
        yield w
        # Unclosed sessions and never-retrieved task exceptions only speak up when collected.
        gc.collect()
        await asyncio.sleep(0)
    loop.set_exception_handler(previous)
    assert not w.loop_errors, f"unhandled exceptions in the event loop: {w.loop_errors}"
    errors = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR
        and r.name.split(".")[0] in ("asyncio", "aiohttp", "apscheduler")
        and not from_simulator(r)
    ]
    assert not errors, f"errors logged by the libraries: {errors}"
    w.leaks.saw("structlog events", "\n".join(repr(e) for e in w.logs))
    w.leaks.saw("stdlib logging", caplog.text)
    leaked = w.leaks.found()
    assert not leaked, f"a secret or token appeared in: {leaked}"


@pytest.fixture
async def stack_factory(watch: Watch) -> AsyncIterator[StackFactory]:
    """Builds simulator + daemon stacks (schedule running unless told not to) and tears every
    one down afterwards, checking that no HTTP session was left open."""
    made: list[Stack] = []
    existing = {id(s) for s in sessions()}

    async def make(
        queries: str = BOTH,
        *,
        settings: SimulatorSettings | None = None,
        faults: str = "",
        schedule: bool = True,
        clocks: Clocks | None = None,
        **config: Any,
    ) -> Stack:
        settings = settings or sim_settings()
        simulator, sim_sleep = await start_simulator(settings, watch.leaks)
        if faults:
            simulator.set_faults(faults)
        env = {
            "GENESYS_API_BASE_URL": simulator.base_url,
            "GENESYS_LOGIN_BASE_URL": simulator.base_url,
        }
        text = config_text(queries, **config)
        credentials = Credentials(CLIENT_ID, Secret(CLIENT_SECRET))
        stack: Stack
        daemon = Daemon(
            parse_config(text, source="reliability.yaml", env=env),
            credentials,
            loader=lambda: stack.load(),
            clocks=clocks or Clocks(sleep=capped_sleep, rng=lambda: 0.0),
        )
        runner = await serve(daemon, "127.0.0.1", 0, schedule=schedule)
        url = "http://" + bound_addresses(runner)[0]
        stack = Stack(
            simulator, sim_sleep, daemon, runner, url, aiohttp.ClientSession(), watch.leaks, env,
            text,
        )  # fmt: skip
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.sim_sleep.release()
        await stack.http.close()
        await stack.daemon.stop()
        await stack.runner.cleanup()
        await stack.simulator.stop()
    left_open = [s for s in sessions() if id(s) not in existing and not s.closed]
    assert left_open == [], "an HTTP session is still open after stop()"


@pytest.fixture
async def sim_factory(watch: Watch) -> AsyncIterator[SimFactory]:
    """Starts simulators in the test's event loop (for daemons run as child processes)."""
    made: list[tuple[Simulator, ReleasableSleep]] = []

    async def make(
        settings: SimulatorSettings | None = None, faults: str = ""
    ) -> tuple[Simulator, ReleasableSleep]:
        simulator, sleep = await start_simulator(settings or sim_settings(), watch.leaks)
        if faults:
            simulator.set_faults(faults)
        made.append((simulator, sleep))
        return simulator, sleep

    yield make
    for simulator, sleep in made:
        sleep.release()
        await simulator.stop()


@pytest.fixture
async def spawn(watch: Watch) -> AsyncIterator[Spawn]:
    """Starts `python -m poller ARGS` children (or another program); kills any still running
    afterwards, and hands their output to the secret scan."""
    made: list[DaemonProcess] = []

    async def start(
        args: list[str], env: dict[str, str], program: tuple[str, ...] = ("-m", "poller")
    ) -> DaemonProcess:
        proc = await DaemonProcess.start(args, env, watch.leaks, program=program)
        made.append(proc)
        return proc

    yield start
    for proc in made:
        await proc.kill()
