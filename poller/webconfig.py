"""`--web.config.file`: TLS and basic auth, read the way Prometheus' exporter-toolkit reads it,
so an operator can reuse the file their Go exporters use.

Supported: `tls_server_config` (cert_file, key_file, client_ca_file, client_auth_type, min_version,
max_version; cipher_suites, curve_preferences and prefer_server_cipher_suites are accepted and
ignored: Python's defaults are already modern) and `basic_auth_users` (bcrypt hashes,
$2a$/$2b$/$2y$). `http_server_config.headers` adds the response headers exporter-toolkit allows.
Unknown keys and duplicate keys are errors, as exporter-toolkit's strict YAML decoding makes them.
exporter-toolkit keys this exporter cannot honour (inline cert/key/client_ca, client_allowed_sans,
rate_limit) are errors too: ignoring a restriction would silently let more clients in.
/healthz stays open so that liveness probes need no credentials; every other path needs auth.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
import ssl
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml
from aiohttp import web

from poller.errors import ConfigError

OPEN_PATHS = frozenset({"/healthz"})

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
NEEDS_CA = ("RequireAnyClientCert", "RequireClientCert", "VerifyClientCertIfGiven",
            "RequireAndVerifyClientCert")  # fmt: skip
TLS_KEYS = {
    "cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version", "max_version",
    "cipher_suites", "prefer_server_cipher_suites", "curve_preferences",
}  # fmt: skip
TOP_KEYS = {"tls_server_config", "http_server_config", "basic_auth_users"}
HTTP_KEYS = {"headers", "http2"}
NOT_SUPPORTED = {
    "rate_limit": "rate limiting is not supported by this exporter",
    "tls_server_config.cert": "inline certificates are not supported; use cert_file",
    "tls_server_config.key": "inline keys are not supported; use key_file",
    "tls_server_config.client_ca": "inline CAs are not supported; use client_ca_file",
    "tls_server_config.client_allowed_sans": (
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


@dataclass(frozen=True, slots=True)
class WebConfig:
    ssl_context: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


class _StrictLoader(yaml.SafeLoader):
    """Refuses duplicate keys (PyYAML keeps the last one silently; Go's strict decoder fails)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)  # resolve `<<` merges first, as SafeLoader does
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable):
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {str(key)!r}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(err: yaml.YAMLError) -> str:
    # str(err) quotes the offending line, which may hold a password pasted by mistake.
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"not valid YAML{where}: {err.problem or err.context}"
    return "not valid YAML"


