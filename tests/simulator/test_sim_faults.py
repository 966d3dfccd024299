"""Fault injection: the spec, the control API, and what each fault does to a client."""

from __future__ import annotations

import json
import random

import aiohttp
import pytest
import structlog

from poller.catalog import AGGREGATE_PATH, OBSERVATION_PATH
from poller.simulator import FaultSettings, faults_from_json, parse_fault_spec
from poller.simulator.errors import SimulatorSettingsError
from tests.simulator.sim_support import VALID_BODY, MakeSim

OBSERVATION = {
    "filter": {"type": "or", "predicates": [{"dimension": "mediaType", "value": "voice"}]},
    "metrics": ["oFlow"],
}


# -- the spec -------------------------------------------------------------------------------


def test_spec_with_every_fault() -> None:
    """The documented example spec parses into the matching settings and back to itself."""
    spec = (
        "503=0.2,500=0.1,latency=200ms,reset=0.05,malformed=0.1,truncated=0.1,wrongshape=0.1,"
        "storm429=30s,retry_after=7,token_down,forbidden=observations,huge=0.1,huge_size=64kb,"
        "login429=1m,client_disabled"
    )
    faults = parse_fault_spec(spec)
    assert faults.errors == {503: 0.2, 500: 0.1}
    assert faults.latency == pytest.approx(0.2)
    assert (faults.reset, faults.malformed, faults.truncated) == (0.05, 0.1, 0.1)
    assert (faults.wrongshape, faults.huge, faults.huge_size) == (0.1, 0.1, 65536)
    assert (faults.storm429, faults.retry_after) == (30.0, 7)
    assert faults.token_down is True
    assert faults.forbidden == "observations"
    assert (faults.login429, faults.client_disabled) == (60.0, True)
    assert parse_fault_spec(faults.to_spec()) == faults
    assert faults_from_json(json.loads(json.dumps(faults.to_json()))) == faults


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", FaultSettings()),
        ("none", FaultSettings()),
        ("502=20%", FaultSettings(errors={502: 0.2})),
        (" 504 = 1 , latency = 1.5s ", FaultSettings(errors={504: 1.0}, latency=1.5)),
        ("storm429=2m", FaultSettings(storm429=120.0)),
        ("latency=3", FaultSettings(latency=3.0)),
        ("token_down=false", FaultSettings()),
        ("forbidden=ALL", FaultSettings(forbidden="all")),
        ("huge_size=2mb", FaultSettings(huge_size=2 * 1024 * 1024)),
    ],
)
def test_spec_forms(spec: str, expected: FaultSettings) -> None:
    """Percentages, units, spaces and case are read as documented."""
    assert parse_fault_spec(spec) == expected


def test_bad_spec_lists_every_problem() -> None:
    """A bad spec raises SimulatorSettingsError naming each bad item, prefixed with `faults:`."""
    with pytest.raises(SimulatorSettingsError) as info:
        parse_fault_spec("503=1.5,teapot=0.1,latency=soon,418=0.1,forbidden=users,reset,,503=0.1")
    problems = info.value.problems
    assert all(p.startswith("faults: ") for p in problems)
    text = "\n".join(problems)
    assert "503='1.5': expected a rate between 0 and 1" in text
    assert "unknown fault 'teapot'" in text
    assert "latency='soon': expected a duration" in text
    assert "error status 418 is not supported; use one of 500, 502, 503, 504" in text
    assert (
        "forbidden='users': expected one of aggregates, observations, flows, outcomes, "
        "milestones, all" in text
    )
    assert "'reset' needs a value" in text
    assert "empty item" in text
    assert "'503' is given twice" in text


def test_rates_must_leave_room_for_each_other() -> None:
    """At most one rate fault fires per request, so rates adding up past 1 are refused."""
    with pytest.raises(SimulatorSettingsError) as info:
        parse_fault_spec("503=0.6,reset=0.5")
    assert info.value.problems == [
        "faults: the rates add up to 1.1; at most one rate fault happens per request, "
        "so their sum must be at most 1"
    ]


def test_bad_json_faults() -> None:
    """The control API's JSON form is checked like the spec."""
    with pytest.raises(SimulatorSettingsError) as info:
        faults_from_json({"503": True, "latency": [1], "reset": 2})
    text = "\n".join(info.value.problems)
    assert "'503' takes a number or string, not a boolean" in text
    assert "'latency' has an invalid value" in text
    with pytest.raises(SimulatorSettingsError):
        faults_from_json(["503=1"])


