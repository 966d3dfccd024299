"""The synthetic org's answers: consistent, deterministic, shaped like the real service's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from poller.simulator import SimulatorSettings
from poller.simulator.org import Org
from tests.simulator.sim_support import (
    ALL_METRICS,
    COUNT_METRICS,
    NOW,
    MakeSim,
    hours_before_now,
    interval,
    iso,
    totals,
)
from tests.support.clock import FakeClock

HOUR = hours_before_now(3, 2)  # 11:00-12:00 UTC
EVERYTHING = ["flowId", "flowOutcomeId", "flowOutcomeValue", "flowMilestoneId", "exitReason"]


def _flow_filter(*flow_ids: str) -> dict[str, Any]:
    return {
        "type": "or",
        "predicates": [{"dimension": "flowId", "value": flow_id} for flow_id in flow_ids],
    }


def _all_stats(results: list[dict[str, Any]]) -> list[tuple[str, dict[str, int]]]:
    return [
        (item["metric"], item["stats"])
        for result in results
        for bucket in result["data"]
        for item in bucket.get("metrics", [])
    ]


async def test_buckets_add_up_to_the_whole_interval(make_sim: MakeSim) -> None:
    """PT15M buckets merged (counts and sums added, max of maxes, min of mins) equal one bucket."""
    sim = await make_sim(flows=6)
    whole = await sim.results({"interval": HOUR, "groupBy": EVERYTHING, "metrics": ALL_METRICS})
    split = await sim.results(
        {"interval": HOUR, "granularity": "PT15M", "groupBy": EVERYTHING, "metrics": ALL_METRICS}
    )
    assert all(len(r["data"]) == 1 for r in whole)
    assert max(len(r["data"]) for r in split) == 4
    assert totals(split) == totals(whole)
    assert {m for _, metrics in totals(whole).items() for m in metrics} == set(ALL_METRICS)


async def test_minute_buckets_match_cached_blocks(make_sim: MakeSim) -> None:
    """PT1M buckets (summed from single executions) agree with the hour (summed from blocks)."""
    sim = await make_sim(flows=3)
    body = {"interval": HOUR, "groupBy": ["flowId", "flowOutcomeId"], "metrics": ALL_METRICS}
    whole = await sim.results(body)
    minutes = await sim.results({**body, "granularity": "PT1M"})
    assert totals(minutes) == totals(whole)


async def test_unaligned_intervals_add_up(make_sim: MakeSim) -> None:
    """Two adjacent intervals off every block boundary add up to the interval they cover."""
    sim = await make_sim(flows=3)
    a = NOW - timedelta(hours=3, minutes=7, seconds=13, milliseconds=250)
    b = NOW - timedelta(hours=2, minutes=31, seconds=2, milliseconds=7)
    c = NOW - timedelta(hours=1, minutes=58, seconds=59, milliseconds=999)
    body = {"groupBy": ["flowId", "exitReason"], "metrics": ALL_METRICS}
    whole = await sim.results({**body, "interval": interval(a, c)})
    first = await sim.results({**body, "interval": interval(a, b)})
    second = await sim.results({**body, "interval": interval(b, c)})
    assert totals(first + second) == totals(whole)


async def test_same_seed_same_answers(make_sim: MakeSim) -> None:
    """The same seed gives byte-identical answers, from one app twice and from two apps."""
    body = {
        "interval": HOUR,
        "granularity": "PT30M",
        "groupBy": ["flowName", "flowOutcome", "flowOutcomeValue"],
        "metrics": ALL_METRICS,
        "views": [
            {"name": "short", "target": "tFlow", "function": "rangeBound", "range": {"lt": 6e4}}
        ],
    }
    observe = {"filter": _media_filter(), "metrics": ["oFlow"], "detailMetrics": ["oFlow"]}
    one = await make_sim(flows=5, seed=11)
    two = await make_sim(flows=5, seed=11)
    first = (await one.aggregate(body)).text
    assert (await one.aggregate(body)).text == first
    assert (await two.aggregate(body)).text == first
    assert (await one.observe(observe)).text == (await two.observe(observe)).text
    org_one = (await one.send("/simulator/org", method="GET")).json
    assert org_one == (await two.send("/simulator/org", method="GET")).json


async def test_different_seeds_differ(make_sim: MakeSim) -> None:
    """Another seed gives another org (ids) and other numbers."""
    body = {"interval": HOUR, "groupBy": ["flowName"], "metrics": ["nFlow", "tFlow"]}
    one = await make_sim(flows=5, seed=1)
    two = await make_sim(flows=5, seed=2)
    assert (await one.aggregate(body)).text != (await two.aggregate(body)).text
    ids_one = {f.id for f in one.state.org.flows}
    assert ids_one.isdisjoint({f.id for f in two.state.org.flows})


def test_org_is_realistic_and_stable_as_it_grows() -> None:
    """Flows are varied and realistic, and growing the org keeps its first flows unchanged."""
    small, big = Org(3, 20), Org(3, 500)
    assert small.flows == big.flows[:20]
    assert small.flows[0].name == "Main IVR"
    assert "Billing Support" in {f.name for f in small.flows}
    assert len({f.name for f in big.flows}) == 500
    assert len({f.type for f in small.flows}) >= 6
    assert {f.media_type for f in small.flows} == {"voice", "chat", "message"}
    for flow in big.flows:
        assert 2 <= len(flow.outcomes) <= 4
        assert 1 <= len(flow.milestones) <= 4
        assert flow.version.endswith(".0")
    assert {f.division_id for f in small.flows} <= {d.id for d in small.divisions}


async def test_outcome_failures_and_endings_are_plausible(make_sim: MakeSim) -> None:
    """1-3 % of outcomes fail, and every ended execution is either a disconnect or an exit."""
    sim = await make_sim(flows=10)
    got = totals(await sim.results({"interval": hours_before_now(3), "metrics": ALL_METRICS}))
    metrics = got[()]
    failed = metrics["nFlowOutcomeFailed"]["count"] / metrics["nFlowOutcome"]["count"]
    assert 0.01 <= failed <= 0.03
    ended = metrics["tFlow"]["count"]
    assert ended == metrics["tFlowDisconnect"]["count"] + metrics["tFlowExit"]["count"]
    assert metrics["tFlow"]["sum"] == (
        metrics["tFlowDisconnect"]["sum"] + metrics["tFlowExit"]["sum"]
    )
    # Milestones repeat within an execution, so there are more of them than executions with one;
    # per-execution totals land at the end, so they match all reached only up to the edges.
    reached, totalled = metrics["nFlowMilestone"]["count"], metrics["oFlowMilestone"]["sum"]
    assert abs(reached - totalled) < 0.02 * totalled
    assert metrics["oFlowMilestone"]["sum"] > metrics["oFlowMilestone"]["count"]
    assert metrics["oFlowMilestone"]["max"] >= 2


async def test_stats_keys_and_units(make_sim: MakeSim) -> None:
    """Counts carry only count; timers carry max/min/count/sum in whole milliseconds."""
    sim = await make_sim(flows=4)
    results = await sim.results({"interval": HOUR, "groupBy": EVERYTHING, "metrics": ALL_METRICS})
    seen = set()
    for metric, stats in _all_stats(results):
        seen.add(metric)
        assert stats["count"] > 0  # nothing is zero-filled
        if metric in COUNT_METRICS:
            assert set(stats) == {"count"}
        else:
            assert set(stats) == {"max", "min", "count", "sum"}
            assert all(isinstance(v, int) for v in stats.values())
            assert stats["min"] <= stats["max"] <= stats["sum"]
    assert seen == set(ALL_METRICS)
    timers = [s for m, s in _all_stats(results) if m == "tFlow"]
    # Executions last seconds to minutes: milliseconds, not seconds.
    assert min(s["min"] for s in timers) >= 1_000
    assert max(s["max"] for s in timers) < 20 * 60 * 1000


async def test_groups_and_buckets_without_data_are_omitted(make_sim: MakeSim) -> None:
    """A filter matching nothing answers {}; a bucket in the future is left out, not zeroed."""
    sim = await make_sim(flows=3)
    none = await sim.aggregate(
        {"interval": HOUR, "metrics": ["nFlow"], "filter": _flow_filter("no-such-flow")}
    )
    assert none.status == 200
    assert none.json == {}
    future = await sim.results(
        {
            "interval": interval(NOW - timedelta(hours=1), NOW + timedelta(hours=1)),
            "granularity": "PT1H",
            "metrics": ["nFlow"],
        }
    )
    assert [b["interval"] for b in future[0]["data"]] == [hours_before_now(1)]
    assert "group" not in future[0]  # no groupBy, no group


async def test_nothing_after_now_exists(make_sim: MakeSim) -> None:
    """Counts up to now grow as the clock moves; the far future stays empty."""
    clock = FakeClock(NOW)
    sim = await make_sim(flows=3, clock=clock)
    body: dict[str, Any] = {
        "interval": interval(NOW - timedelta(minutes=10), NOW + timedelta(minutes=10))
    }
    body["metrics"] = ["nFlow", "tFlow"]
    before = totals(await sim.results(body))[()]
    clock.advance(300)
    after = totals(await sim.results(body))[()]
    assert after["nFlow"]["count"] > before["nFlow"]["count"]
    assert after["tFlow"]["count"] > before["tFlow"]["count"]
    later = {"interval": interval(NOW + timedelta(hours=1), NOW + timedelta(hours=2))}
    assert await sim.results({**later, "metrics": ["nFlow"]}) == []


async def test_group_by_outcome_splits_only_outcome_metrics(make_sim: MakeSim) -> None:
    """Grouped by flowOutcomeId, nFlow stays in a group without that key; outcomes split."""
    sim = await make_sim(flows=2)
    flow = sim.state.org.flows[0]
    results = await sim.results(
        {
            "interval": HOUR,
            "groupBy": ["flowId", "flowOutcomeId"],
            "metrics": ["nFlow", "nFlowOutcome"],
            "filter": _flow_filter(flow.id),
        }
    )
    got = totals(results)
    plain = (("flowId", flow.id),)
    assert set(got[plain]) == {"nFlow"}
    outcome_ids = {o.outcome.id for o in flow.outcomes}
    outcome_groups = [g for g in got if g != plain]
    assert {dict(g)["flowOutcomeId"] for g in outcome_groups} == outcome_ids
    assert all(set(got[g]) == {"nFlowOutcome"} for g in outcome_groups)


async def test_filters_on_flow_and_record_dimensions(make_sim: MakeSim) -> None:
    """matches, exists, notExists, or-clauses and FAILURE values select the expected records."""
    sim = await make_sim(flows=6)
    org = sim.state.org
    voice = {f.id for f in org.flows if f.media_type == "voice"}
    body = {"interval": HOUR, "groupBy": ["flowId", "mediaType"], "metrics": ALL_METRICS}

    by_media = totals(
        await sim.results(
            {
                **body,
                "filter": {
                    "type": "and",
                    "predicates": [{"dimension": "mediaType", "value": "voice"}],
                },
            }
        )
    )
    assert {dict(g)["flowId"] for g in by_media} == voice

    two = [org.flows[1].id, org.flows[2].id]
    assert {
        dict(g)["flowId"] for g in totals(await sim.results({**body, "filter": _flow_filter(*two)}))
    } == set(two)

    exists = totals(
        await sim.results(
            {
                **body,
                "filter": {
                    "type": "and",
                    "predicates": [{"dimension": "flowOutcomeId", "operator": "exists"}],
                },
            }
        )
    )
    assert {m for metrics in exists.values() for m in metrics} == {
        "nFlowOutcome",
        "nFlowOutcomeFailed",
        "tFlowOutcome",
    }
    missing = totals(
        await sim.results(
            {
                **body,
                "filter": {
                    "type": "and",
                    "predicates": [{"dimension": "flowOutcomeId", "operator": "notExists"}],
                },
            }
        )
    )
    assert "nFlowOutcome" not in {m for metrics in missing.values() for m in metrics}
    assert "nFlow" in {m for metrics in missing.values() for m in metrics}

    failed = totals(
        await sim.results(
            {
                **body,
                "metrics": ["nFlowOutcome", "nFlowOutcomeFailed"],
                "filter": {
                    "type": "and",
                    "clauses": [
                        {
                            "type": "or",
                            "predicates": [{"dimension": "flowId", "value": i} for i in two],
                        }
                    ],
                    "predicates": [{"dimension": "flowOutcomeValue", "value": "FAILURE"}],
                },
            }
        )
    )
    assert failed
    for metrics in failed.values():
        assert metrics["nFlowOutcome"] == metrics["nFlowOutcomeFailed"]


async def test_predicate_value_and_range_must_both_hold(make_sim: MakeSim) -> None:
    """matches with a value and a range keeps records that equal the value and lie in the range;
    exists and notExists ignore a value given with them."""
    sim = await make_sim(flows=6)
    versions = {f.id: f.version for f in sim.state.org.flows}
    some = next(iter(versions.values()))
    body = {"interval": HOUR, "groupBy": ["flowId"], "metrics": ["nFlow"]}

    async def flows(*predicates: dict[str, Any]) -> set[str]:
        results = await sim.results({**body, "filter": {"type": "and", "predicates": predicates}})
        return {r["group"]["flowId"] for r in results}

    number = float(some)
    both = await flows({"dimension": "flowVersion", "value": some, "range": {"gte": number}})
    assert both == {i for i, v in versions.items() if v == some}
    assert (
        await flows({"dimension": "flowVersion", "value": some, "range": {"gt": number}}) == set()
    )
    exists = await flows({"dimension": "flowId", "operator": "exists"})
    assert exists == set(versions)
    assert await flows({"dimension": "flowId", "operator": "exists", "value": "x"}) == exists
    assert await flows({"dimension": "flowId", "operator": "notExists", "value": "x"}) == set()


async def test_views_split_a_timer(make_sim: MakeSim) -> None:
    """rangeBound views below and from 30 s partition tFlow: counts and sums add up."""
    sim = await make_sim(flows=3)
    views = [
        {"name": "under30s", "target": "tFlow", "function": "rangeBound", "range": {"lt": 30000}},
        {"name": "from30s", "target": "tFlow", "function": "rangeBound", "range": {"gte": 30000}},
    ]
    results = await sim.results(
        {
            "interval": HOUR,
            "granularity": "PT30M",
            "groupBy": ["flowId"],
            "metrics": ["tFlow"],
            "views": views,
        }
    )
    checked = 0
    for result in results:
        for bucket in result["data"]:
            tflow = bucket["metrics"][0]["stats"]
            parts = {v["name"]: v["stats"] for v in bucket.get("views", [])}
            assert sum(p["count"] for p in parts.values()) == tflow["count"]
            assert sum(p["sum"] for p in parts.values()) == tflow["sum"]
            if "under30s" in parts:
                assert parts["under30s"]["max"] < 30000
            if "from30s" in parts:
                assert parts["from30s"]["min"] >= 30000
            checked += 1
    assert checked >= 5


async def test_day_buckets_follow_the_time_zone(make_sim: MakeSim) -> None:
    """P1D in Europe/London lays buckets on local midnights: the DST day is 23 hours long."""
    sim = await make_sim(flows=1)
    results = await sim.results(
        {
            "interval": "2026-03-28T00:00:00.000Z/2026-03-29T23:00:00.000Z",
            "granularity": "P1D",
            "timeZone": "Europe/London",
            "metrics": ["nFlow"],
        }
    )
    assert [b["interval"] for b in results[0]["data"]] == [
        "2026-03-28T00:00:00.000Z/2026-03-29T00:00:00.000Z",
        "2026-03-29T00:00:00.000Z/2026-03-29T23:00:00.000Z",
    ]
    utc = await sim.results(
        {
            "interval": "2026-03-28T00:00:00.000Z/2026-03-29T23:00:00.000Z",
            "granularity": "P1D",
            "metrics": ["nFlow"],
        }
    )
    # 47 hours are not whole UTC days: the last bucket ends with the interval.
    assert [b["interval"] for b in utc[0]["data"]] == [
        "2026-03-28T00:00:00.000Z/2026-03-29T00:00:00.000Z",
        "2026-03-29T00:00:00.000Z/2026-03-29T23:00:00.000Z",
    ]


async def test_granularity_need_not_divide_the_interval(make_sim: MakeSim) -> None:
    """PT25M over an hour gives 25, 25 and 10 minute buckets holding the same data as one."""
    sim = await make_sim(flows=3)
    body = {"interval": HOUR, "groupBy": ["flowId"], "metrics": ALL_METRICS}
    whole = await sim.results(body)
    split = await sim.results({**body, "granularity": "PT25M"})
    longer = await sim.results({**body, "granularity": "PT2H"})
    assert {b["interval"] for r in split for b in r["data"]} == {
        "2026-05-14T11:00:00.000Z/2026-05-14T11:25:00.000Z",
        "2026-05-14T11:25:00.000Z/2026-05-14T11:50:00.000Z",
        "2026-05-14T11:50:00.000Z/2026-05-14T12:00:00.000Z",
    }
    assert totals(split) == totals(whole)
    assert longer == whole


async def test_intervals_of_any_length_are_answered(make_sim: MakeSim) -> None:
    """A 30-day interval (no maximum is documented) answers 200 with every day's executions."""
    sim = await make_sim(flows=2)
    month = await sim.results(
        {
            "interval": interval(NOW - timedelta(days=30), NOW),
            "granularity": "P1D",
            "groupBy": ["flowId"],
            "metrics": ["nFlow", "tFlow"],
        }
    )
    assert len(month) == 2
    for result in month:
        assert len(result["data"]) == 30
        assert all(b["metrics"][0]["stats"]["count"] > 0 for b in result["data"])