def _mapping(value: object, where: str, problems: list[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{where}: expected a mapping, got {type(value).__name__}")
        return {}
    return value


def _unknown(section: dict[str, Any], allowed: set[str], where: str, problems: list[str]) -> None:
    for key in section:
        if key in allowed:
            continue
        reason = NOT_SUPPORTED.get(f"{where}{key}")
        if reason is None:
            reason = f"unknown key (allowed: {', '.join(sorted(allowed))})"
        problems.append(f"{where}{key}: {reason}")


def load_web_config(path: str | Path) -> WebConfig:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([f"cannot read the web config: {err.strerror}"], source) from None
    except UnicodeDecodeError:
        raise ConfigError(["cannot read the web config: not UTF-8 text"], source) from None
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as err:
        raise ConfigError([_yaml_problem(err)], source) from None
    problems: list[str] = []
    top = _mapping(raw, "web config", problems)
    _unknown(top, TOP_KEYS, "", problems)
    base = Path(path).parent
    context = _tls(_mapping(top.get("tls_server_config"), "tls_server_config", problems),
                   base, problems)  # fmt: skip
    users = _users(_mapping(top.get("basic_auth_users"), "basic_auth_users", problems), problems)
    http = _mapping(top.get("http_server_config"), "http_server_config", problems)
    _unknown(http, HTTP_KEYS, "http_server_config.", problems)
    headers = _headers(_mapping(http.get("headers"), "http_server_config.headers", problems),
                       problems)  # fmt: skip
    if problems:
        raise ConfigError(problems, source)
    return WebConfig(context, users, headers)


def _choice(tls: dict[str, Any], name: str, default: str, allowed: Mapping[str, Any],
            problems: list[str]) -> str | None:  # fmt: skip
    value = tls.get(name) or default
    if isinstance(value, str) and value in allowed:
        return value
    problems.append(
        f"tls_server_config.{name}: unknown value {value!r} (allowed: {', '.join(allowed)})"
    )
    return None


def _tls(tls: dict[str, Any], base: Path, problems: list[str]) -> ssl.SSLContext | None:
    if not tls:
        return None
    _unknown(tls, TLS_KEYS, "tls_server_config.", problems)
    files: dict[str, Path] = {}
    for name in ("cert_file", "key_file", "client_ca_file"):
        value = tls.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            problems.append(f"tls_server_config.{name}: expected a file path")
            return None
        files[name] = base / value
    for name in ("cert_file", "key_file"):
        if name not in files:
            problems.append(f"tls_server_config.{name}: missing; TLS needs cert_file and key_file")
    auth = _choice(tls, "client_auth_type", "NoClientCert", CLIENT_AUTH, problems)
    low = _choice(tls, "min_version", "TLS12", TLS_VERSIONS, problems)
    high = _choice(tls, "max_version", "TLS13", TLS_VERSIONS, problems)
    if auth is None or low is None or high is None or not {"cert_file", "key_file"} <= files.keys():
        return None
    ca = files.get("client_ca_file")
    if auth in NEEDS_CA and ca is None:
        why = "" if "Verify" in auth else " (Python verifies every client certificate it requires)"
        problems.append(
            f"tls_server_config.client_ca_file: required when client_auth_type is {auth}{why}"
        )
        return None
    if ca is not None and auth == "NoClientCert":
        problems.append(
            "tls_server_config.client_auth_type: client_ca_file is set but client_auth_type is "
            "NoClientCert; set one of " + ", ".join(NEEDS_CA)
        )
        return None
    if TLS_VERSIONS[low] > TLS_VERSIONS[high]:
        problems.append(f"tls_server_config.min_version: {low} is above max_version {high}")
        return None
    unreadable = False
    for name, file in files.items():
        try:
            file.read_bytes()
        except OSError as err:
            problems.append(f"tls_server_config.{name}: cannot read {file}: {err.strerror}")
            unreadable = True
    if unreadable:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS[low]
    context.maximum_version = TLS_VERSIONS[high]
    try:
        # An empty password instead of OpenSSL's default: an interactive prompt on the terminal.
        context.load_cert_chain(files["cert_file"], files["key_file"], password=b"")
    except ssl.SSLError:
        problems.append(
            f"tls_server_config.cert_file/key_file: {files['cert_file']} and "
            f"{files['key_file']} are not a PEM certificate and its unencrypted private key"
        )
        return None
    if ca is not None:
        try:
            context.load_verify_locations(cafile=ca)
        except ssl.SSLError:
            problems.append(f"tls_server_config.client_ca_file: {ca} holds no PEM certificate")
            return None
    context.verify_mode = CLIENT_AUTH[auth]
    return context


def _users(users: dict[str, Any], problems: list[str]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for user, hashed in users.items():
        # Never echo the value: a careless operator may have put a password here.
        if not isinstance(hashed, str) or not BCRYPT_HASH.fullmatch(hashed):
            problems.append(
                f"basic_auth_users.{user}: expected a bcrypt hash ($2a$, $2b$ or $2y$...); "
                "make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
            )
            continue
        out[str(user)] = hashed.encode()
    return out


def _headers(headers: dict[str, Any], problems: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        if name not in HEADERS:
            problems.append(
                f"http_server_config.headers.{name}: this header cannot be configured "
                f"(allowed: {', '.join(HEADERS)})"
            )
            continue
        allowed = HEADERS[name]
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            problems.append(f"http_server_config.headers.{name}: expected a one-line string")
        elif allowed is not None and value not in allowed:
            problems.append(
                f"http_server_config.headers.{name}: {value!r} is not one of {', '.join(allowed)}"
            )
        else:
            out[name] = value
    return out


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BasicAuth:
    """aiohttp middleware checking basic auth against bcrypt hashes.

    bcrypt is slow on purpose (tens of ms); a scrape every few seconds would pay it each time,
    so a successful (user, password) pair is remembered by its SHA-256, as exporter-toolkit does.
    An unknown user is checked against a dummy hash so that timing does not reveal user names.
    Checks run one at a time in a worker thread: the event loop stays free, and a flood of bad
    passwords costs one core and never fills the default executor that DNS lookups share.
    """

    # aiohttp reads this marker from the object in the middleware list, i.e. this instance;
    # @web.middleware on __call__ would mark only the method, and aiohttp would then call the
    # instance as an old-style middleware factory, answering every request with a 500.
    __middleware_version__ = 1

    def __init__(self, users: Mapping[str, bytes], open_paths: frozenset[str] = OPEN_PATHS):
        self._users = dict(users)
        self._open = open_paths
        self._ok: set[bytes] = set()
        self._one_at_a_time = asyncio.Lock()
        self._dummy: bytes | None = None

    def _checkpw(self, password: bytes, hashed: bytes) -> bool:
        """The one place bcrypt runs (tests subclass it to count calls)."""
        try:
            return bcrypt.checkpw(password, hashed)
        except ValueError:  # over 72 bytes, or a hash bcrypt refuses
            return False

    def _dummy_hash(self) -> bytes:
        if self._dummy is None:
            cost = max((int(h[4:6]) for h in self._users.values()), default=10)
            self._dummy = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=cost))
        return self._dummy

    def _verified(self, user: str, password: str) -> bool:
        key = self._key(user, password)
        if key is None:
            self._checkpw(password.encode(), self._dummy_hash())
            return False
        if key in self._ok:  # verified by a request that held the lock before this one
            return True
        ok = self._checkpw(password.encode(), self._users[user])
        if ok:
            self._ok.add(key)
        return ok

    def _key(self, user: str, password: str) -> bytes | None:
        hashed = self._users.get(user)
        if hashed is None:
            return None
        return hashlib.sha256(user.encode() + b"\0" + password.encode() + b"\0" + hashed).digest()

    async def _check(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        # The scheme is case-insensitive (RFC 7617), as Go's Request.BasicAuth reads it.
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if not sep or not user:
            return False
        if self._key(user, password) in self._ok:
            return True
        async with self._one_at_a_time:
            return await asyncio.to_thread(self._verified, user, password)

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self._users or request.path in self._open:
            return await handler(request)
        if await self._check(request.headers.get("Authorization", "")):
            return await handler(request)
        raise web.HTTPUnauthorized(
            text="Unauthorized\n", headers={"WWW-Authenticate": 'Basic realm="genesyscloud-poller"'}
        )


def headers_middleware(headers: Mapping[str, str]) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def add_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(headers)
            raise
        response.headers.update(headers)
        return response

    return add_headers