# -- each fault over HTTP -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (500, "internal.server.error"),
        (502, "bad.gateway"),
        (503, "service.unavailable"),
        (504, "request.timeout"),
    ],
)
async def test_server_errors(make_sim: MakeSim, status: int, code: str) -> None:
    """`NNN=1` answers every analytics request with that status and a Genesys error body."""
    sim = await make_sim(faults=parse_fault_spec(f"{status}=1"))
    for path, body in ((AGGREGATE_PATH, VALID_BODY), (OBSERVATION_PATH, OBSERVATION)):
        reply = await sim.api(path, body)
        assert reply.status == status
        assert reply.json["code"] == code
        assert reply.json["status"] == status
        assert reply.json["contextId"] == reply.headers["ININ-Correlation-Id"]
        assert reply.json["message"]


async def test_error_rate_follows_the_seeded_rng(make_sim: MakeSim) -> None:
    """`503=0.3` fails about 30 % of requests, and the same rng seed fails the same ones."""

    async def run() -> list[int]:
        sim = await make_sim(
            flows=1,
            requests_per_minute=10_000,
            faults=parse_fault_spec("503=0.3"),
            rng=random.Random(42),
        )
        return [(await sim.aggregate(VALID_BODY)).status for _ in range(80)]

    first = await run()
    assert set(first) == {200, 503}
    assert 12 <= first.count(503) <= 38
    assert await run() == first


async def test_connection_reset(make_sim: MakeSim) -> None:
    """`reset=1` closes the connection without a response; stats record status 0."""
    sim = await make_sim(faults=parse_fault_spec("reset=1"))
    with pytest.raises(aiohttp.ClientConnectionError):
        await sim.aggregate(VALID_BODY)
    assert sim.state.stats.count(AGGREGATE_PATH, 0) == 1
    sim.state.faults.set(FaultSettings())
    assert (await sim.aggregate(VALID_BODY)).status == 200


async def test_malformed_json(make_sim: MakeSim) -> None:
    """`malformed=1` answers 200 application/json with a body that is not JSON."""
    sim = await make_sim(faults=parse_fault_spec("malformed=1"))
    reply = await sim.aggregate(VALID_BODY)
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.text)


async def test_truncated_json(make_sim: MakeSim) -> None:
    """`truncated=1` answers 200 with a cut-off prefix of the real body."""
    sim = await make_sim()
    real = await sim.aggregate(VALID_BODY)
    sim.state.faults.set(parse_fault_spec("truncated=1"))
    cut = await sim.aggregate(VALID_BODY)
    assert cut.status == 200
    assert 0 < len(cut.text) < len(real.text)
    assert real.text.startswith(cut.text)
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.text)


async def test_wrong_shape(make_sim: MakeSim) -> None:
    """`wrongshape=1` answers 200 with valid JSON whose results is a string."""
    sim = await make_sim(faults=parse_fault_spec("wrongshape=1"))
    for path, body in ((AGGREGATE_PATH, VALID_BODY), (OBSERVATION_PATH, OBSERVATION)):
        reply = await sim.api(path, body)
        assert reply.status == 200
        assert isinstance(reply.json["results"], str)


async def test_huge_body(make_sim: MakeSim) -> None:
    """`huge=1` pads the real, still valid answer to at least huge_size bytes."""
    sim = await make_sim()
    real = (await sim.aggregate(VALID_BODY)).json
    sim.state.faults.set(parse_fault_spec("huge=1,huge_size=64kb"))
    reply = await sim.aggregate(VALID_BODY)
    assert reply.status == 200
    assert len(reply.text.encode()) >= 65536
    assert int(reply.headers["Content-Length"]) >= 65536
    assert reply.json == real


async def test_latency_is_added_through_the_injected_sleep(make_sim: MakeSim) -> None:
    """`latency=250ms` sleeps 0.25 s before answering token and analytics requests."""
    sim = await make_sim(faults=parse_fault_spec("latency=250ms"))
    assert (await sim.login()).status == 200
    assert (await sim.observe(OBSERVATION)).status == 200
    assert sim.clock.sleeps == [0.25, 0.25, 0.25]  # token() logs in once more for the api call


