"""The HTTP side: /metrics (plain and gzip), /healthz, /readyz, landing page, /-/reload, bad
requests."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from poller.digest import DigestJob, digest
from poller.selfmetrics import SelfMetrics
from poller.server import ServerState, build_app
from poller.store import SnapshotStore
from tests.support.statusdata import blank_status

RESPONSE = {
    "results": [
        {
            "group": {"flowId": "f1", "flowName": 'Main "IVR"'},
            "data": [{"metrics": [{"metric": "nFlow", "stats": {"count": 3}}]}],
        }
    ]
}


class Ready:
    def __init__(self) -> None:
        self.waiting: dict[str, str] = {"flows": "no successful poll yet"}

    def __call__(self) -> tuple[bool, dict[str, str]]:
        return not self.waiting, dict(self.waiting)


Served = tuple[TestClient[web.Request, web.Application], Ready]


def publish(store: SnapshotStore, response: object) -> None:
    families = digest(DigestJob("aggregate", "flows", json.dumps(response).encode(), 0.0))
    store.commit(store.prepare("flows", families, 0.0))


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    store, metrics, ready = SnapshotStore(), SelfMetrics(), Ready()
    publish(store, RESPONSE)
    metrics.add_query("flows", 60)
    state = ServerState(store=store, metrics=metrics, readiness=ready, status=blank_status)
    client = TestClient(TestServer(build_app(state)))
    await client.start_server()
    yield client, ready
    await client.close()


async def test_metrics_serves_flow_series_and_self_metrics(
    served: Served,
) -> None:
    """/metrics is text format 0.0.4 with the flow series and the poller's own metrics."""
    client, _ = served
    resp = await client.get("/metrics", headers={"Accept-Encoding": "identity"})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = await resp.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    [sample] = families["genesyscloud_flow_entries"].samples
    assert sample.labels == {"query": "flows", "flow_id": "f1", "flow_name": 'Main "IVR"'}
    assert sample.value == 3
    assert "genesyscloud_poller_query_up" in families
    assert "genesyscloud_poller_build_info" in families
    assert "process_resident_memory_bytes" in families


