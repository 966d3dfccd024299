"""Push settings and `--faults` items: `GET|PUT /simulator/push`, `simulate --push-*`, and the
`push-*` items with clear errors for bad ones."""

from __future__ import annotations

import pytest

from poller.cli import parser
from poller.simulator import SimulatorSettingsError
from poller.simulator.pushsettings import PushFaultSpec
from poller.simulator.settings import parse_simulate_faults
from tests.simulator.push_support import CHANNELS, MakePushSim, closed, flow_topic, open_push_sim

DEFAULTS = {
    "deltas": False,
    "heartbeat": 30.0,
    "interval": 1800.0,
    "closing_grace": 60.0,
    "topic_limit": 1000,
}


async def test_get_and_put_the_settings(make_push_sim: MakePushSim) -> None:
    """GET shows the defaults and no channel; PUT changes the keys it names and keeps the
    others; the topic limit it sets is the one subscriptions meet."""
    sim = await make_push_sim()
    got = await sim.control("GET", "/simulator/push")
    assert got.json == {"channels": [], "settings": DEFAULTS}
    put = await sim.control("PUT", "/simulator/push", {"topic_limit": 2, "closing_grace": 5})
    assert put.json["settings"] == DEFAULTS | {"topic_limit": 2, "closing_grace": 5.0}
    channel = (await sim.channel())["id"]
    flows = [f.id for f in sim.state.org.flows[:3]]
    assert (await sim.subscribe(channel, [flow_topic(f) for f in flows[:2]])).status == 200
    assert (await sim.subscribe(channel, [flow_topic(flows[2])], "POST")).status == 400
    listed = (await sim.control("GET", "/simulator/push")).json["channels"]
    assert listed == [
        {"id": channel, "connected": False, "topics": 2, "sent": 0, "client_id": "demo-client"}
    ]


async def test_bad_settings_are_400_listing_every_problem(make_push_sim: MakePushSim) -> None:
    """A PUT with bad values changes nothing and names each bad key."""
    sim = await make_push_sim()
    bad = await sim.control(
        "PUT",
        "/simulator/push",
        {"deltas": "yes", "heartbeat": 0.5, "interval": 600, "topic_limit": 1.5, "colour": 1},
    )
    assert bad.status == 400
    assert bad.json["problems"] == [
        "push: unknown key 'colour'; known: deltas, heartbeat, interval, closing_grace, "
        "topic_limit",
        "push: deltas 'yes': expected true or false",
        "push: heartbeat 0.5: expected seconds from 1 to 86400",
        "push: interval 600: expected 900, 1800 or 3600 (seconds)",
        "push: topic_limit 1.5: expected a whole number from 1 to 100000",
    ]
    assert (await sim.control("GET", "/simulator/push")).json["settings"] == DEFAULTS
    assert (await sim.control("PUT", "/simulator/push", [1])).status == 400


def test_push_items_parse_among_the_other_faults() -> None:
    """`push-*` items mix with rate and flow faults; socket faults may repeat."""
    faults, items = parse_simulate_faults(
        "503=0.1,stop=2@+5m,push-drop@+90s,push-closing@1779000000,push-drop@+3m,"
        "push-unsubscribed,push-revoked@+1h,push-silent@+10s,push-forbid=3"
    )
    assert faults.errors == {503: 0.1}
    assert [i for i in items if isinstance(i, PushFaultSpec)] == [
        PushFaultSpec("drop", delay=90.0),
        PushFaultSpec("closing", at=1779000000.0),
        PushFaultSpec("drop", delay=180.0),
        PushFaultSpec("unsubscribed"),
        PushFaultSpec("revoked", delay=3600.0),
        PushFaultSpec("silent", delay=10.0),
        PushFaultSpec("forbid", flow="3"),
    ]


def test_bad_push_items_are_named_all_at_once() -> None:
    """Every bad push item is reported, each naming itself and the form expected."""
    with pytest.raises(SimulatorSettingsError) as bad:
        parse_simulate_faults("push-nope@+1m,push-drop@soon,push-forbid=,push-forbid=2@+1m")
    kinds = (
        "push-drop@WHEN, push-closing@WHEN, push-unsubscribed@WHEN, push-revoked@WHEN, "
        "push-silent@WHEN, push-expired@WHEN or push-forbid=FLOW"
    )
    assert bad.value.problems == [
        f"faults: 'push-nope@+1m': unknown push fault; expected {kinds}",
        "faults: 'push-drop@soon': expected @+DURATION after start-up (e.g. @+5m) or "
        "@EPOCH_SECONDS",
        "faults: 'push-forbid=': expected push-forbid=FLOW (a flow id or index), e.g. "
        "push-forbid=3",
        "faults: 'push-forbid=2@+1m': expected push-forbid=FLOW (a flow id or index), e.g. "
        "push-forbid=3",
    ]


async def test_push_forbid_of_an_unknown_flow_is_refused() -> None:
    """`push-forbid=` a flow the org does not have fails the simulator's start, naming it."""
    _, items = parse_simulate_faults("push-forbid=9")
    with pytest.raises(SimulatorSettingsError) as bad:
        await open_push_sim(flow_faults=items)
    assert bad.value.problems == [
        "faults: push-forbid=9: no flow has that id, and the org's flows are numbered 0 to 3"
    ]


async def test_fault_items_act_at_their_moment(make_push_sim: MakePushSim) -> None:
    """`push-forbid=1` refuses flow 1's topics from the start; `push-drop@+30s` drops the
    connected socket at the first tick 30 s after start-up, not before."""
    _, items = parse_simulate_faults("push-forbid=1,push-drop@+30s")
    sim = await make_push_sim(flow_faults=items)
    channel = await sim.channel()
    refused = await sim.subscribe(channel["id"], [flow_topic(sim.state.org.flows[1].id)])
    assert refused.status == 403
    async with sim.socket(channel["connectUri"]) as ws:
        await sim.tick(29)
        assert (await sim.control("GET", "/simulator/push")).json["channels"][0]["connected"]
        await sim.tick(1)
        assert (await closed(ws)).type.name in ("CLOSED", "ERROR")
    assert await sim.head(channel["id"]) == 200
    assert (await sim.call("GET", f"{CHANNELS}/{channel['id']}/subscriptions")).status == 200


def test_simulate_takes_the_push_options() -> None:
    """--push-deltas, --push-interval and --push-heartbeat parse to seconds and a switch."""
    args = parser().parse_args(
        ["simulate", "--push-deltas", "--push-interval", "15m", "--push-heartbeat", "2m"]
    )
    assert (args.push_deltas, args.push_interval, args.push_heartbeat) == (True, 900.0, 120.0)
    plain = parser().parse_args(["simulate"])
    assert (plain.push_deltas, plain.push_interval, plain.push_heartbeat) == (False, None, None)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--push-interval", "20m", "expected 15m, 30m or 60m, got '20m'"),
        ("--push-heartbeat", "0.5s", "expected a duration from 1s to 24h such as 5s or 1m"),
        ("--faults", "push-boom", "'push-boom': unknown push fault"),
    ],
)
def test_bad_push_options_are_usage_errors(
    flag: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad push option exits 2 with a message naming the flag and what it expects."""
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(["simulate", flag, value])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert flag in err
    assert message in err
