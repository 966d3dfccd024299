"""Several orgs in one config: `orgs:`, what each org inherits, its problems, its credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from poller import scope
from poller.config import all_credentials, org_credentials, parse_config
from poller.config.model import (
    Config,
    Credentials,
    CredentialSource,
    GenesysSettings,
    OrgConfig,
    Secret,
)
from poller.errors import ConfigError
from tests.support.config import aggregate, observation, org_entry, poller_yaml, query_named

# Written out, not built: the problems below name lines of texts pieced together from these.
QUERIES = """\
queries:
  - name: flows
    type: aggregate
    every: 60s
    metrics: [nFlow]
"""


def three_orgs(*, files: bool = True) -> str:
    """acme on the defaults, globex with its own region, budget and query, initech with its own
    URLs; with `files`, acme's secret and globex's client id are read from files."""
    acme = (
        {"client_secret_file": "/run/secrets/acme"}
        if files
        else {"client_secret_env": "ACME_SECRET"}
    )
    globex = (
        {"client_id_file": "/run/secrets/globex_id"} if files else {"client_id_env": "GLOBEX_ID"}
    )
    return poller_yaml(
        aggregate("flows", every="60s"),
        region="eu_west_1",
        timeout="10s",
        requests_per_minute=250,
        orgs=org_entry("acme", client_id_env="ACME_ID", **acme)
        + org_entry(
            "globex",
            observation("active", every="15s"),
            region="us_east_1",
            requests_per_minute=100,
            client_secret_env="GLOBEX_SECRET",
            **globex,
        )
        + org_entry(
            "initech",
            api_base_url="https://api.example.com/",
            login_base_url="https://login.example.com",
            client_id_env="INITECH_ID",
            client_secret_env="INITECH_SECRET",
        ),
    )


CONFIG = three_orgs()
ORG = """\
orgs:
  - name: acme
    region: mypurecloud.de
    client_id_env: ACME_ID
    client_secret_env: ACME_SECRET
"""
SECRET = "s3cr3t-value-never-shown"


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    """Each problem of `text` with its line, as check-config prints them."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="p.yaml", env=env or {})
    return str(caught.value).splitlines()


def test_orgs_get_hosts_budget_and_queries_from_their_keys_and_the_defaults() -> None:
    """Each org: hosts from its region or genesys.region or its URLs, its budget or the default,
    its own queries or the top-level ones, its credential source; the rest from genesys."""
    config = parse_config(CONFIG, env={})
    flows = query_named(config, "flows")
    active = query_named(config.orgs[1], "active")
    assert config.orgs == (
        OrgConfig(
            "acme",
            GenesysSettings(
                "mypurecloud.ie",
                "https://api.mypurecloud.ie",
                "https://login.mypurecloud.ie",
                requests_per_minute=250,
                timeout=10.0,
            ),
            CredentialSource(client_id_env="ACME_ID", client_secret_file="/run/secrets/acme"),
            (flows,),
        ),
        OrgConfig(
            "globex",
            GenesysSettings(
                "mypurecloud.com",
                "https://api.mypurecloud.com",
                "https://login.mypurecloud.com",
                requests_per_minute=100,
                timeout=10.0,
            ),
            CredentialSource(
                client_id_file="/run/secrets/globex_id", client_secret_env="GLOBEX_SECRET"
            ),
            (active,),
        ),
        OrgConfig(
            "initech",
            GenesysSettings(
                "mypurecloud.ie",
                "https://api.example.com",
                "https://login.example.com",
                requests_per_minute=250,
                timeout=10.0,
            ),
            CredentialSource(client_id_env="INITECH_ID", client_secret_env="INITECH_SECRET"),
            (flows,),
        ),
    )
    assert scope.labelled(config)
    assert config.org_list() == config.orgs
    assert config.queries == (flows,)
    assert config.genesys == config.orgs[0].genesys


