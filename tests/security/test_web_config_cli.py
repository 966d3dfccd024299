"""`genesyscloud-poller run --web.config.file`: a bad file stops start-up, a good one is served."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.security.security_support import PASSWORD, Pki, basic, client_context, fetch
from tests.support.process import Child, listening, poller

ROOT = Path(__file__).resolve().parents[2]
SECRET = "dummy-client-secret-value"
CONFIG = """\
genesys:
  region: mypurecloud.ie
  timeout: 2s
server:
  listen: "127.0.0.1:0"
queries:
  - name: active
    type: observation
    every: 1m
    metrics: [oFlow]
    filter: {type: or, predicates: [{dimension: flowId, operator: exists}]}
"""


class Recorder:
    """Stands in for Genesys Cloud: counts connections and hangs up on each."""

    def __init__(self) -> None:
        self.connections = 0
        self.url = ""

    async def _accept(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()


@pytest.fixture
async def genesys() -> AsyncIterator[Recorder]:
    recorder = Recorder()
    server = await asyncio.start_server(recorder._accept, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    recorder.url = f"http://{host}:{port}"
    yield recorder
    server.close()
    await server.wait_closed()


def environment(genesys: Recorder) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "GENESYS_CLIENT_ID": "dummy-client-id",
        "GENESYS_CLIENT_SECRET": SECRET,
        "GENESYS_API_BASE_URL": genesys.url,
        "GENESYS_LOGIN_BASE_URL": genesys.url,
    }


def start(tmp_path: Path, genesys: Recorder, web_config: Path) -> Child:
    config = tmp_path / "poller.yaml"
    config.write_text(CONFIG)
    return Child(
        poller("run", "--config", str(config), "--web.config.file", str(web_config),
               "--log.format", "json"),
        env=environment(genesys),
    )  # fmt: skip


async def finish(proc: Child, within: float = 20.0) -> tuple[int, str, str]:
    """The child's exit code, stdout and stderr once it has exited by itself."""
    code = await proc.exited(within)
    return code, proc.output, proc.errors


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "basic_auth_users:\n  alice: hunter2-plaintext\n",
            "2: basic_auth_users.alice: expected a bcrypt hash",
        ),
        (
            "tls_server_config:\n  cert_file: nowhere.pem\n",
            "1: tls_server_config.key_file: missing",
        ),
    ],
    ids=["plaintext-password", "missing-key-file"],
)
async def test_bad_web_config_exits_1_before_contacting_genesys(
    tmp_path: Path, genesys: Recorder, text: str, problem: str
) -> None:
    """A bad web config exits 1 naming the problem on stderr, without polling or leaking."""
    web = tmp_path / "web.yml"
    web.write_text(text)
    code, out, err = await finish(start(tmp_path, genesys, web))
    assert code == 1
    assert "invalid configuration" in err
    assert f"{web}:{problem}" in err
    assert "Traceback" not in err
    for secret in ("hunter2", SECRET):
        assert secret not in err + out
    assert genesys.connections == 0


async def test_good_web_config_serves_https_with_basic_auth(
    tmp_path: Path, genesys: Recorder, pki: Pki, hashes: dict[str, str]
) -> None:
    """With TLS and a user configured, `run` serves https and wants the password; SIGTERM is 0."""
    web = tmp_path / "web.yml"
    web.write_text(pki.tls_yaml() + f"basic_auth_users:\n  alice: '{hashes['alice']}'\n")
    proc = start(tmp_path, genesys, web)
    try:
        url = await listening(proc, within=15.0, scheme="https")
        tls = client_context(pki)
        async with aiohttp.ClientSession() as http:
            assert (await fetch(http, url + "/metrics", tls=tls))[0] == 401
            assert (await fetch(http, url + "/healthz", tls=tls))[0] == 200
            status, body, _ = await fetch(http, url + "/metrics", basic("alice", PASSWORD), tls=tls)
            assert status == 200
            assert "genesyscloud_poller_build_info" in body
    finally:
        if proc.returncode is None:
            proc.send(signal.SIGTERM)
    code, out, err = await finish(proc)
    assert code == 0
    for secret in (PASSWORD, SECRET, hashes["alice"]):
        assert secret not in out + err
