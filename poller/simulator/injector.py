"""Decides, per request, which of the configured faults fires (randomness injected)."""

from __future__ import annotations

import random
from collections.abc import Callable

import structlog

from poller.simulator.settings import FaultSettings

log = structlog.get_logger("poller.simulator")


class FaultInjector:
    def __init__(
        self,
        faults: FaultSettings,
        clock: Callable[[], float],
        rng: random.Random,
        client_id: str | None = None,
    ):
        self._clock = clock
        self._client_id = client_id  # whose org, for the log
        self._rng = rng
        self.settings = FaultSettings()
        self.storm_until: float | None = None
        self.login_storm_until: float | None = None
        self.set(faults)

    def set(self, faults: FaultSettings) -> None:
        """Install faults; a 429 storm starts now and lasts `faults.storm429` seconds."""
        self.settings = faults
        now = self._clock()
        self.storm_until = now + faults.storm429 if faults.storm429 > 0 else None
        self.login_storm_until = now + faults.login429 if faults.login429 > 0 else None
        log.info("simulator.faults", faults=faults.to_spec() or "none", client_id=self._client_id)

    def storm_retry_after(self, now: float) -> int | None:
        """The Retry-After to send while a 429 storm lasts, else None."""
        if self.storm_until is not None and now < self.storm_until:
            return self.settings.retry_after
        return None

    def login_retry_after(self, now: float) -> int | None:
        """The Retry-After to send the login host's callers while its 429 storm lasts."""
        if self.login_storm_until is not None and now < self.login_storm_until:
            return self.settings.retry_after
        return None

    def forbids(self, endpoint: str) -> bool:
        return self.settings.forbidden in (endpoint, "all")

    def draw(self) -> str | None:
        """One of the rate faults ("503", "reset", "malformed", ...) or None, by their rates."""
        rates = self.settings.rates()
        if not rates:
            return None
        u = self._rng.random()
        for name, rate in rates:
            if u < rate:
                return name
            u -= rate
        return None
