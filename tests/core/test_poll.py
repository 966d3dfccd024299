"""One query's poll: request bodies, publishing, failure accounting, transitions, staleness."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from structlog.testing import capture_logs

from poller.config.model import QueryConfig, View, Window
from poller.digest import Digester
from poller.errors import ApiError
from poller.genesys import Reply
from poller.genesys.queries import request_body
from poller.poll import QueryPoller
from poller.selfmetrics import SelfMetrics
from poller.store import SnapshotStore
from poller.timing import Clocks
from tests.support.clock import START, FakeClock

NOW = START  # 2026-05-17T06:40:00Z


class FakeClient:
    """Answers queries from a script: a dict response, or an exception to raise."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.bodies: list[tuple[str, dict[str, Any]]] = []

    async def post(self, endpoint: str, body: dict[str, Any]) -> Reply:
        self.bodies.append((endpoint, body))
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        headers = {"ININ-Correlation-Id": f"corr-{len(self.bodies)}"}
        return Reply(200, json.dumps(reply).encode(), headers)


AGG = QueryConfig(
    name="flows",
    type="aggregate",
    every=60.0,
    metrics=("nFlow", "tFlow"),
    window=Window(today=False, seconds=900.0),
    group_by=("flowId",),
    filter={"type": "and", "predicates": [{"dimension": "mediaType", "value": "voice"}]},
    views=(View(name="tFlowUnder30s", target="tFlow", lt=30000.0),),
)
OBS = QueryConfig(
    name="active",
    type="observation",
    every=15.0,
    metrics=("oFlow",),
    filter={"type": "or", "predicates": [{"dimension": "mediaType", "value": "voice"}]},
)
GOOD = {"results": [{"group": {"flowId": "f1"}, "data": [{"metrics": [
    {"metric": "nFlow", "stats": {"count": 7}}]}]}]}  # fmt: skip
SERVER_ERROR = ApiError("Internal error", endpoint="aggregates", status=500,
                        code="internal.server.error", context_id="ctx-1")  # fmt: skip


def body(store: SnapshotStore) -> bytes:
    return b"".join(store.exposition().plain)


def make(query: QueryConfig, client: FakeClient, clock: FakeClock | None = None) -> tuple[
    QueryPoller, SnapshotStore, SelfMetrics
]:  # fmt: skip
    store, metrics = SnapshotStore(), SelfMetrics(process=False)
    metrics.add_query(query.name, query.every)
    digester = Digester()
    clock = clock or FakeClock()
    clocks = Clocks(clock, clock.sleep)
    poller = QueryPoller(query, client, store, metrics, digester, clocks=clocks)
    return poller, store, metrics


def test_aggregate_body_carries_interval_group_filter_metrics_zone_views() -> None:
    """An aggregate query posts interval, timeZone, groupBy, filter, metrics and views."""
    body = request_body(AGG, NOW)
    assert body == {
        "interval": "2026-05-17T06:25:00.000Z/2026-05-17T06:40:00.000Z",
        "timeZone": "UTC",
        "groupBy": ["flowId"],
        "filter": AGG.filter,
        "metrics": ["nFlow", "tFlow"],
        "views": [{"name": "tFlowUnder30s", "target": "tFlow", "function": "rangeBound",
                   "range": {"lt": 30000.0}}],
    }  # fmt: skip


def test_observation_body_is_filter_and_metrics_only() -> None:
    """An observation query posts only filter and metrics (the API has no interval there)."""
    assert request_body(OBS, NOW) == {"filter": OBS.filter, "metrics": ["oFlow"]}


def test_observation_body_with_details_asks_for_detail_metrics() -> None:
    """`details: true` adds detailMetrics [oFlow] to the observation body, and nothing else."""
    detailed = dataclasses.replace(OBS, details=True)
    assert request_body(detailed, NOW) == {
        "filter": OBS.filter,
        "metrics": ["oFlow"],
        "detailMetrics": ["oFlow"],
    }


