"""Frames of a notification socket, as the contract gives them and as they must not be."""

from __future__ import annotations

import json
from typing import Any

import pytest

from poller.push.messages import (
    Heartbeat,
    PushedAggregates,
    SystemNotice,
    Unusable,
    kind_of,
    parse,
    shown_topic,
)
from poller.responses import MetricEntry, Stats

FLOW = "0d5a9b3e-7c1f-4e0a-9a51-2f3c4d5e6f70"
OUTCOME = "9c1d2e3f-0000-4a4a-8b8b-123456789abc"
CHANNEL = "streaming-4d9f6a0b1c2d3e4f5a6b7c8d"
INTERVAL = "2026-12-08T10:00:00.000Z/2026-12-08T10:30:00.000Z"
PREVIOUS = "2026-12-08T09:30:00.000Z/2026-12-08T10:00:00.000Z"


def flow_frame(**body: Any) -> str:
    """The contract's flow data message, with `body` replacing eventBody keys."""
    event: dict[str, Any] = {
        "group": {"flowId": FLOW, "mediaType": "voice"},
        "data": [
            {
                "interval": INTERVAL,
                "metrics": [
                    {"metric": "nFlow", "stats": {"count": 51}},
                    {
                        "metric": "tFlow",
                        "stats": {"count": 50, "sum": 123456.0, "min": 1000.0, "max": 9000.0},
                    },
                ],
            }
        ],
    }
    event.update(body)
    return json.dumps(
        {
            "topicName": f"v2.analytics.flow.{FLOW}.aggregates",
            "version": "2",
            "eventBody": event,
            "metadata": {"CorrelationId": "6f1c2d3e-aaaa-bbbb-cccc-000000000001"},
        }
    )


def test_flow_message_becomes_pushed_aggregates() -> None:
    """The contract's flow message: kind, flow, sorted group, interval and every stat."""
    assert parse(flow_frame()) == PushedAggregates(
        kind="flow",
        flow_id=FLOW,
        group=(("flowId", FLOW), ("mediaType", "voice")),
        intervals=(
            (
                INTERVAL,
                (
                    MetricEntry("nFlow", Stats(count=51)),
                    MetricEntry("tFlow", Stats(count=50, sum=123456.0, max=9000.0, min=1000.0)),
                ),
            ),
        ),
    )


def test_outcome_message_keeps_its_outcome_dimension_and_both_intervals() -> None:
    """An outcome message just after a boundary: two intervals, group sorted by name."""
    frame = json.dumps(
        {
            "topicName": f"v2.analytics.flowoutcome.{FLOW}.aggregates",
            "eventBody": {
                "group": {"mediaType": "voice", "flowOutcomeId": OUTCOME, "flowId": FLOW},
                "data": [
                    {
                        "interval": PREVIOUS,
                        "metrics": [{"metric": "nFlowOutcome", "stats": {"count": 7}}],
                    },
                    {
                        "interval": INTERVAL,
                        "metrics": [{"metric": "nFlowOutcomeFailed", "stats": {"count": 1}}],
                    },
                ],
            },
        }
    )
    message = parse(frame)
    assert message == PushedAggregates(
        "flowoutcome",
        FLOW,
        (("flowId", FLOW), ("flowOutcomeId", OUTCOME), ("mediaType", "voice")),
        (
            (PREVIOUS, (MetricEntry("nFlowOutcome", Stats(count=7)),)),
            (INTERVAL, (MetricEntry("nFlowOutcomeFailed", Stats(count=1)),)),
        ),
    )
    assert kind_of(message) == "flowoutcome"


def test_group_without_flow_id_takes_the_topics() -> None:
    """A group that leaves flowId out gets the topic's flow: the topic names it."""
    message = parse(flow_frame(group={"mediaType": "voice"}))
    assert isinstance(message, PushedAggregates)
    assert message.group == (("flowId", FLOW), ("mediaType", "voice"))


@pytest.mark.parametrize(
    ("frame", "pong"),
    [
        (
            '{"topicName": "channel.metadata", "eventBody": {"message": "WebSocket Heartbeat"}}',
            False,
        ),
        ('{"topicName": "channel.metadata", "eventBody": {"message": "pong"}}', True),
        ('{"topicName": "channel.metadata"}', False),
    ],
)
def test_channel_metadata_is_a_heartbeat(frame: str, pong: bool) -> None:
    """Heartbeats and pongs both count as heartbeat frames; a pong is told apart."""
    message = parse(frame)
    assert message == Heartbeat(pong=pong)
    assert kind_of(message) == "heartbeat"


