"""The top-level `time_zone`: the zone of every aggregate query that names none; a query's own
`time_zone` wins, and a bad one is reported with its line like any other key."""

from __future__ import annotations

import pytest

from poller.config import parse_config
from poller.errors import ConfigError
from tests.support.config import aggregate, observation, org_entry, poller_yaml, query_named

# Written out: the problems below name its lines.
CONFIG = """\
genesys:
  region: mypurecloud.ie
time_zone: Europe/Dublin
queries:
  - name: today
    type: aggregate
    every: 60s
    window: today
    metrics: [nFlow]
  - name: counted
    type: aggregate
    every: 15s
    mode: counter
    metrics: [nFlow]
  - name: in_tokyo
    type: aggregate
    every: 60s
    window: today
    time_zone: Asia/Tokyo
    metrics: [nFlow]
"""


def problems(text: str) -> list[str]:
    """Each problem of `text` with its line, as check-config prints them."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="p.yaml", env={})
    return str(caught.value).splitlines()


def test_the_top_level_zone_is_every_aggregate_querys_unless_it_names_its_own() -> None:
    """today windows and counter periods take the top-level zone; a query's own zone wins."""
    config = parse_config(CONFIG, env={})
    zones = {q.name: q.time_zone for q in config.queries}
    assert zones == {"today": "Europe/Dublin", "counted": "Europe/Dublin", "in_tokyo": "Asia/Tokyo"}


def test_without_a_top_level_zone_queries_stay_in_utc() -> None:
    """The setting is optional: without it, a query without its own zone is in UTC as before."""
    config = parse_config(CONFIG.replace("time_zone: Europe/Dublin\n", ""), env={})
    assert query_named(config, "today").time_zone == "UTC"
    assert query_named(config, "in_tokyo").time_zone == "Asia/Tokyo"


def test_an_orgs_own_queries_take_the_top_level_zone() -> None:
    """With orgs:, an org's own queries take the top-level zone too."""
    orgs = org_entry(
        "acme",
        aggregate("flows", window="today"),
        observation("active"),
        client_id_env="ID",
        client_secret_env="SECRET",
    )
    text = poller_yaml(orgs=orgs) + "time_zone: America/New_York\n"
    (acme,) = parse_config(text, env={}).orgs
    assert query_named(acme, "flows").time_zone == "America/New_York"


def test_an_unknown_top_level_zone_is_named_with_its_line_and_a_suggestion() -> None:
    """A misspelt zone is refused at its line, with the zone it probably means."""
    assert problems(CONFIG.replace("Europe/Dublin", "Europe/Dublinn")) == [
        "p.yaml:3: time_zone: unknown time zone 'Europe/Dublinn' (did you mean "
        "'Europe/Dublin'?); use an IANA name such as Europe/Dublin or UTC"
    ]


def test_a_misspelt_top_level_key_suggests_time_zone() -> None:
    """Unknown keys are still refused at the top level, with time_zone among the suggestions."""
    [problem] = problems(CONFIG.replace("time_zone: Europe/Dublin", "timezone: Europe/Dublin"))
    assert problem.startswith("p.yaml:3: unknown key 'timezone' (did you mean 'time_zone'?")