async def test_observations_match_the_aggregates(make_sim: MakeSim) -> None:
    """Per flow, running(now) = running(then) + started - ended in between (nFlow - tFlow);
    with no indexing lag, so that the aggregates see what the observations see."""
    clock = FakeClock(NOW - timedelta(minutes=30))
    sim = await make_sim(flows=6, clock=clock, lag=0.0)
    body = {"filter": _media_filter(), "metrics": ["oFlow"]}
    then_ms = int(clock.now * 1000)
    before = _running(await sim.observe(body))
    clock.advance(1800.0)
    now_ms = int(clock.now * 1000)
    after = _running(await sim.observe(body))
    window = interval(_from_ms(then_ms + 1), _from_ms(now_ms + 1))
    flows = totals(
        await sim.results(
            {"interval": window, "groupBy": ["flowId"], "metrics": ["nFlow", "tFlow"]}
        )
    )
    assert sum(after.values()) > 0
    for flow in sim.state.org.flows:
        # A quiet flow can have no execution starting or ending in the half hour.
        metrics = flows.get((("flowId", flow.id),), {})
        started = metrics.get("nFlow", {"count": 0})["count"]
        ended = metrics.get("tFlow", {"count": 0})["count"]
        assert after.get(flow.id, 0) == before.get(flow.id, 0) + started - ended


