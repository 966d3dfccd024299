"""Flow executions, generated from (seed, flow, minute) and cached per flow-minute.

Each minute of each flow has its own random generator, so any interval can be answered in any
order and gets the same executions every time. The load is the flow's peak rate (see
`org.Flow.peak`: from a few an hour to a few a second) times a daily curve in UTC (a night
floor, business hours, a gradual decline into the night) times a weekly one (weekends quieter).

Traffic repeats weekly: the generator of a flow-minute is seeded by its minute of the week, so
a week-old minute has the same executions as this week's (conversation ids still differ). That
is what lets the engine answer a month or a year from at most a week of generated data.

A minute is kept as *records* (see `org.Kind`), each `(at_ms, record key, value)` packed into
one int and sorted by time, plus the span of each execution for observations. Records of executions
that start in a minute can land up to 20 minutes later (`org.MAX_DURATION_MS`).

A flow fault (`flowfaults`) changes the minutes from its moment on (for `fail`, from 20 minutes
before, whose outcomes can complete after it). They are generated from the same draws, changed
as the fault says, and cached apart from the unfaulted ones. A publish (`publishing`) does the
same from its moment: executions starting after it pick the same template from the published
version's pool (its own record keys; changed outcomes and endings if worse), and a fault
changes either pool alike.
"""

from __future__ import annotations

import hashlib
import math
import random
import uuid
from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from poller.simulator.flowfaults import FlowFault, first_changed_minute
from poller.simulator.org import (
    CUSTOMER_DISCONNECT,
    END_KINDS,
    MAX_DURATION_MS,
    MIN_DURATION_MS,
    TRANSFER,
    WORSE_FAILURE,
    EndVariant,
    Flow,
    Kind,
    Org,
    mix,
    self_served,
)
from poller.simulator.publishing import Publish

MINUTE_MS = 60_000
PERIOD_MINUTES = 7 * 24 * 60  # traffic repeats weekly
LOOKBACK_MINUTES = (MAX_DURATION_MS + MINUTE_MS - 1) // MINUTE_MS  # 20
MILESTONE_REPEAT = 0.25  # chance that a reached milestone is reached once more
MAX_MILESTONE_REPEATS = 5
TEMPLATES_PER_FLOW = 256

# A record is one int: (ms since its start-minute << AT_SHIFT) | (key << KEY_SHIFT) | value.
# Plain ints sort in C, bisect by time, and are invisible to the garbage collector, which
# tuples are not: with a million cached tuples, collections alone doubled generation time.
KEY_SHIFT = 21
AT_SHIFT = 37  # 16 bits of keys: the KPI dimensions and versions multiply them
VALUE_MASK = (1 << KEY_SHIFT) - 1
KEY_MASK = (1 << (AT_SHIFT - KEY_SHIFT)) - 1
SPAN_SHIFT = 21  # spans: (ms since the start-minute << SPAN_SHIFT) | duration


def encode(at: int, key: int, value: int) -> int:
    return (at << AT_SHIFT) | (key << KEY_SHIFT) | value


NIGHT_FLOOR = 0.04  # share of the peak rate at night
# Monday first; epoch minute 0 was a Thursday.
WEEKDAY_SHARE: tuple[float, ...] = (1.0, 0.97, 0.95, 0.93, 0.9, 0.45, 0.3)
EPOCH_WEEKDAY = 3


def _ramp(x: float) -> float:
    """0 to 1 along a half cosine for x in [0, 1]: no corner where a slope starts."""
    return (1.0 - math.cos(math.pi * min(max(x, 0.0), 1.0))) / 2.0