async def test_success_publishes_and_marks_up() -> None:
    """A good poll publishes its series, sets up=1, the last-success time and the series count."""
    poller, store, metrics = make(AGG, FakeClient(GOOD))
    assert await poller.run() is True
    assert b'genesyscloud_flow_entries{query="flows",flow_id="f1"} 7\n' in body(store)
    get = metrics.registry.get_sample_value
    assert get("genesyscloud_poller_query_up", {"query": "flows"}) == 1
    assert (
        get("genesyscloud_poller_query_last_success_timestamp_seconds", {"query": "flows"}) == NOW
    )
    assert get("genesyscloud_poller_query_series", {"query": "flows"}) == 1
    assert get("genesyscloud_poller_polls_total", {"query": "flows"}) == 1


async def test_failure_keeps_last_good_series_and_marks_down() -> None:
    """A failed poll keeps the last good series, sets up=0 and leaves the success time alone."""
    clock = FakeClock()
    poller, store, metrics = make(AGG, FakeClient(GOOD, SERVER_ERROR), clock)
    await poller.run()
    clock.now += 60
    assert await poller.run() is False
    assert b'flow_id="f1"} 7\n' in body(store)
    get = metrics.registry.get_sample_value
    assert get("genesyscloud_poller_query_up", {"query": "flows"}) == 0
    assert (
        get("genesyscloud_poller_query_last_success_timestamp_seconds", {"query": "flows"}) == NOW
    )
    assert get("genesyscloud_poller_poll_failures_total", {"query": "flows"}) == 1


async def test_logs_only_transitions() -> None:
    """Failing twice logs one poll_failing (with Genesys code and contextId); success logs
    poll_recovered."""
    poller, _, _ = make(AGG, FakeClient(SERVER_ERROR, SERVER_ERROR, GOOD))
    with capture_logs() as logs:
        await poller.run()
        await poller.run()
        await poller.run()
    events = [e for e in logs if e["log_level"] != "debug"]
    assert [e["event"] for e in events] == ["poll_failing", "poll_recovered"]
    failing = events[0]
    assert failing["query"] == "flows"
    assert failing["status"] == 500
    assert failing["code"] == "internal.server.error"
    assert failing["context_id"] == "ctx-1"


async def test_bad_shape_fails_the_poll_with_position() -> None:
    """A response of the wrong shape fails the poll and the log names where it went wrong."""
    poller, store, _ = make(AGG, FakeClient({"results": "nope"}))
    with capture_logs() as logs:
        assert await poller.run() is False
    [failing] = logs
    assert failing["event"] == "poll_failing"
    assert "unusable response: results: Expected `array | null`, got `str`" in failing["error"]
    # The response did come: its status and correlation id are what Genesys support asks for.
    assert failing["status"] == 200
    assert failing["context_id"] == "corr-1"
    assert body(store) == b""


async def test_stale_series_dropped_after_stale_after() -> None:
    """A query failing for longer than stale_after (10 x every by default) loses its series."""
    clock = FakeClock()
    poller, store, metrics = make(AGG, FakeClient(GOOD, SERVER_ERROR, SERVER_ERROR), clock)
    await poller.run()
    clock.now += 599
    await poller.run()
    assert store.has("flows")
    clock.now += 2
    with capture_logs() as logs:
        await poller.run()
    assert not store.has("flows")
    assert b"genesyscloud_flow_entries" not in body(store)
    assert any(e["event"] == "query_series_dropped_stale" for e in logs)
    assert (
        metrics.registry.get_sample_value("genesyscloud_poller_query_series", {"query": "flows"})
        == 0
    )


@pytest.mark.parametrize("delay", [0.0, 120.0])
def test_today_window_starts_at_local_midnight(delay: float) -> None:
    """window: today asks from local midnight in the query's zone to now - delay."""
    q = QueryConfig(name="t", type="aggregate", every=60, metrics=("nFlow",),
                    window=Window(today=True), time_zone="Europe/Dublin", delay=delay)  # fmt: skip
    body = request_body(q, NOW)
    end = "06:40:00.000Z" if delay == 0 else "06:38:00.000Z"
    assert body["interval"] == f"2026-05-16T23:00:00.000Z/2026-05-17T{end}"
    assert body["timeZone"] == "Europe/Dublin"
