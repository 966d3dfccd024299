"""Counter mode end to end, on one fake clock: the daemon's counters against the simulator's
ground truth (its final totals for an interval, every late metric included), through late
data, a restart of the daemon, DST days and a failing poll while a period settles."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from poller.catalog import AGGREGATE_PATH
from poller.simulator import SimulatorSettings
from tests.integration.conftest import SEED
from tests.support.clock import FakeClock
from tests.support.config import aggregate
from tests.support.exposition import Exposition
from tests.support.stack import Stack, StackFactory

ENTRIES = "genesyscloud_flow_entries_total"
FAILED = "genesyscloud_flow_outcomes_failed_total"
DURATION = "genesyscloud_flow_duration_seconds"
LAG = 90.0  # seconds before the simulator shows a metric: late data is easy to see

QUARTER = aggregate(
    "counted",
    every="30s",
    group_by=["flowId"],
    metrics=["nFlow", "nFlowOutcomeFailed", "tFlow"],
    mode="counter",
    period="15m",
    settle="5m",
    views=[
        {"name": "under30s", "target": "tFlow", "range": {"lt": 30000}},
        {"name": "under2m", "target": "tFlow", "range": {"lt": 120000}},
    ],
)
DAILY_DUBLIN = aggregate(
    "daily",
    every="1m",
    group_by=["flowId"],
    metrics=["nFlow", "tFlow"],
    mode="counter",
    time_zone="Europe/Dublin",
)
Counters = dict[tuple[str, str], float]  # (flow id, what) -> value


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def settings() -> SimulatorSettings:
    return SimulatorSettings(seed=SEED, lag=LAG)


def request(start: str, end: str, views: bool = True) -> dict[str, Any]:
    """The aggregate body for [start, end), written out by hand (the test's own interval)."""
    metrics = ["nFlow", "nFlowOutcomeFailed", "tFlow"] if views else ["nFlow", "tFlow"]
    body: dict[str, Any] = {"interval": f"{start}/{end}", "groupBy": ["flowId"], "metrics": metrics}
    if views:
        body["views"] = [
            {
                "name": "under30s",
                "target": "tFlow",
                "function": "rangeBound",
                "range": {"lt": 30000},
            },
            {
                "name": "under2m",
                "target": "tFlow",
                "function": "rangeBound",
                "range": {"lt": 120000},
            },
        ]
    return body


def expected(answer: dict[str, Any], histogram: bool = True) -> Counters:
    """What each counter must read, from a simulator answer: counts as they are, durations in
    seconds, buckets cumulative by bound with +Inf the timer's count."""
    out: Counters = {}
    for result in answer.get("results", []):
        flow = result["group"]["flowId"]
        for bucket in result["data"]:
            for m in bucket.get("metrics", []):
                stats = m["stats"]
                if m["metric"] == "tFlow":
                    pairs = [("count", stats["count"]), ("sum", stats["sum"] / 1000)]
                    if histogram:
                        pairs.append(("le=+Inf", stats["count"]))
                else:
                    pairs = [(m["metric"], stats["count"])]
                for what, value in pairs:
                    out[flow, what] = out.get((flow, what), 0) + value
            for v in bucket.get("views", []):
                le = {"under30s": "le=30", "under2m": "le=120"}[v["name"]]
                out[flow, le] = out.get((flow, le), 0) + v["stats"]["count"]
    for flow in {f for f, _ in out}:
        if (
            histogram and (flow, "count") in out
        ):  # a histogram has every bucket, 0 when Genesys omits it
            out.setdefault((flow, "le=30"), 0)
            out.setdefault((flow, "le=120"), 0)
    return out


def shown(scrape: Exposition, query: str) -> Counters:
    """The counter-mode series of `query` in a scrape, keyed as `expected` keys them."""
    out: Counters = {}
    for labels, value in scrape.series(ENTRIES, query=query):
        out[labels["flow_id"], "nFlow"] = value
    for labels, value in scrape.series(FAILED, query=query):
        out[labels["flow_id"], "nFlowOutcomeFailed"] = value
    for labels, value in scrape.series(DURATION + "_count", query=query):
        out[labels["flow_id"], "count"] = value
    for labels, value in scrape.series(DURATION + "_sum", query=query):
        out[labels["flow_id"], "sum"] = value
    for labels, value in scrape.series(DURATION + "_bucket", query=query):
        le = labels["le"]
        out[labels["flow_id"], f"le={le}"] = value
    return out


def same(a: Counters, b: Counters) -> bool:
    """Equal keys, and values equal to the millisecond (sums are float seconds)."""
    return a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1e-6 for k in a)


def nonzero(counters: Counters) -> Counters:
    return {k: v for k, v in counters.items() if v}


async def poll_at(stack: Stack, clock: FakeClock, moment: datetime, query: str) -> Counters:
    clock.now = max(clock.now, moment.timestamp())
    assert await stack.daemon.poll(query)
    return shown(await stack.scrape(), query)


