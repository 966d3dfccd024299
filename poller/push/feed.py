"""Push messages into the queries they feed: each fed query's ledger, and the renders that
publish what the messages raised.

A ledger is only ever touched on one thread, the org's push thread, one job after another: a
message's figures, a poll's (decoded there: a day of 30-minute buckets is a large body), and the
merged answer a render publishes. The event loop only hands jobs over and awaits answers, so
neither a burst of messages nor a large poll blocks it, and a render never sees a ledger half
raised. Every merged answer carries the ledger's generation; a query publishes a generation only
if it is newer than the one it shows, so a slow render can never put older figures back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import msgspec
import structlog

from poller import scope
from poller.config.model import PushSettings, QueryConfig
from poller.periods import shown_period
from poller.push.feeding import PushFeed, feed_of
from poller.push.ledger import Ledger, Names, PollCheck
from poller.push.messages import PushedAggregates
from poller.responses import AggregateResponse, decode
from poller.selfmetrics import SelfMetrics
from poller.windows import window_bounds

log = structlog.get_logger("poller.push")

# Renders of one org's raised queries happen at most this often: messages come at most once a
# second per topic, and a burst over many flows makes one render, not one per message.
RENDER_GAP = 0.25
_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Merged:
    """A fed query's answer to publish: the ledger's figures over the shown period."""

    body: bytes
    generation: int
    check: PollCheck | None = None  # with a poll's figures: how push compared with them
    flows: frozenset[str] | None = None  # with a poll's figures: the flows it returned


def _span_ms(query: QueryConfig, now: float) -> tuple[int, int]:
    """The period the query shows at `now`, in milliseconds: a counter's shown period, or today."""
    start: datetime
    end: datetime
    if query.mode == "counter":
        start, end, _ = shown_period(query, now)
    else:
        start, end = window_bounds(query, now)
    return round(start.timestamp() * 1000), round(end.timestamp() * 1000)


class PushedQuery:
    """One fed query's ledger, its generation, and what its poller last published of it."""

    def __init__(self, query: QueryConfig, feed: PushFeed, interval: float) -> None:
        self.query = query
        self.feed = feed
        # The poll's buckets: the topics' interval (PT30M by default).
        self.granularity = f"PT{round(interval / 60)}M"
        self.ledger = Ledger(feed, query.group_by)
        self.generation = 0  # raised with the ledger (push thread only)
        self.published = -1  # the generation the store shows (event loop only)
        self.dirty = False  # push raised figures not yet published (event loop only)
        self.in_step = False  # the last poll found push's figures in step with its own
        self.polled = False  # a poll has given this ledger the period's exact figures
        self.polled_flows: frozenset[str] = frozenset()  # flows its last poll returned

    # The methods below run on the org's push thread only.
    def take_poll(self, body: bytes, now: float) -> Merged:
        """A poll's raw 200 body: its figures raised into the ledger, and the merged answer."""
        response = decode("aggregate", body)
        assert isinstance(response, AggregateResponse)
        self.ledger.show(*_span_ms(self.query, now))
        check = self.ledger.raise_from_poll(response, round(now * 1000))
        flows = frozenset(
            str(value)
            for result in response.results or ()
            for key, value in (result.group or {}).items()
            if key == "flowId"
        )
        return self._merged(now, check, flows)

    def take_push(self, message: PushedAggregates, names: Names) -> bool:
        """A topic message's figures raised into the ledger; True if any rose."""
        raised = self.ledger.raise_from_push(
            message.kind, dict(message.group), message.intervals, names
        )
        if raised:
            self.generation += 1
        return raised

    def merged(self, now: float) -> Merged:
        """The ledger's answer over the period shown at `now`."""
        return self._merged(now, None, None)

    def _merged(self, now: float, check: PollCheck | None, flows: frozenset[str] | None) -> Merged:
        self.ledger.show(*_span_ms(self.query, now))
        self.generation += 1
        body = _ENCODER.encode(self.ledger.response())
        return Merged(body, self.generation, check, flows)