async def test_observation_details_and_filter(make_sim: MakeSim) -> None:
    """detailMetrics lists each running execution of the filtered flows, each counted by nFlow."""
    sim = await make_sim(flows=4)
    flow = sim.state.org.flows[0]
    reply = await sim.observe(
        {"filter": _flow_filter(flow.id), "metrics": ["oFlow"], "detailMetrics": ["oFlow"]}
    )
    results = reply.json["results"]
    assert [r["group"] for r in results] == [{"flowId": flow.id, "mediaType": flow.media_type}]
    data = results[0]["data"][0]
    assert data["metric"] == "oFlow"
    assert data["truncated"] is False
    observations = data["observations"]
    assert len(observations) == data["stats"]["count"] > 0
    dates = [o["observationDate"] for o in observations]
    assert dates == sorted(dates)
    assert len({o["conversationId"] for o in observations}) == len(observations)
    for item in observations:
        started = datetime.fromisoformat(item["observationDate"].replace("Z", "+00:00"))
        assert started <= NOW
        minute = started.replace(second=0, microsecond=0)
        counted = totals(
            await sim.results(
                {
                    "interval": interval(minute, minute + timedelta(minutes=1)),
                    "metrics": ["nFlow"],
                    "filter": _flow_filter(flow.id),
                }
            )
        )
        assert counted[()]["nFlow"]["count"] >= 1
    plain = await sim.observe({"filter": _flow_filter(flow.id), "metrics": ["oFlow"]})
    assert "observations" not in plain.json["results"][0]["data"][0]


