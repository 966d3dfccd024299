"""Fixtures of the reliability suite: a watch over everything a run emits, and stacks of the
simulator and the daemon on free local ports."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from poller.simulator import Simulator, SimulatorSettings
from poller.timing import Clocks
from tests.reliability.reliability_support import (
    BOTH,
    DaemonProcess,
    SimFactory,
    Spawn,
    Watch,
    capped_sleep,
    record_tokens,
    sessions,
    sim_settings,
)
from tests.support.stack import ReleasableSleep, StackFactory, Stacks, start_simulator


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
        w.logs = logs  # type: ignore[assignment]  # structlog types events as MutableMapping
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
    existing = {id(s) for s in sessions()}
    stacks = Stacks(
        queries=BOTH,
        settings=sim_settings,
        clocks=lambda: Clocks(sleep=capped_sleep, rng=lambda: 0.0),
        seen=watch.leaks.saw,
        prepare=lambda simulator: record_tokens(simulator, watch.leaks),
    )
    yield stacks.make
    await stacks.close()
    left_open = [s for s in sessions() if id(s) not in existing and not s.closed]
    assert left_open == [], "an HTTP session is still open after stop()"


@pytest.fixture
async def sim_factory(watch: Watch) -> AsyncIterator[SimFactory]:
    """Starts simulators in the test's event loop (for daemons run as child processes)."""
    made: list[tuple[Simulator, ReleasableSleep]] = []

    async def make(
        settings: SimulatorSettings | None = None, faults: str = ""
    ) -> tuple[Simulator, ReleasableSleep]:
        simulator, sleep = await start_simulator(
            settings or sim_settings(), lambda sim: record_tokens(sim, watch.leaks)
        )
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
        proc = DaemonProcess([sys.executable, *program, *args], env, watch.leaks)
        made.append(proc)
        return proc

    yield start
    for proc in made:
        proc.kill()
