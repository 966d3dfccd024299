"""Per-flow faults: one flow of an org breaks from a given moment, the way real IVR flows break.

- `stop`: no execution starts at or after the moment (the flow takes no calls).
- `fail`: every outcome completing at or after the moment is FAILURE (so a customer hang-up
  after it is self-served only if an earlier outcome succeeded).
- `hangup`: executions starting at or after the moment end early, within about a tenth of their
  normal time, by CUSTOMER_DISCONNECT (peer); what would have happened later never happens (no
  transfer; self-served only if an outcome succeeded in that time; a recognition failure stays).
- `slow`: executions starting at or after the moment last `factor` times as long (at most
  20 minutes); everything in them happens proportionally later.
- `milestone-drop`: executions starting at or after the moment reach no milestone.

Executions that started before the moment run on as they were (except under `fail`, which
judges outcomes by when they complete), so every fault changes only data stamped at or after
its moment. The engine relies on that to tell which of its cached blocks a fault can touch.

`--faults` items: `KIND=FLOW[xFACTOR][@WHEN]`, FLOW a flow id or index, WHEN `+DURATION` after
start-up (`+90s`, `+5m`) or epoch seconds; see `parse_flow_fault_item`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

FAULT_KINDS = ("stop", "fail", "hangup", "slow", "milestone-drop")
DEFAULT_FACTOR = 3.0
MAX_FACTOR = 100.0
MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class FlowFault:
    kind: str  # one of FAULT_KINDS
    start_ms: int  # epoch ms: executions starting at/after it (fail: outcomes completing at/after)
    factor: float = DEFAULT_FACTOR  # slow only: time in flow multiplied by it (capped at 20 min)

    def __post_init__(self) -> None:
        problem = fault_problem(self.kind, self.factor)
        if problem:
            raise ValueError(problem)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"fault": self.kind, "at": self.start_ms / 1000}
        if self.kind == "slow":
            out["factor"] = self.factor
        return out


def fault_problem(kind: object, factor: object = DEFAULT_FACTOR) -> str | None:
    """What is wrong with a fault's kind or factor, or None."""
    if kind not in FAULT_KINDS:
        return f"fault {kind!r} is not one of {', '.join(FAULT_KINDS)}"
    if (
        isinstance(factor, bool)
        or not isinstance(factor, int | float)
        or not math.isfinite(factor)
        or not 1.0 <= factor <= MAX_FACTOR
    ):
        return f"factor {factor!r}: expected a number from 1 to {MAX_FACTOR:g}"
    return None


def first_changed_minute(fault: FlowFault, lookback_minutes: int) -> int:
    """The first epoch minute whose starting executions the fault changes.

    `fail` reaches back `lookback_minutes`: executions that started earlier can complete an
    outcome after the moment.
    """
    first = fault.start_ms // MINUTE_MS
    return first - lookback_minutes if fault.kind == "fail" else first


@dataclass(frozen=True, slots=True)
class FlowFaultSpec:
    """A flow fault as `--faults` gives it, before the flow and the moment are resolved."""

    kind: str
    flow: str  # a flow id or index
    factor: float = DEFAULT_FACTOR
    at: float | None = None  # epoch seconds
    delay: float = 0.0  # seconds after start-up, when `at` is None


# Flow ids are lowercase hex UUIDs and indices are digits, so neither holds an "x" or an "@".
_ITEM = re.compile(r"^(?P<flow>[^@x]+)(?:x(?P<factor>[^@]*))?(?:@(?P<when>.*))?$")
_WHEN = re.compile(r"^(\+)?\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "": 1.0}


def parse_flow_fault_item(kind: str, value: str | None) -> FlowFaultSpec | str:
    """One `KIND=FLOW[xFACTOR][@WHEN]` item of `--faults` (a FlowFaultSpec), or its problem.

    FLOW is a flow id or its index in the org; `xFACTOR` is for `slow` only (default 3); WHEN is
    `+DURATION` after start-up (`+30s`, `+5m`, `+1h`; a bare number is seconds) or epoch seconds
    (default: at start-up).
    """
    example = f"{kind}=3@+5m" if kind != "slow" else "slow=3x4@+5m"
    if not value:
        return f"{kind!r} needs a flow, e.g. {example}"
    m = _ITEM.match(value.strip().lower())
    if m is None:
        return f"{kind}={value!r}: expected FLOW[xFACTOR][@WHEN], e.g. {example}"
    factor = DEFAULT_FACTOR
    if m.group("factor") is not None:
        if kind != "slow":
            return f"{kind}={value!r}: only slow takes a factor"
        try:
            factor = float(m.group("factor"))
        except ValueError:
            return f"{kind}={value!r}: the factor after x must be a number, e.g. {example}"
        problem = fault_problem(kind, factor)
        if problem:
            return f"{kind}={value!r}: {problem}"
    when = item_moment(m.group("when"), f"{kind}={value!r}")
    if isinstance(when, str):
        return when
    return FlowFaultSpec(kind, m.group("flow").strip(), factor, *when)


def item_moment(when: str | None, item: str) -> tuple[float | None, float] | str:
    """The `@WHEN` of a `--faults` item (None: none given) as `parse_when` reads it, or the
    problem, naming the item."""
    if when is None:
        return None, 0.0
    parsed = parse_when(when)
    if parsed is None:
        return f"{item}: expected @+DURATION after start-up (e.g. @+5m) or @EPOCH_SECONDS"
    return parsed


def parse_when(when: str) -> tuple[float | None, float] | None:
    """`@WHEN` of an item: (epoch seconds, None for start-up relative; seconds after start-up),
    or None when it is neither `+DURATION` nor epoch seconds."""
    number = _WHEN.match(when.strip())
    if number is None or (number.group(1) is None and number.group(3) is not None):
        return None
    seconds = float(number.group(2)) * _UNITS[number.group(3) or ""]
    if number.group(1):
        return None, seconds
    return seconds, 0.0
