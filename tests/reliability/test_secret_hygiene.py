"""Secret hygiene: neither the client secret nor any access token the simulator issued shows up
in any log line or HTTP body, whatever goes wrong.

Every test of this suite is scanned the same way by the `watch` fixture (structlog events as
emitted, before any redaction; stdlib logging; every HTTP body fetched; child stdout/stderr).
The run here adds a real child process at --log.level debug through a mix of every fault, the
reload paths, and the other commands' output.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from poller.catalog import (
    AGGREGATE_PATH,
    FLOW_MILESTONES_PATH,
    FLOW_OUTCOMES_PATH,
    FLOWS_PATH,
    OBSERVATION_PATH,
    TOKEN_PATH,
)
from tests.reliability.reliability_support import (
    BOTH,
    CLIENT_SECRET,
    Leaks,
    SimFactory,
    Spawn,
    Watch,
    daemon_env,
    http_get,
    sim_settings,
)
from tests.support.process import listening
from tests.support.stack import config_text
from tests.support.wait import WITHIN, wait_until

WRONG_SECRET = "wrong-S3cret-0a1b2c3d4e5f-not-this-one"
QUERY_PATHS = (AGGREGATE_PATH, OBSERVATION_PATH)
API_PATHS = (*QUERY_PATHS, FLOWS_PATH, FLOW_OUTCOMES_PATH, FLOW_MILESTONES_PATH)
BODIES = "500=0.3,malformed=0.2,truncated=0.2,wrongshape=0.15,huge=0.15,huge_size=256kb"


def test_scan_finds_a_planted_secret_or_token() -> None:
    """The scan itself works: a token or the client secret anywhere in a text is reported by
    where it was seen (and the report does not repeat the secret)."""
    leaks = Leaks(tokens=["tok-abcdef123456"])
    leaks.saw("clean", "nothing to see")
    leaks.saw("log", "Authorization: Bearer tok-abcdef123456")
    leaks.saw("body", f"secret={CLIENT_SECRET}".encode())
    assert leaks.found() == ["log: token #1", "body: client secret"]


async def test_no_secret_or_token_in_any_output_through_every_fault(
    tmp_path: Path, sim_factory: SimFactory, spawn: Spawn, watch: Watch
) -> None:
    """A debug-level child process runs through 500s, bad and oversized bodies, 1 s tokens, a
    403, a 429 storm and reloads; its stdout, stderr, every HTTP answer, check-config and a
    `once` with a rejected secret hold neither secret nor any token."""
    simulator, _ = await sim_factory(settings=sim_settings(token_ttl=1.0))
    config = tmp_path / "poller.yaml"
    config.write_text(config_text(BOTH, timeout="300ms", max_response_bytes=65536))
    env = daemon_env(simulator.base_url)
    proc = await spawn(
        ["run", "--config", str(config), "--log.level", "debug", "--web.enable-lifecycle"], env
    )
    url = await listening(proc)

    async def pages() -> None:
        for path in ("/metrics", "/readyz", "/", "/healthz"):
            await http_get(url + path, watch.leaks)

    # The faults a real child fails on without long retry backoffs (the in-process tests
    # scan the others); 1 s tokens keep it logging in throughout. Each phase lasts until the
    # simulator has served its fault.
    # A names listing may take the storm's only 429 (the pause then outlasts the storm for the
    # queries), so that phase ends at a 429 on any API path; the others at a query's answer
    # and the daemon's failed poll with that status (under BODIES a truncated or oversized 200
    # fails without one: only an unusable body fails with status 200).
    phases = [
        (BODIES, 200, QUERY_PATHS),
        ("forbidden=all", 403, QUERY_PATHS),
        ("storm429=1.5s,retry_after=1", 429, API_PATHS),
    ]

    def failed_polls() -> list[dict[str, Any]]:
        return proc.named("poll_failing") + proc.named("poll_failed_again")

    for spec, status, paths in phases:
        simulator.set_faults(spec)
        before = len(simulator.stats.requests(paths=paths))

        async def served(
            status: int = status, before: int = before, paths: tuple[str, ...] = paths
        ) -> bool:
            seen = simulator.stats.requests(paths=paths)[before:]
            return any(r.status == status for r in seen)

        await wait_until(served, within=WITHIN, what=f"an answer under {spec}")
        if status != 429:

            async def failed(status: int = status) -> bool:
                return any(e.get("status") == status for e in failed_polls())

            await wait_until(failed, within=WITHIN, what=f"a poll failed with {status}")
        await pages()
    simulator.clear_faults()

    async def recovered() -> bool:
        return (await http_get(url + "/readyz", watch.leaks))[0] == 200

    await wait_until(recovered, within=WITHIN, what="every query to recover")
    await pages()

    async def relogged() -> bool:
        # 1 s tokens: the daemon keeps logging in, and each new token joins the scan.
        return len(watch.leaks.tokens) >= 3

    await wait_until(relogged, within=WITHIN, what="the daemon to log in again")
    await pages()

    status, _ = await http_get(url + "/-/reload", watch.leaks, method="POST")
    assert status == 200
    config.write_text(config_text(BOTH.replace("every: 1s", "every: soon")))
    status, _ = await http_get(url + "/-/reload", watch.leaks, method="POST")
    assert status == 500
    proc.send(signal.SIGHUP)
    await proc.event("config_reload_failed", after=0)
    await pages()
    await proc.stopped()
    assert proc.proc.returncode == 0

    (tmp_path / "valid.yaml").write_text(config_text(BOTH))
    checked = await spawn(["check-config", "--config", str(tmp_path / "valid.yaml")], env)
    await checked.exited(10)
    assert checked.proc.returncode == 0
    wrong = await spawn(
        ["once", "--config", str(tmp_path / "valid.yaml"), "--log.level", "debug"],
        {**env, "GENESYS_CLIENT_SECRET": WRONG_SECRET},
    )
    await wrong.exited(15)
    assert wrong.proc.returncode == 1
    assert "OAuth login rejected" in "\n".join(wrong.stdout) + wrong.errors

    logins = simulator.stats.requests(paths=[TOKEN_PATH])
    assert len(watch.leaks.tokens) >= 3, "tokens were issued and are part of the scan"
    assert {r.status for r in logins} >= {200, 401}
    seen = "\n".join(text for _, text in watch.leaks.texts)
    assert WRONG_SECRET not in seen
    assert {e.get("status") for e in failed_polls()} >= {200, 403}, "the faults failed polls"


ORGS_CONFIG = """\
genesys:
  region: mypurecloud.ie
  timeout: 2s
