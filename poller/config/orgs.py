"""The `orgs` list: several Genesys Cloud orgs polled by one poller, each with its own hosts,
OAuth client, budget and (optionally) queries.

An org starts from the `genesys` section's settings and replaces the region, hosts and
requests_per_minute it names. Its region defaults to `genesys.region` (or GENESYS_REGION);
GENESYS_API_BASE_URL and GENESYS_LOGIN_BASE_URL replace every org's hosts, so that tests and the
demo can point all orgs at one simulator, which tells them apart by client id. The OAuth client
is named, never given: an environment variable or a file for each of the id and the secret.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Final

from poller.config.checker import MISSING, Checker, Missing
from poller.config.genesys import env_base_urls, region_host
from poller.config.messages import Loc, quote, where
from poller.config.model import (
    CredentialSource,
    GenesysSettings,
    OrgConfig,
    PushSettings,
    QueryConfig,
)
from poller.config.push import check_push
from poller.config.queries import check_queries
from poller.config.values import InvalidError, base_url, region_domain, region_problem

ORG_KEYS: Final = (
    "name",
    "region",
    "api_base_url",
    "login_base_url",
    "client_id_env",
    "client_id_file",
    "client_secret_env",
    "client_secret_file",
    "requests_per_minute",
    "push",
    "queries",
)
_SECRET_KEYS: Final = {
    "client_id": "credentials are never read from the config file; "
    "set client_id_env or client_id_file instead",
    "client_secret": "secrets are never read from the config file; "
    "set client_secret_env or client_secret_file instead",
}
_ORG_NAME = re.compile(r"[a-z][a-z0-9_]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclasses.dataclass(frozen=True, slots=True)
class _Hosts:
    """What an org's hosts are made from, besides its own keys."""

    defaults: GenesysSettings | None  # None: the genesys section is invalid (already reported)
    env_api: str
    env_login: str


def check_orgs(
    c: Checker,
    raw: object,
    defaults: GenesysSettings | None,
    queries: tuple[QueryConfig, ...] | Missing | None,
    env: Mapping[str, str],
    *,
    time_zone: str = "UTC",
) -> tuple[OrgConfig, ...] | None:
    """Every org of `orgs:`, or None if any is invalid.

    `defaults` is the checked `genesys` section (None if invalid); `queries` the top-level list
    for orgs without their own (MISSING when absent, None when invalid); `time_zone` the
    top-level default zone, for an org's own queries too.
    """
    loc: Loc = ("orgs",)
    items = c.sequence(loc, raw, " of orgs")
    if items is None:
        return None
    if not items:
        c.error(loc, "is empty; list at least one org, or remove orgs:")
        return None
    hosts = _Hosts(defaults, *env_base_urls(env))
    names: dict[str, Loc] = {}
    out = [
        _org(c, (*loc, i), item, names, hosts, queries, time_zone) for i, item in enumerate(items)
    ]
    checked = [org for org in out if org is not None]
    return tuple(checked) if len(checked) == len(out) else None


def _org(
    c: Checker,
    loc: Loc,
    raw: object,
    names: dict[str, Loc],
    hosts: _Hosts,
    top_queries: tuple[QueryConfig, ...] | Missing | None,
    time_zone: str,
) -> OrgConfig | None:
    m = c.section(loc, raw, ORG_KEYS, " with name, region and the client's keys", _SECRET_KEYS)
    if m is None:
        return None
    before = len(c.problems)
    name = _name(c, loc, m, names)
    region = _region(c, loc, m)
    api = _url(c, loc, m, "api_base_url")
    login = _url(c, loc, m, "login_base_url")
    client_id_env, client_id_file = _source(c, loc, m, "client_id", "the OAuth client id")
    client_secret_env, client_secret_file = _source(
        c, loc, m, "client_secret", "the OAuth client secret"
    )
    rpm: int | None = None
    if "requests_per_minute" in m:
        rpm = c.integer((*loc, "requests_per_minute"), m["requests_per_minute"], 1, 100_000)
    push: PushSettings | None = None  # None: the defaults' own
    if "push" in m and hosts.defaults is not None:
        push = check_push(c, (*loc, "push"), m["push"], hosts.defaults.push)
    queries: tuple[QueryConfig, ...] | Missing | None = top_queries
    if "queries" in m:
        queries = check_queries(c, m["queries"], (*loc, "queries"), time_zone=time_zone)
    elif isinstance(top_queries, Missing):
        c.error(
            loc,
            "has no queries; give the org its own queries, or list queries at the top level for "
            "every org without its own",
        )
    settings = _settings(c, loc, hosts, region, api, login, rpm)
    if len(c.problems) > before or settings is None or not isinstance(queries, tuple):
        return None
    if push is not None:
        settings = dataclasses.replace(settings, push=push)
    assert name is not None
    credentials = CredentialSource(
        client_id_env=client_id_env,
        client_secret_env=client_secret_env,
        client_id_file=client_id_file,
        client_secret_file=client_secret_file,
    )
    return OrgConfig(name=name, genesys=settings, credentials=credentials, queries=queries)


