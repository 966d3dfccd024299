"""The shared request budget: N per any 60 s, a pause that holds everyone, in arrival order."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poller.genesys.budget import SPAN, NoSpareError, RequestBudget
from poller.timing import Clocks
from tests.support.clock import FakeClock
from tests.support.wait import wait_until


def budget_on(clock: FakeClock, per_minute: int) -> RequestBudget:
    return RequestBudget(per_minute, clocks=Clocks(clock.time, clock.sleep))


async def take(
    budget: RequestBudget, clock: FakeClock, log: list[tuple[int, float]], i: int
) -> None:
    await budget.acquire()
    log.append((i, clock.now))


@settings(max_examples=150, deadline=None)
@given(
    per_minute=st.integers(min_value=1, max_value=6),
    gaps=st.lists(st.floats(min_value=0.0, max_value=90.0), min_size=1, max_size=25),
)
def test_never_more_than_n_in_any_60_s_and_no_needless_wait(
    per_minute: int, gaps: list[float]
) -> None:
    """Acquisitions arriving at any pace: at most N in any 60 s, and none later than needed."""

    async def run() -> tuple[list[float], list[float]]:
        clock = FakeClock()
        budget = budget_on(clock, per_minute)
        arrivals, granted = [], []
        for gap in gaps:
            clock.advance(gap)
            arrivals.append(clock.now)
            await budget.acquire()
            granted.append(clock.now)
        return arrivals, granted

    arrivals, granted = asyncio.run(run())
    for i in range(len(granted) - per_minute):
        assert granted[i + per_minute] - granted[i] >= SPAN
    for i, arrived in enumerate(arrivals):
        earliest = arrived if i < per_minute else max(arrived, granted[i - per_minute] + SPAN)
        assert granted[i] == pytest.approx(earliest, abs=1e-6)


async def test_concurrent_callers_get_n_per_minute_in_arrival_order() -> None:
    """Ten callers at once with N=3 go 3, 3, 3, 1 a minute apart, in the order they came."""
    clock = FakeClock()
    budget = budget_on(clock, 3)
    start = clock.now
    log: list[tuple[int, float]] = []
    await asyncio.gather(*(take(budget, clock, log, i) for i in range(10)))
    assert [i for i, _ in log] == list(range(10))
    assert [t - start for _, t in log] == [0, 0, 0, *[SPAN] * 3, *[2 * SPAN] * 3, 3 * SPAN]


async def test_pause_holds_every_caller_until_it_ends() -> None:
    """After pause(5), nobody gets through before 5 s have passed, then all go in order."""
    clock = FakeClock(auto=False)
    budget = budget_on(clock, 100)
    start = clock.now
    log: list[tuple[int, float]] = []
    budget.pause(5)
    tasks = [asyncio.create_task(take(budget, clock, log, i)) for i in range(4)]
    await wait_until(lambda: clock.sleeping == 1, what="the first caller to sleep")
    await asyncio.sleep(0)
    clock.advance(4.9)
    await asyncio.sleep(0)
    assert log == []
    assert clock.sleeps == [5.0]

    clock.advance(0.1)
    await asyncio.gather(*tasks)
    assert log == [(i, start + 5) for i in range(4)]
    assert clock.sleeps == [5.0]  # the others were queued behind the first, not sleeping


async def test_pause_during_a_wait_extends_it_and_never_shortens_it() -> None:
    """A longer pause arriving mid-wait holds callers longer; a shorter one changes nothing."""
    clock = FakeClock(auto=False)
    budget = budget_on(clock, 100)
    start = clock.now
    log: list[tuple[int, float]] = []
    budget.pause(5)
    task = asyncio.create_task(take(budget, clock, log, 0))
    await wait_until(lambda: clock.sleeping == 1, what="the caller to sleep")
    clock.advance(2)
    budget.pause(10)  # until start + 12
    budget.pause(1)  # until start + 3: shorter, ignored
    assert budget.paused_until == start + 12
    clock.advance(3)  # start + 5: the first sleep ends, the longer pause is still on
    await wait_until(lambda: len(clock.sleeps) == 2, what="the caller to sleep again")
    assert log == []
    assert clock.sleeps[1] == pytest.approx(7.0)
    clock.advance(7)
    await task
    assert log == [(0, start + 12)]


async def test_pause_and_window_wait_take_the_later_of_the_two() -> None:
    """A full window and a pause together wait for whichever ends last."""
    clock = FakeClock()
    budget = budget_on(clock, 1)
    start = clock.now
    await budget.acquire()
    budget.pause(5)
    assert budget.delay() == SPAN
    await budget.acquire()
    assert clock.now == start + SPAN
    budget.pause(90)
    assert budget.delay() == 90.0


async def test_waiting_callers_leave_in_arrival_order_across_windows() -> None:
    """Callers queued behind a full window leave strictly first come, first served."""
    clock = FakeClock(auto=False)
    budget = budget_on(clock, 2)
    start = clock.now
    log: list[tuple[int, float]] = []
    tasks = [asyncio.create_task(take(budget, clock, log, i)) for i in range(5)]
    await wait_until(lambda: clock.sleeping == 1, what="the third caller to wait")
    assert log == [(0, start), (1, start)]
    clock.advance(SPAN)
    await wait_until(lambda: len(log) == 4 and clock.sleeping == 1, what="the next window")
    clock.advance(SPAN)
    await asyncio.gather(*tasks)
    assert log == [
        (0, start), (1, start), (2, start + SPAN), (3, start + SPAN), (4, start + 2 * SPAN)
    ]  # fmt: skip


def test_delay_is_zero_when_there_is_room() -> None:
    """An idle budget lets a request go at once."""
    assert budget_on(FakeClock(), 5).delay() == 0.0


def test_budget_below_one_request_per_minute_is_refused() -> None:
    """requests_per_minute must be at least 1."""
    with pytest.raises(ValueError, match="at least 1"):
        budget_on(FakeClock(), 0)


async def test_spare_places_wait_for_queries_and_keep_their_reserve() -> None:
    """acquire_spare takes no place while a query waits for one, and leaves `reserve` places
    of the minute free: with 5 a minute and 3 kept, the third spare request waits a window."""
    clock = FakeClock()
    budget = budget_on(clock, 5)
    start = clock.now
    await budget.acquire_spare(reserve=3)
    await budget.acquire_spare(reserve=3)
    assert clock.now == start
    await budget.acquire()  # the queries' places are still there
    await budget.acquire()
    await budget.acquire()
    assert clock.now == start
    await budget.acquire_spare(reserve=3)
    assert clock.now >= start + SPAN


async def test_spare_place_goes_after_a_waiting_query() -> None:
    """While a query waits for a place, a spare request does not jump ahead of it."""
    clock = FakeClock(auto=False)
    budget = budget_on(clock, 1)
    await budget.acquire()
    order: list[str] = []

    async def query() -> None:
        await budget.acquire()
        order.append("query")

    async def spare() -> None:
        await budget.acquire_spare(reserve=0)
        order.append("spare")

    tasks = [asyncio.create_task(query())]
    await wait_until(lambda: clock.sleeping == 1, what="the query to wait")
    tasks.append(asyncio.create_task(spare()))
    for _ in range(200):
        clock.advance(1.0)
        await asyncio.sleep(0)
        if len(order) == 2:
            break
    await asyncio.gather(*tasks)
    assert order == ["query", "spare"]


async def test_no_spare_when_the_reserve_takes_the_whole_budget() -> None:
    """A reserve as large as the budget leaves no place: NoSpareError says what to change."""
    budget = budget_on(FakeClock(), 4)
    with pytest.raises(NoSpareError, match="leaves none for the name listings"):
        await budget.acquire_spare(reserve=4)
