"""Flow executions, generated from (seed, flow, minute) and cached per flow-minute.

Each minute of each flow has its own random generator, so any interval can be answered in any
order and gets the same executions every time. The load follows a daily curve in UTC with a
floor: about one execution per flow per minute at night, 10-20 at the early-afternoon peak.

Traffic repeats weekly: the generator of a flow-minute is seeded by its minute of the week, so
a week-old minute has the same executions as this week's (conversation ids still differ). That
is what lets the engine answer a month or a year from at most a week of generated data.

A minute is kept as *records* (see `org.Kind`), each `(at_ms, record key, value)` packed into
one int and sorted by time, plus the span of each execution for observations. Records of executions
that start in a minute can land up to 20 minutes later (`org.MAX_DURATION_MS`).
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

from poller.simulator.org import MAX_DURATION_MS, Flow, Org, mix

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
AT_SHIFT = 33
VALUE_MASK = (1 << KEY_SHIFT) - 1
KEY_MASK = (1 << (AT_SHIFT - KEY_SHIFT)) - 1
SPAN_SHIFT = 21  # spans: (ms since the start-minute << SPAN_SHIFT) | duration


def encode(at: int, key: int, value: int) -> int:
    return (at << AT_SHIFT) | (key << KEY_SHIFT) | value


def _load_shape() -> tuple[float, ...]:
    """0 at night, 1 at the peak (14:00 UTC), per minute of the UTC day."""
    out = []
    for minute in range(24 * 60):
        hours = minute / 60.0
        x = math.sin(math.pi * (hours - 6.0) / 16.0) if 6.0 <= hours <= 22.0 else 0.0
        out.append(x * x)
    return tuple(out)


LOAD_SHAPE = _load_shape()

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
    """Expected executions of `flow` starting in epoch minute `minute`."""
    return flow.floor + (flow.peak - flow.floor) * LOAD_SHAPE[minute % len(LOAD_SHAPE)]


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method: exact, deterministic, and cheap for the rates used here (< 25).
    limit = math.exp(-lam)
    k = 0
    p = rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


# (duration_ms, encoded records relative to the start); arrays keep big orgs' pools compact.
Template = tuple[int, "array[int]"]


def templates(org: Org, flow: Flow, count: int = TEMPLATES_PER_FLOW) -> tuple[Template, ...]:
    """Executions of `flow` relative to their start, drawn from the flow's distributions.

    Minutes pick from these instead of drawing every detail afresh: three times faster, and
    with a few hundred per flow nobody sees the repeats in sums, minima or maxima.
    """
    assert len(org.keys) <= KEY_MASK
    rng = random.Random(mix(org.seed, 0x7E, flow.index))
    r = rng.random
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
        records = [encode(0, org.start_key, 0), encode(duration, flow.end_keys[ending], duration)]
        for outcome in flow.outcomes:
            if r() < outcome.reach:
                begun = int(duration * 0.6 * r())
                done = begun + int((duration - begun) * r())
                key = outcome.keys[r() < outcome.failure]
                records.append(encode(done, key, done - begun))
        for milestone in flow.milestones:
            if r() < milestone.reach:
                times = 1
                while times < MAX_MILESTONE_REPEATS and r() < MILESTONE_REPEAT:
                    times += 1
                records.extend(encode(int(duration * r()), milestone.key, 0) for _ in range(times))
                records.append(encode(duration, milestone.total_keys[ending], times))
        out.append((duration, array("q", records)))
    return tuple(out)


def generate(org: Org, flow: Flow, minute: int, pool: tuple[Template, ...]) -> Minute:
    """The executions of `flow` that start in epoch minute `minute`, as records."""
    rng = random.Random(mix(org.seed, flow.index, minute % PERIOD_MINUTES + (1 << 40)))
    r = rng.random
    count = _poisson(rng, rate(flow, minute))
    size = len(pool)
    offsets = [int(r() * MINUTE_MS) for _ in range(count)]
    picks = [pool[int(r() * size)] for _ in range(count)]
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
    return Minute(minute * MINUTE_MS, array("q", records), array("q", spans))


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
        self._cache: LRU[tuple[int, int], Minute] = LRU(size)
        self._templates: dict[int, tuple[Template, ...]] = {}

    def minute(self, flow: Flow, minute: int) -> Minute:
        key = (flow.index, minute)
        got = self._cache.get(key)
        if got is None:
            pool = self._templates.get(flow.index)
            if pool is None:
                pool = self._templates[flow.index] = templates(self.org, flow)
            got = generate(self.org, flow, minute, pool)
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
