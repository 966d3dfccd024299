"""Which flows' topics go on which channel: few channels, and few subscription calls when the
flows change.

Both topics of a flow stay on one channel. A channel takes up to `limit` topics (Genesys'
1,000 per socket); the channels are as many as the flows need, at most `max_channels`. When
flows come and go, every flow stays where it was and a new one takes the first channel with
room, so one new flow changes one channel; only when fewer channels would do are the flows
packed again from the start.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from poller.push.messages import topic_of

TOPICS_PER_FLOW = 2  # the flow topic and the flow outcome topic


def topics_of(flows: Iterable[str]) -> tuple[str, ...]:
    """A channel's topics for `flows`, in order: each flow's flow topic, then its outcome one."""
    return tuple(topic_of(kind, flow) for flow in flows for kind in ("flow", "flowoutcome"))


@dataclass(frozen=True, slots=True)
class Plan:
    channels: tuple[tuple[str, ...], ...]  # the flows of each channel, in channel order
    left_out: tuple[str, ...]  # flows no channel has room for


def assign(
    current: Sequence[Sequence[str]], flows: Iterable[str], *, limit: int, max_channels: int
) -> Plan:
    """The channels' flows for `flows`, starting from `current` (each channel's flows now)."""
    per_channel = max(limit // TOPICS_PER_FLOW, 1)
    wanted = sorted(set(flows))
    placed = {flow for channel in current for flow in channel}
    # Flows that already have a place keep it before new ones get one.
    ordered = [f for f in wanted if f in placed] + [f for f in wanted if f not in placed]
    room = per_channel * max_channels
    kept, left_out = ordered[:room], tuple(sorted(ordered[room:]))
    needed = max(1, math.ceil(len(kept) / per_channel))
    if needed < len(current):
        packed = sorted(kept)
        chunks = [packed[i * per_channel : (i + 1) * per_channel] for i in range(needed)]
        return Plan(tuple(tuple(chunk) for chunk in chunks), left_out)
    keep = set(kept)
    channels = [[flow for flow in channel if flow in keep] for channel in current]
    channels += [[] for _ in range(needed - len(channels))]
    placed_now = {flow for channel in channels for flow in channel}
    for flow in kept:
        if flow in placed_now:
            continue
        target = next(channel for channel in channels if len(channel) < per_channel)
        target.append(flow)
    return Plan(tuple(tuple(channel) for channel in channels), left_out)
