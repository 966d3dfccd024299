"""The Notifications API's channel calls: create, subscriptions, HEAD, limits, auth, budget."""

from __future__ import annotations

from datetime import timedelta

from poller.simulator import parse_fault_spec
from tests.simulator.push_support import (
    CHANNELS,
    MakePushSim,
    closed,
    flow_topic,
    outcome_topic,
)
from tests.simulator.sim_support import NOW, VALID_BODY, iso


async def test_create_answers_id_connect_uri_and_a_day_of_life(make_push_sim: MakePushSim) -> None:
    """POST channels: 200 with an id, the socket's ws:// URI on this host, expiry now + 24 h."""
    sim = await make_push_sim()
    got = await sim.channel()
    host = sim.base.removeprefix("http://")
    assert set(got) == {"id", "connectUri", "expires"}
    assert got["connectUri"] == f"ws://{host}{CHANNELS}/{got['id']}/socket"
    assert got["expires"] == iso(NOW + timedelta(hours=24))
    assert (await sim.channel())["id"] != got["id"]


async def test_subscriptions_add_replace_list_and_clear(make_push_sim: MakePushSim) -> None:
    """POST adds, PUT replaces, GET lists, DELETE clears; each answers the topics after it."""
    sim = await make_push_sim()
    a, b = (f.id for f in sim.state.org.flows[:2])
    channel = (await sim.channel())["id"]
    path = f"{CHANNELS}/{channel}/subscriptions"

    def ids(*topics: str) -> dict[str, object]:
        return {"entities": [{"id": t} for t in topics]}

    added = await sim.subscribe(channel, [flow_topic(a)], "POST")
    assert (added.status, added.json) == (200, ids(flow_topic(a)))
    added = await sim.subscribe(channel, [outcome_topic(a), flow_topic(a)], "POST")
    assert added.json == ids(flow_topic(a), outcome_topic(a))
    replaced = await sim.subscribe(channel, [flow_topic(b)], "PUT")
    assert replaced.json == ids(flow_topic(b))
    assert (await sim.call("GET", path)).json == ids(flow_topic(b))
    cleared = await sim.call("DELETE", path)
    assert (cleared.status, cleared.json) == (200, ids())
    assert (await sim.call("GET", path)).json == ids()


async def test_more_topics_than_the_limit_is_400_and_changes_nothing(
    make_push_sim: MakePushSim,
) -> None:
    """1,001 topics on a channel (by PUT, or POST on top of others) is a 400; the channel
    keeps the topics it had."""
    sim = await make_push_sim()
    channel = (await sim.channel())["id"]
    topics = [flow_topic(f"{n:08x}-0000-4000-8000-000000000000") for n in range(1001)]
    assert (await sim.subscribe(channel, topics[:1000])).status == 200
    too_many = await sim.subscribe(channel, topics[1000:], "POST")
    assert too_many.status == 400
    assert too_many.json["code"] == "bad.request"
    assert "at most 1000" in too_many.json["message"]
    assert (await sim.subscribe(channel, topics, "PUT")).status == 400
    listed = await sim.call("GET", f"{CHANNELS}/{channel}/subscriptions")
    assert [e["id"] for e in listed.json["entities"]] == topics[:1000]


async def test_a_malformed_topic_is_400_naming_it(make_push_sim: MakePushSim) -> None:
    """A topic that is not one of the two flow topics is a 400 whose message names it."""
    sim = await make_push_sim()
    channel = (await sim.channel())["id"]
    flow = sim.state.org.flows[0].id
    for bad in ("v2.analytics.flow.aggregates", f"v2.analytics.queue.{flow}.aggregates"):
        reply = await sim.subscribe(channel, [flow_topic(flow), bad], query="?ignoreErrors=true")
        assert reply.status == 400, bad
        assert repr(bad) in reply.json["message"]
    not_a_list = await sim.call("PUT", f"{CHANNELS}/{channel}/subscriptions", {"id": "x"})
    assert not_a_list.status == 400
    listed = await sim.call("GET", f"{CHANNELS}/{channel}/subscriptions")
    assert listed.json == {"entities": []}


