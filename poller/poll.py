"""One query's poll: build the request, call the API, normalize, publish, account for it.

Keeps the last good series when a poll fails (the store is only touched on success), logs only
on transitions (failing, recovered) as Home Assistant's coordinator does, and drops a query's
series once its data is older than `stale_after`, so dashboards show a gap, not a frozen line.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import structlog

from poller import scope
from poller.config.model import QueryConfig
from poller.counters import counter_spec
from poller.digest import Digester, DigestJob
from poller.errors import ApiError, NormalizeError, PollerError
from poller.genesys import QueryClient
from poller.genesys.queries import endpoint_of, request_body
from poller.periods import shown_period
from poller.push.feed import PushedQuery, PushFeeder
from poller.selfmetrics import SelfMetrics
from poller.serieslimit import SeriesLimitError
from poller.store import SnapshotStore
from poller.timing import Clocks

log = structlog.get_logger("poller.poll")


@dataclass(frozen=True, slots=True)
class SeriesLimit:
    """A result refused by max_series: the series that came back, the limit, and the group_by
    dimension to drop (None without group_by) with its distinct values."""

    series: int
    limit: int
    drop: str | None
    distinct: int


@dataclass(frozen=True, slots=True)
class Failure:
    """The last failed poll, as a support ticket needs it."""

    message: str
    at: float  # Unix time
    status: int | None = None  # HTTP status, when an answer came
    code: str | None = None  # Genesys' (or the OAuth) error code
    correlation_id: str | None = None  # Genesys' contextId / ININ-Correlation-Id
    series_limit: SeriesLimit | None = None  # a result refused for its number of series


@dataclass(slots=True)
class PollState:
    """How a query's polling stands: what readiness, staleness and the status page read."""

    succeeded_once: bool = False
    failing: bool = False
    last_success: float = 0.0
    last_error: str = ""
    failure: Failure | None = None  # the last failed poll's details, kept after recovery
    last_duration: float | None = None  # seconds the last poll took
    series: int = 0  # series the query exports now


