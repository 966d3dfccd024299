"""TLS from `tls_server_config`: versions, client certificates, plain HTTP on the TLS port."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest

from tests.security.conftest import Serve
from tests.security.security_support import (
    PASSWORD,
    Pki,
    basic,
    client_context,
    fetch,
    write_config,
)


async def test_https_with_the_ca_bundle_serves_metrics(
    serve: Serve, tmp_path: Path, pki: Pki, http: aiohttp.ClientSession
) -> None:
    """A scraper trusting the CA gets /metrics over https; the server presents our certificate."""
    url = await serve(write_config(tmp_path, pki.tls_yaml()))
    assert url.startswith("https://127.0.0.1:")
    status, body, _ = await fetch(http, url + "/metrics", tls=client_context(pki))
    assert status == 200
    assert "genesyscloud_poller_build_info" in body
    with pytest.raises(aiohttp.ClientError):  # the system trust store does not know our CA
        await fetch(http, url + "/metrics", tls=ssl.create_default_context())


async def test_plain_http_to_the_tls_port_fails_cleanly(
    serve: Serve, tmp_path: Path, pki: Pki, http: aiohttp.ClientSession
) -> None:
    """Plain HTTP to the TLS port gets an error or a 400, never data; https still works after."""
    url = await serve(write_config(tmp_path, pki.tls_yaml()))
    plain = url.replace("https://", "http://")
    for _ in range(3):
        try:
            status, body, _ = await fetch(http, plain + "/metrics")
        except aiohttp.ClientError:
            pass
        else:
            assert status == 400
            assert "genesyscloud" not in body
    status, _, _ = await fetch(http, url + "/metrics", tls=client_context(pki))
    assert status == 200


async def test_relative_paths_are_read_from_the_config_directory(
    serve: Serve, pki: Pki, http: aiohttp.ClientSession
) -> None:
    """Relative cert_file and key_file are read from the config file's directory, as in Go."""
    text = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"
    url = await serve(write_config(pki.dir, text, name="relative.yml"))
    status, _, _ = await fetch(http, url + "/healthz", tls=client_context(pki))
    assert status == 200


async def test_min_version_tls13_refuses_a_tls12_client(
    serve: Serve, tmp_path: Path, pki: Pki, http: aiohttp.ClientSession
) -> None:
    """min_version TLS13 refuses a client that speaks at most TLS 1.2, serves one that has 1.3."""
    url = await serve(write_config(tmp_path, pki.tls_yaml(min_version="TLS13")))
    old = client_context(pki, maximum=ssl.TLSVersion.TLSv1_2)
    with pytest.raises(aiohttp.ClientError):
        await fetch(http, url + "/healthz", tls=old)
    status, _, _ = await fetch(http, url + "/healthz", tls=client_context(pki))
    assert status == 200


async def test_default_min_version_serves_a_tls12_client(
    serve: Serve, tmp_path: Path, pki: Pki, http: aiohttp.ClientSession
) -> None:
    """Without min_version a TLS 1.2 client is served (exporter-toolkit's default is TLS12)."""
    url = await serve(write_config(tmp_path, pki.tls_yaml()))
    old = client_context(pki, maximum=ssl.TLSVersion.TLSv1_2)
    status, _, _ = await fetch(http, url + "/healthz", tls=old)
    assert status == 200


async def test_max_version_tls12_refuses_a_tls13_only_client(
    serve: Serve, tmp_path: Path, pki: Pki, http: aiohttp.ClientSession
) -> None:
    """max_version TLS12 refuses a client that insists on TLS 1.3."""
    url = await serve(write_config(tmp_path, pki.tls_yaml(max_version="TLS12")))
    new = client_context(pki, minimum=ssl.TLSVersion.TLSv1_3)
    with pytest.raises(aiohttp.ClientError):
        await fetch(http, url + "/healthz", tls=new)
    status, _, _ = await fetch(http, url + "/healthz", tls=client_context(pki))
    assert status == 200


# Which client certificates each client_auth_type lets in: none, one the CA issued, a self-signed.
CASES = {
    "RequireAndVerifyClientCert": {"none": False, "issued": True, "rogue": False},
    "VerifyClientCertIfGiven": {"none": True, "issued": True, "rogue": False},
    # Go asks for a certificate and never checks it: every client is let in.
    "RequestClientCert": {"none": True, "issued": True, "rogue": True},
    # Go accepts any certificate here; Python can only require one it verifies (stricter).
    "RequireAnyClientCert": {"none": False, "issued": True, "rogue": False},
}


def contexts(pki: Pki) -> dict[str, ssl.SSLContext]:
    return {
        "none": client_context(pki),
        "issued": client_context(pki, pki.client_cert, pki.client_key),
        "rogue": client_context(pki, pki.rogue_cert, pki.rogue_key),
    }


@pytest.mark.parametrize("mode", list(CASES))
async def test_client_auth_type_decides_which_certificates_get_in(
    serve: Serve, tmp_path: Path, pki: Pki, http: aiohttp.ClientSession, mode: str
) -> None:
    """Each client_auth_type admits exactly the clients listed in CASES; refusals are errors."""
    config = pki.tls_yaml(client_auth_type=mode, client_ca_file=str(pki.ca))
    url = await serve(write_config(tmp_path, config))
    for who, tls in contexts(pki).items():
        if CASES[mode][who]:
            status, _, _ = await fetch(http, url + "/metrics", tls=tls)
            assert status == 200, who
        else:
            with pytest.raises(aiohttp.ClientError):
                await fetch(http, url + "/metrics", tls=tls)
    # A refused handshake did not take the server down.
    status, _, _ = await fetch(http, url + "/healthz", tls=contexts(pki)["issued"])
    assert status == 200


async def test_request_client_cert_without_a_ca_lets_everyone_in(
    serve: Serve, tmp_path: Path, pki: Pki, http: aiohttp.ClientSession
) -> None:
    """RequestClientCert needs no client_ca_file and, as in Go, refuses no certificate."""
    url = await serve(write_config(tmp_path, pki.tls_yaml(client_auth_type="RequestClientCert")))
    for who, tls in contexts(pki).items():
        status, _, _ = await fetch(http, url + "/healthz", tls=tls)
        assert status == 200, who


async def test_tls_and_basic_auth_together(
    serve: Serve, tmp_path: Path, pki: Pki, hashes: dict[str, str], http: aiohttp.ClientSession
) -> None:
    """With TLS and users both set: https needs the password too; /healthz stays open."""
    config = pki.tls_yaml(client_auth_type="RequireAndVerifyClientCert", client_ca_file=str(pki.ca))
    config += f"basic_auth_users:\n  alice: '{hashes['alice']}'\n"
    url = await serve(write_config(tmp_path, config))
    issued = contexts(pki)["issued"]
    status, _, headers = await fetch(http, url + "/metrics", tls=issued)
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Basic")
    status, _, _ = await fetch(http, url + "/metrics", basic("alice", "wrong"), tls=issued)
    assert status == 401
    status, _, _ = await fetch(http, url + "/metrics", basic("alice", PASSWORD), tls=issued)
    assert status == 200
    status, _, _ = await fetch(http, url + "/healthz", tls=issued)
    assert status == 200
    with pytest.raises(aiohttp.ClientError):  # the password does not replace the certificate
        await fetch(http, url + "/metrics", basic("alice", PASSWORD), tls=contexts(pki)["none"])
