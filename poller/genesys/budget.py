"""The request budget every query shares: at most N API requests in any 60 s, and a shared pause.

A sliding log rather than a token bucket: a bucket with burst capacity B lets B + N requests
through in some minute, and the budget is a promise about every minute. A 429's Retry-After
pauses all callers, not just the one that got it, because the limit is per OAuth client.
"""

from __future__ import annotations

import asyncio
from collections import deque

from poller.timing import Clocks

WINDOW_SECONDS = 60.0
# Requests arrive later than they leave, by varying amounts: a request sent exactly 60 s after
# the oldest one can land within the server's 60 s of it. A second of slack keeps every window
# the server sees within the budget.
SLACK_SECONDS = 1.0
SPAN = WINDOW_SECONDS + SLACK_SECONDS


class RequestBudget:
    def __init__(self, requests_per_minute: int, *, clocks: Clocks) -> None:
        if requests_per_minute < 1:
            raise ValueError("requests_per_minute must be at least 1")
        self.requests_per_minute = requests_per_minute
        self._clock, self._sleep = clocks.clock, clocks.sleep
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        # One waiter at a time decides who goes next, so callers leave in arrival order.
        self._lock = asyncio.Lock()

    @property
    def paused_until(self) -> float:
        return self._paused_until

    def pause(self, seconds: float) -> None:
        """Hold every caller for `seconds` from now (a 429's Retry-After)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def inherit(self, other: RequestBudget) -> None:
        """Carry over another budget's recent requests and pause (a reload changed the rate)."""
        self._sent = deque(other._sent)
        self._paused_until = max(self._paused_until, other._paused_until)

    def delay(self) -> float:
        """Seconds until the next request may go (0 if now)."""
        return self._wait(self.requests_per_minute)

    def _wait(self, limit: int) -> float:
        """Seconds until the window holds fewer than `limit` requests and no pause runs."""
        now = self._clock()
        while self._sent and self._sent[0] <= now - SPAN:
            self._sent.popleft()
        wait = self._paused_until - now
        if len(self._sent) >= limit:
            wait = max(wait, self._sent[len(self._sent) - limit] + SPAN - now)
        return max(wait, 0.0)

    def sent_last_minute(self) -> int:
        """Requests sent in the last 60 seconds, for the status page."""
        horizon = self._clock() - WINDOW_SECONDS
        return sum(1 for at in self._sent if at > horizon)

    def paused(self) -> float:
        """Seconds left of a 429's pause (0 if none)."""
        return max(self._paused_until - self._clock(), 0.0)

    async def acquire(self, max_pause: float = float("inf")) -> None:
        """Wait for a place in the budget, then take it. Raises PausedError instead of waiting out a
        429's pause longer than `max_pause` (checked again after every wait: a pause may start
        while the caller waits)."""
        async with self._lock:
            while (wait := self.delay()) > 0:
                if self.paused() > max_pause:
                    raise PausedError(self._paused_until)
                await self._sleep(wait)
            self._sent.append(self._clock())

    def spare_delay(self, reserve: int) -> float:
        """Seconds until a place is free that leaves `reserve` places to other callers (inf if
        the budget has no such place at all)."""
        limit = self.requests_per_minute - reserve
        return float("inf") if limit < 1 else self._wait(limit)

    async def acquire_spare(self, reserve: int, max_pause: float = 0.0) -> None:
        """Take a place only if it delays no other caller: nobody is waiting for one, and
        `reserve` places stay free in the window for the queries. For work that can wait (the
        name listings); raises NoSpareError when the reserve leaves nothing, PausedError during
        a pause longer than `max_pause`."""
        while True:
            if self.paused() > max_pause:
                raise PausedError(self._paused_until)
            wait = self.spare_delay(reserve)
            if wait == float("inf"):
                raise NoSpareError(self.requests_per_minute, reserve)
            if wait <= 0 and not self._lock.locked():
                self._sent.append(self._clock())
                return
            # Someone is waiting (they go first), or the spare places are used up: look again.
            await self._sleep(max(wait, SPARE_RECHECK_SECONDS))


SPARE_RECHECK_SECONDS = 1.0


class NoSpareError(Exception):
    """The queries' reserve takes the whole budget: nothing is left for work that can wait."""

    def __init__(self, requests_per_minute: int, reserve: int) -> None:
        super().__init__(
            f"the queries may need {reserve} of the {requests_per_minute} requests a minute "
            "allows, which leaves none for the name listings; raise genesys.requests_per_minute "
            "or make some queries run less often"
        )


class PausedError(Exception):
    """The API asked for a pause longer than the caller would wait (`until`: Unix time)."""

    def __init__(self, until: float) -> None:
        super().__init__(until)
        self.until = until