def daily_share(hours: float) -> float:
    """The share of the peak rate at this UTC hour of the day: a night floor, a morning rise
    (06:00-09:00), business hours with a lunch dip, and an evening decline by the same factor
    every hour (about 1.5) from 17:00 down to the floor at 01:00, so traffic fades into the
    night instead of falling off a cliff that a flow's recent rate would not foresee."""
    if 1.0 <= hours < 6.0:
        return NIGHT_FLOOR
    if 6.0 <= hours < 9.0:
        return NIGHT_FLOOR + (1.0 - NIGHT_FLOOR) * _ramp((hours - 6.0) / 3.0)
    if 9.0 <= hours < 17.0:
        return 1.0 - 0.12 * math.exp(-(((hours - 12.75) / 0.6) ** 2))
    return float(NIGHT_FLOOR ** (((hours - 17.0) % 24.0) / 8.0))


def weekly_share(minute_of_week: int) -> float:
    """The share of a weekday's traffic at this minute of the week (from epoch minute 0, a
    Thursday): each day's WEEKDAY_SHARE holds at its noon, and the share moves linearly from one
    noon to the next, so no midnight halves the traffic at once (Friday to Saturday)."""
    x = minute_of_week / 1440.0 - 0.5
    day = math.floor(x)
    frac = x - day
    today = WEEKDAY_SHARE[(day + EPOCH_WEEKDAY) % 7]
    tomorrow = WEEKDAY_SHARE[(day + 1 + EPOCH_WEEKDAY) % 7]
    return today + (tomorrow - today) * frac


def _week_shape() -> tuple[float, ...]:
    """The share of the peak rate per minute of the week, from epoch minute 0 (a Thursday)."""
    return tuple(daily_share((m % 1440) / 60.0) * weekly_share(m) for m in range(PERIOD_MINUTES))


WEEK_SHAPE = _week_shape()
MEAN_SHARE = sum(WEEK_SHAPE) / PERIOD_MINUTES

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A bounded mapping that forgets the least recently used entry first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        if len(self._data) > self.size:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data


@dataclass(frozen=True, slots=True)
class Minute:
    base: int  # epoch ms of the start of the minute
    records: array[int]  # encoded records, sorted by time; never mutated once cached
    spans: array[int]  # encoded (start, duration) per execution, in generation order


def rate(flow: Flow, minute: int) -> float:
    """Expected executions of `flow` starting in epoch minute `minute` (without flow faults)."""
    return flow.peak * WEEK_SHAPE[minute % PERIOD_MINUTES]


def entries_per_hour(flow: Flow) -> float:
    """The flow's mean executions per hour over a week."""
    return flow.peak * MEAN_SHARE * 60.0


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method: exact, deterministic, and cheap for the rates used here (< 200); a sum of
    # Poissons is one, so big rates are split where exp(-lam) would lose precision.
    if lam > 400.0:
        half = lam / 2.0
        return _poisson(rng, half) + _poisson(rng, lam - half)
    limit = math.exp(-lam)
    k = 0
    p = rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


# (duration_ms, encoded records relative to the start); arrays keep big orgs' pools compact.
Template = tuple[int, "array[int]"]


