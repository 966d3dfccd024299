"""The wrapper over APScheduler: first runs offset by the injected rng, interval jobs that never
stack (an overrun tick is skipped and reported), replacing and removing jobs, next_run, and a
shutdown that cancels a job in flight.

Jobs run on the real scheduler at short intervals; every test waits for events the jobs set,
with DEADLINE only as the bound after which it fails."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from poller.scheduler import MAX_START_OFFSET, Scheduler

DEADLINE = 10.0  # seconds: a bound on failure, never a wait the tests rely on
TICK = 0.05  # seconds between runs of the jobs that really run


class Runs:
    """A job that counts its runs and its peak concurrency, and tells waiters of each run;
    while `hold` is clear, each run waits for it (an overrunning poll). The scheduler is given
    `run`: APScheduler awaits only coroutine functions, not objects with an async __call__."""

    def __init__(self, *, hold: bool = False) -> None:
        self.count = 0
        self.running = 0
        self.peak = 0
        self.cancelled = asyncio.Event()
        self.hold = asyncio.Event()
        if not hold:
            self.hold.set()
        self._ran = asyncio.Condition()

    async def run(self) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            async with self._ran:
                self.count += 1
                self._ran.notify_all()
            await self.hold.wait()
        except asyncio.CancelledError:
            # As the daemon's jobs do: a cancelled run is an ordinary end, not a job error.
            self.cancelled.set()
        finally:
            self.running -= 1

    async def reach(self, count: int) -> None:
        """Return once the job has started `count` runs (fail after DEADLINE)."""
        async with asyncio.timeout(DEADLINE), self._ran:
            await self._ran.wait_for(lambda: self.count >= count)


class Flag:
    """An on_skip callback: counts its calls and sets an event."""

    def __init__(self) -> None:
        self.calls = 0
        self.event = asyncio.Event()

    def __call__(self) -> None:
        self.calls += 1
        self.event.set()

    async def wait(self) -> None:
        async with asyncio.timeout(DEADLINE):
            await self.event.wait()


def sequence(*values: float) -> Callable[[], float]:
    """An rng that returns `values` in turn."""
    it: Iterator[float] = iter(values)
    return lambda: next(it)


@pytest.fixture
async def scheduler() -> AsyncIterator[Scheduler]:
    """A started scheduler whose first runs come at once (rng 0); shut down afterwards."""
    sched = Scheduler(rng=lambda: 0.0)
    sched.start()
    yield sched
    sched.shutdown()


async def test_first_run_is_offset_by_the_rng_times_every_capped_at_max_start_offset() -> None:
    """The first run comes rng() * min(every, MAX_START_OFFSET) seconds after add, one rng
    draw per job."""
    sched, job = Scheduler(rng=sequence(0.5, 0.8, 0.1)), Runs()
    sched.start()
    try:
        before = time.time()
        sched.add("hourly", 3600, job.run)
        sched.add("often", 2, job.run)
        sched.add("minutely", 60, job.run)
        after = time.time()
        offsets = {
            "hourly": 0.5 * MAX_START_OFFSET,
            "often": 0.8 * 2,
            "minutely": 0.1 * MAX_START_OFFSET,
        }
        for name, offset in offsets.items():
            first = sched.next_run(name)
            assert first is not None
            assert before - 1e-3 <= first - offset <= after + 1e-3, name
    finally:
        sched.shutdown()


async def test_a_job_runs_at_once_with_rng_zero_and_then_every_interval(
    scheduler: Scheduler,
) -> None:
    """With rng 0 a job runs at once, then again each interval, one run at a time."""
    job = Runs()
    begun = time.monotonic()
    scheduler.add("flows", TICK, job.run)
    await job.reach(3)
    # Three runs cover at least the two intervals between them.
    assert time.monotonic() - begun >= 2 * TICK - 0.01
    assert job.peak == 1


async def test_next_run_moves_on_after_a_run_and_is_none_for_an_unknown_job(
    scheduler: Scheduler,
) -> None:
    """next_run is the Unix time of the job's coming run (later after each run); None for a
    name the scheduler does not have."""
    assert scheduler.next_run("nope") is None
    job = Runs()
    scheduler.add("flows", 3600, job.run)
    first = scheduler.next_run("flows")
    assert first is not None
    assert first <= time.time() + 1e-3
    await job.reach(1)
    following = scheduler.next_run("flows")
    assert following is not None
    assert following == pytest.approx(first + 3600, abs=1e-3)


async def test_an_overrunning_job_is_not_stacked_and_each_skipped_tick_is_reported(
    scheduler: Scheduler,
) -> None:
    """While a run is still going, the next tick is skipped and on_skip told; no second run
    starts beside it, and once the run ends the job runs again."""
    job, skipped = Runs(hold=True), Flag()
    scheduler.add("flows", TICK, job.run, on_skip=skipped)
    await job.reach(1)
    await skipped.wait()
    assert job.count == 1
    assert job.running == 1
    job.hold.set()
    await job.reach(2)
    assert job.peak == 1


async def test_adding_a_job_again_replaces_its_interval_and_on_skip(scheduler: Scheduler) -> None:
    """add() with a name already scheduled replaces that job: its interval, its first run, and
    its on_skip (the old one is told nothing)."""
    job, old, new = Runs(hold=True), Flag(), Flag()
    scheduler.add("flows", 3600, job.run, on_skip=old)
    await job.reach(1)
    scheduler.add("flows", TICK, job.run, on_skip=new)
    await new.wait()
    assert old.calls == 0
    assert job.count == 1
    job.hold.set()


async def test_adding_again_without_on_skip_forgets_the_old_one(scheduler: Scheduler) -> None:
    """add() again without on_skip: skipped ticks tell nobody, the old callback included."""
    job, old, witness, told = Runs(hold=True), Flag(), Runs(hold=True), Flag()
    scheduler.add("flows", TICK, job.run, on_skip=old)
    await job.reach(1)
    await old.wait()
    old.calls = 0
    scheduler.add("flows", TICK, job.run)
    # A job of the same interval, added after: its skipped tick comes after one of "flows".
    scheduler.add("witness", TICK, witness.run, on_skip=told)
    await witness.reach(1)
    await told.wait()
    told.event.clear()
    await told.wait()
    assert old.calls == 0
    job.hold.set()
    witness.hold.set()


async def test_a_removed_job_runs_no_more(scheduler: Scheduler) -> None:
    """remove() stops a job: next_run says None and it does not run again while another job
    of the same interval runs three times; removing an unknown job is harmless."""
    removed, witness = Runs(), Runs()
    scheduler.add("removed", TICK, removed.run)
    await removed.reach(1)
    scheduler.remove("removed")
    scheduler.remove("removed")
    scheduler.remove("never-added")
    assert scheduler.next_run("removed") is None
    runs = removed.count
    scheduler.add("witness", TICK, witness.run)
    await witness.reach(3)
    assert removed.count == runs


async def test_shutdown_cancels_a_job_in_flight_and_no_job_runs_after() -> None:
    """shutdown() cancels a run still going (the daemon's polls end on CancelledError) and
    stops every schedule: a job on another scheduler runs three times meanwhile, it none."""
    sched = Scheduler(rng=lambda: 0.0)
    sched.start()
    held, other = Runs(hold=True), Runs()
    sched.add("held", TICK, held.run)
    sched.add("other", TICK, other.run)
    await held.reach(1)
    await other.reach(1)
    sched.shutdown()
    async with asyncio.timeout(DEADLINE):
        await held.cancelled.wait()
    runs = other.count
    witness_scheduler = Scheduler(rng=lambda: 0.0)
    witness_scheduler.start()
    try:
        witness = Runs()
        witness_scheduler.add("witness", TICK, witness.run)
        await witness.reach(3)
    finally:
        witness_scheduler.shutdown()
    assert other.count == runs
    assert held.count == 1


def test_shutdown_of_a_scheduler_never_started_is_harmless() -> None:
    """shutdown() before start() (a daemon stopped before its schedule began) does nothing."""
    Scheduler().shutdown()
