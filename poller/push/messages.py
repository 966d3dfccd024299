"""The frames of a notification channel's socket (shared/genesys-api.md §11), parsed with msgspec
like `poller.responses`: flow aggregates, heartbeats and pongs, system notices, and the rest.

Parsing never raises: a frame that is not what the contract says becomes `Unusable`, naming the
place, so one odd frame costs that frame only. Nothing here keeps or shows a frame's body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

import msgspec

from poller.responses import MetricEntry

Kind = Literal["flow", "flowoutcome"]
SystemEvent = Literal["socket_closing", "no_longer_subscribed", "token_revoked", "other"]
# The label values of push_messages_total, in the order the status page lists them.
FRAME_KINDS: Final = ("flow", "flowoutcome", "heartbeat", "system", "unusable")
HEARTBEAT_TOPIC: Final = "channel.metadata"
SYSTEM_PREFIX: Final = "v2.system."
PING: Final = '{"message": "ping"}'
_TOPIC = re.compile(r"v2\.analytics\.(flow|flowoutcome)\.([^.\s]+)\.aggregates")
_SYSTEM_EVENTS: Final[tuple[SystemEvent, ...]] = (
    "socket_closing",
    "no_longer_subscribed",
    "token_revoked",
)
SHOWN_ID = 8  # characters of a channel id that logs, metrics and pages may show


def topic_of(kind: Kind, flow_id: str) -> str:
    """The notification topic of a flow's aggregates of `kind`."""
    return f"v2.analytics.{kind}.{flow_id}.aggregates"


def flow_of(topic: str) -> str | None:
    """The flow id of an aggregates topic (None: not one)."""
    match = _TOPIC.fullmatch(topic)
    return match.group(2) if match else None


def shown_topic(topic: str) -> str:
    """A topic as logs may show it: a system topic ends in the channel id, a capability, of
    which only the first characters are shown."""
    if not topic.startswith(SYSTEM_PREFIX):
        return topic[:200]
    event, dot, channel = topic[len(SYSTEM_PREFIX) :].partition(".")
    return SYSTEM_PREFIX + event + dot + channel[:SHOWN_ID]


@dataclass(frozen=True, slots=True)
class PushedAggregates:
    """One data message: a flow's (or flow outcome's) metrics for one group, per interval."""

    kind: Kind
    flow_id: str
    group: tuple[tuple[str, str], ...]  # the message's group, sorted by dimension name
    intervals: tuple[tuple[str, tuple[MetricEntry, ...]], ...]  # ("start/end" as sent, metrics)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """`channel.metadata`: the server's heartbeat, or its pong to our ping."""

    pong: bool


@dataclass(frozen=True, slots=True)
class SystemNotice:
    """A `v2.system.*` frame; `topic` is shown_topic's (the channel id cut short)."""

    event: SystemEvent
    topic: str


@dataclass(frozen=True, slots=True)
class Unusable:
    """A frame we cannot use: `why` names the place; `topic` (shown_topic's) when it had one."""

    topic: str | None
    why: str


Frame = PushedAggregates | Heartbeat | SystemNotice | Unusable


def kind_of(frame: Frame) -> str:
    """The frame's kind label of push_messages_total (one of FRAME_KINDS)."""
    if isinstance(frame, PushedAggregates):
        return frame.kind
    if isinstance(frame, Heartbeat):
        return "heartbeat"
    if isinstance(frame, SystemNotice):
        return "system"
    return "unusable"


class _Envelope(msgspec.Struct, gc=False):
    topicName: str  # noqa: N815 - the wire's name
    eventBody: msgspec.Raw = msgspec.Raw(b"null")  # noqa: N815


class _Interval(msgspec.Struct, gc=False):
    interval: str
    metrics: list[MetricEntry]


class _Aggregates(msgspec.Struct, gc=False):
    group: dict[str, str]
    data: list[_Interval]


class _Metadata(msgspec.Struct, gc=False):
    message: str | None = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_AGGREGATES = msgspec.json.Decoder(_Aggregates)
_METADATA = msgspec.json.Decoder(_Metadata | None)


def _where(error: msgspec.ValidationError, top: str) -> str:
    """msgspec's `Expected ... - at `$.a[0]`` as `top.a[0]: Expected ...`."""
    message, sep, path = str(error).rpartition(" - at `$")
    if not sep:
        return f"{top}: {error}"
    return f"{top}{path.rstrip('`')}: {message}"


def parse(text: str | bytes) -> Frame:
    """The frame a socket's text message stands for; never raises."""
    try:
        envelope = _ENVELOPE.decode(text)
    except msgspec.ValidationError as err:
        return Unusable(None, _where(err, "frame"))
    except msgspec.DecodeError:
        return Unusable(None, f"frame is not JSON ({len(text)} characters)")
    topic = envelope.topicName
    if topic == HEARTBEAT_TOPIC:
        return _metadata(envelope)
    if topic.startswith(SYSTEM_PREFIX):
        return _system(topic)
    match = _TOPIC.fullmatch(topic)
    if match is None:
        return Unusable(shown_topic(topic), "not a topic the poller subscribes to")
    kind: Kind = "flow" if match.group(1) == "flow" else "flowoutcome"
    return _aggregates(kind, match.group(2), topic, envelope.eventBody)


def _metadata(envelope: _Envelope) -> Frame:
    try:
        body = _METADATA.decode(envelope.eventBody)
    except msgspec.ValidationError as err:
        return Unusable(HEARTBEAT_TOPIC, _where(err, "eventBody"))
    return Heartbeat(pong=body is not None and body.message == "pong")


def _system(topic: str) -> SystemNotice:
    rest = topic[len(SYSTEM_PREFIX) :]
    for event in _SYSTEM_EVENTS:
        if rest == event or rest.startswith(event + "."):
            return SystemNotice(event, shown_topic(topic))
    return SystemNotice("other", shown_topic(topic))


def _aggregates(kind: Kind, flow_id: str, topic: str, raw: msgspec.Raw) -> Frame:
    try:
        body = _AGGREGATES.decode(raw)
    except msgspec.ValidationError as err:
        return Unusable(topic, _where(err, "eventBody"))
    except msgspec.DecodeError as err:
        return Unusable(topic, f"eventBody: {err}")
    group = dict(body.group)
    said = group.setdefault("flowId", flow_id)
    if said != flow_id:
        return Unusable(topic, "eventBody.group.flowId: not the topic's flow")
    intervals = []
    for index, entry in enumerate(body.data):
        start, slash, end = entry.interval.partition("/")
        if not (start and slash and end) or "/" in end:
            return Unusable(topic, f"eventBody.data[{index}].interval: not start/end")
        intervals.append((entry.interval, tuple(entry.metrics)))
    return PushedAggregates(kind, flow_id, tuple(sorted(group.items())), tuple(intervals))
