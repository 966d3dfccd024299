"""Counter mode in the config: its keys, their defaults, what is refused and why, and the plan
check-config prints for it."""

from __future__ import annotations

import pytest

from poller.checkreport import format_report
from poller.config import parse_config
from poller.config.model import QueryConfig
from poller.errors import ConfigError
from tests.support.config import Value, org_entry, poller_yaml, query


def counted(**keys: Value) -> str:
    """A config of one counter query polled every 30s; `keys` add to or replace its keys."""
    keys = {"every": "30s", "metrics": ["nFlow"], "mode": "counter", **keys}
    return poller_yaml(query("counted", "aggregate", **keys))


def parsed(**keys: Value) -> QueryConfig:
    return parse_config(counted(**keys), source="c.yaml", env={}).queries[0]


def problems(**keys: Value) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(counted(**keys), source="c.yaml", env={})
    return caught.value.problems


def test_counter_defaults_are_a_day_in_utc_settling_ten_minutes() -> None:
    """mode: counter alone gives period 1d, settle 10m, time zone UTC."""
    q = parsed()
    assert (q.mode, q.period, q.settle, q.time_zone) == ("counter", 86400.0, 600.0, "UTC")


def test_period_settle_and_zone_are_read() -> None:
    """period 15m, settle 2m and a time zone reach the model."""
    q = parsed(period="15m", settle="2m", time_zone="Europe/Dublin")
    assert (q.period, q.settle, q.time_zone) == (900.0, 120.0, "Europe/Dublin")


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        (
            {"window": "1h"},
            "queries[0].window: is not used in mode: counter, which counts over whole calendar "
            "periods (see period and settle); remove it",
        ),
        (
            {"delay": "1m"},
            "queries[0].delay: is not used in mode: counter, which counts over whole calendar "
            "periods (see period and settle); remove it",
        ),
        (
            {"period": "7h"},
            "queries[0].period: '7h' does not divide a day; use 1d, or a duration that divides "
            "24h such as 1h, 15m or 20s",
        ),
        (
            {"period": "1h", "settle": "1h"},
            "queries[0].settle: settle (1h) must be shorter than the period (1h): a closed period "
            "settles before the next one closes",
        ),
        (
            {"settle": "30s"},
            "queries[0].every: 30s must be shorter than settle (30s); otherwise a closed period "
            "can restart before any poll saw its late data",
        ),
        (
            {"mode": "counting"},
            "queries[0].mode: unknown mode 'counting' (did you mean 'counter'?)",
        ),
    ],
)
def test_counter_problems_say_why(keys: dict[str, Value], problem: str) -> None:
    """Each refused combination is reported at its key with the reason."""
    assert any(p.startswith(problem) for p in problems(**keys)), problems(**keys)


def test_period_and_settle_need_counter_mode() -> None:
    """In gauge mode (the default) period and settle are refused, naming mode: counter."""
    assert problems(mode=None, period="1h", settle="5m") == [
        "queries[0].period: applies to mode: counter only; remove it, or add mode: counter",
        "queries[0].settle: applies to mode: counter only; remove it, or add mode: counter",
    ]


def test_plan_shows_the_period_and_the_settling_request() -> None:
    """check-config's plan shows the period, zone and settle, one request per run, and what a
    run asks for while a closed period settles."""
    plan = format_report(
        parse_config(counted(period="1h", time_zone="Europe/Dublin"), source="c.yaml", env={})
    )
    assert "counter: period 1h (Europe/Dublin), settle 10m" in plan
    assert (
        "counted: counter mode, 1 request per run; during the first 10m of each period the run "
        "asks for the closed period instead of the current one" in plan
    )
    assert "Total: 2.0 requests/minute" in plan


def test_a_timer_is_one_family_type_across_queries_and_orgs() -> None:
    """tFlow as a histogram in one counter query (an lt view) and a summary in another is refused
    at the second, naming both and the fix; the same in another org's queries; views on both
    are fine."""
    with_view = query(
        "bucketed",
        "aggregate",
        every="30s",
        mode="counter",
        metrics=["tFlow"],
        views=[{"name": "under1m", "target": "tFlow", "range": {"lt": 60000}}],
    )
    plain = query("plain", "aggregate", every="30s", mode="counter", metrics=["tFlow"])
    text = poller_yaml(with_view, plain)
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="c.yaml", env={})
    assert caught.value.problems == [
        "queries[1].views: makes tFlow a summary (genesyscloud_flow_duration_seconds), but query "
        "'bucketed' makes it a histogram: one family has one type in /metrics. Give every "
        "counter-mode query with tFlow lt views on it, or none"
    ]
    line = text.splitlines().index("  - name: plain") + 1
    assert str(caught.value).startswith(f"c.yaml:{line}")
    keys: dict[str, Value] = {
        "region": "mypurecloud.ie",
        "client_id_env": "I",
        "client_secret_env": "S",
    }
    orgs = org_entry("acme", with_view, **keys) + org_entry("globex", plain, **keys)
    with pytest.raises(ConfigError) as caught:
        parse_config(poller_yaml(region=None, orgs=orgs), source="c.yaml", env={})
    assert [p.split(":")[0] for p in caught.value.problems] == ["orgs[1].queries[0].views"]
    both = query(
        "also_bucketed",
        "aggregate",
        every="30s",
        mode="counter",
        metrics=["tFlow"],
        views=[{"name": "under2m", "target": "tFlow", "range": {"lt": 120000}}],
    )
    assert len(parse_config(poller_yaml(with_view, both), source="c.yaml", env={}).queries) == 2