def templates(
    org: Org,
    flow: Flow,
    count: int = TEMPLATES_PER_FLOW,
    version: int = 0,
    worse: bool = False,
) -> tuple[Template, ...]:
    """Executions of `flow` relative to their start, drawn from the flow's distributions.

    Minutes pick from these instead of drawing every detail afresh: three times faster, and
    with a few hundred per flow nobody sees the repeats in sums, minima or maxima.

    `version` 1 is the version a publish makes: the same executions under its record keys,
    unless `worse`: then outcomes fail WORSE_FAILURE of the time and a share of the executions
    that would not have hung up hang up early instead (as under the `hangup` fault), so
    hang-ups double and self-service falls. The same draws decide both, execution for execution.
    """
    assert len(org.keys) <= KEY_MASK
    rng = random.Random(mix(org.seed, 0x7E, flow.index))
    r = rng.random
    # The KPI dimensions' own draws, five per execution whatever they decide, so the draws
    # above stay what they were and a worse version differs only where it says.
    kpi = random.Random(mix(org.seed, 0x7E5, flow.index)).random
    shift = org.version_offset * version
    quantiles = flow.durations
    steps = len(quantiles) - 1
    ends = flow.end_weights
    out = []
    for _ in range(count):
        # Inverse-CDF lookup with linear interpolation: a lognormal draw.
        x = r() * steps
        i = int(x)
        duration = int(quantiles[i] + (quantiles[i + 1] - quantiles[i]) * (x - i))
        u = r()
        ending = 0
        while ending < len(ends) - 1 and u >= ends[ending]:
            ending += 1
        failing, recognized, which, early, cut = kpi(), kpi(), kpi(), kpi(), kpi()
        outcomes: list[tuple[int, int, int]] = []  # (done, key, duration)
        for outcome in flow.outcomes:
            if r() < outcome.reach:
                begun = int(duration * 0.6 * r())
                done = begun + int((duration - begun) * r())
                failure = WORSE_FAILURE if worse else outcome.failure
                outcomes.append((done, outcome.keys[r() < failure], done - begun))
        reached: list[tuple[int, list[int]]] = []  # (MILESTONE key, when reached)
        for milestone in flow.milestones:
            if r() < milestone.reach:
                times = 1
                while times < MAX_MILESTONE_REPEATS and r() < MILESTONE_REPEAT:
                    times += 1
                reached.append((milestone.key, [int(duration * r()) for _ in range(times)]))
        if worse and ending != CUSTOMER_DISCONNECT and early < flow.worse_hangup:
            ending = CUSTOMER_DISCONNECT
            duration = min(duration, max(MIN_DURATION_MS, int(duration * (0.03 + 0.07 * cut))))
            outcomes = [o for o in outcomes if o[0] < duration]
            reached = [(key, [at for at in ats if at < duration]) for key, ats in reached]
            reached = [(key, ats) for key, ats in reached if ats]
        success = any(not org.keys[key].failed for _, key, _ in outcomes)
        target = -1
        if ending == TRANSFER:
            target = flow.targets[_pick(flow.target_weights, which)]
        reason = _pick(flow.reason_weights, failing) if recognized < flow.recognition else -1
        variant = EndVariant(ending, self_served(ending, success), target, reason)
        records = [
            encode(0, org.start_key + shift, 0),
            encode(duration, flow.end_key[variant] + shift, duration),
        ]
        records.extend(encode(done, key + shift, value) for done, key, value in outcomes)
        for key, ats in reached:
            records.extend(encode(at, key + shift, 0) for at in ats)
            records.append(encode(duration, flow.total_key[key, variant] + shift, len(ats)))
        out.append((duration, array("q", records)))
    return tuple(out)


def _pick(cumulative: tuple[float, ...], u: float) -> int:
    """The index whose cumulative threshold first exceeds u."""
    i = 0
    while i < len(cumulative) - 1 and u >= cumulative[i]:
        i += 1
    return i


EMPTY: Template = (0, array("q"))


def _refit(org: Org, recs: list[int]) -> list[int]:
    """An execution's records with the self-served dimension of its END and MILESTONE_TOTAL
    records made true to its outcomes again, after a fault turned or cut them."""
    keys = org.keys
    success = False
    variant = None
    for rec in recs:
        key = keys[(rec >> KEY_SHIFT) & KEY_MASK]
        if key.kind is Kind.OUTCOME and not key.failed:
            success = True
        elif key.kind is Kind.END:
            variant = key.variant
    if variant is None or variant.self_served == self_served(variant.ending, success):
        return recs
    new = variant._replace(self_served=not variant.self_served)
    out = []
    for rec in recs:
        k = (rec >> KEY_SHIFT) & KEY_MASK
        if keys[k].variant is not None:
            rec += (org.with_variant(k, new) - k) << KEY_SHIFT
        out.append(rec)
    return out