async def test_a_forbidden_topic_is_403_unless_errors_are_ignored(
    make_push_sim: MakePushSim,
) -> None:
    """A forbidden flow's topic fails the whole call with a 403 naming the topic and the
    permission; with ignoreErrors=true it is left out and the others are subscribed."""
    sim = await make_push_sim()
    allowed, refused = (f.id for f in sim.state.org.flows[:2])
    put = await sim.control("PUT", "/simulator/push/forbidden/1")
    assert (put.status, put.json) == (200, {"forbidden": [refused]})
    channel = (await sim.channel())["id"]
    wanted = [flow_topic(allowed), flow_topic(refused), outcome_topic(refused)]
    reply = await sim.subscribe(channel, wanted)
    assert reply.status == 403
    assert reply.json["code"] == "missing.permissions"
    assert flow_topic(refused) in reply.json["message"]
    assert "analytics:flowAggregate:view" in reply.json["message"]
    listed = await sim.call("GET", f"{CHANNELS}/{channel}/subscriptions")
    assert listed.json == {"entities": []}
    ignored = await sim.subscribe(channel, wanted, query="?ignoreErrors=true")
    assert (ignored.status, ignored.json) == (200, {"entities": [{"id": flow_topic(allowed)}]})
    deleted = await sim.control("DELETE", f"/simulator/push/forbidden/{refused}")
    assert deleted.json == {"forbidden": []}
    assert (await sim.subscribe(channel, wanted)).status == 200


async def test_unknown_channels_are_404(make_push_sim: MakePushSim) -> None:
    """HEAD and the subscription calls on an unknown channel, or another org's, are 404; the
    error message shows no more than 8 characters of the id."""
    sim = await make_push_sim(orgs=2)
    theirs = (await sim.channel())["id"]
    login = await sim.login("demo-client-2", "demo-secret-2")
    mine_token = login.json["access_token"]
    for channel in ("0e4c9b1a-1111-4222-8333-444455556666", theirs):
        head = await sim.call("HEAD", f"{CHANNELS}/{channel}", token=mine_token)
        assert head.status == 404
        reply = await sim.call("GET", f"{CHANNELS}/{channel}/subscriptions", token=mine_token)
        assert reply.status == 404
        assert channel not in reply.text
    assert await sim.head(theirs) == 200


async def test_channel_calls_need_a_valid_token(make_push_sim: MakePushSim) -> None:
    """No bearer token is 401 authentication.required; an unknown one 401 bad.credentials."""
    sim = await make_push_sim()
    channel = (await sim.channel())["id"]
    calls = [
        ("POST", CHANNELS),
        ("GET", f"{CHANNELS}/{channel}/subscriptions"),
        ("PUT", f"{CHANNELS}/{channel}/subscriptions"),
        ("DELETE", f"{CHANNELS}/{channel}/subscriptions"),
    ]
    for method, path in calls:
        bare = await sim.send(path, body=[], method=method)
        assert (bare.status, bare.json["code"]) == (401, "authentication.required"), path
        wrong = await sim.call(method, path, [], token="not-a-token")
        assert (wrong.status, wrong.json["code"]) == (401, "bad.credentials"), path
    assert (await sim.send(f"{CHANNELS}/{channel}", method="HEAD")).status == 401


