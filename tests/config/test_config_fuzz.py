"""Whatever the file holds, parse_config returns a Config or raises ConfigError, nothing else."""

from __future__ import annotations

import copy

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poller import config as config_module
from poller.config import parse_config
from poller.config.model import Config
from poller.errors import ConfigError
from tests.support.config import query_named

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

KEYS = sorted(
    {
        *config_module.TOP_KEYS,
        *config_module.GENESYS_KEYS,
        *config_module.SERVER_KEYS,
        *config_module.AGGREGATE_KEYS,
        *config_module.FILTER_KEYS,
        *config_module.PREDICATE_KEYS,
        *config_module.VIEW_KEYS,
        *config_module.ORG_KEYS,
        "client_secret",
        "gte",
        "lt",
    }
)
WORDS = [
    "aggregate", "observation", "today", "60s", "500ms", "1h30m", "nFlow", "tFlow", "oFlow",
    "flowId", "mediaType", "conversationId", "and", "or", "matches", "exists", "rangeBound",
    "mypurecloud.ie", "eu_west_1", "Europe/Dublin", ":9864", "[::1]:0",
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(WORDS)
)
keys = st.sampled_from(KEYS) | st.text(max_size=10)
trees = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=30,
)

VALID: dict[str, object] = {
    "genesys": {"region": "mypurecloud.ie", "timeout": "10s"},
    "server": {"listen": "127.0.0.1:0"},
    "queries": [
        {
            "name": "flows",
            "type": "aggregate",
            "every": "60s",
            "window": "today",
            "time_zone": "Europe/Dublin",
            "group_by": ["flowId"],
            "metrics": ["nFlow", "tFlow"],
            "filter": {
                "type": "and",
                "clauses": [{"type": "or", "predicates": [{"dimension": "flowId", "value": "a"}]}],
                "predicates": [{"dimension": "mediaType", "value": "voice"}],
            },
            "views": [{"name": "fast", "target": "tFlow", "range": {"lt": 1000}}],
            "stale_after": "10m",
        },
        {
            "name": "active",
            "type": "observation",
            "every": "15s",
            "metrics": ["oFlow"],
            "filter": {"type": "or", "predicates": [{"dimension": "mediaType", "value": "voice"}]},
        },
    ],
}
PATHS: list[tuple[str | int, ...]] = [
    ("genesys",),
    ("genesys", "region"),
    ("genesys", "requests_per_minute"),
    ("genesys", "strict_names"),
    ("server",),
    ("server", "listen"),
    ("queries",),
    ("queries", 0),
    ("queries", 0, "name"),
    ("queries", 0, "type"),
    ("queries", 0, "every"),
    ("queries", 0, "window"),
    ("queries", 0, "delay"),
    ("queries", 0, "time_zone"),
    ("queries", 0, "group_by"),
    ("queries", 0, "metrics"),
    ("queries", 0, "metrics", 0),
    ("queries", 0, "filter"),
    ("queries", 0, "filter", "clauses"),
    ("queries", 0, "filter", "clauses", 0, "predicates"),
    ("queries", 0, "filter", "predicates", 0),
    ("queries", 0, "filter", "predicates", 0, "range"),
    ("queries", 0, "views"),
    ("queries", 0, "views", 0, "range"),
    ("queries", 1, "filter"),
    ("queries", 1, "metrics"),
]


def _check(text: str) -> None:
    failure: ConfigError | None = None
    try:
        result = parse_config(text, source="fuzz.yaml", env={})
    except ConfigError as err:
        failure = err
    if failure is None:
        assert isinstance(result, Config)
    else:
        assert failure.problems
        assert str(failure)  # formatting never fails either


def test_valid_base_document_loads() -> None:
    """The document the mutation test starts from is valid, so mutations test one change each."""
    assert query_named(parse_config(yaml.safe_dump(VALID), env={}), "active").type == "observation"


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    """Any text, YAML or not, gives a Config or a ConfigError."""
    _check(text)


@FUZZ
@given(trees)
def test_arbitrary_documents(tree: object) -> None:
    """Any nested mapping/list/scalar document gives a Config or a ConfigError."""
    _check(yaml.safe_dump(tree))


@FUZZ
@given(st.sampled_from(PATHS), trees)
def test_valid_document_with_one_value_replaced(path: tuple[str | int, ...], value: object) -> None:
    """Replacing any one value of a valid config with anything gives a Config or a ConfigError."""
    document = copy.deepcopy(VALID)
    node: object = document
    for part in path[:-1]:
        node = node[part]  # type: ignore[index]
    node[path[-1]] = value  # type: ignore[index]
    _check(yaml.safe_dump(document))


VALID_ORGS: dict[str, object] = {
    **VALID,
    "orgs": [
        {"name": "acme", "client_id_env": "A", "client_secret_file": "/s"},
        {
            "name": "globex",
            "region": "us_east_1",
            "api_base_url": "https://api.example.com",
            "client_id_file": "/i",
            "client_secret_env": "B",
            "requests_per_minute": 10,
            "queries": [VALID["queries"][1]],  # type: ignore[index]
        },
    ],
}
ORG_PATHS: list[tuple[str | int, ...]] = [
    ("genesys",),
    ("genesys", "region"),
    ("queries",),
    ("orgs",),
    ("orgs", 0),
    ("orgs", 0, "name"),
    ("orgs", 0, "client_id_env"),
    ("orgs", 1, "region"),
    ("orgs", 1, "api_base_url"),
    ("orgs", 1, "client_id_file"),
    ("orgs", 1, "requests_per_minute"),
    ("orgs", 1, "queries"),
    ("orgs", 1, "queries", 0),
]


def test_valid_orgs_document_loads() -> None:
    """The orgs document the mutation test starts from is valid."""
    assert [o.name for o in parse_config(yaml.safe_dump(VALID_ORGS), env={}).orgs] == [
        "acme",
        "globex",
    ]


@FUZZ
@given(st.sampled_from(ORG_PATHS), trees)
def test_valid_orgs_document_with_one_value_replaced(
    path: tuple[str | int, ...], value: object
) -> None:
    """Replacing any one value of a valid config with orgs gives a Config or a ConfigError."""
    document = copy.deepcopy(VALID_ORGS)
    node: object = document
    for part in path[:-1]:
        node = node[part]  # type: ignore[index]
    node[path[-1]] = value  # type: ignore[index]
    _check(yaml.safe_dump(document))