@pytest.mark.parametrize(
    ("topic", "event", "shown"),
    [
        ("v2.system.socket_closing", "socket_closing", "v2.system.socket_closing"),
        (
            f"v2.system.no_longer_subscribed.{CHANNEL}",
            "no_longer_subscribed",
            "v2.system.no_longer_subscribed.streamin",
        ),
        (f"v2.system.token_revoked.{CHANNEL}", "token_revoked", "v2.system.token_revoked.streamin"),
        ("v2.system.something_new", "other", "v2.system.something_new"),
    ],
)
def test_system_frames_match_by_prefix_and_hide_the_channel(
    topic: str, event: str, shown: str
) -> None:
    """System topics are told by prefix; the channel id in them is cut to 8 characters."""
    message = parse(json.dumps({"topicName": topic, "eventBody": {"x": 1}}))
    assert message == SystemNotice(event, shown)  # type: ignore[arg-type]
    assert kind_of(message) == "system"
    assert CHANNEL not in repr(message)


@pytest.mark.parametrize(
    ("frame", "topic", "why"),
    [
        ("not json {", None, "frame is not JSON (10 characters)"),
        (b"\xff\xfe", None, "frame is not JSON (2 characters)"),
        ("[1, 2]", None, "frame: Expected `object`, got `array`"),
        ('{"eventBody": {}}', None, "frame: Object missing required field `topicName`"),
        ('{"topicName": 5}', None, "frame.topicName: Expected `str`, got `int`"),
        (
            '{"topicName": "v2.users.abc.presence", "eventBody": {}}',
            "v2.users.abc.presence",
            "not a topic the poller subscribes to",
        ),
        (
            json.dumps({"topicName": f"v2.analytics.flow.{FLOW}.aggregates"}),
            f"v2.analytics.flow.{FLOW}.aggregates",
            "eventBody: Expected `object`, got `null`",
        ),
        (
            flow_frame(data=[{"interval": INTERVAL}]),
            f"v2.analytics.flow.{FLOW}.aggregates",
            "eventBody.data[0]: Object missing required field `metrics`",
        ),
        (
            flow_frame(data=[{"interval": "2026-12-08T10:00:00.000Z", "metrics": []}]),
            f"v2.analytics.flow.{FLOW}.aggregates",
            "eventBody.data[0].interval: not start/end",
        ),
        (
            flow_frame(
                data=[
                    {
                        "interval": INTERVAL,
                        "metrics": [{"metric": "nFlow", "stats": {"count": "51"}}],
                    }
                ]
            ),
            f"v2.analytics.flow.{FLOW}.aggregates",
            "eventBody.data[0].metrics[0].stats.count: Expected `float | null`, got `str`",
        ),
        (
            flow_frame(group={"flowId": FLOW, "mediaType": 3}),
            f"v2.analytics.flow.{FLOW}.aggregates",
            "eventBody.group[...]: Expected `str`, got `int`",
        ),
        (
            flow_frame(group={"flowId": "another-flow", "mediaType": "voice"}),
            f"v2.analytics.flow.{FLOW}.aggregates",
            "eventBody.group.flowId: not the topic's flow",
        ),
        (
            '{"topicName": "channel.metadata", "eventBody": {"message": 4}}',
            "channel.metadata",
            "eventBody.message: Expected `str | null`, got `int`",
        ),
    ],
)
def test_bad_frames_are_unusable_naming_the_place(
    frame: str | bytes, topic: str | None, why: str
) -> None:
    """A frame of the wrong shape is Unusable with the place named; parsing never raises."""
    message = parse(frame)
    assert message == Unusable(topic, why)
    assert kind_of(message) == "unusable"


def test_shown_topic_keeps_data_topics_whole() -> None:
    """A data topic is no secret: shown as it is."""
    assert (
        shown_topic(f"v2.analytics.flow.{FLOW}.aggregates")
        == f"v2.analytics.flow.{FLOW}.aggregates"
    )
