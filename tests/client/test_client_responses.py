"""Response bodies: a body over max_response_bytes is a BadResponseError; one within it arrives
whole (its JSON is decoded by the digest, see tests/normalize)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from poller.errors import BadResponseError
from poller.selfmetrics import SelfMetrics
from tests.client.client_support import ExpectError, MakeClient, sample
from tests.support.genesys import FakeGenesys, Reply

QUERY = {"interval": "2026-05-17T06:25:00.000Z/2026-05-17T06:40:00.000Z", "metrics": ["nFlow"]}
LIMIT = 1000


def body_of(size: int) -> bytes:
    """A valid JSON document of exactly `size` bytes."""
    frame = json.dumps({"results": [], "pad": ""}).encode()
    body = json.dumps({"results": [], "pad": "x" * (size - len(frame))}).encode()
    assert len(body) == size
    return body


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_body_over_the_limit_is_bad_response(
    genesys: FakeGenesys,
    make_client: MakeClient,
    metrics: SelfMetrics,
    expect_error: ExpectError[Any],
    chunked: bool,
) -> None:
    """A body one byte over max_response_bytes is refused, declared up front or not."""
    genesys.script(genesys.AGGREGATES, Reply(200, body_of(LIMIT + 1), chunked=chunked))
    client = make_client(max_response_bytes=LIMIT)
    err = await expect_error(client.query("aggregates", QUERY), BadResponseError)
    assert "genesys.max_response_bytes" in str(err)
    assert f"limit of {LIMIT} bytes" in str(err)
    assert len(genesys.requests_to(genesys.AGGREGATES)) == 1
    assert sample(metrics, "api_requests_total", endpoint="aggregates", code="200") == 1


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_body_of_exactly_the_limit_is_accepted(
    genesys: FakeGenesys, make_client: MakeClient, chunked: bool
) -> None:
    """A body of exactly max_response_bytes is parsed normally."""
    genesys.script(genesys.AGGREGATES, Reply(200, body_of(LIMIT), chunked=chunked))
    result = await make_client(max_response_bytes=LIMIT).query("aggregates", QUERY)
    assert isinstance(result, dict)
    assert result["results"] == []


async def test_large_chunked_body_arrives_whole(
    genesys: FakeGenesys, make_client: MakeClient
) -> None:
    """A chunked body spread over many chunks is reassembled before parsing."""
    results = [{"group": {"flowId": f"flow-{i:05d}"}, "data": []} for i in range(3000)]
    genesys.script(genesys.AGGREGATES, Reply(200, {"results": results}, chunked=True))
    assert await make_client().query("aggregates", QUERY) == {"results": results}