def test_base_url_envs_replace_every_orgs_hosts() -> None:
    """GENESYS_API_BASE_URL / GENESYS_LOGIN_BASE_URL replace the hosts of every org, its own
    URLs included, so one simulator serves them all; the region stays."""
    env = {"GENESYS_API_BASE_URL": "http://127.0.0.1:9865/", "GENESYS_LOGIN_BASE_URL": "http://x"}
    config = parse_config(CONFIG, env=env)
    assert [
        (o.genesys.region, o.genesys.api_base_url, o.genesys.login_base_url) for o in config.orgs
    ] == [
        ("mypurecloud.ie", "http://127.0.0.1:9865", "http://x"),
        ("mypurecloud.com", "http://127.0.0.1:9865", "http://x"),
        ("mypurecloud.ie", "http://127.0.0.1:9865", "http://x"),
    ]


def test_genesys_region_env_is_the_default_region_not_an_orgs_own() -> None:
    """GENESYS_REGION replaces genesys.region, the default of orgs naming none; an org's own
    region still wins."""
    config = parse_config(CONFIG, env={"GENESYS_REGION": "eu_central_1"})
    assert [o.genesys.region for o in config.orgs] == [
        "mypurecloud.de",
        "mypurecloud.com",
        "mypurecloud.de",
    ]
    assert config.orgs[0].genesys.api_base_url == "https://api.mypurecloud.de"


def test_with_orgs_genesys_and_top_level_queries_are_optional() -> None:
    """Orgs with their own region and queries need neither genesys: nor queries:; the defaults
    then have no hosts and the top-level queries are empty."""
    text = (
        ORG + "    queries:\n" + "".join("    " + line + "\n" for line in QUERIES.splitlines()[1:])
    )
    config = parse_config(text, env={})
    assert config.genesys == GenesysSettings("", "", "")
    assert config.queries == ()
    (acme,) = config.orgs
    assert acme.genesys == GenesysSettings(
        "mypurecloud.de", "https://api.mypurecloud.de", "https://login.mypurecloud.de"
    )
    assert [q.name for q in acme.queries] == ["flows"]


def test_without_orgs_the_one_org_is_unnamed() -> None:
    """A config without orgs: has no orgs, and org_list() gives one unnamed org with the
    genesys settings, the GENESYS_CLIENT_* credentials and the top-level queries."""
    config = parse_config("genesys:\n  region: mypurecloud.ie\n" + QUERIES, env={})
    assert config.orgs == ()
    assert not scope.labelled(config)
    assert config.org_list() == (OrgConfig("", config.genesys, CredentialSource(), config.queries),)


def test_query_names_are_unique_per_org_only() -> None:
    """Two orgs may each have a query named flows; the same name twice in one org is refused."""
    own = "    queries:\n" + "".join("      " + line + "\n" for line in QUERIES.splitlines()[1:])
    two = ORG + own + ORG.removeprefix("orgs:\n").replace("acme", "beta") + own
    assert [o.name for o in parse_config(two, env={}).orgs] == ["acme", "beta"]
    twice = ORG + own + "".join("      " + line + "\n" for line in QUERIES.splitlines()[1:])
    assert problems(twice) == [
        "p.yaml:11: orgs[0].queries[1].name: duplicate query name 'flows' "
        "(also orgs[0].queries[0].name)"
    ]


def test_org_queries_are_checked_like_the_top_level_ones() -> None:
    """An org's queries get the top-level checks, each placed under orgs[i].queries[j]."""
    text = ORG + (
        "    queries:\n"
        "      - name: flows\n"
        "        type: aggregate\n"
        "        every: 60\n"
        "        metrics: [nFlows]\n"
        "      - name: active\n"
        "        type: observation\n"
        "        every: 15s\n"
        "        window: 1h\n"
        "        metrics: [oFlow]\n"
        "        filter: {type: or, predicates: [{dimension: mediaType, value: voice}]}\n"
    )
    assert problems(text) == [
        "p.yaml:9: orgs[0].queries[0].every: 60 has no unit; write 60s",
        "p.yaml:10: orgs[0].queries[0].metrics[0]: unknown flow aggregate metric 'nFlows' "
        "(did you mean 'nFlow'?)",
        "p.yaml:14: orgs[0].queries[1].window: applies to aggregate queries only; remove it, or "
        "use type: aggregate",
    ]


