"""The per-client request budget of the analytics endpoints: a sliding 60-second window."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

WINDOW_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Budget:
    admitted: bool
    count: int  # requests in the window, this one included when admitted
    allowed: int
    reset: int  # whole seconds until the oldest request leaves the window


class RateLimiter:
    """Admits at most `per_minute` requests per client in any 60 s; refused ones do not count."""

    def __init__(self, per_minute: int, window: float = WINDOW_SECONDS) -> None:
        self.per_minute = per_minute
        self.window = window
        self._seen: dict[str, deque[float]] = {}

    def _trim(self, client: str, now: float) -> deque[float]:
        seen = self._seen.setdefault(client, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        return seen

    def _reset(self, seen: deque[float], now: float) -> int:
        if not seen:
            return math.ceil(self.window)
        return max(1, math.ceil(seen[0] + self.window - now))

    def admit(self, client: str, now: float) -> Budget:
        seen = self._trim(client, now)
        if len(seen) >= self.per_minute:
            return Budget(False, len(seen), self.per_minute, self._reset(seen, now))
        seen.append(now)
        return Budget(True, len(seen), self.per_minute, self._reset(seen, now))

    def peek(self, client: str | None, now: float) -> Budget:
        if client is None:
            return Budget(True, 0, self.per_minute, math.ceil(self.window))
        seen = self._trim(client, now)
        return Budget(True, len(seen), self.per_minute, self._reset(seen, now))
