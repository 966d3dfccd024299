"""Waiting on real time: poll a condition until it holds, failing the test after a deadline.

The deadlines are generous on purpose: CI runs the whole suite on a loaded 2-core machine, and a
wait that passes returns as soon as its condition holds, so a long deadline costs nothing.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

T = TypeVar("T")

# The default deadline for in-process waits (a poll every 1 s, a daemon starting up).
WITHIN = 30.0


class Deadline:
    """`within` real seconds from now, on the monotonic clock."""

    def __init__(self, within: float) -> None:
        self.within = within
        self.at = time.monotonic() + within

    @property
    def left(self) -> float:
        return max(0.0, self.at - time.monotonic())

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def fail(self, what: str, last: object = None) -> None:
        detail = f"; last seen: {str(last)[:500]}" if last is not None else ""
        pytest.fail(f"gave up after {self.within:g}s waiting for {what}{detail}", pytrace=False)


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]],
    *,
    within: float = WITHIN,
    what: str = "condition",
    interval: float = 0.01,
) -> None:
    """Poll `condition` (plain or async) until it holds; fail after `within` real seconds."""

    async def held() -> bool | None:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        return True if result else None

    await wait_value(held, within=within, what=what, interval=interval)


async def wait_value(
    probe: Callable[[], Awaitable[T | None]],
    *,
    within: float = WITHIN,
    what: str = "a value",
    interval: float = 0.05,
) -> T:
    """Await `probe` until it returns something other than None, and return that: the one
    awaited wait, which `wait_until` and the waits on HTTP answers build on."""
    deadline = Deadline(within)
    while True:
        result = await probe()
        if result is not None:
            return result
        if deadline.passed:
            deadline.fail(what)
        await asyncio.sleep(interval)


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
    alive: Callable[[], str | None] | None = None,
) -> T:
    """The blocking form for synchronous tests: call `probe` until it returns something other
    than None. `alive` returns a reason when the thing waited for has died, to stop early."""
    deadline = Deadline(timeout)
    while True:
        result = probe()
        if result is not None:
            return result
        if alive is not None and (why := alive()) is not None:
            pytest.fail(f"gave up waiting for {what}: {why}", pytrace=False)
        if deadline.passed:
            deadline.fail(what)
        time.sleep(interval)