server:
  listen: "127.0.0.1:0"
orgs:
  - name: acme
    client_id_env: ACME_CLIENT_ID
    client_secret_env: ACME_CLIENT_SECRET
  - name: globex
    region: usw2.pure.cloud
    client_id_file: {dir}/globex-id
    client_secret_file: {dir}/globex-secret
queries:
{queries}"""


async def test_no_secret_of_any_org_in_any_output(
    tmp_path: Path, sim_factory: SimFactory, spawn: Spawn, watch: Watch
) -> None:
    """Two orgs, one from variables, one from files holding a wrong secret: the refused org
    fails alone, a reload after the file is fixed brings it up, and neither org's secret, the
    wrong one or any token appears in any log line, answer or check-config --login output."""
    simulator, _ = await sim_factory(settings=sim_settings(orgs=2, token_ttl=1.0))
    (acme_id, acme_secret), (globex_id, globex_secret) = simulator.settings.org_clients()
    (tmp_path / "globex-id").write_text(globex_id + "\n")
    (tmp_path / "globex-secret").write_text(WRONG_SECRET + "\n")
    config = tmp_path / "poller.yaml"
    config.write_text(ORGS_CONFIG.format(dir=tmp_path, queries=BOTH))
    env = daemon_env(simulator.base_url, ACME_CLIENT_ID=acme_id, ACME_CLIENT_SECRET=acme_secret)
    proc = await spawn(
        ["run", "--config", str(config), "--log.level", "debug", "--web.enable-lifecycle"], env
    )
    url = await listening(proc)
    refused = await proc.event("poll_failing")
    assert refused["org"] == "globex"
    assert refused["code"] == "invalid_client"
    assert "orgs[globex].client_secret_file" in refused["error"]
    for path in ("/metrics", "/readyz", "/"):
        await http_get(url + path, watch.leaks)
    assert not [e for e in proc.named("poll_failing") if e.get("org") == "acme"]

    (tmp_path / "globex-secret").write_text(globex_secret + "\n")
    status, _ = await http_get(url + "/-/reload", watch.leaks, method="POST")
    assert status == 200

    async def ready() -> bool:
        return (await http_get(url + "/readyz", watch.leaks))[0] == 200

    await wait_until(ready, within=WITHIN, what="globex to recover after the reload")
    await http_get(url + "/metrics", watch.leaks)
    await proc.stopped()
    assert proc.proc.returncode == 0

    checked = await spawn(["check-config", "--config", str(config), "--login"], env)
    await checked.exited(15)
    assert checked.proc.returncode == 0
    assert any(line.startswith("Org globex: login to") for line in checked.stdout)
    seen = "\n".join(text for _, text in watch.leaks.texts)
    assert WRONG_SECRET not in seen
    assert globex_secret not in seen
    assert len(watch.leaks.tokens) >= 4, "both orgs' tokens were issued and are scanned"
