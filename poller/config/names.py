"""The `names` section: how often the Architect listings (flows, outcomes, milestones) are read
for the `_info` families that give ids their names. On by default; `every: off` turns it off."""

from __future__ import annotations

from typing import Final

from poller.config.checker import MISSING, Checker
from poller.config.messages import Loc
from poller.config.model import NamesSettings
from poller.config.values import format_duration

NAMES_KEYS: Final = ("every",)
MIN_NAMES_EVERY: Final = 60.0  # names change rarely; each refresh reads every page of 4 listings

_LOC: Final[Loc] = ("names",)


def check_names(c: Checker, raw: object) -> NamesSettings | None:
    if raw is MISSING or raw is None:
        return NamesSettings()
    m = c.section(_LOC, raw, NAMES_KEYS, " with every")
    if m is None:
        return None
    if "every" not in m:
        return NamesSettings()
    value = m["every"]
    # YAML reads a bare `off` as false.
    if value is False or value == "off":
        return NamesSettings(enabled=False)
    every = c.duration((*_LOC, "every"), value)
    if every is None:
        return None
    if every < MIN_NAMES_EVERY:
        c.error(
            (*_LOC, "every"),
            f"{format_duration(every)} is too short; the minimum is 1m (or off to disable)",
        )
        return None
    return NamesSettings(every=every)
