"""Answers flow aggregate and observation queries from the synthetic org's executions.

How metrics are emitted (one record per fact, stamped with when it happened):

- `nFlow` counts executions that *started* in a bucket.
- `tFlow` (ms) lands in the bucket where the execution *ends*, together with `tFlowDisconnect`
  (ended by a disconnect) or `tFlowExit` (exited or transferred out of the flow).
- `nFlowOutcome`, `tFlowOutcome` (ms, from the outcome's start to its end) and, for a FAILURE
  value, `nFlowOutcomeFailed` land where the outcome *completes*.
- `nFlowMilestone` counts every time a milestone is reached (it can repeat in one execution).
- `oFlowMilestone` lands at the execution's end, once per milestone reached, with the number
  of times it was reached in that execution as the value: `count` executions, `sum`
  occurrences, `min`/`max` per execution.
- Nothing that happens after "now" (the injected clock) exists yet, and aggregates see a
  metric only `lag` after its moment (Genesys' indexing lag, a few seconds by default), so a
  closed bucket keeps growing for a while: with its entries for `lag`, with the durations of
  executions that started in it until they end (up to 20 minutes later, in a later bucket).
  Executions still running are seen by observations only, without lag. `truth` answers as
  if everything had become visible: the total a bucket ends with.

Dimensions (the rule: a metric carries what is known when it is emitted; Genesys does not
document which metric carries which dimension, so this placement is assumed):

- Every metric carries the flow's `flowId`, `flowName`, `flowType`, `mediaType`, `divisionId`
  and `flowVersion`: the version the execution ran, which a publish (`publishing`) changes for
  executions that start after its moment; earlier ones keep the old version to their end.
- The metrics emitted at the end (`tFlow`, `tFlowDisconnect`, `tFlowExit`, `oFlowMilestone`)
  also carry `exitReason`, `disconnectType`, `selfServed` ("true"/"false" on every
  execution), `transferType` and `transferTargetName` (only when it ended by TRANSFER), and
  `recognitionFailureReason` (only when its speech, DTMF or NLU recognition failed).
- The outcome metrics also carry `flowOutcomeId`, `flowOutcome` and `flowOutcomeValue`;
  `nFlowMilestone` carries `flowMilestoneId`, and so does `oFlowMilestone`.
- `nFlow` carries only the flow-level ones.

So a metric grouped by a dimension it does not carry (`nFlow` by `selfServed`, `tFlow` by an
outcome dimension) comes back in a group *without* that key, and so do the executions without
it (`tFlowExit` by `transferType` for the EXIT ends); a filter on such a dimension matches none
of those records (`notExists` matches all of them). Any other catalog dimension is absent on
every record in the same way. No dimension is multi-valued here, so
`flattenMultivaluedDimensions` changes nothing, and neither does `alternateTimeDimension`.

Shapes: groups and buckets without data are omitted, never zero-filled; a response without
any group is `{}`, and a group of an empty `groupBy` has no `group` key. Count metrics carry
`{"count"}`, timers and `oFlowMilestone` `{"max", "min", "count", "sum"}`. Views are
computed from the executions themselves, per bucket, on the view's target metric.

Speed: an interval is laid out as UTC-aligned blocks of 5 min, 15 min, 1 h, 6 h and 1 day,
largest first, and an unaligned rest summed from the cached flow-minutes of `activity`. Per
flow, the blocks a query asks for are cached, as they lie wholly in the past; one that is not
cached yet is the sum of its cached sub-blocks (those earlier queries asked for: a growing
window builds its next hour from its quarter hours) and one sweep over its other flow-minutes.
Only asked-for blocks are kept, a few per query, so a day of 5-minute blocks times many views
is never held. Traffic repeats weekly (see `activity`), so a block is cached under its place
in the week: a month or a year costs at most about a week of generated executions per flow,
once. A flow fault's or publish's blocks are the exception: from its moment on they are keyed
by their absolute place, the fault and the publish (`_slot`). Each level has its own cache, so
the many small blocks of one long query cannot evict the day blocks that answer the next one.
Views are blocks too, over the records whose value lies in the view's range; a sweep reduces
each record once however many views there are.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import structlog

from poller.simulator.activity import (
    AT_SHIFT,
    KEY_MASK,
    KEY_SHIFT,
    LOOKBACK_MINUTES,
    LRU,
    MINUTE_MS,
    PERIOD_MINUTES,
    VALUE_MASK,
    Activity,
    conversation_ids,
)
from poller.simulator.flowfaults import FlowFault
from poller.simulator.org import Flow, Kind, Org, RecordKey
from poller.simulator.publishing import Publish
from poller.simulator.query import AggregateQuery, Filter, ObservationQuery
from poller.simulator.timeparse import format_interval, format_ms

Stat = list[int]  # [count, sum, min, max]
Block = dict[int, Stat]  # record key -> stat
Group = tuple[tuple[str, str], ...]
# Which records a block sums: all (None), or those whose value lies in [gte, lt) for a view.
Select = tuple[float | None, float | None] | None
# A cached block's key: (flow index, block index or its place in the week, select, fault,
# publish).
Slot = tuple[int, int, Select, FlowFault | None, Publish | None]
# A flow's plan for a query: record key -> (its group, the requested metrics it feeds), cached
# by (flow index, group_by, filter, metrics, whether the flow has a publish).
Plan = dict[int, tuple["Group", tuple[str, ...]]]
PlanKey = tuple[int, tuple[str, ...], "Filter | None", frozenset[str], bool]

log = structlog.get_logger("poller.simulator")

LEVELS_MS: tuple[int, ...] = tuple(m * MINUTE_MS for m in (5, 15, 60, 360, 1440))
BASE_MS = LEVELS_MS[0]
# Blocks per week at each level: a block's cache slot is its index modulo this.
PER_PERIOD: tuple[int, ...] = tuple(PERIOD_MINUTES * MINUTE_MS // size for size in LEVELS_MS)
COUNT_METRICS = frozenset({"nFlow", "nFlowOutcome", "nFlowOutcomeFailed", "nFlowMilestone"})
OBSERVATION_DETAIL_LIMIT = 100  # per group; beyond it the oldest and newest halves are kept


def metrics_fed(key: RecordKey) -> tuple[str, ...]:
    """The metrics a record of this key contributes to."""
    if key.kind is Kind.START:
        return ("nFlow",)
    if key.kind is Kind.END:
        assert key.end is not None
        return ("tFlow", "tFlowDisconnect" if key.end.disconnect else "tFlowExit")
    if key.kind is Kind.OUTCOME:
        failed = ("nFlowOutcomeFailed",) if key.failed else ()
        return ("nFlowOutcome", "tFlowOutcome", *failed)
    if key.kind is Kind.MILESTONE:
        return ("nFlowMilestone",)
    return ("oFlowMilestone",)


def _pieces(lo: int, hi: int) -> Iterator[tuple[int | None, int, int]]:
    """[lo, hi) as aligned blocks `(level, index, 0)`, greedily largest first, and the unaligned
    rest as raw ranges `(None, start, end)`."""
    pos = lo
    while pos < hi:
        for level in range(len(LEVELS_MS) - 1, -1, -1):
            size = LEVELS_MS[level]
            if pos % size == 0 and pos + size <= hi:
                yield level, pos // size, 0
                pos += size
                break
        else:
            stop = min(hi, (pos // BASE_MS + 1) * BASE_MS)
            yield None, pos, stop
            pos = stop


def _runs(indices: list[int]) -> Iterator[tuple[int, int]]:
    """Consecutive runs (first, last) of sorted-or-not block indices."""
    ordered = sorted(set(indices))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        yield ordered[i], ordered[j]
        i = j + 1


def _selected(chunks: Iterable[Sequence[int]], select: Select) -> Iterable[Sequence[int]]:
    if select is None:
        return chunks
    low = -math.inf if select[0] is None else select[0]
    high = math.inf if select[1] is None else select[1]
    return ([r for r in chunk if low <= (r & VALUE_MASK) < high] for chunk in chunks)


def _reduce(out: Block, chunks: Iterable[Sequence[int]], select: Select = None) -> None:
    for chunk in _selected(chunks, select):
        for rec in chunk:
            key = (rec >> KEY_SHIFT) & KEY_MASK
            value = rec & VALUE_MASK
            stat = out.get(key)
            if stat is None:
                out[key] = [1, value, value, value]
            else:
                stat[0] += 1
                stat[1] += value
                if value < stat[2]:
                    stat[2] = value
                elif value > stat[3]:
                    stat[3] = value


def _cells(select: Select, edges: list[float]) -> frozenset[int]:
    """The cells of `edges` (cell i is [edges[i-1], edges[i]), unbounded at the ends) whose
    values `select` keeps: its bounds are edges, so it keeps each cell wholly or not at all."""
    if select is None:
        return frozenset(range(len(edges) + 1))
    gte, lt = select
    low = 0 if gte is None else bisect_right(edges, gte)
    high = len(edges) if lt is None else bisect_left(edges, lt)
    return frozenset(range(low, high + 1))


def _reduce_cells(
    out: dict[int, Stat], chunk: Sequence[int], edges: list[float], cells: int
) -> None:
    """`_reduce` keyed by record key * cells + the cell of `edges` the value lies in."""
    for rec in chunk:
        value = rec & VALUE_MASK
        key = ((rec >> KEY_SHIFT) & KEY_MASK) * cells + (bisect_right(edges, value) if edges else 0)
        stat = out.get(key)
        if stat is None:
            out[key] = [1, value, value, value]
        else:
            stat[0] += 1
            stat[1] += value
            if value < stat[2]:
                stat[2] = value
            elif value > stat[3]:
                stat[3] = value


def _merge(out: Block | dict[Any, Stat], key: Any, src: Stat) -> None:
    stat = out.get(key)
    if stat is None:
        out[key] = src.copy()
    else:
        stat[0] += src[0]
        stat[1] += src[1]
        if src[2] < stat[2]:
            stat[2] = src[2]
        if src[3] > stat[3]:
            stat[3] = src[3]


class _Dims(Mapping[str, str]):
    """A record's dimensions: its key's own over the flow's, read without merging them."""

    __slots__ = ("_flow", "_key")

    def __init__(self, key: dict[str, str], flow: dict[str, str]) -> None:
        self._key = key
        self._flow = flow

    def __getitem__(self, name: str) -> str:
        got = self._key.get(name)
        return self._flow[name] if got is None else got

    def get(self, name: str, default: Any = None) -> Any:
        got = self._key.get(name)
        return self._flow.get(name, default) if got is None else got

    def __iter__(self) -> Iterator[str]:
        return iter({**self._flow, **self._key})

    def __len__(self) -> int:
        return len({**self._flow, **self._key})