@pytest.mark.parametrize(
    ("org", "expected"),
    [
        (
            "  - name: Acme\n    region: eu_west_1\n    client_id_env: A\n"
            "    client_secret_env: B\n",
            "p.yaml:4: orgs[0].name: 'Acme' is not a valid org name; use lower-case letters, "
            "digits and _, starting with a letter, such as acme",
        ),
        (
            "  - region: eu_west_1\n    client_id_env: A\n    client_secret_env: B\n",
            "p.yaml:4: orgs[0]: missing required key 'name' (a unique name such as acme; it "
            "becomes the org label)",
        ),
        (
            "  - name: acme\n    region: eu_west_11\n    client_id_env: A\n"
            "    client_secret_env: B\n",
            "p.yaml:5: orgs[0].region: unknown region 'eu_west_11' (did you mean 'eu_west_1'?); "
            "use a region domain such as mypurecloud.ie or an SDK region name such as eu_west_1",
        ),
        (
            "  - name: acme\n    client_id_env: A\n    client_secret_env: B\n",
            "p.yaml:4: orgs[0]: has no region; set its region (such as mypurecloud.ie or "
            "eu_west_1), or genesys.region for every org without one, or both api_base_url and "
            "login_base_url",
        ),
        (
            "  - name: acme\n    api_base_url: https://api.example.com\n    client_id_env: A\n"
            "    client_secret_env: B\n",
            "p.yaml:4: orgs[0]: has no region; set its region (such as mypurecloud.ie or "
            "eu_west_1), or genesys.region for every org without one, or both api_base_url and "
            "login_base_url",
        ),
        (
            "  - name: acme\n    region: eu_west_1\n    login_base_url: ftp://x\n"
            "    client_id_env: A\n    client_secret_env: B\n",
            "p.yaml:6: orgs[0].login_base_url: expected an http:// or https:// URL with a host, "
            "such as https://api.mypurecloud.ie",
        ),
        (
            "  - name: acme\n    region: eu_west_1\n    client_secret_env: B\n",
            "p.yaml:4: orgs[0]: needs client_id_env (an environment variable) or client_id_file "
            "(a file) for the OAuth client id",
        ),
        (
            "  - name: acme\n    region: eu_west_1\n    client_id_env: A\n",
            "p.yaml:4: orgs[0]: needs client_secret_env (an environment variable) or "
            "client_secret_file (a file) for the OAuth client secret",
        ),
        (
            "  - name: acme\n    region: eu_west_1\n    client_id_env: A\n"
            "    client_secret_env: B\n    client_secret_file: /s\n",
            "p.yaml:8: orgs[0].client_secret_file: client_secret_env is also set; set only one "
            "of them",
        ),
        (
            "  - name: acme\n    region: eu_west_1\n    client_id_env: 1A-B\n"
            "    client_secret_env: B\n",
            "p.yaml:6: orgs[0].client_id_env: '1A-B' is not an environment variable name; use "
            "letters, digits and _, not starting with a digit",
        ),
        (
            "  - name: acme\n    region: eu_west_1\n    client_id_file: ''\n"
            "    client_secret_env: B\n",
            "p.yaml:6: orgs[0].client_id_file: is empty; name the file that holds the OAuth "
            "client id",
        ),
        (
            "  - name: acme\n    region: eu_west_1\n    client_id_env: A\n"
            "    client_secret_env: B\n"
            "    requests_per_minute: 0\n",
            "p.yaml:8: orgs[0].requests_per_minute: 0 is out of range; use 1 to 100000",
        ),
        (
            "  - name: acme\n    region: eu_west_1\n    client_id_env: A\n"
            "    client_secret_env: B\n"
            "    timeout: 5s\n",
            "p.yaml:8: orgs[0]: unknown key 'timeout'; allowed: name, region, api_base_url, "
            "login_base_url, client_id_env, client_id_file, client_secret_env, "
            "client_secret_file, requests_per_minute, push, queries",
        ),
        (
            "  - name: acme\n    region: eu_west_1\n    client_id_env: A\n"
            "    client_secret_env: B\n"
            "    queries: []\n",
            "p.yaml:8: orgs[0].queries: is empty; define at least one query",
        ),
        (
            "  - acme\n",
            "p.yaml:4: orgs[0]: expected a mapping with name, region and the client's keys, "
            "found the string 'acme'",
        ),
    ],
)
def test_org_problem_is_placed_and_names_the_fix(org: str, expected: str) -> None:
    """Each org problem names its place (orgs[i].key), its line and the fix."""
    text = "genesys:\n  timeout: 5s\norgs:\n" + org + QUERIES
    assert problems(text) == [expected]


