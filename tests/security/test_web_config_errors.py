"""Reading the web config file: what is accepted, and the exact message and line for each
mistake."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from poller.config.webconfig import load_web_config
from poller.errors import ConfigError
from tests.security.security_support import Pki

HASH_ADVICE = (
    "expected a bcrypt hash ($2a$, $2b$ or $2y$...); "
    "make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
)
TLS_KEYS = (
    "cert_file, cipher_suites, client_auth_type, client_ca_file, curve_preferences, key_file, "
    "max_version, min_version, prefer_server_cipher_suites"
)
AUTH_TYPES = (
    "NoClientCert, RequestClientCert, RequireAnyClientCert, RequireClientCert, "
    "VerifyClientCertIfGiven, RequireAndVerifyClientCert"
)


def problems(directory: Path, text: str | bytes) -> list[str]:
    """The problems load_web_config reports for `text`, as printed but without the file name
    ("LINE: problem", or just the problem when it has no line); fails the test if it accepts it.
    """
    path = directory / "web.yml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_web_config(path)
    assert caught.value.source == str(path)
    printed = str(caught.value).splitlines()
    assert all(line.startswith(f"{path}:") for line in printed)
    return [line.removeprefix(f"{path}:").lstrip() for line in printed]


def test_empty_file_means_plain_http_without_auth(tmp_path: Path) -> None:
    """An empty web config is valid: no TLS, no users, no headers."""
    path = tmp_path / "web.yml"
    path.write_text("# nothing yet\n")
    config = load_web_config(path)
    assert (config.ssl_context, dict(config.users), dict(config.headers)) == (None, {}, {})


def test_full_config_is_read(tmp_path: Path, pki: Pki, hashes: dict[str, str]) -> None:
    """Every supported key at once gives a TLS context, the users' hashes and the headers."""
    path = tmp_path / "web.yml"
    path.write_text(
        pki.tls_yaml(
            client_auth_type="RequireAndVerifyClientCert",
            client_ca_file=str(pki.ca),
            min_version="TLS13",
            max_version="TLS13",
            cipher_suites="[TLS_AES_128_GCM_SHA256]",
            curve_preferences="[X25519]",
            prefer_server_cipher_suites="true",
        )
        + "http_server_config:\n  http2: false\n  headers:\n    X-Content-Type-Options: nosniff\n"
        + f"basic_auth_users:\n  alice: '{hashes['alice']}'\n  bob: '{hashes['bob']}'\n"
    )
    config = load_web_config(path)
    assert config.ssl_context is not None
    assert config.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert config.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert dict(config.users) == {u: h.encode() for u, h in hashes.items()}
    assert dict(config.headers) == {"X-Content-Type-Options": "nosniff"}


def test_unknown_top_level_key(tmp_path: Path) -> None:
    """A misspelt top-level key is an error naming the allowed keys."""
    assert problems(tmp_path, "tls_server_cfg: {}\n") == [
        "1: unknown key 'tls_server_cfg' (did you mean 'tls_server_config'?); allowed: "
        "basic_auth_users, http_server_config, tls_server_config"
    ]


def test_unknown_tls_key(tmp_path: Path, pki: Pki) -> None:
    """A misspelt key under tls_server_config is an error naming the allowed keys."""
    assert problems(tmp_path, pki.tls_yaml(certfile="x.pem")) == [
        "4: tls_server_config: unknown key 'certfile' (did you mean 'cert_file'?); allowed: "
        + TLS_KEYS
    ]


def test_missing_key_file(tmp_path: Path, pki: Pki) -> None:
    """cert_file without key_file is an error naming key_file."""
    text = f"tls_server_config:\n  cert_file: {pki.server_cert}\n"
    assert problems(tmp_path, text) == [
        "1: tls_server_config.key_file: missing; TLS needs cert_file and key_file"
    ]


def test_tls_section_without_files(tmp_path: Path) -> None:
    """A tls_server_config with neither file is an error, not a silent fall back to plain HTTP."""
    assert problems(tmp_path, "tls_server_config:\n  min_version: TLS13\n") == [
        "1: tls_server_config.cert_file: missing; TLS needs cert_file and key_file",
        "1: tls_server_config.key_file: missing; TLS needs cert_file and key_file",
    ]


