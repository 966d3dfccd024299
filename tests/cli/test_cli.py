"""The command line as a user runs it: subcommands, exit codes, output, signals."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from poller.simulator import Simulator, SimulatorSettings
from tests.support.demo import Demo, demo_command
from tests.support.exposition import Exposition
from tests.support.http import await_status
from tests.support.process import Child, listening, poller, simulating
from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = SimulatorSettings(seed=3)

CONFIG = """
genesys:
  region: mypurecloud.ie
  timeout: 5s
server:
  listen: "127.0.0.1:0"
queries:
  - name: flows_1h
    type: aggregate
    every: 1s
    window: 1h
    group_by: [flowId, flowName]
    metrics: [nFlow, tFlow]
  - name: active
    type: observation
    every: 1s
    metrics: [oFlow]
    filter: {type: or, predicates: [{dimension: mediaType, value: voice}]}
"""


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENESYS_")}
    env.pop("POLLER_CONFIG", None)
    env.update(extra)
    return env


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    sim = Simulator(SETTINGS)
    await sim.start("127.0.0.1", 0)
    yield sim
    await sim.stop()


def sim_env(sim: Simulator) -> dict[str, str]:
    return base_env(
        GENESYS_API_BASE_URL=sim.base_url,
        GENESYS_LOGIN_BASE_URL=sim.base_url,
        GENESYS_CLIENT_ID=SETTINGS.client_id,
        GENESYS_CLIENT_SECRET=SETTINGS.client_secret,
    )


async def run_cli(*args: str, env: dict[str, str], within: float = 60) -> tuple[int, str, str]:
    """Runs the CLI to its end without blocking the loop (the simulator lives in this process);
    (exit code, stdout, stderr)."""
    child = Child(poller(*args), env=env)
    code = await child.exited(within)
    return code, _text(child.stdout), _text(child.stderr)


def _text(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


async def test_help_lists_every_subcommand() -> None:
    """--help exits 0 and names run, check-config, once, demo and simulate."""
    rc, out, _ = await run_cli("--help", env=base_env())
    assert rc == 0
    for cmd in ("run", "check-config", "once", "demo", "simulate"):
        assert cmd in out


async def test_simulate_help_gives_the_simulators_org_range() -> None:
    """simulate --help gives --orgs' range, 1 to the simulator's own bound of 200."""
    rc, out, _ = await run_cli("simulate", "--help", env=base_env())
    assert rc == 0
    assert "--orgs N orgs to serve, 1 to 200, one per OAuth client" in " ".join(out.split())


async def test_check_config_prints_plan(tmp_path: Path) -> None:
    """check-config on a valid file exits 0 and prints each query with its request cost."""
    path = tmp_path / "poller.yaml"
    path.write_text(CONFIG)
    rc, out, _ = await run_cli("check-config", "--config", str(path), env=base_env())
    assert rc == 0, out
    assert f"{path}: valid" in out
    assert "flows_1h" in out
    assert "active" in out
    assert "Total: 120.0 requests/minute of a budget of 300" in out


async def test_check_config_uses_poller_config_env(tmp_path: Path) -> None:
    """Without --config, check-config reads the file named by $POLLER_CONFIG."""
    path = tmp_path / "from-env.yaml"
    path.write_text(CONFIG)
    rc, out, _ = await run_cli("check-config", env=base_env(POLLER_CONFIG=str(path)))
    assert rc == 0
    assert f"{path}: valid" in out


async def test_check_config_reports_exact_problem(tmp_path: Path) -> None:
    """An invalid file exits 1 and stderr names the file, line, place and fix."""
    path = tmp_path / "bad.yaml"
    path.write_text(CONFIG.replace("metrics: [nFlow, tFlow]", "metrics: [nFlows, tFlow]"))
    rc, out, err = await run_cli("check-config", "--config", str(path), env=base_env())
    assert rc == 1
    assert out == ""
    assert (
        f"{path}:13: queries[0].metrics[0]: unknown flow aggregate metric 'nFlows' "
        "(did you mean 'nFlow'?)"
    ) in err


async def test_check_config_refuses_details_on_an_aggregate_query(tmp_path: Path) -> None:
    """`details: true` on an aggregate query exits 1, naming its line and what to do instead."""
    path = tmp_path / "bad.yaml"
    path.write_text(
        CONFIG.replace("metrics: [nFlow, tFlow]", "metrics: [nFlow, tFlow]\n    details: true")
    )
    rc, out, err = await run_cli("check-config", "--config", str(path), env=base_env())
    assert (rc, out) == (1, "")
    assert (
        f"{path}:14: queries[0].details: applies to observation queries only (the executions "
        "in progress at each poll); remove it, or use type: observation"
    ) in err


async def test_run_without_credentials_fails_clearly(tmp_path: Path) -> None:
    """run without GENESYS_CLIENT_ID/SECRET exits 1 and names the variables to set."""
    path = tmp_path / "poller.yaml"
    path.write_text(CONFIG)
    rc, _, err = await run_cli("run", "--config", str(path), env=base_env())
    assert rc == 1
    assert "GENESYS_CLIENT_ID" in err
    assert "GENESYS_CLIENT_SECRET" in err


async def test_once_prints_metrics(simulator: Simulator, tmp_path: Path) -> None:
    """once runs every query, prints the exposition text and exits 0."""
    path = tmp_path / "poller.yaml"
    path.write_text(CONFIG)
    rc, out, err = await run_cli("once", "--config", str(path), env=sim_env(simulator))
    assert rc == 0, err
    assert "# TYPE genesyscloud_flow_entries gauge" in out
    assert 'genesyscloud_flow_entries{query="flows_1h",flow_id="' in out
    assert 'genesyscloud_flow_active{query="active",flow_id="' in out
    assert SETTINGS.client_secret not in out + err


async def test_once_exits_nonzero_when_a_query_fails(simulator: Simulator, tmp_path: Path) -> None:
    """once exits 1 and names the failed query when the API refuses it (403)."""
    simulator.set_faults("forbidden=observations")
    path = tmp_path / "poller.yaml"
    path.write_text(CONFIG)
    rc, out, err = await run_cli(
        "once", "--config", str(path), "--log.format", "json", env=sim_env(simulator)
    )
    assert rc == 1
    assert (
        "queries failed:\n  active: observations: You are missing the following permission" in err
    )
    [failing] = [json.loads(line) for line in err.splitlines() if '"poll_failing"' in line]
    assert "analytics:flowObservation:view" in failing["error"]  # the event names the permission
    assert 'query="flows_1h"' in out


async def test_once_with_a_failing_query_pipes_into_promtool(
    simulator: Simulator, tmp_path: Path
) -> None:
    """`once | promtool check metrics` passes while a query fails: the logs (its poll_failing
    event) go to stderr, and stdout carries the exposition alone."""
    promtool = require_tool("promtool")
    simulator.set_faults("forbidden=observations")
    path = tmp_path / "poller.yaml"
    path.write_text(CONFIG)
    read, write = os.pipe()
    once = await asyncio.create_subprocess_exec(
        *poller("once", "--config", str(path), "--log.format", "json"),
        env=sim_env(simulator), stdout=write, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    check = await asyncio.create_subprocess_exec(
        promtool, "check", "metrics",
        stdin=read, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    os.close(read)
    os.close(write)
    (_, errors), (checked, _) = await asyncio.wait_for(
        asyncio.gather(once.communicate(), check.communicate()), 60
    )
    assert once.returncode == 1, errors.decode()
    assert '"event": "poll_failing"' in errors.decode()
    assert check.returncode == 0, checked.decode()


async def test_check_config_login_logs_to_stderr(simulator: Simulator, tmp_path: Path) -> None:
    """check-config --login's log events (a 429 from the login host: api_paused) go to stderr;
    stdout holds the report alone."""
    simulator.set_faults("login429=60s,retry_after=1")
    path = tmp_path / "poller.yaml"
    path.write_text(CONFIG)
    rc, out, err = await run_cli(
        "check-config", "--login", "--config", str(path), "--log.format", "json",
        env=sim_env(simulator),
    )  # fmt: skip
    assert rc == 1
    assert f"{path}: valid" in out
    assert '"event"' not in out
    assert '"event": "api_paused"' in err
    assert "token: the login host answered 429" in err


async def test_once_with_a_disabled_client_exits_1_with_the_oauth_error(
    simulator: Simulator, tmp_path: Path
) -> None:
    """once exits 1 naming every query and the login host's OAuth error and description."""
    simulator.set_faults("client_disabled")
    path = tmp_path / "poller.yaml"
    path.write_text(CONFIG)
    rc, _, err = await run_cli("once", "--config", str(path), env=sim_env(simulator))
    assert rc == 1
    for query in ("flows_1h", "active"):
        assert (
            f"  {query}: token: OAuth login rejected (unauthorized_client: client is disabled)"
            in err
        )
    assert SETTINGS.client_secret not in err


