"""The YAML config file -> checked -> the frozen `poller.config.model.Config` the daemon sees.

Checking runs in one pass over the parsed document: every field is type-checked against a fixed
schema (unknown keys are errors), cross-checked against the catalog and its neighbours, and every
problem is collected with its path (`queries[1].metrics[0]`) and YAML line before one
`ConfigError` lists them all. The model is built only when nothing is wrong.

Credentials never come from the file: `load_credentials` reads them from the environment, and
`org_credentials` / `all_credentials` from the variables or files each org of `orgs:` names.

The `*_KEYS` tuples are the schema's allowed keys per section, for tests that walk it.
"""

from __future__ import annotations

from poller.config.credentials import all_credentials, load_credentials, org_credentials
from poller.config.filters import FILTER_KEYS, PREDICATE_KEYS
from poller.config.genesys import GENESYS_KEYS
from poller.config.loader import SERVER_KEYS, TOP_KEYS, load_config, parse_config
from poller.config.names import NAMES_KEYS
from poller.config.orgs import ORG_KEYS
from poller.config.queries import AGGREGATE_KEYS, OBSERVATION_KEYS
from poller.config.values import format_duration, parse_duration, parse_listen_address
from poller.config.views import VIEW_KEYS

__all__ = [
    "AGGREGATE_KEYS",
    "FILTER_KEYS",
    "GENESYS_KEYS",
    "NAMES_KEYS",
    "OBSERVATION_KEYS",
    "ORG_KEYS",
    "PREDICATE_KEYS",
    "SERVER_KEYS",
    "TOP_KEYS",
    "VIEW_KEYS",
    "all_credentials",
    "format_duration",
    "load_config",
    "load_credentials",
    "org_credentials",
    "parse_config",
    "parse_duration",
    "parse_listen_address",
]
