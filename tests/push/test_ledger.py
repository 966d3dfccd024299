"""The push ledger: figures raised by polls and messages, never lowered, summed per series."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from poller.config.model import PushSettings, QueryConfig
from poller.errors import NormalizeError
from poller.push.feeding import feed_of
from poller.push.ledger import Ledger, interval_start
from poller.responses import AggregateResponse, AggregateResult, Bucket, MetricEntry, Stats

I1 = "2026-12-08T10:00:00.000Z/2026-12-08T10:30:00.000Z"
I2 = "2026-12-08T10:30:00.000Z/2026-12-08T11:00:00.000Z"
DAY = (interval_start("2026-12-08T00:00:00.000Z/x"), interval_start("2026-12-09T00:00:00.000Z/x"))
NAMES = {"f1": ("Main IVR", "INBOUNDCALL")}


def ledger(group_by: Sequence[str] = ("flowId",), **keys: object) -> Ledger:
    metrics = ("nFlow", "tFlow", "nFlowOutcomeFailed", "nFlowMilestone")
    query = QueryConfig(
        "q",
        "aggregate",
        300.0,
        metrics,
        group_by=tuple(group_by),
        mode="counter",
        **keys,  # type: ignore[arg-type]
    )
    book = Ledger(feed_of(query, PushSettings(enabled=True)), group_by)
    book.show(*DAY)
    return book


def n(metric: str, count: float) -> MetricEntry:
    return MetricEntry(metric, Stats(count=count))


def push(book: Ledger, media: str, interval: str, *metrics: MetricEntry, flow: str = "f1") -> bool:
    return book.raise_from_push(
        "flow", {"flowId": flow, "mediaType": media}, [(interval, metrics)], NAMES
    )


def poll(
    book: Ledger,
    *buckets: tuple[str, Sequence[MetricEntry]],
    flow: str = "f1",
    elapsed: int = 600,
) -> bool:
    """A poll answered `elapsed` seconds into its newest interval; whether push was in step."""
    data = [Bucket(interval, list(metrics)) for interval, metrics in buckets]
    response = AggregateResponse([AggregateResult({"flowId": flow}, data)])
    check = book.raise_from_poll(response, interval_start(buckets[-1][0]) + elapsed * 1000)
    assert check is not None
    return check.in_step


def counts(book: Ledger) -> dict[tuple[tuple[str, str], ...], dict[str, float | None]]:
    """The ledger's answer: series -> metric -> count."""
    out: dict[tuple[tuple[str, str], ...], dict[str, float | None]] = {}
    for result in book.response().results or ():
        (bucket,) = result.data or []
        key = tuple(sorted((k, str(v)) for k, v in (result.group or {}).items()))
        out[key] = {m.metric: m.stats.count if m.stats else None for m in bucket.metrics or ()}
    return out


def test_running_totals_raise_at_once_and_a_poll_wins_when_larger() -> None:
    """Messages 3 then 5 show 5; a poll of 7 shows 7; a later message of 6 changes nothing."""
    book = ledger()
    assert push(book, "voice", I1, n("nFlow", 3))
    assert push(book, "voice", I1, n("nFlow", 5))
    assert counts(book) == {(("flowId", "f1"),): {"nFlow": 5}}
    poll(book, (I1, [n("nFlow", 7)]))
    assert not push(book, "voice", I1, n("nFlow", 6))
    assert counts(book) == {(("flowId", "f1"),): {"nFlow": 7}}


def test_deltas_change_nothing_after_the_first_and_are_not_in_step() -> None:
    """Deltas of 1 each never pass the poll's 40; the next poll finds push far behind."""
    book = ledger()
    # Push has shown nothing of the interval yet: not in step until it does.
    assert poll(book, (I1, [n("nFlow", 40)])) is False
    for _ in range(5):
        assert not push(book, "voice", I1, n("nFlow", 1))
    assert counts(book) == {(("flowId", "f1"),): {"nFlow": 40}}
    # 45 polled 10 minutes in against 1 pushed: 44 behind, where 5 s of the interval's rate
    # (45 in 600 s) brings 0.4, and the slack is 5.
    assert poll(book, (I1, [n("nFlow", 45)])) is False