async def test_final_value_equals_ground_truth_through_late_data(
    stack_factory: StackFactory,
) -> None:
    """Polled every 30s across a 15m period: the counters never go down within it, late data
    (90s indexing lag, durations at completion) raises them while the closed period settles,
    the last value before the restart equals the simulator's final total, and after the
    restart they show the new period from its start."""
    clock = FakeClock(at("2026-05-14T14:00:00"))
    stack = await stack_factory(QUARTER, schedule=False, clock=clock, settings=settings())
    truth = expected(
        stack.simulator.truth(request("2026-05-14T14:00:00.000Z", "2026-05-14T14:15:00.000Z"))
    )
    assert sum(v for (_, w), v in truth.items() if w == "nFlow") > 500
    assert any(w == "nFlowOutcomeFailed" for _, w in truth)
    history: list[Counters] = []
    moment = at("2026-05-14T14:05:00")
    while moment < at("2026-05-14T14:20:00"):
        history.append(await poll_at(stack, clock, moment, "counted"))
        moment += timedelta(seconds=30)
    for before, after in itertools.pairwise(history):
        assert all(after.get(k, 0) >= v for k, v in before.items())
    at_close = history[20]  # 14:15:00, the period just closed: its last 90s are not visible yet
    late = {k for k, v in truth.items() if at_close.get(k, 0) < v}
    assert {w for _, w in late} >= {"nFlow", "count", "sum"}
    assert same(history[-1], truth)  # 14:19:30: the last poll before the restart
    restarted = await poll_at(stack, clock, at("2026-05-14T14:20:00"), "counted")
    new = stack.truth(
        AGGREGATE_PATH, request("2026-05-14T14:15:00.000Z", "2026-05-14T14:20:00.000Z")
    )
    # A quiet flow with nothing yet in the new period keeps its series, at 0.
    assert same(nonzero(restarted), nonzero(expected(new)))
    assert sum(restarted.values()) < sum(history[-1].values())


async def test_restarted_daemon_comes_back_to_the_same_values(
    stack_factory: StackFactory,
) -> None:
    """A new daemon (nothing remembered) started mid-period and mid-settle shows exactly what the
    old one shows at the same moment: no reset, no double count."""
    for moment in (at("2026-05-14T14:07:10"), at("2026-05-14T14:17:40")):
        clock = FakeClock(moment - timedelta(minutes=2))
        old = await stack_factory(QUARTER, schedule=False, clock=clock, settings=settings())
        await poll_at(old, clock, moment - timedelta(minutes=1), "counted")
        before = await poll_at(old, clock, moment, "counted")
        new = await stack_factory(QUARTER, schedule=False, clock=clock, settings=settings())
        after = await poll_at(new, clock, moment, "counted")
        assert before
        assert same(after, before)
        start = "2026-05-14T14:00:00.000Z"
        end = (
            moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            if moment.minute < 15
            else "2026-05-14T14:15:00.000Z"
        )
        assert same(after, expected(new.truth(AGGREGATE_PATH, request(start, end))))


async def test_a_failed_poll_while_settling_changes_nothing(stack_factory: StackFactory) -> None:
    """A poll that fails while the closed period settles leaves the counters where they were
    (no reset); the next good poll brings them to the simulator's final total."""
    clock = FakeClock(at("2026-05-14T14:15:30"))
    stack = await stack_factory(QUARTER, schedule=False, clock=clock, settings=settings())
    before = await poll_at(stack, clock, at("2026-05-14T14:15:30"), "counted")
    stack.faults("503=1")
    clock.now = at("2026-05-14T14:17:00").timestamp()
    assert not await stack.daemon.poll("counted")
    scrape = await stack.scrape()
    assert scrape.up("counted") == 0
    assert same(shown(scrape, "counted"), before)
    stack.faults("")
    clock.now = max(clock.now, at("2026-05-14T14:19:00").timestamp())
    after = await poll_at(stack, clock, at("2026-05-14T14:19:00"), "counted")
    truth = stack.simulator.truth(request("2026-05-14T14:00:00.000Z", "2026-05-14T14:15:00.000Z"))
    assert same(after, expected(truth))


async def test_dst_days_are_23_and_25_hours(stack_factory: StackFactory) -> None:
    """In Europe/Dublin a daily counter covers 23 h on the day clocks go forward and 25 h on the
    day they go back: settling, it equals the simulator's total for that local day exactly."""
    days = [
        ("2026-03-29T23:09:00", "2026-03-29T00:00:00.000Z", "2026-03-29T23:00:00.000Z"),
        ("2026-10-26T00:09:00", "2026-10-24T23:00:00.000Z", "2026-10-26T00:00:00.000Z"),
    ]
    for moment, start, end in days:
        clock = FakeClock(at(moment))
        stack = await stack_factory(DAILY_DUBLIN, schedule=False, clock=clock, settings=settings())
        got = await poll_at(stack, clock, at(moment), "daily")
        assert stack.bodies[AGGREGATE_PATH][-1]["interval"] == f"{start}/{end}"
        truth = expected(stack.simulator.truth(request(start, end, views=False)), histogram=False)
        assert same(got, truth)