@pytest.mark.parametrize(
    ("value", "shown"), [("RequireCert", "'RequireCert'"), ("[a, b]", "['a', 'b']")]
)
def test_unknown_client_auth_type(tmp_path: Path, pki: Pki, value: str, shown: str) -> None:
    """An unknown client_auth_type (even a list) is an error listing exporter-toolkit's names."""
    assert problems(tmp_path, pki.tls_yaml(client_auth_type=value)) == [
        f"4: tls_server_config.client_auth_type: unknown value {shown} (allowed: {AUTH_TYPES})"
    ]


def test_verifying_client_auth_needs_a_ca(tmp_path: Path, pki: Pki) -> None:
    """RequireAndVerifyClientCert without client_ca_file is an error."""
    assert problems(tmp_path, pki.tls_yaml(client_auth_type="RequireAndVerifyClientCert")) == [
        "4: tls_server_config.client_ca_file: required when client_auth_type is "
        "RequireAndVerifyClientCert"
    ]


def test_require_any_client_cert_needs_a_ca(tmp_path: Path, pki: Pki) -> None:
    """RequireAnyClientCert without a CA is an error, not a server that refuses every client."""
    assert problems(tmp_path, pki.tls_yaml(client_auth_type="RequireAnyClientCert")) == [
        "4: tls_server_config.client_ca_file: required when client_auth_type is "
        "RequireAnyClientCert (Python verifies every client certificate it requires)"
    ]


def test_client_ca_without_client_auth(tmp_path: Path, pki: Pki) -> None:
    """client_ca_file with the default NoClientCert is an error, as in exporter-toolkit."""
    assert problems(tmp_path, pki.tls_yaml(client_ca_file=str(pki.ca))) == [
        "4: tls_server_config.client_auth_type: client_ca_file is set but client_auth_type is "
        "NoClientCert; set one of RequireAnyClientCert, RequireClientCert, "
        "VerifyClientCertIfGiven, RequireAndVerifyClientCert"
    ]


def test_bad_min_version(tmp_path: Path, pki: Pki) -> None:
    """A min_version outside TLS10..TLS13 is an error listing the names."""
    assert problems(tmp_path, pki.tls_yaml(min_version="TLS1.2")) == [
        "4: tls_server_config.min_version: unknown value 'TLS1.2' (allowed: TLS10, TLS11, TLS12, "
        "TLS13)"
    ]


def test_min_version_above_max_version(tmp_path: Path, pki: Pki) -> None:
    """min_version above max_version is an error, not a server no client can talk to."""
    assert problems(tmp_path, pki.tls_yaml(min_version="TLS13", max_version="TLS12")) == [
        "4: tls_server_config.min_version: TLS13 is above max_version TLS12"
    ]


def test_unreadable_cert_file(tmp_path: Path, pki: Pki) -> None:
    """A cert_file that cannot be read is an error naming that file and why."""
    text = f"tls_server_config:\n  cert_file: missing.pem\n  key_file: {pki.server_key}\n"
    assert problems(tmp_path, text) == [
        f"2: tls_server_config.cert_file: cannot read {tmp_path / 'missing.pem'}: "
        "No such file or directory"
    ]


def test_encrypted_key_is_refused_without_a_prompt(tmp_path: Path, pki: Pki) -> None:
    """A passphrase-protected key is an error (OpenSSL would otherwise prompt on the terminal)."""
    text = f"tls_server_config:\n  cert_file: {pki.server_cert}\n  key_file: {pki.encrypted_key}\n"
    assert problems(tmp_path, text) == [
        f"3: tls_server_config.cert_file/key_file: {pki.server_cert} and {pki.encrypted_key} are "
        "not a PEM certificate and its unencrypted private key"
    ]


def test_ca_file_without_certificates(tmp_path: Path, pki: Pki) -> None:
    """A client_ca_file holding no certificate is an error naming it."""
    config = pki.tls_yaml(
        client_auth_type="RequireAndVerifyClientCert", client_ca_file=str(pki.server_key)
    )
    assert problems(tmp_path, config) == [
        f"5: tls_server_config.client_ca_file: {pki.server_key} holds no PEM certificate"
    ]