def _name(c: Checker, loc: Loc, m: Mapping[object, object], names: dict[str, Loc]) -> str | None:
    if "name" not in m:
        c.missing(loc, "name", "a unique name such as acme; it becomes the org label")
        return None
    nloc = (*loc, "name")
    name = c.string(nloc, m["name"], " such as acme")
    if name is None:
        return None
    if not _ORG_NAME.fullmatch(name):
        c.error(
            nloc,
            f"{quote(name)} is not a valid org name; use lower-case letters, digits and _, "
            "starting with a letter, such as acme",
        )
        return None
    if name in names:
        c.error(nloc, f"duplicate org name {quote(name)} (also {where(names[name])})")
        return None
    names[name] = nloc
    return name


def _region(c: Checker, loc: Loc, m: Mapping[object, object]) -> str | Missing | None:
    """The org's region domain: MISSING when it names none, None when it is invalid."""
    if "region" not in m:
        return MISSING
    rloc = (*loc, "region")
    text = c.string(rloc, m["region"], " such as mypurecloud.ie or eu_west_1")
    if text is None:
        return None
    domain = region_domain(text)
    if domain is None:
        c.error(rloc, region_problem(text))
    return domain


def _url(c: Checker, loc: Loc, m: Mapping[object, object], key: str) -> str | Missing | None:
    if key not in m:
        return MISSING
    text = c.string((*loc, key), m[key], " such as https://api.mypurecloud.ie")
    if text is None:
        return None
    try:
        return base_url(text)
    except InvalidError as exc:
        c.error((*loc, key), str(exc))
        return None


def _source(
    c: Checker, loc: Loc, m: Mapping[object, object], what: str, meaning: str
) -> tuple[str, str]:
    """(environment variable, file) for `what`: exactly one of them is set once checked."""
    env_key, file_key = f"{what}_env", f"{what}_file"
    if env_key in m and file_key in m:
        c.error((*loc, file_key), f"{env_key} is also set; set only one of them")
        return "", ""
    if env_key in m:
        eloc = (*loc, env_key)
        name = c.string(eloc, m[env_key], " naming an environment variable")
        if name is not None and not _ENV_NAME.fullmatch(name):
            c.error(
                eloc,
                f"{quote(name)} is not an environment variable name; use letters, digits and _, "
                "not starting with a digit",
            )
            return "", ""
        return name or "", ""
    if file_key in m:
        floc = (*loc, file_key)
        path = c.string(floc, m[file_key], " naming a file")
        if path == "":
            c.error(floc, "is empty; name the file that holds " + meaning)
        return "", path or ""
    if what not in m:  # else refused above with the keys to use instead
        c.error(
            loc, f"needs {env_key} (an environment variable) or {file_key} (a file) for {meaning}"
        )
    return "", ""


def _settings(
    c: Checker,
    loc: Loc,
    hosts: _Hosts,
    region: str | Missing | None,
    api: str | Missing | None,
    login: str | Missing | None,
    rpm: int | None,
) -> GenesysSettings | None:
    """The org's settings: the defaults with its region, hosts and budget; None when unknown."""
    defaults = hosts.defaults
    if defaults is None or region is None or api is None or login is None:
        return None
    domain = defaults.region if isinstance(region, Missing) else region
    api_url = hosts.env_api or region_host(api, "api", domain)
    login_url = hosts.env_login or region_host(login, "login", domain)
    if not api_url or not login_url:
        c.error(
            loc,
            "has no region; set its region (such as mypurecloud.ie or eu_west_1), or "
            "genesys.region for every org without one, or both api_base_url and login_base_url",
        )
        return None
    return dataclasses.replace(
        defaults,
        region=domain,
        api_base_url=api_url,
        login_base_url=login_url,
        requests_per_minute=defaults.requests_per_minute if rpm is None else rpm,
    )
