"""One query's poll: build the request, call the API, normalize, publish, account for it.

Keeps the last good series when a poll fails (the store is only touched on success), logs only
on transitions (failing, recovered) as Home Assistant's coordinator does, and drops a query's
series once its data is older than `stale_after`, so dashboards show a gap, not a frozen line.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from poller.client import Endpoint, GenesysClient
from poller.config.model import QueryConfig
from poller.errors import ApiError, NormalizeError, PollerError
from poller.normalize import Snapshot, normalize
from poller.selfmetrics import SelfMetrics
from poller.store import Prepared, SnapshotStore
from poller.windows import interval

log = structlog.get_logger("poller.poll")


def request_body(query: QueryConfig, now: float) -> dict[str, Any]:
    """The JSON body the query posts at `now`."""
    if query.type == "observation":
        return {"filter": query.filter, "metrics": list(query.metrics)}
    body: dict[str, Any] = {"interval": interval(query, now), "timeZone": query.time_zone}
    if query.group_by:
        body["groupBy"] = list(query.group_by)
    if query.filter is not None:
        body["filter"] = query.filter
    body["metrics"] = list(query.metrics)
    if query.views:
        body["views"] = [
            {
                "name": v.name,
                "target": v.target,
                "function": "rangeBound",
                "range": {k: b for k, b in (("gte", v.gte), ("lt", v.lt)) if b is not None},
            }
            for v in query.views
        ]
    return body


class _GcPause:
    """Holds the cyclic garbage collector off while polls are in flight.

    Its passes over a freshly parsed response (a tree of many small objects, with no cycles to
    find) block the event loop for 100 ms and more; nothing is lost by deferring them. Counted,
    because polls overlap.
    """

    def __init__(self) -> None:
        self._depth = 0
        self._was_enabled = True

    def __enter__(self) -> None:
        if self._depth == 0:
            self._was_enabled = gc.isenabled()
            gc.disable()
        self._depth += 1

    def __exit__(self, *_exc: object) -> None:
        self._depth -= 1
        if self._depth == 0 and self._was_enabled:
            gc.enable()


GC_PAUSE = _GcPause()
# Objects freed per step. Freeing is one C call that holds the GIL throughout, and the event
# loop pays for it many times over: it gives the GIL up at every socket call, and each time
# waits for the worker's current step to end before it gets it back. ~0.3 ms steps keep that
# wait short.
FREE_SLICE = 100


def _free_in_slices(items: list[object]) -> None:
    while items:
        del items[-FREE_SLICE:]


def _free_response(response: object) -> None:
    """Drop a parsed response a slice at a time, so the thread that frees it lets go of the GIL
    between slices instead of holding it for the whole tree."""
    if isinstance(response, dict):
        results = response.get("results")
        if isinstance(results, list):
            _free_in_slices(results)


def _free_snapshot(snapshot: Snapshot) -> None:
    """Drop a snapshot's series a slice at a time (see _free_response)."""
    for series in snapshot.values.values():
        if isinstance(series, dict):
            labels: list[object] = list(series)
            series.clear()  # the list still holds the label tuples: nothing is freed yet
            _free_in_slices(labels)


def _digest(box: list[object], query: QueryConfig, store: SnapshotStore, now: float) -> Prepared:
    """normalize + prepare in a worker thread; the response and the snapshot die here too."""
    response = box.pop()
    snapshot = normalize(query.type, query.name, response)
    _free_response(response)
    del response
    prepared = store.prepare(query.name, snapshot, now)
    _free_snapshot(snapshot)
    return prepared


def endpoint_of(query: QueryConfig) -> Endpoint:
    return "observations" if query.type == "observation" else "aggregates"


@dataclass(slots=True)
class QueryState:
    succeeded_once: bool = False
    failing: bool = False
    last_success: float = 0.0
    last_error: str = ""


class QueryPoller:
    def __init__(
        self,
        query: QueryConfig,
        client: GenesysClient,
        store: SnapshotStore,
        metrics: SelfMetrics,
        *,
        clock: Callable[[], float] = time.time,
        started: float | None = None,
    ) -> None:
        self.query = query
        self.client = client
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self.state = QueryState()
        # Staleness before the first success counts from start-up.
        self._started = clock() if started is None else started

    async def run(self) -> bool:
        """Poll once; True on success. Never raises for API or data problems."""
        q = self.query
        self._metrics.polls.labels(q.name).inc()
        begun = time.perf_counter()
        correlation_id: str | None = None
        try:
            with GC_PAUSE:
                answer = await self.client.answer(endpoint_of(q), request_body(q, self._clock()))
                correlation_id = answer.correlation_id
                box = [answer.data]
                del answer  # the box holds the only reference: the worker frees the response
                now = self._clock()
                # A large response takes hundreds of milliseconds to normalize, render and
                # free: all of it in a worker thread, so scrapes are not held up meanwhile.
                prepared = await asyncio.to_thread(_digest, box, q, self._store, now)
        except PollerError as err:
            self._failed(err, correlation_id)
            return False
        finally:
            self._metrics.query_duration.labels(q.name).set(time.perf_counter() - begun)
        series = self._store.commit(prepared)
        self._store.gzipped()  # assembled now, not in the next scrape
        self._metrics.query_up.labels(q.name).set(1)
        self._metrics.query_last_success.labels(q.name).set(now)
        self._metrics.query_series.labels(q.name).set(series)
        if self.state.failing:
            log.info("poll_recovered", query=q.name, series=series)
        self.state.failing = False
        self.state.succeeded_once = True
        self.state.last_success = now
        self.state.last_error = ""
        return True

    def _failed(self, err: PollerError, correlation_id: str | None = None) -> None:
        """`correlation_id`: the response's, when it came (200) but its data was unusable."""
        q = self.query
        self._metrics.poll_failures.labels(q.name).inc()
        self._metrics.query_up.labels(q.name).set(0)
        fields: dict[str, Any] = {"query": q.name, "endpoint": endpoint_of(q), "error": str(err)}
        if isinstance(err, ApiError):
            fields.update(endpoint=err.endpoint, status=err.status, code=err.code)
            fields["context_id"] = err.context_id
        elif isinstance(err, NormalizeError):
            fields.update(status=200, context_id=correlation_id)
            fields["error"] = f"unexpected response shape: {err}"
        self.state.last_error = fields["error"]
        if self.state.failing:
            log.debug("poll_failed_again", **fields)
        else:
            log.warning("poll_failing", **fields)
        self.state.failing = True
        self.check_stale()

    def age(self) -> float:
        """Seconds since the data was last fresh (since start-up before the first success)."""
        since = self.state.last_success if self.state.succeeded_once else self._started
        return self._clock() - since

    def is_stale(self) -> bool:
        return self.age() > self.query.stale_after_seconds

    def check_stale(self) -> None:
        """Drop the query's series once its data is older than stale_after."""
        if self.is_stale() and self._store.has(self.query.name):
            self._store.drop(self.query.name)
            self._metrics.query_series.labels(self.query.name).set(0)
            log.warning(
                "query_series_dropped_stale",
                query=self.query.name,
                age_seconds=round(self.age(), 1),
                stale_after_seconds=self.query.stale_after_seconds,
            )