def faulted_templates(
    org: Org, flow: Flow, pool: tuple[Template, ...], fault: FlowFault
) -> tuple[Template, ...] | None:
    """`pool` with each execution changed as `fault` changes the executions that start after
    its moment (index for index), or None for `fail`, which changes records, not executions."""
    keys = org.keys
    if fault.kind == "fail":
        return None
    if fault.kind == "stop":
        # An empty execution of duration 0: no records, never running, and the later
        # executions of its minute keep their place (and so their conversation ids).
        return tuple(EMPTY for _ in pool)
    out: list[Template] = []
    if fault.kind == "milestone-drop":
        dropped = (Kind.MILESTONE, Kind.MILESTONE_TOTAL)
        for duration, recs in pool:
            kept = [r for r in recs if keys[(r >> KEY_SHIFT) & KEY_MASK].kind not in dropped]
            out.append((duration, array("q", kept)))
        return tuple(out)
    if fault.kind == "slow":
        for duration, recs in pool:
            longer = min(int(duration * fault.factor), MAX_DURATION_MS)
            ratio = longer / duration
            changed = []
            for rec in recs:
                at, key, value = rec >> AT_SHIFT, (rec >> KEY_SHIFT) & KEY_MASK, rec & VALUE_MASK
                kind = keys[key].kind
                if kind is Kind.END:
                    value = longer
                elif kind is Kind.OUTCOME:
                    value = int(value * ratio)
                changed.append(encode(longer if at == duration else int(at * ratio), key, value))
            out.append((longer, array("q", changed)))
        return tuple(out)
    assert fault.kind == "hangup"
    assert END_KINDS[CUSTOMER_DISCONNECT].exit_reason == "CUSTOMER_DISCONNECT"
    rng = random.Random(mix(org.seed, 0x4A9, flow.index))
    for duration, recs in pool:
        # The caller hangs up within the first tenth of the execution's normal time.
        shorter = min(duration, max(MIN_DURATION_MS, int(duration * rng.uniform(0.03, 0.1))))
        kept = []
        reached: dict[int, int] = {}
        end = None
        for rec in recs:
            at, key = rec >> AT_SHIFT, (rec >> KEY_SHIFT) & KEY_MASK
            kind = keys[key].kind
            if kind is Kind.END:
                end = key
            elif kind is Kind.START or (kind in (Kind.OUTCOME, Kind.MILESTONE) and at < shorter):
                kept.append(rec)
                if kind is Kind.MILESTONE:
                    reached[key] = reached.get(key, 0) + 1
        if end is None:  # an empty execution of another pool: nothing to hang up
            out.append((duration, recs))
            continue
        # A hang-up: no transfer; recognition may still have failed before it.
        old = keys[end]
        assert old.variant is not None
        success = any(
            keys[(rec >> KEY_SHIFT) & KEY_MASK].kind is Kind.OUTCOME
            and not keys[(rec >> KEY_SHIFT) & KEY_MASK].failed
            for rec in kept
        )
        variant = EndVariant(
            CUSTOMER_DISCONNECT,
            self_served(CUSTOMER_DISCONNECT, success),
            -1,
            old.variant.reason,
        )
        shift = org.version_offset * old.version
        kept.append(encode(shorter, org.with_variant(end, variant), shorter))
        kept.extend(
            encode(shorter, flow.total_key[key - shift, variant] + shift, times)
            for key, times in reached.items()
        )
        out.append((shorter, array("q", kept)))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Pools:
    """The template pools a flow-minute picks from: the flow's own version and the published
    one, each as it is and as the flow's fault changes it (None where not needed)."""

    normal: tuple[Template, ...]
    faulted: tuple[Template, ...] | None = None
    published: tuple[Template, ...] | None = None
    published_faulted: tuple[Template, ...] | None = None


