"""A query's timing: how often it runs (every), the time it covers (window, time_zone, delay)
and how long its series outlive failures (stale_after).

Each is checked against its neighbours too: a delay must leave some of the window, and a query
must not go stale between two of its own runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from poller.config.checker import Checker
from poller.config.messages import Loc, did_you_mean, quote
from poller.config.model import Window
from poller.config.values import (
    InvalidError,
    TooLongError,
    duration_seconds,
    format_duration,
    time_zones,
    valid_zone,
)

MIN_EVERY: Final = 1.0
DEFAULT_WINDOW: Final = Window(today=False, seconds=3600.0)

_WINDOW_EXAMPLE = "today or a duration such as 15m, 1h or 24h"


def check_every(c: Checker, loc: Loc, m: Mapping[object, object]) -> float | None:
    if "every" not in m:
        c.missing(loc, "every", "how often to run the query, such as 60s")
        return None
    every = c.duration((*loc, "every"), m["every"])
    if every is not None and every < MIN_EVERY:
        c.error((*loc, "every"), f"{format_duration(every)} is too short; the minimum is 1s")
    return every


def check_window(c: Checker, loc: Loc, m: Mapping[object, object]) -> Window | None:
    if "window" not in m:
        return DEFAULT_WINDOW
    wloc, raw = (*loc, "window"), m["window"]
    if raw == "today":
        return Window(today=True)
    try:
        seconds = duration_seconds(raw, _WINDOW_EXAMPLE)
    except InvalidError as exc:
        message = str(exc)
        # A word here is more likely a misspelt `today` than a duration, so answer as a window.
        if isinstance(raw, str) and not isinstance(exc, TooLongError):
            message = (
                f"invalid window {quote(raw)}{did_you_mean(raw, ['today'])}; use {_WINDOW_EXAMPLE}"
            )
        c.error(wloc, message)
        return None
    if seconds == 0:
        c.error(wloc, "must be longer than 0s")
        return None
    return Window(today=False, seconds=seconds)


def check_time_zone(
    c: Checker, loc: Loc, m: Mapping[object, object], default: str = "UTC"
) -> str | None:
    """The IANA zone of `m`'s time_zone, `default` without one; None after reporting a bad one."""
    if "time_zone" not in m:
        return default
    zloc = (*loc, "time_zone")
    name = c.string(zloc, m["time_zone"], " such as Europe/Dublin or UTC")
    if name is None:
        return None
    if not valid_zone(name):
        c.error(
            zloc,
            f"unknown time zone {quote(name)}{did_you_mean(name, time_zones())}; "
            "use an IANA name such as Europe/Dublin or UTC",
        )
        return None
    return name


def check_delay(
    c: Checker, loc: Loc, m: Mapping[object, object], window: Window | None
) -> float | None:
    if "delay" not in m:
        return 0.0
    dloc = (*loc, "delay")
    delay = c.duration(dloc, m["delay"])
    if delay is None or window is None:
        return delay
    if window.today and delay >= 24 * 3600:
        c.error(dloc, f"{format_duration(delay)} must be shorter than a day (window: today)")
        return None
    if not window.today and delay >= window.seconds:
        c.error(
            dloc,
            f"{format_duration(delay)} must be shorter than the window "
            f"({format_duration(window.seconds)})",
        )
        return None
    return delay


def check_stale_after(
    c: Checker, loc: Loc, m: Mapping[object, object], every: float | None
) -> float:
    if "stale_after" not in m:
        return 0.0
    sloc = (*loc, "stale_after")
    stale = c.duration(sloc, m["stale_after"])
    if stale is not None and every is not None and stale < every:
        c.error(
            sloc,
            f"{format_duration(stale)} is shorter than every ({format_duration(every)}); "
            "series would be dropped between polls",
        )
    return stale or 0.0
