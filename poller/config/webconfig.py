"""`--web.config.file`: TLS and basic auth, read the way Prometheus' exporter-toolkit reads it,
so an operator can reuse the file their Go exporters use.

Supported: `tls_server_config` (cert_file, key_file, client_ca_file, client_auth_type, min_version,
max_version; cipher_suites, curve_preferences and prefer_server_cipher_suites are accepted and
ignored: Python's defaults are already modern) and `basic_auth_users` (bcrypt hashes,
$2a$/$2b$/$2y$). `http_server_config.headers` adds the response headers exporter-toolkit allows.
Unknown keys and duplicate keys are errors, as exporter-toolkit's strict YAML decoding makes them.
exporter-toolkit keys this exporter cannot honour (inline cert/key/client_ca, client_allowed_sans,
rate_limit) are errors too: ignoring a restriction would silently let more clients in.

The file is read and checked like the main config (same YAML source, same checker), so every
problem names its place and line. Values are never echoed here: an operator may have pasted a
password where a hash belongs. The middleware that applies these settings is `poller.webauth`.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from poller.config.checker import Checker
from poller.config.messages import Loc, quote, yaml_scalar
from poller.config.yamlsource import read_yaml
from poller.errors import ConfigError

TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# exporter-toolkit's names (Go's tls.ClientAuthType; RequireClientCert is its legacy alias).
# Python cannot make a client send a certificate without verifying it, so the "any certificate"
# mode verifies against client_ca_file. RequestClientCert never looks at the certificate, so not
# asking for one accepts exactly the clients Go accepts.
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_NONE,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "RequireClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
NEEDS_CA = (
    "RequireAnyClientCert",
    "RequireClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
)
# Sorted, as the allowed keys are listed in messages.
TOP_KEYS: Final = ("basic_auth_users", "http_server_config", "tls_server_config")
TLS_KEYS: Final = (
    "cert_file",
    "cipher_suites",
    "client_auth_type",
    "client_ca_file",
    "curve_preferences",
    "key_file",
    "max_version",
    "min_version",
    "prefer_server_cipher_suites",
)
HTTP_KEYS: Final = ("headers", "http2")
_TOP_NOT_SUPPORTED: Final = {"rate_limit": "rate limiting is not supported by this exporter"}
_TLS_NOT_SUPPORTED: Final = {
    "cert": "inline certificates are not supported; use cert_file",
    "key": "inline keys are not supported; use key_file",
    "client_ca": "inline CAs are not supported; use client_ca_file",
    "client_allowed_sans": (
        "not supported by this exporter; restrict clients with a dedicated client_ca_file"
    ),
}
# exporter-toolkit allows only these (None: any value), so every exporter behaves alike.
HEADERS: dict[str, tuple[str, ...] | None] = {
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": None,
    "Content-Security-Policy": None,
}
# What Go's bcrypt.Cost accepts: version, cost 04-31, 22 salt + 31 hash characters.
BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}")
HASH_ADVICE: Final = (
    "expected a bcrypt hash ($2a$, $2b$ or $2y$...); "
    "make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
)

_TLS: Final[Loc] = ("tls_server_config",)
_HTTP: Final[Loc] = ("http_server_config",)
_USERS: Final[Loc] = ("basic_auth_users",)


@dataclass(frozen=True, slots=True)
class WebConfig:
    ssl_context: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


def load_web_config(path: str | Path) -> WebConfig:
    """Reads and checks the web config at `path`; ConfigError lists every problem with its line.

    Relative file names in it are read from the file's directory.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([f"cannot read the web config: {err.strerror}"], source) from None
    except UnicodeDecodeError:
        raise ConfigError(["cannot read the web config: not UTF-8 text"], source) from None
    document = read_yaml(text, source)
    c = Checker.for_document(document)
    config = _check(c, document.data, Path(path).parent)
    if c.problems:
        raise c.config_error(source)
    return config


def _check(c: Checker, raw: object, base: Path) -> WebConfig:
    hint = " with tls_server_config, http_server_config or basic_auth_users"
    top = _section(c, (), raw, TOP_KEYS, _TOP_NOT_SUPPORTED, hint)
    tls = _section(c, _TLS, top.get("tls_server_config"), TLS_KEYS, _TLS_NOT_SUPPORTED)
    context = _tls(c, tls, base)
    users = _users(c, _mapping(c, _USERS, top.get("basic_auth_users")))
    http = _section(c, _HTTP, top.get("http_server_config"), HTTP_KEYS)
    headers = _headers(c, _mapping(c, (*_HTTP, "headers"), http.get("headers")))
    return WebConfig(context, users, headers)


def _kind(value: object) -> str:
    """What a value is, without showing it."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _mapping(c: Checker, loc: Loc, value: object, hint: str = "") -> Mapping[object, object]:
    """`value` as a mapping; absent or null is an empty one."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        c.error(loc, f"expected a mapping{hint}, found {_kind(value)}")
        return {}
    return value