async def test_429_storm(make_sim: MakeSim) -> None:
    """`storm429=30s,retry_after=7` refuses all analytics calls for 30 s without using budget."""
    sim = await make_sim(
        requests_per_minute=2, faults=parse_fault_spec("storm429=30s,retry_after=7")
    )
    for _ in range(4):
        reply = await sim.aggregate(VALID_BODY)
        assert reply.status == 429
        assert reply.headers["Retry-After"] == "7"
        assert reply.json["code"] == "too.many.requests.retry.after"
        assert reply.json["message"] == (
            "Rate limit exceeded the maximum. Retry the request in [7] seconds"
        )
        sim.clock.advance(7.0)
    sim.clock.advance(2.0)  # 30 s since the faults were installed
    assert (await sim.aggregate(VALID_BODY)).status == 200
    assert (await sim.observe(OBSERVATION)).status == 200
    assert sim.state.stats.sent_during_pause() == []


async def test_token_endpoint_down(make_sim: MakeSim) -> None:
    """`token_down` makes /oauth/token answer 503 while tokens already issued keep working."""
    sim = await make_sim()
    token = await sim.token()
    sim.state.faults.set(parse_fault_spec("token_down"))
    login = await sim.login()
    assert login.status == 503
    assert login.json["code"] == "service.unavailable"
    assert (await sim.api(AGGREGATE_PATH, VALID_BODY, token=token)).status == 200


@pytest.mark.parametrize(
    ("spec", "refused", "permission"),
    [
        ("forbidden=observations", OBSERVATION_PATH, "analytics:flowObservation:view"),
        ("forbidden=aggregates", AGGREGATE_PATH, "analytics:flowAggregate:view"),
    ],
)
async def test_missing_permission(
    make_sim: MakeSim, spec: str, refused: str, permission: str
) -> None:
    """`forbidden=X` gives 403 missing.permissions naming X's permission; the other works."""
    sim = await make_sim(faults=parse_fault_spec(spec))
    for path, body in ((AGGREGATE_PATH, VALID_BODY), (OBSERVATION_PATH, OBSERVATION)):
        reply = await sim.api(path, body)
        if path == refused:
            assert reply.status == 403
            assert reply.json["code"] == "missing.permissions"
            assert reply.json["message"] == (
                f"You are missing the following permission(s): [{permission}]"
            )
        else:
            assert reply.status == 200


# -- the control API ------------------------------------------------------------------------


async def test_control_api_round_trip(make_sim: MakeSim) -> None:
    """PUT installs faults (JSON or a text spec), GET shows them, DELETE clears them."""
    sim = await make_sim()
    with structlog.testing.capture_logs() as events:
        put = await sim.send("/simulator/faults", method="PUT", body={"503": 1, "latency": "10ms"})
    assert put.status == 200
    assert put.json["503"] == 1
    assert put.json["latency"] == pytest.approx(0.01)
    assert [e["faults"] for e in events if e["event"] == "simulator.faults"] == [
        "503=1,latency=0.01s"
    ]
    assert (await sim.send("/simulator/faults", method="GET")).json == put.json
    assert (await sim.aggregate(VALID_BODY)).status == 503

    text = await sim.send(
        "/simulator/faults",
        method="PUT",
        data="forbidden=aggregates",
        headers={"Content-Type": "text/plain"},
    )
    assert text.json["forbidden"] == "aggregates"
    assert "503" not in text.json  # PUT replaces, it does not merge
    assert (await sim.aggregate(VALID_BODY)).status == 403

    cleared = await sim.send("/simulator/faults", method="DELETE")
    assert cleared.json == FaultSettings().to_json()
    assert (await sim.aggregate(VALID_BODY)).status == 200


async def test_control_api_refuses_bad_faults(make_sim: MakeSim) -> None:
    """A bad PUT is a 400 listing the problems, and the faults in force stay as they were."""
    sim = await make_sim(faults=parse_fault_spec("502=0.5"))
    reply = await sim.send("/simulator/faults", method="PUT", body={"502": 2, "bogus": 1})
    assert reply.status == 400
    assert len(reply.json["problems"]) == 2
    assert (await sim.send("/simulator/faults", method="GET")).json["502"] == 0.5
    not_json = await sim.send(
        "/simulator/faults",
        method="PUT",
        data=b"{",
        headers={"Content-Type": "application/json"},
    )
    assert not_json.status == 400
    assert not_json.json["problems"] == ["faults: the body is not JSON"]
