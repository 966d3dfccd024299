"""The `genesys` section: which Genesys Cloud org to reach and how hard to lean on it.

The region gives both hosts (api.<domain>, login.<domain>). The environment can replace them:
GENESYS_REGION wins over the file's region, and GENESYS_API_BASE_URL / GENESYS_LOGIN_BASE_URL
over either host (with both set, no region is needed, which is how tests and the simulator point
the poller elsewhere). When the environment gives the hosts, the section may be left out.
Problems with those variables are named by the variable, without a line.
With `orgs:`, the section holds the defaults every org starts from, and the region is optional.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from poller.config.checker import MISSING, Checker, Missing
from poller.config.messages import Loc
from poller.config.model import GenesysSettings, PushSettings
from poller.config.push import check_push
from poller.config.values import InvalidError, base_url, region_domain, region_problem

GENESYS_KEYS: Final = (
    "region",
    "requests_per_minute",
    "timeout",
    "strict_names",
    "max_response_bytes",
    "push",
)
MAX_RESPONSE_BYTES_LIMIT: Final = 1 << 30

_LOC: Final[Loc] = ("genesys",)
_SECRET_KEYS: Final = {
    "client_id": "credentials are never read from the config file; "
    "set GENESYS_CLIENT_ID or GENESYS_CLIENT_ID_FILE instead",
    "client_secret": "secrets are never read from the config file; "
    "set GENESYS_CLIENT_SECRET or GENESYS_CLIENT_SECRET_FILE instead",
}


def check_genesys(
    c: Checker, raw: object, env: Mapping[str, str], *, region_required: bool = True
) -> GenesysSettings | None:
    """The section's settings; also sets `c.strict` from strict_names, which later checks use.

    Without `region_required` (a config with `orgs:`, where this section only holds defaults), a
    missing region leaves the region and any host not set by the environment empty.
    """
    before = len(c.problems)
    m = c.section(_LOC, raw, GENESYS_KEYS, " with region and the API settings", _SECRET_KEYS)
    if m is None:
        return None
    urls = _base_urls(c, env, _region(c, env, m), region_required)
    rpm: int | None = 300
    if "requests_per_minute" in m:
        rpm = c.integer((*_LOC, "requests_per_minute"), m["requests_per_minute"], 1, 100_000)
    timeout: float | None = 30.0
    if "timeout" in m:
        timeout = c.duration((*_LOC, "timeout"), m["timeout"])
        if timeout == 0:
            c.error((*_LOC, "timeout"), "must be longer than 0s")
    if "strict_names" in m:
        strict = c.boolean((*_LOC, "strict_names"), m["strict_names"])
        c.strict = strict is not False
    max_bytes: int | None = 50 * 1024 * 1024
    if "max_response_bytes" in m:
        max_bytes = c.integer(
            (*_LOC, "max_response_bytes"), m["max_response_bytes"], 1024, MAX_RESPONSE_BYTES_LIMIT
        )
    push: PushSettings | None = PushSettings()
    if "push" in m:
        push = check_push(c, (*_LOC, "push"), m["push"], PushSettings())
    if len(c.problems) > before or urls is None or push is None:
        return None
    assert rpm is not None
    assert timeout is not None
    assert max_bytes is not None
    region, api, login = urls
    return GenesysSettings(
        region=region,
        api_base_url=api,
        login_base_url=login,
        requests_per_minute=rpm,
        timeout=timeout,
        strict_names=c.strict,
        max_response_bytes=max_bytes,
        push=push,
    )


def _region(c: Checker, env: Mapping[str, str], m: Mapping[object, object]) -> str | Missing | None:
    """The region's domain: MISSING when none is set, None when it is invalid."""
    from_env = env.get("GENESYS_REGION")
    if from_env:
        domain = region_domain(from_env)
        if domain is None:
            c.env_error("GENESYS_REGION", region_problem(from_env))
        return domain
    if "region" not in m:
        return MISSING
    name = c.string((*_LOC, "region"), m["region"], " such as mypurecloud.ie or eu_west_1")
    if name is None:
        return None
    domain = region_domain(name)
    if domain is None:
        c.error((*_LOC, "region"), region_problem(name))
    return domain


def _env_url(c: Checker, env: Mapping[str, str], name: str) -> str | Missing | None:
    """The base URL from env var `name`: MISSING when unset, None when invalid."""
    raw = env.get(name)
    if not raw:
        return MISSING
    try:
        return base_url(raw)
    except InvalidError as exc:
        c.env_error(name, str(exc))
        return None


def _base_urls(
    c: Checker, env: Mapping[str, str], domain: str | Missing | None, region_required: bool
) -> tuple[str, str, str] | None:
    """(region domain, API base URL, login base URL), or None after reporting why not."""
    api = _env_url(c, env, "GENESYS_API_BASE_URL")
    login = _env_url(c, env, "GENESYS_LOGIN_BASE_URL")
    if isinstance(domain, Missing):
        if region_required and (isinstance(api, Missing) or isinstance(login, Missing)):
            c.missing(
                _LOC,
                "region",
                "a region domain such as mypurecloud.ie or an SDK region name such as "
                "eu_west_1; or set GENESYS_REGION, or both GENESYS_API_BASE_URL and "
                "GENESYS_LOGIN_BASE_URL",
            )
            return None
        domain = ""  # no region: the hosts come from the environment, or stay unknown
    if domain is None or api is None or login is None:
        return None
    return domain, region_host(api, "api", domain), region_host(login, "login", domain)


def env_gives_hosts(env: Mapping[str, str]) -> bool:
    """Whether the environment names the hosts without the file: GENESYS_REGION, or both base
    URLs."""
    urls = ("GENESYS_API_BASE_URL", "GENESYS_LOGIN_BASE_URL")
    return bool(env.get("GENESYS_REGION")) or all(env.get(name) for name in urls)


def region_host(url: str | Missing, prefix: str, domain: str) -> str:
    """`url` when given, else https://<prefix>.<domain>, or "" with no domain either."""
    if not isinstance(url, Missing):
        return url
    return f"https://{prefix}.{domain}" if domain else ""


def env_base_urls(env: Mapping[str, str]) -> tuple[str, str]:
    """(GENESYS_API_BASE_URL, GENESYS_LOGIN_BASE_URL) as checked base URLs; "" for one unset or
    invalid (`check_genesys` reports an invalid one)."""
    out: list[str] = []
    for name in ("GENESYS_API_BASE_URL", "GENESYS_LOGIN_BASE_URL"):
        try:
            out.append(base_url(env[name]) if env.get(name) else "")
        except InvalidError:
            out.append("")
    return out[0], out[1]