class Publisher(Protocol):
    """What a fed query's poller does when push raised its figures (QueryPoller.publish_pushed)."""

    async def publish_pushed(self) -> None: ...


class PushFeeder:
    """One org's fed queries: messages in, raised queries published, flows to subscribe out,
    and whether each fed query is kept current (genesyscloud_poller_query_pushed)."""

    def __init__(
        self,
        settings: PushSettings,
        queries: Sequence[QueryConfig],
        metrics: SelfMetrics,
        *,
        names: Callable[[], Names],
        on_flows: Callable[[], None],
        sleep: Callable[[float], Awaitable[None]],
        org: str = "",
        known: Iterable[str] = (),
    ) -> None:
        """`metrics`: the org's view; `names`: the names listing's flows now; `on_flows`: called
        when the flows the polls know change; `known`: flows a previous feed's polls knew (a
        restarted push subscribes them at once, not only after the next polls)."""
        self.settings = settings
        self.org = org
        self._metrics = metrics
        self._names = names
        self._on_flows = on_flows
        self._sleep = sleep
        self.queries: dict[str, PushedQuery] = {}
        self.publishers: dict[str, Publisher] = {}
        for query in queries:
            feed = feed_of(query, settings)
            if feed.fed:
                self.queries[query.name] = PushedQuery(query, feed, settings.interval)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="push")
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connected: Callable[[], bool] = lambda: False
        self._known = frozenset(known)

    async def on_thread(self, job: Callable[[], Merged]) -> Merged:
        """A ledger job, on the push thread, in order with every other."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, job)

    def on_aggregates(self, message: PushedAggregates) -> None:
        """The session's callback for each flow topic message (on the event loop)."""
        names = self._names()
        future = asyncio.get_running_loop().run_in_executor(
            self._thread, self._take, message, names
        )
        future.add_done_callback(self._after_push)

    def _take(self, message: PushedAggregates, names: Names) -> list[str]:
        """On the push thread: the queries whose figures the message raised."""
        return [name for name, q in self.queries.items() if q.take_push(message, names)]

    def _after_push(self, future: asyncio.Future[list[str]]) -> None:
        if future.cancelled():
            return
        err = future.exception()
        if err is not None:  # a bug: said for the message, and the next messages go on
            log.error(
                "push_merge_crashed",
                **scope.log_fields(self.org),
                error=f"{type(err).__name__}: {err}",
            )
            return
        for name in future.result():
            self._metrics.push_raised.labels(name).inc()
            self.queries[name].dirty = True
            self._wake.set()

    def flows_changed(self) -> None:
        """A fed query's poll returned other flows than before: subscribe them."""
        self._on_flows()

    def flow_ids(self) -> set[str]:
        """Flows the names listing or the fed queries' last polls know."""
        known = set(self._names()) | self._known
        for pushed in self.queries.values():
            known |= pushed.polled_flows
        return known

    def show_pushed(self) -> None:
        """genesyscloud_poller_query_pushed of each fed query: connected and in step."""
        connected = self._connected()
        for name, pushed in self.queries.items():
            current = connected and pushed.polled and pushed.in_step
            self._metrics.query_pushed.labels(name).set(1 if current else 0)

    def start(self, *, connected: Callable[[], bool]) -> None:
        """Start publishing; `connected` tells whether every channel's socket is open."""
        self._connected = connected
        self._task = asyncio.create_task(self._render(), name=f"push-render-{self.org}")

    async def _render(self) -> None:
        """Publish each raised query, at most every RENDER_GAP; show who is kept current."""
        while True:
            with contextlib.suppress(TimeoutError):
                # The timeout only refreshes query_pushed when the socket state changes.
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            self._wake.clear()
            self.show_pushed()
            for name, pushed in self.queries.items():
                publisher = self.publishers.get(name)
                if pushed.dirty and publisher is not None:
                    pushed.dirty = False
                    await publisher.publish_pushed()
            await self._sleep(RENDER_GAP)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._thread.shutdown(wait=False, cancel_futures=True)
        for name in self.queries:
            self._metrics.query_pushed.labels(name).set(0)
