"""The Notifications API's channels and subscriptions, one registry per org (shared/genesys-api.md
section 11): what a channel holds, its 24-hour life, the 20 channels an OAuth client may hold
(a 21st evicts the least recently used, unconnected first), the topic limit per channel, the
two flow topics this simulator serves, and the flows whose topics the client may not read.

Pure bookkeeping with the time passed in; the HTTP routes are in `pushroutes`, the sockets in
`pushsocket`. Refusals are `GenesysError`s, as the service answers them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from poller.simulator.contract import AGGREGATE_PERMISSION
from poller.simulator.replies import GenesysError

CHANNEL_LIFE = 24 * 3600.0  # seconds; re-subscribing starts it again
MAX_CHANNELS = 20  # per OAuth client
DEFAULT_TOPIC_LIMIT = 1000  # per channel
# The permission the flow topics are assumed to need (unconfirmed, shared/genesys-api.md 11.1).
TOPIC_PERMISSION = AGGREGATE_PERMISSION
TopicKind = Literal["flow", "flowoutcome"]
_TOPIC = re.compile(r"^v2\.analytics\.(flow|flowoutcome)\.([A-Za-z0-9-]+)\.aggregates$")
TOPIC_FORMS = (
    "v2.analytics.flow.{flowId}.aggregates or v2.analytics.flowoutcome.{flowId}.aggregates"
)


def parse_topic(topic: str) -> tuple[TopicKind, str] | None:
    """(kind, flow id) of a flow topic, or None when it is not one."""
    m = _TOPIC.match(topic)
    if m is None:
        return None
    kind: TopicKind = "flow" if m.group(1) == "flow" else "flowoutcome"
    return kind, m.group(2)


def topic_name(kind: TopicKind, flow_id: str) -> str:
    return f"v2.analytics.{kind}.{flow_id}.aggregates"


@dataclass
class Channel:
    id: str
    client_id: str
    expires: float  # epoch seconds
    used: float  # the last call on it or connection to it, for the eviction order
    topics: dict[str, None] = field(default_factory=dict)  # an ordered set
    connected: bool = False
    sent: int = 0  # data messages sent on it


SubscribeMode = Literal["add", "replace"]


class Channels:
    """One org's channels (its OAuth client's), by id."""

    def __init__(self, on_gone: Callable[[Channel, str], None] | None = None) -> None:
        self._channels: dict[str, Channel] = {}
        # Flows whose topics the client may not read (`PUT /simulator/push/forbidden/{flow}`).
        self.forbidden: set[str] = set()
        # Whether the client lacks the topics' permission altogether (the org's `forbidden`
        # fault on aggregates: the same permission).
        self.lacks_permission: Callable[[], bool] = lambda: False
        # Told when a channel is evicted or expires, to close its socket; the reason is
        # "evicted" or "expired".
        self.on_gone = on_gone or (lambda _channel, _reason: None)

    def may_read(self, flow_id: str) -> bool:
        """Whether the client may read this flow's topics."""
        return flow_id not in self.forbidden and not self.lacks_permission()

    def all(self) -> list[Channel]:
        return list(self._channels.values())

    def create(self, client_id: str, now: float) -> Channel:
        """A new channel; the client's 21st evicts its least recently used one, unconnected
        ones first."""
        self.expire(now)
        mine = [c for c in self._channels.values() if c.client_id == client_id]
        if len(mine) >= MAX_CHANNELS:
            victim = min(mine, key=lambda c: (c.connected, c.used))
            del self._channels[victim.id]
            self.on_gone(victim, "evicted")
        channel = Channel(str(uuid.uuid4()), client_id, now + CHANNEL_LIFE, now)
        self._channels[channel.id] = channel
        return channel

    def get(self, channel_id: str, now: float) -> Channel | None:
        """The live channel of that id, or None (unknown, evicted or expired)."""
        channel = self._channels.get(channel_id)
        if channel is not None and now >= channel.expires:
            del self._channels[channel_id]
            self.on_gone(channel, "expired")
            return None
        return channel

    def find(self, channel_id: str, now: float) -> Channel:
        """`get`, or the service's 404."""
        channel = self.get(channel_id, now)
        if channel is None:
            raise GenesysError(404, "not.found", f"Channel {channel_id[:8]}... was not found.")
        channel.used = now
        return channel

    def expire(self, now: float) -> None:
        for channel_id in list(self._channels):
            self.get(channel_id, now)

    def subscribe(
        self,
        channel: Channel,
        topics: list[str],
        mode: SubscribeMode,
        *,
        ignore_errors: bool,
        limit: int,
        now: float,
    ) -> list[str]:
        """Add (POST) or replace (PUT) the channel's topics; its topics after the call.

        A malformed topic is a 400; one the client may not read a 403 naming it, unless
        `ignore_errors` leaves it out; more than `limit` topics afterwards a 400. Nothing
        changes on a refusal. Re-subscribing starts the channel's 24 hours again.
        """
        for topic in topics:
            if parse_topic(topic) is None:
                raise GenesysError(
                    400,
                    "bad.request",
                    f"Topic {topic!r} is not valid; this service publishes {TOPIC_FORMS}",
                )
        allowed = []
        for topic in dict.fromkeys(topics):
            parsed = parse_topic(topic)
            assert parsed is not None
            if self.may_read(parsed[1]):
                allowed.append(topic)
            elif not ignore_errors:
                raise GenesysError(
                    403,
                    "missing.permissions",
                    f"Topic {topic} requires the following permission(s): [{TOPIC_PERMISSION}]",
                )
        after = dict.fromkeys(allowed) if mode == "replace" else {**channel.topics}
        after.update(dict.fromkeys(allowed))
        if len(after) > limit:
            raise GenesysError(
                400,
                "bad.request",
                f"Too many topics: a channel may have at most {limit} and this call would "
                f"leave it with {len(after)}",
            )
        channel.topics = after
        channel.expires = now + CHANNEL_LIFE
        return list(after)

    def unsubscribe_all(self, channel: Channel) -> None:
        channel.topics = {}
