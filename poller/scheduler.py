"""APScheduler 3.x wiring: one interval job per query, never stacked.

`max_instances=1` and `coalesce=True` mean an overrunning poll makes the next tick skip (counted
in polls_skipped_total) instead of queueing behind it. The first run comes at start-up after a
small random offset, so several queries (or several pollers) do not all fire in one instant.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from poller.selfmetrics import SelfMetrics

log = structlog.get_logger("poller.scheduler")
MAX_START_OFFSET = 5.0


class Scheduler:
    def __init__(
        self,
        metrics: SelfMetrics,
        *,
        rng: Callable[[], float] = random.random,
        on_skip: Callable[[str], None] | None = None,
    ) -> None:
        self._metrics = metrics
        self._rng = rng
        # Told about every skipped tick: a poll held up (by a long Retry-After, say) neither
        # fails nor succeeds, so the tick is the only moment to notice its data going stale.
        self._on_skip = on_skip
        self._scheduler: Any = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_listener(self._on_max_instances, EVENT_JOB_MAX_INSTANCES)

    def start(self) -> None:
        """Must run inside the running event loop (APScheduler >= 3.11)."""
        self._scheduler.start()

    def add(self, name: str, every: float, func: Callable[[], Awaitable[Any]]) -> None:
        offset = self._rng() * min(every, MAX_START_OFFSET)
        first = datetime.now(UTC) + timedelta(seconds=offset)
        self._scheduler.add_job(
            func,
            IntervalTrigger(seconds=every, timezone=UTC),
            id=name,
            name=name,
            next_run_time=first,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(every)),
            replace_existing=True,
        )

    def remove(self, name: str) -> None:
        if self._scheduler.get_job(name) is not None:
            self._scheduler.remove_job(name)

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def _on_max_instances(self, event: JobSubmissionEvent) -> None:
        if event.job_id.startswith("_"):
            return  # not a query (the names refresh): nothing to count or check
        self._metrics.polls_skipped.labels(event.job_id, "overrun").inc()
        log.warning("poll_skipped_overrun", query=event.job_id)
        if self._on_skip is not None:
            self._on_skip(event.job_id)