def generate(
    org: Org,
    flow: Flow,
    minute: int,
    pools: Pools,
    fault: FlowFault | None = None,
    publish: Publish | None = None,
) -> Minute:
    """The executions of `flow` that start in epoch minute `minute`, as records; with `fault`,
    as it changes them; with `publish`, those starting at or after its moment run the
    published version (`pools` holds the templates of each case)."""
    rng = random.Random(mix(org.seed, flow.index, minute % PERIOD_MINUTES + (1 << 40)))
    r = rng.random
    count = _poisson(rng, rate(flow, minute))
    pool = pools.normal
    size = len(pool)
    base = minute * MINUTE_MS
    offsets = [int(r() * MINUTE_MS) for _ in range(count)]
    indices = [int(r() * size) for _ in range(count)]
    if fault is None and publish is None:
        picks = [pool[i] for i in indices]
    else:
        # The same draws as without them: executions before a moment stay as they were.
        published = pools.published or pool
        faulted = pools.faulted or pool
        published_faulted = pools.published_faulted or published
        pub_cut = publish.start_ms - base if publish is not None else math.inf
        fault_cut = (
            fault.start_ms - base if fault is not None and pools.faulted is not None else math.inf
        )
        picks = [
            (
                (published_faulted if offset >= fault_cut else published)
                if offset >= pub_cut
                else (faulted if offset >= fault_cut else pool)
            )[i]
            for offset, i in zip(offsets, indices, strict=True)
        ]
    if fault is not None and fault.kind == "fail":
        records = _failing(org, flow, base, fault.start_ms - base, offsets, picks)
    else:
        records = [
            (offset << AT_SHIFT) + rec
            for offset, (_, template) in zip(offsets, picks, strict=True)
            for rec in template
        ]
    records.sort()
    spans = [
        (offset << SPAN_SHIFT) | duration
        for offset, (duration, _) in zip(offsets, picks, strict=True)
    ]
    # Arrays hold a flow-minute in a fifth of the memory of lists of ints.
    return Minute(base, array("q", records), array("q", spans))


def _failing(
    org: Org, flow: Flow, base: int, cut: int, offsets: list[int], picks: list[Template]
) -> list[int]:
    """The records of a minute's executions with every outcome completing at or after `cut`
    (ms after the minute's start) turned to FAILURE, and self-service judged again."""
    failing = {o.keys[0]: o.keys[1] for o in flow.outcomes}
    failing.update({s + org.version_offset: f + org.version_offset for s, f in failing.items()})
    records: list[int] = []
    for offset, (duration, template) in zip(offsets, picks, strict=True):
        if offset + duration < cut:
            records.extend((offset << AT_SHIFT) + rec for rec in template)
            continue
        recs = list(template)
        changed = False
        for n, rec in enumerate(recs):
            key = (rec >> KEY_SHIFT) & KEY_MASK
            if key in failing and offset + (rec >> AT_SHIFT) >= cut:
                recs[n] = rec + ((failing[key] - key) << KEY_SHIFT)
                changed = True
        if changed:
            recs = _refit(org, recs)
        records.extend((offset << AT_SHIFT) + rec for rec in recs)
    return records


def conversation_ids(seed: int, flow: Flow, minute: int, nth: int) -> tuple[str, str]:
    """Stable (conversationId, sessionId) of the nth execution starting in a flow-minute."""
    digest = hashlib.blake2b(f"{seed}:{flow.index}:{minute}:{nth}".encode(), digest_size=32)
    raw = digest.digest()
    return (
        str(uuid.UUID(bytes=raw[:16], version=4)),
        str(uuid.UUID(bytes=raw[16:], version=4)),
    )


