"""Putting the config together: text or file in, the frozen `poller.config.model.Config` out.

The document's top level and the small `server` section are checked here; every other section
by its own module. Problems are collected over the whole document and raised as one ConfigError
in file order, and the model is built only when there are none.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from poller.config.checker import MISSING, Checker, Missing
from poller.config.familytypes import check_family_types
from poller.config.genesys import check_genesys, env_gives_hosts
from poller.config.messages import Loc
from poller.config.model import (
    Config,
    DecodeWorker,
    GenesysSettings,
    OrgConfig,
    QueryConfig,
    ServerSettings,
)
from poller.config.names import check_names
from poller.config.orgs import check_orgs
from poller.config.queries import check_queries
from poller.config.schedule import check_time_zone
from poller.config.values import listen_address
from poller.config.yamlsource import read_yaml
from poller.errors import ConfigError

TOP_KEYS: Final = ("genesys", "server", "time_zone", "queries", "names", "orgs")
SERVER_KEYS: Final = ("listen", "decode_worker")
DECODE_WORKER: Final[tuple[DecodeWorker, ...]] = ("on_demand", "at_start")


def _check_config(c: Checker, data: object, source: str, env: Mapping[str, str]) -> Config | None:
    if data is None:
        c.error((), "the configuration is empty; it needs at least genesys and queries")
        return None
    root = c.section((), data, TOP_KEYS, " with the keys genesys, server, queries and names")
    if root is None:
        return None
    # With orgs, the genesys section only holds the defaults every org starts from, and each org
    # may bring its own queries.
    with_orgs = "orgs" in root
    genesys: GenesysSettings | None = None
    if "genesys" in root:
        genesys = check_genesys(c, root["genesys"], env, region_required=not with_orgs)
    elif with_orgs or env_gives_hosts(env):
        # Every setting but the hosts has a default, and the environment gives those.
        genesys = check_genesys(c, {}, env, region_required=not with_orgs)
    else:
        c.missing(
            (),
            "genesys",
            "the Genesys Cloud region and API settings; or set GENESYS_REGION",
        )
    server = _check_server(c, root.get("server", MISSING))
    # The zone of every aggregate query that names none; a bad one is reported here, and the
    # queries are checked against UTC meanwhile.
    time_zone = check_time_zone(c, (), root) or "UTC"
    queries: tuple[QueryConfig, ...] | Missing | None = MISSING
    if "queries" in root or not with_orgs:
        queries = check_queries(c, root.get("queries", MISSING), time_zone=time_zone)
    names = check_names(c, root.get("names", MISSING))
    orgs: tuple[OrgConfig, ...] | None = ()
    if with_orgs:
        orgs = check_orgs(c, root["orgs"], genesys, queries, env, time_zone=time_zone)
    if genesys is None or server is None or queries is None or names is None or orgs is None:
        return None
    lists: list[tuple[Loc, tuple[QueryConfig, ...]]] = []
    if not isinstance(queries, Missing):
        lists.append((("queries",), queries))
    for j, org in enumerate(orgs):
        if isinstance(queries, Missing) or org.queries is not queries:
            lists.append((("orgs", j, "queries"), org.queries))
    check_family_types(c, lists)
    if c.problems:
        return None
    return Config(
        genesys=genesys,
        server=server,
        queries=() if isinstance(queries, Missing) else queries,
        source=source,
        names=names,
        warnings=tuple(c.warnings),
        orgs=orgs,
    )


def _check_server(c: Checker, raw: object) -> ServerSettings | None:
    loc: Loc = ("server",)
    if raw is MISSING or raw is None:
        return ServerSettings()
    m = c.section(loc, raw, SERVER_KEYS, " with listen")
    if m is None:
        return None
    settings: ServerSettings | None = ServerSettings()
    if "listen" in m:
        address = c.read((*loc, "listen"), listen_address, m["listen"])
        settings = None if address is None else ServerSettings(host=address[0], port=address[1])
    if "decode_worker" in m:
        chosen = c.choice((*loc, "decode_worker"), m["decode_worker"], DECODE_WORKER, "value")
        when = next((x for x in DECODE_WORKER if x == chosen), None)
        if when is None:
            return None
        if settings is not None:
            settings = dataclasses.replace(settings, decode_worker=when)
    return settings


def parse_config(
    text: str, *, source: str = "<config>", env: Mapping[str, str] | None = None
) -> Config:
    """Checks YAML `text` and returns the frozen Config; ConfigError lists every problem.

    `env` (default: os.environ) supplies GENESYS_REGION, GENESYS_API_BASE_URL and
    GENESYS_LOGIN_BASE_URL, which replace what the file says (the base URLs every org's hosts).
    """
    env = os.environ if env is None else env
    document = read_yaml(text, source)
    checker = Checker.for_document(document)
    config = _check_config(checker, document.data, source, env)
    if checker.problems or config is None:
        raise checker.config_error(source)
    return config


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Reads and checks the YAML file at `path`; see `parse_config`."""
    source = os.fspath(path)
    try:
        text = Path(source).read_bytes().decode("utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError([f"cannot read the file: {reason}"], source) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"not UTF-8 text (bad byte at offset {exc.start})"], source) from None
    return parse_config(text, source=source, env=env)