async def test_repeated_query_is_served_from_cache(make_sim: MakeSim) -> None:
    """A long query asked again is answered from the cached blocks, with the same answer."""
    sim = await make_sim(flows=5)
    body = {"interval": hours_before_now(6), "groupBy": ["flowId"], "metrics": ALL_METRICS}
    first = (await sim.aggregate(body)).text
    blocks = sim.state.engine.cached_blocks()
    assert (await sim.aggregate(body)).text == first
    assert sim.state.engine.cached_blocks() == blocks
    assert len(totals((await sim.aggregate(body)).json["results"])) == 5


def _media_filter() -> dict[str, Any]:
    return {
        "type": "or",
        "predicates": [
            {"dimension": "mediaType", "value": m} for m in ("voice", "chat", "message")
        ],
    }


def _running(reply: Any) -> dict[str, int]:
    assert reply.status == 200, reply.text
    return {
        r["group"]["flowId"]: r["data"][0]["stats"]["count"] for r in reply.json.get("results", [])
    }


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def test_settings_default_like_the_real_service() -> None:
    """Defaults: a 20-flow org, 300 requests a minute, day-long tokens, demo credentials."""
    settings = SimulatorSettings()
    assert (settings.flows, settings.requests_per_minute, settings.token_ttl) == (20, 300, 86399.0)
    assert (settings.client_id, settings.seed) == ("demo-client", 1)
    assert iso(NOW) == "2026-05-14T14:00:00.000Z"


async def test_long_observation_lists_are_truncated(make_sim: MakeSim, monkeypatch: Any) -> None:
    """Past the detail limit, observations keep the oldest and newest halves and say so."""
    sim = await make_sim(flows=1)
    body = {"filter": _media_filter(), "metrics": ["oFlow"], "detailMetrics": ["oFlow"]}
    monkeypatch.setattr("poller.simulator.engine.OBSERVATION_DETAIL_LIMIT", 10_000)
    full = (await sim.observe(body)).json["results"][0]["data"][0]
    assert full["stats"]["count"] > 4
    monkeypatch.setattr("poller.simulator.engine.OBSERVATION_DETAIL_LIMIT", 4)
    cut = (await sim.observe(body)).json["results"][0]["data"][0]
    assert cut["truncated"] is True
    assert cut["stats"] == full["stats"]
    assert cut["observations"] == full["observations"][:2] + full["observations"][-2:]