async def test_check_config_login_reports_a_good_login(
    simulator: Simulator, tmp_path: Path
) -> None:
    """check-config --login logs in once, says so with the token's lifetime, and polls nothing."""
    path = tmp_path / "poller.yaml"
    path.write_text(CONFIG)
    rc, out, err = await run_cli(
        "check-config", "--login", "--config", str(path), env=sim_env(simulator)
    )
    assert rc == 0, err
    assert f"as client {SETTINGS.client_id}: ok, token valid for 86399s" in out
    assert len(simulator.stats.requests(paths=["/oauth/token"])) == 1
    assert simulator.stats.requests() == [], "no analytics request"


async def test_check_config_login_exits_1_with_the_oauth_error(
    simulator: Simulator, tmp_path: Path
) -> None:
    """check-config --login with credentials the login host refuses exits 1 with its words."""
    path = tmp_path / "poller.yaml"
    path.write_text(CONFIG)
    env = {**sim_env(simulator), "GENESYS_CLIENT_SECRET": "not-the-secret"}
    rc, out, err = await run_cli("check-config", "--login", "--config", str(path), env=env)
    assert rc == 1
    assert "OAuth login rejected (invalid_client: client authentication failed)" in err
    assert "not-the-secret" not in out + err


ORGS_CONFIG = (
    CONFIG
    + """
orgs:
  - name: acme
    client_id_env: ACME_ID
    client_secret_env: ACME_SECRET
  - name: globex
    client_id_env: GLOBEX_ID
    client_secret_file: SECRET_FILE
  - name: initech
    client_id_env: INITECH_ID
    client_secret_env: INITECH_SECRET
  - name: umbrella
    client_id_env: UMBRELLA_ID
    client_secret_env: UMBRELLA_SECRET
"""
)
ORG_NAMES = ["acme", "globex", "initech", "umbrella"]