def test_running_totals_are_in_step_with_the_poll() -> None:
    """Push 20 behind a poll of 2400 in 10 minutes (5 s of that rate: 20) is in step; 21
    behind is not."""
    book = ledger()
    push(book, "voice", I1, n("nFlow", 2380))
    assert poll(book, (I1, [n("nFlow", 2400)])) is True
    assert poll(book, (I1, [n("nFlow", 2401)])) is False


def test_media_types_sum_into_a_flow_series() -> None:
    """A query grouped by flowId sums the voice and chat groups of its flow."""
    book = ledger()
    push(book, "voice", I1, n("nFlow", 4))
    push(book, "chat", I1, n("nFlow", 2))
    assert counts(book) == {(("flowId", "f1"),): {"nFlow": 6}}
    push(book, "chat", I1, n("nFlow", 3))
    assert counts(book) == {(("flowId", "f1"),): {"nFlow": 7}}


def test_intervals_sum_over_the_period() -> None:
    """Two intervals of 10 and 4 make 14; an interval outside the period is left out."""
    book = ledger()
    poll(book, (I1, [n("nFlow", 10)]), (I2, [n("nFlow", 1)]))
    push(book, "voice", I2, n("nFlow", 4))
    push(book, "voice", "2026-12-09T00:00:00.000Z/2026-12-09T00:30:00.000Z", n("nFlow", 9))
    assert counts(book) == {(("flowId", "f1"),): {"nFlow": 14}}
    # The period moves on to start at I2: I1 is forgotten, and a late message for it ignored.
    book.show(interval_start(I2), DAY[1])
    assert counts(book) == {(("flowId", "f1"),): {"nFlow": 4}}
    assert not push(book, "voice", I1, n("nFlow", 30))
    assert counts(book) == {(("flowId", "f1"),): {"nFlow": 4}}


def test_names_fill_flow_name_and_unknown_flows_wait_for_the_poll() -> None:
    """flowName comes from the names listing; a flow it does not know yet is not pushed."""
    book = ledger(("flowId", "flowName"))
    assert push(book, "voice", I1, n("nFlow", 2))
    assert not push(book, "voice", I1, n("nFlow", 2), flow="f2")
    assert counts(book) == {(("flowId", "f1"), ("flowName", "Main IVR")): {"nFlow": 2}}


def test_metrics_push_does_not_feed_are_ignored_in_messages() -> None:
    """A message's nFlowMilestone is not taken: the query's milestones come from polls only."""
    book = ledger()
    assert not push(book, "voice", I1, n("nFlowMilestone", 9))
    poll(book, (I1, [n("nFlowMilestone", 2)]))
    assert counts(book) == {(("flowId", "f1"),): {"nFlowMilestone": 2}}


def test_media_filter_keeps_other_media_out() -> None:
    """With a voice-only filter, a chat group's message raises nothing."""
    voice = {"type": "or", "predicates": [{"dimension": "mediaType", "value": "voice"}]}
    book = ledger(filter=voice)
    assert not push(book, "chat", I1, n("nFlow", 5))
    assert push(book, "voice", I1, n("nFlow", 1))


def test_timer_statistics_merge_each_their_own_way() -> None:
    """count and sum rise, max rises, min falls; intervals add count and sum."""
    book = ledger()
    push(book, "voice", I1, MetricEntry("tFlow", Stats(2, 3000.0, 2000.0, 1000.0)))
    push(book, "voice", I1, MetricEntry("tFlow", Stats(3, 3500.0, 2000.0, 500.0)))
    push(book, "voice", I2, MetricEntry("tFlow", Stats(1, 9000.0, 9000.0, 9000.0)))
    (result,) = book.response().results or []
    (bucket,) = result.data or []
    (entry,) = bucket.metrics or []
    assert entry.stats == Stats(4, 12500.0, 9000.0, 500.0)


def test_a_bucket_interval_that_is_not_a_date_is_named() -> None:
    """A poll whose bucket interval is not ISO-8601 fails as an unusable response naming it."""
    book = ledger()
    with pytest.raises(NormalizeError, match="bucket interval 'yesterday/today'"):
        poll(book, ("yesterday/today", [n("nFlow", 1)]))
