"""Simulator settings and the fault-injection spec (`--faults SPEC`, `PUT /simulator/faults`)."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from poller.simulator.errors import SimulatorSettingsError
from poller.simulator.flowfaults import FAULT_KINDS, FlowFaultSpec, parse_flow_fault_item
from poller.simulator.publishing import PublishSpec, is_publish_item, parse_publish_item
from poller.simulator.pushsettings import (
    PushFaultSpec,
    PushSimSettings,
    is_push_item,
    parse_push_item,
)

ForbiddenEndpoint = Literal["aggregates", "observations", "flows", "outcomes", "milestones", "all"]

ERROR_STATUSES: tuple[int, ...] = (500, 502, 503, 504)
# Faults drawn per analytics request, in the order the single uniform draw is matched against.
RATE_FAULTS: tuple[str, ...] = ("reset", "malformed", "truncated", "wrongshape", "huge")
_FORBIDDEN: dict[str, ForbiddenEndpoint] = {
    "aggregates": "aggregates",
    "observations": "observations",
    "flows": "flows",
    "outcomes": "outcomes",
    "milestones": "milestones",
    "all": "all",
}
FORBIDDEN_VALUES: tuple[str, ...] = tuple(_FORBIDDEN)
DEFAULT_HUGE_SIZE = 8 * 1024 * 1024
DEFAULT_RETRY_AFTER = 5
SWITCH_FAULTS = ("token_down", "client_disabled")  # on or off, no value


@dataclass(frozen=True, slots=True)
class FaultSettings:
    """What the simulator breaks on purpose. All rates are probabilities per analytics request."""

    errors: Mapping[int, float] = field(default_factory=dict)  # HTTP status -> rate
    latency: float = 0.0  # seconds added before answering any API or token request
    reset: float = 0.0  # close the connection without a response
    malformed: float = 0.0  # 200 with a body that is not JSON
    truncated: float = 0.0  # 200 with the real body cut short (Content-Length matches the cut)
    wrongshape: float = 0.0  # 200 with valid JSON of the wrong shape ("results" is a string)
    huge: float = 0.0  # 200 with a valid body padded to huge_size bytes
    huge_size: int = DEFAULT_HUGE_SIZE
    storm429: float = 0.0  # seconds of 429s for every analytics request, from when set
    retry_after: int = DEFAULT_RETRY_AFTER  # Retry-After sent during a 429 storm
    token_down: bool = False  # /oauth/token answers 503
    login429: float = 0.0  # seconds of 429s for every /oauth/token request, from when set
    client_disabled: bool = False  # /oauth/token answers 400 unauthorized_client
    forbidden: ForbiddenEndpoint | None = None  # 403 missing.permissions on that endpoint

    def rates(self) -> list[tuple[str, float]]:
        """(fault name, rate) for every per-request fault with a nonzero rate, in draw order."""
        out = [(str(s), r) for s, r in sorted(self.errors.items()) if r > 0]
        out.extend((n, getattr(self, n)) for n in RATE_FAULTS if getattr(self, n) > 0)
        return out

    @property
    def active(self) -> bool:
        return self != FaultSettings()

    def to_spec(self) -> str:
        """The canonical `--faults` string; `parse_fault_spec(fs.to_spec()) == fs`."""
        items = [f"{s}={_num(r)}" for s, r in sorted(self.errors.items()) if r > 0]
        if self.latency:
            items.append(f"latency={_num(self.latency)}s")
        items.extend(f"{n}={_num(getattr(self, n))}" for n in RATE_FAULTS if getattr(self, n))
        if self.huge_size != DEFAULT_HUGE_SIZE:
            items.append(f"huge_size={self.huge_size}")
        if self.storm429:
            items.append(f"storm429={_num(self.storm429)}s")
        if self.retry_after != DEFAULT_RETRY_AFTER:
            items.append(f"retry_after={self.retry_after}")
        if self.token_down:
            items.append("token_down")
        if self.login429:
            items.append(f"login429={_num(self.login429)}s")
        if self.client_disabled:
            items.append("client_disabled")
        if self.forbidden:
            items.append(f"forbidden={self.forbidden}")
        return ",".join(items)

    def to_json(self) -> dict[str, object]:
        """The JSON form of `GET /simulator/faults`: durations in seconds, sizes in bytes."""
        out: dict[str, object] = {str(s): r for s, r in sorted(self.errors.items()) if r > 0}
        out.update(
            latency=self.latency,
            **{n: getattr(self, n) for n in RATE_FAULTS},
            huge_size=self.huge_size,
            storm429=self.storm429,
            retry_after=self.retry_after,
            token_down=self.token_down,
            login429=self.login429,
            client_disabled=self.client_disabled,
            forbidden=self.forbidden,
        )
        return out


MAX_ORGS = 200


@dataclass(frozen=True, slots=True)
class SimulatorSettings:
    """The first org's fields, plus `orgs`: how many orgs to serve, one per OAuth client.

    Org k (2..orgs) is the first one with client id and secret suffixed `-k`, seed `seed + k - 1`
    (other ids, names and volumes) and no faults; see `org_settings`.
    """

    seed: int = 1
    client_id: str = "demo-client"
    client_secret: str = "demo-secret"  # noqa: S105 - the documented demo credential
    token_ttl: float = 86399.0  # seconds
    requests_per_minute: int = 300  # per-client budget over both analytics endpoints
    flows: int = 20  # size of the synthetic org
    # Seconds between a metric's moment (entry, completion) and its being visible to queries.
    lag: float = 5.0
    faults: FaultSettings = field(default_factory=FaultSettings)
    orgs: int = 1
    # The first org's flow faults, publishes and push faults, installed at start-up
    # (`simulate --faults stop=3@+5m,publish:4:worse@+10m,push-drop@+2m`).
    flow_faults: tuple[FlowFaultSpec | PublishSpec | PushFaultSpec, ...] = ()
    # The Notifications API's settings, shared by every org (`PUT /simulator/push` changes them).
    push: PushSimSettings = field(default_factory=PushSimSettings)

    def __post_init__(self) -> None:
        if not 1 <= self.orgs <= MAX_ORGS:
            raise SimulatorSettingsError([f"orgs: expected 1 to {MAX_ORGS}, got {self.orgs!r}"])

    def __repr__(self) -> str:
        # The secret stays out of reprs, logs and tracebacks even though it is a demo value.
        return (
            f"SimulatorSettings(seed={self.seed}, client_id={self.client_id!r}, "
            f"client_secret='********', token_ttl={self.token_ttl}, "
            f"requests_per_minute={self.requests_per_minute}, flows={self.flows}, "
            f"lag={_num(self.lag)}, "
            f"faults={self.faults.to_spec()!r}, orgs={self.orgs})"
        )

    def org_settings(self) -> list[SimulatorSettings]:
        """One single-org SimulatorSettings per org, the first org first."""
        first = dataclasses.replace(self, orgs=1)
        return [first] + [
            dataclasses.replace(
                first,
                client_id=f"{self.client_id}-{k}",
                client_secret=f"{self.client_secret}-{k}",
                seed=self.seed + k - 1,
                faults=FaultSettings(),
                flow_faults=(),
            )
            for k in range(2, self.orgs + 1)
        ]

    def org_clients(self) -> list[tuple[str, str]]:
        """(client id, client secret) of every org, the first org first."""
        return [(s.client_id, s.client_secret) for s in self.org_settings()]


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m)?$")
_SIZE = re.compile(r"^(\d+)\s*(b|kb|mb)?$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}
_SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024 * 1024, None: 1}


def parse_fault_spec(spec: str) -> FaultSettings:
    """Parse a `--faults` spec: comma-separated `key=value` items (or bare flags).

    Rates are probabilities per analytics request, written `0.2` or `20%`; at most one rate fault
    happens per request, so the rates must add up to at most 1:

    - `500=R`, `502=R`, `503=R`, `504=R`: that status with a Genesys error body.
    - `reset=R`: close the connection without sending a response.
    - `malformed=R`: 200 with a body that is not JSON.
    - `truncated=R`: 200 with the real JSON body cut short (Content-Length matches the cut).
    - `wrongshape=R`: 200 with valid JSON of the wrong shape (`"results"` is a string).
    - `huge=R`: 200 with a valid body padded to `huge_size`.

    Other items:

    - `huge_size=SIZE`: size of the `huge` body, e.g. `4096`, `64kb`, `8mb` (default 8mb).
    - `latency=DURATION`: delay added to every API and token request, e.g. `200ms`, `1.5s`.
    - `storm429=DURATION`: every analytics request gets 429 for that long, counted from when the
      faults are installed (start-up or `PUT /simulator/faults`).
    - `retry_after=SECONDS`: Retry-After during the storm (default 5).
    - `token_down`: `POST /oauth/token` answers 503.
    - `login429=DURATION`: every `POST /oauth/token` gets 429 (with `retry_after`) for that long.
    - `client_disabled`: `POST /oauth/token` answers 400 `unauthorized_client`, as for an OAuth
      client that was disabled.
    - `forbidden=aggregates|observations|flows|outcomes|milestones|all`: 403
      `missing.permissions` on that endpoint (`flows`, `outcomes`, `milestones`: the Architect
      listings; `all`: every API endpoint).

    Durations take `ms`, `s` or `m`; a bare number is seconds. An empty spec or `none` means no
    faults. Example: `503=0.2,500=0.1,latency=200ms,reset=0.05,storm429=30s,retry_after=5`.
    All problems are reported at once as a SimulatorSettingsError.
    """
    problems: list[str] = []
    parsed = _Parsed()
    text = spec.strip()
    if text.lower() in ("", "none"):
        return FaultSettings()
    seen: set[str] = set()
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            problems.append(f"faults: empty item in {spec!r}; separate items with single commas")
            continue
        key, sep, value = (part.strip() for part in item.partition("="))
        key = key.lower()
        if key in seen:
            problems.append(f"faults: {key!r} is given twice")
            continue
        seen.add(key)
        problem = _parse_item(key, value if sep else None, parsed)
        if problem:
            problems.append(f"faults: {problem}")
    total = sum(parsed.errors.values()) + sum(parsed.rates.values())
    if total > 1.0 + 1e-9:
        problems.append(
            f"faults: the rates add up to {total:g}; at most one rate fault happens per request, "
            "so their sum must be at most 1"
        )
    if problems:
        raise SimulatorSettingsError(problems)
    return FaultSettings(
        errors=parsed.errors,
        latency=parsed.durations.get("latency", 0.0),
        storm429=parsed.durations.get("storm429", 0.0),
        retry_after=parsed.retry_after,
        huge_size=parsed.huge_size,
        token_down=parsed.token_down,
        login429=parsed.durations.get("login429", 0.0),
        client_disabled=parsed.client_disabled,
        forbidden=parsed.forbidden,
        **parsed.rates,
    )


@dataclass
class _Parsed:
    errors: dict[int, float] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    retry_after: int = DEFAULT_RETRY_AFTER
    huge_size: int = DEFAULT_HUGE_SIZE
    token_down: bool = False
    client_disabled: bool = False
    forbidden: ForbiddenEndpoint | None = None


def _parse_item(key: str, value: str | None, parsed: _Parsed) -> str | None:
    if key in SWITCH_FAULTS:
        if value is None or value.lower() in ("true", "1", "yes", "on"):
            setattr(parsed, key, True)
            return None
        if value.lower() in ("false", "0", "no", "off"):
            return None
        return f"{key} takes no value or true/false, got {value!r}"
    if value is None or value == "":
        return f"{key!r} needs a value, e.g. {_EXAMPLES.get(key, key + '=0.1')}"
    if key.isdigit():
        if int(key) not in ERROR_STATUSES:
            allowed = ", ".join(map(str, ERROR_STATUSES))
            return f"error status {key} is not supported; use one of {allowed}"
        rate = _rate(value)
        if rate is None:
            return f"{key}={value!r}: expected a rate between 0 and 1 (0.2) or a percentage (20%)"
        parsed.errors[int(key)] = rate
        return None
    if key in RATE_FAULTS:
        rate = _rate(value)
        if rate is None:
            return f"{key}={value!r}: expected a rate between 0 and 1 (0.2) or a percentage (20%)"
        parsed.rates[key] = rate
        return None
    if key in ("latency", "storm429", "login429"):
        seconds = _duration(value)
        if seconds is None:
            return f"{key}={value!r}: expected a duration such as 200ms, 1.5s or 2m"
        parsed.durations[key] = seconds
        return None
    if key == "retry_after":
        seconds = _duration(value)
        if seconds is None or not seconds.is_integer() or seconds < 1:
            return f"retry_after={value!r}: expected a whole number of seconds, at least 1"
        parsed.retry_after = int(seconds)
        return None
    if key == "huge_size":
        size = _size(value)
        if size is None or size < 2:
            return f"huge_size={value!r}: expected a size such as 4096, 64kb or 8mb"
        parsed.huge_size = size
        return None
    if key == "forbidden":
        choice = _FORBIDDEN.get(value.lower())
        if choice is not None:
            parsed.forbidden = choice
            return None
        return f"forbidden={value!r}: expected one of {', '.join(FORBIDDEN_VALUES)}"
    known = ", ".join(
        [
            *map(str, ERROR_STATUSES),
            *RATE_FAULTS,
            "huge_size",
            "latency",
            "storm429",
            "retry_after",
            "token_down",
            "forbidden",
        ]
    )
    return f"unknown fault {key!r}; known faults: {known}"


_EXAMPLES = {
    "latency": "latency=200ms",
    "storm429": "storm429=30s",
    "login429": "login429=30s",
    "retry_after": "retry_after=5",
    "huge_size": "huge_size=64kb",
    "forbidden": "forbidden=observations",
}


def _rate(value: str) -> float | None:
    text = value.strip()
    scale = 1.0
    if text.endswith("%"):
        text, scale = text[:-1].strip(), 0.01
    try:
        rate = float(text) * scale
    except ValueError:
        return None
    if not math.isfinite(rate) or not 0.0 <= rate <= 1.0:
        return None
    return rate


def _duration(value: str) -> float | None:
    m = _DURATION.match(value.strip().lower())
    if not m:
        return None
    return float(m.group(1)) * _DURATION_UNITS[m.group(2)]


def _size(value: str) -> int | None:
    m = _SIZE.match(value.strip().lower())
    if not m:
        return None
    return int(m.group(1)) * _SIZE_UNITS[m.group(2)]


def parse_simulate_faults(
    spec: str,
) -> tuple[FaultSettings, tuple[FlowFaultSpec | PublishSpec | PushFaultSpec, ...]]:
    """`simulate --faults`: the items of `parse_fault_spec`, per-flow faults, publishes and push
    faults, mixed.

    A per-flow item is `KIND=FLOW[xFACTOR][@WHEN]` with KIND one of `flowfaults.FAULT_KINDS`
    (see `flowfaults.parse_flow_fault_item`), one per flow; a publish is
    `publish:FLOW[:worse][@WHEN]` (see `publishing.parse_publish_item`), one per flow; a push
    fault is `push-KIND[@WHEN]` or `push-forbid=FLOW` (see `pushsettings.parse_push_item`); e.g.
    `503=0.1,stop=3@+5m,slow=7x4@+10m,publish:3:worse@+10m,push-drop@+2m`. All problems are
    reported at once.
    """
    problems: list[str] = []
    rest: list[str] = []
    flows: dict[str, FlowFaultSpec] = {}
    publishes: dict[str, PublishSpec] = {}
    pushes: list[PushFaultSpec] = []
    for raw in spec.split(","):
        if is_push_item(raw):
            pushed = parse_push_item(raw)
            if isinstance(pushed, str):
                problems.append(f"faults: {pushed}")
            else:
                pushes.append(pushed)
            continue
        if is_publish_item(raw):
            published = parse_publish_item(raw)
            if isinstance(published, str):
                problems.append(f"faults: {published}")
            elif published.flow in publishes:
                problems.append(f"faults: flow {published.flow} is published twice; give one")
            else:
                publishes[published.flow] = published
            continue
        key, sep, value = (part.strip() for part in raw.partition("="))
        if key.lower() not in FAULT_KINDS:
            rest.append(raw)
            continue
        parsed = parse_flow_fault_item(key.lower(), value if sep else None)
        if isinstance(parsed, str):
            problems.append(f"faults: {parsed}")
        elif parsed.flow in flows:
            problems.append(f"faults: flow {parsed.flow} has two faults; give one per flow")
        else:
            flows[parsed.flow] = parsed
    try:
        faults = parse_fault_spec(",".join(rest)) if rest else FaultSettings()
    except SimulatorSettingsError as exc:
        problems = exc.problems + problems
        faults = FaultSettings()
    if problems:
        raise SimulatorSettingsError(problems)
    return faults, (*flows.values(), *publishes.values(), *pushes)


def faults_from_json(body: object) -> FaultSettings:
    """The body of `PUT /simulator/faults`: an object with the spec's keys.

    Numbers mean the same as in the spec (durations in seconds, sizes in bytes), strings are
    parsed like spec values (`"200ms"`, `"20%"`), `token_down` and `client_disabled` are booleans
    and `forbidden` may be null. Keys left out take their defaults. Raises SimulatorSettingsError
    like `parse_fault_spec`.
    """
    if not isinstance(body, dict):
        raise SimulatorSettingsError(["faults: the body must be a JSON object with fault keys"])
    items: list[str] = []
    problems: list[str] = []
    for key, value in body.items():
        if not isinstance(key, str) or "," in key or "=" in key:
            problems.append(f"faults: invalid key {key!r}")
        elif isinstance(value, bool):
            if key not in SWITCH_FAULTS:
                problems.append(f"faults: {key!r} takes a number or string, not a boolean")
            elif value:
                items.append(key)
        elif value is None:
            if key not in ("forbidden", *SWITCH_FAULTS):
                problems.append(f"faults: {key!r} may not be null")
        elif isinstance(value, int | float):
            items.append(f"{key}={value!r}")
        elif isinstance(value, str) and "," not in value:
            items.append(f"{key}={value}")
        else:
            problems.append(f"faults: {key!r} has an invalid value {value!r:.40}")
    if problems:
        raise SimulatorSettingsError(problems)
    return parse_fault_spec(",".join(items))