def expected_shards(orgs: list[str], count: int) -> dict[int, list[str]]:
    """Rendezvous hashing worked out here, not with poller.shard: each org goes to the shard
    whose 64-bit BLAKE2b weight of "<shard>/<org>" is highest."""

    def weight(org: str, shard: int) -> int:
        digest = hashlib.blake2b(f"{shard}/{org}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big")

    out: dict[int, list[str]] = {shard: [] for shard in range(count)}
    for org in orgs:
        out[max(range(count), key=lambda shard: weight(org, shard))].append(org)
    return out


@pytest.mark.parametrize("count", [1, 2, 3])
async def test_check_config_shard_count_prints_each_shards_orgs(tmp_path: Path, count: int) -> None:
    """check-config --shard.count M prints, after the plan, the orgs each of the M shards polls
    (a shard with none says so)."""
    path = tmp_path / "poller.yaml"
    path.write_text(ORGS_CONFIG)
    rc, out, err = await run_cli(
        "check-config", "--config", str(path), "--shard.count", str(count), env=base_env()
    )
    assert rc == 0, err
    shards = expected_shards(ORG_NAMES, count)
    assert out.splitlines()[-2 - count :] == [
        "",
        f"Shards: {count} (each org goes to one shard by rendezvous hashing of its name)",
        *(f"  shard {i}: {', '.join(orgs) or 'no orgs'}" for i, orgs in shards.items()),
    ]
    if count == 3:
        assert [] in shards.values(), "the example shows a shard without orgs"


