"""An aggregate query's mode: `gauge` (a window, today's behaviour) or `counter` (totals over
calendar periods), and a counter's `period` and `settle`.

A counter query asks for whole calendar periods, so `window` and `delay` mean nothing there and
are refused with a message that says so; `period` and `settle` are refused in gauge mode. A
period is `1d` (midnight to midnight in time_zone) or a duration that divides 24h; `settle` is
shorter than the period, and `every` shorter than `settle`, or a closed period could restart
before a poll saw its late data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from poller.config.checker import Checker
from poller.config.messages import Loc, quote
from poller.config.model import DAY_SECONDS, DEFAULT_SETTLE, QueryMode
from poller.config.values import format_duration

MODES: Final[tuple[QueryMode, ...]] = ("gauge", "counter")
_PERIOD_EXAMPLE = "1d, or a duration that divides 24h such as 1h, 15m or 20s"
_COUNTER_ONLY = "applies to mode: counter only; remove it, or add mode: counter"
_NOT_IN_COUNTER = (
    "is not used in mode: counter, which counts over whole calendar periods (see period and "
    "settle); remove it"
)


@dataclass(frozen=True, slots=True)
class CounterTiming:
    mode: QueryMode = "gauge"
    period: float = DAY_SECONDS
    settle: float = DEFAULT_SETTLE


def check_counter(
    c: Checker, loc: Loc, m: Mapping[object, object], every: float | None
) -> CounterTiming | None:
    """The mode and, in counter mode, the period and settle time of an aggregate query."""
    mode: QueryMode | None = "gauge"
    if "mode" in m:
        chosen = c.choice((*loc, "mode"), m["mode"], MODES, "mode")
        mode = next((x for x in MODES if x == chosen), None)
    if mode is None:
        return None
    if mode == "gauge":
        bad = [key for key in ("period", "settle") if key in m]
        for key in bad:
            c.error((*loc, key), _COUNTER_ONLY)
        return None if bad else CounterTiming()
    ok = True
    for key in ("window", "delay"):
        if key in m:
            c.error((*loc, key), _NOT_IN_COUNTER)
            ok = False
    period = _period(c, loc, m)
    settle = _settle(c, loc, m, period, every)
    if not ok or period is None or settle is None:
        return None
    return CounterTiming("counter", period, settle)


def _period(c: Checker, loc: Loc, m: Mapping[object, object]) -> float | None:
    if "period" not in m:
        return DAY_SECONDS
    ploc, raw = (*loc, "period"), m["period"]
    if raw == "1d":
        return DAY_SECONDS
    seconds = c.duration(ploc, raw)
    if seconds is None:
        return None
    millis = round(seconds * 1000)
    if millis <= 0 or millis > DAY_SECONDS * 1000 or (DAY_SECONDS * 1000) % millis:
        c.error(ploc, f"{quote(str(raw))} does not divide a day; use {_PERIOD_EXAMPLE}")
        return None
    return millis / 1000


def _settle(
    c: Checker, loc: Loc, m: Mapping[object, object], period: float | None, every: float | None
) -> float | None:
    sloc = (*loc, "settle")
    settle = DEFAULT_SETTLE
    if "settle" in m:
        given = c.duration(sloc, m["settle"])
        if given is None:
            return None
        settle = given
    if period is not None and settle >= period:
        c.error(
            sloc if "settle" in m else loc,
            f"settle ({format_duration(settle)}) must be shorter than the period "
            f"({format_duration(period)}): a closed period settles before the next one closes",
        )
        return None
    if every is not None and every >= settle:
        c.error(
            (*loc, "every"),
            f"{format_duration(every)} must be shorter than settle ({format_duration(settle)}); "
            "otherwise a closed period can restart before any poll saw its late data",
        )
        return None
    return settle