def test_orgs_must_be_a_non_empty_list_of_unique_names() -> None:
    """`orgs: []` and a duplicate org name are refused, the duplicate naming the first."""
    base = "genesys:\n  region: eu_west_1\n" + QUERIES
    assert problems(base + "orgs: []\n") == [
        "p.yaml:8: orgs: is empty; list at least one org, or remove orgs:"
    ]
    assert problems(base + "orgs: {name: acme}\n") == [
        "p.yaml:8: orgs: expected a list of orgs, found a mapping"
    ]
    org = "  - name: acme\n    client_id_env: A\n    client_secret_env: B\n"
    assert problems(base + "orgs:\n" + org + org) == [
        "p.yaml:12: orgs[1].name: duplicate org name 'acme' (also orgs[0].name)"
    ]


def test_org_without_queries_needs_top_level_queries() -> None:
    """An org without queries of its own, in a config without queries:, is refused at the org."""
    assert problems(ORG) == [
        "p.yaml:2: orgs[0]: has no queries; give the org its own queries, or list queries at "
        "the top level for every org without its own"
    ]


def test_without_orgs_genesys_and_region_stay_required() -> None:
    """Without orgs: (and without GENESYS_REGION), a config without genesys: or without a
    region is refused as before."""
    assert problems(QUERIES) == [
        "p.yaml:1: missing required key 'genesys' (the Genesys Cloud region and API settings; "
        "or set GENESYS_REGION)"
    ]
    assert problems("genesys:\n  timeout: 5s\n" + QUERIES) == [
        "p.yaml:1: genesys: missing required key 'region' (a region domain such as "
        "mypurecloud.ie or an SDK region name such as eu_west_1; or set GENESYS_REGION, or both "
        "GENESYS_API_BASE_URL and GENESYS_LOGIN_BASE_URL)"
    ]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (
            "client_id",
            "credentials are never read from the config file; set client_id_env or "
            "client_id_file instead",
        ),
        (
            "client_secret",
            "secrets are never read from the config file; set client_secret_env or "
            "client_secret_file instead",
        ),
    ],
)
def test_secrets_in_an_org_are_refused_without_their_value(key: str, message: str) -> None:
    """client_id / client_secret in an org are refused with the keys to use, never echoed."""
    text = ORG.replace("    client_id_env: ACME_ID\n    client_secret_env: ACME_SECRET\n", "")
    text += f"    {key}: {SECRET}\n    client_id_env: A\n    client_secret_env: B\n" + QUERIES
    found = problems(text)
    assert found == [f"p.yaml:4: orgs[0].{key}: {message}"]
    assert SECRET not in "\n".join(found)


def org(**source: str) -> OrgConfig:
    return OrgConfig("acme", GenesysSettings("", "", ""), CredentialSource(**source), ())