def _stats(metric: str, stat: Stat) -> dict[str, int]:
    if metric in COUNT_METRICS:
        return {"count": stat[0]}
    return {"max": stat[3], "min": stat[2], "count": stat[0], "sum": stat[1]}


class Engine:
    """Query answering over one org; caches are bounded, so memory stays flat."""

    def __init__(
        self,
        org: Org,
        activity: Activity | None = None,
        blocks: int = 30_000,
        lag_ms: int = 0,
        client_id: str | None = None,
    ) -> None:
        self.org = org
        self.client_id = client_id  # whose org, for the log
        # Held by every answer and by set_flow_fault: a fault set from another thread while a
        # query runs could otherwise cache a block computed without it under its key.
        self._lock = threading.RLock()
        self.lag_ms = lag_ms
        self.activity = activity or Activity(org)
        self._blocks: list[LRU[Slot, Block]] = [LRU(blocks) for _ in LEVELS_MS]
        self._fed = [metrics_fed(k) for k in org.keys]
        # A flow has hundreds of record keys; a poller asks the same few queries again.
        self._plans: LRU[PlanKey, Plan] = LRU(2048)
        self._key_dims = [dict(k.dims) for k in org.keys]

    def cached_blocks(self) -> int:
        return sum(len(level) for level in self._blocks)

    # -- flow faults ----------------------------------------------------------------------

    def _flow(self, flow_id: str) -> Flow:
        flow = self.org.by_id.get(flow_id)
        if flow is None:
            raise KeyError(f"no simulated flow has id {flow_id!r}")
        return flow

    def set_flow_fault(self, flow_id: str, fault: FlowFault | None) -> None:
        """Break the flow with id `flow_id` as `fault` says from its moment on (replacing any
        fault it had), or (None) mend it; KeyError for an unknown flow.

        Aggregates, truth and observations all follow: the caches key faulted data apart
        (see `_slot` and `Activity.minute`), so nothing cached before is answered wrongly.
        """
        flow = self._flow(flow_id)
        with self._lock:
            previous = self.activity.fault(flow)
            self.activity.set_fault(flow, fault)
        if fault is not None:
            log.info(
                "simulator.flow_fault",
                client_id=self.client_id,
                flow_id=flow.id,
                flow_name=flow.name,
                fault=fault.kind,
                at=format_ms(fault.start_ms),
                **({"factor": fault.factor} if fault.kind == "slow" else {}),
            )
        elif previous is not None:
            log.info(
                "simulator.flow_fault_cleared",
                client_id=self.client_id,
                flow_id=flow.id,
                flow_name=flow.name,
                fault=previous.kind,
            )

    def set_publish(self, flow_id: str, publish: Publish | None) -> None:
        """Publish the next version of the flow with id `flow_id` from the moment of `publish`
        (replacing an earlier publish), or (None) undo it; KeyError for an unknown flow.
        Like a fault, it changes only what happens from its moment on."""
        flow = self._flow(flow_id)
        with self._lock:
            previous = self.activity.publish(flow)
            self.activity.set_publish(flow, publish)
        if publish is not None:
            log.info(
                "simulator.flow_published",
                client_id=self.client_id,
                flow_id=flow.id,
                flow_name=flow.name,
                version=flow.next_version,
                worse=publish.worse,
                at=format_ms(publish.start_ms),
            )
        elif previous is not None:
            log.info(
                "simulator.flow_publish_undone",
                client_id=self.client_id,
                flow_id=flow.id,
                flow_name=flow.name,
                version=flow.version,
            )

    def publishes(self) -> dict[str, Publish]:
        """Flow id -> its publish, for the flows that have one."""
        flows = self.org.flows
        return {flows[i].id: p for i, p in sorted(self.activity.publishes().items())}

    def published_versions(self, now_ms: int) -> dict[str, str]:
        """Flow id -> the version published at `now_ms`: the next one from a publish's
        moment on, the flow's own before."""
        with self._lock:
            return {
                flow.id: flow.next_version
                if (p := self.activity.publish(flow)) is not None and now_ms >= p.start_ms
                else flow.version
                for flow in self.org.flows
            }

    def flow_faults(self) -> dict[str, FlowFault]:
        """Flow id -> its fault, for the flows that have one."""
        flows = self.org.flows
        return {flows[index].id: fault for index, fault in sorted(self.activity.faults().items())}

    # -- stats per flow -------------------------------------------------------------------

    def _slot(self, flow: Flow, level: int, index: int, select: Select) -> Slot:
        # A fault or a publish changes only records stamped at or after its moment, so a block
        # that ends by then is normal traffic and shares its place in the week. One that does
        # not is this week's alone: keyed by its absolute index, the fault and the publish, it
        # is never answered for another week or without them, nor the other way round.
        end = (index + 1) * LEVELS_MS[level]
        fault = self.activity.fault(flow)
        if fault is not None and end <= fault.start_ms:
            fault = None
        publish = self.activity.publish(flow)
        if publish is not None and end <= publish.start_ms:
            publish = None
        if fault is None and publish is None:
            return flow.index, index % PER_PERIOD[level], select, None, None
        return flow.index, index, select, fault, publish

    def _cached(
        self, flow: Flow, level: int, index: int, selects: Sequence[Select]
    ) -> list[Block] | None:
        """The cached block of each of `selects`, or None unless all of them are cached."""
        cache = self._blocks[level]
        out = []
        for select in selects:
            block = cache.get(self._slot(flow, level, index, select))
            if block is None:
                return None
            out.append(block)
        return out

    def _collect(
        self,
        flow: Flow,
        level: int,
        index: int,
        selects: Sequence[Select],
        found: list[list[Block]],
        bases: list[int],
    ) -> None:
        """Cover (level, index) with its largest cached descendants (into `found`) and the
        base blocks that no cached block covers (into `bases`)."""
        cached = self._cached(flow, level, index, selects)
        if cached is not None:
            found.append(cached)
        elif level == 0:
            bases.append(index)
        else:
            per = LEVELS_MS[level] // LEVELS_MS[level - 1]
            for child in range(index * per, index * per + per):
                self._collect(flow, level - 1, child, selects, found, bases)

    def _piece(self, flow: Flow, level: int, index: int, selects: Sequence[Select]) -> list[Block]:
        """The block of each of `selects` at (level, index), from the cache or built and cached.

        Only the blocks a query asks for directly are cached: a growing or sliding window asks
        for them again, and builds its next larger block from them. A missing block is the
        sum of its cached descendants and one sweep over the rest, straight into it: a day of
        base blocks times many views is never built, held or pushed through the cache.
        """
        cache = self._blocks[level]
        slots = [self._slot(flow, level, index, select) for select in selects]
        blocks = [cache.get(slot) for slot in slots]
        missing = [select for select, block in zip(selects, blocks, strict=True) if block is None]
        if not missing:
            return [block for block in blocks if block is not None]
        found: list[list[Block]] = []
        bases: list[int] = []
        self._collect(flow, level, index, missing, found, bases)
        built = self._sweep(flow, bases, missing)
        for parts in found:
            for target, part in zip(built, parts, strict=True):
                for key, stat in part.items():
                    _merge(target, key, stat)
        fresh = iter(built)
        out = []
        for slot, block in zip(slots, blocks, strict=True):
            if block is None:
                block = next(fresh)
                cache.put(slot, block)
            out.append(block)
        return out

    def _sweep(self, flow: Flow, bases: list[int], selects: Sequence[Select]) -> list[Block]:
        """For each of `selects`, one block of the records stamped in the base blocks `bases`,
        in one pass over their flow-minutes per run of consecutive bases.

        Going block by block would visit every flow-minute five times: records land up to
        20 minutes after their execution starts. Each record is reduced once, under its key
        and the cell of `edges` its value lies in; a select's block is then the merge of the
        cells it keeps, not one pass per select.
        """
        edges = sorted({e for select in selects if select for e in select if e is not None})
        cells = len(edges) + 1
        swept: dict[int, Stat] = {}
        per_base = BASE_MS // MINUTE_MS
        for first, last in _runs(bases):
            for minute in range(first * per_base - LOOKBACK_MINUTES, (last + 1) * per_base):
                data = self.activity.minute(flow, minute)
                recs = data.records
                if not recs:
                    continue
                base = data.base
                start = max(first * BASE_MS - base, 0)
                stop = (last + 1) * BASE_MS - base
                a = bisect_left(recs, start << AT_SHIFT) if start > 0 else 0
                b = bisect_left(recs, stop << AT_SHIFT)
                if a < b:
                    _reduce_cells(swept, recs[a:b], edges, cells)
        blocks: list[Block] = [{} for _ in selects]
        spans = [_cells(select, edges) for select in selects]
        for cell_key, stat in swept.items():
            key, cell = divmod(cell_key, cells)
            for block, span in zip(blocks, spans, strict=True):
                if cell in span:
                    _merge(block, key, stat)
        return blocks

    def flow_stats(
        self, flow: Flow, lo: int, hi: int, now: int, selects: Sequence[Select] = (None,)
    ) -> list[Block]:
        """For each of `selects`: per record key, the stats of `flow`'s records stamped in
        [lo, hi) and not after now, of those whose value the select keeps."""
        hi = min(hi, now + 1)
        outs: list[Block] = [{} for _ in selects]
        for level, a, b in _pieces(lo, hi):
            if level is None:
                chunks = list(self.activity.records(flow, a, b))
                for select, out in zip(selects, outs, strict=True):
                    _reduce(out, chunks, select)
                continue
            # A block wholly before `now` never changes again, so it is cached.
            for out, block in zip(outs, self._piece(flow, level, a, selects), strict=True):
                for key, stat in block.items():
                    _merge(out, key, stat)
        return outs

    # -- aggregates -----------------------------------------------------------------------

    def _plan(self, flow: Flow, query: AggregateQuery, wanted: Iterable[str]) -> Plan:
        """Record key -> (its group, the requested metrics it feeds), for keys the filter keeps;
        the published version's keys only while the flow has a publish."""
        wanted = frozenset(wanted)
        published = self.activity.publish(flow) is not None
        cache_key = (flow.index, query.group_by, query.filter, wanted, published)
        plan = self._plans.get(cache_key)
        if plan is not None:
            return plan
        plan = {}
        own = dict(flow.dims)
        versioned = {**own, "flowVersion": flow.next_version}
        groups: dict[Group, Group] = {}  # one tuple per distinct group: plans stay small
        keys = self.org.keys
        for key in self.org.flow_keys(flow, published):
            fed = tuple(m for m in self._fed[key] if m in wanted)
            if not fed:
                continue
            dims = _Dims(self._key_dims[key], versioned if keys[key].version else own)
            if query.filter is not None and not query.filter.test(dims):
                continue
            group = tuple((d, v) for d in query.group_by if (v := dims.get(d)) is not None)
            plan[key] = (groups.setdefault(group, group), fed)
        self._plans.put(cache_key, plan)
        return plan

    def truth(self, query: AggregateQuery) -> dict[str, Any]:
        """The ground truth for a validated query: its answer once every metric of its
        interval is visible (its final totals), whatever the clock says."""
        return self._aggregate(query, query.bounds[-1])

    def aggregate(
        self, query: AggregateQuery, now: int, flow_ids: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """The `FlowAggregateQueryResponse` body for a validated query at `now` (epoch ms):
        what became visible by then, `lag_ms` after it happened. With `flow_ids`, only those
        flows' records count (the push publisher's topics; unknown ids are skipped): the same
        answer as a `flowId` filter, without planning every other flow."""
        return self._aggregate(query, now - self.lag_ms, flow_ids)

    def _aggregate(
        self, query: AggregateQuery, now: int, flow_ids: Iterable[str] | None = None
    ) -> dict[str, Any]:
        with self._lock:
            return self._aggregate_locked(query, now, flow_ids)

    def _aggregate_locked(
        self, query: AggregateQuery, now: int, flow_ids: Iterable[str] | None
    ) -> dict[str, Any]:
        metrics_out: dict[Group, dict[int, dict[str, Stat]]] = {}
        views_out: dict[Group, dict[int, dict[str, Stat]]] = {}
        bounds = query.bounds
        targets = {v.target for v in query.views}
        by_id = self.org.by_id
        flows = (
            self.org.flows
            if flow_ids is None
            else [f for i in flow_ids if (f := by_id.get(i)) is not None]
        )
        for flow in flows:
            plan = self._plan(flow, query, query.metrics)
            view_plan = self._plan(flow, query, targets) if targets else {}
            if not plan and not view_plan:
                continue
            # Plain records for the metrics, then one select per distinct view range.
            ranges = list(dict.fromkeys((v.gte, v.lt) for v in query.views)) if view_plan else []
            selects: list[Select] = [None, *ranges] if plan else [*ranges]
            for b in range(len(bounds) - 1):
                lo, hi = bounds[b], bounds[b + 1]
                if lo > now:
                    break
                stats = dict(zip(selects, self.flow_stats(flow, lo, hi, now, selects), strict=True))
                if plan:
                    for key, stat in stats[None].items():
                        entry = plan.get(key)
                        if entry is None:
                            continue
                        group, fed = entry
                        bucket = metrics_out.setdefault(group, {}).setdefault(b, {})
                        for metric in fed:
                            _merge(bucket, metric, stat)
                for view in query.views if view_plan else ():
                    for key, stat in stats[(view.gte, view.lt)].items():
                        entry = view_plan.get(key)
                        if entry is None or view.target not in entry[1]:
                            continue
                        cell = views_out.setdefault(entry[0], {}).setdefault(b, {})
                        _merge(cell, view.name, stat)
        return self._render(query, metrics_out, views_out)

    @staticmethod
    def _render(
        query: AggregateQuery,
        metrics_out: dict[Group, dict[int, dict[str, Stat]]],
        views_out: dict[Group, dict[int, dict[str, Stat]]],
    ) -> dict[str, Any]:
        results = []
        for group in sorted(metrics_out.keys() | views_out.keys()):
            by_bucket = metrics_out.get(group, {})
            view_buckets = views_out.get(group, {})
            data = []
            for b in sorted(by_bucket.keys() | view_buckets.keys()):
                item: dict[str, Any] = {
                    "interval": format_interval(query.bounds[b], query.bounds[b + 1])
                }
                cells = by_bucket.get(b, {})
                metrics = [
                    {"metric": m, "stats": _stats(m, cells[m])} for m in query.metrics if m in cells
                ]
                if metrics:
                    item["metrics"] = metrics
                view_cells = view_buckets.get(b, {})
                views = [
                    {"name": v.name, "stats": _stats(v.target, view_cells[v.name])}
                    for v in query.views
                    if v.name in view_cells
                ]
                if views:
                    item["views"] = views
                data.append(item)
            result: dict[str, Any] = {"group": dict(group)} if group else {}
            result["data"] = data
            results.append(result)
        return {"results": results} if results else {}

    # -- observations ---------------------------------------------------------------------

    def observe(self, query: ObservationQuery, now: int) -> dict[str, Any]:
        """The `FlowObservationQueryResponse` body: executions running at `now` (epoch ms)."""
        with self._lock:
            return self._observe_locked(query, now)

    def _observe_locked(self, query: ObservationQuery, now: int) -> dict[str, Any]:
        results = []
        for flow in sorted(self.org.flows, key=lambda f: f.id):
            group = {"flowId": flow.id, "mediaType": flow.media_type}
            if not query.filter.test(group):
                continue
            active = self.activity.active(flow, now)
            if not active:
                continue
            entry: dict[str, Any] = {
                "metric": "oFlow",
                "stats": {"count": len(active)},
                "truncated": False,
            }
            if query.details:
                if len(active) > OBSERVATION_DETAIL_LIMIT:
                    half = OBSERVATION_DETAIL_LIMIT // 2
                    active = active[:half] + active[-half:]
                    entry["truncated"] = True
                entry["observations"] = [self._observation(flow, *a) for a in active]
            results.append({"group": group, "data": [entry]})
        return {"results": results} if results else {}

    def _observation(self, flow: Flow, start: int, minute: int, nth: int) -> dict[str, Any]:
        conversation, session = conversation_ids(self.org.seed, flow, minute, nth)
        item: dict[str, Any] = {
            "observationDate": format_ms(start),
            "conversationId": conversation,
            "sessionId": session,
            "direction": "inbound",
        }
        if flow.media_type == "voice":
            item["ani"] = f"tel:+1555{int(conversation[:8], 16) % 10_000_000:07d}"
            item["dnis"] = f"tel:+1800555{flow.index % 10_000:04d}"
        return item
