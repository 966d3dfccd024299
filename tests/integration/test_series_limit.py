"""max_series end to end: a poll whose result has more series than the query's limit fails like
a bad response (last good series kept, query_up 0, counted, logged, on the status page), the
limit is exported, and the next poll that fits recovers."""

from __future__ import annotations

import json
from typing import Any

from structlog.testing import capture_logs

from poller.catalog import AGGREGATE_PATH
from tests.support.clock import PEAK, FakeClock
from tests.support.config import aggregate
from tests.support.exposition import Exposition
from tests.support.stack import Stack, StackFactory, config_text

LIMIT = "genesyscloud_poller_query_series_limit"
FAILURES = "genesyscloud_poller_poll_failures_total"


def flows(max_series: int | None = None) -> str:
    """One query of entries per flow and media type over the last hour."""
    return aggregate("flows", window="1h", group_by=["flowId", "mediaType"], max_series=max_series)


def truth_groups(stack: Stack) -> list[dict[str, Any]]:
    """The groups with entries in the simulator's own answer to the daemon's last request:
    one genesyscloud_flow_entries series each."""
    answer = stack.truth(AGGREGATE_PATH, stack.bodies[AGGREGATE_PATH][-1])
    return [
        r["group"]
        for r in answer.get("results", [])
        if any(m["metric"] == "nFlow" for d in r["data"] for m in d["metrics"])
    ]


async def status_of(stack: Stack) -> dict[str, Any]:
    code, body = await stack.get("/status.json")
    assert code == 200
    (org,) = json.loads(body)["orgs"]
    (query,) = org["queries"]
    answer: dict[str, Any] = query
    return answer


async def reload_with(stack: Stack, queries: str) -> None:
    stack.text = config_text(queries)
    assert await stack.daemon.reload() == (True, "reloaded")


def entries(scrape: Exposition) -> dict[tuple[str, str], float]:
    return {
        (labels["flow_id"], labels["media_type"]): value
        for labels, value in scrape.series("genesyscloud_flow_entries", query="flows")
    }


async def test_a_result_over_max_series_is_refused_and_the_next_that_fits_recovers(
    stack_factory: StackFactory,
) -> None:
    """With the limit one below the groups the simulator answers, the poll fails: the last good
    series stay, query_up 0, one failure counted, one poll_failing event naming the query, the
    count, the limit and flowId (more distinct values than mediaType) to drop, and the status
    page says the same; with the limit raised to exactly the count, the next poll succeeds."""
    clock = FakeClock(PEAK)
    stack = await stack_factory(flows(), schedule=False, clock=clock)
    assert await stack.daemon.poll("flows")
    good = await stack.scrape()
    assert good.get(LIMIT, query="flows") == 20000  # the default
    groups = truth_groups(stack)
    count = len(groups)
    flow_ids = {g["flowId"] for g in groups}
    assert len(flow_ids) > len({g["mediaType"] for g in groups}) > 1
    assert len(entries(good)) == count

    await reload_with(stack, flows(max_series=count - 1))
    with capture_logs() as logs:
        assert await stack.daemon.poll("flows") is False
    assert len(truth_groups(stack)) == count  # same fake time: the same answer
    (event,) = [e for e in logs if e["event"] == "poll_failing"]
    assert {k: event[k] for k in ("query", "series", "max_series", "drop_dimension")} == {
        "query": "flows",
        "series": count,
        "max_series": count - 1,
        "drop_dimension": "flowId",
    }
    refused = await stack.scrape()
    assert refused.up("flows") == 0
    assert refused.get(FAILURES, query="flows") == 1
    assert refused.get(LIMIT, query="flows") == count - 1
    assert entries(refused) == entries(good)  # the last good data, kept
    query = await status_of(stack)
    assert (query["state"], query["max_series"], query["series"]) == ("failing", count - 1, count)
    assert query["error"]["status"] == 200
    assert query["error"]["series_limit"] == {
        "series": count,
        "limit": count - 1,
        "drop": "flowId",
        "distinct": len(flow_ids),
    }
    code, page = await stack.get("/")
    assert code == 200
    assert (
        f"{count} series came back, max_series is {count - 1}: drop <code>flowId</code> from "
        f"group_by ({len(flow_ids)} distinct values), or filter it"
    ) in page

    await reload_with(stack, flows(max_series=count))
    with capture_logs() as logs:
        assert await stack.daemon.poll("flows")
    assert [e["series"] for e in logs if e["event"] == "poll_recovered"] == [count]
    recovered = await stack.scrape()
    assert recovered.up("flows") == 1
    assert recovered.get(LIMIT, query="flows") == count
    assert entries(recovered) == entries(good)
    query = await status_of(stack)
    assert (query["state"], query["failing_now"]) == ("ok", False)
