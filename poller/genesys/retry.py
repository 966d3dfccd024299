"""The one retry loop: exponential backoff with jitter, for logins and queries alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from poller.errors import ApiError
from poller.selfmetrics import SelfMetrics
from poller.timing import Sleep

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0
    # Refresh the token this long before it expires, capped at a tenth of its lifetime.
    refresh_margin: float = 300.0
    # After a failed login, wait this long (doubling per failure) before trying again.
    login_backoff: float = 2.0
    login_backoff_max: float = 120.0

    def backoff(self, attempt: int, rng: Callable[[], float]) -> float:
        """Exponential with jitter (half fixed, half random): retries of many pollers spread
        out instead of arriving together."""
        cap = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return cap / 2 + rng() * cap / 2


async def retrying(
    call: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    delay: Callable[[ApiError, int], float],
    sleep: Sleep,
    metrics: SelfMetrics,
    retryable: Callable[[ApiError], bool] = lambda err: err.retryable,
) -> T:
    """`call()` until it succeeds, raises an error that is not `retryable`, or has been retried
    `policy.max_retries` times. Before retry n: count it (api_retries_total, by the error's
    endpoint and status), then sleep `delay(err, n)`."""
    attempt = 0
    while True:
        try:
            return await call()
        except ApiError as err:
            if not retryable(err) or attempt >= policy.max_retries:
                raise
            attempt += 1
            reason = f"status_{err.status}" if err.status else "transport"
            metrics.api_retries.labels(err.endpoint, reason).inc()
            wait = delay(err, attempt)
            if wait > 0:
                await sleep(wait)
