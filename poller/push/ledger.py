"""A push-fed query's figures per interval, raised by polls and by push messages, never lowered.
Pure: no I/O, no clock.

Whether a topic message carries its interval's running total or the change since the message
before is not documented (shared/genesys-api.md §11). The ledger is right either way: it keeps,
per interval, series and statistic, the largest value anything has reported, and a series'
figure is the sum of its intervals. A running total raises the value at once; a delta is smaller
than what the interval already holds and changes nothing; the next poll's exact figure wins when
larger. Within a period, a figure never decreases.

Messages come per topic group ({flowId, mediaType} or {flowId, flowOutcomeId, mediaType}); a
query's series may sum several (a query grouped by flowId alone sums the media types), so each
topic group's figures are kept apart and summed into the series they belong to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from poller.errors import NormalizeError
from poller.push.feeding import PushFeed, TopicKind
from poller.responses import (
    AggregateResponse,
    AggregateResult,
    Bucket,
    GroupValue,
    MetricEntry,
    Stats,
    ViewEntry,
)

Group = tuple[tuple[str, str], ...]  # dimension -> value, sorted by dimension
# What a figure is of: ("metric", name, qualifier) or ("view", name, "").
Key = tuple[str, str, str]
Names = Mapping[str, tuple[str, str]]  # flow id -> (name, type), from the names listing

# How far a poll's count may run ahead of push's for the two to be in step: push trails by
# the data of the last second or two (messages come at most once a second, and the poll was
# answered after the last one), so by what the interval's rate brings in IN_STEP_SECONDS, or
# IN_STEP_SLACK at a quiet moment. Delta messages, which never raise a figure, trail by all
# that came since the interval's first message, which soon exceeds that.
IN_STEP_SECONDS = 5.0
IN_STEP_SLACK = 5.0


class _Figure:
    """One statistic set, raised and never lowered: count and sum up, max up, min down."""

    __slots__ = ("count", "max", "min", "sum")

    def __init__(self) -> None:
        self.count: float | None = None
        self.sum: float | None = None
        self.max: float | None = None
        self.min: float | None = None

    def raise_to(self, stats: Stats) -> bool:
        """Take each statistic of `stats` that goes beyond this one; True if any did."""
        raised = False
        if stats.count is not None and (self.count is None or stats.count > self.count):
            self.count, raised = stats.count, True
        if stats.sum is not None and (self.sum is None or stats.sum > self.sum):
            self.sum, raised = stats.sum, True
        if stats.max is not None and (self.max is None or stats.max > self.max):
            self.max, raised = stats.max, True
        if stats.min is not None and (self.min is None or stats.min < self.min):
            self.min, raised = stats.min, True
        return raised

    def add(self, part: _Figure, count: float, total: float) -> None:
        """Take one part's rise into a total over parts: `count` and `total` more, and the
        part's max and min."""
        if part.count is not None:
            self.count = (self.count or 0.0) + count
        if part.sum is not None:
            self.sum = (self.sum or 0.0) + total
        if part.max is not None and (self.max is None or part.max > self.max):
            self.max = part.max
        if part.min is not None and (self.min is None or part.min < self.min):
            self.min = part.min

    def stats(self) -> Stats:
        return Stats(self.count, self.sum, self.max, self.min)


def _add(total: Stats, more: Stats) -> Stats:
    """Two disjoint parts' statistics, together."""

    def plus(a: float | None, b: float | None) -> float | None:
        return b if a is None else a if b is None else a + b

    return Stats(
        plus(total.count, more.count),
        plus(total.sum, more.sum),
        more.max
        if total.max is None
        else total.max
        if more.max is None
        else max(total.max, more.max),
        more.min
        if total.min is None
        else total.min
        if more.min is None
        else min(total.min, more.min),
    )


@dataclass(frozen=True, slots=True)
class PollCheck:
    """How the poll compared with push in the newest interval it returned: the counts of the
    metrics push feeds, summed over the query's series, and the seconds of the interval so far."""

    polled: float
    pushed: float
    elapsed: float

    @property
    def in_step(self) -> bool:
        """Whether push kept up: its figures trail the poll's by no more than the interval's
        rate brings in the last few seconds."""
        recent = self.polled * IN_STEP_SECONDS / max(self.elapsed, IN_STEP_SECONDS)
        return self.polled - self.pushed <= max(IN_STEP_SLACK, recent)