def _section(
    c: Checker,
    loc: Loc,
    value: object,
    allowed: tuple[str, ...],
    special: Mapping[str, str] | None = None,
    hint: str = "",
) -> Mapping[object, object]:
    """`value` as a mapping whose keys are all in `allowed`; absent or null is an empty one."""
    m = _mapping(c, loc, value, hint)
    c.keys(loc, m, allowed, special)
    return m


def _key(key: object) -> str:
    return key if isinstance(key, str) else yaml_scalar(key)


def _choice(
    c: Checker, tls: Mapping[object, object], name: str, default: str, allowed: Mapping[str, Any]
) -> str | None:
    value = tls.get(name) or default
    if isinstance(value, str) and value in allowed:
        return value
    c.error((*_TLS, name), f"unknown value {value!r} (allowed: {', '.join(allowed)})")
    return None


def _tls(c: Checker, tls: Mapping[object, object], base: Path) -> ssl.SSLContext | None:
    if not tls:
        return None
    files: dict[str, Path] = {}
    for name in ("cert_file", "key_file", "client_ca_file"):
        value = tls.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            c.error((*_TLS, name), "expected a file path")
            return None
        files[name] = base / value
    for name in ("cert_file", "key_file"):
        if name not in files:
            c.error((*_TLS, name), "missing; TLS needs cert_file and key_file")
    auth = _choice(c, tls, "client_auth_type", "NoClientCert", CLIENT_AUTH)
    low = _choice(c, tls, "min_version", "TLS12", TLS_VERSIONS)
    high = _choice(c, tls, "max_version", "TLS13", TLS_VERSIONS)
    if auth is None or low is None or high is None or not {"cert_file", "key_file"} <= files.keys():
        return None
    ca = files.get("client_ca_file")
    if auth in NEEDS_CA and ca is None:
        why = "" if "Verify" in auth else " (Python verifies every client certificate it requires)"
        c.error(
            (*_TLS, "client_ca_file"),
            f"required when client_auth_type is {auth}{why}",
            at=(*_TLS, "client_auth_type"),
        )
        return None
    if ca is not None and auth == "NoClientCert":
        c.error(
            (*_TLS, "client_auth_type"),
            "client_ca_file is set but client_auth_type is NoClientCert; set one of "
            + ", ".join(NEEDS_CA),
            at=(*_TLS, "client_auth_type" if "client_auth_type" in tls else "client_ca_file"),
        )
        return None
    if TLS_VERSIONS[low] > TLS_VERSIONS[high]:
        c.error((*_TLS, "min_version"), f"{low} is above max_version {high}")
        return None
    return _context(c, files, auth, low, high)


def _context(
    c: Checker, files: Mapping[str, Path], auth: str, low: str, high: str
) -> ssl.SSLContext | None:
    unreadable = False
    for name, file in files.items():
        try:
            file.read_bytes()
        except OSError as err:
            c.error((*_TLS, name), f"cannot read {file}: {err.strerror}")
            unreadable = True
    if unreadable:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS[low]
    context.maximum_version = TLS_VERSIONS[high]
    cert, key = files["cert_file"], files["key_file"]
    try:
        # An empty password instead of OpenSSL's default: an interactive prompt on the terminal.
        context.load_cert_chain(cert, key, password=b"")
    except ssl.SSLError:
        # One problem about the pair, since either file can be the wrong one.
        c.error(
            (),
            f"tls_server_config.cert_file/key_file: {cert} and {key} are not a PEM certificate "
            "and its unencrypted private key",
            at=(*_TLS, "key_file"),
        )
        return None
    ca = files.get("client_ca_file")
    if ca is not None:
        try:
            context.load_verify_locations(cafile=ca)
        except ssl.SSLError:
            c.error((*_TLS, "client_ca_file"), f"{ca} holds no PEM certificate")
            return None
    context.verify_mode = CLIENT_AUTH[auth]
    return context


def _users(c: Checker, users: Mapping[object, object]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for user, hashed in users.items():
        # Never echo the value: a careless operator may have put a password here.
        if not isinstance(hashed, str) or not BCRYPT_HASH.fullmatch(hashed):
            c.error((*_USERS, _key(user)), HASH_ADVICE)
            continue
        out[_key(user)] = hashed.encode()
    return out


def _headers(c: Checker, headers: Mapping[object, object]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in headers.items():
        name = _key(key)
        loc = (*_HTTP, "headers", name)
        if name not in HEADERS:
            c.error(loc, f"this header cannot be configured (allowed: {', '.join(HEADERS)})")
            continue
        allowed = HEADERS[name]
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            c.error(loc, "expected a one-line string")
        elif allowed is not None and value not in allowed:
            c.error(loc, f"{quote(value)} is not one of {', '.join(allowed)}")
        else:
            out[name] = value
    return out
