"""Virtual time: a clock and an async sleep that moves it, so tests never wait for real."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

START = 1_779_000_000.0  # 2026-05-17T06:40:00Z


class FakeClock:
    """Virtual time for code that takes a `clock` (call it, or `time()`) and a `sleep`.

    Auto mode (the default): `sleep(s)` moves `now` forward to the sleeper's wake-up time (if that
    is later) and returns after one trip through the event loop. Concurrent sleeps overlap rather
    than add up, and nobody ever wakes before the time they asked for.

    Held mode (`auto=False`): `sleep(s)` blocks until the test calls `advance()` past the wake-up
    time, so a test can look at the world while somebody is asleep.

    Every requested delay is recorded in `sleeps`.
    """

    def __init__(self, now: float | datetime = START, *, auto: bool = True) -> None:
        self.now = now.timestamp() if isinstance(now, datetime) else float(now)
        self.auto = auto
        self.sleeps: list[float] = []
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def time(self) -> float:
        return self.now

    def __call__(self) -> float:
        return self.now

    @property
    def sleeping(self) -> int:
        """How many callers are blocked in `sleep` (held mode only)."""
        return len(self._sleepers)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        wake_at = self.now + max(seconds, 0.0)
        if self.auto:
            self.now = max(self.now, wake_at)
            await asyncio.sleep(0)
            return
        waiter = asyncio.get_running_loop().create_future()
        entry = (wake_at, waiter)
        self._sleepers.append(entry)
        try:
            await waiter
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose time has come."""
        self.now += seconds
        for wake_at, waiter in list(self._sleepers):
            if wake_at <= self.now and not waiter.done():
                waiter.set_result(None)


# 14:00 UTC on a Thursday: the simulator's daily peak, so every flow has data in the hour before.
PEAK = datetime(2026, 5, 14, 14, 0, tzinfo=UTC)
