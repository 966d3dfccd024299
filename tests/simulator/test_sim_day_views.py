"""A day-long counter query with ten views (the shipped flows_counted): one pass over the
day's flow-minutes, a few cached blocks, and the exact view counts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from poller.simulator.activity import (
    KEY_MASK,
    KEY_SHIFT,
    LOOKBACK_MINUTES,
    VALUE_MASK,
    Activity,
    Minute,
)
from poller.simulator.engine import Engine
from poller.simulator.org import Flow, Kind, Org
from poller.simulator.validation import validate_aggregate
from tests.simulator.sim_support import NOW, interval

MIDNIGHT = datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC)
FLOWS = 20
BOUNDS_MS = (10_000, 20_000, 30_000, 45_000, 60_000, 90_000, 120_000, 180_000, 300_000, 600_000)
# As config/poller.yaml's flows_counted asks it: the whole day, its views the histogram buckets.
DAY_QUERY: dict[str, Any] = {
    "interval": interval(MIDNIGHT, MIDNIGHT + timedelta(days=1)),
    "groupBy": ["flowId", "flowName"],
    "metrics": ["nFlow", "nFlowOutcome", "nFlowOutcomeFailed", "tFlow", "tFlowDisconnect"],
    "views": [
        {"name": f"under{lt}", "target": "tFlow", "function": "rangeBound", "range": {"lt": lt}}
        for lt in BOUNDS_MS
    ],
}
NOW_MS = int(NOW.timestamp() * 1000)
MINUTES_SO_FAR = int((NOW - MIDNIGHT).total_seconds()) // 60


class CountingActivity(Activity):
    """Counts every flow-minute the engine reads."""

    def __init__(self, org: Org) -> None:
        super().__init__(org)
        self.reads: Counter[tuple[int, int]] = Counter()

    def minute(self, flow: Flow, minute: int) -> Minute:
        self.reads[flow.index, minute] += 1
        return super().minute(flow, minute)


def test_day_query_with_ten_views_reads_each_flow_minute_about_once() -> None:
    """The first day-long query reads the day's flow-minutes in one pass whatever the views, and
    asking again 15 s later reads only the last ones."""
    org = Org(1, FLOWS)
    activity = CountingActivity(org)
    engine = Engine(org, activity)
    query = validate_aggregate(DAY_QUERY)
    engine.aggregate(query, NOW_MS)
    # The 20 minutes before midnight land records in it, and the minute at 14:00 one at 14:00.
    needed = FLOWS * (LOOKBACK_MINUTES + MINUTES_SO_FAR + 1)
    assert len(activity.reads) == needed
    # The day is two 6 h blocks, two hours and the minute at 14:00: each after the first looks
    # 20 minutes back into the one before, read once more, and nothing is read a third time.
    assert activity.reads.total() <= needed + FLOWS * LOOKBACK_MINUTES * 4
    assert max(activity.reads.values()) <= 2
    activity.reads.clear()
    engine.aggregate(query, NOW_MS + 15_000)
    assert activity.reads.total() <= FLOWS * (2 + LOOKBACK_MINUTES)


def test_day_query_with_ten_views_caches_only_the_blocks_it_asks_for() -> None:
    """Per flow and select (the records and each view), the cache keeps the four blocks that
    answer 00:00-14:00 (two of 6 h, two of 1 h), not the day's 5-minute blocks."""
    engine = Engine(Org(1, FLOWS))
    engine.aggregate(validate_aggregate(DAY_QUERY), NOW_MS)
    assert engine.cached_blocks() == FLOWS * (1 + len(BOUNDS_MS)) * 4


def test_day_views_count_the_durations_below_each_bound() -> None:
    """Each view counts exactly the flow's executions that ended today with a time in flow
    under its bound, however many views share the query."""
    org = Org(1, 5)
    engine = Engine(org)
    answer = engine.aggregate(validate_aggregate(DAY_QUERY), NOW_MS)
    reader = Activity(org)
    start = int(MIDNIGHT.timestamp() * 1000)
    for result in answer["results"]:
        flow = org.by_id[result["group"]["flowId"]]
        durations = [
            rec & VALUE_MASK
            for chunk in reader.records(flow, start, NOW_MS + 1)
            for rec in chunk
            if org.keys[(rec >> KEY_SHIFT) & KEY_MASK].kind is Kind.END
        ]
        (bucket,) = result["data"]
        got = {view["name"]: view["stats"]["count"] for view in bucket.get("views", [])}
        want = {f"under{lt}": sum(d < lt for d in durations) for lt in BOUNDS_MS}
        assert got == {name: count for name, count in want.items() if count}
        assert sum(durations) > 0