async def test_channel_calls_spend_the_rate_budget(make_push_sim: MakePushSim) -> None:
    """Channel calls and analytics queries share the client's budget (3 a minute here): the
    fourth call of either kind is a 429; the stats count channel calls by route, no ids."""
    sim = await make_push_sim(requests_per_minute=3)
    channel = (await sim.channel())["id"]
    assert await sim.head(channel) == 200
    assert (await sim.aggregate(VALID_BODY)).status == 200
    refused = await sim.call("POST", CHANNELS)
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "60"
    assert await sim.head(channel) == 429
    counts = sim.state.stats.to_json()["requests"]
    assert counts == {
        CHANNELS: {"200": 1, "429": 1},
        CHANNELS + "/{channel_id}": {"200": 1, "429": 1},
        "/api/v2/analytics/flows/aggregates/query": {"200": 1},
        "/oauth/token": {"200": 1},
    }


async def test_a_channel_expires_a_day_after_its_last_subscription(
    make_push_sim: MakePushSim,
) -> None:
    """HEAD is 200 while the channel lives, 404 after: 24 h from creation, or from the last
    subscription call (which starts the 24 h again)."""
    sim = await make_push_sim(token_ttl=10 * 86400.0)
    kept, lapsed = (await sim.channel())["id"], (await sim.channel())["id"]
    sim.clock.advance(12 * 3600)
    assert (await sim.subscribe(kept, [])).status == 200
    sim.clock.advance(12 * 3600 - 1)
    assert (await sim.head(lapsed), await sim.head(kept)) == (200, 200)
    sim.clock.advance(1)
    assert (await sim.head(lapsed), await sim.head(kept)) == (404, 200)
    sim.clock.advance(12 * 3600)
    assert await sim.head(kept) == 404


async def test_a_21st_channel_evicts_the_least_recently_used_unconnected_one(
    make_push_sim: MakePushSim,
) -> None:
    """With 20 channels, a new one evicts the least recently used unconnected channel (a
    connected one older than it survives); a client's channels do not count against another's."""
    sim = await make_push_sim(orgs=2)
    made = []
    for _ in range(20):
        made.append(await sim.channel())
        sim.clock.advance(1)
    other = await sim.login("demo-client-2", "demo-secret-2")
    assert (await sim.call("POST", CHANNELS, token=other.json["access_token"])).status == 200
    async with sim.socket(made[0]["connectUri"]):
        assert await sim.head(made[1]["id"]) == 200  # now the most recently used
        await sim.channel()
        alive = [await sim.head(c["id"]) for c in made]
    assert alive == [200, 200, 404] + [200] * 17


async def test_with_every_channel_connected_the_21st_closes_the_oldest_socket(
    make_push_sim: MakePushSim,
) -> None:
    """When all 20 are connected, the least recently used one goes: its socket is closed."""
    sim = await make_push_sim()
    made = []
    for _ in range(20):
        made.append(await sim.channel())
        sim.clock.advance(1)
    sockets = [await sim.http.ws_connect(c["connectUri"]) for c in made]
    try:
        await sim.channel()
        end = await closed(sockets[0])
        assert end.type.name == "CLOSE"
        assert [await sim.head(c["id"]) for c in made] == [404] + [200] * 19
        listed = (await sim.control("GET", "/simulator/push")).json["channels"]
        assert [c["connected"] for c in listed] == [True] * 19 + [False]
    finally:
        for ws in sockets:
            await ws.close()


async def test_without_the_aggregate_permission_every_topic_is_forbidden(
    make_push_sim: MakePushSim,
) -> None:
    """The org's `forbidden=aggregates` fault (no analytics:flowAggregate:view) refuses every
    flow topic, while the channel calls themselves, which need no permission, still work."""
    sim = await make_push_sim()
    sim.state.faults.set(parse_fault_spec("forbidden=aggregates"))
    channel = (await sim.channel())["id"]
    topics = [flow_topic(f.id) for f in sim.state.org.flows]
    refused = await sim.subscribe(channel, topics)
    assert (refused.status, refused.json["code"]) == (403, "missing.permissions")
    ignored = await sim.subscribe(channel, topics, query="?ignoreErrors=true")
    assert (ignored.status, ignored.json) == (200, {"entities": []})
    assert await sim.head(channel) == 200
