"""Push end to end: the daemon with push on, polling every 5 minutes, against the simulator's
Notifications API. Its counters follow the simulator's truth as the publisher ticks, never
decrease, equal the truth across an interval boundary and once the period settles; delta
messages move nothing and mislead nothing; each socket fault is recovered by itself.

The simulator's clock moves, and its publisher ticks, only when a test says so; the daemon
reads the same clock but sleeps in real time (its socket timers then never fire mid-test).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from poller.catalog import AGGREGATE_PATH
from poller.simulator import SimulatorSettings
from poller.timing import Clocks
from tests.integration.conftest import SEED
from tests.support.clock import FakeClock
from tests.support.config import Value, aggregate
from tests.support.stack import Stack, StackFactory, config_text
from tests.support.wait import wait_until

ENTRIES = "genesyscloud_flow_entries_total"
OUTCOMES = "genesyscloud_flow_outcomes_total"
FAILED = "genesyscloud_flow_outcomes_failed_total"
FAMILIES = {"nFlow": ENTRIES, "nFlowOutcome": OUTCOMES, "nFlowOutcomeFailed": FAILED}
# A gauge query's families: the same names without _total.
GAUGES = {metric: family.removesuffix("_total") for metric, family in FAMILIES.items()}
P = "genesyscloud_poller_"
WITHIN = 10.0  # real seconds for the daemon to show what a tick published
# Half-hour counter periods (the topics' interval), settling for 6 minutes (a settle must
# outlast a poll interval): a test crosses an interval boundary, a settle and a new period.
COUNTED = aggregate(
    "counted",
    every="5m",
    group_by=["flowId"],
    metrics=["nFlow", "nFlowOutcome", "nFlowOutcomeFailed"],
    mode="counter",
    period="30m",
    settle="6m",
)
START = datetime(2026, 12, 8, 10, 29, 0, tzinfo=UTC)  # a Tuesday morning: busy flows
# `window: today`: a gauge from midnight, fed the same way.
TODAY = aggregate(
    "today",
    every="5m",
    window="today",
    group_by=["flowId"],
    metrics=["nFlow", "nFlowOutcome", "nFlowOutcomeFailed"],
)
PUSH: dict[str, Value] = {"enabled": True, "ping_after": "10m"}


async def never(_seconds: float) -> None:
    """The simulator publisher's wait: it ticks only when the test says so."""
    await asyncio.Event().wait()


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Pushed:
    """A stack with push on, and the test's view of its truth and series (of the query
    `counted`, or `today` with `today`)."""

    def __init__(self, stack: Stack, clock: FakeClock, *, today: bool = False) -> None:
        self.stack = stack
        self.clock = clock
        self.today = today
        self.query = "today" if today else "counted"
        self.families = GAUGES if today else FAMILIES
        self.seen: dict[tuple[str, str], float] = {}  # highest value shown per series
        self.period = self.shown()[0]  # the period `seen` is of
        self.moves = 0  # times a counter rose from one check to the next

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now, UTC)

    def shown(self) -> tuple[datetime, datetime]:
        """The period the counters show: the closed half hour during the first 6 minutes of
        the next (settle 6m), else the current one up to now."""
        now = self.now
        if self.today:
            return now.replace(hour=0, minute=0, second=0, microsecond=0), now
        start = now.replace(minute=30 if now.minute >= 30 else 0, second=0, microsecond=0)
        if now - start < timedelta(minutes=6):
            return start - timedelta(minutes=30), start
        return start, now

    def truth(self) -> dict[tuple[str, str], float]:
        """(family, flow id) -> the simulator's count over the shown period, as the aggregate
        endpoint answers now."""
        start, end = self.shown()
        body = {
            "interval": f"{iso(start)}/{iso(end)}",
            "groupBy": ["flowId"],
            "metrics": list(self.families),
        }
        out: dict[tuple[str, str], float] = {}
        for result in self.stack.truth(AGGREGATE_PATH, body).get("results", []):
            flow = result["group"]["flowId"]
            for bucket in result["data"]:
                for entry in bucket["metrics"]:
                    key = (self.families[entry["metric"]], flow)
                    out[key] = out.get(key, 0.0) + entry["stats"]["count"]
        return out

    async def series(self) -> dict[tuple[str, str], float]:
        scrape = await self.stack.scrape()
        out: dict[tuple[str, str], float] = {}
        for family in self.families.values():
            for flow, value in scrape.by("flow_id", family, query=self.query).items():
                out[(family, flow)] = value
        return out

    async def follows_truth(self, what: str) -> dict[tuple[str, str], float]:
        """Wait until every counter equals the truth (none absent, none extra), checking on
        every scrape that no counter went down within the period."""
        if self.shown()[0] != self.period:
            # A new period: counters restart (Prometheus reads it as a reset).
            self.period, self.seen = self.shown()[0], {}
        want = {k: v for k, v in self.truth().items() if v}
        got: dict[tuple[str, str], float] = {}

        async def equal() -> bool:
            got.clear()
            got.update(await self.series())
            for key, value in got.items():
                assert value >= self.seen.get(key, 0.0), f"{key} went down to {value}"
            return {k: v for k, v in got.items() if v} == want

        await wait_until(equal, within=WITHIN, what=f"the counters to equal the truth {what}")
        self.moves += sum(1 for k, v in got.items() if self.seen.get(k, v) < v)
        self.seen.update(got)
        return got

    async def tick(self, seconds: float = 1.0) -> None:
        self.clock.advance(seconds)
        await self.stack.simulator.state.push.tick()

    async def control(self, method: str, path: str, body: Any) -> dict[str, Any]:
        """A call to the simulator's control API, as a test harness or an operator makes it."""
        url = self.stack.simulator.base_url + path
        async with self.stack.http.request(method, url, json=body) as reply:
            answer: dict[str, Any] = await reply.json()
            assert reply.status == 200, answer
        return answer

    async def poll(self) -> None:
        assert await self.stack.daemon.poll(self.query)

    async def sample(self, name: str, **labels: str) -> float:
        scrape = await self.stack.scrape()
        return scrape.get(P + name, **labels) or 0.0

    async def status(self) -> dict[str, Any]:
        code, body = await self.stack.get("/status.json")
        assert code == 200
        (org,) = json.loads(body)["orgs"]
        push: dict[str, Any] = org["push"]
        return push

    async def drained(self) -> None:
        """Wait until the daemon has read every data message the simulator sent and its push
        thread has taken them (a job queued behind them has run)."""
        sim = await self.control("GET", "/simulator/push", None)
        sent = sum(channel["sent"] for channel in sim["channels"])

        async def read() -> bool:
            kinds = ("flow", "flowoutcome")
            got = [await self.sample("push_messages_total", kind=kind) for kind in kinds]
            return bool(sum(got) == sent)

        await wait_until(read, within=WITHIN, what=f"the daemon to read {sent} messages")
        (org,) = self.stack.daemon.orgs.values()
        assert org.push is not None
        feed = org.push
        await feed.on_thread(partial(feed.queries[self.query].merged, self.clock.now))

    async def connected(self) -> None:
        async def up() -> bool:
            push = await self.status()
            return bool(push["state"] == "connected" and push["topics"] > 0)

        await wait_until(up, within=WITHIN, what="push connected with topics")