async def test_metrics_gzip_matches_plain(served: Served) -> None:
    """A gzip scrape decompresses (as one stream) to the same flow series as a plain scrape."""
    client, _ = served
    resp = await client.get("/metrics", headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert resp.headers["Content-Encoding"] == "gzip"
    text = gzip.decompress(await resp.read()).decode()
    assert (
        'genesyscloud_flow_entries{query="flows",flow_id="f1",flow_name="Main \\"IVR\\""} 3' in text
    )
    assert "genesyscloud_poller_query_up" in text
    list(text_string_to_metric_families(text))


async def test_healthz_is_ok(served: Served) -> None:
    """/healthz answers 200 while the process is alive, ready or not."""
    client, _ = served
    resp = await client.get("/healthz")
    assert resp.status == 200


async def test_readyz_names_queries_not_ready(served: Served) -> None:
    """/readyz is 503 with a JSON body naming the queries not ready, 200 once all are."""
    client, ready = served
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert await resp.json() == {
        "status": "not ready",
        "queries_not_ready": {"flows": "no successful poll yet"},
    }
    ready.waiting.clear()
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert (await resp.json())["status"] == "ready"


async def test_status_page_links_endpoints(served: Served) -> None:
    """/ is an HTML page linking /metrics, /status.json, /readyz and /healthz."""
    client, _ = served
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    page = await resp.text()
    for link in ('href="metrics"', 'href="status.json"', 'href="readyz"', 'href="healthz"'):
        assert link in page


async def test_unknown_path_and_wrong_method(served: Served) -> None:
    """Unknown paths get 404, a wrong method 405, and the server keeps serving."""
    client, _ = served
    assert (await client.get("/nope")).status == 404
    assert (await client.post("/metrics")).status == 405
    assert (await client.get("/-/reload")).status == 405
    assert (await client.get("/metrics")).status == 200


async def test_reload_is_forbidden_unless_the_lifecycle_api_is_enabled(served: Served) -> None:
    """Without a reload action (no --web.enable-lifecycle), POST /-/reload is 403 with a plain
    message naming the flag, and the server keeps serving."""
    client, _ = served
    resp = await client.post("/-/reload")
    assert resp.status == 403
    assert resp.content_type == "text/plain"
    assert "Lifecycle API is not enabled" in await resp.text()
    assert "--web.enable-lifecycle" in await resp.text()
    assert (await client.get("/metrics")).status == 200


async def test_reload_answers_what_the_reload_did() -> None:
    """With a reload action, POST /-/reload runs it: 200 with its message when it applied the
    file, 500 with its message when it did not."""
    outcomes = [(True, "reloaded"), (False, "queries[0].every: bad")]

    async def reload() -> tuple[bool, str]:
        return outcomes.pop(0)

    state = ServerState(
        store=SnapshotStore(),
        metrics=SelfMetrics(process=False),
        readiness=Ready(),
        status=blank_status,
        reload=reload,
    )
    async with TestClient(TestServer(build_app(state))) as client:
        ok = await client.post("/-/reload")
        assert (ok.status, await ok.json()) == (200, {"status": "ok", "message": "reloaded"})
        failed = await client.post("/-/reload")
        assert (failed.status, await failed.json()) == (
            500,
            {"status": "failed", "message": "queries[0].every: bad"},
        )
    assert outcomes == []


async def test_huge_header_rejected(served: Served) -> None:
    """A request with an oversized header gets a 4xx, and the server keeps serving."""
    client, _ = served
    resp = await client.get("/metrics", headers={"X-Big": "a" * 70000})
    assert 400 <= resp.status < 500
    assert (await client.get("/healthz")).status == 200


@pytest.mark.parametrize("groups", [10, 12_000])
async def test_metrics_bodies_of_any_size_arrive_whole(groups: int) -> None:
    """Small and large bodies (several MB, sent in pieces) arrive complete and in order, plain
    and gzip, with a correct Content-Length, and both forms say the same."""
    response = {
        "results": [
            {
                "group": {"flowId": f"flow-{i:06d}", "flowName": f"IVR {'x' * 120} {i}"},
                "data": [
                    {
                        "metrics": [
                            {"metric": "nFlow", "stats": {"count": i}},
                            {"metric": "tFlow", "stats": {"sum": i * 1000, "count": 1}},
                        ]
                    }
                ],
            }
            for i in range(groups)
        ]
    }
    store, metrics = SnapshotStore(), SelfMetrics(process=False)
    publish(store, response)
    state = ServerState(store=store, metrics=metrics, readiness=Ready(), status=blank_status)
    async with TestClient(TestServer(build_app(state))) as client:
        resp = await client.get("/metrics", headers={"Accept-Encoding": "identity"})
        plain = await resp.read()
        assert int(resp.headers["Content-Length"]) == len(plain)
        resp = await client.get(
            "/metrics", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
        )
        compressed = await resp.read()
        assert int(resp.headers["Content-Length"]) == len(compressed)
        packed = gzip.decompress(compressed)
    assert plain == packed == b"".join(store.exposition().plain) + metrics.render()
    assert (len(plain) > 2_000_000) == (groups > 10)
    entries = [
        s
        for f in text_string_to_metric_families(plain.decode())
        if f.name == "genesyscloud_flow_entries"
        for s in f.samples
    ]
    assert len(entries) == groups
    assert entries[-1].value == groups - 1


async def test_readyz_says_which_orgs_this_replica_polls() -> None:
    """With orgs, /readyz adds the shard and the orgs this replica polls."""
    ownership = {"shard": {"index": 1, "count": 3}, "orgs": ["globex"]}
    state = ServerState(
        store=SnapshotStore(),
        metrics=SelfMetrics(process=False),
        readiness=lambda: (True, {}),
        status=blank_status,
        ownership=lambda: ownership,
    )
    async with TestClient(TestServer(build_app(state))) as client:
        ready = await client.get("/readyz")
        assert (ready.status, await ready.json()) == (
            200,
            {"status": "ready", "queries_not_ready": {}, **ownership},
        )
