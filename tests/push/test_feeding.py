"""Which queries push feeds, which of their metrics, and the reason given for the rest."""

from __future__ import annotations

from typing import Any

from poller.config.model import PushSettings, QueryConfig, View, Window
from poller.push.feeding import feed_of

PUSH = PushSettings(enabled=True)
TODAY = Window(today=True)


def counter(metrics: tuple[str, ...], group_by: tuple[str, ...], **keys: Any) -> QueryConfig:
    return QueryConfig("q", "aggregate", 60.0, metrics, group_by=group_by, mode="counter", **keys)


def test_counter_query_by_flow_is_fed_from_both_topics() -> None:
    """The alert pack's query: entries from the flow topic, outcomes from the outcome topic."""
    feed = feed_of(
        counter(
            ("nFlow", "nFlowOutcome", "nFlowOutcomeFailed", "tFlowDisconnect"),
            ("flowId", "flowName"),
        ),
        PUSH,
    )
    assert feed.fed
    assert dict(feed.metrics) == {
        "flow": ("nFlow", "tFlowDisconnect"),
        "flowoutcome": ("nFlowOutcome", "nFlowOutcomeFailed"),
    }
    assert feed.not_fed == ()


def test_timer_with_views_is_left_to_polls() -> None:
    """A histogram's buckets are views no topic carries: its timer is not fed, the others are."""
    views = (View("under10s", "tFlow", lt=10000.0),)
    feed = feed_of(counter(("nFlow", "tFlow"), ("flowId",), views=views), PUSH)
    assert dict(feed.metrics) == {"flow": ("nFlow",)}
    assert feed.not_fed == (
        ("tFlow", "it has views, which no topic carries (the polls keep them)"),
    )


def test_dimension_outside_the_topic_group_is_not_fed() -> None:
    """Outcomes by outcome id are fed; entries by outcome id cannot be (the flow topic lacks it)."""
    feed = feed_of(counter(("nFlow", "nFlowOutcome"), ("flowId", "flowOutcomeId")), PUSH)
    assert dict(feed.metrics) == {"flowoutcome": ("nFlowOutcome",)}
    assert feed.not_fed == (("nFlow", "its topic has no flowOutcomeId to group by"),)


def test_metric_no_topic_carries() -> None:
    """Milestones have no aggregate topic here: the whole query stays polled."""
    feed = feed_of(counter(("nFlowMilestone",), ("flowId", "flowMilestoneId")), PUSH)
    assert not feed.fed
    assert feed.not_fed == (("nFlowMilestone", "no push topic carries it"),)


def test_sliding_window_and_observations_are_not_fed() -> None:
    """A sliding window and an observation query get one reason for the whole query."""
    sliding = QueryConfig("q", "aggregate", 60.0, ("nFlow",), group_by=("flowId",))
    assert feed_of(sliding, PUSH).not_fed == (
        ("", "a sliding window does not start on an interval boundary"),
    )
    observed = QueryConfig("q", "observation", 60.0, ("oFlow",))
    assert feed_of(observed, PUSH).not_fed == (("", "observations have no push topic"),)


def test_today_window_is_fed_unless_delayed() -> None:
    """`window: today` starts at midnight, an interval boundary; a delay waits for settled data."""
    today = QueryConfig("q", "aggregate", 60.0, ("nFlow",), window=TODAY, group_by=("flowId",))
    assert dict(feed_of(today, PUSH).metrics) == {"flow": ("nFlow",)}
    delayed = QueryConfig("q", "aggregate", 60.0, ("nFlow",), window=TODAY, delay=300.0)
    assert not feed_of(delayed, PUSH).fed


def test_period_and_time_zone_must_fall_on_interval_boundaries() -> None:
    """A 45-minute period, or midnight in Kathmandu (UTC+5:45), is not on a 30-minute boundary."""
    odd = counter(("nFlow",), ("flowId",), period=2700.0)
    assert feed_of(odd, PUSH).not_fed == (
        ("", "its period is not a whole number of 30-minute intervals"),
    )
    nepal = counter(("nFlow",), ("flowId",), time_zone="Asia/Kathmandu")
    assert feed_of(nepal, PUSH).not_fed == (
        ("", "midnight in Asia/Kathmandu is not on a 30-minute boundary in UTC"),
    )
    # India is UTC+5:30: on a 30-minute boundary, not on an hour's.
    india = counter(("nFlow",), ("flowId",), time_zone="Asia/Kolkata")
    assert feed_of(india, PUSH).fed
    assert not feed_of(india, PushSettings(enabled=True, interval=3600.0)).fed


def test_filter_on_media_type_only() -> None:
    """A mediaType filter keeps its media; any other dimension stops push for the query."""
    voice = {"type": "or", "predicates": [{"dimension": "mediaType", "value": "voice"}]}
    feed = feed_of(counter(("nFlow",), ("flowId",), filter=voice), PUSH)
    assert feed.media == frozenset({"voice"})
    other = {"type": "and", "predicates": [{"dimension": "flowType", "value": "INBOUNDCALL"}]}
    assert feed_of(counter(("nFlow",), ("flowId",), filter=other), PUSH).not_fed == (
        ("", "its filter is on flowType; push applies a filter on mediaType alone"),
    )