async def pushed_stack(
    stack_factory: StackFactory, queries: str = COUNTED, *, today: bool = False
) -> Pushed:
    """A stack with push on at START, after its first poll, connected."""
    clock = FakeClock(START)
    stack = await stack_factory(
        queries,
        settings=SimulatorSettings(seed=SEED, flows=6, lag=2.0),
        clock=clock,
        clocks=Clocks(clock, asyncio.sleep, lambda: 0.0),
        schedule=False,
        push_wait=never,
        push=PUSH,
    )
    pushed = Pushed(stack, clock, today=today)
    await pushed.poll()
    await pushed.follows_truth("after the first poll")
    (org,) = stack.daemon.orgs.values()
    org.start_push()
    await pushed.connected()
    return pushed


async def test_counters_follow_the_truth_between_polls(stack_factory: StackFactory) -> None:
    """With polls every 5 minutes, each publisher tick's figures show at once, across the
    half-hour boundary, the settle minute and the new period; never down; the next poll
    agrees; the busiest flow moved between polls."""
    pushed = await pushed_stack(stack_factory)
    # 10:29:00 to 10:36:30: the end of one period a second at a time, its 6-minute settle 10 s
    # at a time, and the next period's first half minute.
    for seconds in [1.0] * 60 + [10.0] * 36 + [1.0] * 30:
        await pushed.tick(seconds)
        await pushed.follows_truth(f"at {pushed.now:%H:%M:%S}")
    assert pushed.moves > 100, "few counters moved in 7.5 minutes: the test proves little"
    assert await pushed.sample("push_raised_total", query="counted") > 0
    # No poll ran since the first: push alone kept the counters current. Whether push keeps
    # up is judged at a poll: none has seen it yet.
    assert await pushed.sample("polls_total", query="counted") == 1
    assert await pushed.sample("query_pushed", query="counted") == 0
    await pushed.poll()
    await pushed.follows_truth("after the next poll")
    assert await pushed.sample("query_pushed", query="counted") == 1


