"""`push` (in `genesys` for every org, or in one org of `orgs`): flow aggregates pushed by the
Notifications API between polls. Keys an org gives replace the `genesys` section's; the others
keep them."""

from __future__ import annotations

import dataclasses
from typing import Final

from poller.config.checker import Checker
from poller.config.messages import Loc
from poller.config.model import PushSettings

PUSH_KEYS: Final = ("enabled", "interval", "max_channels", "ping_after")
# The analytics intervals an org can have (Genesys' org setting): the topics publish one of them.
INTERVALS: Final = (900.0, 1800.0, 3600.0)
# Genesys allows 20 channels per OAuth client; leave room for other applications on it.
MAX_CHANNELS: Final = 20


def check_push(c: Checker, loc: Loc, raw: object, defaults: PushSettings) -> PushSettings | None:
    """The `push` mapping at `loc` over `defaults`; None after reporting a problem."""
    m = c.section(loc, raw, PUSH_KEYS, " with enabled: true and the push settings")
    if m is None:
        return None
    before = len(c.problems)
    out = defaults
    if "enabled" in m:
        enabled = c.boolean((*loc, "enabled"), m["enabled"])
        if enabled is not None:
            out = dataclasses.replace(out, enabled=enabled)
    if "interval" in m:
        interval = c.duration((*loc, "interval"), m["interval"])
        if interval is not None and interval not in INTERVALS:
            c.error(
                (*loc, "interval"),
                "must be 15m, 30m or 60m: the org's analytics interval (30m unless the org "
                "changed it)",
            )
        elif interval is not None:
            out = dataclasses.replace(out, interval=interval)
    if "max_channels" in m:
        channels = c.integer((*loc, "max_channels"), m["max_channels"], 1, MAX_CHANNELS)
        if channels is not None:
            out = dataclasses.replace(out, max_channels=channels)
    if "ping_after" in m:
        ping = c.duration((*loc, "ping_after"), m["ping_after"])
        if ping is not None and not 10 <= ping <= 600:
            c.error((*loc, "ping_after"), "must be from 10s to 10m (heartbeats come every 30s)")
        elif ping is not None:
            out = dataclasses.replace(out, ping_after=ping)
    return out if len(c.problems) == before else None