@pytest.mark.parametrize(
    "value", ["hunter2-plaintext", "$2b$10$hunter2-plaintext", "$2x$10$" + "a" * 53, "12345"]
)
def test_user_value_that_is_not_a_bcrypt_hash(tmp_path: Path, value: str) -> None:
    """A basic_auth_users value that is no bcrypt hash is an error that never shows the value."""
    found = problems(tmp_path, f"basic_auth_users:\n  alice: '{value}'\n")
    assert found == [f"2: basic_auth_users.alice: {HASH_ADVICE}"]
    assert "hunter2" not in "".join(found)


def test_users_section_that_is_not_a_mapping_is_not_echoed(tmp_path: Path) -> None:
    """basic_auth_users written as one string is an error that never shows the string."""
    found = problems(tmp_path, "basic_auth_users: 'alice:hunter2'\n")
    assert found == ["1: basic_auth_users: expected a mapping, found a string"]


def test_yaml_error_does_not_quote_the_line(tmp_path: Path) -> None:
    """A YAML syntax error gives line and column but not the line's text (it may hold a secret)."""
    found = problems(tmp_path, "basic_auth_users:\n  alice: hunter2: oops\n")
    assert found == ["2: invalid YAML: mapping values are not allowed here (column 17)"]


def test_duplicate_key(tmp_path: Path, hashes: dict[str, str]) -> None:
    """A key given twice is an error, as in Go's strict decoding, not a silent last-one-wins."""
    text = f"basic_auth_users:\n  alice: '{hashes['alice']}'\n  alice: '{hashes['bob']}'\n"
    assert problems(tmp_path, text) == [
        "3: basic_auth_users: duplicate key 'alice' (first at line 2)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "tls_server_config:\n  client_allowed_sans: [scraper]\n",
            "2: tls_server_config.client_allowed_sans: not supported by this exporter; restrict "
            "clients with a dedicated client_ca_file",
        ),
        (
            "rate_limit: {burst: 5}\n",
            "1: rate_limit: rate limiting is not supported by this exporter",
        ),
    ],
)
def test_exporter_toolkit_keys_not_honoured_are_errors(
    tmp_path: Path, text: str, expected: str
) -> None:
    """Keys this exporter cannot honour are refused, never ignored (that would widen access)."""
    assert expected in problems(tmp_path, text)


def test_headers_exporter_toolkit_does_not_allow(tmp_path: Path) -> None:
    """Only exporter-toolkit's headers, with its values for the enumerated ones, may be set."""
    text = "http_server_config:\n  headers:\n    X-Evil: '1'\n    X-Frame-Options: allow\n"
    assert problems(tmp_path, text) == [
        "3: http_server_config.headers['X-Evil']: this header cannot be configured (allowed: "
        "Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, "
        "Content-Security-Policy)",
        "4: http_server_config.headers['X-Frame-Options']: 'allow' is not one of deny, sameorigin",
    ]


def test_unreadable_and_odd_files(tmp_path: Path) -> None:
    """A missing file, a binary file and a YAML list each give one clear problem."""
    with pytest.raises(ConfigError) as caught:
        load_web_config(tmp_path / "absent.yml")
    assert caught.value.problems == ["cannot read the web config: No such file or directory"]
    assert problems(tmp_path, b"\xff\xfe\x00binary") == [
        "cannot read the web config: not UTF-8 text"
    ]
    assert problems(tmp_path, "- a\n- b\n") == [
        "1: expected a mapping with tls_server_config, http_server_config or basic_auth_users, "
        "found a list"
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path, pki: Pki) -> None:
    """Problems in several sections come back together in file order, so one run shows them all."""
    text = pki.tls_yaml(min_version="TLS9") + "basic_auth_users:\n  alice: nope\nextra: 1\n"
    assert problems(tmp_path, text) == [
        "4: tls_server_config.min_version: unknown value 'TLS9' (allowed: TLS10, TLS11, TLS12, "
        "TLS13)",
        f"6: basic_auth_users.alice: {HASH_ADVICE}",
        "7: unknown key 'extra'; allowed: basic_auth_users, http_server_config, tls_server_config",
    ]