class Activity:
    """Executions of an org, generated on demand and cached per flow-minute."""

    def __init__(self, org: Org, cache_minutes: int | None = None) -> None:
        self.org = org
        # Enough for a sliding hour (plus lookback) of every flow: a poller re-asking for the
        # last hour then generates only the newest minutes.
        size = cache_minutes or max(8192, 100 * len(org.flows))
        # Keyed by the fault and the publish that change the minute (None when none does): a
        # changed minute and the same minute unchanged are different data.
        self._cache: LRU[tuple[int, int, FlowFault | None, Publish | None], Minute] = LRU(size)
        # By (flow index, pool): 0 the flow's version, 1 the published one, 2 a worse one.
        self._templates: dict[tuple[int, int], tuple[Template, ...]] = {}
        self._faulted: dict[tuple[int, str, float, int], tuple[Template, ...] | None] = {}
        self._faults: dict[int, FlowFault] = {}  # by flow index
        self._publishes: dict[int, Publish] = {}  # by flow index

    def set_fault(self, flow: Flow, fault: FlowFault | None) -> None:
        """Break `flow` as `fault` says from its moment on, or (None) mend it."""
        if fault is None:
            self._faults.pop(flow.index, None)
        else:
            self._faults[flow.index] = fault

    def fault(self, flow: Flow) -> FlowFault | None:
        return self._faults.get(flow.index)

    def faults(self) -> dict[int, FlowFault]:
        """Flow index -> its fault."""
        return dict(self._faults)

    def set_publish(self, flow: Flow, publish: Publish | None) -> None:
        """Publish `flow`'s next version from the moment of `publish`, or (None) undo it."""
        if publish is None:
            self._publishes.pop(flow.index, None)
        else:
            self._publishes[flow.index] = publish

    def publish(self, flow: Flow) -> Publish | None:
        return self._publishes.get(flow.index)

    def publishes(self) -> dict[int, Publish]:
        """Flow index -> its publish."""
        return dict(self._publishes)

    def _pool(self, flow: Flow, which: int = 0) -> tuple[Template, ...]:
        pool = self._templates.get((flow.index, which))
        if pool is None:
            pool = self._templates[flow.index, which] = templates(
                self.org, flow, version=min(which, 1), worse=which == 2
            )
        return pool

    def _faulted_pool(
        self, flow: Flow, which: int, fault: FlowFault
    ) -> tuple[Template, ...] | None:
        variant = (flow.index, fault.kind, fault.factor, which)
        if variant not in self._faulted:
            pool = self._pool(flow, which)
            self._faulted[variant] = faulted_templates(self.org, flow, pool, fault)
        return self._faulted[variant]

    def minute(self, flow: Flow, minute: int) -> Minute:
        fault = self._faults.get(flow.index)
        if fault is not None and minute < first_changed_minute(fault, LOOKBACK_MINUTES):
            fault = None
        publish = self._publishes.get(flow.index)
        if publish is not None and minute < publish.start_ms // MINUTE_MS:
            publish = None
        key = (flow.index, minute, fault, publish)
        got = self._cache.get(key)
        if got is None:
            pools = Pools(self._pool(flow))
            which = 2 if publish is not None and publish.worse else 1
            if fault is not None:
                pools = Pools(pools.normal, self._faulted_pool(flow, 0, fault))
            if publish is not None:
                pools = Pools(
                    pools.normal,
                    pools.faulted,
                    self._pool(flow, which),
                    self._faulted_pool(flow, which, fault) if fault is not None else None,
                )
            got = generate(self.org, flow, minute, pools, fault, publish)
            self._cache.put(key, got)
        return got

    def records(self, flow: Flow, lo: int, hi: int) -> Iterator[array[int]]:
        """Slices of the encoded records of `flow` stamped in [lo, hi) ms."""
        first = lo // MINUTE_MS - LOOKBACK_MINUTES
        last = (hi - 1) // MINUTE_MS
        for minute in range(first, last + 1):
            data = self.minute(flow, minute)
            recs = data.records
            i = bisect_left(recs, max(0, lo - data.base) << AT_SHIFT) if lo > data.base else 0
            j = bisect_left(recs, (hi - data.base) << AT_SHIFT)
            if i < j:
                yield recs[i:j]

    def active(self, flow: Flow, now: int) -> list[tuple[int, int, int]]:
        """(start_ms, minute, nth) of the executions of `flow` running at `now` ms."""
        out = []
        last = now // MINUTE_MS
        for minute in range(last - LOOKBACK_MINUTES, last + 1):
            data = self.minute(flow, minute)
            for nth, span in enumerate(data.spans):
                start = data.base + (span >> SPAN_SHIFT)
                if start <= now < start + (span & VALUE_MASK):
                    out.append((start, minute, nth))
        out.sort()
        return out