async def test_check_config_shard_count_without_orgs_exits_1(tmp_path: Path) -> None:
    """--shard.count on a config without orgs: exits 1 saying sharding splits orgs."""
    path = tmp_path / "poller.yaml"
    path.write_text(CONFIG)
    rc, out, err = await run_cli(
        "check-config", "--config", str(path), "--shard.count", "2", env=base_env()
    )
    assert (rc, out) == (1, "")
    assert err == (
        "genesyscloud-poller: --shard.count: sharding splits the orgs of `orgs:` between "
        f"replicas, and {path} lists no orgs: (it polls one org); drop --shard.count\n"
    )


async def test_check_config_bad_shard_count_is_a_usage_error(tmp_path: Path) -> None:
    """A --shard.count that is no whole number from 1 to 1000 exits 2 naming the flag."""
    rc, _, err = await run_cli("check-config", "--shard.count", "0", env=base_env())
    assert rc == 2
    assert "--shard.count: expected a whole number from 1 to 1000, got '0'" in err


async def test_check_config_login_logs_in_once_per_org(
    simulator: Simulator, tmp_path: Path
) -> None:
    """With orgs:, --login logs in with each org's own client and prints one line per org; a
    refused org is named on stderr and makes the exit 1, without showing any secret."""
    path = tmp_path / "poller.yaml"
    secret_file = tmp_path / "globex_secret"
    secret_file.write_text(SETTINGS.client_secret + "\n")
    path.write_text(ORGS_CONFIG.replace("SECRET_FILE", str(secret_file)))
    env = sim_env(simulator)
    for org in ORG_NAMES:
        env[f"{org.upper()}_ID"] = SETTINGS.client_id
        env[f"{org.upper()}_SECRET"] = SETTINGS.client_secret
    rc, out, err = await run_cli("check-config", "--login", "--config", str(path), env=env)
    assert rc == 0, err
    login = f"login to {simulator.base_url} as client {SETTINGS.client_id}"
    assert out.splitlines()[-4:] == [
        f"Org {org}: {login}: ok, token valid for 86399s" for org in ORG_NAMES
    ]
    assert len(simulator.stats.requests(paths=["/oauth/token"])) == 4
    env["INITECH_SECRET"] = "not-the-secret"
    rc, out, err = await run_cli("check-config", "--login", "--config", str(path), env=env)
    assert rc == 1
    assert [line for line in out.splitlines() if line.startswith("Org ")][-3:] == [
        f"Org {org}: {login}: ok, token valid for 86399s" for org in ("acme", "globex", "umbrella")
    ]
    refused, summary = err.splitlines()
    # The rest of the line is the login host's reason, as for a config without orgs.
    assert refused.startswith(
        f"genesyscloud-poller: org initech: {login}: token: OAuth login rejected "
        "(invalid_client: client authentication failed)"
    )
    assert summary == "genesyscloud-poller: login failed for 1 of 4 orgs: initech"
    assert "not-the-secret" not in out + err
    assert SETTINGS.client_secret not in out + err


async def test_check_config_login_with_a_missing_org_secret_exits_1(tmp_path: Path) -> None:
    """--login with an org's secret variable unset exits 1 naming the org and the key."""
    path = tmp_path / "poller.yaml"
    path.write_text(ORGS_CONFIG.replace("SECRET_FILE", str(tmp_path / "absent")))
    env = base_env(ACME_ID="a", ACME_SECRET="s", GLOBEX_ID="g", INITECH_ID="i", UMBRELLA_ID="u")
    env["UMBRELLA_SECRET"] = "u"
    rc, _, err = await run_cli("check-config", "--login", "--config", str(path), env=env)
    assert rc == 1
    assert err.splitlines() == [
        "genesyscloud-poller: invalid configuration:",
        f"environment: orgs[globex].client_secret_file: cannot read {tmp_path / 'absent'}: "
        "No such file or directory",
        "environment: orgs[initech].client_secret_env: INITECH_SECRET is not set",
    ]