async def test_delta_messages_move_nothing_and_mislead_nothing(
    stack_factory: StackFactory,
) -> None:
    """With the simulator's delta switch on, ticks raise no counter above the poll's figures
    (no message counts as raising one), the next poll finds push behind and the query not
    kept current, and the counters equal the truth again."""
    pushed = await pushed_stack(stack_factory)
    await pushed.control("PUT", "/simulator/push", {"deltas": True})
    # A topic's first message of an interval carries everything so far, delta or not: let it
    # pass, and poll after it, so that every later message is a change on a known figure.
    await pushed.tick()
    await pushed.drained()
    await pushed.poll()
    polled = await pushed.follows_truth("after the poll")
    raised = await pushed.sample("push_raised_total", query="counted")
    for _ in range(20):
        await pushed.tick()
    await pushed.drained()
    assert await pushed.sample("push_messages_total", kind="flow") > 20
    assert await pushed.sample("push_raised_total", query="counted") == raised
    assert await pushed.series() == polled
    await pushed.poll()
    assert await pushed.sample("query_pushed", query="counted") == 0
    await pushed.follows_truth("after the next poll")


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("drop", "dropped"),
        ("closing", "socket_closing"),
        ("unsubscribed", "no_longer_subscribed"),
        ("revoked", "token_revoked"),
    ],
)
async def test_a_socket_fault_is_recovered_and_no_count_is_lost(
    stack_factory: StackFactory, fault: str, reason: str
) -> None:
    """After each socket fault the daemon reconnects by itself, counts the reason, shows it on
    the status page, and its counters equal the truth again without a poll."""
    pushed = await pushed_stack(stack_factory)
    await pushed.tick()
    await pushed.follows_truth("before the fault")
    reply = await pushed.control("POST", "/simulator/push/faults", {"fault": fault})
    assert reply["sockets"] == 1

    async def back() -> bool:
        push = await pushed.status()
        return (
            push["state"] == "connected"
            and push["last_reconnect_reason"] == reason
            and await pushed.sample("push_reconnects_total", reason=reason) == 1
        )

    # A closing socket stays open for its grace: the new channel is opened first.
    await wait_until(back, within=WITHIN, what=f"a reconnect for {reason}")
    for _ in range(30):
        await pushed.tick()
    await pushed.follows_truth("after the reconnect, without a poll")
    assert await pushed.sample("polls_total", query="counted") == 1
    assert await pushed.sample("push_connected") == 1
    page = await pushed.stack.get("/")
    assert f"{reason}" in page[1]


async def test_a_today_window_is_fed_as_well(stack_factory: StackFactory) -> None:
    """A `window: today` query's figures since midnight follow the truth between polls."""
    pushed = await pushed_stack(stack_factory, TODAY, today=True)
    for _ in range(30):
        await pushed.tick()
        await pushed.follows_truth(f"at {pushed.now:%H:%M:%S}")
    assert pushed.moves > 10


async def test_a_reload_restarts_push_and_loses_nothing(stack_factory: StackFactory) -> None:
    """A reload that adds a query restarts push on a new channel: the counters hold (never
    down) until the next poll gives the new feed its figures, then follow the truth again."""
    pushed = await pushed_stack(stack_factory)
    for _ in range(5):
        await pushed.tick()
        await pushed.follows_truth("before the reload")
    sim = await pushed.control("GET", "/simulator/push", None)
    (before,) = [c["id"] for c in sim["channels"] if c["connected"]]
    pushed.stack.text = config_text(COUNTED + TODAY, push=PUSH)
    assert (await pushed.stack.daemon.reload())[0]

    async def new_channel() -> bool:
        channels = (await pushed.control("GET", "/simulator/push", None))["channels"]
        live = [c["id"] for c in channels if c["connected"]]
        return live not in ([], [before])

    await wait_until(new_channel, within=WITHIN, what="push on a new channel")
    await pushed.connected()
    held = await pushed.series()
    await pushed.tick()
    assert await pushed.series() == held
    await pushed.poll()
    for _ in range(5):
        await pushed.tick()
        await pushed.follows_truth("after the reload and a poll")
