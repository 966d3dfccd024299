"""Push (Notifications API) settings and faults: what `simulate --push-*`, `PUT /simulator/push`
and the `push-*` items of `simulate --faults` set.

Settings: `deltas` (messages carry the change since the previous message instead of the
interval's running total), `heartbeat` (seconds between `channel.metadata` heartbeats),
`interval` (the aggregates' interval: 15, 30 or 60 minutes, in seconds), `closing_grace`
(seconds between `v2.system.socket_closing` and the close) and `topic_limit` (per channel).

Faults, applied to every connected socket of an org: `drop` (the connection is cut without a
close frame), `closing` (`v2.system.socket_closing`, then the close `closing_grace` later),
`unsubscribed` (the channel's subscriptions are removed, `v2.system.no_longer_subscribed.{id}`
is sent, then the socket is closed), `revoked` (`v2.system.token_revoked.{id}`, the
subscriptions removed, the socket closed), `silent` (the socket stays open but sends
nothing, not even heartbeats or pongs, until the client hangs up) and `expired` (the channel
ends as at the end of its 24 hours: the socket is closed and HEAD answers 404). `--faults`
items: `push-drop@WHEN`, `push-closing@WHEN`, `push-unsubscribed@WHEN`, `push-revoked@WHEN`,
`push-silent@WHEN`, `push-expired@WHEN` (WHEN as for the flow faults: `+5m` after start-up
or epoch seconds; at start-up when left out) and `push-forbid=FLOW` (FLOW a flow id or index:
its two topics are refused for lack of permission).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from poller.simulator.flowfaults import item_moment
from poller.simulator.notifications import DEFAULT_TOPIC_LIMIT

PushFault = Literal["drop", "closing", "unsubscribed", "revoked", "silent", "expired"]
PUSH_FAULTS: tuple[PushFault, ...] = (
    "drop",
    "closing",
    "unsubscribed",
    "revoked",
    "silent",
    "expired",
)
INTERVALS: tuple[float, ...] = (900.0, 1800.0, 3600.0)  # seconds
INTERVAL_NAMES = {"15m": 900.0, "30m": 1800.0, "60m": 3600.0}
MIN_HEARTBEAT = 1.0  # the publisher ticks once a second
PUSH_PREFIX = "push-"
FORBID_KEY = "push-forbid"
FORBID_EXAMPLE = "push-forbid=3"
SETTING_KEYS = ("deltas", "heartbeat", "interval", "closing_grace", "topic_limit")


@dataclass(frozen=True, slots=True)
class PushSimSettings:
    deltas: bool = False
    heartbeat: float = 30.0  # seconds
    interval: float = 1800.0  # seconds: 900, 1800 or 3600
    closing_grace: float = 60.0  # seconds
    topic_limit: int = DEFAULT_TOPIC_LIMIT

    def to_json(self) -> dict[str, object]:
        return {
            "deltas": self.deltas,
            "heartbeat": self.heartbeat,
            "interval": self.interval,
            "closing_grace": self.closing_grace,
            "topic_limit": self.topic_limit,
        }


def push_settings_from_json(body: object, base: PushSimSettings) -> PushSimSettings | list[str]:
    """`base` with the keys of a `PUT /simulator/push` body, or every problem found."""
    if not isinstance(body, dict):
        return ['push: expected a JSON object such as {"deltas": true, "heartbeat": 5}']
    problems = [
        f"push: unknown key {key!r}; known: {', '.join(SETTING_KEYS)}"
        for key in body
        if key not in SETTING_KEYS
    ]
    values = {
        "deltas": base.deltas,
        "heartbeat": base.heartbeat,
        "interval": base.interval,
        "closing_grace": base.closing_grace,
        "topic_limit": base.topic_limit,
    }
    for key, value in body.items():
        if key not in SETTING_KEYS:
            continue
        problem = _setting_problem(key, value)
        if problem:
            problems.append(f"push: {key} {value!r}: {problem}")
        else:
            values[key] = value
    if problems:
        return problems
    return PushSimSettings(
        deltas=bool(values["deltas"]),
        heartbeat=float(values["heartbeat"]),
        interval=float(values["interval"]),
        closing_grace=float(values["closing_grace"]),
        topic_limit=int(values["topic_limit"]),
    )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _setting_problem(key: str, value: object) -> str | None:
    if key == "deltas":
        return None if isinstance(value, bool) else "expected true or false"
    number = _number(value)
    if key == "heartbeat":
        ok = number is not None and MIN_HEARTBEAT <= number <= 86400
        return None if ok else f"expected seconds from {MIN_HEARTBEAT:g} to 86400"
    if key == "interval":
        return None if number in INTERVALS else "expected 900, 1800 or 3600 (seconds)"
    if key == "closing_grace":
        return None if number is not None and 0 <= number <= 3600 else "expected 0 to 3600 s"
    ok = number is not None and number.is_integer() and 1 <= number <= 100_000
    return None if ok else "expected a whole number from 1 to 100000"


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_heartbeat(text: str) -> float | None:
    """`--push-heartbeat DURATION` (`5s`, `1m`; a bare number is seconds) in seconds, or None
    when it is not a duration from 1 s to 24 h."""
    m = _DURATION.match(text.strip().lower())
    if m is None:
        return None
    seconds = float(m.group(1)) * _UNITS[m.group(2)]
    return seconds if MIN_HEARTBEAT <= seconds <= 86400 else None


def parse_interval_name(text: str) -> float | None:
    """`--push-interval 15m|30m|60m` in seconds, or None."""
    return INTERVAL_NAMES.get(text.strip().lower())


@dataclass(frozen=True, slots=True)
class PushFaultSpec:
    """A push fault as `--faults` gives it: a socket fault at a moment, or a forbidden flow."""

    fault: PushFault | Literal["forbid"]
    flow: str | None = None  # forbid only: a flow id or index
    at: float | None = None  # epoch seconds
    delay: float = 0.0  # seconds after start-up, when `at` is None


def is_push_item(item: str) -> bool:
    return item.strip().lower().startswith(PUSH_PREFIX)


def parse_push_item(item: str) -> PushFaultSpec | str:
    """One `push-KIND[@WHEN]` or `push-forbid=FLOW` item of `--faults`, or its problem."""
    text = item.strip().lower()
    kinds = ", ".join(f"push-{k}@WHEN" for k in PUSH_FAULTS)
    if text.startswith(FORBID_KEY):
        _, sep, flow = text.partition("=")
        flow = flow.strip()
        if text.split("=")[0].strip() != FORBID_KEY or not sep or not flow or "@" in flow:
            shape = "push-forbid=FLOW (a flow id or index)"
            return f"{item.strip()!r}: expected {shape}, e.g. {FORBID_EXAMPLE}"
        return PushFaultSpec("forbid", flow=flow)
    name, _, when = text.partition("@")
    kind = name.strip().removeprefix(PUSH_PREFIX)
    if kind not in PUSH_FAULTS or "=" in name:
        return f"{item.strip()!r}: unknown push fault; expected {kinds} or push-forbid=FLOW"
    moment = item_moment(when if "@" in text else None, repr(item.strip()))
    if isinstance(moment, str):
        return moment
    fault: PushFault = kind
    return PushFaultSpec(fault, None, *moment)
