"""APScheduler 3.x wiring: one interval job per query, never stacked.

`max_instances=1` and `coalesce=True` mean an overrunning job makes the next tick skip instead of
queueing behind it; the job's `on_skip` is told (the daemon counts it in polls_skipped_total).
The first run comes at start-up after a small random offset, so several queries (or several
pollers) do not all fire in one instant.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

MAX_START_OFFSET = 5.0


class Scheduler:
    def __init__(self, *, rng: Callable[[], float] = random.random) -> None:
        self._rng = rng
        # Job -> told about every skipped tick: a poll held up (by a slow API, say) neither
        # fails nor succeeds, so the tick is the only moment to notice its data going stale.
        self._on_skip: dict[str, Callable[[], None]] = {}
        self._scheduler: Any = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_listener(self._on_max_instances, EVENT_JOB_MAX_INSTANCES)

    def start(self) -> None:
        """Must run inside the running event loop (APScheduler >= 3.11)."""
        self._scheduler.start()

    def add(
        self,
        name: str,
        every: float,
        func: Callable[[], Awaitable[Any]],
        on_skip: Callable[[], None] | None = None,
    ) -> None:
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
        if on_skip is None:
            self._on_skip.pop(name, None)
        else:
            self._on_skip[name] = on_skip

    def next_run(self, name: str) -> float | None:
        """Unix time of job `name`'s next run; None if there is no such job."""
        job = self._scheduler.get_job(name)
        when = job.next_run_time if job is not None else None
        return when.timestamp() if when is not None else None

    def remove(self, name: str) -> None:
        self._on_skip.pop(name, None)
        if self._scheduler.get_job(name) is not None:
            self._scheduler.remove_job(name)

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def _on_max_instances(self, event: JobSubmissionEvent) -> None:
        on_skip = self._on_skip.get(event.job_id)
        if on_skip is not None:
            on_skip()