class QueryPoller:
    def __init__(
        self,
        query: QueryConfig,
        client: QueryClient,
        store: SnapshotStore,
        metrics: SelfMetrics,
        digester: Digester,
        *,
        clocks: Clocks,
        org: str = "",
        push: PushFeeder | None = None,
    ) -> None:
        """`metrics` is the org's view (SelfMetrics.for_org); `org` is "" for the one org of a
        config without `orgs:`; `push` the org's push feed, when push is on."""
        self.query = query
        self.org = org
        self.key = scope.key(org, query.name)  # its store entry and scheduler job
        # Derived from the frozen query once: it goes to the worker with every response.
        self._counter_spec = counter_spec(query)
        self.client = client
        self._store = store
        self._metrics = metrics
        self._digester = digester
        self._clock = clocks.clock
        self.state = PollState()
        # Staleness before the first success counts from start-up.
        self._started = self._clock()
        # A query push feeds: its ledger, and the order its merged answers are published in.
        self._push: PushFeeder | None = None
        self.pushed: PushedQuery | None = None
        self.attach_push(push)
        self._publishing = asyncio.Lock()
        self._push_failing = False  # the last push render failed (said once)

    def attach_push(self, push: PushFeeder | None) -> None:
        """Take the org's (new) push feed; the query is fed when the feed feeds it."""
        self._push = push
        self.pushed = push.queries.get(self.query.name) if push is not None else None
        if push is not None and self.pushed is not None:
            push.publishers[self.query.name] = self

    async def run(self) -> bool:
        """Poll once; True on success. Raises nothing but cancellation: every way a poll can
        end badly, an unforeseen exception included, goes through `_failed`."""
        try:
            return await self._poll()
        finally:
            self._metrics.changed()

    async def _poll(self) -> bool:
        q = self.query
        self._metrics.polls.labels(q.name).inc()
        begun = time.perf_counter()
        correlation_id: str | None = None
        try:
            granularity = self.pushed.granularity if self.pushed is not None else None
            reply = await self.client.post(
                endpoint_of(q), request_body(q, self._clock(), granularity)
            )
            correlation_id = reply.correlation_id
            # Execution ages are counted to when the answer came, after any wait for the budget.
            answered = self._clock()
            if self._push is not None and self.pushed is not None:
                pushed = self.pushed
                merged = await self._push.on_thread(partial(pushed.take_poll, reply.body, answered))
                if merged.flows is not None and merged.flows != pushed.polled_flows:
                    pushed.polled_flows = merged.flows
                    self._push.flows_changed()
                # No bucket in the period: nothing push could have been behind on.
                pushed.in_step = merged.check is None or merged.check.in_step
                pushed.polled = True
                self._push.show_pushed()
                series, now = await self._publish(merged.body, merged.generation, answered)
            else:
                series, now = await self._publish(reply.body, 0, answered)
        except Exception as err:
            # Unforeseen ones too: a bug must not leave old series served as fresh data.
            self._failed(err, correlation_id)
            return False
        finally:
            self.state.last_duration = time.perf_counter() - begun
            self._metrics.query_duration.labels(q.name).set(self.state.last_duration)
        self.state.series = series
        self._metrics.query_up.labels(q.name).set(1)
        self._metrics.query_last_success.labels(q.name).set(now)
        self._metrics.query_series.labels(q.name).set(series)
        if self.state.failing:
            log.info("poll_recovered", **scope.log_fields(self.org), query=q.name, series=series)
        self.state.failing = False
        self.state.succeeded_once = True
        self.state.last_success = now
        self.state.last_error = ""
        return True

    async def _publish(self, body: bytes, generation: int, answered: float) -> tuple[int, float]:
        """Digest a 200 body (a poll's, or a fed query's merged answer) and swap its series in;
        (series, when). A fed query's answers go in generation order: one older than what the
        store shows is dropped, so figures never go back."""
        q = self.query
        families = await self._digester.digest(
            DigestJob(
                q.type,
                q.name,
                body,
                answered,
                self._counter_spec,
                self.org,
                q.max_series,
                q.group_by,
            )
        )
        async with self._publishing:
            now = self._clock()
            if self.pushed is not None:
                if generation <= self.pushed.published:
                    return self.state.series, now
                self.pushed.published = generation
            prepared = await asyncio.to_thread(self._store.prepare, self.key, families, now)
            return self._store.commit(prepared), now

    async def publish_pushed(self) -> None:
        """Publish what push raised. Only once a poll has given the period's exact figures:
        before it, the series would hold only what push brought since start-up, and the
        poll's figure would then look like a burst of calls."""
        if self._push is None or self.pushed is None or not self.pushed.polled:
            return
        pushed = self.pushed
        try:
            merged = await self._push.on_thread(partial(pushed.merged, self._clock()))
            series, _ = await self._publish(merged.body, merged.generation, self._clock())
        except Exception as err:
            # The poll's path says what is wrong with the query; this one must not crash, nor
            # say it again at every render (up to 4 a second): once, until a render succeeds.
            if not self._push_failing:
                log.warning(
                    "push_publish_failed",
                    **scope.log_fields(self.org),
                    query=self.query.name,
                    error=f"{type(err).__name__}: {err}",
                )
            self._push_failing = True
            return
        self._push_failing = False
        self.state.series = series
        self._metrics.query_series.labels(self.query.name).set(series)
        self._metrics.changed()

    def _failed(self, err: Exception, correlation_id: str | None = None) -> None:
        """The one failure path. `correlation_id`: the response's, when one came (a 200 whose
        data was unusable, or whose handling hit a bug)."""
        q = self.query
        self._metrics.poll_failures.labels(q.name).inc()
        self._metrics.query_up.labels(q.name).set(0)
        fields: dict[str, Any] = {
            **scope.log_fields(self.org),
            "query": q.name,
            "endpoint": endpoint_of(q),
            "error": str(err),
        }
        limit: SeriesLimit | None = None
        if isinstance(err, ApiError):
            fields.update(endpoint=err.endpoint, status=err.status, code=err.code)
            fields["context_id"] = err.context_id
        elif isinstance(err, SeriesLimitError):
            limit = SeriesLimit(err.series, err.limit, err.dimension, err.distinct)
            fields.update(status=200, context_id=correlation_id)
            fields.update(series=err.series, max_series=err.limit, drop_dimension=err.dimension)
        elif isinstance(err, NormalizeError):
            fields.update(status=200, context_id=correlation_id)
            fields["error"] = f"unusable response: {err}"
        elif not isinstance(err, PollerError):
            # Not a failure we foresaw: a bug. Its type is the first thing a report needs.
            fields["context_id"] = correlation_id
            fields["error"] = f"{type(err).__name__}: {err}"
        self.state.last_error = fields["error"]
        # The page shows status, code and correlation id apart: the words alone here.
        words = f"{err.endpoint}: {err.message}" if isinstance(err, ApiError) else fields["error"]
        self.state.failure = Failure(
            words,
            self._clock(),
            fields.get("status"),
            fields.get("code"),
            fields.get("context_id"),
            limit,
        )
        if self.state.failing:
            log.debug("poll_failed_again", **fields)
        elif isinstance(err, PollerError):
            log.warning("poll_failing", **fields)
        else:
            # Logged once, on the change to failing, with the traceback to fix it from.
            log.error("poll_crashed", **fields, exc_info=err)
        self.state.failing = True
        self.check_stale()

    def settling(self) -> bool:
        """Whether a counter-mode query shows its closed period now (False in gauge mode)."""
        return self.query.mode == "counter" and shown_period(self.query, self._clock())[2]

    def age(self) -> float:
        """Seconds since the data was last fresh (since start-up before the first success)."""
        since = self.state.last_success if self.state.succeeded_once else self._started
        return self._clock() - since

    def is_stale(self) -> bool:
        return self.age() > self.query.stale_after_seconds

    def check_stale(self) -> None:
        """Drop the query's series once its data is older than stale_after."""
        if self.is_stale() and self._store.has(self.key):
            self._store.drop(self.key)
            self.state.series = 0
            self._metrics.query_series.labels(self.query.name).set(0)
            self._metrics.changed()
            log.warning(
                "query_series_dropped_stale",
                **scope.log_fields(self.org),
                query=self.query.name,
                age_seconds=round(self.age(), 1),
                stale_after_seconds=self.query.stale_after_seconds,
            )
