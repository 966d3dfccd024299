"""Time and chance, injected so tests never wait."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeAlias

Clock: TypeAlias = Callable[[], float]  # seconds: Unix time, or a monotonic count
Sleep: TypeAlias = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Clocks:
    clock: Clock = time.time
    sleep: Sleep = asyncio.sleep
    rng: Callable[[], float] = random.random
