"""Helpers for the web security tests: a throwaway PKI made with the openssl CLI, client TLS
contexts, basic auth headers, and a one-call GET.

Import as `from tests.security.security_support import ...`.
"""

from __future__ import annotations

import base64
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from poller.config.webconfig import WebConfig, load_web_config
from poller.selfmetrics import SelfMetrics
from poller.server import ServerState
from poller.store import SnapshotStore
from tests.support.statusdata import blank_status

PASSWORD = "correct horse battery staple"
Y_PASSWORD = "htpasswd-made-this"

OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


@dataclass(frozen=True)
class Pki:
    dir: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_cert: Path  # self-signed client certificate, not issued by the CA
    rogue_key: Path
    encrypted_key: Path  # the server key, encrypted with a passphrase

    def tls_yaml(self, **extra: str) -> str:
        """A tls_server_config section with the server pair and `extra` keys."""
        lines = [
            "tls_server_config:",
            f"  cert_file: {self.server_cert}",
            f"  key_file: {self.server_key}",
        ]
        lines += [f"  {key}: {value}" for key, value in extra.items()]
        return "\n".join(lines) + "\n"


def _openssl(cwd: Path, command: str) -> None:
    args = ["openssl", *command.split()]
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False, timeout=30)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed:\n{done.stderr}")


EC = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"


def _self_signed(cwd: Path, name: str, cn: str, section: str) -> None:
    _openssl(
        cwd,
        f"req -x509 -config openssl.cnf -extensions {section} {EC} -keyout {name}.key "
        f"-out {name}.pem -days 2 -subj /CN={cn}",
    )


def _issued(cwd: Path, name: str, cn: str, section: str, serial: int) -> None:
    _openssl(
        cwd,
        f"req -new -config openssl.cnf {EC} -keyout {name}.key -out {name}.csr -subj /CN={cn}",
    )
    _openssl(
        cwd,
        f"x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -set_serial {serial} -days 2 "
        f"-out {name}.pem -extfile openssl.cnf -extensions {section}",
    )


def make_pki(d: Path) -> Pki:
    """CA, server pair (SAN 127.0.0.1 and localhost), client pair, rogue self-signed client."""
    if shutil.which("openssl") is None:
        pytest.fail("the security tests need the `openssl` command line tool on PATH")
    (d / "openssl.cnf").write_text(OPENSSL_CNF)
    _self_signed(d, "ca", "poller-test-ca", "ca")
    _issued(d, "server", "localhost", "server", 2)
    _issued(d, "client", "scraper", "client", 3)
    _self_signed(d, "rogue", "rogue-scraper", "client")
    _openssl(d, "pkey -in server.key -aes256 -passout pass:sekrit -out server-encrypted.key")
    return Pki(
        dir=d,
        ca=d / "ca.pem",
        server_cert=d / "server.pem",
        server_key=d / "server.key",
        client_cert=d / "client.pem",
        client_key=d / "client.key",
        rogue_cert=d / "rogue.pem",
        rogue_key=d / "rogue.key",
        encrypted_key=d / "server-encrypted.key",
    )


def client_context(
    pki: Pki,
    cert: Path | None = None,
    key: Path | None = None,
    *,
    minimum: ssl.TLSVersion | None = None,
    maximum: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    """What a scraper uses: trusts the test CA, optionally presents a client certificate."""
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


def server_state() -> ServerState:
    return ServerState(
        store=SnapshotStore(),
        metrics=SelfMetrics(process=False),
        readiness=lambda: (True, {}),
        status=blank_status,
    )


def basic(user: str | bytes, password: str | bytes) -> dict[str, str]:
    """An Authorization header for basic auth."""
    raw = (user if isinstance(user, bytes) else user.encode()) + b":"
    raw += password if isinstance(password, bytes) else password.encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
) -> tuple[int, str, dict[str, str]]:
    """Status, body and headers of one GET (raises aiohttp.ClientError if the connection fails)."""
    async with session.get(url, headers=headers, ssl=tls if tls is not None else True) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


def write_config(directory: Path, text: str, name: str = "web.yml") -> WebConfig:
    path = directory / name
    path.write_text(text)
    return load_web_config(path)