def credential_problems(target: OrgConfig, env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        org_credentials(target, env)
    assert caught.value.source == "environment"
    assert SECRET not in str(caught.value)
    return caught.value.problems


def test_org_credentials_from_variables() -> None:
    """The variables the org names hold its client id and secret."""
    env = {"ACME_ID": "acme-client", "ACME_SECRET": SECRET, "GENESYS_CLIENT_ID": "other"}
    assert org_credentials(
        org(client_id_env="ACME_ID", client_secret_env="ACME_SECRET"), env
    ) == Credentials(
        "acme-client",
        Secret(SECRET),
        origin="orgs[acme].client_id_env (ACME_ID) and orgs[acme].client_secret_env (ACME_SECRET)",
    )


def test_org_credentials_from_files_without_the_trailing_newline(tmp_path: Path) -> None:
    """The files the org names hold its client id and secret; one trailing newline is cut."""
    (tmp_path / "id").write_text("acme-client\n")
    (tmp_path / "secret").write_text(SECRET + "\r\n")
    source = {
        "client_id_file": str(tmp_path / "id"),
        "client_secret_file": str(tmp_path / "secret"),
    }
    assert org_credentials(org(**source), {}) == Credentials(
        "acme-client",
        Secret(SECRET),
        origin=f"orgs[acme].client_id_file ({tmp_path}/id) and "
        f"orgs[acme].client_secret_file ({tmp_path}/secret)",
    )


def test_org_credential_problems_name_the_org_key_and_never_a_value(tmp_path: Path) -> None:
    """A missing or empty variable, a missing or empty file: each named by org and key."""
    (tmp_path / "empty").write_text("\n")
    assert credential_problems(
        org(client_id_env="ACME_ID", client_secret_env="ACME_SECRET"), {"ACME_ID": ""}
    ) == [
        "orgs[acme].client_id_env: ACME_ID is empty",
        "orgs[acme].client_secret_env: ACME_SECRET is not set",
    ]
    assert credential_problems(
        org(client_id_file="/nonexistent/id", client_secret_file=str(tmp_path / "empty")), {}
    ) == [
        "orgs[acme].client_id_file: cannot read /nonexistent/id: No such file or directory",
        f"orgs[acme].client_secret_file: {tmp_path / 'empty'} is empty",
    ]


def test_org_credentials_with_both_or_neither_source_set() -> None:
    """An org built with both or neither source for a value (the checker refuses such a file)
    gets a problem, not a guess."""
    target = org(client_id_env="A", client_id_file="/a", client_secret_env="ACME_SECRET")
    assert credential_problems(target, {"ACME_SECRET": SECRET}) == [
        "orgs[acme]: client_id_env and client_id_file are both set; set only one of them"
    ]
    assert credential_problems(org(client_id_env="A"), {"A": "x"}) == [
        "orgs[acme]: neither client_secret_env nor client_secret_file is set"
    ]


def test_unnamed_org_reads_genesys_client_variables() -> None:
    """The one org of a config without orgs: reads GENESYS_CLIENT_ID / _SECRET."""
    config = parse_config("genesys:\n  region: mypurecloud.ie\n" + QUERIES, env={})
    env = {"GENESYS_CLIENT_ID": "cid", "GENESYS_CLIENT_SECRET": SECRET}
    assert org_credentials(config.org_list()[0], env) == Credentials("cid", Secret(SECRET))
    assert all_credentials(config, env) == {"": Credentials("cid", Secret(SECRET))}


def test_all_credentials_reads_every_org_and_lists_every_problem() -> None:
    """all_credentials maps each org to its client, or raises one error naming every org's
    problems."""
    config: Config = parse_config(CONFIG, env={})
    with pytest.raises(ConfigError) as caught:
        all_credentials(config, {"ACME_ID": "a", "GLOBEX_SECRET": SECRET, "INITECH_ID": "i"})
    assert caught.value.problems == [
        "orgs[acme].client_secret_file: cannot read /run/secrets/acme: No such file or directory",
        "orgs[globex].client_id_file: cannot read /run/secrets/globex_id: No such file or "
        "directory",
        "orgs[initech].client_secret_env: INITECH_SECRET is not set",
    ]
    assert SECRET not in str(caught.value)
    only_env = parse_config(three_orgs(files=False), env={})
    env = {
        "ACME_ID": "a",
        "ACME_SECRET": "sa",
        "GLOBEX_ID": "g",
        "GLOBEX_SECRET": "sg",
        "INITECH_ID": "i",
        "INITECH_SECRET": "si",
    }
    found = all_credentials(only_env, env)
    assert {name: (c.client_id, c.client_secret) for name, c in found.items()} == {
        "acme": ("a", Secret("sa")),
        "globex": ("g", Secret("sg")),
        "initech": ("i", Secret("si")),
    }


def test_environment_problems_are_reported_once_not_per_org() -> None:
    """A bad GENESYS_API_BASE_URL is one problem, named by the variable, however many orgs."""
    env = {"GENESYS_API_BASE_URL": "ftp://x"}
    assert problems(CONFIG, env) == [
        "p.yaml: GENESYS_API_BASE_URL: expected an http:// or https:// URL with a host, such as "
        "https://api.mypurecloud.ie"
    ]