def interval_start(interval: str) -> int:
    """The start of an ISO-8601 "start/end" interval, in milliseconds since the epoch;
    NormalizeError naming it when it is not one."""
    start = interval.partition("/")[0]
    try:
        moment = datetime.fromisoformat(start)
    except ValueError:
        raise NormalizeError(f"bucket interval {interval!r} is not an ISO-8601 start/end") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


class Ledger:
    """One push-fed query's figures, per interval start (ms), series and statistic."""

    def __init__(self, feed: PushFeed, group_by: Sequence[str]) -> None:
        self.feed = feed
        self.group_by = tuple(group_by)
        self._fed = {kind: frozenset(metrics) for kind, metrics in feed.metrics}
        # The largest figure reported, by interval, series and key.
        self._figures: dict[int, dict[Group, dict[Key, _Figure]]] = {}
        # Push's figures per topic group, and which topic groups make up each series.
        self._pushed: dict[int, dict[tuple[TopicKind, Group], dict[Key, _Figure]]] = {}
        self._members: dict[tuple[int, Group], set[tuple[TopicKind, Group]]] = {}
        self._starts: dict[str, int] = {}  # interval text -> start, parsed once
        # The period shown, and each series' figures summed over its intervals: kept up to date
        # as figures rise (they only ever rise), so an answer costs the series, not the intervals.
        self._span: tuple[int, int] | None = None
        self._totals: dict[Group, dict[Key, _Figure]] = {}

    def _raise(self, start: int, series: Group, key: Key, stats: Stats) -> bool:
        """Raise one figure, and the series' total over the shown period with it."""
        figure = (
            self._figures.setdefault(start, {}).setdefault(series, {}).setdefault(key, _Figure())
        )
        count, total = figure.count or 0.0, figure.sum or 0.0
        if not figure.raise_to(stats):
            return False
        span = self._span
        if span is not None and span[0] <= start < span[1]:
            summed = self._totals.setdefault(series, {}).setdefault(key, _Figure())
            summed.add(figure, (figure.count or 0.0) - count, (figure.sum or 0.0) - total)
        return True

    def show(self, start_ms: int, end_ms: int) -> None:
        """Make [start_ms, end_ms) the shown period: earlier intervals are forgotten, and the
        totals are summed anew when the period changed."""
        if self._span == (start_ms, end_ms):
            return
        self._span = (start_ms, end_ms)
        for start in [s for s in self._figures if s < start_ms]:
            del self._figures[start]
        for start in [s for s in self._pushed if s < start_ms]:
            del self._pushed[start]
        for member in [m for m in self._members if m[0] < start_ms]:
            del self._members[member]
        self._totals = {}
        for start, by_series in self._figures.items():
            if start < end_ms:
                for series, figures in by_series.items():
                    mine = self._totals.setdefault(series, {})
                    for key, figure in figures.items():
                        summed = mine.setdefault(key, _Figure())
                        summed.add(figure, figure.count or 0.0, figure.sum or 0.0)

    def _start(self, interval: str) -> int:
        start = self._starts.get(interval)
        if start is None:
            if len(self._starts) > 1024:
                self._starts.clear()
            start = self._starts[interval] = interval_start(interval)
        return start

    def raise_from_poll(self, response: AggregateResponse, now_ms: int) -> PollCheck | None:
        """Take a poll's figures (buckets of the topics' interval), answered at `now_ms`; how
        push compared in the newest interval, or None when the poll had no bucket."""
        buckets = [
            (_group(result.group), self._start(bucket.interval), bucket)
            for result in response.results or ()
            for bucket in result.data or ()
            if bucket.interval is not None
        ]
        if not buckets:
            return None
        newest = max(start for _, start, _ in buckets)
        polled = pushed = 0.0
        for group, start, bucket in buckets:
            for entry in bucket.metrics or ():
                if entry.stats is None:
                    continue
                key = _metric_key(entry)
                if start == newest and self._counted(entry.metric):
                    # Compared before the poll raises it: what push alone had reached.
                    polled += entry.stats.count or 0.0
                    total = self._pushed_sum(start, group, key)
                    pushed += (total.count or 0.0) if total is not None else 0.0
                self._raise(start, group, key, entry.stats)
            for view in bucket.views or ():
                if view.stats is not None:
                    self._raise(start, group, ("view", view.name, ""), view.stats)
        return PollCheck(polled, pushed, (now_ms - newest) / 1000)

    def _counted(self, metric: str) -> bool:
        return any(metric in metrics for metrics in self._fed.values())

    def raise_from_push(
        self,
        kind: TopicKind,
        topic_group: Mapping[str, str],
        intervals: Iterable[tuple[str, Sequence[MetricEntry]]],
        names: Names,
    ) -> bool:
        """Take one topic message's figures; True if it raised a figure of this query."""
        fed = self._fed.get(kind)
        if not fed:
            return False
        media = self.feed.media
        if media is not None and topic_group.get("mediaType") not in media:
            return False
        series = self._series_of(topic_group, names)
        if series is None:
            return False
        member = (kind, _group(topic_group))
        raised = False
        for interval, metrics in intervals:
            start = self._start(interval)
            if self._span is not None and start < self._span[0]:
                continue  # a closed period's: it is not shown any more
            own = self._pushed.setdefault(start, {}).setdefault(member, {})
            changed: list[Key] = []
            for entry in metrics:
                if entry.metric in fed and entry.stats is not None:
                    key = _metric_key(entry)
                    if own.setdefault(key, _Figure()).raise_to(entry.stats):
                        changed.append(key)
            if not changed:
                continue
            self._members.setdefault((start, series), set()).add(member)
            for key in changed:
                total = self._pushed_sum(start, series, key)
                if total is not None and self._raise(start, series, key, total):
                    raised = True
        return raised

    def _series_of(self, topic_group: Mapping[str, str], names: Names) -> Group | None:
        """The query's series a topic group belongs to (None: a name it needs is not known)."""
        out: list[tuple[str, str]] = []
        for dimension in self.group_by:
            if dimension in ("flowName", "flowType"):
                known = names.get(topic_group.get("flowId", ""))
                if known is None:
                    return None
                value = known[0] if dimension == "flowName" else known[1]
            else:
                found = topic_group.get(dimension)
                if found is None:
                    return None
                value = found
            out.append((dimension, value))
        return tuple(sorted(out))

    def _pushed_sum(self, start: int, series: Group, key: Key) -> Stats | None:
        """Push's figure for a series: the sum over the topic groups that make it up."""
        members = self._members.get((start, series))
        pushed = self._pushed.get(start)
        if not members or pushed is None:
            return None
        total: Stats | None = None
        for member in members:
            figure = pushed.get(member, {}).get(key)
            if figure is not None:
                total = figure.stats() if total is None else _add(total, figure.stats())
        return total

    def response(self) -> AggregateResponse:
        """The query's answer over the shown period (see `show`): one bucket per series, its
        intervals summed (what the normalizers do with the buckets of a poll)."""
        results = []
        for series, summed in self._totals.items():
            metrics = [
                MetricEntry(name, figure.stats(), qualifier or None)
                for (what, name, qualifier), figure in summed.items()
                if what == "metric"
            ]
            views = [
                ViewEntry(name, figure.stats())
                for (what, name, _), figure in summed.items()
                if what == "view"
            ]
            group: dict[str, GroupValue] = dict(series)
            results.append(AggregateResult(group, [Bucket(None, metrics, views or None)]))
        return AggregateResponse(results)


def _group(group: Mapping[str, object] | None) -> Group:
    return tuple(sorted((k, str(v)) for k, v in (group or {}).items()))


def _metric_key(entry: MetricEntry) -> Key:
    qualifier = "" if entry.qualifier is None else str(entry.qualifier)
    return ("metric", entry.metric, qualifier)