async def test_run_serves_and_stops_on_sigterm(simulator: Simulator, tmp_path: Path) -> None:
    """run serves /metrics and /readyz; SIGTERM makes it exit 0 within 5 s."""
    path = tmp_path / "poller.yaml"
    path.write_text(CONFIG)
    proc = Child(
        poller("run", "--config", str(path), "--web.listen-address", "127.0.0.1:0"),
        env=sim_env(simulator),
    )
    try:
        url = await listening(proc)
        await await_status(f"{url}/readyz", alive=proc.died)
        text = await await_status(f"{url}/metrics")
        assert 'genesyscloud_poller_query_up{query="flows_1h"} 1.0' in text
        took = await proc.stopped(signal.SIGTERM)
        assert proc.returncode == 0
        assert took < 5
    finally:
        proc.kill()
    out = proc.output + proc.errors
    assert '"event": "stopped"' in out
    assert SETTINGS.client_secret not in out


def test_demo_lifecycle_flag_enables_post_reload() -> None:
    """demo --web.enable-lifecycle answers POST /-/reload with 200 and reloads its config."""
    demo = Demo(demo_command("--web.enable-lifecycle"), env=base_env())
    try:
        demo.wait_started()
        status, body = demo.post("/-/reload")
    finally:
        rc = demo.stop()
    assert rc == 0, demo.output
    assert (status, json.loads(body)) == (200, {"status": "ok", "message": "reloaded"})
    assert '"event": "config_reloaded"' in demo.output


async def test_simulate_flows_sizes_the_org() -> None:
    """simulate --flows N serves an org of N flows (the size knob for large-org trials)."""
    proc = Child(
        poller("simulate", "--listen-address", "127.0.0.1:0", "--flows", "300"), env=base_env()
    )
    try:
        url = await simulating(proc)
        org = json.loads(await await_status(f"{url}/simulator/org", alive=proc.died))
    finally:
        rc = proc.stop()
    assert rc == 0
    assert len(org["flows"]) == 300
    assert len({f["id"] for f in org["flows"]}) == 300
    assert "(seed 1, 300 flows)" in proc.output


@pytest.mark.parametrize("command", ["demo", "simulate"])
@pytest.mark.parametrize("flows", ["0", "5001", "many"])
async def test_flows_out_of_range_is_a_usage_error(command: str, flows: str) -> None:
    """--flows outside 1..5000 exits 2 before starting anything, naming the flag and the range."""
    rc, out, err = await run_cli(command, "--flows", flows, env=base_env(), within=30)
    assert rc == 2
    assert "--flows" in err
    assert "from 1 to 5000" in err
    assert repr(flows) in err
    assert out == ""


async def test_simulate_orgs_serves_one_org_per_printed_client() -> None:
    """simulate --orgs 2 prints both credentials, and ?client_id= reads each org's own flows."""
    proc = Child(
        poller("simulate", "--listen-address", "127.0.0.1:0", "--flows", "3", "--orgs", "2"),
        env=base_env(),
    )
    try:
        base = await simulating(proc)
        first = json.loads(await await_status(f"{base}/simulator/org", alive=proc.died))
        second = json.loads(await await_status(f"{base}/simulator/org?client_id=demo-client-2"))
        await await_status(f"{base}/simulator/org?client_id=demo-client-3", 404)
    finally:
        rc = proc.stop()
    assert rc == 0
    assert (len(first["flows"]), len(second["flows"])) == (3, 3)
    assert {f["id"] for f in first["flows"]}.isdisjoint(f["id"] for f in second["flows"])
    out = _text(proc.stdout)
    assert "(seed 1, 2 orgs of 3 flows)" in out
    assert "client id: demo-client  client secret: demo-secret\n" in out
    assert "client id: demo-client-2  client secret: demo-secret-2\n" in out


@pytest.mark.parametrize("orgs", ["0", "201", "many"])
async def test_orgs_out_of_range_is_a_usage_error(orgs: str) -> None:
    """simulate --orgs outside 1..200 exits 2 before starting, naming the flag and the range."""
    rc, out, err = await run_cli("simulate", "--orgs", orgs, env=base_env(), within=30)
    assert rc == 2
    assert f"argument --orgs: expected a whole number of orgs from 1 to 200, got {orgs!r}" in err
    assert out == ""


@pytest.mark.parametrize("lag", ["-1", "3601", "soon"])
async def test_lag_out_of_range_is_a_usage_error(lag: str) -> None:
    """simulate --lag outside 0..3600 seconds exits 2 before starting, naming the flag."""
    rc, out, err = await run_cli("simulate", "--lag", lag, env=base_env(), within=30)
    assert rc == 2
    assert "--lag" in err
    assert f"expected seconds from 0 to 3600, got {lag!r}" in err
    assert out == ""


