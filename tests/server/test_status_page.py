"""The status page's HTML: every outside value escaped where it is written, and a CSP that
allows only the page's own style block, with a new nonce per response."""

from __future__ import annotations

import copy
import re
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from poller.selfmetrics import SelfMetrics
from poller.server import ServerState, build_app
from poller.statuspage import render, span
from poller.store import SnapshotStore
from tests.support.browser import Dom

HOSTILE = "<img src=x onerror=alert(1)>&<script>alert(2)</script>\"'"
NOW = 1_800_000_000.0

STATUS: dict[str, Any] = {
    "shape": 1,
    "generated_at": NOW,
    "poller": {
        "version": "0.1.0",
        "python": "3.11.7",
        "config": f"/etc/{HOSTILE}.yaml",
        "started_at": NOW - 3600,
        "last_reload": {"ok": False, "at": NOW - 60, "message": f"queries[0].name: {HOSTILE}"},
        "shard": {"index": 1, "count": 3},
    },
    "orgs": [
        {
            "name": "acme",
            "region": "mypurecloud.ie",
            "api_base_url": f"https://proxy.example/{HOSTILE}",
            "api": {
                "requests_last_minute": 7,
                "requests_per_minute": 300,
                "paused_until": NOW + 42,
                "token_expires_at": NOW + 3600,
                "answers": [{"minute": NOW - 60, "codes": {"200": 5, "429": 1}}],
            },
            "names": [
                {
                    "kind": "flows",
                    "state": "ok",
                    "entities": 2,
                    "last_success": NOW - 5,
                    "error": "",
                    "changes": [
                        {
                            "at": NOW - 5,
                            "id": "f1",
                            "name": HOSTILE,
                            "change": "renamed",
                            "before": "Main IVR",
                        },
                    ],
                }
            ],
            "queries": [
                {
                    "name": "flows_1h",
                    "job": "acme/flows_1h",
                    "type": "aggregate",
                    "mode": "gauge",
                    "every": 60.0,
                    "window": f"last 1h {HOSTILE}",
                    "stale_after": 600.0,
                    "state": "throttled",
                    "last_success": NOW - 90,
                    "age": 90.0,
                    "last_duration": 0.25,
                    "series": 1234,
                    "next_run": NOW + 30,
                    "error": {
                        "message": f"aggregates: {HOSTILE}",
                        "at": NOW - 10,
                        "status": 429,
                        "code": HOSTILE,
                        "correlation_id": "c0ffee",
                    },
                    "failing_now": True,
                }
            ],
        }
    ],
}


def test_every_outside_value_is_text_never_markup() -> None:
    """A hostile config path, reload message, API URL, window, error message, error code and
    flow name all show as their literal text; the page has no script or img element."""
    dom = Dom(render(STATUS, "n0nce"))
    assert dom.find_all("script") == []
    assert dom.find_all("img") == []
    assert dom.text.count(HOSTILE) == 7
    assert dom.title == "genesyscloud-poller status"


def test_the_page_says_what_each_value_means() -> None:
    """The throttled row, its data age against stale_after, the pause and the rename read as
    an operator needs them."""
    text = re.sub(r"\s+", " ", Dom(render(STATUS, "n0nce")).text)
    assert "throttled" in text
    assert "1m 30s / 10m" in text
    assert "HTTP 429, code " in text
    assert "correlation id c0ffee" in text
    assert "7 of a budget of 300" in text
    assert "paused until 2027-01-15 08:00:42Z (in 42s)" in text
    assert "expires in 1h" in text
    assert "07:59Z 200: 5, 429: 1" in text
    assert f"Main IVR renamed to {HOSTILE} (5s ago)" in text
    assert "Shard 1 of 3, polling acme" in text
    assert "failed 1m ago" in text


def test_span_reads_like_a_person_would_say_it() -> None:
    """Durations: hundredths under 10 s, then whole seconds, minutes, hours, days."""
    assert [span(x) for x in (0.123, 5, 150, 300, 3661, 90000, None)] == [
        "0.12s",
        "5s",
        "2m 30s",
        "5m",
        "1h 1m",
        "1d 1h",
        "-",
    ]


async def test_csp_allows_only_the_style_block_with_a_new_nonce_each_time() -> None:
    """/ carries a CSP with no script source and a nonce that its one style element carries,
    different on every response; /status.json is the same data as JSON."""
    status = copy.deepcopy(STATUS)
    state = ServerState(
        store=SnapshotStore(),
        metrics=SelfMetrics(process=False),
        readiness=lambda: (True, {}),
        status=lambda: status,
    )
    nonces = []
    async with TestClient(TestServer(build_app(state))) as client:
        for _ in range(2):
            resp = await client.get("/")
            policy = resp.headers["Content-Security-Policy"]
            (nonce,) = re.findall(r"'nonce-([^']+)'", policy)
            assert policy == (
                f"default-src 'none'; style-src 'nonce-{nonce}'; base-uri 'none'; "
                "form-action 'none'; frame-ancestors 'none'"
            )
            styles = Dom(await resp.text()).find_all("style")
            assert [s.attrs.get("nonce") for s in styles] == [nonce]
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            nonces.append(nonce)
        resp = await client.get("/status.json")
        assert resp.status == 200
        assert await resp.json() == status
    assert nonces[0] != nonces[1]


def test_a_result_refused_by_max_series_says_the_count_the_limit_and_what_to_drop() -> None:
    """A failure from max_series shows how many series came back against the limit and the
    group_by dimension to drop with its distinct values; without group_by, no dimension."""
    status = copy.deepcopy(STATUS)
    (query,) = status["orgs"][0]["queries"]
    limit = {"series": 25001, "limit": 20000, "drop": "transferTargetName", "distinct": 4100}
    query["error"] = {
        "message": "25001 series, more than max_series 20000; ...",
        "at": NOW - 10,
        "status": 200,
        "code": None,
        "correlation_id": "c0ffee",
        "series_limit": limit,
    }
    text = re.sub(r"\s+", " ", Dom(render(status, "n0nce")).text)
    assert (
        "25001 series came back, max_series is 20000: drop transferTargetName from group_by "
        "(4100 distinct values), or filter it"
    ) in text
    limit["drop"] = None
    text = re.sub(r"\s+", " ", Dom(render(status, "n0nce")).text)
    assert "25001 series came back, max_series is 20000" in text
    assert "from group_by" not in text