async def test_bad_faults_spec_is_a_usage_error() -> None:
    """simulate --faults with bad items exits 2 before starting, naming every bad item."""
    rc, out, err = await run_cli(
        "simulate", "--faults", "503=2,teapot=1", env=base_env(), within=30
    )
    assert rc == 2
    assert "argument --faults: 503='2': expected a rate between 0 and 1" in err
    assert "unknown fault 'teapot'" in err
    assert out == ""


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--shard.count", "3"], {}, "--shard.count is 3 but no --shard.index is given"),
        (["--shard.index", "2", "--shard.count", "2"], {}, "--shard.index is 2, outside 0 to 1"),
        (
            [],
            {"POLLER_SHARD_INDEX": "auto", "POLLER_SHARD_COUNT": "2", "HOSTNAME": "laptop"},
            "the hostname 'laptop' does not end in -<ordinal>",
        ),
    ],
)
async def test_run_bad_shard_is_a_usage_error(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    """A bad --shard.* flag (or POLLER_SHARD_* variable) exits 2 before reading anything else,
    naming the flag and the fix."""
    path = tmp_path / "poller.yaml"
    path.write_text(ORGS_CONFIG)
    rc, out, err = await run_cli("run", "--config", str(path), *args, env=base_env(**env))
    assert rc == 2
    assert message in err
    assert out == ""


async def test_run_sharding_a_config_without_orgs_exits_1(tmp_path: Path) -> None:
    """--shard.count 2 on a config without orgs exits 1 saying sharding splits orgs."""
    path = tmp_path / "poller.yaml"
    path.write_text(CONFIG)
    env = base_env(GENESYS_CLIENT_ID="x", GENESYS_CLIENT_SECRET="y")
    rc, _, err = await run_cli(
        "run", "--config", str(path), "--shard.index", "0", "--shard.count", "2", env=env
    )
    assert rc == 1
    assert "sharding splits the orgs of `orgs:` between replicas" in err


async def test_run_auto_shard_polls_the_orgs_its_ordinal_owns(tmp_path: Path) -> None:
    """With POLLER_SHARD_INDEX=auto and a StatefulSet hostname, run serves exactly the orgs
    rendezvous hashing gives that ordinal, says so in /readyz and shard_info, and polls them."""
    settings = SimulatorSettings(seed=3, orgs=4)
    sim = Simulator(settings)
    await sim.start("127.0.0.1", 0)
    path = tmp_path / "poller.yaml"
    path.write_text(
        ORGS_CONFIG.replace("client_secret_file: SECRET_FILE", "client_secret_env: GLOBEX_SECRET")
    )
    env = base_env(
        GENESYS_API_BASE_URL=sim.base_url,
        GENESYS_LOGIN_BASE_URL=sim.base_url,
        POLLER_SHARD_INDEX="auto",
        POLLER_SHARD_COUNT="3",
        HOSTNAME="genesyscloud-poller-2",
    )
    for name, (client_id, secret) in zip(ORG_NAMES, settings.org_clients(), strict=True):
        env[f"{name.upper()}_ID"] = client_id
        env[f"{name.upper()}_SECRET"] = secret
    proc = Child(
        poller("run", "--config", str(path), "--web.listen-address", "127.0.0.1:0"), env=env
    )
    owned = expected_shards(ORG_NAMES, 3)[2]
    assert owned, "shard 2 of 3 owns an org of this config"
    try:
        url = await listening(proc)
        ready = json.loads(await await_status(f"{url}/readyz", alive=proc.died))
        text = await await_status(f"{url}/metrics")
    finally:
        await proc.stopped(signal.SIGTERM)
        await sim.stop()
    assert ready["shard"] == {"index": 2, "count": 3}
    assert ready["orgs"] == owned
    scrape = Exposition(text)
    assert scrape.get("genesyscloud_poller_shard_info", shard_index="2", shard_count="3") == 1
    up = scrape.series("genesyscloud_poller_query_up")
    assert sorted({labels["org"] for labels, value in up if value == 1}) == owned
